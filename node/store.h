/*
 * store.h - the node's LMDB environment (internal to node/).
 *
 * One environment per process (--data DIR), opened once with MDB_NOTLS, with three DBIs:
 *   "orders": key = os_key_make(slot, id) (slot big-endian, then the ID bytes);
 *             value = u64 version (little-endian) + value bytes.
 *   "meta":   "lsn" (u64 LE, the shard's last LSN), "applied_epoch" (u64 LE, the epoch
 *             stamped on the log entry at "lsn"), "map" (os_map_encode blob),
 *             "node_id" (u32 LE; a directory belongs to one node id for life),
 *             "frozen" (slots frozen for a migration: mig_writer.c).
 *   "log":    the write log (replog.h): key = LSN (u64 big-endian), value = entry.
 * DIR/node.lock is held with flock() while the store is open, so a second process
 * cannot open the same directory (LMDB would allow it and the LSNs would diverge).
 *
 * Every LMDB error is translated here: MDB_MAP_FULL, and ENOSPC / EDQUOT (or EIO with
 * less than 4 MiB free: LMDB's answer to a short write) -> OSTORE_EFULL; anything else
 * -> OSTORE_ESTORAGE, logged with mdb_strerror() and the operation.
 *
 * Map growth: write transactions that fail with OSTORE_EFULL must be aborted; then the
 * writer calls node_store_grow(), which doubles the map size (up to the configured
 * maximum) while holding the reader rwlock in write mode, and retries. Readers bracket
 * each read transaction with node_store_read_begin()/node_store_read_end(), which hold
 * the rwlock in read mode, so mdb_env_set_mapsize() never runs while a transaction of
 * this process is open.
 *
 * Thread safety: read functions from any thread (each with its own read transaction);
 * write functions (node_store_write_begin ... node_store_commit, node_store_grow) only
 * from the single writer thread (or during start-up before any other thread runs).
 */
#ifndef NODE_STORE_H
#define NODE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "check.h"
#include "map.h"

typedef struct node_store node_store;

typedef struct node_store_opts {
	const char *dir;        /* created (with parents) if missing */
	uint32_t node_id;       /* must match a stored node_id */
	bool no_sync;           /* MDB_NOSYNC: a crash may lose the last commits */
	uint64_t map_size;      /* initial LMDB map size, bytes */
	uint64_t max_map_size;  /* growth limit, bytes (>= map_size) */
	unsigned max_readers;   /* reader slots (>= 126) */
	node_check_mode check;  /* start-up check of the environment (check.h) */
	node_check_report *report; /* out, may be NULL: what the check found */
} node_store_opts;

/** Usage numbers for STATS. */
typedef struct node_store_stats {
	uint64_t orders;     /* entries of "orders" */
	uint64_t bytes_used; /* pages in use of both DBIs times the page size */
	uint64_t map_size;   /* current LMDB map size */
} node_store_stats;

/**
 * node_store_open - open (creating if needed) the store in @o->dir.
 * @out: receives the store on success; untouched on failure.
 * @stored_map: receives the stored map (a reference the caller owns) or NULL if none.
 * Before anything is written the environment is checked (check.h, @o->check); a damaged
 * one is not opened further and never written to.
 * Returns OSTORE_OK; OSTORE_EINVAL (DIR belongs to another node id, or is locked by
 * another process); OSTORE_EIO (cannot create DIR); OSTORE_ESTORAGE (LMDB error, or the
 * environment is damaged: then @o->report->problem is set and nothing is logged, the
 * caller says so); OSTORE_ENOMEM. Every other failure is logged with its cause.
 */
int node_store_open(const node_store_opts *o, node_store **out, os_map **stored_map);
/** node_store_close - close the environment and release the lock. No transaction may be
 *  open. NULL is ignored. */
void node_store_close(node_store *st);

/** node_store_lsn - the last committed LSN. Any thread. */
uint64_t node_store_lsn(const node_store *st);
/** node_store_epoch - the epoch stamped on the entry at the last committed LSN (0 if
 *  none). Any thread. */
