/*
 * data.c - DATA requests: split by shard, forward in parallel, merge in item order.
 *
 *   client items ──▶ slot ─▶ shard ─▶ primary node ──▶ one sub-frame per node ──▶ calls
 *                                                                                  │
 *   reply (client's item order) ◀── last call to finish (atomic counter) ◀─────────┘
 *        ▲                                     │ some items EMOVED / ENOTPRIMARY /
 *        │                                     │ EMIGRATING, deadline not reached
 *        └── deadline or round cap:            ├─ moved ─▶ MAP_GET from that node (then
 *            the items keep their last status  │           the others if not newer)
 *                                              │     map grew ─▶ re-route at once ─┐
 *                                              └─ else / migrating ─▶ backoff ─────┴▶ round
 *
 * Retries (slots moving during a rebalance, a failover): items answered EMOVED /
 * ENOTPRIMARY refresh the map and are re-routed; items answered EMIGRATING (the source
 * froze the slot for its final catch-up, common/wire.h "Slot migration") just wait and
 * go again.
 * Between rounds the request sleeps on its context's timer (rt_req_sleep, no thread
 * held): 1, 2, 4 ... ms, at most DATA_BACKOFF_MAX_MS, skipped when a refresh made the map
 * newer. Rounds go on until the request's deadline (the client's timeout_ms from the
 * header, else the router's --timeout-ms, less a margin so the reply reaches the client
 * before it gives up) or DATA_MAX_ROUNDS; a retry's sub-frame carries the time left, so
 * its call (bounded by 3/4 of it, nodes.c) ends in time too. Retried writes keep their
 * request IDs: a node that already applied one answers its first result.
 *
 * Bounded replica reads (frame flag OS_HDR_F_BOUNDED_READ, every item a GET; first round
 * only): one sub-frame per shard, sent with the bound to a replica (readsel.c) or to the
 * primary when the shard has none. A replica answer that is not clean (frame status such
 * as OSTORE_ESTALEREAD, no answer, an item EMOVED / ENOTPRIMARY) makes that group fall
 * back once to the shard's primary, without the bound; from there on the group is an
 * ordinary primary group:
 *
 *   group ─▶ replica ──clean──▶ results
 *               └─ stale / no answer / moved ─▶ primary (once) ─▶ results, or moved ─▶ rounds
 *
 * Each of the two attempts gets half of the client's timeout in its header (so the
 * router's per-call bound of 3/4 of it makes both fit in the client's deadline).
 *
 * Design: a request is one heap object (dreq) that lives from decode to reply. A round
 * routes the items still to do with one map reference: items are grouped per primary
 * node (per shard for bounded reads; order[] holds item indices grouped, each group a
 * [start, start+cnt) run), one sub-frame per group keeps each item's seq and the client's
 * ID and timeout (so node deduplication works across retries) and carries the router's
 * epoch. Each call's completion writes only its own items' results, then decrements the
 * round's counter; the one that brings it to zero ends the round (the counter starts at
 * groups + 1 and the routing code drops its own unit last, so a call that completes early
 * cannot end the round under our feet). A fallback starts its call before the replica
 * call's completion returns, without touching the counter. Results point into the nodes'
 * reply messages, which are kept until the client's reply has been built.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "rt_metrics.h"
#include "server.h"
#include "slot.h"
#include "util.h"

/* Rounds of one request at most (the first included): with the backoff capped at 50 ms
 * this is about 5 s of retrying, which the deadline usually ends first. */
#define DATA_MAX_ROUNDS 100
#define DATA_BACKOFF_MAX_MS 50u
/* Part of the request's time kept back for the reply's way to the client: 1/8 of it,
 * at most this much. */
#define DATA_MARGIN_MAX_MS 250u

typedef struct dreq dreq;

typedef struct dgroup {
	dreq *d;
	uint16_t node;    /* where the current call goes */
	uint16_t primary; /* the shard's primary (fallback of a replica read), or OS_NODE_NONE */
	uint16_t start, cnt;
	bool replica;     /* the current call is a bounded read on a replica */
	bool fell_back;   /* a replica read of this group fell back to the primary */
	nng_msg *reply;
} dgroup;

