/*
 * lease.h - the node's migration lease (internal to node/; wire.h "MIG_LEASE",
 * docs/rebalance.md "Crash safety").
 *
 *   MIG_LEASE ─▶ handler.c ─▶ node_lease_request (grant / renew / release / query)
 *   MIG_FREEZE (FREEZE, UNFREEZE), MIG_APPLY, MIG_PURGE jobs ─▶ writer ─▶ node_lease_held
 *   MAP_SET taking slots from this node's shard ─▶ writer ─▶ node_lease_held
 *
 * One holder at a time, kept in memory only: a restart drops the lease, and a run that
 * held it is refused from then on (it stops; running it again takes a new lease).
 * Times come from the monotonic clock.
 *
 * Thread safety: every function may be called from any thread (one short mutex).
 */
#ifndef NODE_LEASE_H
#define NODE_LEASE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct node_lease node_lease;

/** node_lease_create - a free lease. NULL on out of memory. */
node_lease *node_lease_create(void);
/** node_lease_destroy - free @l; NULL is ignored. */
void node_lease_destroy(node_lease *l);

/**
 * node_lease_request - apply one MIG_LEASE request (decoded and range-checked) at time
 * @now_ns: @owner (non-zero) asks for @ttl_ms (0 = release) with @flags (OS_MIG_LEASE_F_*),
 * by the rules of wire.h "MIG_LEASE". *@holder and *@remaining_ms receive the lease after
 * the request (the reply body). Returns OSTORE_OK or OSTORE_ELOCKED (another's unexpired
 * lease, or with OS_MIG_LEASE_F_RENEW one @owner does not hold). Changes are logged.
 */
int node_lease_request(node_lease *l, uint64_t owner, uint32_t ttl_ms, uint32_t flags,
                       uint64_t now_ns, uint64_t *holder, uint32_t *remaining_ms);

/**
 * node_lease_held - whether @client_id (0 never) holds the unexpired lease at @now_ns.
 * *@holder (may be NULL) receives the current unexpired holder (0 = none). Cannot fail.
 */
bool node_lease_held(node_lease *l, uint64_t client_id, uint64_t now_ns, uint64_t *holder);

#endif /* NODE_LEASE_H */
