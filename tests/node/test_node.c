/*
 * test_node.c - end-to-end tests of orderstore-node: a real node process on loopback,
 * raw frames over nng REQ (tests/support/harness.h), replies decoded with common/wire.h.
 *
 * Each test starts its own node on a fresh directory and port, with a map file written by
 * os_map_build_even + os_map_save_file, so tests do not depend on one another.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "buf.h"
#include "harness.h"
#include "map.h"
#include "slot.h"
#include "wire.h"

#define CLIENT_ID 0x1122334455667788ull
#define RPC_MS 10000

typedef struct node_fx {
	char *dir;
	char data[512], map_path[512], log_path[512];
	char url[64];
	pid_t pid;
	os_map *map;
} node_fx;

/* ---- process control ---- */

static void fx_write_map(node_fx *fx, uint16_t nshards)
{
	const char *addrs[2] = {fx->url, "tcp://127.0.0.1:1"};
	fx->map = os_map_build_even(nshards, addrs, 0);
	assert_non_null(fx->map);
	char err[256];
	assert_int_equal(os_map_save_file(fx->map, fx->map_path, err, sizeof(err)), OSTORE_OK);
}

static void fx_start(node_fx *fx, const char *extra1, const char *extra2)
{
	const char *argv[16] = {th_bin("node"), "--id", "0", "--listen", fx->url, "--data",
	                        fx->data, "--map", fx->map_path, "--no-sync", "--log-level",
	                        "debug"};
	int n = 12;
	if (extra1 != NULL)
		argv[n++] = extra1;
	if (extra2 != NULL)
		argv[n++] = extra2;
	argv[n] = NULL;
	fx->pid = th_spawn(argv, fx->log_path);
	assert_int_equal(th_ping(fx->url, 10000), 0);
}

static void fx_stop(node_fx *fx)
{
	int ws = th_stop(fx->pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	fx->pid = 0;
}

static node_fx *fx_new(uint16_t nshards, const char *extra1, const char *extra2)
{
	node_fx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx->dir = th_tmpdir("node");
	snprintf(fx->data, sizeof(fx->data), "%s/data", fx->dir);
	snprintf(fx->map_path, sizeof(fx->map_path), "%s/map.json", fx->dir);
	snprintf(fx->log_path, sizeof(fx->log_path), "%s/node.log", fx->dir);
	snprintf(fx->url, sizeof(fx->url), "%s", th_url(th_free_port()));
	fx_write_map(fx, nshards);
	fx_start(fx, extra1, extra2);
	return fx;
}

static void fx_free(node_fx *fx)
{
	if (fx->pid > 0)
		fx_stop(fx);
	os_map_unref(fx->map);
	th_rmrf(fx->dir);
	free(fx->dir);
	free(fx);
}

/* ---- frames ---- */

static void frame_begin(os_buf *b, uint8_t kind, uint16_t count)
{
	os_buf_init(b);
	os_hdr h = {.kind = kind, .count = count, .client_id = CLIENT_ID};
	assert_int_equal(os_hdr_put(b, &h), OSTORE_OK);
}

/* Raw item: no validation, so broken items can be built too. */
static void raw_item(os_buf *b, uint8_t op, const void *id, size_t id_len, const void *val,
                     size_t val_len, uint64_t seq, uint64_t expected)
{
	os_buf_put_u8(b, op);
	os_buf_put_u8(b, 0);
	os_buf_put_u16(b, (uint16_t)id_len);
	os_buf_put_u32(b, (uint32_t)val_len);
	os_buf_put_u64(b, seq);
	os_buf_put_u64(b, expected);
	os_buf_put(b, id, id_len);
	if (val_len > 0)
		os_buf_put(b, val, val_len);
	assert_false(b->oom);
}

typedef struct reply {
	uint8_t *raw;
	size_t len;
	os_hdr h;
	const uint8_t *body;
	size_t body_len;
	os_result res[64];
} reply;

static void rpc(node_fx *fx, const void *p, size_t len, reply *r)
{
	void *raw = NULL;
	memset(r, 0, sizeof(*r));
	assert_int_equal(th_request(fx->url, p, len, &raw, &r->len, RPC_MS), 0);
	r->raw = raw;
	assert_int_equal(os_hdr_get(r->raw, r->len, &r->h, &r->body, &r->body_len), OSTORE_OK);
	assert_int_equal(r->h.client_id, len >= 28 ? os_ld64((const uint8_t *)p + 20) : 0);
	if ((r->h.kind & 0x7F) == OS_KIND_DATA && r->h.status == 0 && r->h.count > 0) {
		assert_true(r->h.count <= 64);
		assert_int_equal(os_results_get(r->body, r->body_len, r->h.count, r->res), OSTORE_OK);
	}
}

static void rpc_buf(node_fx *fx, os_buf *b, reply *r)
{
	rpc(fx, b->data, b->len, r);
	os_buf_fini(b);
}

/* One-item DATA request; returns the item's status, fills version/value. */
static uint16_t op1(node_fx *fx, uint8_t op, const void *id, size_t id_len, const char *val,
                    uint64_t seq, uint64_t expected, uint64_t *version, char *out, size_t outsz)
{
	os_buf b;
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, op, id, id_len, val, val ? strlen(val) : 0, seq, expected);
	reply r;
	rpc_buf(fx, &b, &r);
	assert_int_equal(r.h.kind, OS_KIND_DATA | OS_REPLY_BIT);
	assert_int_equal(r.h.status, 0);
	assert_int_equal(r.h.count, 1);
	assert_int_equal(r.h.epoch, fx->map->epoch);
	if (version != NULL)
		*version = r.res[0].version;
	if (out != NULL) {
		assert_true(r.res[0].value_len < outsz);
		if (r.res[0].value_len > 0)
			memcpy(out, r.res[0].value, r.res[0].value_len);
		out[r.res[0].value_len] = '\0';
	}
	uint16_t st = r.res[0].status;
	free(r.raw);
	return st;
}

