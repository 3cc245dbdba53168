/*
 * test_client_unit.c - liborderstore without real processes: argument validation and
 * status strings (no server), and the request engine against an in-process fake
 * router (fake_router.c) reached over inproc://: value round trips, request IDs kept
 * across retries, frame-level status, pagination of scan, stats, admission control,
 * timeouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <orderstore.h>

#include "fake_router.h"
#include "harness.h"
#include "util.h"

static ostore_client *open_one(const char *url, uint32_t timeout_ms, uint32_t retries,
                               uint32_t max_inflight)
{
	ostore_options o;
	ostore_options_init(&o);
	o.routers = &url;
	o.nrouters = 1;
	o.timeout_ms = timeout_ms;
	o.retries = retries;
	o.max_inflight = max_inflight;
	ostore_client *c = NULL;
	assert_int_equal(ostore_open(&o, &c), OSTORE_OK);
	assert_non_null(c);
	return c;
}

/* A client whose router does not exist (a free port nobody listens on). */
static ostore_client *open_nowhere(uint32_t timeout_ms, uint32_t retries, uint32_t inflight)
{
	return open_one(th_url(th_free_port()), timeout_ms, retries, inflight);
}

static void test_strerror_every_code(void **state)
{
	(void)state;
	for (int st = 0; st < OSTORE_STATUS_COUNT; st++) {
		assert_non_null(ostore_strerror(st));
		assert_string_not_equal(ostore_strerror(st), "unknown error");
		assert_string_not_equal(ostore_status_name(st), "OSTORE_UNKNOWN");
		for (int o = 0; o < st; o++)
			assert_string_not_equal(ostore_strerror(st), ostore_strerror(o));
	}
	assert_string_equal(ostore_strerror(-1), "unknown error");
	assert_string_equal(ostore_strerror(OSTORE_STATUS_COUNT), "unknown error");
	assert_string_equal(ostore_status_name(OSTORE_ENOTFOUND), "OSTORE_ENOTFOUND");
	assert_string_equal(ostore_version_string(), "0.1.0");
}

static void test_open_validation(void **state)
{
	(void)state;
	ostore_options o;
	ostore_client *c = NULL;
	ostore_options_init(&o);
	assert_int_equal(o.timeout_ms, 5000);
	assert_int_equal(o.retries, 2);
	assert_int_equal(o.max_value, OSTORE_DEFAULT_MAX_VALUE);
	assert_int_equal(o.max_inflight, 256);
	assert_int_equal(ostore_open(&o, &c), OSTORE_EINVAL); /* no routers */
	assert_int_equal(ostore_open(NULL, &c), OSTORE_EINVAL);
	const char *bad = "nosuchtransport://x";
	o.routers = &bad;
	o.nrouters = 1;
	assert_int_equal(ostore_open(&o, &c), OSTORE_ECONNECT);
	const char *ok = "tcp://127.0.0.1:1";
	o.routers = &ok;
	o.max_value = OSTORE_MAX_VALUE_LIMIT + 1;
	assert_int_equal(ostore_open(&o, &c), OSTORE_EINVAL);
	o.max_value = OSTORE_DEFAULT_MAX_VALUE;
	o.max_inflight = 0;
	assert_int_equal(ostore_open(&o, &c), OSTORE_EINVAL);
	o.max_inflight = 1;
	o.timeout_ms = 0;
	assert_int_equal(ostore_open(&o, &c), OSTORE_EINVAL);
	assert_null(c);
	ostore_close(NULL);
	ostore_free(NULL);
	ostore_stats_free(NULL);
}

static void never_called(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	(void)arg, (void)items, (void)n, (void)st;
	fail_msg("callback of a refused submit ran");
}

