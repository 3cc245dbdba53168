/*
 * test_repl.c - replication end to end: a primary and a replica as real processes
 * (tests/support/harness.h), raw frames over nng, checks through STATS and CHECKSUM.
 *
 *   test ── DATA PUT ──▶ node 0 (primary of shard 0) ◀── REPL_PULL ── node 1 (replica)
 *        ── STATS / CHECKSUM ──▶ both nodes;  MAP_SET (epoch + 1) ──▶ failover
 *
 * Every test builds its own two-node map in a fresh directory, so tests are independent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "harness.h"
#include "map.h"
#include "util.h"
#include "wire.h"

#define RPC_MS 5000
#define HB "600"

typedef struct fx {
	char *dir;
	char url[2][64], data[2][512], log[2][512], map_path[512];
	pid_t pid[2];
	os_map *map;
	uint64_t seq;
} fx;

static void write_map(fx *f, uint16_t primary, uint64_t epoch)
{
	os_map *m = os_map_new();
	assert_non_null(m);
	m->epoch = epoch;
	m->cluster_id = f->map != NULL ? f->map->cluster_id : 0x5EED5EED5EED5EEDull;
	assert_int_equal(os_map_add_node(m, 0, f->url[0]), OSTORE_OK);
	assert_int_equal(os_map_add_node(m, 1, f->url[1]), OSTORE_OK);
	uint16_t rep = (uint16_t)(1 - primary);
	assert_int_equal(os_map_add_shard(m, 0, primary, &rep, 1), OSTORE_OK);
	for (unsigned s = 0; s < OSTORE_SLOTS; s++)
		m->slot_shard[s] = 0;
	char err[256];
	assert_int_equal(os_map_save_file(m, f->map_path, err, sizeof(err)), OSTORE_OK);
	os_map_unref(f->map);
	f->map = m;
}

static void start(fx *f, int i, const char *sync, const char *retain)
{
	char id[8];
	snprintf(id, sizeof(id), "%d", i);
	const char *argv[20] = {th_bin("node"), "--id", id, "--listen", f->url[i], "--data",
	                        f->data[i], "--map", f->map_path, "--no-sync",
	                        "--heartbeat-timeout-ms", HB};
	int n = 12;
	if (sync != NULL) {
		argv[n++] = "--sync-replicas";
		argv[n++] = sync;
	}
	if (retain != NULL) {
		argv[n++] = "--log-retain-entries";
		argv[n++] = retain;
	}
	argv[n] = NULL;
	f->pid[i] = th_spawn(argv, f->log[i]);
	assert_int_equal(th_ping(f->url[i], 10000), 0);
}

static fx *fx_new(const char *sync, const char *retain)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = th_tmpdir("repl");
	for (int i = 0; i < 2; i++) {
		snprintf(f->url[i], sizeof(f->url[i]), "%s", th_url(th_free_port()));
		snprintf(f->data[i], sizeof(f->data[i]), "%s/node-%d", f->dir, i);
		snprintf(f->log[i], sizeof(f->log[i]), "%s/node-%d.log", f->dir, i);
	}
	snprintf(f->map_path, sizeof(f->map_path), "%s/map.json", f->dir);
	write_map(f, 0, 1);
	start(f, 0, sync, retain);
	start(f, 1, sync, retain);
	return f;
}

static void fx_free(fx *f)
{
	for (int i = 0; i < 2; i++)
		if (f->pid[i] > 0)
			th_kill(f->pid[i], 9);
	th_cleanup();
	os_map_unref(f->map);
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* One request; returns the reply header, body copied to *@body (free) if not NULL. */
static int rpc(const char *url, os_buf *req, os_hdr *h, uint8_t **body, size_t *blen)
{
	void *rep = NULL;
	size_t rlen = 0;
	int rv = th_request(url, req->data, req->len, &rep, &rlen, RPC_MS);
	os_buf_fini(req);
	if (rv != 0)
		return -1;
	const uint8_t *b;
	size_t bl;
	assert_int_equal(os_hdr_get(rep, rlen, h, &b, &bl), OSTORE_OK);
	if (body != NULL) {
		*body = malloc(bl + 1);
		memcpy(*body, b, bl);
		*blen = bl;
	}
	free(rep);
	return 0;
}

