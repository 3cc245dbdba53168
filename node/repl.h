/*
 * repl.h - replication state of one node (internal to node/; docs/replication.md).
 *
 * node_repl holds what the primary side needs (per-replica acked LSN and time of the
 * last pull, parked pulls waiting for new log records, write jobs parked until enough
 * replicas acked them, snapshot sessions) and what both sides need (the newest LSN of
 * the shard this node knows of). The replica side is replica.h.
 *
 *   writer: commit ─▶ node_repl_committed(lsn) ─▶ wake parked pulls (nng_aio_cancel)
 *           each DATA job ─▶ node_repl_job_done(): reply now | EREPLICAS now | park
 *   pull handler (nng callback): record ack ─▶ release parked jobs ─▶ entries or park
 *   ticker thread (every 10 ms): parked jobs past their deadline answer EREPLICAS
 *
 * Thread safety: every function may be called from any thread unless noted.
 */
#ifndef NODE_REPL_H
#define NODE_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "node.h"
#include "wire.h"

typedef struct node_req node_req;
typedef struct node_job node_job;

/** --sync-replicas default: 1 when the shard has a replica, else 0. */
#define NODE_SYNC_AUTO UINT32_MAX
/** Parked writes without a frame timeout answer EREPLICAS after this long. */
#define NODE_ACK_TIMEOUT_MS 2000u
/** Snapshot sessions end after this long without a request. */
#define NODE_SNAP_IDLE_MS 30000u

typedef struct node_repl_opts {
	uint64_t retain_entries; /* --log-retain-entries */
	uint64_t retain_bytes;   /* --log-retain-mb, in bytes */
	uint32_t heartbeat_ms;   /* --heartbeat-timeout-ms */
	uint32_t sync_replicas;  /* --sync-replicas, or NODE_SYNC_AUTO */
} node_repl_opts;

/**
 * node_repl_create - the state for @env (borrowed, must outlive it) and its ticker
 * thread. Returns OSTORE_OK (*@out set), OSTORE_ENOMEM, OSTORE_EINTERNAL.
 */
int node_repl_create(node_env *env, const node_repl_opts *o, node_repl **out);
/** node_repl_destroy - answer every parked job EREPLICAS, stop the ticker, end snapshot
 *  sessions and free. Parked pulls belong to their node_req (node_pull_park_free).
 *  NULL is ignored. */
void node_repl_destroy(node_repl *r);
/** node_repl_stop - answer every parked job OSTORE_EREPLICAS and stop the ticker thread
 *  (before the server goes away). Idempotent; NULL is ignored. */
void node_repl_stop(node_repl *r);
/** node_repl_opts_get - the options given at create. */
const node_repl_opts *node_repl_opts_get(const node_repl *r);

/** node_role_of - role of node @id in @m and the shard (NODE_NO_SHARD when none). */
os_role node_role_of(const os_map *m, uint16_t id, uint32_t *shard);

/* ---- newest known LSN ---- */

/** node_repl_note_lsn - the shard has (at least) LSN @lsn somewhere. Cannot fail. */
void node_repl_note_lsn(node_repl *r, uint64_t lsn);
/**
 * node_repl_empty_unconfirmed - whether this node, primary in @map of a shard that has
 * replicas, started with no data and no replica has yet pulled from LSN 0 (so a write now
 * could collide with data a replica holds). Writes then answer OSTORE_EREPLICAS.
 * Thread-safe.
 */
bool node_repl_empty_unconfirmed(node_repl *r, const os_map *map);

/** node_repl_known_lsn - newest LSN of the shard this node knows of (>= its own). */
uint64_t node_repl_known_lsn(node_repl *r);
/** node_repl_reset_known - forget known LSNs above @lsn (after a re-seed from a primary
 *  whose snapshot defines the shard's history). */
void node_repl_reset_known(node_repl *r, uint64_t lsn);

/* ---- replica reads (replica_read.c; docs/replication.md "Reads") ---- */

/**
 * node_repl_confirm - the replica received, at @t_ns (os_now_ns()), a pull reply from
 * its primary after which it had applied everything that primary had committed; its
 * time lag counts from there. @t_ns 0 means "lag unknown" (re-seed started, primary
 * changed, no longer a replica): bounded reads are refused until the next
 * confirmation. Never moves the time backwards except to 0. Cannot fail.
 */
void node_repl_confirm(node_repl *r, uint64_t t_ns);

/**
 * node_repl_read_check - may this replica answer a read with bound @rb at @now_ns?
 * Lag in LSN = node_repl_known_lsn() - applied LSN; lag in ms = time since the last
 * confirmation. Every non-zero bound must hold and a confirmation must exist.
 * *@lag_lsn and *@lag_ms (not NULL) receive the lags (UINT64_MAX for an unknown time).
 * Returns OSTORE_OK or OSTORE_ESTALEREAD. Counts nothing.
 */
int node_repl_read_check(node_repl *r, const os_read_bound *rb, uint64_t now_ns,
                         uint64_t *lag_lsn, uint64_t *lag_ms);

