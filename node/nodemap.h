/*
 * nodemap.h - the node's current cluster map and slot ownership (internal to node/).
 *
 * The node holds one current map (the newest it has stored). Readers (nng callbacks, the
 * writer thread) take a reference with node_maps_get() and drop it with os_map_unref();
 * installing a newer map swaps the pointer under a short mutex and drops the holder's
 * reference, so a map stays alive until its last reader is done. Only the writer thread
 * installs maps after start-up (after the map is durable in LMDB).
 *
 * Thread safety: node_maps_* may be called from any thread. The ownership helpers are
 * pure functions of an immutable map.
 */
#ifndef NODE_NODEMAP_H
#define NODE_NODEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "map.h"

/** Shard value meaning "this node is the primary of no shard". */
#define NODE_NO_SHARD 0xFFFFFFFFu

typedef struct node_maps node_maps;

/** node_maps_create - a holder without a map. NULL on out of memory. */
node_maps *node_maps_create(void);
/** node_maps_destroy - drop the holder's reference and free it; NULL is ignored. */
void node_maps_destroy(node_maps *nm);
/** node_maps_get - a new reference to the current map (os_map_unref it), or NULL when
 *  the node has no map. Cannot fail. */
os_map *node_maps_get(node_maps *nm);
/** node_maps_install - make @m current; takes over the caller's reference to @m. The
 *  caller has checked that @m is newer. Cannot fail. */
void node_maps_install(node_maps *nm, os_map *m);
/** node_maps_epoch - epoch of the current map, 0 without one. Lock-free. */
uint64_t node_maps_epoch(node_maps *nm);

/** node_owns_slot - whether @m makes node @node_id the primary of @slot's shard. */
bool node_owns_slot(const os_map *m, uint16_t node_id, uint16_t slot);
/**
 * node_primary_shard - the shard @node_id is primary of in @m (the first by id if
 * several), or NODE_NO_SHARD; *@slots receives the number of slots the node owns
 * (summed over all shards it is primary of). @m may be NULL (then NODE_NO_SHARD, 0).
 */
uint32_t node_primary_shard(const os_map *m, uint16_t node_id, uint32_t *slots);

#endif /* NODE_NODEMAP_H */