static void frame(os_buf *b, uint8_t kind, uint16_t count, uint32_t timeout_ms)
{
	os_buf_init(b);
	os_hdr h = {.kind = kind, .count = count, .timeout_ms = timeout_ms, .client_id = 42};
	os_hdr_put(b, &h);
}

/* PUT @id=@val on node @i; returns the item status (or -1 without a reply). */
static int put(fx *f, int i, const char *id, const char *val)
{
	os_buf b;
	frame(&b, OS_KIND_DATA, 1, 1500);
	os_item it = {.op = OSTORE_OP_PUT, .seq = ++f->seq, .id = (const uint8_t *)id,
	              .id_len = (uint32_t)strlen(id), .value = (const uint8_t *)val,
	              .value_len = (uint32_t)strlen(val)};
	os_item_put(&b, &it);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	if (rpc(f->url[i], &b, &h, &body, &bl) != 0)
		return -1;
	int st = h.status;
	if (st == OSTORE_OK) {
		os_result r;
		assert_int_equal(os_results_get(body, bl, 1, &r), OSTORE_OK);
		st = r.status;
	}
	free(body);
	return st;
}

static os_stats_entry stats(fx *f, int i)
{
	os_buf b;
	frame(&b, OS_KIND_STATS, 0, 0);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	assert_int_equal(rpc(f->url[i], &b, &h, &body, &bl), 0);
	os_stats_entry e;
	assert_int_equal(os_stats_entries_get(body, bl, 1, &e), OSTORE_OK);
	free(body);
	return e;
}

/* Checksums over all slots of node @i into @e (4096 entries); returns the LSN. */
static uint64_t checksums(fx *f, int i, os_cksum_entry *e)
{
	os_buf b;
	frame(&b, OS_KIND_CHECKSUM, 0, 0);
	os_cksum_req_put(&b, 0, OSTORE_SLOTS);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	assert_int_equal(rpc(f->url[i], &b, &h, &body, &bl), 0);
	assert_int_equal(h.status, OSTORE_OK);
	uint64_t lsn = 0;
	assert_int_equal(os_cksum_reply_get(body, bl, OSTORE_SLOTS, &lsn, e), OSTORE_OK);
	free(body);
	return lsn;
}

/* Waits until both nodes report the same LSN and identical checksums. */
static void assert_in_sync(fx *f, int timeout_ms)
{
	static os_cksum_entry a[OSTORE_SLOTS], c[OSTORE_SLOTS];
	uint64_t end = os_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t la = checksums(f, 0, a), lc = checksums(f, 1, c);
		if (la == lc && memcmp(a, c, sizeof a) == 0)
			return;
		if (os_now_ns() > end)
			fail_msg("nodes not in sync: lsn %llu vs %llu", (unsigned long long)la,
			         (unsigned long long)lc);
		sleep_ms(100);
	}
}

static void put_many(fx *f, int node, int from, int n, int want)
{
	for (int k = from; k < from + n; k++) {
		char id[32], val[48];
		snprintf(id, sizeof(id), "order-%d", k);
		snprintf(val, sizeof(val), "{\"total\": %d}", k);
		assert_int_equal(put(f, node, id, val), want);
	}
}

/* Sync mode: an acknowledged write is already on the replica. */
static void test_sync_acked_on_replica(void **state)
{
	(void)state;
	fx *f = fx_new(NULL, NULL);
	sleep_ms(300); /* the replica's first pull makes it reachable */
	for (int k = 0; k < 50; k++) {
		char id[32];
		snprintf(id, sizeof(id), "o-%d", k);
		assert_int_equal(put(f, 0, id, "paid"), OSTORE_OK);
		os_stats_entry r = stats(f, 1);
		assert_true(r.lsn >= (uint64_t)k + 1); /* applied before the ack */
	}
	os_stats_entry p = stats(f, 0), r = stats(f, 1);
	assert_int_equal(p.role, OS_ROLE_PRIMARY);
	assert_int_equal(p.replicas, 1);
	assert_int_equal(r.role, OS_ROLE_REPLICA);
	assert_int_equal(r.shard, 0);
	assert_int_equal(r.lsn, 50);
	assert_int_equal(r.primary_lsn, 50);
	assert_in_sync(f, 5000);
	/* A replica refuses writes and reads of its shard: not primary. */
	assert_int_equal(put(f, 1, "x", "y"), OSTORE_ENOTPRIMARY);
	fx_free(f);
}

