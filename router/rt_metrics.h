/*
 * rt_metrics.h - the metrics of orderstore-router (internal to router/; docs/metrics.md).
 *
 * The shared request/process families (common/procmetrics.h) plus, per node of the map,
 * calls in flight, timeouts and errors, refusals and the stall detector's state, and the map: epoch, refreshes, installs, items
 * re-routed after a node answered "moved" / "not primary", and items retried after a
 * node answered "emigrating" (slot frozen while it moves). One set per process.
 *
 * Thread safety: init/serve/stop/fini from the main thread; updates from any thread
 * (no-ops before init).
 */
#ifndef RT_RT_METRICS_H
#define RT_RT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "map.h"

#include "mapstate.h"
#include "procmetrics.h"

/** rt_metrics_init - register the families; the collector reads @maps (borrowed).
 *  Returns OSTORE_OK or OSTORE_ENOMEM. */
int rt_metrics_init(rt_maps *maps);
/** rt_metrics_serve - serve /metrics on @hostport. Returns the status (logged). */
int rt_metrics_serve(const char *hostport);
/** rt_metrics_stop - stop the endpoint. Safe without init. */
void rt_metrics_stop(void);
/** rt_metrics_fini - free the registry once no thread can update it. */
void rt_metrics_fini(void);
/** rt_metrics_proc - the shared families, or NULL before init. */
os_procmetrics *rt_metrics_proc(void);

/** rt_metrics_call_start / rt_metrics_call_end - a call to node @node was sent / ended
 *  (@nng_rv: 0, NNG_ETIMEDOUT counts a timeout, anything else an error). */
void rt_metrics_call_start(uint16_t node);
void rt_metrics_call_end(uint16_t node, int nng_rv);
/** rt_metrics_node_stalled - node @node was declared stalled (@stalled) or answers again. */
void rt_metrics_node_stalled(uint16_t node, bool stalled);
/** rt_metrics_node_refused - a call to @node was refused: @st OSTORE_EOVERLOAD (its
 *  in-flight cap) or OSTORE_EUNAVAIL (stalled). */
void rt_metrics_node_refused(uint16_t node, int st);
/** rt_metrics_map_fetch - a map refresh (MAP_GET to a node) was started. */
void rt_metrics_map_fetch(void);
/** rt_metrics_map_installed - map @m replaced @old (NULL: the first map): counts the
 *  install and the slots whose shard changed (same cluster only). Both borrowed. */
void rt_metrics_map_installed(const os_map *old, const os_map *m);
/** rt_metrics_moved - @items items are re-routed after "moved" / "not primary". */
void rt_metrics_moved(uint64_t items);
/** rt_metrics_migrating - @items items are retried after "emigrating" (slot frozen). */
void rt_metrics_migrating(uint64_t items);
/** rt_metrics_data_frame - a client's DATA frame arrived (before it is decoded). */
void rt_metrics_data_frame(void);

#endif /* RT_RT_METRICS_H */
