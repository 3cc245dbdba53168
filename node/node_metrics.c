/*
 * node_metrics.c - orderstore-node's metric families, their updates and the collector.
 *
 *   writer:  batch committed ─▶ node_metrics_commit(items, commit_ns)   (2 histograms)
 *   server:  reply handed to nng ─▶ procmetrics (requests, latency)
 *   scrape:  collect() ─▶ LMDB stats (short read txn), readers, LSN, epoch, role,
 *            per-replica acks / lags (primary), lag behind the primary (replica)
 *
 * The families are one table (defs[]) with the handle each fills, so a metric is named,
 * typed and documented in one place (docs/metrics.md lists them for operators).
 */
#include "node_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "repl.h"
#include "store.h"
#include "util.h"

static const char *const role_values[] = {"none", "primary", "replica"};
static const char *const full_values[] = {"map", "disk"}; /* NODE_FULL_MAP - 1, ... */
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
static const double commit_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define NBUCKETS(a) (uint32_t)(sizeof(a) / sizeof(a[0]))
#define NODE_LABEL(nm) {nm, NULL, OS_MAP_MAX_IDS}

static struct {
	os_procservice ps;
	node_env *env;
	os_metric *batch, *commit, *commit_failed, *map_size, *used, *readers, *readers_max,
		*orders, *lsn, *epoch, *role, *acked, *peer_lag, *peer_age, *connected,
		*reseed_req, *reseeds, *lag_lsn, *lag_s, *mig_orders, *mig_bytes, *mig_purged,
		*mig_frozen, *full;
} g;

