/*
 * test_overload.c - limits and overload isolation, end to end: 3 real nodes (one shard
 * each), real routers started with the options under test, liborderstore clients.
 *
 *   stalled_node    node 0 SIGSTOPped: gets for shards 1 and 2 keep answering at once;
 *                   after the stall detector fires, shard 0 answers EUNAVAIL at once (not
 *                   after the call timeout), a mixed batch answers its other items OK;
 *                   SIGCONT: shard 0 serves again, the router's metrics show it all
 *   node_calls_cap  --max-node-calls 2, detector off, node 0 stopped: a third call for
 *                   shard 0 is refused with EOVERLOAD at once, shard 1 still serves
 *   conn_limit      router --max-connections 1 and node --max-connections 1: the extra
 *                   connection is refused, the first keeps working, the refusal is counted
 *
 * Timing assertions are generous bounds ("answered well before the call timeout"), not
 * measurements; bench/stall measures latency.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <orderstore.h>

#include "harness.h"
#include "map.h"
#include "slot.h"
#include "util.h"

#define NSHARDS 3
#define CALL_TIMEOUT_MS 6000 /* the router's per-call timeout: what a stall used to cost */
#define STALL_MS 200
#define FAST_MS 1500         /* "at once": far below CALL_TIMEOUT_MS, loose for ASan */

static th_cluster k;
static os_map *map;
static char ids[NSHARDS][8][32]; /* IDs placed on each shard */

static int shard_of(const char *id)
{
	return map->slot_shard[os_slot_of(id, strlen(id))];
}

static int setup(void **state)
{
	(void)state;
	th_cluster_start(&k, NSHARDS, "overload", 2000);
	char err[256];
	assert_int_equal(os_map_load_file(k.map_path, &map, err, sizeof(err)), OSTORE_OK);
	int have[NSHARDS] = {0};
	for (int i = 0, done = 0; done < NSHARDS; i++) {
		char id[32];
		snprintf(id, sizeof(id), "ov-%d", i);
		int s = shard_of(id);
		if (have[s] < 8) {
			memcpy(ids[s][have[s]++], id, sizeof(id));
			done += have[s] == 8;
		}
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NSHARDS; i++)
		th_kill(k.node_pid[i], SIGCONT);
	th_cluster_stop(&k);
	os_map_unref(map);
	return 0;
}

