/*
 * test_reads.c - bounded replica reads end to end (docs/replication.md "Reads"): a
 * primary, a replica and a router as real processes (tests/support/harness.h),
 * liborderstore clients with and without replica reads, and the nodes' STATS counters
 * (replica_reads, stale_reads) to tell who served a read.
 *
 *   client (replica reads on) ──▶ router ──bounded GETs──▶ node 1 (replica of shard 0)
 *                                    └──── fallback ─────▶ node 0 (primary) ◀── pulls ── node 1
 *
 * Every test builds its own two-node map and router in a fresh directory.
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
#include <time.h>

#include <orderstore.h>

#include "buf.h"
#include "harness.h"
#include "map.h"
#include "util.h"
#include "wire.h"

#define RPC_MS 5000
#define HB "600" /* heartbeat timeout of the nodes: pulls long-poll for 200 ms */

typedef struct fx {
	char *dir;
	char url[2][64], data[2][512], log[2][512], map_path[512];
	char router_url[64], router_log[512];
	pid_t pid[2], router_pid;
	uint64_t seq;
} fx;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
	return os_now_ns() / 1000000u;
}

static void write_map(fx *f)
{
	os_map *m = os_map_new();
	assert_non_null(m);
	m->epoch = 1;
	m->cluster_id = 0x2EAD2EAD2EAD2EADull;
	assert_int_equal(os_map_add_node(m, 0, f->url[0]), OSTORE_OK);
	assert_int_equal(os_map_add_node(m, 1, f->url[1]), OSTORE_OK);
	uint16_t rep = 1;
	assert_int_equal(os_map_add_shard(m, 0, 0, &rep, 1), OSTORE_OK);
	for (unsigned s = 0; s < OSTORE_SLOTS; s++)
		m->slot_shard[s] = 0;
	char err[256];
	assert_int_equal(os_map_save_file(m, f->map_path, err, sizeof(err)), OSTORE_OK);
	os_map_unref(m);
}

/* Starts node @i with the common options and up to four @extra arguments (NULL ends). */
static void start_node(fx *f, int i, const char *const *extra)
{
	char id[8];
	snprintf(id, sizeof(id), "%d", i);
	const char *argv[24] = {th_bin("node"), "--id", id, "--listen", f->url[i], "--data",
	                        f->data[i], "--map", f->map_path, "--no-sync",
	                        "--heartbeat-timeout-ms", HB};
	int n = 12;
	for (int k = 0; extra != NULL && extra[k] != NULL && k < 8; k++)
		argv[n++] = extra[k];
	argv[n] = NULL;
	f->pid[i] = th_spawn(argv, f->log[i]);
	assert_int_equal(th_ping(f->url[i], 10000), 0);
}

static fx *fx_new(const char *const *primary_extra, const char *const *replica_extra)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = th_tmpdir("reads");
	for (int i = 0; i < 2; i++) {
		snprintf(f->url[i], sizeof(f->url[i]), "%s", th_url(th_free_port()));
		snprintf(f->data[i], sizeof(f->data[i]), "%s/node-%d", f->dir, i);
		snprintf(f->log[i], sizeof(f->log[i]), "%s/node-%d.log", f->dir, i);
	}
	snprintf(f->map_path, sizeof(f->map_path), "%s/map.json", f->dir);
	snprintf(f->router_url, sizeof(f->router_url), "%s", th_url(th_free_port()));
	snprintf(f->router_log, sizeof(f->router_log), "%s/router.log", f->dir);
	write_map(f);
	start_node(f, 0, primary_extra);
	start_node(f, 1, replica_extra);
	const char *argv[] = {th_bin("router"), "--listen", f->router_url, "--map", f->map_path,
	                      "--timeout-ms", "3000", "--log-level", "debug", NULL};
	f->router_pid = th_spawn(argv, f->router_log);
	assert_int_equal(th_ping(f->router_url, 10000), 0);
	return f;
}

static void fx_free(fx *f)
{
	for (int i = 0; i < 2; i++)
		if (f->pid[i] > 0) {
			th_kill(f->pid[i], SIGCONT);
			th_kill(f->pid[i], SIGKILL);
		}
	th_kill(f->router_pid, SIGKILL);
	th_cleanup();
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
}