#define M(field) &g.field
static const os_metric_slot defs[] = {
	{{.name = "orderstore_commit_batch_items",
	  .help = "Items (writes and reads) per group-commit write transaction.",
	  .type = OS_METRIC_HISTOGRAM, .buckets = batch_buckets, .nbuckets = NBUCKETS(batch_buckets)},
	 M(batch)},
	{{.name = "orderstore_commit_duration_seconds",
	  .help = "Duration of a group commit (LMDB commit including its fsync).",
	  .type = OS_METRIC_HISTOGRAM, .scale = 1e-9, .buckets = commit_buckets,
	  .nbuckets = NBUCKETS(commit_buckets)},
	 M(commit)},
	{{.name = "orderstore_commit_failures_total",
	  .help = "Write batches whose transaction failed (every item answered an error).",
	  .type = OS_METRIC_COUNTER},
	 M(commit_failed)},
	{{.name = "orderstore_lmdb_map_size_bytes", .help = "Current LMDB map size.",
	  .type = OS_METRIC_GAUGE},
	 M(map_size)},
	{{.name = "orderstore_lmdb_used_bytes",
	  .help = "LMDB pages in use (orders, meta, write log) times the page size.",
	  .type = OS_METRIC_GAUGE},
	 M(used)},
	{{.name = "orderstore_storage_full",
	  .help = "1 while writes answer OSTORE_EFULL, by cause: map (LMDB map at --max-map-size) "
	          "or disk (no space on the file system); 0 once a write commits again.",
	  .type = OS_METRIC_GAUGE, .labels = {{"cause", full_values, 2}}},
	 M(full)},
	{{.name = "orderstore_lmdb_readers_used", .help = "LMDB reader slots in use.",
	  .type = OS_METRIC_GAUGE},
	 M(readers)},
	{{.name = "orderstore_lmdb_readers_max", .help = "LMDB reader slots available (maxreaders).",
	  .type = OS_METRIC_GAUGE},
	 M(readers_max)},
	{{.name = "orderstore_orders", .help = "Orders stored on this node, by shard.",
	  .type = OS_METRIC_GAUGE, .labels = {NODE_LABEL("shard")}, .sparse = true},
	 M(orders)},
	{{.name = "orderstore_lsn", .help = "Last committed (applied) log sequence number, by shard.",
	  .type = OS_METRIC_GAUGE, .labels = {NODE_LABEL("shard")}, .sparse = true},
	 M(lsn)},
	{{.name = "orderstore_map_epoch", .help = "Epoch of the cluster map this process holds.",
	  .type = OS_METRIC_GAUGE},
	 M(epoch)},
	{{.name = "orderstore_node_role",
	  .help = "1 for this node's role in the shard it belongs to (the map's view).",
	  .type = OS_METRIC_GAUGE,
	  .labels = {NODE_LABEL("shard"), {"role", role_values, 3}}, .sparse = true},
	 M(role)},
	{{.name = "orderstore_repl_replica_acked_lsn",
	  .help = "Primary: LSN each replica has durably applied (acknowledged by its last pull).",
	  .type = OS_METRIC_GAUGE, .labels = {NODE_LABEL("replica")}, .sparse = true},
	 M(acked)},
	{{.name = "orderstore_repl_replica_lag_lsn",
	  .help = "Primary: LSNs committed here that a replica has not acknowledged yet.",
	  .type = OS_METRIC_GAUGE, .labels = {NODE_LABEL("replica")}, .sparse = true},
	 M(peer_lag)},
	{{.name = "orderstore_repl_replica_last_pull_age_seconds",
	  .help = "Primary: seconds since each replica's last pull (its heartbeat).",
	  .type = OS_METRIC_GAUGE, .scale = 1e-9, .labels = {NODE_LABEL("replica")},
	  .sparse = true},
	 M(peer_age)},
	{{.name = "orderstore_repl_connected_replicas",
	  .help = "Primary: replicas that pulled within the heartbeat timeout.",
	  .type = OS_METRIC_GAUGE},
	 M(connected)},
	{{.name = "orderstore_repl_reseeds_requested_total",
	  .help = "Primary: pulls answered 'must re-seed' (replica behind the log or diverged).",
	  .type = OS_METRIC_COUNTER},
	 M(reseed_req)},
	{{.name = "orderstore_repl_reseeds_total",
	  .help = "Replica: re-seeds from a snapshot of the primary completed.",
	  .type = OS_METRIC_COUNTER},
	 M(reseeds)},
	{{.name = "orderstore_repl_lag_lsn",
	  .help = "Replica: LSNs the primary has that this replica has not applied yet.",
	  .type = OS_METRIC_GAUGE, .sparse = true},
	 M(lag_lsn)},
	{{.name = "orderstore_repl_lag_seconds",
	  .help = "Replica: seconds since it was last known caught up with its primary.",
	  .type = OS_METRIC_GAUGE, .scale = 1e-9, .sparse = true},
	 M(lag_s)},
	{{.name = "orderstore_migration_orders_imported_total",
	  .help = "Slot migration: copied writes applied here (MIG_APPLY PUTs, and DELs that "
	          "removed an order).",
	  .type = OS_METRIC_COUNTER},
	 M(mig_orders)},
	{{.name = "orderstore_migration_bytes_imported_total",
	  .help = "Slot migration: value bytes of the orders applied here by MIG_APPLY.",
	  .type = OS_METRIC_COUNTER},
	 M(mig_bytes)},
	{{.name = "orderstore_migration_orders_purged_total",
	  .help = "Slot migration: orders of slots this node no longer owns deleted by MIG_PURGE.",
	  .type = OS_METRIC_COUNTER},
	 M(mig_purged)},
	{{.name = "orderstore_migration_frozen_slots",
	  .help = "Slot migration: slots frozen here (writes answer 'migrating').",
	  .type = OS_METRIC_GAUGE},
	 M(mig_frozen)},
};
#undef M

/* Shards and replicas seen at the last scrape, so series of old roles disappear. */
static uint32_t last_shard = NODE_NO_SHARD;
static uint16_t last_peers[OS_MAP_MAX_REPLICAS];
static size_t last_npeers;

static void collect_repl(node_env *env, const os_map *map, os_role role, uint32_t shard,
                         uint64_t lsn)
{
	for (size_t i = 0; i < last_npeers; i++) {
		os_metric_clear(g.acked, last_peers[i]);
		os_metric_clear(g.peer_lag, last_peers[i]);
		os_metric_clear(g.peer_age, last_peers[i]);
	}
	last_npeers = 0;
	os_metric_clear(g.lag_lsn, 0);
	os_metric_clear(g.lag_s, 0);
	uint64_t now = os_now_ns();
	if (role == OS_ROLE_PRIMARY) {
		node_repl_peer_info peers[OS_MAP_MAX_REPLICAS];
		size_t n = node_repl_peers(env->repl, map, shard, peers, OS_MAP_MAX_REPLICAS);
		for (size_t i = 0; i < n; i++) {
			uint16_t id = peers[i].node;
			last_peers[last_npeers++] = id;
			os_metric_set(g.acked, id, (int64_t)peers[i].acked);
			os_metric_set(g.peer_lag, id,
			              (int64_t)(lsn > peers[i].acked ? lsn - peers[i].acked : 0));
			if (peers[i].last_seen_ns != 0)
				os_metric_set(g.peer_age, id,
				              (int64_t)(now > peers[i].last_seen_ns ? now - peers[i].last_seen_ns
				                                                    : 0));
		}
		os_metric_set(g.connected, 0, (int64_t)node_repl_reachable(env->repl, map, shard));
	} else {
		os_metric_set(g.connected, 0, 0);
	}
	if (role == OS_ROLE_REPLICA) {
		os_read_bound none = {0};
		uint64_t lag_lsn, lag_ms;
		node_repl_read_check(env->repl, &none, now, &lag_lsn, &lag_ms);
		os_metric_set(g.lag_lsn, 0, (int64_t)lag_lsn);
		if (lag_ms != UINT64_MAX)
			os_metric_set(g.lag_s, 0, (int64_t)(lag_ms * 1000000u));
	}
}

