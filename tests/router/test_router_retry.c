/*
 * test_router_retry.c - the router's retries while slots move (rebalance): a real
 * orderstore-router in front of two in-process fake nodes (fake_node.h), driven through
 * liborderstore. The fakes answer EMIGRATING (slot frozen for a move's last catch-up) or
 * EMOVED (slot moved, with a newer map to fetch) on demand:
 *
 *   client ──▶ router (--timeout-ms 1000) ──▶ fake A (shard 0) / fake B (shard 1)
 *
 * - frozen for ~100 ms, then served: the PUT returns OK well within the client's timeout;
 * - frozen for good: the client gets OSTORE_EMIGRATING just before its timeout, no hang;
 * - moved: A answers EMOVED and serves a map in which the slot is B's; the router fetches
 *   it and the write lands on B, also while B itself says "moved" for a moment.
 * The router's counters for both kinds of retry are read from its /metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <orderstore.h>

#include "fake_node.h"
#include "harness.h"
#include "map.h"
#include "slot.h"
#include "util.h"

#define ROUTER_TIMEOUT_MS 1000
#define CLIENT_TIMEOUT_MS 3000
#define SHORT_TIMEOUT_MS 1200

static struct {
	char *dir;
	char node_url[2][64];
	char router_url[64];
	int metrics_port;
	pid_t router_pid;
	os_map *map;
	fake_node *fake[2];
	ostore_client *c;
	char id[2][32]; /* an ID of shard 0 (fake A) and one of shard 1 (fake B), epoch 1 */
} g;

static ostore_client *open_client(uint32_t timeout_ms)
{
	ostore_options o;
	ostore_options_init(&o);
	const char *routers[1] = {g.router_url};
	o.routers = routers;
	o.nrouters = 1;
	o.timeout_ms = timeout_ms;
	o.retries = 0; /* what the router does, not the client's own retries */
	ostore_client *c = NULL;
	assert_int_equal(ostore_open(&o, &c), OSTORE_OK);
	return c;
}

static int setup(void **state)
{
	(void)state;
	g.dir = th_tmpdir("router-retry");
	const char *addrs[2];
	for (int i = 0; i < 2; i++) {
		snprintf(g.node_url[i], sizeof(g.node_url[i]), "%s", th_url(th_free_port()));
		addrs[i] = g.node_url[i];
	}
	snprintf(g.router_url, sizeof(g.router_url), "%s", th_url(th_free_port()));
	g.metrics_port = th_free_port();
	g.map = os_map_build_even(2, addrs, 0);
	assert_non_null(g.map);
	char mapf[512], err[256], log[512], tmo[16], maddr[32];
	snprintf(mapf, sizeof(mapf), "%s/map.json", g.dir);
	snprintf(log, sizeof(log), "%s/router.log", g.dir);
	snprintf(tmo, sizeof(tmo), "%d", ROUTER_TIMEOUT_MS);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", g.metrics_port);
	assert_int_equal(os_map_save_file(g.map, mapf, err, sizeof(err)), OSTORE_OK);
	for (int i = 0; i < 2; i++) {
		g.fake[i] = fake_node_start(g.node_url[i], g.map);
		assert_non_null(g.fake[i]);
	}
	const char *argv[] = {th_bin("router"), "--listen", g.router_url, "--map", mapf,
	                      "--timeout-ms", tmo, "--contexts", "16", "--metrics-addr", maddr,
	                      "--log-level", "debug", NULL};
	g.router_pid = th_spawn(argv, log);
	assert_int_equal(th_ping(g.router_url, 10000), 0);
	int have = 0;
	for (int k = 0; have != 3; k++) {
		char id[32];
		snprintf(id, sizeof(id), "order-%d", k);
		int sh = g.map->slot_shard[os_slot_of(id, strlen(id))];
		if (!(have & (1 << sh))) {
			memcpy(g.id[sh], id, sizeof(id));
			have |= 1 << sh;
		}
	}
	g.c = open_client(CLIENT_TIMEOUT_MS);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ostore_close(g.c);
	if (g.router_pid > 0)
		th_stop(g.router_pid);
	th_cleanup();
	for (int i = 0; i < 2; i++)
		fake_node_stop(g.fake[i]);
	os_map_unref(g.map);
	if (g.dir != NULL) {
		if (getenv("OSTORE_KEEP_TMP") == NULL)
			th_rmrf(g.dir);
		free(g.dir);
	}
	return 0;
}

static double router_metric(const char *series)
{
	char *text = th_http_get(g.metrics_port, "/metrics");
	assert_non_null(text);
	double v = th_metric(text, series);
	free(text);
	return v;
}

static uint64_t ms_since(uint64_t t0_ns)
{
	return (os_now_ns() - t0_ns) / 1000000u;
}