static void test_item_validation(void **state)
{
	(void)state;
	ostore_client *c = open_nowhere(200, 0, 4);
	uint8_t id257[257];
	memset(id257, 'x', sizeof(id257));
	assert_int_equal(ostore_put(c, "", 0, "v", 1, NULL), OSTORE_EBADID);
	assert_int_equal(ostore_put(c, NULL, 3, "v", 1, NULL), OSTORE_EBADID);
	assert_int_equal(ostore_put(c, id257, 257, "v", 1, NULL), OSTORE_EBADID);
	assert_int_equal(ostore_get(c, id257, 257, NULL, NULL, NULL), OSTORE_EBADID);
	assert_int_equal(ostore_del(c, "", 0), OSTORE_EBADID);
	assert_int_equal(ostore_cas(c, id257, 257, 0, "v", 1, NULL), OSTORE_EBADID);
	char *big = calloc(1, OSTORE_DEFAULT_MAX_VALUE + 1);
	assert_non_null(big);
	assert_int_equal(ostore_put(c, "a", 1, big, OSTORE_DEFAULT_MAX_VALUE + 1, NULL),
	                 OSTORE_ETOOBIG);
	assert_int_equal(ostore_cas(c, "a", 1, 0, big, OSTORE_DEFAULT_MAX_VALUE + 1, NULL),
	                 OSTORE_ETOOBIG);
	free(big);
	assert_int_equal(ostore_put(c, "a", 1, NULL, 5, NULL), OSTORE_EINVAL);

	ostore_item items[3] = {
		{.op = OSTORE_OP_PUT, .id = "a", .id_len = 1, .value = "v", .value_len = 1},
		{.op = OSTORE_OP_GET, .id = id257, .id_len = 257},
		{.op = OSTORE_OP_GET, .id = "b", .id_len = 1},
	};
	assert_int_equal(ostore_batch(c, items, 0), OSTORE_EINVAL);
	assert_int_equal(ostore_batch(c, NULL, 1), OSTORE_EINVAL);
	assert_int_equal(ostore_batch(c, items, OSTORE_MAX_BATCH + 1), OSTORE_EINVAL);
	assert_int_equal(ostore_batch(c, items, 3), OSTORE_EBADID);
	for (int i = 0; i < 3; i++)
		assert_int_equal(items[i].status, OSTORE_EBADID);
	items[1].id_len = 1;
	items[1].op = (ostore_op)9;
	assert_int_equal(ostore_submit(c, items, 3, never_called, NULL), OSTORE_EINVAL);
	items[1].op = OSTORE_OP_GET;
	assert_int_equal(ostore_submit(c, items, 3, NULL, NULL), OSTORE_EINVAL);
	assert_int_equal(ostore_submit(c, items, 0, never_called, NULL), OSTORE_EINVAL);
	assert_int_equal(ostore_scan(c, NULL, NULL), OSTORE_EINVAL);
	assert_int_equal(ostore_stats(c, NULL), OSTORE_EINVAL);
	ostore_close(c);
}

static uint64_t now_ms(void)
{
	return os_now_ns() / 1000000u;
}

/* No router reachable: ECONNECT after (retries + 1) attempts of timeout_ms. */
static void test_router_never_up(void **state)
{
	(void)state;
	ostore_client *c = open_nowhere(300, 2, 8);
	uint64_t t0 = now_ms();
	assert_int_equal(ostore_put(c, "k", 1, "v", 1, NULL), OSTORE_ECONNECT);
	uint64_t took = now_ms() - t0;
	assert_true(took >= 800 && took < 3 * 300 + 700);
	ostore_cluster_stats *s = NULL;
	assert_int_equal(ostore_stats(c, &s), OSTORE_ECONNECT);
	assert_null(s);
	ostore_close(c);
}

typedef struct counter {
	_Atomic int calls;
	_Atomic int last;
} counter;

static void count_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	counter *k = arg;
	(void)items, (void)n;
	atomic_store(&k->last, st);
	atomic_fetch_add(&k->calls, 1);
}