/** node_repl_count_reads - add @served GET items served as a replica and @refused
 *  frames refused as too stale to the STATS counters. Cannot fail. */
void node_repl_count_reads(node_repl *r, uint64_t served, uint64_t refused);

/** node_repl_read_counts - the counters of node_repl_count_reads. Cannot fail. */
void node_repl_read_counts(node_repl *r, uint64_t *served, uint64_t *refused);

/* ---- writer thread ---- */

/** node_repl_log_pin - highest LSN the log may trim up to (snapshot sessions keep the
 *  records after their LSN); UINT64_MAX when nothing is pinned. */
uint64_t node_repl_log_pin(node_repl *r);
/** node_repl_committed - the writer committed up to @lsn: wake parked pulls. */
void node_repl_committed(node_repl *r, uint64_t lsn);
/**
 * node_repl_job_done - deliver a committed DATA job: at once when it needs no replica
 * acks (job->ack_lsn 0, K 0, not primary), with OSTORE_EREPLICAS for every item when
 * fewer than K replicas are reachable, else parked until K replicas acked job->ack_lsn
 * (or the deadline: EREPLICAS). job->done runs exactly once, on some thread.
 */
void node_repl_job_done(node_repl *r, node_job *job);
/** node_repl_sync_k - replica acks needed for shard @shard in @m (0 = asynchronous). */
uint32_t node_repl_sync_k(node_repl *r, const os_map *m, uint32_t shard);
/** node_repl_reachable - replicas of @shard in @m that pulled within the heartbeat
 *  timeout. */
uint32_t node_repl_reachable(node_repl *r, const os_map *m, uint32_t shard);

/** What the primary knows of one replica (node_repl_peers). */
typedef struct node_repl_peer_info {
	uint16_t node;
	uint64_t acked;        /* durable applied LSN of its last valid pull */
	uint64_t last_seen_ns; /* os_now_ns() of that pull, 0 = never */
} node_repl_peer_info;

/** node_repl_peers - the replicas of @shard in @m (at most @max) with their acks, into
 *  @out. Returns how many were written (0 when the shard is unknown). For metrics. */
size_t node_repl_peers(node_repl *r, const os_map *m, uint32_t shard,
                       node_repl_peer_info *out, size_t max);

/* ---- request handlers (nng callback threads) ---- */

/**
 * node_repl_handle_pull - answer a REPL_PULL frame (docs/replication.md). Returns
 * NODE_REPLY_NOW (reply in r->out) or NODE_REPLY_LATER (parked; the reply goes out via
 * r->job.done). Never fails otherwise.
 */
int node_repl_handle_pull(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                          size_t len);
/** node_pull_park_stop - a parked pull of a node_req will never be answered: stop its
 *  timer (the server is closing). NULL is ignored. */
void node_pull_park_stop(void *park);
/** node_pull_park_free - stop and free a node_req's parked-pull state (NULL ignored);
 *  called from node_req_fini. */
void node_pull_park_free(void *park);

/** node_snap_handle - answer a SNAP frame (snapshot.c). Reply in r->out, always now. */
int node_snap_handle(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                     size_t len);
/**
 * node_mig_snap_page - answer a MIG_SNAP request @q (decoded and checked by migrate.c:
 * epoch, cluster, primary, range owned) with one page of the range's snapshot into
 * r->out: opens a migration session for session 0 (ending an older one of the same
 * range; at most NODE_MIG_SESSIONS at once, else OSTORE_EOVERLOAD), continues it
 * otherwise (OSTORE_ERESEED when unknown or expired). The session pins the log after its
 * LSN until node_mig_snap_note_log or idle expiry. Reply now, always.
 */
int node_mig_snap_page(node_env *env, node_req *r, const os_hdr *h, const os_mig_snap_req *q);
/** node_mig_snap_note_log - a MIG_LOG of [@begin, @end) from @from_lsn was answered:
 *  drop the log pin of that range's finished session when @from_lsn reached its LSN. */
void node_mig_snap_note_log(node_repl *r, uint16_t begin, uint16_t end, uint64_t from_lsn);
/** node_snap_source_ready - may this node serve a snapshot (@what, for the log line)?
 *  OSTORE_OK, or OSTORE_EUNAVAIL (logged) when its LSN is below the newest LSN of its
 *  shard it knows of: it would hand out a history missing acknowledged writes. */
int node_snap_source_ready(node_env *env, const char *what);
/** node_snap_expire - end sessions idle for NODE_SNAP_IDLE_MS (ticker). */
void node_snap_expire(node_repl *r);
/** node_snap_note_pull - replica @node pulled from @from_lsn: drop its finished
 *  session's log pin once it caught up to the snapshot. */
void node_snap_note_pull(node_repl *r, uint16_t node, uint64_t from_lsn);

/** node_checksum_handle - answer a CHECKSUM frame (checksum.c). Always now. */
int node_checksum_handle(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                         size_t len);

#endif /* NODE_REPL_H */