/* A client of the router; @lag_lsn / @lag_ms 0 and 0 = replica reads off. */
static ostore_client *client(fx *f, uint32_t lag_lsn, uint32_t lag_ms, uint32_t timeout_ms)
{
	ostore_options o;
	ostore_options_init(&o);
	assert_int_equal(o.replica_reads_max_lag_lsn, 0); /* off by default */
	assert_int_equal(o.replica_reads_max_lag_ms, 0);
	const char *routers[] = {f->router_url};
	o.routers = routers;
	o.nrouters = 1;
	o.timeout_ms = timeout_ms;
	o.retries = 0;
	o.replica_reads_max_lag_lsn = lag_lsn;
	o.replica_reads_max_lag_ms = lag_ms;
	ostore_client *c = NULL;
	assert_int_equal(ostore_open(&o, &c), OSTORE_OK);
	return c;
}

/* One raw request to node @i; returns the reply header, body copied to *@body. */
static void rpc(fx *f, int i, os_buf *req, os_hdr *h, uint8_t **body, size_t *blen)
{
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(f->url[i], req->data, req->len, &rep, &rlen, RPC_MS), 0);
	os_buf_fini(req);
	const uint8_t *b;
	size_t bl;
	assert_int_equal(os_hdr_get(rep, rlen, h, &b, &bl), OSTORE_OK);
	*body = malloc(bl + 1);
	assert_non_null(*body);
	memcpy(*body, b, bl);
	*blen = bl;
	free(rep);
}

static os_stats_entry stats(fx *f, int i)
{
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_STATS, .client_id = 42};
	os_hdr_put(&b, &h);
	uint8_t *body;
	size_t bl;
	rpc(f, i, &b, &h, &body, &bl);
	os_stats_entry e;
	assert_int_equal(os_stats_entries_get(body, bl, 1, &e), OSTORE_OK);
	free(body);
	return e;
}

/* Waits until the replica has applied everything the primary has. */
static void wait_caught_up(fx *f)
{
	uint64_t end = now_ms() + 10000;
	for (;;) {
		uint64_t p = stats(f, 0).lsn, r = stats(f, 1).lsn;
		if (p > 0 && p == r)
			return;
		if (now_ms() > end)
			fail_msg("replica not caught up: %llu vs %llu", (unsigned long long)r,
			         (unsigned long long)p);
		sleep_ms(50);
	}
}

static void put_ok(ostore_client *c, const char *id, const void *val, size_t len)
{
	assert_int_equal(ostore_put(c, id, strlen(id), val, len, NULL), OSTORE_OK);
}

/* GET @id; on OSTORE_OK the value must be @want. Returns the status. */
static int get(ostore_client *c, const char *id, const char *want)
{
	void *v = NULL;
	size_t len = 0;
	int st = ostore_get(c, id, strlen(id), &v, &len, NULL);
	if (st == OSTORE_OK && want != NULL) {
		assert_int_equal(len, strlen(want));
		assert_memory_equal(v, want, len);
	}
	ostore_free(v);
	return st;
}

/* A raw DATA frame of one item to node @i, with a read bound when @rb is not NULL.
 * Returns the frame status, or the item status when the frame is OK. */
static int raw_data(fx *f, int i, uint8_t op, const char *id, const os_read_bound *rb)
{
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_DATA, .count = 1, .timeout_ms = 2000, .client_id = 42,
	            .flags = rb != NULL ? OS_HDR_F_BOUNDED_READ : 0};
	os_hdr_put(&b, &h);
	if (rb != NULL) {
		os_buf_put_u32(&b, rb->max_lag_lsn);
		os_buf_put_u32(&b, rb->max_lag_ms);
	}
	os_item it = {.op = op, .seq = op == OSTORE_OP_GET ? 0 : ++f->seq,
	              .id = (const uint8_t *)id, .id_len = (uint32_t)strlen(id),
	              .value = op == OSTORE_OP_PUT ? (const uint8_t *)"v" : NULL,
	              .value_len = op == OSTORE_OP_PUT ? 1 : 0};
	os_item_put(&b, &it);
	uint8_t *body;
	size_t bl;
	rpc(f, i, &b, &h, &body, &bl);
	int st = h.status;
	if (st == OSTORE_OK) {
		os_result r;
		assert_int_equal(os_results_get(body, bl, 1, &r), OSTORE_OK);
		st = r.status;
	}
	free(body);
	return st;
}