static void test_overload_and_close_waits(void **state)
{
	(void)state;
	ostore_client *c = open_nowhere(300, 0, 2);
	counter k = {0};
	ostore_item a = {.op = OSTORE_OP_GET, .id = "a", .id_len = 1};
	ostore_item b = a, d = a;
	assert_int_equal(ostore_submit(c, &a, 1, count_cb, &k), OSTORE_OK);
	assert_int_equal(ostore_submit(c, &b, 1, count_cb, &k), OSTORE_OK);
	assert_int_equal(ostore_submit(c, &d, 1, count_cb, &k), OSTORE_EOVERLOAD);
	ostore_close(c); /* waits for both */
	assert_int_equal(atomic_load(&k.calls), 2);
	assert_int_equal(atomic_load(&k.last), OSTORE_ECONNECT);
	assert_int_equal(a.status, OSTORE_ECONNECT);
	assert_int_equal(b.status, OSTORE_ECONNECT);
}

/* ---- against the fake router ---- */

typedef struct fake_fixture {
	fake_router *f;
	ostore_client *c;
	char url[64];
} fake_fixture;

static int fake_setup(void **state)
{
	static int n;
	fake_fixture *x = calloc(1, sizeof(*x));
	snprintf(x->url, sizeof(x->url), "inproc://fake-router-%d", n++);
	x->f = fake_start(x->url);
	if (x->f == NULL)
		return -1;
	x->c = open_one(x->url, 500, 2, 64);
	*state = x;
	return 0;
}

static int fake_teardown(void **state)
{
	fake_fixture *x = *state;
	ostore_close(x->c);
	fake_stop(x->f);
	free(x);
	return 0;
}

