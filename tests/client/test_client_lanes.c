/*
 * test_client_lanes.c - shard lanes in liborderstore's coalescing (client/lanes.c)
 * against the in-process fake router (fake_router.c) over inproc://.
 *
 * The fake answers MAP_GET with a 2-shard map split at a chosen slot, stamps its epoch
 * on every DATA reply, and logs for every DATA frame which halves of the slot space
 * (below / from slot 2048) its items fall in. Checked here: once the handle has the map,
 * merged frames never mix the two shards and still merge; a reply with a newer epoch
 * makes the handle fetch the map again and use it (with every slot in one shard, frames
 * mix both halves); without a map (MAP_GET refused) requests still merge, in one lane,
 * and the refused fetch is not retried for every request. A frame's callbacks run
 * before its lane's slot is given back, so the blocking calls refuse to run in a
 * callback (OSTORE_EINVAL, instead of waiting for that slot forever); ostore_submit
 * from a callback works. ostore_close gives an unanswered map fetch 1 s, then aborts it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <orderstore.h>

#include "fake_router.h"
#include "harness.h"
#include "util.h"

typedef struct fixture {
	fake_router *f;
	ostore_client *c;
	char url[64];
} fixture;

static int setup(void **state)
{
	static int n;
	fixture *x = calloc(1, sizeof(*x));
	snprintf(x->url, sizeof(x->url), "inproc://fake-lanes-%d", n++);
	x->f = fake_start(x->url);
	if (x->f == NULL)
		return -1;
	fake_delay_ms(x->f, 2); /* answer slowly: requests queue and merge */
	ostore_options o;
	ostore_options_init(&o);
	const char *u = x->url;
	o.routers = &u;
	o.nrouters = 1;
	o.timeout_ms = 20000;
	o.max_inflight = 512;
	if (ostore_open(&o, &x->c) != OSTORE_OK)
		return -1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fixture *x = *state;
	ostore_close(x->c);
	fake_stop(x->f);
	free(x);
	return 0;
}

static uint64_t now_ms(void)
{
	return os_now_ns() / 1000000u;
}

/* Wait (at most 5 s) until the fake has answered @n MAP_GETs, then a moment more for
 * the handle to install the table. */
static void wait_map_gets(fake_router *f, uint64_t n)
{
	uint64_t end = now_ms() + 5000;
	while (fake_map_gets(f) < n && now_ms() < end)
		usleep(1000);
	assert_true(fake_map_gets(f) >= n);
	usleep(50 * 1000);
}

/* ---- a burst of concurrent single-item requests ---- */

enum { NT = 4, PER = 100 };

typedef struct one {
	char id[32], val[32];
	ostore_item it;
	_Atomic int calls;
} one;

typedef struct burst {
	ostore_client *c;
	int t;
	ostore_op op;
	one r[PER];
} burst;

static void one_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	one *r = arg;
	if (st != OSTORE_OK || n != 1 || items != &r->it)
		r->it.status = OSTORE_EINTERNAL;
	atomic_fetch_add(&r->calls, 1);
}

static void *burst_main(void *arg)
{
	burst *b = arg;
	for (int i = 0; i < PER; i++) {
		one *r = &b->r[i];
		int l = snprintf(r->id, sizeof(r->id), "lane-%d-%d", b->t, i);
		int vl = snprintf(r->val, sizeof(r->val), "v-%d-%d", b->t, i);
		r->it = (ostore_item){.op = b->op, .id = r->id, .id_len = (size_t)l};
		if (b->op == OSTORE_OP_PUT) {
			r->it.value = r->val;
			r->it.value_len = (size_t)vl;
		}
		atomic_store(&r->calls, 0);
		ostore_status st;
		while ((st = ostore_submit(b->c, &r->it, 1, one_cb, r)) == OSTORE_EOVERLOAD)
			usleep(500);
		if (st != OSTORE_OK) {
			r->it.status = st;
			atomic_store(&r->calls, 1);
		}
	}
	uint64_t end = now_ms() + 30000;
	for (int i = 0; i < PER; i++)
		while (atomic_load(&b->r[i].calls) == 0 && now_ms() < end)
			usleep(1000);
	return NULL;
}

/* PUT then GET every ID from NT threads; every result must be right. */
static void run_bursts(ostore_client *c)
{
	static burst b[NT];
	for (int pass = 0; pass < 2; pass++) {
		pthread_t th[NT];
		for (int t = 0; t < NT; t++) {
			b[t].c = c;
			b[t].t = t;
			b[t].op = pass == 0 ? OSTORE_OP_PUT : OSTORE_OP_GET;
			assert_int_equal(pthread_create(&th[t], NULL, burst_main, &b[t]), 0);
		}
		for (int t = 0; t < NT; t++)
			pthread_join(th[t], NULL);
		for (int t = 0; t < NT; t++) {
			for (int i = 0; i < PER; i++) {
				ostore_item *it = &b[t].r[i].it;
				assert_int_equal(atomic_load(&b[t].r[i].calls), 1);
				assert_int_equal(it->status, OSTORE_OK);
				if (pass == 1) {
					size_t vl = strlen(b[t].r[i].val);
					assert_int_equal(it->out_len, vl);
					assert_memory_equal(it->out_value, b[t].r[i].val, vl);
					ostore_free(it->out_value);
				}
			}
		}
	}
}

/* Run the bursts with a fresh frame log, then count its frames: how many merged (more
 * than one item), how many held items of both halves of the slot space. */
