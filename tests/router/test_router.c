/*
 * test_router.c - orderstore-router end to end: two real nodes, one or two real routers,
 * raw frames over nng (tests/support/harness.h). The tests share one cluster and run in
 * order: data, bad frames, a second router, STATS, SCAN, a map change that the router
 * must follow, then a killed node, then a clean stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"
#include "map.h"
#include "slot.h"
#include "util.h"
#include "wire.h"

#define ROUTER_TIMEOUT_MS 1000
#define REQ_TIMEOUT_MS 10000
#define NIDS 64

static struct {
	char *dir;
	char node_url[2][64];
	char router_url[2][64];
	pid_t node_pid[2];
	pid_t router_pid[2];
	os_map *map;
	char ids[2][NIDS][32]; /* IDs placed in shard 0 / shard 1 by the epoch-1 map */
} g;

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", g.dir, name);
}

static pid_t start_router(int i, const char *seed)
{
	char log[512], mapf[512], tmo[16];
	path_in(log, sizeof(log), i == 0 ? "router0.log" : "router1.log");
	path_in(mapf, sizeof(mapf), "map.json");
	snprintf(tmo, sizeof(tmo), "%d", ROUTER_TIMEOUT_MS);
	const char *argv[] = {th_bin("router"), "--listen", g.router_url[i],
	                      seed ? "--seed" : "--map", seed ? seed : mapf,
	                      "--timeout-ms", tmo, "--contexts", "16", "--log-level", "debug", NULL};
	pid_t p = th_spawn(argv, log);
	assert_int_equal(th_ping(g.router_url[i], REQ_TIMEOUT_MS), 0);
	return p;
}

