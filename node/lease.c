/*
 * lease.c - the node's migration lease (lease.h): holder and expiry under a mutex.
 *
 *   request(owner, ttl, flags):
 *     expired ─▶ free first
 *     ttl 0:  holder == owner ─▶ free, OK;  otherwise OK, nothing changes (a query)
 *     ttl > 0: free (and not RENEW) or holder == owner ─▶ holder = owner, expiry = now + ttl
 *              otherwise ─▶ ELOCKED
 */
#include "lease.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "orderstore.h"
#include "wire.h"

struct node_lease {
	pthread_mutex_t mu;
	uint64_t holder;    /* 0 = free */
	uint64_t expiry_ns; /* monotonic; meaningful while holder != 0 */
};

node_lease *node_lease_create(void)
{
	node_lease *l = calloc(1, sizeof(*l));
	if (l != NULL && pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

void node_lease_destroy(node_lease *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* Drops an expired lease (mu held). */
static void expire_locked(node_lease *l, uint64_t now_ns)
{
	if (l->holder != 0 && now_ns >= l->expiry_ns) {
		OS_INFO("msg=\"migration lease expired\" holder=%016llx",
		        (unsigned long long)l->holder);
		l->holder = 0;
	}
}

static uint32_t remaining_locked(const node_lease *l, uint64_t now_ns)
{
	if (l->holder == 0 || now_ns >= l->expiry_ns)
		return 0;
	uint64_t ms = (l->expiry_ns - now_ns + 999999u) / 1000000u;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int node_lease_request(node_lease *l, uint64_t owner, uint32_t ttl_ms, uint32_t flags,
                       uint64_t now_ns, uint64_t *holder, uint32_t *remaining_ms)
{
	int rc = OSTORE_OK;
	pthread_mutex_lock(&l->mu);
	expire_locked(l, now_ns);
	if (ttl_ms == 0) {
		if (l->holder == owner) {
			l->holder = 0;
			OS_INFO("msg=\"migration lease released\" holder=%016llx",
			        (unsigned long long)owner);
		}
	} else if (l->holder == owner || (l->holder == 0 && !(flags & OS_MIG_LEASE_F_RENEW))) {
		if (l->holder != owner)
			OS_INFO("msg=\"migration lease granted\" holder=%016llx ttl_ms=%u",
			        (unsigned long long)owner, ttl_ms);
		l->holder = owner;
		l->expiry_ns = now_ns + (uint64_t)ttl_ms * 1000000u;
	} else {
		OS_INFO("msg=\"migration lease refused\" owner=%016llx holder=%016llx renew=%d",
		        (unsigned long long)owner, (unsigned long long)l->holder,
		        (flags & OS_MIG_LEASE_F_RENEW) != 0);
		rc = OSTORE_ELOCKED;
	}
	*holder = l->holder;
	*remaining_ms = remaining_locked(l, now_ns);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

bool node_lease_held(node_lease *l, uint64_t client_id, uint64_t now_ns, uint64_t *holder)
{
	pthread_mutex_lock(&l->mu);
	expire_locked(l, now_ns);
	uint64_t h = l->holder;
	pthread_mutex_unlock(&l->mu);
	if (holder != NULL)
		*holder = h;
	return client_id != 0 && h == client_id;
}
