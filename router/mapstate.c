/*
 * mapstate.c - the router's map holder and map refresh.
 *
 * Design: the current map is a pointer guarded by a mutex that is held only to take a
 * reference or to swap the pointer (a few instructions, never across I/O). A bare atomic
 * pointer is not enough: between loading the pointer and incrementing the refcount the
 * map could be swapped out and freed; the mutex closes that window without hazard
 * pointers. Maps are immutable, so readers use their reference without any lock.
 *
 * Refresh: a node that answers "moved" (or a reply epoch above ours) has a newer map, so
 * the router asks that very node with MAP_GET through the ordinary call pool (same
 * timeout, never blocking) and installs the answer if it is newer:
 *
 *   fan-out sees EMOVED ─▶ rt_maps_fetch(node) ─▶ MAP_GET call ─▶ decode ─▶ install if newer
 *                                                                      └─▶ done(arg, st)
 *
 * After a failover the node that answers is often the fenced old primary (it says
 * "not primary" because it holds the newer map, so asking it suffices) but it may also be
 * a node that is down or that has not learnt the new map yet. rt_maps_fetch_any covers
 * that: it asks the failing node first and, if the map did not grow, every other node of
 * the map in parallel, finishing at the first newer map (a refcount of outstanding
 * fetches + an atomic "fired" flag, so the caller's completion runs exactly once and the
 * op is freed by the last fetch to finish).
 */
#include "mapstate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "rt_metrics.h"
#include "wire.h"

struct rt_maps {
	pthread_mutex_t mtx;
	os_map *cur;
	rt_nodes *nodes;
	atomic_bool bg_busy;
};

typedef struct fetch_op {
	rt_maps *ms;
	rt_fetch_fn done;
	void *arg;
	uint16_t node;
} fetch_op;

int rt_maps_create(rt_nodes *nodes, rt_maps **out)
{
	rt_maps *ms = calloc(1, sizeof(*ms));
	if (ms == NULL)
		return OSTORE_ENOMEM;
	pthread_mutex_init(&ms->mtx, NULL);
	ms->nodes = nodes;
	atomic_init(&ms->bg_busy, false);
	*out = ms;
	return OSTORE_OK;
}

void rt_maps_destroy(rt_maps *ms)
{
	if (ms == NULL)
		return;
	os_map_unref(ms->cur);
	pthread_mutex_destroy(&ms->mtx);
	free(ms);
}

os_map *rt_maps_get(rt_maps *ms)
{
	pthread_mutex_lock(&ms->mtx);
	os_map *m = ms->cur != NULL ? os_map_ref(ms->cur) : NULL;
	pthread_mutex_unlock(&ms->mtx);
	return m;
}

uint64_t rt_maps_epoch(rt_maps *ms)
{
	pthread_mutex_lock(&ms->mtx);
	uint64_t e = ms->cur != NULL ? ms->cur->epoch : 0;
	pthread_mutex_unlock(&ms->mtx);
	return e;
}

int rt_maps_install(rt_maps *ms, os_map *m)
{
	pthread_mutex_lock(&ms->mtx);
	os_map *old = ms->cur;
	if (old != NULL && m->epoch <= old->epoch) {
		int st = m->epoch == old->epoch ? OSTORE_OK : OSTORE_ESTALE;
		pthread_mutex_unlock(&ms->mtx);
		return st;
	}
	ms->cur = os_map_ref(m);
	/* Under the lock, so the node table follows the maps in install order. */
	rt_nodes_sync(ms->nodes, m);
	pthread_mutex_unlock(&ms->mtx);
	rt_metrics_map_installed(old, m);
	OS_INFO("msg=\"cluster map installed\" old_epoch=%llu epoch=%llu shards=%u nodes=%u",
	        (unsigned long long)(old != NULL ? old->epoch : 0), (unsigned long long)m->epoch,
	        m->nshards, m->nnodes);
	os_map_unref(old);
	return OSTORE_OK;
}

/* Decode a MAP_GET reply and install the map. Returns an ostore status. */
static int install_reply(rt_maps *ms, nng_msg *reply)
{
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	int st = os_hdr_get(nng_msg_body(reply), nng_msg_len(reply), &h, &body, &blen);
	if (st != OSTORE_OK)
		return st;
	if (h.kind != (OS_KIND_MAP_GET | OS_REPLY_BIT))
		return OSTORE_EPROTO;
	if (h.status != OSTORE_OK)
		return h.status;
	os_map *m = NULL;
	if ((st = os_map_decode(body, blen, &m)) != OSTORE_OK)
		return st;
	st = rt_maps_install(ms, m);
	os_map_unref(m);
	return st == OSTORE_ESTALE ? OSTORE_OK : st; /* an older answer is no error */
}