static uint64_t next_seq = 1;
#define PUT(fx, id, v, ver) op1(fx, OSTORE_OP_PUT, id, strlen(id), v, next_seq++, 0, ver, NULL, 0)
#define DEL(fx, id) op1(fx, OSTORE_OP_DEL, id, strlen(id), NULL, next_seq++, 0, NULL, NULL, 0)
#define CAS(fx, id, v, exp, ver) op1(fx, OSTORE_OP_CAS, id, strlen(id), v, next_seq++, exp, ver, NULL, 0)
#define GET(fx, id, ver, out) op1(fx, OSTORE_OP_GET, id, strlen(id), NULL, 0, 0, ver, out, sizeof(out))

static uint16_t status_only(node_fx *fx, const void *p, size_t len, uint8_t expect_kind)
{
	reply r;
	rpc(fx, p, len, &r);
	assert_int_equal(r.h.count, 0);
	assert_int_equal(r.h.kind, expect_kind | OS_REPLY_BIT);
	uint16_t st = r.h.status;
	free(r.raw);
	return st;
}

static void stats(node_fx *fx, os_stats_entry *e)
{
	os_buf b;
	frame_begin(&b, OS_KIND_STATS, 0);
	reply r;
	rpc_buf(fx, &b, &r);
	assert_int_equal(r.h.status, 0);
	assert_int_equal(r.h.count, 1);
	assert_int_equal(os_stats_entries_get(r.body, r.body_len, 1, e), OSTORE_OK);
	free(r.raw);
}

/* ---- tests ---- */