static void collect(void *arg)
{
	node_env *env = arg;
	node_store_stats ss = {0};
	MDB_txn *txn;
	if (node_store_read_begin(env->store, &txn) == OSTORE_OK) {
		node_store_stats_get(env->store, txn, &ss);
		node_store_read_end(env->store, txn);
	}
	unsigned used = 0, max = 0;
	node_store_readers(env->store, &used, &max);
	os_metric_set(g.map_size, 0, (int64_t)ss.map_size);
	os_metric_set(g.used, 0, (int64_t)ss.bytes_used);
	os_metric_set(g.readers, 0, used);
	int full = node_store_full(env->store);
	os_metric_set(g.full, 0, full == NODE_FULL_MAP);
	os_metric_set(g.full, 1, full == NODE_FULL_DISK);
	os_metric_set(g.readers_max, 0, max);

	os_map *map = node_maps_get(env->maps);
	uint32_t shard;
	os_role role = node_role_of(map, env->id, &shard);
	uint64_t lsn = node_store_lsn(env->store);
	os_metric_set(g.epoch, 0, map != NULL ? (int64_t)map->epoch : 0);
	if (last_shard != NODE_NO_SHARD && last_shard != shard) {
		os_metric_clear(g.orders, last_shard);
		os_metric_clear(g.lsn, last_shard);
		for (uint32_t r = 0; r < 3; r++)
			os_metric_clear(g.role, os_metric_series(g.role, last_shard, r));
	}
	last_shard = shard;
	if (shard != NODE_NO_SHARD) {
		os_metric_set(g.orders, shard, (int64_t)ss.orders);
		os_metric_set(g.lsn, shard, (int64_t)lsn);
		for (uint32_t r = 0; r < 3; r++)
			os_metric_set(g.role, os_metric_series(g.role, shard, r), r == (uint32_t)role);
	}
	collect_repl(env, map, role, shard, lsn);
	os_map_unref(map);
	uint32_t frozen = 0;
	if (env->writer != NULL)
		node_mig_frozen_view(env->writer, NULL, 0, 0, NULL, &frozen);
	os_metric_set(g.mig_frozen, 0, frozen);
}

int node_metrics_init(node_env *env)
{
	g.env = env;
	return os_procservice_init(&g.ps, defs, sizeof(defs) / sizeof(defs[0]), collect, env);
}

int node_metrics_serve(const char *hostport)
{
	return os_procservice_serve(&g.ps, hostport);
}

void node_metrics_stop(void)
{
	os_procservice_stop(&g.ps);
}

void node_metrics_fini(void)
{
	os_procservice_fini(&g.ps);
	memset(&g, 0, sizeof(g)); /* every handle NULL: later updates are no-ops */
}

os_procmetrics *node_metrics_proc(void)
{
	return g.ps.pm.reg != NULL ? &g.ps.pm : NULL;
}

void node_metrics_commit(size_t items, uint64_t commit_ns)
{
	os_metric_observe(g.batch, 0, items, 1);
	os_metric_observe(g.commit, 0, commit_ns, 1);
}

void node_metrics_commit_failed(void)
{
	os_metric_inc(g.commit_failed, 0);
}

void node_metrics_reseed_requested(void)
{
	os_metric_inc(g.reseed_req, 0);
}

void node_metrics_reseeded(void)
{
	os_metric_inc(g.reseeds, 0);
}

void node_metrics_mig_imported(uint64_t orders, uint64_t bytes)
{
	os_metric_add(g.mig_orders, 0, orders);
	os_metric_add(g.mig_bytes, 0, bytes);
}

void node_metrics_mig_purged(uint64_t orders)
{
	os_metric_add(g.mig_purged, 0, orders);
}