/* The replica serves bounded reads, also after its primary died, until the bound. */
static void test_replica_serves_within_bound(void **state)
{
	(void)state;
	fx *f = fx_new(NULL, NULL);
	sleep_ms(300); /* the replica's first pull makes it reachable (sync mode) */
	ostore_client *w = client(f, 0, 0, 3000);
	ostore_client *rd = client(f, 0, 2000, 2000);
	for (int k = 0; k < 20; k++) {
		char id[32], val[32];
		snprintf(id, sizeof(id), "order-%d", k);
		snprintf(val, sizeof(val), "paid-%d", k);
		put_ok(w, id, val, strlen(val));
	}
	wait_caught_up(f);
	uint64_t r0 = stats(f, 1).replica_reads;
	assert_int_equal(get(rd, "order-5", "paid-5"), OSTORE_OK);
	assert_int_equal(stats(f, 1).replica_reads, r0 + 1);
	/* Default clients read from the primary. */
	assert_int_equal(get(w, "order-6", "paid-6"), OSTORE_OK);
	assert_int_equal(get(w, "nope", NULL), OSTORE_ENOTFOUND);
	assert_int_equal(stats(f, 1).replica_reads, r0 + 1);
	/* A batch of GETs is one sub-frame to the replica; one with a write goes to the
	 * primary. */
	ostore_item it[3] = {{.op = OSTORE_OP_GET, .id = "order-1", .id_len = 7},
	                     {.op = OSTORE_OP_GET, .id = "order-2", .id_len = 7},
	                     {.op = OSTORE_OP_GET, .id = "absent", .id_len = 6}};
	assert_int_equal(ostore_batch(rd, it, 3), OSTORE_OK);
	assert_int_equal(it[0].status, OSTORE_OK);
	assert_int_equal(it[1].status, OSTORE_OK);
	assert_int_equal(it[2].status, OSTORE_ENOTFOUND);
	for (int k = 0; k < 3; k++)
		ostore_free(it[k].out_value);
	assert_int_equal(stats(f, 1).replica_reads, r0 + 4);
	ostore_item mix[2] = {{.op = OSTORE_OP_GET, .id = "order-3", .id_len = 7},
	                      {.op = OSTORE_OP_PUT, .id = "order-99", .id_len = 8, .value = "new",
	                       .value_len = 3}};
	assert_int_equal(ostore_batch(rd, mix, 2), OSTORE_OK);
	assert_int_equal(mix[0].status, OSTORE_OK);
	assert_int_equal(mix[1].status, OSTORE_OK);
	ostore_free(mix[0].out_value);
	assert_int_equal(stats(f, 1).replica_reads, r0 + 4);

	/* Raw frames to the replica: bounded GET served, unbounded GET and any write
	 * refused (not primary), a bound of 0 and 0 is malformed. */
	os_read_bound rb = {.max_lag_lsn = 0, .max_lag_ms = 5000};
	assert_int_equal(raw_data(f, 1, OSTORE_OP_GET, "order-1", &rb), OSTORE_OK);
	assert_int_equal(raw_data(f, 1, OSTORE_OP_GET, "order-1", NULL), OSTORE_ENOTPRIMARY);
	assert_int_equal(raw_data(f, 1, OSTORE_OP_PUT, "order-1", &rb), OSTORE_ENOTPRIMARY);
	os_read_bound zero = {0, 0};
	assert_int_equal(raw_data(f, 1, OSTORE_OP_GET, "order-1", &zero), OSTORE_EPROTO);
	/* On the primary the bound changes nothing. */
	assert_int_equal(raw_data(f, 0, OSTORE_OP_GET, "order-1", &rb), OSTORE_OK);

	/* SIGKILL the primary: the replica still answers within the 2 s bound... */
	wait_caught_up(f);
	th_kill(f->pid[0], SIGKILL);
	th_wait_exit(f->pid[0], 5000);
	f->pid[0] = 0;
	uint64_t r1 = stats(f, 1).replica_reads;
	assert_int_equal(get(rd, "order-7", "paid-7"), OSTORE_OK);
	assert_int_equal(get(rd, "order-99", "new"), OSTORE_OK);
	assert_int_equal(stats(f, 1).replica_reads, r1 + 2);
	assert_int_not_equal(get(w, "order-7", NULL), OSTORE_OK); /* the primary is gone */
	/* ...and refuses once its last word from the primary is older than the bound; the
	 * router's fallback to the dead primary then fails. */
	sleep_ms(2500);
	uint64_t s0 = stats(f, 1).stale_reads;
	int st = get(rd, "order-7", NULL);
	assert_true(st == OSTORE_EUNAVAIL || st == OSTORE_ETIMEDOUT);
	assert_true(stats(f, 1).stale_reads > s0);
	assert_int_equal(stats(f, 1).replica_reads, r1 + 2);
	/* A looser bound is still served. */
	ostore_client *loose = client(f, 0, 60000, 2000);
	assert_int_equal(get(loose, "order-8", "paid-8"), OSTORE_OK);
	assert_int_equal(stats(f, 1).replica_reads, r1 + 3);
	ostore_close(loose);
	ostore_close(rd);
	ostore_close(w);
	fx_free(f);
}