uint64_t node_store_epoch(const node_store *st);
/** node_store_log_dbi / node_store_meta_dbi - DBI handles, for replog.c. Cannot fail. */
MDB_dbi node_store_log_dbi(const node_store *st);
MDB_dbi node_store_meta_dbi(const node_store *st);
/** node_store_meta_get - "lsn" and "applied_epoch" as seen by @txn (0 when absent).
 *  Returns OSTORE_OK or OSTORE_ESTORAGE. */
int node_store_meta_get(node_store *st, MDB_txn *txn, uint64_t *lsn, uint64_t *epoch);

/**
 * node_store_meta_blob - the "meta" record @name as seen by @txn (read or write): on
 * OSTORE_OK *@p / *@n point into the map (valid until the transaction ends or, in a
 * write transaction, the next write). Returns OSTORE_OK, OSTORE_ENOTFOUND, OSTORE_ESTORAGE.
 */
int node_store_meta_blob(node_store *st, MDB_txn *txn, const char *name, const uint8_t **p,
                         size_t *n);

/**
 * node_store_long_read_begin - begin a read-only transaction meant to live across many
 * requests (a SNAP session): the reader lock is taken only while beginning. Between uses
 * no pointer into the map may be kept, and each use is bracketed with
 * node_store_readers_lock()/unlock() so a map growth never runs during one.
 * Returns OSTORE_OK or OSTORE_ESTORAGE. End with node_store_long_read_end (any thread,
 * MDB_NOTLS).
 */
int node_store_long_read_begin(node_store *st, MDB_txn **txn);
/** node_store_long_read_end - abort a transaction of node_store_long_read_begin. */
void node_store_long_read_end(node_store *st, MDB_txn *txn);
/** node_store_readers_lock / unlock - hold the reader lock (read mode) around a use of a
 *  long read transaction. Cannot fail. */
void node_store_readers_lock(node_store *st);
void node_store_readers_unlock(node_store *st);

/**
 * node_store_read_begin - take the reader lock and begin a read-only transaction.
 * Returns OSTORE_OK (*@txn set; end it with node_store_read_end) or OSTORE_ESTORAGE
 * (lock released, nothing to end).
 */
int node_store_read_begin(node_store *st, MDB_txn **txn);
/** node_store_read_end - abort the read transaction and release the reader lock. */
void node_store_read_end(node_store *st, MDB_txn *txn);

/**
 * node_store_get - look up order (@slot, @id) in @txn (read or write transaction).
 * On OSTORE_OK *@value and *@value_len point into the map (valid until the transaction ends
 * or, in a write transaction, until the next write) and *@version is set.
 * Returns OSTORE_OK, OSTORE_ENOTFOUND, OSTORE_ESTORAGE (also for a corrupt record).
 */
int node_store_get(node_store *st, MDB_txn *txn, uint16_t slot, const uint8_t *id,
                   size_t id_len, const uint8_t **value, size_t *value_len, uint64_t *version);

/**
 * Visitor of node_store_scan: one order (pointers valid only during the call). Returns
 * true to continue, false to stop.
 */
typedef bool (*node_scan_fn)(void *arg, uint16_t slot, const uint8_t *id, size_t id_len,
                             const uint8_t *value, size_t value_len, uint64_t version);
/**
 * node_store_scan - visit orders with key > (@slot_begin, @after) (>= the slot's start
 * when @after_len is 0) and slot < @slot_end, in key order, until @fn returns false.
 * Returns OSTORE_OK or OSTORE_ESTORAGE.
 */
int node_store_scan(node_store *st, MDB_txn *txn, uint16_t slot_begin, const uint8_t *after,
                    size_t after_len, uint16_t slot_end, node_scan_fn fn, void *arg);

/** node_store_stats - usage numbers within read transaction @txn. Returns OSTORE_OK or
 *  OSTORE_ESTORAGE. */
int node_store_stats_get(node_store *st, MDB_txn *txn, node_store_stats *out);

/** node_store_error - translate LMDB/errno error @rc of operation @what as this file
 *  does (for replog.c): OSTORE_EFULL (map or disk full, remembered for
 *  node_store_grow) or OSTORE_ESTORAGE (logged). */
int node_store_error(node_store *st, const char *what, int rc);

/** Why writes answer OSTORE_EFULL (node_store_full). */
enum { NODE_FULL_NONE = 0, NODE_FULL_MAP = 1, NODE_FULL_DISK = 2 };
/** node_store_full - NODE_FULL_MAP while the map is at --max-map-size and a write did
 *  not fit, NODE_FULL_DISK while the file system had no space for a write, back to
 *  NODE_FULL_NONE once a write transaction commits outside the reserve. Any thread. */
