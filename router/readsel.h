/*
 * readsel.h - which replica answers a bounded replica read (internal to router/;
 * docs/replication.md "Reads").
 *
 * Per shard a round-robin cursor over the replicas the map lists; per node a short
 * back-off after it failed to answer a replica read, so that a dead replica costs one
 * timeout per back-off period instead of one per request.
 *
 * Thread safety: every function may be called from any thread (lock-free).
 */
#ifndef RT_READSEL_H
#define RT_READSEL_H

#include <stdint.h>

#include "map.h"

/** How long a replica that did not answer is skipped, in milliseconds. */
#define RT_READSEL_BACKOFF_MS 1000u

typedef struct rt_readsel rt_readsel;

/** rt_readsel_create - fresh cursors, no node in back-off. Returns OSTORE_OK (*@out set)
 *  or OSTORE_ENOMEM. */
int rt_readsel_create(rt_readsel **out);

/** rt_readsel_destroy - free @s. NULL is ignored. */
void rt_readsel_destroy(rt_readsel *s);

/**
 * rt_readsel_pick - the replica of @sh that should answer the next bounded read: the
 * next one in round-robin order that is not in back-off. Returns its node ID, or
 * OS_NODE_NONE when the shard has no replica or all are in back-off (ask the primary).
 * Cannot fail.
 */
uint16_t rt_readsel_pick(rt_readsel *s, const os_map_shard *sh);

/** rt_readsel_failed - replica @node did not answer a read: skip it for
 *  RT_READSEL_BACKOFF_MS. Cannot fail. */
void rt_readsel_failed(rt_readsel *s, uint16_t node);

#endif /* RT_READSEL_H */
