/*
 * nodemap.c - the current cluster map of the node: reference-counted pointer swap.
 *
 * A plain atomic pointer is not enough: a reader could load the pointer, be preempted
 * while the writer swaps and drops the last reference, then take a reference to freed
 * memory. The load-and-ref therefore happens under a mutex held for a few instructions;
 * the epoch is mirrored in an atomic so the hot path (reply headers) needs no lock.
 */
#include "nodemap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct node_maps {
	pthread_mutex_t mu;
	os_map *cur; /* one reference owned by the holder; NULL = no map */
	_Atomic uint64_t epoch;
};

node_maps *node_maps_create(void)
{
	node_maps *nm = calloc(1, sizeof(*nm));
	if (nm == NULL)
		return NULL;
	if (pthread_mutex_init(&nm->mu, NULL) != 0) {
		free(nm);
		return NULL;
	}
	atomic_init(&nm->epoch, 0);
	return nm;
}

void node_maps_destroy(node_maps *nm)
{
	if (nm == NULL)
		return;
	os_map_unref(nm->cur);
	pthread_mutex_destroy(&nm->mu);
	free(nm);
}

os_map *node_maps_get(node_maps *nm)
{
	pthread_mutex_lock(&nm->mu);
	os_map *m = nm->cur != NULL ? os_map_ref(nm->cur) : NULL;
	pthread_mutex_unlock(&nm->mu);
	return m;
}

void node_maps_install(node_maps *nm, os_map *m)
{
	pthread_mutex_lock(&nm->mu);
	os_map *old = nm->cur;
	nm->cur = m;
	atomic_store(&nm->epoch, m != NULL ? m->epoch : 0);
	pthread_mutex_unlock(&nm->mu);
	os_map_unref(old);
}

uint64_t node_maps_epoch(node_maps *nm)
{
	return atomic_load(&nm->epoch);
}

bool node_owns_slot(const os_map *m, uint16_t node_id, uint16_t slot)
{
	if (m == NULL || slot >= OSTORE_SLOTS)
		return false;
	const os_map_shard *s = os_map_shard_by_id(m, m->slot_shard[slot]);
	return s != NULL && s->primary == node_id;
}

uint32_t node_primary_shard(const os_map *m, uint16_t node_id, uint32_t *slots)
{
	uint32_t shard = NODE_NO_SHARD;
	uint32_t n = 0;
	if (m != NULL) {
		for (uint16_t i = 0; i < m->nshards; i++) {
			if (m->shards[i].primary != node_id)
				continue;
			if (shard == NODE_NO_SHARD)
				shard = m->shards[i].id;
			n += os_map_slot_count(m, m->shards[i].id);
		}
	}
	if (slots != NULL)
		*slots = n;
	return shard;
}
