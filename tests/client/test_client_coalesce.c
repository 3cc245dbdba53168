/*
 * test_client_coalesce.c - request coalescing in liborderstore (client/submit.c)
 * against the in-process fake router (fake_router.c) over inproc://.
 *
 * The fake router answers DATA frames one at a time and can be told to answer slowly,
 * so requests that arrive while the client's window of frames is full queue up and
 * must go out merged. Its frame log shows what went over the wire: item counts, the
 * hash of each frame's bytes, and which frames it dropped. Checked here: threads of
 * concurrent submits all complete with their own per-item results; frames carry merged
 * items and never more than the cap; every write item has its own request ID (each is
 * applied once, none is deduplicated into another); a dropped merged frame is re-sent
 * byte for byte; a frame-level error reaches every item of every merged caller;
 * coalescing off sends one frame per request; a lone request goes out alone.
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
#include <time.h>
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

static ostore_client *open_client(const char *url, uint32_t coalesce, uint32_t timeout_ms)
{
	ostore_options o;
	ostore_options_init(&o);
	assert_int_equal(o.coalesce_max_items, 0);
	o.routers = &url;
	o.nrouters = 1;
	o.timeout_ms = timeout_ms;
	o.retries = 2;
	o.max_inflight = 512;
	o.coalesce_max_items = coalesce;
	ostore_client *c = NULL;
	assert_int_equal(ostore_open(&o, &c), OSTORE_OK);
	return c;
}

static int setup_with(void **state, uint32_t coalesce, uint32_t timeout_ms)
{
	static int n;
	fixture *x = calloc(1, sizeof(*x));
	snprintf(x->url, sizeof(x->url), "inproc://fake-coalesce-%d", n++);
	x->f = fake_start(x->url);
	if (x->f == NULL)
		return -1;
	x->c = open_client(x->url, coalesce, timeout_ms);
	*state = x;
	return 0;
}

/* A long attempt timeout where no retry is wanted (the fake answers slowly, one frame at
 * a time); a short one for the test that makes the client retry. */
static int setup_on(void **state) { return setup_with(state, 0, 20000); }
static int setup_off(void **state) { return setup_with(state, 1, 20000); }
static int setup_cap8(void **state) { return setup_with(state, 8, 20000); }
static int setup_on_fast(void **state) { return setup_with(state, 0, 800); }

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

/* ---- a pool of asynchronous requests ---- */

enum { NTHREADS = 4, PER_THREAD = 150, ITEMS = 2 };

typedef struct req {
	char ids[ITEMS][32];
	char vals[ITEMS][32];
	ostore_item it[ITEMS];
	_Atomic int calls;
	_Atomic int st;
} req;

typedef struct pool {
	req r[NTHREADS][PER_THREAD];
	_Atomic int done;
	ostore_client *c;
	int thread_ix[NTHREADS];
	ostore_op op;
} pool;

static pool *P;

static void req_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	req *r = arg;
	/* The callback gets the caller's own array back, whole. */
	if (items != r->it || n != ITEMS)
		atomic_store(&r->st, -1);
	else
		atomic_store(&r->st, st);
	atomic_fetch_add(&r->calls, 1);
	atomic_fetch_add(&P->done, 1);
}

/* Each thread submits its requests as fast as it can (none waits for another). */
static void *submitter(void *arg)
{
	int t = *(int *)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		req *r = &P->r[t][i];
		for (int j = 0; j < ITEMS; j++) {
			int l = snprintf(r->ids[j], sizeof(r->ids[j]), "co-%d-%d-%d", t, i, j);
			int vl = snprintf(r->vals[j], sizeof(r->vals[j]), "val:%d.%d.%d", t, i, j);
			r->it[j] = (ostore_item){.op = P->op, .id = r->ids[j], .id_len = (size_t)l};
			if (P->op == OSTORE_OP_PUT) {
				r->it[j].value = r->vals[j];
				r->it[j].value_len = (size_t)vl;
			}
		}
		atomic_store(&r->calls, 0);
		atomic_store(&r->st, OSTORE_EINTERNAL);
		ostore_status st;
		while ((st = ostore_submit(P->c, r->it, ITEMS, req_cb, r)) == OSTORE_EOVERLOAD)
			usleep(500);
		if (st != OSTORE_OK) {
			atomic_store(&r->st, st);
			atomic_fetch_add(&r->calls, 1);
			atomic_fetch_add(&P->done, 1);
		}
	}
	return NULL;
}

