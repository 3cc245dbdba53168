/*
 * rt_metrics.c - orderstore-router's metric families (one table), updates, collector.
 *
 *   nodes.c:    call sent ─▶ in-flight{node} +1;  call ended ─▶ -1, timeout/error{node};
 *               call refused ─▶ overload / stalled refusals{node}; stall detector ─▶
 *               stalled{node} 0/1, stalls{node}
 *   mapstate.c: MAP_GET started ─▶ refreshes;  newer map ─▶ installs, slots that changed
 *               shard ─▶ slots moved
 *   data.c:     items moved ─▶ redirects;  items frozen ─▶ migrating retries;
 *               reply built ─▶ procmetrics per item
 *   scrape:     collect() ─▶ map epoch; per shard slots owned and target by weight
 *               (os_map_slot_targets) ─▶ rebalance slots pending
 */
#include "rt_metrics.h"

#include <string.h>

#include <nng/nng.h>

#include "map.h"
#include "mapstate.h"
#include "metrics.h"

#define NODE_LABEL(nm) {nm, NULL, OS_MAP_MAX_IDS}

static struct {
	os_procservice ps;
	rt_maps *maps;
	os_metric *inflight, *calls, *timeouts, *errors, *stalled, *stalls, *refused_overload,
	    *refused_stalled, *epoch, *fetches, *installs, *moved,
	    *migrating, *frames, *shard_slots, *shard_target, *pending, *slots_moved;
} g;