static int setup(void **state)
{
	(void)state;
	g.dir = th_tmpdir("router");
	const char *addrs[2];
	for (int i = 0; i < 2; i++) {
		snprintf(g.node_url[i], sizeof(g.node_url[i]), "%s", th_url(th_free_port()));
		snprintf(g.router_url[i], sizeof(g.router_url[i]), "%s", th_url(th_free_port()));
		addrs[i] = g.node_url[i];
	}
	g.map = os_map_build_even(2, addrs, 0);
	assert_non_null(g.map);
	char mapf[512], err[256];
	path_in(mapf, sizeof(mapf), "map.json");
	assert_int_equal(os_map_save_file(g.map, mapf, err, sizeof(err)), OSTORE_OK);
	for (int i = 0; i < 2; i++) {
		char data[512], log[512], id[8];
		snprintf(data, sizeof(data), "%s/node-%d", g.dir, i);
		snprintf(log, sizeof(log), "%s/node-%d.log", g.dir, i);
		snprintf(id, sizeof(id), "%d", i);
		const char *argv[] = {th_bin("node"), "--id", id, "--listen", g.node_url[i],
		                      "--data", data, "--map", mapf, "--no-sync", NULL};
		g.node_pid[i] = th_spawn(argv, log);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(th_ping(g.node_url[i], REQ_TIMEOUT_MS), 0);
	g.router_pid[0] = start_router(0, NULL);
	int have[2] = {0, 0};
	for (int k = 0; have[0] < NIDS || have[1] < NIDS; k++) {
		char id[32];
		snprintf(id, sizeof(id), "order-%d", k);
		int sh = g.map->slot_shard[os_slot_of(id, strlen(id))];
		if (have[sh] < NIDS)
			memcpy(g.ids[sh][have[sh]++], id, sizeof(id));
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_cleanup();
	os_map_unref(g.map);
	if (g.dir != NULL) {
		if (getenv("OSTORE_KEEP_TMP") == NULL)
			th_rmrf(g.dir);
		free(g.dir);
	}
	return 0;
}

/* ---- frames ---- */

typedef struct reply {
	void *raw;
	size_t len;
	os_hdr h;
	const uint8_t *body;
	size_t blen;
} reply;

static void request(const char *url, const os_buf *b, reply *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(th_request(url, b->data, b->len, &r->raw, &r->len, REQ_TIMEOUT_MS), 0);
	assert_int_equal(os_hdr_get(r->raw, r->len, &r->h, &r->body, &r->blen), OSTORE_OK);
	assert_true(r->h.kind & OS_REPLY_BIT);
}

static void hdr_start(os_buf *b, uint8_t kind, uint16_t count)
{
	os_buf_init(b);
	os_hdr h = {.kind = kind, .count = count, .timeout_ms = 5000, .client_id = 0x1234};
	assert_int_equal(os_hdr_put(b, &h), OSTORE_OK);
}

static uint64_t next_seq = 1;

static void add_item(os_buf *b, uint8_t op, const char *id, const char *value)
{
	os_item it = {.op = op, .id = (const uint8_t *)id, .id_len = (uint32_t)strlen(id),
	              .value = (const uint8_t *)value, .value_len = value ? (uint32_t)strlen(value) : 0,
	              .seq = op == OSTORE_OP_GET ? 0 : next_seq++};
	assert_int_equal(os_item_put(b, &it), OSTORE_OK);
}

/* Run one DATA request of @n items (ops/ids/values) on @url; results into @res. */
static void data_req(const char *url, size_t n, const uint8_t *ops, const char *const *ids,
                     const char *const *values, os_result *res, reply *r)
{
	os_buf b;
	hdr_start(&b, OS_KIND_DATA, (uint16_t)n);
	for (size_t i = 0; i < n; i++)
		add_item(&b, ops[i], ids[i], values ? values[i] : NULL);
	request(url, &b, r);
	os_buf_fini(&b);
	assert_int_equal(r->h.kind, OS_KIND_DATA | OS_REPLY_BIT);
	assert_int_equal(r->h.status, OSTORE_OK);
	assert_int_equal(r->h.count, n);
	assert_int_equal(os_results_get(r->body, r->blen, (uint16_t)n, res), OSTORE_OK);
}

static void assert_value(const os_result *x, const char *v)
{
	assert_int_equal(x->status, OSTORE_OK);
	assert_int_equal(x->value_len, strlen(v));
	assert_memory_equal(x->value, v, strlen(v));
}

/* ---- tests ---- */

static void test_put_get_both_shards(void **state)
{
	(void)state;
	const char *ids[6] = {g.ids[0][0], g.ids[1][0], g.ids[0][1], g.ids[1][1], g.ids[0][2],
	                      g.ids[1][2]};
	const char *vals[6] = {"a0", "b0", "a1", "b1", "a2", "b2"};
	uint8_t puts[6], gets[7];
	for (int i = 0; i < 6; i++)
		puts[i] = OSTORE_OP_PUT;
	for (int i = 0; i < 7; i++)
		gets[i] = OSTORE_OP_GET;
	os_result res[7];
	reply r;
	data_req(g.router_url[0], 6, puts, ids, vals, res, &r);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(res[i].status, OSTORE_OK);
		assert_true(res[i].version > 0);
	}
	assert_int_equal(r.h.epoch, 1);
	free(r.raw);

	/* Read back in another order, plus a missing ID: results follow the request order. */
	const char *gids[7] = {ids[5], ids[0], "no-such-order", ids[3], ids[2], ids[1], ids[4]};
	const char *gvals[7] = {"b2", "a0", NULL, "b1", "a1", "b0", "a2"};
	data_req(g.router_url[0], 7, gets, gids, NULL, res, &r);
	for (int i = 0; i < 7; i++) {
		if (gvals[i] == NULL)
			assert_int_equal(res[i].status, OSTORE_ENOTFOUND);
		else
			assert_value(&res[i], gvals[i]);
	}
	free(r.raw);
}

static void expect_error(const void *frame, size_t len)
{
	void *raw = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(g.router_url[0], frame, len, &raw, &rlen, REQ_TIMEOUT_MS), 0);
	assert_true(rlen >= OS_HDR_SIZE);
	uint16_t status = os_ld16((const uint8_t *)raw + 4);
	uint16_t count = os_ld16((const uint8_t *)raw + 6);
	assert_int_not_equal(status, OSTORE_OK);
	assert_int_equal(count, 0);
	free(raw);
}