static void test_put_get_del_cas(void **state)
{
	(void)state;
	node_fx *fx = fx_new(1, NULL, NULL);
	uint64_t v1, v2, v3, v;
	char out[256];
	assert_int_equal(GET(fx, "order-1", &v, out), OSTORE_ENOTFOUND);
	assert_int_equal(PUT(fx, "order-1", "first", &v1), OSTORE_OK);
	assert_true(v1 > 0);
	assert_int_equal(GET(fx, "order-1", &v, out), OSTORE_OK);
	assert_string_equal(out, "first");
	assert_int_equal(v, v1);
	assert_int_equal(PUT(fx, "order-1", "second", &v2), OSTORE_OK);
	assert_true(v2 > v1);
	assert_int_equal(GET(fx, "order-1", &v, out), OSTORE_OK);
	assert_string_equal(out, "second");
	/* CAS with a stale version conflicts and writes nothing. */
	assert_int_equal(CAS(fx, "order-1", "third", v1, &v), OSTORE_ECONFLICT);
	assert_int_equal(GET(fx, "order-1", &v, out), OSTORE_OK);
	assert_string_equal(out, "second");
	assert_int_equal(CAS(fx, "order-1", "third", v2, &v3), OSTORE_OK);
	assert_true(v3 > v2);
	/* CAS create: expected 0 means "must not exist". */
	assert_int_equal(CAS(fx, "order-1", "x", 0, &v), OSTORE_ECONFLICT);
	assert_int_equal(CAS(fx, "order-2", "created", 0, &v), OSTORE_OK);
	assert_true(v > v3);
	assert_int_equal(CAS(fx, "order-3", "x", 5, &v), OSTORE_ENOTFOUND);
	/* Delete. */
	assert_int_equal(DEL(fx, "order-1"), OSTORE_OK);
	assert_int_equal(DEL(fx, "order-1"), OSTORE_ENOTFOUND);
	assert_int_equal(GET(fx, "order-1", &v, out), OSTORE_ENOTFOUND);
	assert_int_equal(GET(fx, "order-2", &v, out), OSTORE_OK);
	assert_string_equal(out, "created");

	/* A mixed frame (GET + PUT) answers in request order. */
	os_buf b;
	frame_begin(&b, OS_KIND_DATA, 3);
	raw_item(&b, OSTORE_OP_GET, "order-2", 7, NULL, 0, 0, 0);
	raw_item(&b, OSTORE_OP_PUT, "order-4", 7, "four", 4, next_seq++, 0);
	raw_item(&b, OSTORE_OP_GET, "order-4", 7, NULL, 0, 0, 0);
	reply r;
	rpc_buf(fx, &b, &r);
	assert_int_equal(r.h.count, 3);
	assert_int_equal(r.res[0].status, OSTORE_OK);
	assert_int_equal(r.res[1].status, OSTORE_OK);
	assert_int_equal(r.res[2].status, OSTORE_OK);
	assert_int_equal(r.res[2].version, r.res[1].version);
	assert_memory_equal(r.res[2].value, "four", 4);
	free(r.raw);
	fx_free(fx);
}

static void test_retry_dedup(void **state)
{
	(void)state;
	node_fx *fx = fx_new(1, NULL, NULL);
	os_buf b;
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_PUT, "retried", 7, "v1", 2, 4242, 0);
	reply r1, r2;
	rpc(fx, b.data, b.len, &r1);
	rpc(fx, b.data, b.len, &r2); /* the same request ID again */
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.raw, r2.raw, r1.len);
	assert_int_equal(r1.res[0].status, OSTORE_OK);
	os_buf_fini(&b);
	os_stats_entry e;
	stats(fx, &e);
	assert_int_equal(e.lsn, r1.res[0].version); /* applied once: one LSN */

	/* A CAS create retried answers its first result (OK), not ECONFLICT. */
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_CAS, "cas-retried", 11, "v", 1, 4243, 0);
	reply r3, r4;
	rpc(fx, b.data, b.len, &r3);
	rpc(fx, b.data, b.len, &r4);
	os_buf_fini(&b);
	assert_int_equal(r3.res[0].status, OSTORE_OK);
	assert_int_equal(r4.res[0].status, OSTORE_OK);
	assert_int_equal(r3.res[0].version, r4.res[0].version);
	/* Same seq from another client is another request. */
	frame_begin(&b, OS_KIND_DATA, 1);
	os_st64(b.data + 20, CLIENT_ID + 1);
	raw_item(&b, OSTORE_OP_PUT, "retried", 7, "v2", 2, 4242, 0);
	reply r5;
	rpc_buf(fx, &b, &r5);
	assert_int_equal(r5.res[0].status, OSTORE_OK);
	assert_true(r5.res[0].version > r3.res[0].version);
	free(r5.raw);
	free(r1.raw);
	free(r2.raw);
	free(r3.raw);
	free(r4.raw);
	fx_free(fx);
}