static void fetch_done(void *arg, int st, nng_msg *reply)
{
	fetch_op *op = arg;
	if (st == OSTORE_OK) {
		st = install_reply(op->ms, reply);
		nng_msg_free(reply);
	}
	if (st != OSTORE_OK)
		OS_WARN("msg=\"map refresh failed\" node=%u err=%s", op->node, ostore_status_name(st));
	if (op->done != NULL)
		op->done(op->arg, st);
	else
		atomic_store(&op->ms->bg_busy, false);
	free(op);
}

int rt_maps_fetch(rt_maps *ms, uint16_t node_id, rt_fetch_fn done, void *arg)
{
	if (done == NULL && atomic_exchange(&ms->bg_busy, true))
		return OSTORE_OK; /* a background refresh is already running */
	int st = OSTORE_ENOMEM;
	fetch_op *op = malloc(sizeof(*op));
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_MAP_GET, .epoch = rt_maps_epoch(ms),
	            .timeout_ms = rt_nodes_timeout_ms(ms->nodes)};
	nng_msg *msg = NULL;
	if (op == NULL || os_hdr_put(&b, &h) != OSTORE_OK || nng_msg_alloc(&msg, 0) != 0 ||
	    nng_msg_append(msg, b.data, b.len) != 0)
		goto fail;
	*op = (fetch_op){.ms = ms, .done = done, .arg = arg, .node = node_id};
	OS_DEBUG("msg=\"fetching map\" node=%u", node_id);
	rt_metrics_map_fetch();
	if ((st = rt_call_start(ms->nodes, node_id, msg, fetch_done, op)) != OSTORE_OK)
		goto fail;
	os_buf_fini(&b);
	return OSTORE_OK;
fail:
	if (msg != NULL)
		nng_msg_free(msg);
	os_buf_fini(&b);
	free(op);
	if (done == NULL)
		atomic_store(&ms->bg_busy, false);
	return st;
}

/* One rt_maps_fetch_any: the failing node first, then every other node in parallel. */
typedef struct any_op {
	rt_maps *ms;
	rt_fetch_fn done;
	void *arg;
	uint64_t start_epoch;
	uint16_t first;
	atomic_uint pending; /* fetches of the fan-out still running (+1 while starting) */
	atomic_bool fired;   /* done has run */
} any_op;

static void any_fire(any_op *op, int st)
{
	if (!atomic_exchange(&op->fired, true))
		op->done(op->arg, st);
}

/* One fan-out fetch ended. The last one frees the op. */
static void any_one_done(void *arg, int st)
{
	any_op *op = arg;
	(void)st;
	if (rt_maps_epoch(op->ms) > op->start_epoch)
		any_fire(op, OSTORE_OK);
	if (atomic_fetch_sub(&op->pending, 1) == 1) {
		any_fire(op, OSTORE_ESTALE);
		free(op);
	}
}

static void any_first_done(void *arg, int st)
{
	any_op *op = arg;
	(void)st;
	if (rt_maps_epoch(op->ms) > op->start_epoch) {
		any_fire(op, OSTORE_OK);
		free(op);
		return;
	}
	os_map *m = rt_maps_get(op->ms);
	atomic_store(&op->pending, 1);
	for (uint16_t i = 0; m != NULL && i < m->nnodes; i++) {
		if (m->nodes[i].id == op->first)
			continue;
		atomic_fetch_add(&op->pending, 1);
		if (rt_maps_fetch(op->ms, m->nodes[i].id, any_one_done, op) != OSTORE_OK)
			atomic_fetch_sub(&op->pending, 1);
	}
	os_map_unref(m);
	any_one_done(op, OSTORE_OK); /* drop the starting unit */
}

int rt_maps_fetch_any(rt_maps *ms, uint16_t node_id, rt_fetch_fn done, void *arg)
{
	any_op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		return OSTORE_ENOMEM;
	op->ms = ms;
	op->done = done;
	op->arg = arg;
	op->first = node_id;
	op->start_epoch = rt_maps_epoch(ms);
	atomic_init(&op->pending, 0);
	atomic_init(&op->fired, false);
	if (rt_maps_fetch(ms, node_id, any_first_done, op) != OSTORE_OK)
		any_first_done(op, OSTORE_EUNAVAIL); /* node gone from the table: go wide now */
	return OSTORE_OK;
}
