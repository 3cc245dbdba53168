/*
 * lanes.c - shard lanes for request coalescing: which shard a caller's items go to, from
 * the handle's cached copy of the cluster map. The copy is a hint, never needed for
 * correctness: the router routes every item by its own map as always.
 *
 *   ostore_submit ─▶ slot of each item ─▶ shard (cached table) ─▶ lane = class x shard
 *                    items of several shards, or no table yet ─▶ the class's mixed lane
 *
 *   no table yet, or a reply's epoch > the table's ─▶ one MAP_GET to a router (async)
 *                    ─▶ decode, check ─▶ new table under c->mu (only if newer)
 *
 * Why: the router splits a DATA frame into one sub-frame per primary (router/data.c). A
 * frame of 16 callers spread over 3 shards became 3 node calls of ~5 items; when callers
 * share a frame only with callers of the same shard, each frame becomes one node call,
 * so the router→node messages per item drop by the shard count and each node's writer
 * gets whole frames to group-commit (bench/README.md, "Shard lanes").
 *
 * A stale table only makes some frames span shards again (the router splits them), so
 * the map is fetched lazily (first submit) and again when a DATA reply carries a newer
 * epoch; a failed fetch is retried on a later submit, OC_LANES_RETRY_MS after it failed.
 * ostore_close lets a fetch in flight end for up to OC_LANES_CLOSE_GRACE_MS before it
 * aborts it: nng 1.5.2's nng_close can hang when a reply comes in as it runs.
 * Shards beyond OC_SHARD_LANES share lanes (shard id modulo), which costs only batching.
 *
 * Locking: the table, its epoch and the fetch state are guarded by c->mu;
 * c->lane_epoch is also read without it (atomic) for the cheap "is this reply newer"
 * test on every frame.
 */
#include <stdlib.h>

#include "client_impl.h"
#include "map.h"
#include "slot.h"
#include "util.h"

/* After a failed MAP_GET, no new one before this much time passed. */
#define OC_LANES_RETRY_MS 1000u
/* ostore_close lets a MAP_GET in flight end on its own for this long (at most timeout_ms)
 * before it aborts it (oc_lanes_close_locked). */
#define OC_LANES_CLOSE_GRACE_MS 1000u

uint8_t oc_lane_of_locked(const ostore_client *c, const ostore_item *items, size_t n,
                          uint8_t cls)
{
	uint8_t shard_lane = OC_SHARD_LANES; /* mixed */
	if (atomic_load_explicit(&c->lane_epoch, memory_order_relaxed) != 0 && n <= c->co_items) {
		for (size_t i = 0; i < n; i++) {
			uint8_t l = c->lane_of_slot[os_slot_of(items[i].id, items[i].id_len)];
			if (i == 0) {
				shard_lane = l;
			} else if (l != shard_lane) {
				shard_lane = OC_SHARD_LANES;
				break;
			}
		}
	}
	return (uint8_t)(cls * (OC_SHARD_LANES + 1u) + shard_lane);
}

uint32_t oc_lane_window(const ostore_client *c, uint8_t lane)
{
	int routers = atomic_load(&c->npipes);
	uint32_t per = lane % (OC_SHARD_LANES + 1u) == OC_SHARD_LANES
	                       ? OC_COALESCE_WINDOW_PER_ROUTER
	                       : OC_LANE_WINDOW_PER_ROUTER;
	return per * (uint32_t)(routers > 1 ? routers : 1);
}

/* Under c->mu: no fetch in flight any more; when it failed, none before the retry time.
 * Wakes an ostore_close waiting for the fetch (oc_lanes_close_locked). */
static void oc_lanes_fetch_over_locked(ostore_client *c, bool failed)
{
	c->lane_fetching = false;
	c->lane_op = NULL;
	if (failed)
		c->lane_retry_ns = os_now_ns() + (uint64_t)OC_LANES_RETRY_MS * 1000000u;
	pthread_cond_broadcast(&c->idle);
}

/* Completion of the MAP_GET: install the table if the map is valid and newer. */
static void oc_lanes_fetched(void *arg, int st, nng_msg *reply)
{
	ostore_client *c = arg;
	os_map *m = NULL;
	if (st == OSTORE_OK) {
		os_hdr h;
		const uint8_t *body;
		size_t body_len;
		st = oc_reply_check(reply, OS_KIND_MAP_GET, &h, &body, &body_len);
		if (st == OSTORE_OK)
			st = h.status;
		if (st == OSTORE_OK)
			st = os_map_decode(body, body_len, &m);
	}
	if (reply != NULL)
		nng_msg_free(reply);
	pthread_mutex_lock(&c->mu);
	oc_lanes_fetch_over_locked(c, st != OSTORE_OK);
	if (st == OSTORE_OK && m->epoch > atomic_load(&c->lane_epoch)) {
		for (size_t s = 0; s < OSTORE_SLOTS; s++)
			c->lane_of_slot[s] = (uint8_t)(m->slot_shard[s] % OC_SHARD_LANES);
		atomic_store(&c->lane_epoch, m->epoch);
	}
	pthread_mutex_unlock(&c->mu);
	os_map_unref(m);
}

void oc_lanes_note_epoch(ostore_client *c, uint64_t epoch)
{
	if (c->co_items <= 1)
		return; /* coalescing off: no lanes, no map wanted */
	uint64_t have = atomic_load_explicit(&c->lane_epoch, memory_order_relaxed);
	if (have != 0 && epoch <= have)
		return;
	bool go = false;
	pthread_mutex_lock(&c->mu);
	have = atomic_load(&c->lane_epoch);
	if (!c->lane_fetching && (have == 0 || epoch > have) && !atomic_load(&c->closing) &&
	    os_now_ns() >= c->lane_retry_ns) {
		c->lane_fetching = true;
		go = true;
	}
	pthread_mutex_unlock(&c->mu);
	if (!go)
		return;
	os_buf frame;
	os_buf_init(&frame);
	int st = oc_frame_begin(c, &frame, OS_KIND_MAP_GET, 0, 0);
	oc_op *op = st == OSTORE_OK ? oc_op_get(c) : NULL;
	if (op == NULL) {
		os_buf_fini(&frame);
		pthread_mutex_lock(&c->mu);
		oc_lanes_fetch_over_locked(c, true);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	/* Published before the send, under c->mu: the completion clears it under c->mu, so
	 * it never points at an engine that is back in the pool. */
	pthread_mutex_lock(&c->mu);
	c->lane_op = op;
	pthread_mutex_unlock(&c->mu);
	st = oc_op_send(op, &frame, oc_lanes_fetched, c); /* takes frame; op back on failure */
	os_buf_fini(&frame);
	if (st != OSTORE_OK) {
		pthread_mutex_lock(&c->mu);
		oc_lanes_fetch_over_locked(c, true);
		pthread_mutex_unlock(&c->mu);
	}
}

void oc_lanes_close_locked(ostore_client *c)
{
	if (c->lane_op != NULL && atomic_load(&c->npipes) > 0) {
		uint32_t grace = c->timeout_ms < OC_LANES_CLOSE_GRACE_MS ? c->timeout_ms
		                                                         : OC_LANES_CLOSE_GRACE_MS;
		struct timespec ts = os_timespec_at(os_now_ns() + (uint64_t)grace * 1000000u);
		/* c->idle is os_cond_init_monotonic's (client.c). */
		while (c->lane_op != NULL && pthread_cond_timedwait(&c->idle, &c->mu, &ts) == 0)
			;
	}
	if (c->lane_op != NULL)
		nng_aio_abort(c->lane_op->aio, NNG_ECLOSED);
}
