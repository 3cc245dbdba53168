/*
 * node_metrics.h - the metrics of orderstore-node (internal to node/; docs/metrics.md).
 *
 * One set per process (static storage in node_metrics.c): the shared request/process
 * families (common/procmetrics.h) plus group commit, LMDB usage, LSN, role and
 * replication. Counters and histograms are updated where things happen (a few relaxed
 * atomic adds); gauges that mirror state (LMDB sizes, LSN, replica acks and lags) are
 * read by a collector when /metrics is scraped.
 *
 * Thread safety: node_metrics_init and node_metrics_serve/stop from the main thread;
 * the update functions from any thread. Before init every update is a no-op.
 */
#ifndef NODE_NODE_METRICS_H
#define NODE_NODE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "procmetrics.h"

/** node_metrics_init - register every node family, with a collector reading @env
 *  (borrowed; must outlive the metrics). Returns OSTORE_OK or OSTORE_ENOMEM. */
int node_metrics_init(node_env *env);
/** node_metrics_serve - serve /metrics on @hostport (os_metrics_http_start). Returns
 *  its status (errors are logged). */
int node_metrics_serve(const char *hostport);
/** node_metrics_stop - stop the endpoint (before the parts it reads are destroyed).
 *  Safe without init or serve. */
void node_metrics_stop(void);
/** node_metrics_fini - free the registry once no other thread can update it (after
 *  every part of the node is destroyed). Safe without init. */
void node_metrics_fini(void);
/** node_metrics_proc - the shared families (for the server), or NULL before init. */
os_procmetrics *node_metrics_proc(void);

/** node_metrics_commit - a data batch of @items items committed; the commit (sync
 *  included) took @commit_ns. */
void node_metrics_commit(size_t items, uint64_t commit_ns);
/** node_metrics_commit_failed - a data batch failed (its items answered an error). */
void node_metrics_commit_failed(void);
/** node_metrics_reseed_requested - this primary told a replica to re-seed. */
void node_metrics_reseed_requested(void);
/** node_metrics_reseeded - this replica completed a re-seed from its primary. */
void node_metrics_reseeded(void);

/** node_metrics_mig_imported - a MIG_APPLY committed @orders writes (PUTs and DELs
 *  that removed an order) carrying @bytes value bytes. */
void node_metrics_mig_imported(uint64_t orders, uint64_t bytes);
/** node_metrics_mig_purged - a MIG_PURGE deleted @orders orders. */
void node_metrics_mig_purged(uint64_t orders);

#endif /* NODE_NODE_METRICS_H */
