/*
 * replica_read.c - the staleness of a replica, for bounded replica reads
 * (docs/replication.md "Reads").
 *
 *   replicator thread: pull reply received at t ─▶ apply ─▶ applied >= reply's primary_lsn?
 *                          └─ yes ─▶ node_repl_confirm(t)         re-seed / new primary ─▶ 0
 *   handler (DATA of GETs with OS_HDR_F_BOUNDED_READ, this node a replica of the shard):
 *       read txn opened ─▶ node_repl_read_check(bound) ─▶ serve | OSTORE_ESTALEREAD
 *
 * Lag in LSN is what the replica knows it is missing: the newest LSN of the shard it has
 * heard of (from its primary's pull replies) minus its applied LSN. Lag in time is how
 * long ago the replica last knew it had everything: the receive time of the last pull
 * reply after which its applied LSN reached that reply's primary_lsn. An empty long-poll
 * reply (the heartbeat, every --heartbeat-timeout-ms / 3 on an idle shard) counts, so
 * a healthy replica's time lag stays below that plus a round trip, and a replica whose
 * primary died reaches any time bound that long after its last reply.
 *
 * Ordering with a re-seed: the replicator sets "unknown" (0) before the writer clears
 * the orders, and the handler checks after it opened its read transaction, so a read
 * either sees the data from before the re-seed began or is refused.
 *
 * Everything is lock-free (atomics in node_repl, repl_int.h).
 */
#include "repl_int.h"

#include "util.h"

void node_repl_confirm(node_repl *r, uint64_t t_ns)
{
	if (t_ns == 0) {
		atomic_store(&r->confirmed_ns, 0);
		return;
	}
	uint64_t cur = atomic_load(&r->confirmed_ns);
	while (t_ns > cur && !atomic_compare_exchange_weak(&r->confirmed_ns, &cur, t_ns))
		;
}

int node_repl_read_check(node_repl *r, const os_read_bound *rb, uint64_t now_ns,
                         uint64_t *lag_lsn, uint64_t *lag_ms)
{
	uint64_t confirmed = atomic_load(&r->confirmed_ns);
	uint64_t applied = node_store_lsn(r->env->store);
	uint64_t known = node_repl_known_lsn(r);
	*lag_lsn = known > applied ? known - applied : 0;
	if (confirmed == 0) {
		*lag_ms = UINT64_MAX;
		return OSTORE_ESTALEREAD;
	}
	*lag_ms = now_ns > confirmed ? (now_ns - confirmed) / 1000000u : 0;
	if (rb->max_lag_lsn != 0 && *lag_lsn > rb->max_lag_lsn)
		return OSTORE_ESTALEREAD;
	if (rb->max_lag_ms != 0 && *lag_ms > rb->max_lag_ms)
		return OSTORE_ESTALEREAD;
	return OSTORE_OK;
}

void node_repl_count_reads(node_repl *r, uint64_t served, uint64_t refused)
{
	if (served != 0)
		atomic_fetch_add(&r->replica_reads, served);
	if (refused != 0)
		atomic_fetch_add(&r->stale_reads, refused);
}

void node_repl_read_counts(node_repl *r, uint64_t *served, uint64_t *refused)
{
	*served = atomic_load(&r->replica_reads);
	*refused = atomic_load(&r->stale_reads);
}
