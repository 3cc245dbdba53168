/*
 * scan.c - SCAN pages through the router.
 *
 *   client SCAN(cursor = slot_begin, after) ─▶ run [slot_begin, e) of slots owned by the
 *   same shard ─▶ SCAN(slot_begin, e, limit, after) to its primary ─▶ node's reply body
 *   relayed unchanged (next_slot == e means "continue at e")
 *                 └─ EMOVED / ENOTPRIMARY: MAP_GET from that node (then the others if
 *                    not newer), wait 1, 2, 4 ... ms (at most 50: during a slot's switch
 *                    both owners may answer "moved" for a moment), recompute the run,
 *                    retry (at most SCAN_MAX_ROUNDS)
 *
 * Design: one page per request, no state kept between pages (the cursor lives in the
 * client), so any router can serve the next page. The request object holds the decoded
 * request, whose `after` points into the client's frame (alive until the reply).
 */
#include <stdlib.h>

#include "frame.h"
#include "log.h"
#include "server.h"

#define SCAN_MAX_ROUNDS 20 /* about 0.6 s of waiting with the backoff below */
#define SCAN_BACKOFF_MAX_MS 50u

typedef struct sreq {
	rt_req *r;
	os_scan_req q;
	uint16_t node;
	int round;
} sreq;

static void scan_send(sreq *s);

static void scan_end(sreq *s, nng_msg *reply, uint16_t status)
{
	rt_req *r = s->r;
	free(s);
	if (reply == NULL)
		rt_req_reply_status(r, status);
	else
		rt_req_reply(r, reply);
}

static void scan_woken(void *arg, int st)
{
	sreq *s = arg;
	if (st != OSTORE_OK) {
		scan_end(s, NULL, OSTORE_EMOVED); /* shutting down */
		return;
	}
	scan_send(s);
}

static void scan_refreshed(void *arg, int st)
{
	(void)st; /* re-route with whatever map is current after the wait */
	sreq *s = arg;
	uint32_t ms = s->round <= 6 ? 1u << (s->round - 1) : SCAN_BACKOFF_MAX_MS;
	rt_req_sleep(s->r, ms < SCAN_BACKOFF_MAX_MS ? ms : SCAN_BACKOFF_MAX_MS, scan_woken, s);
}

static void scan_done(void *arg, int st, nng_msg *reply)
{
	sreq *s = arg;
	if (st != OSTORE_OK) {
		scan_end(s, NULL, (uint16_t)st);
		return;
	}
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	st = os_hdr_get(nng_msg_body(reply), nng_msg_len(reply), &h, &body, &blen);
	if (st == OSTORE_OK && h.kind != (OS_KIND_SCAN | OS_REPLY_BIT))
		st = OSTORE_EPROTO;
	if (st != OSTORE_OK) {
		nng_msg_free(reply);
		scan_end(s, NULL, OSTORE_EPROTO);
		return;
	}
	if ((h.status == OSTORE_EMOVED || h.status == OSTORE_ENOTPRIMARY) &&
	    s->round < SCAN_MAX_ROUNDS) {
		uint16_t moved = h.status;
		nng_msg_free(reply);
		s->round++;
		if (rt_maps_fetch_any(s->r->env->maps, s->node, scan_refreshed, s) != OSTORE_OK)
			scan_end(s, NULL, moved);
		return;
	}
	os_hdr out = rt_reply_hdr(s->r, h.status, h.count);
	nng_msg *m = rt_msg_frame(&out, body, blen);
	nng_msg_free(reply);
	scan_end(s, m, OSTORE_ENOMEM);
}

/* Route the page with the current map and send it. */
static void scan_send(sreq *s)
{
	os_map *map = rt_maps_get(s->r->env->maps);
	if (map == NULL) {
		scan_end(s, NULL, OSTORE_ENOMAP);
		return;
	}
	uint16_t begin = s->q.slot_begin, end = begin + 1;
	uint16_t shard = map->slot_shard[begin];
	while (end < s->q.slot_end && map->slot_shard[end] == shard)
		end++;
	const os_map_shard *sh = os_map_shard_by_id(map, shard);
	if (sh == NULL || sh->primary == OS_NODE_NONE) {
		os_map_unref(map);
		scan_end(s, NULL, OSTORE_EUNAVAIL);
		return;
	}
	s->node = sh->primary;
	os_scan_req q = s->q;
	q.slot_end = end;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_SCAN, .count = 0, .timeout_ms = s->r->hdr.timeout_ms,
	            .epoch = map->epoch, .client_id = s->r->hdr.client_id};
	os_map_unref(map);
	nng_msg *m = NULL;
	if (os_hdr_put(&b, &h) == OSTORE_OK && os_scan_req_put(&b, &q) == OSTORE_OK)
		m = rt_msg_from_buf(&b);
	os_buf_fini(&b);
	int st = m == NULL ? OSTORE_ENOMEM
	                   : rt_call_start(s->r->env->nodes, s->node, m, scan_done, s);
	if (st != OSTORE_OK) {
		if (m != NULL)
			nng_msg_free(m);
		scan_end(s, NULL, (uint16_t)st);
	}
}

void rt_scan_handle(rt_req *r)
{
	os_scan_req q;
	int st = os_scan_req_get(r->body, r->body_len, &q);
	if (st != OSTORE_OK) {
		rt_req_reply_status(r, (uint16_t)st);
		return;
	}
	sreq *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rt_req_reply_status(r, OSTORE_ENOMEM);
		return;
	}
	s->r = r;
	s->q = q;
	scan_send(s);
}
