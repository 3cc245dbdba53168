/*
 * test_lease.c - the migration lease and the guarded switch on real nodes (wire.h
 * "MIG_LEASE", docs/rebalance.md "Crash safety"): raw frames over nng.
 *
 *   node 0: primary of shard 0 (slots [0, 2048)), no replica
 *   node 1: primary of shard 1 (slots [2048, 4096)), replica node 2
 *
 * Run ids: A = 0xA11CE, B = 0xB0B. The range R = [0, 64) is what a map of epoch 2 moves
 * from shard 0 to shard 1.
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
#include "slot.h"
#include "util.h"
#include "wire.h"

#define RPC_MS 5000
#define NN 3
#define R_END 64
#define CLUSTER 0x1EA5E1EA5E1EA5E0ull
#define RUN_A 0xA11CEull
#define RUN_B 0xB0Bull

typedef struct fx {
	char *dir;
	char url[NN][64], data[NN][512], log[NN][512], map_path[512];
	pid_t pid[NN];
} fx;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A map of @epoch: slots < @moved_end and >= 2048 are shard 1's, the others shard 0's;
 * @failover: node 2 is shard 1's primary and node 1 its replica. */
static os_map *make_map(fx *f, uint64_t epoch, unsigned moved_end, bool failover)
{
	os_map *m = os_map_new();
	assert_non_null(m);
	m->epoch = epoch;
	m->cluster_id = CLUSTER;
	for (uint16_t i = 0; i < NN; i++)
		assert_int_equal(os_map_add_node(m, i, f->url[i]), OSTORE_OK);
	uint16_t rep = failover ? 1 : 2;
	assert_int_equal(os_map_add_shard(m, 0, 0, NULL, 0), OSTORE_OK);
	assert_int_equal(os_map_add_shard(m, 1, failover ? 2 : 1, &rep, 1), OSTORE_OK);
	for (unsigned s = 0; s < OSTORE_SLOTS; s++)
		m->slot_shard[s] = (s < moved_end || s >= 2048) ? 1 : 0;
	return m;
}

static void start(fx *f, int i)
{
	char id[8];
	snprintf(id, sizeof(id), "%d", i);
	const char *argv[] = {th_bin("node"), "--id", id, "--listen", f->url[i], "--data",
	                      f->data[i], "--map", f->map_path, "--no-sync",
	                      "--heartbeat-timeout-ms", "600", NULL};
	f->pid[i] = th_spawn(argv, f->log[i]);
	assert_int_equal(th_ping(f->url[i], 10000), 0);
}

static fx *fx_new(void)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = th_tmpdir("lease");
	for (int i = 0; i < NN; i++) {
		snprintf(f->url[i], sizeof(f->url[i]), "%s", th_url(th_free_port()));
		snprintf(f->data[i], sizeof(f->data[i]), "%s/node-%d", f->dir, i);
		snprintf(f->log[i], sizeof(f->log[i]), "%s/node-%d.log", f->dir, i);
	}
	snprintf(f->map_path, sizeof(f->map_path), "%s/map.json", f->dir);
	os_map *m = make_map(f, 1, 0, false);
	char err[256];
	assert_int_equal(os_map_save_file(m, f->map_path, err, sizeof(err)), OSTORE_OK);
	os_map_unref(m);
	for (int i = 0; i < NN; i++)
		start(f, i);
	sleep_ms(300); /* the replica's first pull makes it reachable */
	return f;
}

static void fx_free(fx *f)
{
	for (int i = 0; i < NN; i++)
		if (f->pid[i] > 0)
			th_kill(f->pid[i], 9);
	th_cleanup();
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
}

/* One frame to node @i: header (@kind, @count, @client_id, epoch 1) + @body. Returns the
 * reply status; the reply body (if @out) is copied into @out (@cap bytes, *@olen). */
static int call(fx *f, int i, uint8_t kind, uint16_t count, uint64_t client_id,
                const os_buf *body, uint8_t *out, size_t cap, size_t *olen)
{
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = kind, .count = count, .timeout_ms = 3000, .epoch = 1,
	            .client_id = client_id};
	os_hdr_put(&b, &h);
	if (body != NULL)
		os_buf_put(&b, body->data, body->len);
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(f->url[i], b.data, b.len, &rep, &rlen, RPC_MS), 0);
	os_buf_fini(&b);
	const uint8_t *rb;
	size_t bl;
	assert_int_equal(os_hdr_get(rep, rlen, &h, &rb, &bl), OSTORE_OK);
	assert_int_equal(h.kind, kind | OS_REPLY_BIT);
	if (out != NULL) {
		assert_true(bl <= cap);
		memcpy(out, rb, bl);
		*olen = bl;
	}
	free(rep);
	return h.status;
}

