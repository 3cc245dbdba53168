/*
 * test_client_e2e.c - liborderstore against real processes on loopback: two
 * orderstore-node processes (a 2-shard map built with os_map_build_even and saved with
 * os_map_save_file) and one orderstore-router, started once for the group.
 *
 * The tests run in order and share the cluster; the last two take parts of it down
 * (first node 1, then the router), so they stay at the end. test_coalesce_on_off runs
 * after scan and stats (which count every order) with two more handles, coalescing on
 * and off, so that merged frames go through a real router and real nodes; the router's
 * metrics show that with coalescing on frames were merged and each went to one node
 * (shard lanes, client/lanes.c), and with it off one frame per request.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <orderstore.h>

#include "harness.h"
#include "map.h"
#include "slot.h"
#include "util.h"

#define TIMEOUT_MS 2000u
#define RETRIES 1u

typedef struct cluster {
	char *dir;
	char node_url[2][64];
	char router_url[64];
	pid_t node_pid[2];
	pid_t router_pid;
	int router_metrics; /* its /metrics port */
	os_map *map;
	ostore_client *c;
} cluster;

static cluster K;

static uint64_t now_ms(void)
{
	return os_now_ns() / 1000000u;
}

static pid_t spawn_node(int i)
{
	char id[8], data[512], map[512], log[512];
	snprintf(id, sizeof(id), "%d", i);
	snprintf(data, sizeof(data), "%s/node-%d", K.dir, i);
	snprintf(map, sizeof(map), "%s/map.json", K.dir);
	snprintf(log, sizeof(log), "%s/node-%d.log", K.dir, i);
	mkdir(data, 0755);
	const char *argv[] = {th_bin("node"), "--id", id, "--listen", K.node_url[i],
	                      "--data", data, "--map", map, NULL};
	return th_spawn(argv, log);
}

static int cluster_up(void **state)
{
	(void)state;
	K.dir = th_tmpdir("client-e2e");
	const char *addrs[2];
	for (int i = 0; i < 2; i++) {
		snprintf(K.node_url[i], sizeof(K.node_url[i]), "%s", th_url(th_free_port()));
		addrs[i] = K.node_url[i];
	}
	snprintf(K.router_url, sizeof(K.router_url), "%s", th_url(th_free_port()));
	K.map = os_map_build_even(2, addrs, 0);
	if (K.map == NULL)
		return -1;
	char path[512], err[256], log[512];
	snprintf(path, sizeof(path), "%s/map.json", K.dir);
	if (os_map_save_file(K.map, path, err, sizeof(err)) != OSTORE_OK) {
		fprintf(stderr, "map save: %s\n", err);
		return -1;
	}
	for (int i = 0; i < 2; i++)
		K.node_pid[i] = spawn_node(i);
	for (int i = 0; i < 2; i++)
		if (th_ping(K.node_url[i], 15000) != 0)
			return -1;
	snprintf(log, sizeof(log), "%s/router.log", K.dir);
	K.router_metrics = th_free_port();
	char maddr[32];
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", K.router_metrics);
	/* The router's per-node timeout must be shorter than the client's, or a silent node
	 * shows as the client's ETIMEDOUT instead of the router's EUNAVAIL. */
	const char *rargv[] = {th_bin("router"), "--listen", K.router_url, "--map", path,
	                       "--timeout-ms", "500", "--metrics-addr", maddr, NULL};
	K.router_pid = th_spawn(rargv, log);
	if (th_ping(K.router_url, 15000) != 0)
		return -1;
	ostore_options o;
	ostore_options_init(&o);
	const char *r = K.router_url;
	o.routers = &r;
	o.nrouters = 1;
	o.timeout_ms = TIMEOUT_MS;
	o.retries = RETRIES;
	return ostore_open(&o, &K.c) == OSTORE_OK ? 0 : -1;
}

static int cluster_down(void **state)
{
	(void)state;
	ostore_close(K.c);
	th_cleanup();
	os_map_unref(K.map);
	th_rmrf(K.dir);
	free(K.dir);
	return 0;
}