static void run_pool(ostore_client *c, ostore_op op)
{
	P->c = c;
	P->op = op;
	atomic_store(&P->done, 0);
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		P->thread_ix[t] = t;
		assert_int_equal(pthread_create(&th[t], NULL, submitter, &P->thread_ix[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	uint64_t deadline = now_ms() + 60000;
	while (atomic_load(&P->done) < NTHREADS * PER_THREAD && now_ms() < deadline)
		usleep(1000);
	assert_int_equal(atomic_load(&P->done), NTHREADS * PER_THREAD);
}

/* Frames logged since the last clear: how many, the largest, items in all. */
static void frame_stats(fake_router *f, size_t *frames, size_t *max_items, size_t *items)
{
	*frames = fake_frames(f);
	*max_items = *items = 0;
	for (size_t i = 0; i < *frames && i < FAKE_LOG_MAX; i++) {
		fake_frame e = fake_frame_at(f, i);
		*items += e.count;
		if (e.count > *max_items)
			*max_items = e.count;
	}
}

/* Writes then reads from 4 threads: every request completes once with its own results;
 * the frames hold merged requests within the cap; every write is applied once. */
static void concurrent_round_trip(fixture *x, size_t cap, bool expect_merged)
{
	P = calloc(1, sizeof(*P));
	fake_delay_ms(x->f, 2);
	fake_log_clear(x->f);
	uint64_t applied = fake_applied(x->f);
	run_pool(x->c, OSTORE_OP_PUT);
	size_t frames, max_items, items;
	frame_stats(x->f, &frames, &max_items, &items);
	assert_int_equal(items, NTHREADS * PER_THREAD * ITEMS);
	assert_true(max_items <= cap);
	if (expect_merged) {
		assert_true(max_items > ITEMS);
		assert_true(frames < NTHREADS * PER_THREAD);
	} else {
		assert_int_equal(max_items, ITEMS);
		assert_int_equal(frames, NTHREADS * PER_THREAD);
	}
	/* Unique request IDs: a write sharing another's ID would be answered from the dedup
	 * table instead of applied. */
	assert_int_equal(fake_applied(x->f) - applied, NTHREADS * PER_THREAD * ITEMS);
	uint64_t versions_seen = 0;
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			req *r = &P->r[t][i];
			assert_int_equal(atomic_load(&r->calls), 1);
			assert_int_equal(atomic_load(&r->st), OSTORE_OK);
			for (int j = 0; j < ITEMS; j++) {
				assert_int_equal(r->it[j].status, OSTORE_OK);
				assert_true(r->it[j].version > 0);
				versions_seen++;
			}
		}
	assert_int_equal(versions_seen, NTHREADS * PER_THREAD * ITEMS);

	fake_log_clear(x->f);
	run_pool(x->c, OSTORE_OP_GET);
	frame_stats(x->f, &frames, &max_items, &items);
	if (expect_merged)
		assert_true(max_items > ITEMS);
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			req *r = &P->r[t][i];
			assert_int_equal(atomic_load(&r->calls), 1);
			assert_int_equal(atomic_load(&r->st), OSTORE_OK);
			for (int j = 0; j < ITEMS; j++) {
				ostore_item *it = &r->it[j];
				char want[32];
				int wl = snprintf(want, sizeof(want), "val:%d.%d.%d", t, i, j);
				assert_int_equal(it->status, OSTORE_OK);
				assert_int_equal(it->out_len, (size_t)wl);
				assert_memory_equal(it->out_value, want, (size_t)wl);
				ostore_free(it->out_value);
			}
		}
	fake_delay_ms(x->f, 0);
	free(P);
	P = NULL;
}

static void test_concurrent_merged(void **state)
{
	concurrent_round_trip(*state, 64, true);
}

static void test_concurrent_cap8(void **state)
{
	concurrent_round_trip(*state, 8, true);
}

static void test_concurrent_off(void **state)
{
	concurrent_round_trip(*state, ITEMS, false);
}

/* At low load nothing waits: sequential calls go out one frame each, at once. */
static void test_lone_requests_alone(void **state)
{
	fixture *x = *state;
	fake_log_clear(x->f);
	uint64_t t0 = now_ms();
	for (int i = 0; i < 50; i++) {
		char id[16];
		int l = snprintf(id, sizeof(id), "lone-%d", i);
		assert_int_equal(ostore_put(x->c, id, (size_t)l, "v", 1, NULL), OSTORE_OK);
	}
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(fake_frames(x->f), 50);
	for (size_t i = 0; i < 50; i++)
		assert_int_equal(fake_frame_at(x->f, i).count, 1);
}

/* ---- frame-level errors and retries of merged frames ---- */

typedef struct waiter {
	ostore_item it[3];
	char ids[3][16];
	_Atomic int calls;
	_Atomic int st;
} waiter;

static void waiter_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	waiter *w = arg;
	(void)items, (void)n;
	atomic_store(&w->st, st);
	atomic_fetch_add(&w->calls, 1);
}