/* An ID whose slot is in [lo, hi). */
static void id_in_slots(char *buf, size_t sz, uint16_t lo, uint16_t hi)
{
	for (int i = 0;; i++) {
		snprintf(buf, sz, "probe-%d", i);
		uint16_t s = os_slot_of(buf, strlen(buf));
		if (s >= lo && s < hi)
			return;
	}
}

static void test_moved(void **state)
{
	(void)state;
	node_fx *fx = fx_new(2, NULL, NULL); /* node 0 owns slots 0..2047 */
	char mine[32], other[32], out[64];
	id_in_slots(mine, sizeof(mine), 0, 2048);
	id_in_slots(other, sizeof(other), 2048, 4096);
	uint64_t v;
	assert_int_equal(PUT(fx, mine, "m", &v), OSTORE_OK);
	assert_int_equal(GET(fx, mine, &v, out), OSTORE_OK);
	assert_int_equal(GET(fx, other, &v, out), OSTORE_EMOVED);
	assert_int_equal(PUT(fx, other, "o", &v), OSTORE_EMOVED);
	/* SCAN over a range the node does not own: frame status EMOVED. */
	os_buf b;
	frame_begin(&b, OS_KIND_SCAN, 0);
	os_scan_req q = {.slot_begin = 2000, .slot_end = 2100, .limit = 10};
	os_scan_req_put(&b, &q);
	reply r;
	rpc_buf(fx, &b, &r);
	assert_int_equal(r.h.status, OSTORE_EMOVED);
	free(r.raw);
	fx_free(fx);
}

static void test_garbage(void **state)
{
	(void)state;
	node_fx *fx = fx_new(1, "--max-value", "1000");
	uint64_t v0, v;
	char out[64];
	assert_int_equal(PUT(fx, "keep", "safe", &v0), OSTORE_OK);

	/* Random bytes of several lengths. */
	srand(7);
	for (int n = 0; n < 20; n++) {
		uint8_t junk[200];
		size_t len = (size_t)(rand() % (int)sizeof(junk));
		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)rand();
		reply r;
		rpc(fx, junk, len, &r);
		assert_true(r.h.status == OSTORE_EPROTO || r.h.status == OSTORE_EVERSION);
		assert_int_equal(r.h.count, 0);
		free(r.raw);
	}
	/* A valid PUT truncated at several lengths. */
	os_buf b;
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_PUT, "trunc", 5, "value", 5, next_seq++, 0);
	size_t cuts[] = {0, 1, 4, 31, 32, 33, 40, 56, b.len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		assert_int_equal(status_only(fx, b.data, cuts[i], cuts[i] >= 4 ? OS_KIND_DATA : 0),
		                 OSTORE_EPROTO);
	/* Trailing garbage after the items. */
	os_buf_put(&b, "xx", 2);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_DATA), OSTORE_EPROTO);
	os_buf_fini(&b);
	/* Other protocol version. */
	frame_begin(&b, OS_KIND_PING, 0);
	b.data[2] = 9;
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_PING), OSTORE_EVERSION);
	os_buf_fini(&b);
	/* Unknown kind, and a reply kind sent as a request. */
	frame_begin(&b, 77, 0);
	assert_int_equal(status_only(fx, b.data, b.len, 77), OSTORE_EBADOP);
	os_buf_fini(&b);
	/* Unknown op. */
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, 9, "x", 1, NULL, 0, next_seq++, 0);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_DATA), OSTORE_EBADOP);
	os_buf_fini(&b);
	/* id_len 0 and 257. */
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_PUT, "", 0, "v", 1, next_seq++, 0);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_DATA), OSTORE_EBADID);
	os_buf_fini(&b);
	char big_id[257];
	memset(big_id, 'i', sizeof(big_id));
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_PUT, big_id, 257, "v", 1, next_seq++, 0);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_DATA), OSTORE_EBADID);
	os_buf_fini(&b);
	/* A 256-byte ID is fine. */
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_PUT, big_id, 256, "v", 1, next_seq++, 0);
	reply r;
	rpc_buf(fx, &b, &r);
	assert_int_equal(r.res[0].status, OSTORE_OK);
	free(r.raw);
	/* Value over --max-value (1000). */
	char big_val[1001];
	memset(big_val, 'v', sizeof(big_val));
	frame_begin(&b, OS_KIND_DATA, 1);
	raw_item(&b, OSTORE_OP_PUT, "big", 3, big_val, 1001, next_seq++, 0);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_DATA), OSTORE_ETOOBIG);
	os_buf_fini(&b);
	/* DATA with count 0, SCAN with limit 0. */
	frame_begin(&b, OS_KIND_DATA, 0);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_DATA), OSTORE_EPROTO);
	os_buf_fini(&b);
	frame_begin(&b, OS_KIND_SCAN, 0);
	os_buf_put_u16(&b, 0);
	os_buf_put_u16(&b, 4096);
	os_buf_put_u32(&b, 0);
	os_buf_put_u32(&b, 0);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_SCAN), OSTORE_EPROTO);
	os_buf_fini(&b);
	/* A broken MAP_SET. */
	frame_begin(&b, OS_KIND_MAP_SET, 0);
	os_buf_put(&b, "nonsense", 8);
	assert_int_equal(status_only(fx, b.data, b.len, OS_KIND_MAP_SET), OSTORE_EPROTO);
	os_buf_fini(&b);

	/* The node is still up and the data untouched. */
	assert_int_equal(GET(fx, "keep", &v, out), OSTORE_OK);
	assert_string_equal(out, "safe");
	assert_int_equal(v, v0);
	assert_int_equal(GET(fx, "big", &v, out), OSTORE_ENOTFOUND);
	assert_int_equal(GET(fx, "trunc", &v, out), OSTORE_ENOTFOUND);
	fx_free(fx);
}