struct dreq {
	rt_req *r;
	uint16_t n;
	bool bounded;        /* replica reads allowed: flagged frame, only GETs */
	os_read_bound bound; /* their bound */
	os_item *items;
	os_result *res;
	uint16_t *todo;  /* indices still to route */
	uint16_t ntodo;
	uint16_t *order; /* this round's indices grouped by node */
	uint16_t *gof;   /* group of todo[k], this round */
	dgroup *groups;
	unsigned ngroups;
	os_map *map;     /* map of this round */
	int round;
	unsigned sleeps;      /* backoff waits so far */
	bool migrating;       /* this retry has items that answered EMIGRATING */
	uint64_t end_ns;      /* the client's deadline (os_now_ns clock) */
	uint64_t retry_end_ns; /* no retry round starts after this */
	atomic_uint pending;
	atomic_int moved_node; /* a node that answered EMOVED, -1 none */
	atomic_int newer_node; /* a node whose reply epoch beats our map, -1 none */
	nng_msg **keep;
	size_t nkeep, capkeep;
};

static void route(dreq *d);

/* "Ask again with a newer map": the slot moved, or the node was fenced by a failover
 * (docs/replication.md) and the shard has another primary now. */
static bool is_moved(uint16_t st)
{
	return st == OSTORE_EMOVED || st == OSTORE_ENOTPRIMARY;
}

/* Items worth another round: moved (after a map refresh) or frozen (after a wait). */
static bool is_retried(uint16_t st)
{
	return is_moved(st) || st == OSTORE_EMIGRATING;
}

static void dreq_free(dreq *d)
{
	for (size_t i = 0; i < d->nkeep; i++)
		nng_msg_free(d->keep[i]);
	free(d->keep);
	os_map_unref(d->map);
	free(d->items);
	free(d->res);
	free(d->todo);
	free(d->order);
	free(d->gof);
	free(d->groups);
	free(d);
}

/* Build the client's reply, free the request object, send. */
static void finish(dreq *d)
{
	rt_req *r = d->r;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = rt_reply_hdr(r, OSTORE_OK, d->n);
	nng_msg *reply = NULL;
	if (os_hdr_put(&b, &h) == OSTORE_OK) {
		for (uint16_t i = 0; i < d->n; i++) {
			const os_result *x = &d->res[i];
			if (os_result_put(&b, x->status, x->version, x->value, x->value_len) != OSTORE_OK)
				break;
		}
		reply = rt_msg_from_buf(&b);
	}
	os_buf_fini(&b);
	os_procmetrics *pm = rt_metrics_proc();
	if (pm != NULL) {
		os_procmetrics_items(pm, d->items, d->res, d->n, os_now_ns() - r->t0_ns);
		r->counted = true;
	}
	dreq_free(d);
	rt_req_reply(r, reply);
}

static void set_group_status(dreq *d, const dgroup *g, uint16_t st)
{
	for (uint16_t k = 0; k < g->cnt; k++)
		d->res[d->order[g->start + k]] = (os_result){.status = st};
}

/* Replica answers worth keeping: the read was done (found or not). */
static bool replica_clean(uint16_t st)
{
	return st == OSTORE_OK || st == OSTORE_ENOTFOUND;
}

/* Take a node's reply for group @g apart. Returns OSTORE_OK (results copied in, reply
 * kept in g->reply) or the status every item of the group gets (reply not kept). For a
 * replica read (g->replica) any item that is not clean refuses the whole reply (and
 * its first such status is returned) before anything is copied, so it can fall back. */
static int merge(dreq *d, dgroup *g, nng_msg *reply)
{
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	int st = os_hdr_get(nng_msg_body(reply), nng_msg_len(reply), &h, &body, &blen);
	if (st != OSTORE_OK)
		return OSTORE_EPROTO;
	if (h.kind != (OS_KIND_DATA | OS_REPLY_BIT))
		return OSTORE_EPROTO;
	if (h.epoch > d->map->epoch)
		atomic_store(&d->newer_node, g->node);
	if (h.status != OSTORE_OK)
		return h.status;
	if (h.count != g->cnt)
		return OSTORE_EPROTO;
	os_result *tmp = malloc(sizeof(*tmp) * g->cnt);
	if (tmp == NULL)
		return OSTORE_ENOMEM;
	st = os_results_get(body, blen, g->cnt, tmp);
	for (uint16_t k = 0; st == OSTORE_OK && g->replica && k < g->cnt; k++)
		if (!replica_clean(tmp[k].status))
			st = tmp[k].status;
	if (st == OSTORE_OK) {
		for (uint16_t k = 0; k < g->cnt; k++) {
			d->res[d->order[g->start + k]] = tmp[k];
			if (is_moved(tmp[k].status))
				atomic_store(&d->moved_node, g->node);
		}
		g->reply = reply;
	}
	free(tmp);
	return st;
}

