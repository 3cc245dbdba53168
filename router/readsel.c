/*
 * readsel.c - replica choice for bounded reads: round-robin per shard, back-off per node.
 *
 *   data.c route(): bounded frame of GETs ─▶ rt_readsel_pick(shard) ─▶ replica | primary
 *   data.c: replica gave no answer (EUNAVAIL) ─▶ rt_readsel_failed(node) ─▶ skipped for
 *           RT_READSEL_BACKOFF_MS, its reads go to the primary meanwhile
 *
 * Two fixed tables indexed by ID (shard and node IDs are < OS_MAP_MAX_IDS), so nothing
 * depends on the map version and no lock is needed: a cursor is a relaxed counter (its
 * only job is to spread load), a back-off is an os_now_ns() deadline.
 */
#include "readsel.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "util.h"

struct rt_readsel {
	_Atomic uint32_t cursor[OS_MAP_MAX_IDS];    /* per shard ID */
	_Atomic uint64_t down_until[OS_MAP_MAX_IDS]; /* per node ID, os_now_ns() */
};

int rt_readsel_create(rt_readsel **out)
{
	rt_readsel *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return OSTORE_ENOMEM;
	for (unsigned i = 0; i < OS_MAP_MAX_IDS; i++) {
		atomic_init(&s->cursor[i], 0);
		atomic_init(&s->down_until[i], 0);
	}
	*out = s;
	return OSTORE_OK;
}

void rt_readsel_destroy(rt_readsel *s)
{
	free(s);
}

uint16_t rt_readsel_pick(rt_readsel *s, const os_map_shard *sh)
{
	if (sh == NULL || sh->nreplicas == 0 || sh->id >= OS_MAP_MAX_IDS)
		return OS_NODE_NONE;
	uint32_t start = atomic_fetch_add_explicit(&s->cursor[sh->id], 1, memory_order_relaxed);
	uint64_t now = os_now_ns();
	for (uint16_t k = 0; k < sh->nreplicas; k++) {
		uint16_t node = sh->replicas[(start + k) % sh->nreplicas];
		if (node < OS_MAP_MAX_IDS && atomic_load(&s->down_until[node]) <= now)
			return node;
	}
	return OS_NODE_NONE;
}

void rt_readsel_failed(rt_readsel *s, uint16_t node)
{
	if (node < OS_MAP_MAX_IDS)
		atomic_store(&s->down_until[node],
		             os_now_ns() + (uint64_t)RT_READSEL_BACKOFF_MS * 1000000u);
}