static void test_binary_id(void **state)
{
	(void)state;
	node_fx *fx = fx_new(1, NULL, NULL);
	const uint8_t id[] = {0x00, 0xFF, 'a', 0x00, 0xFE, 0xFF};
	const uint8_t id2[] = {0x00, 0xFF, 'a', 0x00, 0xFE}; /* a prefix is another ID */
	const char val[] = "bin";
	uint64_t v, v2;
	char out[16];
	assert_int_equal(op1(fx, OSTORE_OP_PUT, id, sizeof(id), val, next_seq++, 0, &v, NULL, 0),
	                 OSTORE_OK);
	assert_int_equal(op1(fx, OSTORE_OP_GET, id, sizeof(id), NULL, 0, 0, &v2, out, sizeof(out)),
	                 OSTORE_OK);
	assert_string_equal(out, "bin");
	assert_int_equal(v, v2);
	assert_int_equal(op1(fx, OSTORE_OP_GET, id2, sizeof(id2), NULL, 0, 0, &v2, out, sizeof(out)),
	                 OSTORE_ENOTFOUND);
	fx_free(fx);
}

static uint64_t map_get_epoch(node_fx *fx)
{
	os_buf b;
	frame_begin(&b, OS_KIND_MAP_GET, 0);
	reply r;
	rpc_buf(fx, &b, &r);
	assert_int_equal(r.h.status, OSTORE_OK);
	os_map *m = NULL;
	assert_int_equal(os_map_decode(r.body, r.body_len, &m), OSTORE_OK);
	uint64_t e = m->epoch;
	assert_int_equal(m->cluster_id, fx->map->cluster_id);
	assert_int_equal(r.h.epoch, e);
	os_map_unref(m);
	free(r.raw);
	return e;
}

static uint16_t map_set(node_fx *fx, const os_map *m)
{
	os_buf b;
	frame_begin(&b, OS_KIND_MAP_SET, 0);
	assert_int_equal(os_map_encode(m, &b), OSTORE_OK);
	reply r;
	rpc_buf(fx, &b, &r);
	uint16_t st = r.h.status;
	free(r.raw);
	return st;
}

