/*
 * writer_int.h - the layout of node_writer, shared by writer.c and mig_writer.c only
 * (internal to those files; everyone else uses writer.h and migrate.h).
 *
 * Everything below "writer thread only" is touched by the writer thread alone, except the
 * frozen-slot set: the writer changes it holding frozen_mu and reads it without the lock
 * (no other thread writes it); other threads read it holding frozen_mu.
 */
#ifndef NODE_WRITER_INT_H
#define NODE_WRITER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "dedup.h"
#include "writer.h"

/* Pending request IDs of the running batch: open addressing, rebuilt per attempt. */
typedef struct pend_entry {
	uint64_t client_id, seq; /* seq 0 = empty */
	node_dedup_result res;
} pend_entry;

struct node_writer {
	node_env *env;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	node_job *head, *tail; /* queue, guarded by mu */
	bool stopping;         /* guarded by mu */

	/* frozen slots (slot migration, mig_writer.c): see the comment at the top */
	pthread_mutex_t frozen_mu;
	uint8_t frozen[OS_MIG_BITMAP_SIZE]; /* bit s % 8 of byte s / 8 = slot s frozen */
	uint64_t frozen_lsn[OSTORE_SLOTS];  /* the writer's LSN when slot s was frozen */
	uint32_t frozen_count;

	/* writer thread only: */
	node_dedup *dedup;
	uint64_t lsn;
	uint64_t epoch; /* epoch stamped on the entry at lsn */
	bool deletes_only; /* storage full: PUT/CAS answer OSTORE_EFULL, DELs run (writer.c) */
	pend_entry *pend;
	size_t pend_cap; /* power of two */
	size_t pend_used;
};

/** node_writer_trim_log - trim the write log in @txn to the retention limits, keeping
 *  the pinned records (repl.h). Writer thread. Returns OSTORE_OK, OSTORE_EFULL or
 *  OSTORE_ESTORAGE (the transaction can then only be aborted). */
int node_writer_trim_log(node_writer *w, MDB_txn *txn);
/** node_writer_reply_begin - reset @job's reply to a reply header for it with @count
 *  and @epoch (status 0). Cannot fail (out of memory shows in job->reply.oom). */
void node_writer_reply_begin(node_job *job, uint16_t count, uint64_t epoch);
/** node_writer_reply_check_oom - turn a reply that ran out of memory into a
 *  status-only OSTORE_ENOMEM reply. Cannot fail. */
void node_writer_reply_check_oom(node_job *job, uint64_t epoch);

/** node_mig_load - load the frozen-slot set from the "frozen" meta record (at writer
 *  creation, before the thread starts). Returns OSTORE_OK, OSTORE_ESTORAGE (also for a
 *  record of the wrong size, logged). */
int node_mig_load(node_writer *w);
/** node_mig_frozen_locked - whether @slot is frozen. Writer thread only (no lock needed
 *  there: it is the only thread that changes the set). */
bool node_mig_frozen_locked(const node_writer *w, uint16_t slot);
/**
 * node_mig_run_job - run one NODE_JOB_MIG_* job alone in its own transaction, build its
 * reply and deliver it (FREEZE: job->done at once; APPLY/PURGE: node_repl_job_done, so
 * synchronous replication waits for replica acks). Writer thread. Cannot fail: every
 * error becomes the reply's status.
 */
void node_mig_run_job(node_writer *w, node_job *job);

/**
 * node_mig_switch_check - the guarded switch of a MAP_SET (docs/rebalance.md "Crash
 * safety"): for every shard this node is primary of in @cur (may be NULL: OK) and still
 * is in @next (or that @next drops), the slots @next gives away must all be frozen here
 * and @client_id (the MAP_SET header's) must hold the unexpired migration lease.
 * Writer thread. Returns OSTORE_OK or OSTORE_ELOCKED (why is logged).
 */
int node_mig_switch_check(node_writer *w, const os_map *cur, const os_map *next,
                          uint64_t client_id);

#endif /* NODE_WRITER_INT_H */