/* MIG_LEASE on node @i; *@holder / *@rem from the reply body (which every OK and
 * ELOCKED reply carries). */
static int lease(fx *f, int i, uint64_t owner, uint32_t ttl, uint32_t flags, uint64_t *holder,
                 uint32_t *rem)
{
	os_buf q;
	os_buf_init(&q);
	os_mig_lease_req_put(&q, owner, ttl, flags);
	uint8_t out[64];
	size_t n = 0;
	int st = call(f, i, OS_KIND_MIG_LEASE, 0, owner, &q, out, sizeof out, &n);
	os_buf_fini(&q);
	if (st == OSTORE_OK || st == OSTORE_ELOCKED) {
		uint64_t h;
		uint32_t r;
		assert_int_equal(os_mig_lease_reply_get(out, n, &h, &r), OSTORE_OK);
		if (holder != NULL)
			*holder = h;
		if (rem != NULL)
			*rem = r;
	}
	return st;
}

static int freeze(fx *f, int i, uint64_t cid, uint8_t op, uint16_t b, uint16_t e)
{
	os_buf q;
	os_buf_init(&q);
	os_mig_freeze_req_put(&q, op, b, e);
	int st = call(f, i, OS_KIND_MIG_FREEZE, 0, cid, &q, NULL, 0, NULL);
	os_buf_fini(&q);
	return st;
}

static int purge(fx *f, int i, uint64_t cid, uint16_t b, uint16_t e)
{
	os_buf q;
	os_buf_init(&q);
	os_mig_purge_req_put(&q, CLUSTER, b, e, 100);
	int st = call(f, i, OS_KIND_MIG_PURGE, 0, cid, &q, NULL, 0, NULL);
	os_buf_fini(&q);
	return st;
}

/* MIG_APPLY of one PUT in slot range [0, 64) to node @i. */
static int apply(fx *f, int i, uint64_t cid)
{
	char id[32];
	for (int k = 0;; k++) {
		snprintf(id, sizeof id, "lease-%d", k);
		if (os_slot_of(id, strlen(id)) < R_END)
			break;
	}
	os_buf q;
	os_buf_init(&q);
	os_mig_apply_head_put(&q, CLUSTER, 0, R_END);
	uint8_t key[OS_KEY_MAX];
	uint16_t kl = (uint16_t)os_key_make(key, os_slot_of(id, strlen(id)), id, strlen(id));
	os_log_entry e = {.lsn = 5, .epoch = 1, .op = OSTORE_OP_PUT, .key = key, .key_len = kl,
	                  .value = (const uint8_t *)"v", .value_len = 1};
	os_log_entry_put(&q, &e);
	int st = call(f, i, OS_KIND_MIG_APPLY, 1, cid, &q, NULL, 0, NULL);
	os_buf_fini(&q);
	return st;
}

static int map_set(fx *f, int i, uint64_t cid, const os_map *m)
{
	os_buf q;
	os_buf_init(&q);
	assert_int_equal(os_map_encode(m, &q), OSTORE_OK);
	int st = call(f, i, OS_KIND_MAP_SET, 0, cid, &q, NULL, 0, NULL);
	os_buf_fini(&q);
	return st;
}

static uint64_t map_epoch(fx *f, int i)
{
	static uint8_t out[1 << 16];
	size_t n = 0;
	assert_int_equal(call(f, i, OS_KIND_MAP_GET, 0, 0, NULL, out, sizeof out, &n), OSTORE_OK);
	os_map *m = NULL;
	assert_int_equal(os_map_decode(out, n, &m), OSTORE_OK);
	uint64_t e = m->epoch;
	os_map_unref(m);
	return e;
}

/* ---- tests ---- */