static void burst_frames(fixture *x, size_t *merged, size_t *mixed)
{
	fake_router *f = x->f;
	fake_log_clear(f);
	run_bursts(x->c);
	*merged = *mixed = 0;
	size_t n = fake_frames(f);
	assert_true(n > 0 && n <= FAKE_LOG_MAX);
	for (size_t i = 0; i < n; i++) {
		fake_frame e = fake_frame_at(f, i);
		*merged += e.count > 1;
		*mixed += e.halves == 3;
	}
}

/* Serve a map of @epoch split at @split, make a request that brings it (its reply carries
 * the epoch), and wait until the fake has answered @fetches MAP_GETs in all. */
static void publish_map(fixture *x, uint64_t epoch, uint16_t split, uint64_t fetches)
{
	fake_map(x->f, epoch, split);
	assert_int_equal(ostore_put(x->c, "warm", 4, "w", 1, NULL), OSTORE_OK);
	wait_map_gets(x->f, fetches);
}

/* ---- tests ---- */

static void test_frames_hold_one_shard(void **state)
{
	fixture *x = *state;
	publish_map(x, 5, 2048, 1);
	size_t merged, mixed;
	burst_frames(x, &merged, &mixed);
	assert_true(merged > 0);
	assert_int_equal(mixed, 0);
	assert_int_equal(fake_map_gets(x->f), 1); /* the epoch did not change */
}

static void test_newer_epoch_refreshes(void **state)
{
	fixture *x = *state;
	publish_map(x, 5, 2048, 1);
	/* Every slot in shard 0 now, at epoch 6: the next reply carries it. */
	publish_map(x, 6, 4096, 2);
	size_t merged, mixed;
	burst_frames(x, &merged, &mixed);
	assert_true(merged > 0);
	assert_true(mixed > 0); /* one lane for every slot: frames span both halves */
	assert_int_equal(fake_map_gets(x->f), 2);
}

static void test_no_map_still_merges(void **state)
{
	fixture *x = *state; /* fake_map never called: MAP_GET is refused */
	size_t merged, mixed;
	burst_frames(x, &merged, &mixed);
	assert_true(merged > 0);
	/* One refused fetch, then at most one more per OC_LANES_RETRY_MS (1 s). */
	assert_true(fake_map_gets(x->f) >= 1);
	assert_true(fake_map_gets(x->f) <= 5);
}

/* A callback that tries a blocking call, then submits the next request. */
typedef struct chain {
	ostore_client *c;
	ostore_item next;
	_Atomic int blocking_st; /* what the blocking call answered, -1 until then */
	_Atomic int next_calls;
	_Atomic int next_st;
} chain;

static void chain_next_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	chain *ch = arg;
	(void)items;
	(void)n;
	atomic_store(&ch->next_st, st == OSTORE_OK ? items[0].status : st);
	atomic_fetch_add(&ch->next_calls, 1);
}

static void chain_first_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	chain *ch = arg;
	(void)items;
	(void)n;
	(void)st;
	atomic_store(&ch->blocking_st, ostore_put(ch->c, "inner", 5, "i", 1, NULL));
	ch->next = (ostore_item){.op = OSTORE_OP_PUT, .id = "next", .id_len = 4, .value = "n",
	                         .value_len = 1};
	if (ostore_submit(ch->c, &ch->next, 1, chain_next_cb, ch) != OSTORE_OK)
		atomic_store(&ch->next_calls, 99);
}

static void test_blocking_call_in_callback_refused(void **state)
{
	fixture *x = *state;
	fake_map(x->f, 5, 2048);
	static chain ch;
	ch.c = x->c;
	atomic_store(&ch.blocking_st, -1);
	ostore_item first = {.op = OSTORE_OP_PUT, .id = "first", .id_len = 5, .value = "f",
	                     .value_len = 1};
	assert_int_equal(ostore_submit(x->c, &first, 1, chain_first_cb, &ch), OSTORE_OK);
	uint64_t end = now_ms() + 10000;
	while (atomic_load(&ch.next_calls) == 0 && now_ms() < end)
		usleep(1000);
	assert_int_equal(atomic_load(&ch.blocking_st), OSTORE_EINVAL);
	assert_int_equal(atomic_load(&ch.next_calls), 1);
	assert_int_equal(atomic_load(&ch.next_st), OSTORE_OK);
	/* Outside a callback the same blocking call works. */
	assert_int_equal(ostore_put(x->c, "inner", 5, "i", 1, NULL), OSTORE_OK);
}

/* A MAP_GET that is never answered holds ostore_close only for the grace of lanes.c
 * (1 s; the fixture's timeout is 20 s per attempt), then close aborts it. It does wait
 * that grace: aborting at once would close the socket while the reply of a fetch that is
 * merely slow may be coming in, which can hang nng_close in nng 1.5.2 (the CLI's hang in
 * the failover test under ASan; see oc_lanes_close_locked). */
static void test_close_waits_then_aborts_fetch(void **state)
{
	fixture *x = *state;
	fake_map(x->f, 5, 2048);
	fake_drop_map_gets(x->f, 1);
	assert_int_equal(ostore_put(x->c, "warm", 4, "w", 1, NULL), OSTORE_OK);
	wait_map_gets(x->f, 1);
	uint64_t t0 = now_ms();
	ostore_close(x->c);
	x->c = NULL;
	uint64_t took = now_ms() - t0;
	assert_true(took >= 900);
	assert_true(took < 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frames_hold_one_shard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_epoch_refreshes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_map_still_merges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_call_in_callback_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_close_waits_then_aborts_fetch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