static void test_fake_roundtrip(void **state)
{
	fake_fixture *x = *state;
	const uint8_t id[] = {0x00, 'o', 0xFF, 0x00};
	uint64_t v1 = 0, v2 = 0, gv = 0;
	assert_int_equal(ostore_put(x->c, id, sizeof(id), "hello", 5, &v1), OSTORE_OK);
	assert_true(v1 > 0);
	void *val = NULL;
	size_t len = 0;
	assert_int_equal(ostore_get(x->c, id, sizeof(id), &val, &len, &gv), OSTORE_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(val, "hello", 5);
	assert_int_equal(gv, v1);
	ostore_free(val);
	assert_int_equal(ostore_put(x->c, id, sizeof(id), NULL, 0, &v2), OSTORE_OK);
	assert_true(v2 > v1);
	val = (void *)1;
	assert_int_equal(ostore_get(x->c, id, sizeof(id), &val, &len, NULL), OSTORE_OK);
	assert_null(val);
	assert_int_equal(len, 0);
	assert_int_equal(ostore_cas(x->c, id, sizeof(id), v1, "x", 1, NULL), OSTORE_ECONFLICT);
	assert_int_equal(ostore_cas(x->c, id, sizeof(id), v2, "x", 1, NULL), OSTORE_OK);
	assert_int_equal(ostore_del(x->c, id, sizeof(id)), OSTORE_OK);
	assert_int_equal(ostore_del(x->c, id, sizeof(id)), OSTORE_ENOTFOUND);
	assert_int_equal(ostore_get(x->c, id, sizeof(id), NULL, NULL, NULL), OSTORE_ENOTFOUND);
}

/* A dropped request is re-sent with the same request IDs: applied exactly once. */
static void test_fake_retry_same_request_id(void **state)
{
	fake_fixture *x = *state;
	uint64_t applied = fake_applied(x->f), received = fake_received(x->f);
	fake_drop_next(x->f, 1);
	uint64_t v = 0;
	assert_int_equal(ostore_put(x->c, "retry", 5, "1", 1, &v), OSTORE_OK);
	assert_int_equal(fake_received(x->f) - received, 2);
	assert_int_equal(fake_applied(x->f) - applied, 1);
	/* CAS create retried: the first result (OK) comes back, not a conflict. */
	fake_drop_next(x->f, 1);
	assert_int_equal(ostore_cas(x->c, "cas-retry", 9, 0, "1", 1, NULL), OSTORE_OK);
	/* Every attempt dropped: ETIMEDOUT (a router was connected). */
	fake_drop_next(x->f, 3);
	uint64_t t0 = now_ms();
	assert_int_equal(ostore_get(x->c, "retry", 5, NULL, NULL, NULL), OSTORE_ETIMEDOUT);
	assert_true(now_ms() - t0 < 3 * 500 + 700);
	assert_int_equal(ostore_get(x->c, "retry", 5, NULL, NULL, NULL), OSTORE_OK);
}

static void test_fake_frame_status(void **state)
{
	fake_fixture *x = *state;
	ostore_item it[2] = {
		{.op = OSTORE_OP_GET, .id = "a", .id_len = 1},
		{.op = OSTORE_OP_PUT, .id = "b", .id_len = 1, .value = "v", .value_len = 1},
	};
	fake_frame_status(x->f, OSTORE_ENOMAP);
	assert_int_equal(ostore_batch(x->c, it, 2), OSTORE_ENOMAP);
	assert_int_equal(it[0].status, OSTORE_ENOMAP);
	assert_int_equal(it[1].status, OSTORE_ENOMAP);
	fake_frame_status(x->f, 0);
	assert_int_equal(ostore_batch(x->c, it, 2), OSTORE_OK);
	assert_int_equal(it[0].status, OSTORE_ENOTFOUND);
	assert_int_equal(it[1].status, OSTORE_OK);
}

typedef struct scan_acc {
	size_t n;
	unsigned char seen[1500];
	int stop_after;
} scan_acc;

static int scan_cb(void *arg, const void *id, size_t id_len, const void *value,
                   size_t value_len, uint64_t version)
{
	scan_acc *a = arg;
	unsigned k;
	char buf[32];
	assert_true(id_len < sizeof(buf));
	memcpy(buf, id, id_len);
	buf[id_len] = 0;
	assert_int_equal(sscanf(buf, "scan-%u", &k), 1);
	assert_true(k < 1500);
	assert_int_equal(value_len, id_len);
	assert_memory_equal(value, id, id_len);
	assert_true(version > 0);
	a->seen[k]++;
	a->n++;
	return a->stop_after && a->n >= (size_t)a->stop_after;
}

static void test_fake_scan_and_stats(void **state)
{
	fake_fixture *x = *state;
	enum { N = 1500 };
	static char ids[N][16];
	static ostore_item it[N];
	for (int i = 0; i < N; i++) {
		int l = snprintf(ids[i], sizeof(ids[i]), "scan-%d", i);
		it[i] = (ostore_item){.op = OSTORE_OP_PUT, .id = ids[i], .id_len = (size_t)l,
		                      .value = ids[i], .value_len = (size_t)l};
	}
	assert_int_equal(ostore_batch(x->c, it, N), OSTORE_OK);
	for (int i = 0; i < N; i++)
		assert_int_equal(it[i].status, OSTORE_OK);
	scan_acc *a = calloc(1, sizeof(*a));
	assert_int_equal(ostore_scan(x->c, scan_cb, a), OSTORE_OK);
	assert_int_equal(a->n, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(a->seen[i], 1);
	memset(a, 0, sizeof(*a));
	a->stop_after = 700;
	assert_int_equal(ostore_scan(x->c, scan_cb, a), OSTORE_OK);
	assert_int_equal(a->n, 700);
	free(a);

	ostore_cluster_stats *s = NULL;
	assert_int_equal(ostore_stats(x->c, &s), OSTORE_OK);
	assert_int_equal(s->nshards, 2);
	assert_int_equal(s->epoch, 7);
	assert_int_equal(s->total_orders, N);
	assert_int_equal(s->shards[0].orders + s->shards[1].orders, N);
	ostore_stats_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_every_code),
		cmocka_unit_test(test_open_validation),
		cmocka_unit_test(test_item_validation),
		cmocka_unit_test(test_router_never_up),
		cmocka_unit_test(test_overload_and_close_waits),
		cmocka_unit_test_setup_teardown(test_fake_roundtrip, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_retry_same_request_id, fake_setup,
		                                fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_frame_status, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_scan_and_stats, fake_setup, fake_teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