static void keep_reply(dreq *d, dgroup *g)
{
	if (d->nkeep == d->capkeep) {
		size_t cap = d->capkeep ? d->capkeep * 2 : 8;
		nng_msg **k = realloc(d->keep, cap * sizeof(*k));
		if (k == NULL) {
			set_group_status(d, g, OSTORE_ENOMEM);
			nng_msg_free(g->reply);
			g->reply = NULL;
			return;
		}
		d->keep = k;
		d->capkeep = cap;
	}
	d->keep[d->nkeep++] = g->reply;
	g->reply = NULL;
}

/* Backoff before retry round number @sleeps + 1: 1, 2, 4 ... ms, capped. */
static uint32_t backoff_ms(unsigned sleeps)
{
	uint32_t ms = sleeps < 6 ? 1u << sleeps : DATA_BACKOFF_MAX_MS;
	return ms < DATA_BACKOFF_MAX_MS ? ms : DATA_BACKOFF_MAX_MS;
}

static void woken(void *arg, int st)
{
	dreq *d = arg;
	if (st != OSTORE_OK) {
		finish(d); /* shutting down: the items keep their last status */
		return;
	}
	route(d);
}

/* Wait the next backoff, then route the next round; or reply now when the wait would
 * end past the retry deadline (the items keep their last status). */
static void backoff(dreq *d)
{
	uint32_t ms = backoff_ms(d->sleeps++);
	if (os_now_ns() + (uint64_t)ms * 1000000u >= d->retry_end_ns) {
		OS_DEBUG("msg=\"retry deadline reached\" items=%u round=%d", d->ntodo, d->round);
		finish(d);
		return;
	}
	rt_req_sleep(d->r, ms, woken, d);
}

static void refresh_done(void *arg, int st)
{
	dreq *d = arg;
	if (st == OSTORE_OK && !d->migrating)
		route(d); /* the map grew: the moved items have a new owner now */
	else
		backoff(d); /* not newer yet (both owners may say moved for a moment), or frozen */
}

/* Every call of the round has completed: retry moved / frozen items or reply. */
static void round_end(dreq *d)
{
	for (unsigned i = 0; i < d->ngroups; i++)
		if (d->groups[i].reply != NULL)
			keep_reply(d, &d->groups[i]);
	uint16_t nt = 0, nmig = 0;
	for (uint16_t k = 0; k < d->ntodo; k++) {
		uint16_t st = d->res[d->todo[k]].status;
		if (is_retried(st))
			d->todo[nt++] = d->todo[k];
		nmig = (uint16_t)(nmig + (st == OSTORE_EMIGRATING));
	}
	int moved = atomic_load(&d->moved_node);
	int newer = atomic_load(&d->newer_node);
	rt_maps *maps = d->r->env->maps;
	if (nt > 0 && d->round + 1 < DATA_MAX_ROUNDS && os_now_ns() < d->retry_end_ns) {
		uint16_t nmoved = (uint16_t)(nt - nmig);
		if (nmoved > 0)
			rt_metrics_moved(nmoved);
		if (nmig > 0)
			rt_metrics_migrating(nmig);
		d->ntodo = nt;
		d->round++;
		d->migrating = nmig > 0;
		OS_DEBUG("msg=\"retrying items\" moved=%u migrating=%u node=%d round=%d", nmoved,
		         nmig, moved, d->round);
		if (nmoved > 0 && moved >= 0 &&
		    rt_maps_fetch_any(maps, (uint16_t)moved, refresh_done, d) == OSTORE_OK)
			return;
		if (newer >= 0)
			rt_maps_fetch(maps, (uint16_t)newer, NULL, NULL); /* background */
		backoff(d);
		return;
	}
	if (newer >= 0)
		rt_maps_fetch(maps, (uint16_t)newer, NULL, NULL); /* background */
	finish(d);
}

static nng_msg *group_frame(const dreq *d, const dgroup *g);
static void group_done(void *arg, int st, nng_msg *reply);

/* A replica read of @g ended with @st (not clean): ask the primary instead, once.
 * Returns OSTORE_OK when the primary's call started (group_done runs again for it), or
 * the status the group's items get. */