static void test_restart_and_map(void **state)
{
	(void)state;
	node_fx *fx = fx_new(1, NULL, NULL);
	uint64_t v, v1;
	char out[64];
	assert_int_equal(PUT(fx, "durable", "yes", &v1), OSTORE_OK);
	assert_int_equal(DEL(fx, "durable-gone"), OSTORE_ENOTFOUND);
	assert_int_equal(map_get_epoch(fx), 1);
	/* MAP_SET: same epoch OK, newer installed, older ESTALE, foreign cluster EINVAL. */
	assert_int_equal(map_set(fx, fx->map), OSTORE_OK);
	os_map *m2 = os_map_clone(fx->map);
	m2->epoch = 5;
	assert_int_equal(map_set(fx, m2), OSTORE_OK);
	assert_int_equal(map_get_epoch(fx), 5);
	assert_int_equal(map_set(fx, fx->map), OSTORE_ESTALE);
	os_map *m3 = os_map_clone(fx->map);
	m3->epoch = 9;
	m3->cluster_id ^= 1;
	assert_int_equal(map_set(fx, m3), OSTORE_EINVAL);
	os_map_unref(m3);
	os_stats_entry e1;
	stats(fx, &e1);

	/* Restart on the same directory (the map file, epoch 1, is older: ignored). */
	fx_stop(fx);
	fx_start(fx, NULL, NULL);
	fx->map->epoch = 5; /* replies now carry epoch 5 */
	assert_int_equal(map_get_epoch(fx), 5);
	assert_int_equal(GET(fx, "durable", &v, out), OSTORE_OK);
	assert_string_equal(out, "yes");
	assert_int_equal(v, v1);
	os_stats_entry e2;
	stats(fx, &e2);
	assert_int_equal(e2.lsn, e1.lsn);
	assert_int_equal(e2.orders, e1.orders);
	uint64_t v2;
	assert_int_equal(PUT(fx, "durable", "again", &v2), OSTORE_OK);
	assert_true(v2 > e1.lsn);
	fx_stop(fx);

	/* The directory belongs to node 0: starting it as node 1 fails. */
	const char *argv[] = {th_bin("node"), "--id", "1", "--listen", fx->url, "--data", fx->data,
	                      NULL};
	int rc = th_run(argv, NULL, 0, NULL, NULL, fx->log_path, 10000);
	assert_int_not_equal(rc, 0);
	os_map_unref(m2);
	fx_free(fx);
}

static void test_scan_and_stats(void **state)
{
	(void)state;
	node_fx *fx = fx_new(1, NULL, NULL);
	enum { N = 57 };
	uint64_t v;
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "scan-%d", i);
		assert_int_equal(PUT(fx, id, "value", &v), OSTORE_OK);
	}
	os_stats_entry e;
	stats(fx, &e);
	assert_int_equal(e.orders, N);
	assert_int_equal(e.lsn, v);
	assert_int_equal(e.shard, 0);
	assert_int_equal(e.slots, 4096);
	assert_int_equal(e.node, 0);
	assert_int_equal(e.status, OSTORE_OK);
	assert_true(e.bytes_used > 0);
	assert_true(e.map_size >= e.bytes_used);

	/* Page through all slots, 10 at a time. */
	uint16_t slot = 0;
	uint8_t after[256];
	uint16_t after_len = 0;
	int seen = 0, pages = 0;
	uint8_t prev_key[OS_KEY_MAX];
	size_t prev_len = 0;
	while (slot < OSTORE_SLOTS) {
		os_buf b;
		frame_begin(&b, OS_KIND_SCAN, 0);
		os_scan_req q = {.slot_begin = slot, .slot_end = OSTORE_SLOTS, .limit = 10,
		                 .after = after, .after_len = after_len};
		assert_int_equal(os_scan_req_put(&b, &q), OSTORE_OK);
		reply r;
		rpc_buf(fx, &b, &r);
		assert_int_equal(r.h.status, OSTORE_OK);
		assert_true(r.h.count <= 10);
		os_scan_entry ents[10];
		uint16_t next_slot, next_len;
		const uint8_t *next_after;
		assert_int_equal(os_scan_reply_get(r.body, r.body_len, r.h.count, &next_slot,
		                                   &next_after, &next_len, ents),
		                 OSTORE_OK);
		for (uint16_t i = 0; i < r.h.count; i++) {
			uint8_t key[OS_KEY_MAX];
			size_t klen = os_key_make(key, os_slot_of(ents[i].id, ents[i].id_len), ents[i].id,
			                          ents[i].id_len);
			if (prev_len > 0) { /* strictly increasing keys: no duplicates */
				size_t m = klen < prev_len ? klen : prev_len;
				int c = memcmp(prev_key, key, m);
				assert_true(c < 0 || (c == 0 && prev_len < klen));
			}
			memcpy(prev_key, key, klen);
			prev_len = klen;
			assert_int_equal(ents[i].value_len, 5);
			seen++;
		}
		slot = next_slot;
		after_len = next_len;
		if (next_len > 0)
			memcpy(after, next_after, next_len);
		free(r.raw);
		assert_true(++pages < 100);
	}
	assert_int_equal(seen, N);
	assert_true(pages >= 6);
	fx_free(fx);
}

