/*
 * top.c - per-interval load and hot keys of the node (top.h).
 *
 *   DATA frame decoded ─▶ node_top_keys ─▶ lock ─▶ interval over? rotate (cur ─▶ last)
 *                                               ─▶ Space-Saving per ID
 *   DATA reply sent    ─▶ node_top_record ─▶ lock ─▶ rotate? ─▶ items, latency bucket
 *   TOP frame  ─▶ lock ─▶ rotate if over ─▶ copy last ─▶ unlock ─▶ sort keys ─▶ reply
 */
#include "top.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nodemap.h"
#include "util.h"

#define TOP_BUCKETS 160u /* 4 per power of two: 2^40 us is beyond any deadline */

typedef struct top_counter {
	uint32_t hits, err;
	uint16_t id_len; /* 0 = free */
	uint8_t id[OSTORE_MAX_ID_LEN];
} top_counter;

typedef struct top_window {
	uint64_t start_ns, len_ns;
	uint64_t items, writes, frames;
	uint64_t hist[TOP_BUCKETS];
	top_counter keys[NODE_TOP_COUNTERS];
} top_window;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static top_window g_cur, g_last;

/* Bucket of @us: 4 per power of two (exact below 4 us). */
static unsigned bucket_of(uint64_t us)
{
	if (us < 4)
		return (unsigned)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	unsigned b = 4u * (e - 1u) + (unsigned)((us >> (e - 2u)) & 3u);
	return b < TOP_BUCKETS ? b : TOP_BUCKETS - 1u;
}

/* Upper bound (us) of bucket @b: the largest value bucket_of maps to it. */
static uint64_t bucket_upper(unsigned b)
{
	if (b < 4)
		return b;
	unsigned e = b / 4u + 1u, m = b % 4u;
	return ((4ull + m + 1ull) << (e - 2u)) - 1ull;
}

/* Rotate when the interval is over (g_mu held). */
static void rotate_locked(uint64_t now)
{
	if (g_cur.start_ns == 0) {
		g_cur.start_ns = now;
		return;
	}
	if (now - g_cur.start_ns < NODE_TOP_INTERVAL_MS * 1000000ull)
		return;
	g_cur.len_ns = now - g_cur.start_ns;
	memcpy(&g_last, &g_cur, sizeof(g_last));
	memset(&g_cur, 0, sizeof(g_cur));
	g_cur.start_ns = now;
}

/* Space-Saving update for one ID (g_mu held). */
static void count_key_locked(const uint8_t *id, uint16_t len)
{
	top_counter *min = NULL;
	for (unsigned i = 0; i < NODE_TOP_COUNTERS; i++) {
		top_counter *c = &g_cur.keys[i];
		if (c->id_len == len && memcmp(c->id, id, len) == 0) {
			c->hits++;
			return;
		}
		if (c->id_len == 0) {
			if (min == NULL || min->id_len != 0)
				min = c;
		} else if (min == NULL || (min->id_len != 0 && c->hits < min->hits)) {
			min = c;
		}
	}
	if (min->id_len == 0) {
		min->hits = 1;
		min->err = 0;
	} else {
		min->err = min->hits;
		min->hits++;
	}
	min->id_len = len;
	memcpy(min->id, id, len);
}

void node_top_keys(const os_item *items, uint16_t n)
{
	uint64_t now = os_now_ns();
	pthread_mutex_lock(&g_mu);
	rotate_locked(now);
	for (uint16_t i = 0; i < n; i++)
		if (items[i].id_len >= 1 && items[i].id_len <= OSTORE_MAX_ID_LEN)
			count_key_locked(items[i].id, (uint16_t)items[i].id_len);
	pthread_mutex_unlock(&g_mu);
}

void node_top_record(const os_item *items, uint16_t n, uint64_t dur_ns)
{
	uint64_t writes = 0;
	for (uint16_t i = 0; i < n; i++)
		writes += items[i].op != OSTORE_OP_GET;
	uint64_t now = os_now_ns();
	pthread_mutex_lock(&g_mu);
	rotate_locked(now);
	g_cur.frames++;
	g_cur.hist[bucket_of(dur_ns / 1000u)]++;
	g_cur.items += n;
	g_cur.writes += writes;
	pthread_mutex_unlock(&g_mu);
}

static uint32_t percentile_us(const top_window *w, double q)
{
	if (w->frames == 0)
		return 0;
	uint64_t want = (uint64_t)((double)w->frames * q + 0.999999);
	uint64_t seen = 0;
	for (unsigned b = 0; b < TOP_BUCKETS; b++) {
		seen += w->hist[b];
		if (seen >= want) {
			uint64_t u = bucket_upper(b);
			return u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
		}
	}
	return UINT32_MAX;
}

static int by_hits_desc(const void *a, const void *b)
{
	const top_counter *x = a, *y = b;
	if (x->id_len == 0 || y->id_len == 0)
		return (x->id_len == 0) - (y->id_len == 0);
	return x->hits < y->hits ? 1 : x->hits > y->hits ? -1 : 0;
}

int node_top_handle(node_env *env, node_req *r, const os_hdr *h, size_t body_len)
{
	uint64_t epoch = node_maps_epoch(env->maps);
	os_buf_reset(&r->out);
	if (body_len != 0) {
		OS_WARN("msg=\"bad top frame: non-empty body\" len=%zu", body_len);
		os_reply_status(&r->out, h->kind, OSTORE_EPROTO, epoch, h->client_id);
		return NODE_REPLY_NOW;
	}
	top_window *w = malloc(sizeof(*w));
	if (w == NULL) {
		os_reply_status(&r->out, h->kind, OSTORE_ENOMEM, epoch, h->client_id);
		return NODE_REPLY_NOW;
	}
	pthread_mutex_lock(&g_mu);
	rotate_locked(os_now_ns());
	memcpy(w, &g_last, sizeof(*w));
	pthread_mutex_unlock(&g_mu);
	qsort(w->keys, NODE_TOP_COUNTERS, sizeof(w->keys[0]), by_hits_desc);
	uint16_t nkeys = 0;
	while (nkeys < NODE_TOP_COUNTERS && w->keys[nkeys].id_len != 0)
		nkeys++;
	os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT), .count = nkeys, .epoch = epoch,
	             .client_id = h->client_id};
	os_hdr_put(&r->out, &rh);
	os_top_head th = {.interval_ms = w->len_ns / 1000000u, .items = w->items,
	                  .writes = w->writes, .p50_us = percentile_us(w, 0.50),
	                  .p99_us = percentile_us(w, 0.99)};
	os_top_head_put(&r->out, &th);
	for (uint16_t i = 0; i < nkeys; i++) {
		os_top_key k = {.hits = w->keys[i].hits, .err = w->keys[i].err, .id = w->keys[i].id,
		                .id_len = w->keys[i].id_len};
		os_top_key_put(&r->out, &k);
	}
	free(w);
	return NODE_REPLY_NOW;
}