static int fall_back(dreq *d, dgroup *g, int st)
{
	if (st == OSTORE_EUNAVAIL)
		rt_readsel_failed(d->r->env->reads, g->node);
	OS_DEBUG("msg=\"replica read falls back to the primary\" replica=%u primary=%d status=%s "
	         "items=%u",
	         g->node, g->primary == OS_NODE_NONE ? -1 : (int)g->primary,
	         ostore_status_name(st), g->cnt);
	g->replica = false;
	g->fell_back = true;
	if (g->primary == OS_NODE_NONE)
		return st;
	g->node = g->primary;
	nng_msg *m = group_frame(d, g);
	int rc = m == NULL ? OSTORE_ENOMEM : rt_call_start(d->r->env->nodes, g->node, m, group_done, g);
	if (rc != OSTORE_OK && m != NULL)
		nng_msg_free(m);
	return rc;
}

static void group_done(void *arg, int st, nng_msg *reply)
{
	dgroup *g = arg;
	dreq *d = g->d;
	if (st == OSTORE_OK) {
		st = merge(d, g, reply);
		if (st != OSTORE_OK)
			nng_msg_free(reply);
	}
	if (st != OSTORE_OK && g->replica) {
		st = fall_back(d, g, st);
		if (st == OSTORE_OK)
			return; /* the primary's call completes the group */
	}
	if (st != OSTORE_OK) {
		if (is_moved((uint16_t)st))
			atomic_store(&d->moved_node, g->node);
		set_group_status(d, g, (uint16_t)st);
	}
	if (atomic_fetch_sub(&d->pending, 1) == 1)
		round_end(d);
}

/* The sub-frame of @g: a bounded read (flag + bound) for a replica, a plain one for a
 * primary; half the client's timeout when a replica attempt is involved. */
static nng_msg *group_frame(const dreq *d, const dgroup *g)
{
	os_buf b;
	os_buf_init(&b);
	uint32_t timeout_ms = d->r->hdr.timeout_ms;
	if (d->round > 0) { /* a retry: what is left of the client's time */
		uint64_t now = os_now_ns();
		timeout_ms = d->end_ns > now + 1000000u ? (uint32_t)((d->end_ns - now) / 1000000u) : 1;
	}
	if ((g->replica || g->fell_back) && timeout_ms > 1)
		timeout_ms /= 2;
	os_hdr h = {
		.kind = OS_KIND_DATA,
		.count = g->cnt,
		.timeout_ms = timeout_ms,
		.epoch = d->map->epoch,
		.client_id = d->r->hdr.client_id,
		.flags = g->replica ? OS_HDR_F_BOUNDED_READ : 0,
	};
	nng_msg *m = NULL;
	if (os_hdr_put(&b, &h) == OSTORE_OK &&
	    (!g->replica || os_read_bound_put(&b, &d->bound) == OSTORE_OK)) {
		for (uint16_t k = 0; k < g->cnt; k++)
			if (os_item_put(&b, &d->items[d->order[g->start + k]]) != OSTORE_OK)
				break;
		m = rt_msg_from_buf(&b);
	}
	os_buf_fini(&b);
	return m;
}