/* A router on the cluster's map with extra options (NULL-terminated); waits for PING. */
static pid_t start_router(char *url, size_t url_len, int metrics_port, const char *const *extra)
{
	snprintf(url, url_len, "%s", th_url(th_free_port()));
	char tmo[16], maddr[64], log[600];
	snprintf(tmo, sizeof(tmo), "%d", CALL_TIMEOUT_MS);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", metrics_port);
	snprintf(log, sizeof(log), "%s/router-%d.log", k.dir, metrics_port);
	const char *argv[32] = {th_bin("router"), "--listen", url, "--map", k.map_path,
	                        "--timeout-ms", tmo, "--metrics-addr", maddr};
	int n = 9;
	for (int i = 0; extra[i] != NULL && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid_t p = th_spawn(argv, log);
	assert_int_equal(th_ping(url, 15000), 0);
	return p;
}

static ostore_client *open_client(const char *url, uint32_t timeout_ms, uint32_t co_items)
{
	ostore_options o;
	ostore_options_init(&o);
	const char *routers[] = {url};
	o.routers = routers;
	o.nrouters = 1;
	o.timeout_ms = timeout_ms;
	o.retries = 0;
	o.coalesce_max_items = co_items;
	ostore_client *c = NULL;
	assert_int_equal(ostore_open(&o, &c), OSTORE_OK);
	return c;
}

static int get(ostore_client *c, const char *id, uint64_t *ms)
{
	void *v = NULL;
	size_t len = 0;
	uint64_t ver = 0, t0 = os_now_ns();
	int st = ostore_get(c, id, strlen(id), &v, &len, &ver);
	if (ms != NULL)
		*ms = (os_now_ns() - t0) / 1000000u;
	ostore_free(v);
	return st;
}

static double metric(int port, const char *series)
{
	char *text = th_http_get(port, "/metrics");
	double v = text != NULL ? th_metric(text, series) : -1;
	free(text);
	return v;
}

static void put_all(ostore_client *c)
{
	for (int s = 0; s < NSHARDS; s++)
		for (int i = 0; i < 8; i++)
			assert_int_equal(ostore_put(c, ids[s][i], strlen(ids[s][i]), "v", 1, NULL), OSTORE_OK);
}

/* Completion of an async get: records its status. */
typedef struct pending {
	ostore_item it;
	_Atomic int st; /* -1 until done */
} pending;

static void pending_done(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	(void)items;
	(void)n;
	pending *p = arg;
	ostore_free(p->it.out_value);
	p->it.out_value = NULL;
	atomic_store(&p->st, st == OSTORE_OK ? (int)p->it.status : (int)st);
}

static void submit_get(ostore_client *c, pending *p, const char *id)
{
	memset(p, 0, sizeof(*p));
	atomic_store(&p->st, -1);
	p->it = (ostore_item){.op = OSTORE_OP_GET, .id = id, .id_len = strlen(id)};
	assert_int_equal(ostore_submit(c, &p->it, 1, pending_done, p), OSTORE_OK);
}

static int wait_pending(pending *p, int timeout_ms)
{
	for (int t = 0; t < timeout_ms && atomic_load(&p->st) < 0; t += 10)
		usleep(10000);
	return atomic_load(&p->st);
}

static void test_stalled_node(void **state)
{
	(void)state;
	th_kill(k.node_pid[0], SIGCONT);
	char url[64];
	int mport = th_free_port();
	char stall[16];
	snprintf(stall, sizeof(stall), "%d", STALL_MS);
	const char *extra[] = {"--stall-ms", stall, NULL};
	pid_t rp = start_router(url, sizeof(url), mport, extra);
	ostore_client *c = open_client(url, 10000, 0);
	put_all(c);

	th_kill(k.node_pid[0], SIGSTOP);
	pending stuck;
	submit_get(c, &stuck, ids[0][0]); /* waits for the stalled node */
	/* Other shards answer while it waits, and the whole time around the detection. */
	uint64_t t0 = os_now_ns();
	int n = 0;
	while (os_now_ns() - t0 < (uint64_t)(4 * STALL_MS) * 1000000u) {
		uint64_t ms;
		assert_int_equal(get(c, ids[1 + n % 2][n % 8], &ms), OSTORE_OK);
		assert_true(ms < FAST_MS);
		n++;
	}
	/* The waiting call was aborted by the detector, long before the call timeout. */
	assert_int_equal(wait_pending(&stuck, FAST_MS), OSTORE_EUNAVAIL);
	assert_true((os_now_ns() - t0) / 1000000u < CALL_TIMEOUT_MS / 2);
	assert_true(metric(mport, "orderstore_router_node_stalled{node=\"0\"}") == 1);
	assert_true(metric(mport, "orderstore_router_node_stalls_total{node=\"0\"}") >= 1);

	/* Now shard 0 answers EUNAVAIL at once; a mixed batch answers the others. */
	uint64_t ms;
	assert_int_equal(get(c, ids[0][1], &ms), OSTORE_EUNAVAIL);
	assert_true(ms < FAST_MS);
	ostore_item b[NSHARDS];
	for (int s = 0; s < NSHARDS; s++)
		b[s] = (ostore_item){.op = OSTORE_OP_GET, .id = ids[s][2], .id_len = strlen(ids[s][2])};
	t0 = os_now_ns();
	assert_int_equal(ostore_batch(c, b, NSHARDS), OSTORE_OK);
	assert_true((os_now_ns() - t0) / 1000000u < FAST_MS);
	assert_int_equal(b[0].status, OSTORE_EUNAVAIL);
	assert_int_equal(b[1].status, OSTORE_OK);
	assert_int_equal(b[2].status, OSTORE_OK);
	for (int s = 0; s < NSHARDS; s++)
		ostore_free(b[s].out_value);
	assert_true(metric(mport, "orderstore_router_node_stalled_refusals_total{node=\"0\"}") >= 2);

	/* SIGCONT: the next PING is answered and shard 0 serves again. */
	th_kill(k.node_pid[0], SIGCONT);
	int st = OSTORE_EUNAVAIL;
	for (int i = 0; i < 100 && st != OSTORE_OK; i++) {
		st = get(c, ids[0][3], NULL);
		if (st != OSTORE_OK)
			usleep(50000);
	}
	assert_int_equal(st, OSTORE_OK);
	assert_true(metric(mport, "orderstore_router_node_stalled{node=\"0\"}") == 0);
	for (int s = 0; s < NSHARDS; s++)
		assert_int_equal(get(c, ids[s][4], NULL), OSTORE_OK);
	ostore_close(c);
	assert_int_equal(th_stop(rp), 0);
}

static void test_node_calls_cap(void **state)
{
	(void)state;
	th_kill(k.node_pid[0], SIGCONT);
	char url[64];
	int mport = th_free_port();
	const char *extra[] = {"--stall-ms", "0", "--max-node-calls", "2", NULL};
	pid_t rp = start_router(url, sizeof(url), mport, extra);
	ostore_client *c = open_client(url, 10000, 1); /* no coalescing: one call per get */
	put_all(c);

	th_kill(k.node_pid[0], SIGSTOP);
	pending p[2];
	submit_get(c, &p[0], ids[0][0]);
	submit_get(c, &p[1], ids[0][1]);
	/* both calls out at the router (a loaded machine may take a while to get there) */
	for (int i = 0; i < 200 && metric(mport, "orderstore_router_node_inflight{node=\"0\"}") < 2; i++)
		usleep(50000);
	double inflight = metric(mport, "orderstore_router_node_inflight{node=\"0\"}");
	if (inflight != 2)
		fail_msg("calls in flight to node 0: %g, gets: %d %d", inflight, atomic_load(&p[0].st),
		         atomic_load(&p[1].st));
	uint64_t ms;
	assert_int_equal(get(c, ids[0][2], &ms), OSTORE_EOVERLOAD);
	assert_true(ms < FAST_MS);
	assert_int_equal(get(c, ids[1][0], &ms), OSTORE_OK);
	assert_true(ms < FAST_MS);
	assert_true(metric(mport, "orderstore_router_node_overload_refusals_total{node=\"0\"}") >= 1);
	th_kill(k.node_pid[0], SIGCONT);
	assert_int_equal(wait_pending(&p[0], CALL_TIMEOUT_MS), OSTORE_OK);
	assert_int_equal(wait_pending(&p[1], CALL_TIMEOUT_MS), OSTORE_OK);
	assert_int_equal(get(c, ids[0][2], NULL), OSTORE_OK);
	ostore_close(c);
	assert_int_equal(th_stop(rp), 0);
}

static void test_conn_limit(void **state)
{
	(void)state;
	th_kill(k.node_pid[0], SIGCONT);
	char url[64];
	int mport = th_free_port();
	const char *extra[] = {"--max-connections", "1", NULL};
	pid_t rp = start_router(url, sizeof(url), mport, extra);
	usleep(200000); /* start_router's PING connection is gone */
	ostore_client *a = open_client(url, 5000, 0);
	assert_int_equal(get(a, ids[1][0], NULL), OSTORE_OK);
	ostore_client *b = open_client(url, 1000, 0);
	int st = get(b, ids[1][0], NULL);
	assert_true(st == OSTORE_ECONNECT || st == OSTORE_ETIMEDOUT);
	assert_int_equal(get(a, ids[2][0], NULL), OSTORE_OK); /* the first goes on */
	assert_true(metric(mport, "orderstore_connections_refused_total") >= 1);
	assert_true(metric(mport, "orderstore_max_connections") == 1);
	ostore_close(b);
	ostore_close(a);
	/* When the first leaves, a new client gets its place. */
	usleep(200000);
	ostore_client *d = open_client(url, 3000, 0);
	assert_int_equal(get(d, ids[0][0], NULL), OSTORE_OK);
	ostore_close(d);
	assert_int_equal(th_stop(rp), 0);

	/* A node with --max-connections 1: the router's connection is served, a second
	 * (PING from here) is refused, the node stays up. The cluster's own router goes
	 * first, so that the router below holds the node's one connection. */
	th_kill(k.router_pid, SIGKILL);
	th_wait_exit(k.router_pid, 5000);
	th_kill(k.node_pid[2], SIGTERM);
	assert_true(th_wait_exit(k.node_pid[2], 10000) >= 0);
	char data[600], log[600];
	snprintf(data, sizeof(data), "%s/node-2", k.dir);
	snprintf(log, sizeof(log), "%s/node-2-limited.log", k.dir);
	const char *argv[] = {th_bin("node"), "--id", "2", "--listen", k.node_url[2], "--data", data,
	                      "--map", k.map_path, "--no-sync", "--max-connections", "1", NULL};
	k.node_pid[2] = th_spawn(argv, log);
	assert_int_equal(th_ping(k.node_url[2], 15000), 0); /* the one connection */
	usleep(200000);
	pid_t rp2 = start_router(url, sizeof(url), th_free_port(), (const char *[]){NULL});
	ostore_client *e = open_client(url, 3000, 0);
	assert_int_equal(get(e, ids[2][1], NULL), OSTORE_OK); /* router holds the one */
	assert_int_not_equal(th_ping(k.node_url[2], 1000), 0);  /* a second is refused */
	assert_int_equal(get(e, ids[2][1], NULL), OSTORE_OK);
	ostore_close(e);
	assert_int_equal(th_stop(rp2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_node),
		cmocka_unit_test(test_node_calls_cap),
		cmocka_unit_test(test_conn_limit),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	return failed ? 1 : 0;
}