int node_store_full(const node_store *st);

/** node_store_readers - LMDB reader slots in use now (*@used) and available (*@max);
 *  0 when LMDB cannot tell. For metrics; any thread. Cannot fail. */
void node_store_readers(node_store *st, unsigned *used, unsigned *max);

/* ---- writer thread only ---- */

/** node_store_write_begin - begin the write transaction. OSTORE_OK or OSTORE_ESTORAGE. */
int node_store_write_begin(node_store *st, MDB_txn **txn);
/** node_store_put - store (@slot, @id) = @version + @value. Returns OSTORE_OK,
 *  OSTORE_EFULL (map full: abort, node_store_grow, retry) or OSTORE_ESTORAGE; after an
 *  error the transaction can only be aborted. */
int node_store_put(node_store *st, MDB_txn *txn, uint16_t slot, const uint8_t *id,
                   size_t id_len, uint64_t version, const uint8_t *value, size_t value_len);
/** node_store_del - delete (@slot, @id). Returns OSTORE_OK, OSTORE_ENOTFOUND,
 *  OSTORE_EFULL or OSTORE_ESTORAGE as node_store_put. */
int node_store_del(node_store *st, MDB_txn *txn, uint16_t slot, const uint8_t *id,
                   size_t id_len);
/** node_store_put_key / node_store_del_key - as node_store_put / node_store_del with
 *  the LMDB key (slot BE + id) given directly (replication). Same results. */
int node_store_put_key(node_store *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                       uint64_t version, const uint8_t *value, size_t value_len);
int node_store_del_key(node_store *st, MDB_txn *txn, const uint8_t *key, size_t key_len);
/** node_store_clear - delete every order and every log entry (re-seed). Returns
 *  OSTORE_OK, OSTORE_EFULL or OSTORE_ESTORAGE as node_store_put. */
int node_store_clear(node_store *st, MDB_txn *txn);
/** node_store_meta_put - store @n bytes at @p as the "meta" record @name (writer
 *  thread). Errors as node_store_put. */
int node_store_meta_put(node_store *st, MDB_txn *txn, const char *name, const void *p,
                        size_t n);
/** node_store_put_map - store @m as the "map" meta record. Errors as node_store_put,
 *  plus OSTORE_ENOMEM. */
int node_store_put_map(node_store *st, MDB_txn *txn, const os_map *m);
/**
 * node_store_commit - write @lsn as the "lsn" and @epoch as the "applied_epoch" meta
 * records (when they changed) and commit. The transaction is gone afterwards whatever the
 * result. On OSTORE_OK the commit is durable (synced unless no_sync), node_store_lsn()
 * returns @lsn and node_store_epoch() @epoch.
 * Returns OSTORE_OK, OSTORE_EFULL (grow and redo the whole transaction), OSTORE_ESTORAGE.
 */
int node_store_commit(node_store *st, MDB_txn *txn, uint64_t lsn, uint64_t epoch);
/** node_store_abort - abort the write transaction. Cannot fail. */
void node_store_abort(node_store *st, MDB_txn *txn);
/**
 * node_store_grow - double the map size, capped at the maximum. The writer must have no
 * transaction open. Blocks readers for the duration of mdb_env_set_mapsize().
 * Returns OSTORE_OK (grown), OSTORE_EFULL (already at the maximum, or the last
 * OSTORE_EFULL came from the file system: ENOSPC/EDQUOT, growing would not help),
 * OSTORE_ESTORAGE.
 */
int node_store_grow(node_store *st);
/**
 * node_store_reserve - with @on, let the map grow past the maximum by a reserve (1/64 of
 * it, at least 256 KiB) for a transaction that must not fail for space: a primary's
 * delete-only batch (an LMDB delete needs free pages too) or a replica applying what its
 * primary committed (its page layout differs a little); without @on, go back to the
 * maximum (LMDB keeps every page in use mapped). Writer thread, no transaction open.
 * Cannot fail (an error is logged and the next write answers OSTORE_EFULL).
 */
void node_store_reserve(node_store *st, bool on);

#endif /* NODE_STORE_H */