/* Frozen for ~100 ms, then served: OK well within the timeout, after several rounds. */
static void test_frozen_then_served(void **state)
{
	(void)state;
	assert_int_equal(ostore_put(g.c, g.id[0], strlen(g.id[0]), "before", 6, NULL), OSTORE_OK);
	double retries0 = router_metric("orderstore_router_migrating_retries_total");
	uint64_t frames0 = fake_node_frames(g.fake[0]);
	uint64_t applied0 = fake_node_applied(g.fake[0]);
	fake_node_mode(g.fake[0], FAKE_FROZEN, 100);
	uint64_t t0 = os_now_ns();
	uint64_t v = 0;
	assert_int_equal(ostore_put(g.c, g.id[0], strlen(g.id[0]), "during", 6, &v), OSTORE_OK);
	uint64_t ms = ms_since(t0);
	assert_true(v > 0);
	assert_true(ms >= 90);
	assert_true(ms < 1000);
	uint64_t frames = fake_node_frames(g.fake[0]) - frames0;
	assert_true(frames >= 3); /* 1, 2, 4 ... ms apart: several rounds in 100 ms */
	assert_true(frames < 60);
	assert_int_equal(fake_node_applied(g.fake[0]) - applied0, 1);
	assert_true(router_metric("orderstore_router_migrating_retries_total") >= retries0 + 2);

	/* A batch across both shards: the frozen item waits, the other is answered at once. */
	fake_node_mode(g.fake[0], FAKE_FROZEN, 100);
	ostore_item it[2] = {
		{.op = OSTORE_OP_PUT, .id = g.id[0], .id_len = strlen(g.id[0]), .value = "x",
		 .value_len = 1},
		{.op = OSTORE_OP_PUT, .id = g.id[1], .id_len = strlen(g.id[1]), .value = "y",
		 .value_len = 1},
	};
	t0 = os_now_ns();
	assert_int_equal(ostore_batch(g.c, it, 2), OSTORE_OK);
	assert_int_equal(it[0].status, OSTORE_OK);
	assert_int_equal(it[1].status, OSTORE_OK);
	assert_true(ms_since(t0) >= 90);
}

/* Frozen for good: the write keeps OSTORE_EMIGRATING, answered before the client's
 * timeout (so not OSTORE_ETIMEDOUT), after a bounded number of rounds. */
static void test_frozen_for_good(void **state)
{
	(void)state;
	ostore_client *c = open_client(SHORT_TIMEOUT_MS);
	uint64_t frames0 = fake_node_frames(g.fake[0]);
	fake_node_mode(g.fake[0], FAKE_FROZEN, UINT32_MAX);
	uint64_t t0 = os_now_ns();
	assert_int_equal(ostore_put(c, g.id[0], strlen(g.id[0]), "never", 5, NULL),
	                 OSTORE_EMIGRATING);
	uint64_t ms = ms_since(t0);
	assert_true(ms >= SHORT_TIMEOUT_MS / 2);
	assert_true(ms < SHORT_TIMEOUT_MS);
	uint64_t frames = fake_node_frames(g.fake[0]) - frames0;
	assert_true(frames >= 8);
	assert_true(frames <= 40); /* backoff capped at 50 ms: about 27 in 1050 ms */
	/* Reads of a frozen slot are served as usual (the fake finds nothing), not retried. */
	t0 = os_now_ns();
	assert_int_equal(ostore_get(c, g.id[0], strlen(g.id[0]), NULL, NULL, NULL),
	                 OSTORE_ENOTFOUND);
	assert_true(ms_since(t0) < 100);
	fake_node_mode(g.fake[0], FAKE_SERVE, UINT32_MAX);
	assert_int_equal(ostore_put(c, g.id[0], strlen(g.id[0]), "thawed", 6, NULL), OSTORE_OK);
	ostore_close(c);
}

/* Moved: A answers EMOVED with an epoch-2 map that gives the slot to B, and B says
 * "moved" itself for its first 30 ms (it has not seen epoch 2 yet). The router fetches
 * the map, backs off while both say moved, and the write lands on B exactly once. */
static void test_moved_refresh(void **state)
{
	(void)state;
	const char *id = g.id[0];
	uint16_t slot = os_slot_of(id, strlen(id));
	os_map *m2 = os_map_clone(g.map);
	assert_non_null(m2);
	m2->epoch = 2;
	m2->slot_shard[slot] = 1;
	double moved0 = router_metric("orderstore_router_moved_redirects_total");
	uint64_t applied_a = fake_node_applied(g.fake[0]);
	uint64_t applied_b = fake_node_applied(g.fake[1]);
	fake_node_set_map(g.fake[0], m2);
	fake_node_mode(g.fake[0], FAKE_MOVED, UINT32_MAX);
	fake_node_mode(g.fake[1], FAKE_MOVED, 30);
	uint64_t t0 = os_now_ns();
	assert_int_equal(ostore_put(g.c, id, strlen(id), "moved", 5, NULL), OSTORE_OK);
	assert_true(ms_since(t0) < 1000);
	fake_node_set_map(g.fake[1], m2);
	assert_int_equal(fake_node_applied(g.fake[0]), applied_a);
	assert_int_equal(fake_node_applied(g.fake[1]) - applied_b, 1);
	assert_true(fake_node_map_gets(g.fake[0]) >= 1);
	assert_true(router_metric("orderstore_router_moved_redirects_total") >= moved0 + 2);
	assert_true(router_metric("orderstore_map_epoch") == 2);
	/* From now on the router sends that slot to B directly. */
	uint64_t frames_a = fake_node_frames(g.fake[0]);
	assert_int_equal(ostore_put(g.c, id, strlen(id), "direct", 6, NULL), OSTORE_OK);
	assert_int_equal(fake_node_frames(g.fake[0]), frames_a);
	os_map_unref(m2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frozen_then_served),
		cmocka_unit_test(test_frozen_for_good),
		cmocka_unit_test(test_moved_refresh),
	};
	return cmocka_run_group_tests(tests, setup, teardown) ? 1 : 0;
}