enum { NW = 40 };

/* Submit NW requests of 3 items (GET, PUT, DEL) back to back from this thread and wait
 * for every callback. */
static void submit_burst(ostore_client *c, waiter *w, const char *tag)
{
	for (int i = 0; i < NW; i++) {
		for (int j = 0; j < 3; j++)
			snprintf(w[i].ids[j], sizeof(w[i].ids[j]), "%s-%d-%d", tag, i, j);
		w[i].it[0] = (ostore_item){.op = OSTORE_OP_GET, .id = w[i].ids[0],
		                           .id_len = strlen(w[i].ids[0])};
		w[i].it[1] = (ostore_item){.op = OSTORE_OP_PUT, .id = w[i].ids[1],
		                           .id_len = strlen(w[i].ids[1]), .value = "v",
		                           .value_len = 1};
		w[i].it[2] = (ostore_item){.op = OSTORE_OP_DEL, .id = w[i].ids[2],
		                           .id_len = strlen(w[i].ids[2])};
		atomic_store(&w[i].st, -1);
		assert_int_equal(ostore_submit(c, w[i].it, 3, waiter_cb, &w[i]), OSTORE_OK);
	}
	uint64_t deadline = now_ms() + 30000;
	for (int i = 0; i < NW; i++)
		while (atomic_load(&w[i].calls) == 0 && now_ms() < deadline)
			usleep(1000);
	for (int i = 0; i < NW; i++)
		assert_int_equal(atomic_load(&w[i].calls), 1);
}

static void test_frame_error_every_caller(void **state)
{
	fixture *x = *state;
	waiter *w = calloc(NW, sizeof(*w));
	fake_delay_ms(x->f, 5);
	fake_frame_status(x->f, OSTORE_ENOMAP);
	fake_log_clear(x->f);
	submit_burst(x->c, w, "fe");
	size_t frames, max_items, items;
	frame_stats(x->f, &frames, &max_items, &items);
	assert_true(max_items >= 6); /* at least two callers shared a frame */
	assert_int_equal(items, NW * 3);
	for (int i = 0; i < NW; i++) {
		assert_int_equal(atomic_load(&w[i].st), OSTORE_ENOMAP);
		for (int j = 0; j < 3; j++)
			assert_int_equal(w[i].it[j].status, OSTORE_ENOMAP);
	}
	fake_frame_status(x->f, 0);
	fake_delay_ms(x->f, 0);
	free(w);
}

/* A merged frame that goes unanswered is re-sent with the same bytes (same request
 * IDs), and its writes are applied once. */
static void test_merged_retry_same_bytes(void **state)
{
	fixture *x = *state;
	waiter *w = calloc(NW, sizeof(*w));
	fake_delay_ms(x->f, 5);
	fake_drop_larger(x->f, 1, 3); /* the first frame of more than one caller */
	fake_log_clear(x->f);
	uint64_t applied = fake_applied(x->f);
	submit_burst(x->c, w, "rt");
	for (int i = 0; i < NW; i++) {
		assert_int_equal(atomic_load(&w[i].st), OSTORE_OK);
		assert_int_equal(w[i].it[0].status, OSTORE_ENOTFOUND);
		assert_int_equal(w[i].it[1].status, OSTORE_OK);
		assert_int_equal(w[i].it[2].status, OSTORE_ENOTFOUND);
	}
	assert_int_equal(fake_applied(x->f) - applied, NW); /* one PUT each */
	size_t n = fake_frames(x->f), dropped_at = n;
	for (size_t i = 0; i < n; i++)
		if (fake_frame_at(x->f, i).dropped) {
			dropped_at = i;
			break;
		}
	assert_true(dropped_at < n);
	fake_frame d = fake_frame_at(x->f, dropped_at);
	assert_true(d.count > 3);
	size_t resent = 0, items = 0;
	for (size_t i = 0; i < n; i++) {
		fake_frame e = fake_frame_at(x->f, i);
		if (!e.dropped)
			items += e.count;
		if (i != dropped_at && e.hash == d.hash && !e.dropped)
			resent++;
	}
	assert_int_equal(resent, 1);
	assert_int_equal(items, NW * 3);
	fake_delay_ms(x->f, 0);
	free(w);
}

