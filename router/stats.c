/*
 * stats.c - STATS through the router: one STATS call to each shard's primary, in
 * parallel; the reply has one 48-byte entry per shard of the router's map, in shard
 * order. Each entry is the node's own, with the shard ID and slot count taken from the
 * router's map; a shard whose node does not answer gets status OSTORE_EUNAVAIL and zero
 * counters. As in data.c, the counter starts at shards + 1 and the last completion
 * builds the reply.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "frame.h"
#include "server.h"

typedef struct streq streq;

typedef struct stslot {
	streq *t;
	unsigned idx;
} stslot;

struct streq {
	rt_req *r;
	os_map *map;
	os_stats_entry *e;
	stslot *slots;
	atomic_uint pending;
};

static void stats_finish(streq *t)
{
	rt_req *r = t->r;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = rt_reply_hdr(r, OSTORE_OK, t->map->nshards);
	nng_msg *m = NULL;
	if (os_hdr_put(&b, &h) == OSTORE_OK) {
		for (uint16_t i = 0; i < t->map->nshards; i++)
			os_stats_entry_put(&b, &t->e[i]);
		m = rt_msg_from_buf(&b);
	}
	os_buf_fini(&b);
	os_map_unref(t->map);
	free(t->e);
	free(t->slots);
	free(t);
	rt_req_reply(r, m);
}

static void stats_done(void *arg, int st, nng_msg *reply)
{
	stslot *sl = arg;
	streq *t = sl->t;
	os_stats_entry *e = &t->e[sl->idx];
	if (st == OSTORE_OK) {
		os_hdr h;
		const uint8_t *body;
		size_t blen;
		os_stats_entry got;
		if (os_hdr_get(nng_msg_body(reply), nng_msg_len(reply), &h, &body, &blen) == OSTORE_OK &&
		    h.kind == (OS_KIND_STATS | OS_REPLY_BIT) && h.status == OSTORE_OK && h.count >= 1 &&
		    blen >= OS_STATS_ENTRY_SIZE &&
		    os_stats_entries_get(body, OS_STATS_ENTRY_SIZE, 1, &got) == OSTORE_OK) {
			got.shard = e->shard;
			got.slots = e->slots;
			*e = got;
		} else {
			e->status = OSTORE_EPROTO;
		}
		nng_msg_free(reply);
	}
	if (atomic_fetch_sub(&t->pending, 1) == 1)
		stats_finish(t);
}

static nng_msg *stats_frame(const rt_req *r, uint64_t epoch)
{
	os_hdr h = {.kind = OS_KIND_STATS, .timeout_ms = r->hdr.timeout_ms, .epoch = epoch,
	            .client_id = r->hdr.client_id};
	return rt_msg_frame(&h, NULL, 0);
}

void rt_stats_handle(rt_req *r)
{
	os_map *map = rt_maps_get(r->env->maps);
	if (map == NULL) {
		rt_req_reply_status(r, OSTORE_ENOMAP);
		return;
	}
	streq *t = calloc(1, sizeof(*t));
	uint16_t n = map->nshards;
	if (t == NULL || (t->e = calloc(n, sizeof(*t->e))) == NULL ||
	    (t->slots = calloc(n, sizeof(*t->slots))) == NULL) {
		if (t != NULL)
			free(t->e);
		free(t);
		os_map_unref(map);
		rt_req_reply_status(r, OSTORE_ENOMEM);
		return;
	}
	t->r = r;
	t->map = map;
	for (uint16_t i = 0; i < n; i++) {
		const os_map_shard *sh = &map->shards[i];
		t->e[i] = (os_stats_entry){.shard = sh->id, .slots = os_map_slot_count(map, sh->id),
		                           .node = sh->primary, .status = OSTORE_EUNAVAIL};
		t->slots[i] = (stslot){.t = t, .idx = i};
	}
	atomic_init(&t->pending, (unsigned)n + 1);
	for (uint16_t i = 0; i < n; i++) {
		const os_map_shard *sh = &map->shards[i];
		nng_msg *m = sh->primary == OS_NODE_NONE ? NULL : stats_frame(r, map->epoch);
		int st = m == NULL ? OSTORE_EUNAVAIL
		                   : rt_call_start(r->env->nodes, sh->primary, m, stats_done,
		                                   &t->slots[i]);
		if (st != OSTORE_OK) {
			if (m != NULL)
				nng_msg_free(m);
			stats_done(&t->slots[i], st, NULL);
		}
	}
	if (atomic_fetch_sub(&t->pending, 1) == 1)
		stats_finish(t);
}