/* Grant, renew, conflict, release, query, renew-only, expiry, bad frames, restart. */
static void test_lease_rules(void **state)
{
	(void)state;
	fx *f = fx_new();
	uint64_t h = 99;
	uint32_t rem = 0;
	assert_int_equal(lease(f, 0, RUN_A, 5000, 0, &h, &rem), OSTORE_OK);
	assert_true(h == RUN_A && rem > 4000 && rem <= 5000);
	assert_int_equal(lease(f, 0, RUN_A, 20000, OS_MIG_LEASE_F_RENEW, &h, &rem), OSTORE_OK);
	assert_true(h == RUN_A && rem > 15000);
	/* another run: refused with the holder and its time in the body */
	assert_int_equal(lease(f, 0, RUN_B, 5000, 0, &h, &rem), OSTORE_ELOCKED);
	assert_true(h == RUN_A && rem > 15000);
	/* ttl 0 from another: a query, nothing changes */
	assert_int_equal(lease(f, 0, RUN_B, 0, 0, &h, &rem), OSTORE_OK);
	assert_true(h == RUN_A && rem > 0);
	assert_int_equal(lease(f, 0, RUN_B, 5000, OS_MIG_LEASE_F_RENEW, &h, NULL), OSTORE_ELOCKED);
	/* the holder releases; a renew-only request never grants a free lease */
	assert_int_equal(lease(f, 0, RUN_A, 0, 0, &h, &rem), OSTORE_OK);
	assert_true(h == 0 && rem == 0);
	assert_int_equal(lease(f, 0, RUN_A, 5000, OS_MIG_LEASE_F_RENEW, &h, NULL), OSTORE_ELOCKED);
	assert_int_equal(h, 0);
	/* expiry: A's short lease lapses, B takes it, A cannot renew */
	assert_int_equal(lease(f, 0, RUN_A, 1000, 0, &h, NULL), OSTORE_OK);
	assert_int_equal(lease(f, 0, RUN_B, 5000, 0, &h, NULL), OSTORE_ELOCKED);
	sleep_ms(1200);
	assert_int_equal(lease(f, 0, RUN_B, 5000, 0, &h, NULL), OSTORE_OK);
	assert_int_equal(h, RUN_B);
	assert_int_equal(lease(f, 0, RUN_A, 5000, OS_MIG_LEASE_F_RENEW, &h, NULL), OSTORE_ELOCKED);
	assert_int_equal(h, RUN_B);
	/* bad requests */
	const struct { uint64_t owner; uint32_t ttl, flags; } bad[] = {
		{0, 5000, 0}, {RUN_A, 999, 0}, {RUN_A, 600001, 0}, {RUN_A, 5000, 2}};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		assert_int_equal(lease(f, 0, bad[k].owner, bad[k].ttl, bad[k].flags, NULL, NULL),
		                 OSTORE_EPROTO);
	os_buf q;
	os_buf_init(&q);
	os_buf_put(&q, "short", 5);
	assert_int_equal(call(f, 0, OS_KIND_MIG_LEASE, 0, RUN_A, &q, NULL, 0, NULL), OSTORE_EPROTO);
	os_buf_fini(&q);
	assert_int_equal(lease(f, 0, RUN_A, 0, 0, &h, NULL), OSTORE_OK); /* A's query */
	assert_int_equal(h, RUN_B); /* still B's after the bad frames */
	/* a restart drops the lease */
	th_kill(f->pid[0], 9);
	th_wait_exit(f->pid[0], 5000);
	start(f, 0);
	assert_int_equal(lease(f, 0, RUN_A, 0, 0, &h, &rem), OSTORE_OK);
	assert_true(h == 0 && rem == 0);
	fx_free(f);
}