/* A replica that knows it is behind by more than the bound refuses; the router then
 * reads from the primary. The replica's map size is too small for the big values, so
 * it stays behind while it keeps pulling (and learning the primary's LSN). */
static void test_stale_replica_falls_back(void **state)
{
	(void)state;
	const char *pextra[] = {"--sync-replicas", "0", NULL};
	const char *rextra[] = {"--map-size", "1", "--max-map-size", "1", NULL};
	fx *f = fx_new(pextra, rextra);
	ostore_client *w = client(f, 0, 0, 3000);
	ostore_client *rd = client(f, 1, 0, 3000);     /* at most 1 write behind */
	ostore_client *loose = client(f, 100, 0, 3000); /* at most 100 writes behind */
	put_ok(w, "a", "small", 5);
	wait_caught_up(f);
	uint64_t r0 = stats(f, 1).replica_reads;
	assert_int_equal(get(rd, "a", "small"), OSTORE_OK);
	assert_int_equal(stats(f, 1).replica_reads, r0 + 1);

	static char big[700 * 1024];
	memset(big, 'x', sizeof(big));
	put_ok(w, "big-1", big, sizeof(big));
	put_ok(w, "big-2", big, sizeof(big));
	uint64_t plsn = stats(f, 0).lsn, end = now_ms() + 10000;
	os_stats_entry r;
	while ((r = stats(f, 1)).primary_lsn < plsn && now_ms() < end)
		sleep_ms(50);
	assert_int_equal(r.primary_lsn, plsn); /* it knows... */
	assert_true(r.lsn + 2 <= plsn);        /* ...and cannot apply */

	uint64_t s0 = r.stale_reads;
	assert_int_equal(get(rd, "a", "small"), OSTORE_OK); /* from the primary */
	void *v = NULL;
	size_t len = 0;
	assert_int_equal(ostore_get(rd, "big-1", 5, &v, &len, NULL), OSTORE_OK);
	assert_int_equal(len, sizeof(big));
	ostore_free(v);
	r = stats(f, 1);
	assert_true(r.stale_reads >= s0 + 2);
	assert_int_equal(r.replica_reads, r0 + 1);
	/* Within the looser bound the replica answers, with what it has. */
	assert_int_equal(get(loose, "a", "small"), OSTORE_OK);
	assert_int_equal(get(loose, "big-1", NULL), OSTORE_ENOTFOUND);
	assert_int_equal(stats(f, 1).replica_reads, r0 + 3);
	ostore_close(loose);
	ostore_close(rd);
	ostore_close(w);
	fx_free(f);
}

/* A replica that does not answer (SIGSTOP) costs one bounded wait, then is skipped for
 * a while; once it answers again it serves reads again. */
static void test_silent_replica_falls_back(void **state)
{
	(void)state;
	fx *f = fx_new(NULL, NULL);
	sleep_ms(300);
	ostore_client *w = client(f, 0, 0, 3000);
	ostore_client *rd = client(f, 0, 5000, 2000);
	put_ok(w, "a", "one", 3);
	wait_caught_up(f);
	uint64_t r0 = stats(f, 1).replica_reads;
	th_kill(f->pid[1], SIGSTOP);
	uint64_t t0 = now_ms();
	assert_int_equal(get(rd, "a", "one"), OSTORE_OK); /* replica silent: the primary */
	uint64_t t1 = now_ms();
	assert_true(t1 - t0 < 2000);
	assert_int_equal(get(rd, "a", "one"), OSTORE_OK); /* replica in back-off */
	assert_true(now_ms() - t1 < 500);
	th_kill(f->pid[1], SIGCONT);
	uint64_t end = now_ms() + 10000;
	uint64_t served = r0;
	while (served == r0 && now_ms() < end) {
		sleep_ms(200);
		assert_int_equal(get(rd, "a", "one"), OSTORE_OK);
		served = stats(f, 1).replica_reads;
	}
	assert_true(served > r0);
	ostore_close(rd);
	ostore_close(w);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replica_serves_within_bound),
		cmocka_unit_test(test_stale_replica_falls_back),
		cmocka_unit_test(test_silent_replica_falls_back),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	th_cleanup();
	return failed ? 1 : 0;
}