static void test_put_get_overwrite_delete(void **state)
{
	(void)state;
	uint64_t v1, v2, gv;
	void *val;
	size_t len;
	assert_int_equal(ostore_put(K.c, "order-1", 7, "first", 5, &v1), OSTORE_OK);
	assert_int_equal(ostore_get(K.c, "order-1", 7, &val, &len, &gv), OSTORE_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(val, "first", 5);
	assert_int_equal(gv, v1);
	ostore_free(val);
	assert_int_equal(ostore_put(K.c, "order-1", 7, "second!", 7, &v2), OSTORE_OK);
	assert_true(v2 > v1);
	assert_int_equal(ostore_get(K.c, "order-1", 7, &val, &len, &gv), OSTORE_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(val, "second!", 7);
	assert_int_equal(gv, v2);
	ostore_free(val);
	assert_int_equal(ostore_del(K.c, "order-1", 7), OSTORE_OK);
	assert_int_equal(ostore_get(K.c, "order-1", 7, &val, &len, NULL), OSTORE_ENOTFOUND);
	assert_int_equal(ostore_del(K.c, "order-1", 7), OSTORE_ENOTFOUND);
	/* empty value */
	assert_int_equal(ostore_put(K.c, "empty", 5, NULL, 0, NULL), OSTORE_OK);
	val = (void *)1;
	assert_int_equal(ostore_get(K.c, "empty", 5, &val, &len, NULL), OSTORE_OK);
	assert_null(val);
	assert_int_equal(len, 0);
	assert_int_equal(ostore_del(K.c, "empty", 5), OSTORE_OK);
}

static void test_binary_ids(void **state)
{
	(void)state;
	const uint8_t a[] = {0x00, 0xFF, 'x', 0x00};
	const uint8_t b[] = {0x00, 0xFF, 'x'}; /* a prefix of a: a different order */
	uint8_t big[OSTORE_MAX_ID_LEN];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(0xFF - i);
	assert_int_equal(ostore_put(K.c, a, sizeof(a), "A", 1, NULL), OSTORE_OK);
	assert_int_equal(ostore_put(K.c, b, sizeof(b), "B", 1, NULL), OSTORE_OK);
	assert_int_equal(ostore_put(K.c, big, sizeof(big), "Z", 1, NULL), OSTORE_OK);
	void *val;
	size_t len;
	assert_int_equal(ostore_get(K.c, a, sizeof(a), &val, &len, NULL), OSTORE_OK);
	assert_memory_equal(val, "A", 1);
	ostore_free(val);
	assert_int_equal(ostore_get(K.c, b, sizeof(b), &val, &len, NULL), OSTORE_OK);
	assert_memory_equal(val, "B", 1);
	ostore_free(val);
	assert_int_equal(ostore_get(K.c, big, sizeof(big), &val, &len, NULL), OSTORE_OK);
	assert_memory_equal(val, "Z", 1);
	ostore_free(val);
	assert_int_equal(ostore_del(K.c, a, sizeof(a)), OSTORE_OK);
	assert_int_equal(ostore_del(K.c, b, sizeof(b)), OSTORE_OK);
	assert_int_equal(ostore_del(K.c, big, sizeof(big)), OSTORE_OK);
}

static void test_cas(void **state)
{
	(void)state;
	uint64_t v1, v2, v3;
	assert_int_equal(ostore_cas(K.c, "cas-1", 5, 0, "new", 3, &v1), OSTORE_OK);
	assert_int_equal(ostore_cas(K.c, "cas-1", 5, 0, "again", 5, NULL), OSTORE_ECONFLICT);
	assert_int_equal(ostore_cas(K.c, "cas-1", 5, v1, "paid", 4, &v2), OSTORE_OK);
	assert_true(v2 > v1);
	assert_int_equal(ostore_cas(K.c, "cas-1", 5, v1, "stale", 5, NULL), OSTORE_ECONFLICT);
	assert_int_equal(ostore_cas(K.c, "cas-none", 8, 42, "x", 1, NULL), OSTORE_ENOTFOUND);
	void *val;
	size_t len;
	assert_int_equal(ostore_get(K.c, "cas-1", 5, &val, &len, &v3), OSTORE_OK);
	assert_int_equal(v3, v2);
	assert_memory_equal(val, "paid", 4);
	ostore_free(val);
	assert_int_equal(ostore_del(K.c, "cas-1", 5), OSTORE_OK);
}

enum { NB = 500 };
static char batch_ids[NB][24];
static char batch_vals[NB][48];

static void test_batch_500(void **state)
{
	(void)state;
	static ostore_item it[NB];
	for (int i = 0; i < NB; i++) {
		int il = snprintf(batch_ids[i], sizeof(batch_ids[i]), "batch-%d", i);
		int vl = snprintf(batch_vals[i], sizeof(batch_vals[i]), "{\"invoice\":%d}", i);
		it[i] = (ostore_item){.op = OSTORE_OP_PUT, .id = batch_ids[i], .id_len = (size_t)il,
		                      .value = batch_vals[i], .value_len = (size_t)vl};
	}
	assert_int_equal(ostore_batch(K.c, it, NB), OSTORE_OK);
	for (int i = 0; i < NB; i++) {
		assert_int_equal(it[i].status, OSTORE_OK);
		assert_true(it[i].version > 0);
		it[i].op = OSTORE_OP_GET;
	}
	assert_int_equal(ostore_batch(K.c, it, NB), OSTORE_OK);
	for (int i = 0; i < NB; i++) {
		assert_int_equal(it[i].status, OSTORE_OK);
		assert_int_equal(it[i].out_len, strlen(batch_vals[i]));
		assert_memory_equal(it[i].out_value, batch_vals[i], it[i].out_len);
		ostore_free(it[i].out_value);
	}
}

enum { NT = 8, NOPS = 200 };

typedef struct worker {
	int idx;
	char ids[NOPS][24];
	ostore_item items[NOPS];
	_Atomic int acked;
	_Atomic int bad;
} worker;

static void worker_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	worker *w = arg;
	if (st != OSTORE_OK || n != 1 || items[0].status != OSTORE_OK)
		atomic_fetch_add(&w->bad, 1);
	atomic_fetch_add(&w->acked, 1);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	for (int i = 0; i < NOPS; i++) {
		int l = snprintf(w->ids[i], sizeof(w->ids[i]), "thr-%d-%d", w->idx, i);
		w->items[i] = (ostore_item){.op = OSTORE_OP_PUT, .id = w->ids[i],
		                            .id_len = (size_t)l, .value = w->ids[i],
		                            .value_len = (size_t)l};
		ostore_status st;
		while ((st = ostore_submit(K.c, &w->items[i], 1, worker_cb, w)) == OSTORE_EOVERLOAD)
			usleep(1000);
		if (st != OSTORE_OK)
			atomic_fetch_add(&w->bad, 1), atomic_fetch_add(&w->acked, 1);
	}
	return NULL;
}

static void test_threads_submit(void **state)
{
	(void)state;
	worker *w = calloc(NT, sizeof(*w));
	pthread_t t[NT];
	for (int i = 0; i < NT; i++) {
		w[i].idx = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	uint64_t deadline = now_ms() + 60000;
	for (int i = 0; i < NT; i++)
		while (atomic_load(&w[i].acked) < NOPS && now_ms() < deadline)
			usleep(2000);
	for (int i = 0; i < NT; i++) {
		assert_int_equal(atomic_load(&w[i].acked), NOPS);
		assert_int_equal(atomic_load(&w[i].bad), 0);
		for (int j = 0; j < NOPS; j++)
			w[i].items[j].op = OSTORE_OP_GET;
		assert_int_equal(ostore_batch(K.c, w[i].items, NOPS), OSTORE_OK);
		for (int j = 0; j < NOPS; j++) {
			ostore_item *it = &w[i].items[j];
			assert_int_equal(it->status, OSTORE_OK);
			assert_int_equal(it->out_len, it->id_len);
			assert_memory_equal(it->out_value, it->id, it->id_len);
			ostore_free(it->out_value);
		}
	}
	free(w);
}

/* Scan: every order exactly once. Expected: batch-0..499 and thr-T-I. */
typedef struct scan_acc {
	size_t total;
	unsigned char batch[NB];
	unsigned char thr[NT][NOPS];
	size_t other;
} scan_acc;

static int scan_cb(void *arg, const void *id, size_t id_len, const void *value,
                   size_t value_len, uint64_t version)
{
	scan_acc *a = arg;
	char buf[OSTORE_MAX_ID_LEN + 1];
	memcpy(buf, id, id_len);
	buf[id_len] = 0;
	int x, y;
	(void)value, (void)value_len;
	assert_true(version > 0);
	a->total++;
	if (sscanf(buf, "batch-%d", &x) == 1 && x >= 0 && x < NB)
		a->batch[x]++;
	else if (sscanf(buf, "thr-%d-%d", &x, &y) == 2 && x >= 0 && x < NT && y >= 0 && y < NOPS)
		a->thr[x][y]++;
	else
		a->other++;
	return 0;
}

static scan_acc last_scan;

static void test_scan_exactly_once(void **state)
{
	(void)state;
	memset(&last_scan, 0, sizeof(last_scan));
	assert_int_equal(ostore_scan(K.c, scan_cb, &last_scan), OSTORE_OK);
	for (int i = 0; i < NB; i++)
		assert_int_equal(last_scan.batch[i], 1);
	for (int i = 0; i < NT; i++)
		for (int j = 0; j < NOPS; j++)
			assert_int_equal(last_scan.thr[i][j], 1);
	assert_int_equal(last_scan.other, 0); /* earlier tests deleted their orders */
	assert_int_equal(last_scan.total, NB + NT * NOPS);
}

static void test_stats_total(void **state)
{
	(void)state;
	ostore_cluster_stats *s = NULL;
	assert_int_equal(ostore_stats(K.c, &s), OSTORE_OK);
	assert_non_null(s);
	assert_int_equal(s->nshards, 2);
	assert_true(s->epoch >= 1);
	assert_int_equal(s->total_orders, NB + NT * NOPS);
	uint64_t sum = 0;
	for (size_t i = 0; i < s->nshards; i++) {
		assert_int_equal(s->shards[i].status, OSTORE_OK);
		sum += s->shards[i].orders;
	}
	assert_int_equal(sum, s->total_orders);
	assert_int_equal(s->shards[0].slots + s->shards[1].slots, OSTORE_SLOTS);
	ostore_stats_free(s);
}

/* Node 1 down: its orders answer EUNAVAIL, shard 0 keeps working. */
static void test_node_down(void **state)
{
	(void)state;
	th_stop(K.node_pid[1]);
	int seen0 = 0, seen1 = 0;
	for (int i = 0; i < NB && (seen0 < 3 || seen1 < 3); i++) {
		uint16_t shard = K.map->slot_shard[os_slot_of(batch_ids[i], strlen(batch_ids[i]))];
		if ((shard == 0 && seen0 >= 3) || (shard == 1 && seen1 >= 3))
			continue;
		uint64_t t0 = now_ms();
		ostore_status st = ostore_get(K.c, batch_ids[i], strlen(batch_ids[i]), NULL, NULL,
		                              NULL);
		if (shard == 1) {
			assert_int_equal(st, OSTORE_EUNAVAIL);
			assert_true(now_ms() - t0 < (RETRIES + 1) * TIMEOUT_MS + 1000);
			seen1++;
		} else {
			assert_int_equal(st, OSTORE_OK);
			assert_int_equal(ostore_put(K.c, batch_ids[i], strlen(batch_ids[i]), "up", 2,
			                            NULL), OSTORE_OK);
			seen0++;
		}
	}
	assert_int_equal(seen0, 3);
	assert_int_equal(seen1, 3);
}

/* Many threads of asynchronous requests through a handle with coalescing on and one
 * with it off: every request gets its own items back (PUT, then GET of the same keys,
 * then CAS with the version read). */
enum { CO_T = 4, CO_N = 120 };

typedef struct co_req {
	char id[32], val[32];
	ostore_item it;
	_Atomic int calls;
} co_req;

typedef struct co_thread {
	ostore_client *c;
	int t;
	char tag;
	co_req r[CO_N];
	_Atomic int done;
} co_thread;

static void co_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	co_req *r = arg;
	if (st != OSTORE_OK || n != 1 || items != &r->it)
		r->it.status = OSTORE_EINTERNAL;
	atomic_fetch_add(&r->calls, 1);
}

/* One phase: submit every request of the thread, wait for all callbacks. */
static void co_phase(co_thread *w, ostore_op op)
{
	for (int i = 0; i < CO_N; i++) {
		co_req *r = &w->r[i];
		uint64_t ver = r->it.version;
		int l = snprintf(r->id, sizeof(r->id), "co%c-%d-%d", w->tag, w->t, i);
		int vl = snprintf(r->val, sizeof(r->val), "v%c-%d-%d:%c", w->tag, w->t, i,
		                  op == OSTORE_OP_CAS ? 'c' : 'p');
		r->it = (ostore_item){.op = op, .id = r->id, .id_len = (size_t)l};
		if (op != OSTORE_OP_GET) {
			r->it.value = r->val;
			r->it.value_len = (size_t)vl;
			r->it.expected = ver;
		}
		atomic_store(&r->calls, 0);
		ostore_status st;
		while ((st = ostore_submit(w->c, &r->it, 1, co_cb, r)) == OSTORE_EOVERLOAD)
			usleep(500);
		if (st != OSTORE_OK) {
			r->it.status = st;
			atomic_store(&r->calls, 1);
		}
	}
	uint64_t deadline = now_ms() + 30000;
	for (int i = 0; i < CO_N; i++)
		while (atomic_load(&w->r[i].calls) == 0 && now_ms() < deadline)
			usleep(1000);
}

static void *co_main(void *arg)
{
	co_thread *w = arg;
	co_phase(w, OSTORE_OP_PUT);
	for (int i = 0; i < CO_N; i++)
		if (w->r[i].it.status != OSTORE_OK || atomic_load(&w->r[i].calls) != 1)
			return NULL;
	co_phase(w, OSTORE_OP_GET);
	for (int i = 0; i < CO_N; i++) {
		ostore_item *it = &w->r[i].it;
		size_t vl = strlen(w->r[i].val);
		bool ok = it->status == OSTORE_OK && it->out_len == vl &&
		          memcmp(it->out_value, w->r[i].val, vl) == 0 && it->version > 0;
		ostore_free(it->out_value);
		if (!ok || atomic_load(&w->r[i].calls) != 1)
			return NULL;
	}
	co_phase(w, OSTORE_OP_CAS); /* expected = the version the GET returned */
	for (int i = 0; i < CO_N; i++)
		if (w->r[i].it.status != OSTORE_OK || atomic_load(&w->r[i].calls) != 1)
			return NULL;
	atomic_store(&w->done, 1);
	return NULL;
}

/* DATA frames the router received, and calls it sent to the nodes, so far. */
static void router_counts(double *frames, double *calls)
{
	char *text = th_http_get(K.router_metrics, "/metrics");
	assert_non_null(text);
	*frames = th_metric(text, "orderstore_router_data_frames_total");
	*calls = 0;
	for (int i = 0; i < 2; i++) {
		char series[96];
		snprintf(series, sizeof(series), "orderstore_router_node_calls_total{node=\"%d\"}", i);
		double v = th_metric(text, series);
		*calls += v > 0 ? v : 0;
	}
	free(text);
	assert_true(*frames >= 0);
}

static void test_coalesce_on_off(void **state)
{
	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		ostore_options o;
		ostore_options_init(&o);
		const char *r = K.router_url;
		o.routers = &r;
		o.nrouters = 1;
		o.timeout_ms = TIMEOUT_MS;
		o.retries = RETRIES;
		o.coalesce_max_items = pass == 0 ? 0 : 1;
		ostore_client *c = NULL;
		assert_int_equal(ostore_open(&o, &c), OSTORE_OK);
		/* A first request makes the handle fetch the map for its shard lanes. */
		assert_int_equal(ostore_put(c, "co-warm", 7, "w", 1, NULL), OSTORE_OK);
		usleep(200 * 1000);
		double f0, c0, f1, c1;
		router_counts(&f0, &c0);
		co_thread *w = calloc(CO_T, sizeof(*w));
		pthread_t th[CO_T];
		for (int t = 0; t < CO_T; t++) {
			w[t].c = c;
			w[t].t = t;
			w[t].tag = pass == 0 ? 'a' : 'b';
			assert_int_equal(pthread_create(&th[t], NULL, co_main, &w[t]), 0);
		}
		for (int t = 0; t < CO_T; t++)
			pthread_join(th[t], NULL);
		router_counts(&f1, &c1);
		ostore_close(c);
		double frames = f1 - f0, calls = c1 - c0, requests = 3.0 * CO_T * CO_N;
		print_message("coalescing %s: %.0f requests, %.0f frames, %.0f node calls\n",
		              pass == 0 ? "on" : "off", requests, frames, calls);
		if (pass == 0) {
			/* Merged, and one node call per frame (a few spare: a retry, a probe). */
			assert_true(frames < requests);
			assert_true(calls <= frames + 2);
		} else {
			assert_true(frames >= requests && calls >= requests);
		}
		for (int t = 0; t < CO_T; t++)
			assert_int_equal(atomic_load(&w[t].done), 1);
		free(w);
	}
}

/* Router down: requests fail with ECONNECT (no router connected) within (retries+1) * timeout. */
static void test_router_down(void **state)
{
	(void)state;
	th_stop(K.router_pid);
	uint64_t t0 = now_ms();
	ostore_status st = ostore_put(K.c, "late", 4, "x", 1, NULL);
	uint64_t took = now_ms() - t0;
	assert_int_equal(st, OSTORE_ECONNECT); /* the dropped pipe is counted (REM_POST) */
	assert_true(took < (RETRIES + 1) * TIMEOUT_MS + 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_overwrite_delete),
		cmocka_unit_test(test_binary_ids),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_batch_500),
		cmocka_unit_test(test_threads_submit),
		cmocka_unit_test(test_scan_exactly_once),
		cmocka_unit_test(test_stats_total),
		cmocka_unit_test(test_coalesce_on_off),
		cmocka_unit_test(test_node_down),
		cmocka_unit_test(test_router_down),
	};
	int failed = cmocka_run_group_tests(tests, cluster_up, cluster_down);
	return failed ? 1 : 0;
}