/* Route d->todo with the current map and start one call per node. */
static void route(dreq *d)
{
	os_map_unref(d->map);
	d->map = rt_maps_get(d->r->env->maps);
	if (d->map == NULL) {
		for (uint16_t k = 0; k < d->ntodo; k++)
			d->res[d->todo[k]] = (os_result){.status = OSTORE_ENOMAP};
		finish(d);
		return;
	}
	/* Groups are keyed by primary node, or by shard for replica reads. */
	bool use_replicas = d->bounded && d->round == 0;
	uint16_t gidx[OS_MAP_MAX_IDS];
	memset(gidx, 0xFF, sizeof(gidx));
	d->ngroups = 0;
	for (uint16_t k = 0; k < d->ntodo; k++) {
		const os_item *it = &d->items[d->todo[k]];
		uint16_t slot = os_slot_of(it->id, it->id_len);
		const os_map_shard *sh = os_map_shard_by_id(d->map, d->map->slot_shard[slot]);
		d->gof[k] = UINT16_MAX;
		bool has_primary = sh != NULL && sh->primary != OS_NODE_NONE &&
		                   sh->primary < OS_MAP_MAX_IDS;
		uint16_t key = OS_NODE_NONE;
		if (use_replicas && sh != NULL && sh->id < OS_MAP_MAX_IDS)
			key = sh->id;
		else if (has_primary)
			key = sh->primary;
		if (key != OS_NODE_NONE && gidx[key] == UINT16_MAX) {
			uint16_t primary = has_primary ? sh->primary : OS_NODE_NONE;
			dgroup g = {.d = d, .node = primary, .primary = primary};
			uint16_t rep = use_replicas ? rt_readsel_pick(d->r->env->reads, sh) : OS_NODE_NONE;
			if (rep != OS_NODE_NONE) {
				g.node = rep;
				g.replica = true;
			}
			if (g.node != OS_NODE_NONE) {
				gidx[key] = (uint16_t)d->ngroups;
				d->groups[d->ngroups++] = g;
			}
		}
		if (key == OS_NODE_NONE || gidx[key] == UINT16_MAX) {
			d->res[d->todo[k]] = (os_result){.status = OSTORE_EUNAVAIL};
			continue;
		}
		d->gof[k] = gidx[key];
		d->groups[d->gof[k]].cnt++;
	}
	uint16_t at = 0;
	for (unsigned i = 0; i < d->ngroups; i++) {
		d->groups[i].start = at;
		at = (uint16_t)(at + d->groups[i].cnt);
		d->groups[i].cnt = 0;
	}
	for (uint16_t k = 0; k < d->ntodo; k++) {
		if (d->gof[k] == UINT16_MAX)
			continue;
		dgroup *g = &d->groups[d->gof[k]];
		d->order[g->start + g->cnt++] = d->todo[k];
	}
	atomic_store(&d->moved_node, -1);
	atomic_store(&d->newer_node, -1);
	unsigned ngroups = d->ngroups;
	atomic_store(&d->pending, ngroups + 1);
	for (unsigned i = 0; i < ngroups; i++) {
		dgroup *g = &d->groups[i];
		nng_msg *m = group_frame(d, g);
		int st = m == NULL ? OSTORE_ENOMEM : rt_call_start(d->r->env->nodes, g->node, m,
		                                                    group_done, g);
		if (st != OSTORE_OK) {
			if (m != NULL)
				nng_msg_free(m);
			group_done(g, st, NULL);
		}
	}
	if (atomic_fetch_sub(&d->pending, 1) == 1)
		round_end(d);
}

void rt_data_handle(rt_req *r)
{
	rt_metrics_data_frame();
	uint16_t n = r->hdr.count;
	if (n == 0) {
		rt_req_reply_status(r, OSTORE_EPROTO);
		return;
	}
	dreq *d = calloc(1, sizeof(*d));
	if (d != NULL) {
		d->r = r;
		d->n = n;
		d->items = calloc(n, sizeof(*d->items));
		d->res = calloc(n, sizeof(*d->res));
		d->todo = calloc(n, sizeof(*d->todo));
		d->order = calloc(n, sizeof(*d->order));
		d->gof = calloc(n, sizeof(*d->gof));
		d->groups = calloc(n, sizeof(*d->groups));
	}
	if (d == NULL || !d->items || !d->res || !d->todo || !d->order || !d->gof || !d->groups) {
		if (d != NULL)
			dreq_free(d);
		rt_req_reply_status(r, OSTORE_ENOMEM);
		return;
	}
	size_t bad = 0;
	const uint8_t *ip;
	size_t ilen;
	int st = os_data_body(&r->hdr, r->body, r->body_len, &d->bound, &ip, &ilen);
	if (st == OSTORE_OK)
		st = os_items_get(ip, ilen, n, r->env->max_value, d->items, &bad);
	if (st != OSTORE_OK) {
		OS_DEBUG("msg=\"bad DATA frame\" err=%s item=%zu", ostore_status_name(st), bad);
		dreq_free(d);
		rt_req_reply_status(r, (uint16_t)st);
		return;
	}
	d->bounded = (r->hdr.flags & OS_HDR_F_BOUNDED_READ) != 0;
	for (uint16_t i = 0; i < n; i++) {
		d->todo[i] = i;
		if (d->items[i].op != OSTORE_OP_GET)
			d->bounded = false; /* a frame with a write goes to the primaries */
	}
	d->ntodo = n;
	uint32_t budget_ms = r->hdr.timeout_ms;
	if (budget_ms == 0)
		budget_ms = rt_nodes_timeout_ms(r->env->nodes);
	uint32_t margin_ms = budget_ms / 8;
	if (margin_ms > DATA_MARGIN_MAX_MS)
		margin_ms = DATA_MARGIN_MAX_MS;
	d->end_ns = r->t0_ns + (uint64_t)budget_ms * 1000000u;
	d->retry_end_ns = d->end_ns - (uint64_t)margin_ms * 1000000u;
	atomic_init(&d->pending, 0);
	atomic_init(&d->moved_node, -1);
	atomic_init(&d->newer_node, -1);
	route(d);
}
