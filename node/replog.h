/*
 * replog.h - the node's write log in the LMDB DBI "log" (internal to node/).
 *
 * Every committed write (PUT, CAS, DEL that removed something) gets the shard's next LSN;
 * in the same transaction the writer appends one record:
 *   key   = LSN (u64 big-endian, so LMDB keeps the records in LSN order)
 *   value = u64 epoch (LE, the map epoch of the primary that made the write)
 *           u8 op (OSTORE_OP_PUT / OSTORE_OP_DEL / OS_LOG_OP_JUMP)  u16 key_len (LE)
 *           key  value
 * A JUMP record has key_len 0 and an 8-byte value, the u64 LE LSN of the record before
 * it (prev_lsn): the LSNs between prev_lsn and its own never existed (wire.h).
 * Replicas append the records they apply with the primary's LSN and epoch, so a promoted
 * replica can feed the others. The log is bounded: node_replog_trim() deletes the oldest
 * records beyond the retention limits, never records after a pinned LSN (a snapshot
 * session's LSN, so a re-seeded replica can catch up from it).
 *
 * Thread safety: functions take the caller's transaction; appends and trims only in the
 * writer's write transaction, reads in any read transaction.
 */
#ifndef NODE_REPLOG_H
#define NODE_REPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "store.h"
#include "wire.h"

/**
 * node_replog_append - append the record @e (e->lsn must be above every stored LSN).
 * Returns OSTORE_OK, OSTORE_EFULL (map full: abort, grow, retry) or OSTORE_ESTORAGE.
 */
int node_replog_append(node_store *st, MDB_txn *txn, const os_log_entry *e);

/**
 * node_replog_trim - delete the oldest records while there are more than @max_entries or
 * the log's pages take more than @max_bytes, keeping every record with LSN > @pin.
 * Returns OSTORE_OK, OSTORE_EFULL or OSTORE_ESTORAGE.
 */
int node_replog_trim(node_store *st, MDB_txn *txn, uint64_t max_entries, uint64_t max_bytes,
                     uint64_t pin);

/**
 * node_replog_bounds - LSNs of the oldest and newest records (both 0 when empty).
 * Returns OSTORE_OK or OSTORE_ESTORAGE.
 */
int node_replog_bounds(node_store *st, MDB_txn *txn, uint64_t *oldest, uint64_t *newest);

/**
 * node_replog_epoch_at - epoch of the record at @lsn. Returns OSTORE_OK, OSTORE_ENOTFOUND
 * (not retained), OSTORE_ESTORAGE (also for a corrupt record).
 */
int node_replog_epoch_at(node_store *st, MDB_txn *txn, uint64_t lsn, uint64_t *epoch);

/**
 * node_replog_first_prev - the LSN a reader must hold to continue at the oldest record
 * @oldest (from node_replog_bounds): @oldest - 1, or the prev_lsn of a JUMP record at
 * @oldest; 0 when @oldest is 0. Returns OSTORE_OK or OSTORE_ESTORAGE.
 */
int node_replog_first_prev(node_store *st, MDB_txn *txn, uint64_t oldest, uint64_t *prev);

/** node_replog_decode - decode the record @k/@v into *@e (pointing into @v). Returns
 *  false when it is corrupt (bad key or header, unknown op, lengths). Cannot fail
 *  otherwise; any thread. */
bool node_replog_decode(const MDB_val *k, const MDB_val *v, os_log_entry *e);

/** Visitor of node_replog_scan: one record (pointers valid during the call only).
 *  Returns true to continue. */
typedef bool (*node_replog_fn)(void *arg, const os_log_entry *e);

/**
 * node_replog_scan - visit the records with LSN > @after in LSN order until @fn returns
 * false. Returns OSTORE_OK or OSTORE_ESTORAGE (a corrupt record, logged).
 */
int node_replog_scan(node_store *st, MDB_txn *txn, uint64_t after, node_replog_fn fn,
                     void *arg);

#endif /* NODE_REPLOG_H */