/* MIG_FREEZE / APPLY / PURGE need the lease of the sender; SNAP, LOG, QUERY do not. */
static void test_lease_enforced(void **state)
{
	(void)state;
	fx *f = fx_new();
	/* nobody holds it */
	assert_int_equal(freeze(f, 0, RUN_A, OS_MIG_FREEZE, 0, R_END), OSTORE_ELOCKED);
	assert_int_equal(freeze(f, 0, RUN_A, OS_MIG_UNFREEZE, 0, R_END), OSTORE_ELOCKED);
	assert_int_equal(freeze(f, 0, RUN_A, OS_MIG_QUERY, 0, OSTORE_SLOTS), OSTORE_OK);
	assert_int_equal(apply(f, 1, RUN_A), OSTORE_ELOCKED);
	assert_int_equal(purge(f, 1, RUN_A, 0, R_END), OSTORE_ELOCKED);
	os_buf q;
	os_buf_init(&q);
	os_mig_log_req lr = {.cluster_id = CLUSTER, .max_bytes = 1 << 16, .slot_begin = 0,
	                     .slot_end = R_END};
	os_mig_log_req_put(&q, &lr);
	assert_int_equal(call(f, 0, OS_KIND_MIG_LOG, 0, RUN_A, &q, NULL, 0, NULL), OSTORE_OK);
	os_buf_reset(&q);
	os_mig_snap_req sr = {.cluster_id = CLUSTER, .max_bytes = 1 << 16, .slot_begin = 0,
	                      .slot_end = R_END};
	os_mig_snap_req_put(&q, &sr);
	static uint8_t out[1 << 17];
	size_t n;
	assert_int_equal(call(f, 0, OS_KIND_MIG_SNAP, 0, RUN_A, &q, out, sizeof out, &n), OSTORE_OK);
	os_buf_fini(&q);
	/* B holds it: A is still refused, B is served */
	assert_int_equal(lease(f, 0, RUN_B, 60000, 0, NULL, NULL), OSTORE_OK);
	assert_int_equal(lease(f, 1, RUN_B, 60000, 0, NULL, NULL), OSTORE_OK);
	assert_int_equal(freeze(f, 0, RUN_A, OS_MIG_FREEZE, 0, R_END), OSTORE_ELOCKED);
	assert_int_equal(apply(f, 1, RUN_A), OSTORE_ELOCKED);
	assert_int_equal(purge(f, 1, RUN_A, 0, R_END), OSTORE_ELOCKED);
	assert_int_equal(freeze(f, 0, RUN_B, OS_MIG_FREEZE, 0, R_END), OSTORE_OK);
	assert_int_equal(freeze(f, 0, RUN_B, OS_MIG_UNFREEZE, 0, R_END), OSTORE_OK);
	assert_int_equal(apply(f, 1, RUN_B), OSTORE_OK);
	assert_int_equal(purge(f, 1, RUN_B, 0, R_END), OSTORE_OK);
	/* released: refused again */
	assert_int_equal(lease(f, 1, RUN_B, 0, 0, NULL, NULL), OSTORE_OK);
	assert_int_equal(purge(f, 1, RUN_B, 0, R_END), OSTORE_ELOCKED);
	fx_free(f);
}

/* A MAP_SET taking slots from a live primary needs them frozen and the sender's lease;
 * maps that take nothing (the destination, failover, weights) pass. */
static void test_guarded_switch(void **state)
{
	(void)state;
	fx *f = fx_new();
	os_map *moved = make_map(f, 2, R_END, false);
	/* unfrozen, no lease */
	assert_int_equal(map_set(f, 0, RUN_A, moved), OSTORE_ELOCKED);
	assert_int_equal(map_set(f, 0, 0, moved), OSTORE_ELOCKED);
	/* the lease but not frozen */
	assert_int_equal(lease(f, 0, RUN_A, 60000, 0, NULL, NULL), OSTORE_OK);
	assert_int_equal(map_set(f, 0, RUN_A, moved), OSTORE_ELOCKED);
	/* frozen, but only part of the range */
	assert_int_equal(freeze(f, 0, RUN_A, OS_MIG_FREEZE, 0, R_END / 2), OSTORE_OK);
	assert_int_equal(map_set(f, 0, RUN_A, moved), OSTORE_ELOCKED);
	/* frozen, from another run */
	assert_int_equal(freeze(f, 0, RUN_A, OS_MIG_FREEZE, 0, R_END), OSTORE_OK);
	assert_int_equal(map_set(f, 0, RUN_B, moved), OSTORE_ELOCKED);
	assert_int_equal(map_epoch(f, 0), 1); /* every refusal kept the map */
	/* frozen and the holder: accepted */
	assert_int_equal(map_set(f, 0, RUN_A, moved), OSTORE_OK);
	assert_int_equal(map_epoch(f, 0), 2);
	/* the destination and the replica gain slots / lose none: any sender */
	assert_int_equal(map_set(f, 1, 0, moved), OSTORE_OK);
	assert_int_equal(map_set(f, 2, 0, moved), OSTORE_OK);
	os_map_unref(moved);
	/* a failover of shard 1 (node 2 primary, same slots): node 1 takes it without lease */
	os_map *fo = make_map(f, 3, R_END, true);
	assert_int_equal(map_set(f, 1, 0, fo), OSTORE_OK);
	assert_int_equal(map_set(f, 0, 0, fo), OSTORE_OK); /* nothing taken from shard 0 */
	/* weights only: no slot changes hands */
	os_map *w = os_map_clone(fo);
	assert_non_null(w);
	w->epoch = 4;
	os_map_set_weight(w, 0, 3);
	assert_int_equal(map_set(f, 0, 0, w), OSTORE_OK);
	assert_int_equal(map_epoch(f, 0), 4);
	os_map_unref(fo);
	os_map_unref(w);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_rules),
		cmocka_unit_test(test_lease_enforced),
		cmocka_unit_test(test_guarded_switch),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	th_cleanup();
	return failed ? 1 : 0;
}