static void test_garbage_frames(void **state)
{
	(void)state;
	expect_error("x", 1);
	expect_error("hello, this is not a frame at all......", 40);
	uint8_t junk[64];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	expect_error(junk, sizeof(junk));

	os_buf b;
	hdr_start(&b, OS_KIND_DATA, 0); /* DATA with no items */
	expect_error(b.data, b.len);
	os_buf_fini(&b);
	hdr_start(&b, OS_KIND_DATA, 3); /* says 3 items, carries 1 */
	add_item(&b, OSTORE_OP_PUT, "x", "y");
	expect_error(b.data, b.len);
	os_buf_fini(&b);
	hdr_start(&b, OS_KIND_DATA, 1); /* truncated item */
	add_item(&b, OSTORE_OP_PUT, "some-order", "some-value");
	expect_error(b.data, b.len - 3);
	os_buf_fini(&b);
	hdr_start(&b, 0x3F, 0); /* unknown kind */
	expect_error(b.data, b.len);
	os_buf_fini(&b);
	hdr_start(&b, OS_KIND_PING | OS_REPLY_BIT, 0); /* a reply sent as a request */
	expect_error(b.data, b.len);
	os_buf_fini(&b);
	hdr_start(&b, OS_KIND_SCAN, 0); /* SCAN with an empty body */
	expect_error(b.data, b.len);
	os_buf_fini(&b);

	/* Still serving. */
	assert_int_equal(th_ping(g.router_url[0], REQ_TIMEOUT_MS), 0);
	const char *id = g.ids[1][0];
	uint8_t op = OSTORE_OP_GET;
	os_result res;
	reply r;
	data_req(g.router_url[0], 1, &op, &id, NULL, &res, &r);
	assert_value(&res, "b0");
	free(r.raw);
}

static void test_two_routers(void **state)
{
	(void)state;
	g.router_pid[1] = start_router(1, g.node_url[1]); /* second router: map from a seed */
	const char *ids[2] = {g.ids[0][10], g.ids[1][10]};
	const char *vals[2] = {"via-r1-a", "via-r1-b"};
	uint8_t puts[2] = {OSTORE_OP_PUT, OSTORE_OP_PUT}, gets[2] = {OSTORE_OP_GET, OSTORE_OP_GET};
	os_result res[2];
	reply r;
	data_req(g.router_url[1], 2, puts, ids, vals, res, &r);
	assert_int_equal(res[0].status, OSTORE_OK);
	assert_int_equal(res[1].status, OSTORE_OK);
	free(r.raw);
	data_req(g.router_url[0], 2, gets, ids, NULL, res, &r);
	assert_value(&res[0], "via-r1-a");
	assert_value(&res[1], "via-r1-b");
	free(r.raw);
}

static void test_stats(void **state)
{
	(void)state;
	os_buf b;
	hdr_start(&b, OS_KIND_STATS, 0);
	reply r;
	request(g.router_url[0], &b, &r);
	os_buf_fini(&b);
	assert_int_equal(r.h.kind, OS_KIND_STATS | OS_REPLY_BIT);
	assert_int_equal(r.h.status, OSTORE_OK);
	assert_int_equal(r.h.count, 2);
	os_stats_entry e[2];
	assert_int_equal(os_stats_entries_get(r.body, r.blen, 2, e), OSTORE_OK);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(e[i].shard, i);
		assert_int_equal(e[i].slots, 2048);
		assert_int_equal(e[i].status, OSTORE_OK);
		assert_int_equal(e[i].orders, 4); /* 3 from the first test, 1 via the second router */
		assert_true(e[i].lsn >= 4);
	}
	free(r.raw);
}