#define M(field) &g.field
static const os_metric_slot defs[] = {
	{{.name = "orderstore_router_node_inflight", .help = "Calls to a node waiting for its reply.",
	  .type = OS_METRIC_GAUGE, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(inflight)},
	{{.name = "orderstore_router_node_calls_total", .help = "Calls sent to a node.",
	  .type = OS_METRIC_COUNTER, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(calls)},
	{{.name = "orderstore_router_node_timeouts_total",
	  .help = "Calls to a node that got no reply within the call timeout.",
	  .type = OS_METRIC_COUNTER, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(timeouts)},
	{{.name = "orderstore_router_node_errors_total",
	  .help = "Calls to a node that failed otherwise (connection closed, send failed).",
	  .type = OS_METRIC_COUNTER, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(errors)},
	{{.name = "orderstore_router_node_stalled",
	  .help = "1 while a node is considered stalled (no reply, PING unanswered): its calls "
	          "are refused at once with EUNAVAIL until a PING is answered.",
	  .type = OS_METRIC_GAUGE, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(stalled)},
	{{.name = "orderstore_router_node_stalls_total",
	  .help = "Times a node was declared stalled.",
	  .type = OS_METRIC_COUNTER, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(stalls)},
	{{.name = "orderstore_router_node_overload_refusals_total",
	  .help = "Calls to a node refused with EOVERLOAD: --max-node-calls already in flight "
	          "and no reply from it for --stall-ms/4.",
	  .type = OS_METRIC_COUNTER, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(refused_overload)},
	{{.name = "orderstore_router_node_stalled_refusals_total",
	  .help = "Calls to a stalled node refused at once with EUNAVAIL.",
	  .type = OS_METRIC_COUNTER, .labels = {NODE_LABEL("node")}, .sparse = true},
	 M(refused_stalled)},
	{{.name = "orderstore_map_epoch", .help = "Epoch of the cluster map this process holds.",
	  .type = OS_METRIC_GAUGE},
	 M(epoch)},
	{{.name = "orderstore_router_map_refreshes_total",
	  .help = "Map refreshes started (MAP_GET to a node after 'moved' or a newer epoch).",
	  .type = OS_METRIC_COUNTER},
	 M(fetches)},
	{{.name = "orderstore_router_map_installs_total", .help = "Newer cluster maps installed.",
	  .type = OS_METRIC_COUNTER},
	 M(installs)},
	{{.name = "orderstore_router_moved_redirects_total",
	  .help = "Items re-routed with a newer map after a node answered moved / not primary.",
	  .type = OS_METRIC_COUNTER},
	 M(moved)},
	{{.name = "orderstore_router_migrating_retries_total",
	  .help = "Items retried after a node answered emigrating (slot frozen while it moves).",
	  .type = OS_METRIC_COUNTER},
	 M(migrating)},
	{{.name = "orderstore_router_data_frames_total",
	  .help = "DATA frames received from clients (compare with the node calls: one call per "
	          "frame when clients group items by shard).",
	  .type = OS_METRIC_COUNTER},
	 M(frames)},
	{{.name = "orderstore_shard_slots", .help = "Slots a shard owns in the router's map.",
	  .type = OS_METRIC_GAUGE, .labels = {{"shard", NULL, OS_MAP_MAX_IDS}}, .sparse = true},
	 M(shard_slots)},
	{{.name = "orderstore_shard_slots_target",
	  .help = "Slots a shard should own by its weight (the rebalance target).",
	  .type = OS_METRIC_GAUGE, .labels = {{"shard", NULL, OS_MAP_MAX_IDS}}, .sparse = true},
	 M(shard_target)},
	{{.name = "orderstore_rebalance_slots_pending",
	  .help = "Slots still to move before every shard owns its target (0 = balanced).",
	  .type = OS_METRIC_GAUGE},
	 M(pending)},
	{{.name = "orderstore_rebalance_slots_moved_total",
	  .help = "Slots whose shard changed between maps this router installed.",
	  .type = OS_METRIC_COUNTER},
	 M(slots_moved)},
};
#undef M

static void collect(void *arg)
{
	os_metric_set(g.epoch, 0, (int64_t)rt_maps_epoch(arg));
	os_map *m = rt_maps_get(arg);
	if (m == NULL)
		return;
	static uint32_t target[OS_MAP_MAX_IDS]; /* renders are serialized (metrics.h) */
	bool have_target = os_map_slot_targets(m, target) == OSTORE_OK;
	int64_t pending = 0;
	for (uint16_t i = 0; i < OS_MAP_MAX_IDS; i++) {
		const os_map_shard *sh = os_map_shard_by_id(m, i);
		if (sh == NULL) {
			if (os_metric_value(g.shard_slots, i) != 0 || os_metric_value(g.shard_target, i) != 0) {
				os_metric_clear(g.shard_slots, i); /* a removed shard */
				os_metric_clear(g.shard_target, i);
			}
			continue;
		}
		uint32_t owned = os_map_slot_count(m, i);
		os_metric_set(g.shard_slots, i, owned);
		if (have_target) {
			uint32_t t = target[sh - m->shards];
			os_metric_set(g.shard_target, i, t);
			pending += owned > t ? (int64_t)(owned - t) : 0;
		}
	}
	os_metric_set(g.pending, 0, pending);
	os_map_unref(m);
}

int rt_metrics_init(rt_maps *maps)
{
	g.maps = maps;
	return os_procservice_init(&g.ps, defs, sizeof(defs) / sizeof(defs[0]), collect, maps);
}

int rt_metrics_serve(const char *hostport)
{
	return os_procservice_serve(&g.ps, hostport);
}

void rt_metrics_stop(void)
{
	os_procservice_stop(&g.ps);
}

void rt_metrics_fini(void)
{
	os_procservice_fini(&g.ps);
	memset(&g, 0, sizeof(g)); /* every handle NULL: later updates are no-ops */
}

os_procmetrics *rt_metrics_proc(void)
{
	return g.ps.pm.reg != NULL ? &g.ps.pm : NULL;
}

void rt_metrics_call_start(uint16_t node)
{
	os_metric_gauge_add(g.inflight, node, 1);
	os_metric_inc(g.calls, node);
}

void rt_metrics_call_end(uint16_t node, int nng_rv)
{
	os_metric_gauge_add(g.inflight, node, -1);
	if (nng_rv == NNG_ETIMEDOUT)
		os_metric_inc(g.timeouts, node);
	else if (nng_rv != 0)
		os_metric_inc(g.errors, node);
}

void rt_metrics_node_stalled(uint16_t node, bool stalled)
{
	os_metric_set(g.stalled, node, stalled ? 1 : 0);
	if (stalled)
		os_metric_inc(g.stalls, node);
}

void rt_metrics_node_refused(uint16_t node, int st)
{
	os_metric_inc(st == OSTORE_EOVERLOAD ? g.refused_overload : g.refused_stalled, node);
}

void rt_metrics_map_fetch(void)
{
	os_metric_inc(g.fetches, 0);
}

void rt_metrics_map_installed(const os_map *old, const os_map *m)
{
	os_metric_inc(g.installs, 0);
	if (old == NULL || old->cluster_id != m->cluster_id)
		return;
	uint64_t changed = 0;
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		changed += old->slot_shard[s] != m->slot_shard[s];
	os_metric_add(g.slots_moved, 0, changed);
}

void rt_metrics_moved(uint64_t items)
{
	os_metric_add(g.moved, 0, items);
}

void rt_metrics_migrating(uint64_t items)
{
	os_metric_add(g.migrating, 0, items);
}

void rt_metrics_data_frame(void)
{
	os_metric_inc(g.frames, 0);
}