/* Blocking calls from many threads coalesce too, and close waits for everything. */
typedef struct sync_arg {
	ostore_client *c;
	int t;
	_Atomic int *bad;
} sync_arg;

static void *sync_worker(void *arg)
{
	sync_arg *a = arg;
	for (int i = 0; i < 40; i++) {
		char id[32], v[32];
		int l = snprintf(id, sizeof(id), "sync-%d-%d", a->t, i);
		int vl = snprintf(v, sizeof(v), "value-%d-%d", a->t, i);
		uint64_t ver = 0, gv = 0;
		void *got = NULL;
		size_t len = 0;
		if (ostore_put(a->c, id, (size_t)l, v, (size_t)vl, &ver) != OSTORE_OK ||
		    ostore_get(a->c, id, (size_t)l, &got, &len, &gv) != OSTORE_OK ||
		    len != (size_t)vl || memcmp(got, v, len) != 0 || gv != ver ||
		    ostore_cas(a->c, id, (size_t)l, ver, "x", 1, NULL) != OSTORE_OK)
			atomic_fetch_add(a->bad, 1);
		ostore_free(got);
	}
	return NULL;
}

static void test_sync_threads(void **state)
{
	fixture *x = *state;
	enum { NT = 16 };
	pthread_t th[NT];
	sync_arg a[NT];
	_Atomic int bad = 0;
	fake_delay_ms(x->f, 1);
	fake_log_clear(x->f);
	for (int t = 0; t < NT; t++) {
		a[t] = (sync_arg){.c = x->c, .t = t, .bad = &bad};
		assert_int_equal(pthread_create(&th[t], NULL, sync_worker, &a[t]), 0);
	}
	for (int t = 0; t < NT; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(atomic_load(&bad), 0);
	size_t frames, max_items, items;
	frame_stats(x->f, &frames, &max_items, &items);
	assert_int_equal(items, NT * 40 * 3);
	assert_true(max_items > 1);
	fake_delay_ms(x->f, 0);
}

/* ostore_close right after a burst: every queued request still completes. */
static void test_close_waits_for_queued(void **state)
{
	fixture *x = *state;
	waiter *w = calloc(NW, sizeof(*w));
	fake_delay_ms(x->f, 5);
	for (int i = 0; i < NW; i++) {
		snprintf(w[i].ids[0], sizeof(w[i].ids[0]), "cl-%d", i);
		w[i].it[0] = (ostore_item){.op = OSTORE_OP_PUT, .id = w[i].ids[0],
		                           .id_len = strlen(w[i].ids[0]), .value = "v",
		                           .value_len = 1};
		assert_int_equal(ostore_submit(x->c, w[i].it, 1, waiter_cb, &w[i]), OSTORE_OK);
	}
	ostore_close(x->c);
	x->c = open_client(x->url, 0, 20000); /* for the teardown */
	for (int i = 0; i < NW; i++) {
		assert_int_equal(atomic_load(&w[i].calls), 1);
		assert_int_equal(atomic_load(&w[i].st), OSTORE_OK);
		assert_int_equal(w[i].it[0].status, OSTORE_OK);
	}
	fake_delay_ms(x->f, 0);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_merged, setup_on, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_cap8, setup_cap8, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_off, setup_off, teardown),
		cmocka_unit_test_setup_teardown(test_lone_requests_alone, setup_on, teardown),
		cmocka_unit_test_setup_teardown(test_frame_error_every_caller, setup_on, teardown),
		cmocka_unit_test_setup_teardown(test_merged_retry_same_bytes, setup_on_fast, teardown),
		cmocka_unit_test_setup_teardown(test_sync_threads, setup_on, teardown),
		cmocka_unit_test_setup_teardown(test_close_waits_for_queued, setup_on, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