/* Replica killed: sync writes fail with EREPLICAS; K=0 keeps working; restart catches up. */
static void test_replica_down_and_catch_up(void **state)
{
	(void)state;
	fx *f = fx_new(NULL, NULL);
	sleep_ms(300);
	put_many(f, 0, 0, 20, OSTORE_OK);
	th_kill(f->pid[1], 9);
	th_wait_exit(f->pid[1], 5000);
	f->pid[1] = 0;
	uint64_t t0 = os_now_ns();
	int st;
	int k = 100;
	while ((st = put(f, 0, "after-kill", "v")) == OSTORE_OK && os_now_ns() - t0 < 5000000000ull)
		k++;
	assert_int_equal(st, OSTORE_EREPLICAS);
	assert_true(os_now_ns() - t0 < 4000000000ull); /* about the heartbeat timeout */
	assert_int_equal(stats(f, 0).replicas, 0);
	/* The primary in asynchronous mode keeps accepting writes. */
	th_kill(f->pid[0], 9);
	th_wait_exit(f->pid[0], 5000);
	start(f, 0, "0", NULL);
	put_many(f, 0, 20, 30, OSTORE_OK);
	start(f, 1, "0", NULL);
	assert_in_sync(f, 10000);
	fx_free(f);
}

/* A replica behind the retained log re-seeds once, then catches up. */
static void test_reseed(void **state)
{
	(void)state;
	fx *f = fx_new("0", "100");
	sleep_ms(300);
	put_many(f, 0, 0, 10, OSTORE_OK);
	assert_in_sync(f, 5000);
	th_kill(f->pid[1], 9);
	th_wait_exit(f->pid[1], 5000);
	put_many(f, 0, 10, 300, OSTORE_OK);
	start(f, 1, "0", "100");
	assert_in_sync(f, 15000);
	put_many(f, 0, 1000, 20, OSTORE_OK);
	assert_in_sync(f, 5000);
	/* Exactly one re-seed in the replica's log. */
	char *text = NULL;
	const char *argv[] = {"/bin/grep", "-c", "msg=\"re-seeded\"", f->log[1], NULL};
	assert_int_equal(th_run(argv, NULL, 0, &text, NULL, NULL, 5000), 0);
	assert_int_equal(atoi(text), 1);
	free(text);
	fx_free(f);
}

static int map_set(fx *f, int i)
{
	os_buf b;
	frame(&b, OS_KIND_MAP_SET, 0, 0);
	os_map_encode(f->map, &b);
	os_hdr h;
	assert_int_equal(rpc(f->url[i], &b, &h, NULL, NULL), 0);
	return h.status;
}

/* Failover: epoch + 1 makes node 1 primary; node 0 is fenced and rejoins as replica. */
static void test_failover_fencing(void **state)
{
	(void)state;
	fx *f = fx_new(NULL, NULL);
	sleep_ms(300);
	put_many(f, 0, 0, 20, OSTORE_OK);
	assert_in_sync(f, 5000);
	write_map(f, 1, 2);
	assert_int_equal(map_set(f, 1), OSTORE_OK); /* the new primary first */
	assert_int_equal(map_set(f, 0), OSTORE_OK);
	assert_int_equal(put(f, 0, "fenced", "v"), OSTORE_ENOTPRIMARY);
	sleep_ms(800); /* node 0 now pulls from node 1 */
	put_many(f, 1, 20, 10, OSTORE_OK);
	th_kill(f->pid[0], 9);
	th_wait_exit(f->pid[0], 5000);
	start(f, 0, NULL, NULL);
	assert_int_equal(stats(f, 0).role, OS_ROLE_REPLICA);
	assert_int_equal(put(f, 0, "still-fenced", "v"), OSTORE_ENOTPRIMARY);
	sleep_ms(300);
	put_many(f, 1, 30, 10, OSTORE_OK);
	assert_in_sync(f, 5000);
	fx_free(f);
}