static void test_map_full(void **state)
{
	(void)state;
	/* 1 MiB map that may grow to 2 MiB: writes grow it once, then answer EFULL. */
	node_fx *fx = fx_new(1, "--map-size=1", "--max-map-size=2");
	enum { VAL = 64 * 1024 };
	char *val = malloc(VAL + 1);
	assert_non_null(val);
	memset(val, 'z', VAL);
	val[VAL] = '\0';
	uint64_t v;
	int ok = 0, full = 0;
	for (int i = 0; i < 64 && full == 0; i++) {
		char id[32];
		snprintf(id, sizeof(id), "big-%d", i);
		uint16_t st = PUT(fx, id, val, &v);
		assert_true(st == OSTORE_OK || st == OSTORE_EFULL);
		if (st == OSTORE_OK)
			ok++;
		else
			full++;
	}
	/* Each write also stores its write-log record (replication), so a 64 KiB order costs
	 * about 128 KiB: more than 8 only fit because the map grew. */
	assert_true(ok > 8);
	assert_int_equal(full, 1);
	os_stats_entry e;
	stats(fx, &e);
	assert_int_equal(e.map_size, 2u << 20);
	assert_int_equal(e.orders, (uint64_t)ok);
	/* Still serving: reads work, small writes may still fit, deletes free space. */
	char out[8];
	assert_int_equal(GET(fx, "nothing", &v, out), OSTORE_ENOTFOUND);
	assert_int_equal(DEL(fx, "big-0"), OSTORE_OK);
	free(val);
	fx_free(fx);
}

static void test_bad_usage(void **state)
{
	(void)state;
	char *dir = th_tmpdir("node-usage");
	const char *bad[][8] = {
		{th_bin("node"), "--id", "x", "--listen", "tcp://127.0.0.1:1", "--data", dir, NULL},
		{th_bin("node"), "--id", "1", "--listen", "tcp://127.0.0.1:1", NULL},
		{th_bin("node"), "--id", "1", "--listen", "tcp://127.0.0.1:1", "--data", dir, "--bogus"},
		{th_bin("node"), "--contexts", "0", "--id", "1", "--listen", "u", NULL},
		{th_bin("node"), "--max-value", "16777217", "--id", "1", "--data", dir, NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[10];
		size_t n = 0;
		for (; n < 8 && bad[i][n] != NULL; n++)
			argv[n] = bad[i][n];
		argv[n] = NULL;
		assert_int_equal(th_run(argv, NULL, 0, NULL, NULL, NULL, 10000), 2);
	}
	const char *help[] = {th_bin("node"), "--help", NULL};
	char *out = NULL;
	assert_int_equal(th_run(help, NULL, 0, &out, NULL, NULL, 10000), 0);
	assert_non_null(strstr(out, "--max-map-size"));
	free(out);
	th_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del_cas),
		cmocka_unit_test(test_retry_dedup),
		cmocka_unit_test(test_moved),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_binary_id),
		cmocka_unit_test(test_restart_and_map),
		cmocka_unit_test(test_scan_and_stats),
		cmocka_unit_test(test_map_full),
		cmocka_unit_test(test_bad_usage),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	th_cleanup();
	return failed ? 1 : 0;
}
