/*
 * mapstate.h - the router's cached cluster map and its refresh from the nodes.
 *
 * The router holds exactly one current map. Readers take a reference (rt_maps_get) and
 * route a whole request with it; a newer map replaces it atomically (rt_maps_install),
 * and the old one is freed when its last reader drops it. Installing a map also makes the
 * node connections follow it (nodes.h). The highest epoch wins: an older or equal map is
 * never installed.
 */
#ifndef RT_MAPSTATE_H
#define RT_MAPSTATE_H

#include <stdint.h>

#include "map.h"
#include "nodes.h"

typedef struct rt_maps rt_maps;

/**
 * rt_maps_create - a holder with no map yet, connected to @nodes (borrowed: it must
 * outlive the holder). Returns OSTORE_OK with *out set, or OSTORE_ENOMEM.
 */
int rt_maps_create(rt_nodes *nodes, rt_maps **out);

/** rt_maps_destroy - drop the current map and free the holder. NULL is ignored. */
void rt_maps_destroy(rt_maps *ms);

/**
 * rt_maps_get - the current map with a reference taken for the caller (release with
 * os_map_unref), or NULL when no map is installed. Never blocks for long. Thread-safe.
 */
os_map *rt_maps_get(rt_maps *ms);

/** rt_maps_epoch - epoch of the current map, 0 when none. Thread-safe. */
uint64_t rt_maps_epoch(rt_maps *ms);

/**
 * rt_maps_install - make @m the current map if its epoch is higher than the current one
 * (or there is none), syncing the node connections; logs the change (old -> new epoch).
 * The holder takes its own reference; the caller keeps its reference in every case.
 * Returns OSTORE_OK (installed, or the same epoch already held) or OSTORE_ESTALE (older
 * than the current map). Never blocks. Thread-safe.
 */
int rt_maps_install(rt_maps *ms, os_map *m);

/**
 * Completion of rt_maps_fetch: @st is OSTORE_OK when the node answered with a valid map
 * (installed if newer), or why not (OSTORE_EUNAVAIL, OSTORE_EPROTO, OSTORE_ENOMAP...).
 */
typedef void (*rt_fetch_fn)(void *arg, int st);

/**
 * rt_maps_fetch - ask node @node_id for its map (MAP_GET, asynchronously) and install it
 * if newer; then run @done (exactly once, possibly before this returns). With @done NULL
 * it is a background refresh: at most one background refresh runs at a time and further
 * ones are dropped while it does.
 * Returns OSTORE_OK (started; @done will run) or the error of rt_call_start() / ENOMEM
 * (nothing started, @done never runs). Never blocks. Thread-safe.
 */
int rt_maps_fetch(rt_maps *ms, uint16_t node_id, rt_fetch_fn done, void *arg);

/**
 * rt_maps_fetch_any - refresh after node @node_id said "moved" or "not primary": ask that
 * node first (MAP_GET); when its answer is not newer than the map held at the call (it
 * is down, or it was fenced by a map it has not seen itself), ask every other node of the
 * current map at once, and run @done as soon as one of them made the map newer or after
 * all have answered or timed out. @done runs exactly once (possibly before this returns)
 * with OSTORE_OK when the map grew, else OSTORE_ESTALE. @done must not be NULL.
 * Returns OSTORE_OK (started) or OSTORE_ENOMEM (nothing started, @done never runs).
 * Never blocks. Thread-safe.
 */
int rt_maps_fetch_any(rt_maps *ms, uint16_t node_id, rt_fetch_fn done, void *arg);

#endif /* RT_MAPSTATE_H */