static int pull(fx *f, uint64_t cluster, uint16_t shard, uint16_t node)
{
	os_buf b;
	frame(&b, OS_KIND_REPL_PULL, 0, 0);
	os_pull_req q = {.shard = shard, .node_id = node, .cluster_id = cluster, .max_bytes = 4096};
	os_pull_req_put(&b, &q);
	os_hdr h;
	assert_int_equal(rpc(f->url[0], &b, &h, NULL, NULL), 0);
	return h.status;
}

/* Pulls from another cluster, for an unknown shard, from a non-member, and broken. */
static void test_bad_pulls(void **state)
{
	(void)state;
	fx *f = fx_new(NULL, NULL);
	uint64_t cid = f->map->cluster_id;
	assert_int_equal(pull(f, cid + 1, 0, 1), OSTORE_EINVAL);
	assert_int_equal(pull(f, cid, 7, 1), OSTORE_EINVAL);
	assert_int_equal(pull(f, cid, 0, 5), OSTORE_EINVAL);
	assert_int_equal(pull(f, cid, 0, 1), OSTORE_OK);
	os_buf b;
	frame(&b, OS_KIND_REPL_PULL, 0, 0);
	os_buf_put_u32(&b, 1); /* truncated body */
	os_hdr h;
	assert_int_equal(rpc(f->url[0], &b, &h, NULL, NULL), 0);
	assert_int_equal(h.status, OSTORE_EPROTO);
	/* The replica refuses pulls: it is not primary. */
	frame(&b, OS_KIND_REPL_PULL, 0, 0);
	os_pull_req q = {.shard = 0, .node_id = 0, .cluster_id = cid};
	os_pull_req_put(&b, &q);
	assert_int_equal(rpc(f->url[1], &b, &h, NULL, NULL), 0);
	assert_int_equal(h.status, OSTORE_ENOTPRIMARY);
	fx_free(f);
}

/*
 * A primary that starts with no data accepts no write until a replica has said (by
 * pulling from LSN 0) that it holds none either: otherwise an emptied primary could hand
 * out LSN 1 again in the same epoch, on top of a replica that already has it.
 */
static void test_empty_primary_waits_for_replica(void **state)
{
	(void)state;
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = th_tmpdir("repl-empty");
	for (int i = 0; i < 2; i++) {
		snprintf(f->url[i], sizeof(f->url[i]), "%s", th_url(th_free_port()));
		snprintf(f->data[i], sizeof(f->data[i]), "%s/node-%d", f->dir, i);
		snprintf(f->log[i], sizeof(f->log[i]), "%s/node-%d.log", f->dir, i);
	}
	snprintf(f->map_path, sizeof(f->map_path), "%s/map.json", f->dir);
	write_map(f, 0, 1);
	start(f, 0, "0", NULL); /* asynchronous: only the empty-start rule can refuse */
	assert_int_equal(put(f, 0, "early", "v"), OSTORE_EREPLICAS);
	assert_int_equal(stats(f, 0).lsn, 0); /* nothing was written */
	start(f, 1, "0", NULL);
	uint64_t t0 = os_now_ns();
	int st;
	while ((st = put(f, 0, "early", "v")) == OSTORE_EREPLICAS &&
	       os_now_ns() - t0 < 5000000000ull)
		sleep_ms(20);
	assert_int_equal(st, OSTORE_OK);
	assert_in_sync(f, 10000);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_acked_on_replica),
		cmocka_unit_test(test_replica_down_and_catch_up),
		cmocka_unit_test(test_reseed),
		cmocka_unit_test(test_failover_fencing),
		cmocka_unit_test(test_bad_pulls),
		cmocka_unit_test(test_empty_primary_waits_for_replica),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	th_cleanup();
	return failed ? 1 : 0;
}