static void test_scan(void **state)
{
	(void)state;
	uint16_t cursor = 0;
	uint8_t after[OSTORE_MAX_ID_LEN];
	uint16_t after_len = 0;
	int seen = 0, pages = 0, last_slot = -1;
	while (cursor < OSTORE_SLOTS) {
		os_buf b;
		hdr_start(&b, OS_KIND_SCAN, 0);
		os_scan_req q = {.slot_begin = cursor, .slot_end = OSTORE_SLOTS, .limit = 3,
		                 .after = after, .after_len = after_len};
		assert_int_equal(os_scan_req_put(&b, &q), OSTORE_OK);
		reply r;
		request(g.router_url[0], &b, &r);
		os_buf_fini(&b);
		assert_int_equal(r.h.kind, OS_KIND_SCAN | OS_REPLY_BIT);
		assert_int_equal(r.h.status, OSTORE_OK);
		os_scan_entry ent[8];
		assert_true(r.h.count <= 3);
		uint16_t next_slot, next_len;
		const uint8_t *next_after;
		assert_int_equal(os_scan_reply_get(r.body, r.blen, r.h.count, &next_slot, &next_after,
		                                   &next_len, ent),
		                 OSTORE_OK);
		for (uint16_t i = 0; i < r.h.count; i++) {
			int slot = os_slot_of(ent[i].id, ent[i].id_len);
			assert_true(slot >= last_slot); /* slot order */
			last_slot = slot;
			seen++;
		}
		/* The router forwards one shard's run only: 0..2047, then 2048..4095. */
		assert_true(next_slot > cursor || next_len > 0);
		assert_true(next_slot <= 2048 || cursor >= 2048);
		cursor = next_slot;
		after_len = next_len;
		if (next_len)
			memcpy(after, next_after, next_len);
		free(r.raw);
		assert_true(++pages < 100);
	}
	assert_int_equal(seen, 8);
}

static uint64_t router_epoch(const char *url)
{
	os_buf b;
	hdr_start(&b, OS_KIND_MAP_GET, 0);
	reply r;
	request(url, &b, &r);
	os_buf_fini(&b);
	assert_int_equal(r.h.status, OSTORE_OK);
	os_map *m = NULL;
	assert_int_equal(os_map_decode(r.body, r.blen, &m), OSTORE_OK);
	uint64_t e = m->epoch;
	os_map_unref(m);
	free(r.raw);
	return e;
}

static void test_map_change_followed(void **state)
{
	(void)state;
	/* Move the slot of a shard-0 ID to shard 1 in epoch 2, told to the nodes only. */
	const char *id = g.ids[0][20];
	uint16_t slot = os_slot_of(id, strlen(id));
	os_map *m2 = os_map_clone(g.map);
	assert_non_null(m2);
	m2->epoch = 2;
	m2->slot_shard[slot] = 1;
	os_buf blob;
	os_buf_init(&blob);
	assert_int_equal(os_map_encode(m2, &blob), OSTORE_OK);
	/* The source gives the slot away only as a rebalance does (the guarded switch,
	 * common/wire.h MIG_LEASE): holding its migration lease (the header client_id of
	 * hdr_start) with the slot frozen. */
	{
		os_buf b;
		hdr_start(&b, OS_KIND_MIG_LEASE, 0);
		assert_int_equal(os_mig_lease_req_put(&b, 0x1234, 60000, 0), OSTORE_OK);
		reply r;
		request(g.node_url[0], &b, &r);
		assert_int_equal(r.h.status, OSTORE_OK);
		free(r.raw);
		os_buf_fini(&b);
		hdr_start(&b, OS_KIND_MIG_FREEZE, 0);
		assert_int_equal(os_mig_freeze_req_put(&b, OS_MIG_FREEZE, slot, (uint16_t)(slot + 1)),
		                 OSTORE_OK);
		request(g.node_url[0], &b, &r);
		assert_int_equal(r.h.status, OSTORE_OK);
		free(r.raw);
		os_buf_fini(&b);
	}
	for (int i = 0; i < 2; i++) {
		os_buf b;
		hdr_start(&b, OS_KIND_MAP_SET, 0);
		assert_int_equal(os_buf_put(&b, blob.data, blob.len), 0);
		reply r;
		request(g.node_url[i], &b, &r);
		assert_int_equal(r.h.status, OSTORE_OK);
		free(r.raw);
		os_buf_fini(&b);
	}
	os_buf_fini(&blob);
	assert_int_equal(router_epoch(g.router_url[0]), 1);

	/* The router still routes by epoch 1: node 0 answers "moved", the router follows. */
	const char *ids[2] = {id, g.ids[1][21]};
	const char *vals[2] = {"moved-value", "stays"};
	uint8_t puts[2] = {OSTORE_OP_PUT, OSTORE_OP_PUT}, gets[2] = {OSTORE_OP_GET, OSTORE_OP_GET};
	os_result res[2];
	reply r;
	data_req(g.router_url[0], 2, puts, ids, vals, res, &r);
	assert_int_equal(res[0].status, OSTORE_OK);
	assert_int_equal(res[1].status, OSTORE_OK);
	assert_int_equal(r.h.epoch, 2);
	free(r.raw);
	assert_int_equal(router_epoch(g.router_url[0]), 2);

	/* The value lives on node 1 now (asked directly). */
	data_req(g.node_url[1], 1, gets, ids, NULL, res, &r);
	assert_value(&res[0], "moved-value");
	free(r.raw);
	data_req(g.router_url[0], 2, gets, ids, NULL, res, &r);
	assert_value(&res[0], "moved-value");
	assert_value(&res[1], "stays");
	free(r.raw);

	/* MAP_SET of an older map to the router is refused. */
	os_buf b, old;
	os_buf_init(&old);
	assert_int_equal(os_map_encode(g.map, &old), OSTORE_OK);
	hdr_start(&b, OS_KIND_MAP_SET, 0);
	assert_int_equal(os_buf_put(&b, old.data, old.len), 0);
	request(g.router_url[0], &b, &r);
	assert_int_equal(r.h.status, OSTORE_ESTALE);
	free(r.raw);
	os_buf_fini(&b);
	os_buf_fini(&old);
	os_map_unref(m2);
}

static void test_node_killed(void **state)
{
	(void)state;
	th_kill(g.node_pid[1], SIGKILL);
	th_wait_exit(g.node_pid[1], 5000);
	const char *ids[3] = {g.ids[0][0], g.ids[1][0], g.ids[0][1]};
	uint8_t gets[3] = {OSTORE_OP_GET, OSTORE_OP_GET, OSTORE_OP_GET};
	os_result res[3];
	reply r;
	uint64_t t0 = os_now_ns();
	data_req(g.router_url[0], 3, gets, ids, NULL, res, &r);
	uint64_t ms = (os_now_ns() - t0) / 1000000u;
	assert_value(&res[0], "a0");
	assert_int_equal(res[1].status, OSTORE_EUNAVAIL);
	assert_value(&res[2], "a1");
	assert_true(ms < ROUTER_TIMEOUT_MS + 1500);
	free(r.raw);

	/* STATS: the dead shard is EUNAVAIL, the other answers. */
	os_buf b;
	hdr_start(&b, OS_KIND_STATS, 0);
	request(g.router_url[0], &b, &r);
	os_buf_fini(&b);
	os_stats_entry e[2];
	assert_int_equal(r.h.count, 2);
	assert_int_equal(os_stats_entries_get(r.body, r.blen, 2, e), OSTORE_OK);
	assert_int_equal(e[0].status, OSTORE_OK);
	assert_int_equal(e[1].status, OSTORE_EUNAVAIL);
	assert_int_equal(e[1].orders, 0);
	free(r.raw);
}

static void test_clean_stop_and_usage(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		int ws = th_stop(g.router_pid[i]);
		assert_true(WIFEXITED(ws));
		assert_int_equal(WEXITSTATUS(ws), 0);
	}
	const char *bad[][6] = {
		{th_bin("router"), NULL},
		{th_bin("router"), "--listen", "tcp://127.0.0.1:1", NULL},
		{th_bin("router"), "--listen", "tcp://127.0.0.1:1", "--seed", "tcp://x:1", "--contexts"},
		{th_bin("router"), "--listen", "tcp://127.0.0.1:1", "--timeout-ms", "0", NULL},
		{th_bin("router"), "--bogus", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[8] = {0};
		for (int k = 0; k < 6 && bad[i][k]; k++)
			argv[k] = bad[i][k];
		assert_int_equal(th_run(argv, NULL, 0, NULL, NULL, NULL, 5000), 2);
	}
	const char *help[] = {th_bin("router"), "--help", NULL};
	assert_int_equal(th_run(help, NULL, 0, NULL, NULL, NULL, 5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_both_shards),
		cmocka_unit_test(test_garbage_frames),
		cmocka_unit_test(test_two_routers),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_map_change_followed),
		cmocka_unit_test(test_node_killed),
		cmocka_unit_test(test_clean_stop_and_usage),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	return failed ? 1 : 0;
}
