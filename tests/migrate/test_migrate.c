/*
 * test_migrate.c - the node side of slot migration end to end (wire.h "Slot migration"):
 * real processes on loopback (tests/support/harness.h), raw MIG_* frames over nng.
 *
 *   node 0: primary of shard 0 (slots [0, 2048)), no replica      = the source
 *   node 1: primary of shard 1 (slots [2048, 4096)), replica node 2 = the destination
 *   test ── MIG_FREEZE / MIG_SNAP / MIG_LOG ──▶ node 0
 *        ── MIG_APPLY / MIG_PURGE ──▶ node 1 (synchronous: node 2 acks) ── CHECKSUM 1 vs 2
 *
 * The moved range is R = [0, 64); a map of epoch 2 gives R to shard 1.
 * Every frame carries client_id 77, which takes the migration lease on nodes 0 and 1 at
 * start (and after a restart, which drops it); test_lease.c tests the lease itself.
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
#define R_BEGIN 0 /* comparisons below assume the range starts at slot 0 */
#define R_END 64
#define CLUSTER 0x5EED5EED5EED5EEDull

typedef struct fx {
	char *dir;
	char url[NN][64], data[NN][512], log[NN][512], map_path[512];
	pid_t pid[NN];
	os_map *map;
	uint64_t seq;
	const char *retain;
} fx;

/* Copy of one entry (snapshot or log). */
typedef struct ent {
	uint8_t op;
	uint64_t version;
	uint8_t key[OS_KEY_MAX];
	uint16_t key_len;
	uint8_t *value;
	uint32_t value_len;
} ent;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Map of @epoch: slots < @moved_end and >= 2048 are shard 1's, the others shard 0's. */
static void write_map(fx *f, uint64_t epoch, unsigned moved_end)
{
	os_map *m = os_map_new();
	assert_non_null(m);
	m->epoch = epoch;
	m->cluster_id = CLUSTER;
	for (uint16_t i = 0; i < NN; i++)
		assert_int_equal(os_map_add_node(m, i, f->url[i]), OSTORE_OK);
	uint16_t rep = 2;
	assert_int_equal(os_map_add_shard(m, 0, 0, NULL, 0), OSTORE_OK);
	assert_int_equal(os_map_add_shard(m, 1, 1, &rep, 1), OSTORE_OK);
	for (unsigned s = 0; s < OSTORE_SLOTS; s++)
		m->slot_shard[s] = (s < moved_end || s >= 2048) ? 1 : 0;
	char err[256];
	assert_int_equal(os_map_save_file(m, f->map_path, err, sizeof(err)), OSTORE_OK);
	os_map_unref(f->map);
	f->map = m;
}

/* Takes the migration lease for client 77 on node @i (10 minutes). */
static void take_lease(fx *f, int i)
{
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_MIG_LEASE, .timeout_ms = 3000, .client_id = 77};
	os_hdr_put(&b, &h);
	os_mig_lease_req_put(&b, 77, OS_MIG_LEASE_TTL_MAX, 0);
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(f->url[i], b.data, b.len, &rep, &rlen, RPC_MS), 0);
	os_buf_fini(&b);
	const uint8_t *body;
	size_t bl;
	assert_int_equal(os_hdr_get(rep, rlen, &h, &body, &bl), OSTORE_OK);
	assert_int_equal(h.status, OSTORE_OK);
	free(rep);
}

static void start(fx *f, int i)
{
	char id[8];
	snprintf(id, sizeof(id), "%d", i);
	const char *argv[20] = {th_bin("node"), "--id", id, "--listen", f->url[i], "--data",
	                        f->data[i], "--map", f->map_path, "--no-sync",
	                        "--heartbeat-timeout-ms", "600"};
	int n = 12;
	if (f->retain != NULL) {
		argv[n++] = "--log-retain-entries";
		argv[n++] = f->retain;
	}
	argv[n] = NULL;
	f->pid[i] = th_spawn(argv, f->log[i]);
	assert_int_equal(th_ping(f->url[i], 10000), 0);
	take_lease(f, i);
}

static fx *fx_new(const char *retain)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->retain = retain;
	f->dir = th_tmpdir("migrate");
	for (int i = 0; i < NN; i++) {
		snprintf(f->url[i], sizeof(f->url[i]), "%s", th_url(th_free_port()));
		snprintf(f->data[i], sizeof(f->data[i]), "%s/node-%d", f->dir, i);
		snprintf(f->log[i], sizeof(f->log[i]), "%s/node-%d.log", f->dir, i);
	}
	snprintf(f->map_path, sizeof(f->map_path), "%s/map.json", f->dir);
	write_map(f, 1, 0);
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
	os_map_unref(f->map);
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
}

static void restart(fx *f, int i)
{
	th_kill(f->pid[i], 9);
	th_wait_exit(f->pid[i], 5000);
	start(f, i);
}

/* ---- frames ---- */

static void frame(fx *f, os_buf *b, uint8_t kind, uint16_t count)
{
	os_buf_init(b);
	os_hdr h = {.kind = kind, .count = count, .timeout_ms = 3000, .epoch = f->map->epoch,
	            .client_id = 77};
	os_hdr_put(b, &h);
}

/* One request; the reply header into *@h, its body (malloc'ed) into *@body. */
static void rpc(const char *url, os_buf *req, os_hdr *h, uint8_t **body, size_t *blen)
{
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(url, req->data, req->len, &rep, &rlen, RPC_MS), 0);
	os_buf_fini(req);
	const uint8_t *b;
	size_t bl;
	assert_int_equal(os_hdr_get(rep, rlen, h, &b, &bl), OSTORE_OK);
	*body = malloc(bl + 1);
	memcpy(*body, b, bl);
	*blen = bl;
	free(rep);
}

/* A DATA item on node @i; returns the item status, *@ver (not NULL) its version. */
static int data(fx *f, int i, uint8_t op, const char *id, const char *val, uint64_t *ver)
{
	os_buf b;
	frame(f, &b, OS_KIND_DATA, 1);
	os_item it = {.op = op, .seq = op == OSTORE_OP_GET ? 0 : ++f->seq, .id = (const uint8_t *)id,
	              .id_len = (uint32_t)strlen(id), .value = (const uint8_t *)val,
	              .value_len = val != NULL ? (uint32_t)strlen(val) : 0};
	os_item_put(&b, &it);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[i], &b, &h, &body, &bl);
	int st = h.status;
	if (st == OSTORE_OK) {
		os_result r;
		assert_int_equal(os_results_get(body, bl, 1, &r), OSTORE_OK);
		st = r.status;
		if (ver != NULL)
			*ver = r.version;
	}
	free(body);
	return st;
}

/* The @k-th ID (from 0) whose slot is in [@b, @e). */
static const char *id_in(unsigned b, unsigned e, int k, char *out)
{
	for (int n = 0, i = 0;; i++) {
		snprintf(out, 32, "mig-%d", i);
		uint16_t s = os_slot_of(out, strlen(out));
		if (s >= b && s < e && n++ == k)
			return out;
	}
}

static int freeze(fx *f, int i, uint8_t op, uint16_t b, uint16_t e, uint64_t *lsn, uint8_t *bm)
{
	os_buf q;
	frame(f, &q, OS_KIND_MIG_FREEZE, 0);
	os_mig_freeze_req_put(&q, op, b, e);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[i], &q, &h, &body, &bl);
	uint8_t tmp[OS_MIG_BITMAP_SIZE];
	uint64_t l = 0;
	if (h.status == OSTORE_OK)
		assert_int_equal(os_mig_freeze_reply_get(body, bl, &l, bm != NULL ? bm : tmp), OSTORE_OK);
	if (lsn != NULL)
		*lsn = l;
	free(body);
	return h.status;
}

static bool bit(const uint8_t *bm, unsigned s)
{
	return (bm[s / 8] >> (s % 8)) & 1u;
}

static void ent_copy(ent *d, uint8_t op, uint64_t ver, const uint8_t *key, uint16_t kl,
                     const uint8_t *val, uint32_t vl)
{
	d->op = op;
	d->version = ver;
	memcpy(d->key, key, kl);
	d->key_len = kl;
	d->value = malloc(vl + 1);
	if (vl)
		memcpy(d->value, val, vl);
	d->value_len = vl;
}

static void ents_free(ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].value);
	free(e);
}

/*
 * MIG_SNAP of [@b, @e) on node @i, all pages (between pages @between(f) runs, if set).
 * Returns the entries (*@n of them), *@snap_lsn, *@pages.
 */
static ent *snap_all(fx *f, int i, uint16_t b, uint16_t e, size_t *n, uint64_t *snap_lsn,
                     int *pages, void (*between)(fx *))
{
	ent *out = NULL;
	size_t cnt = 0;
	uint64_t session = 0;
	uint8_t after[OS_KEY_MAX];
	uint16_t after_len = 0;
	*pages = 0;
	for (;;) {
		os_buf q;
		frame(f, &q, OS_KIND_MIG_SNAP, 0);
		os_mig_snap_req r = {.cluster_id = CLUSTER, .session = session, .max_bytes = 1,
		                     .slot_begin = b, .slot_end = e, .after = after,
		                     .after_len = after_len};
		os_mig_snap_req_put(&q, &r);
		os_hdr h;
		uint8_t *body;
		size_t bl;
		rpc(f->url[i], &q, &h, &body, &bl);
		assert_int_equal(h.status, OSTORE_OK);
		os_snap_head hd;
		os_snap_entry *se = calloc(h.count + 1u, sizeof(*se));
		assert_int_equal(os_snap_reply_get(body, bl, h.count, &hd, se), OSTORE_OK);
		out = realloc(out, (cnt + h.count + 1) * sizeof(*out));
		for (uint16_t k = 0; k < h.count; k++)
			ent_copy(&out[cnt++], OSTORE_OP_PUT, se[k].version, se[k].key, se[k].key_len,
			         se[k].value, se[k].value_len);
		if (h.count > 0) {
			memcpy(after, se[h.count - 1].key, se[h.count - 1].key_len);
			after_len = se[h.count - 1].key_len;
		}
		free(se);
		free(body);
		session = hd.session;
		*snap_lsn = hd.snap_lsn;
		(*pages)++;
		if (hd.done)
			break;
		if (between != NULL)
			between(f);
	}
	*n = cnt;
	return out;
}

/* MIG_LOG on node @i; returns the status, entries into *@out (*@n). */
static int mig_log(fx *f, int i, uint64_t from, uint16_t b, uint16_t e, os_mig_log_head *hd,
                   ent **out, size_t *n)
{
	os_buf q;
	frame(f, &q, OS_KIND_MIG_LOG, 0);
	os_mig_log_req r = {.cluster_id = CLUSTER, .from_lsn = from, .max_bytes = 1 << 20,
	                    .slot_begin = b, .slot_end = e};
	os_mig_log_req_put(&q, &r);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[i], &q, &h, &body, &bl);
	*out = NULL;
	*n = 0;
	if (h.status == OSTORE_OK) {
		os_log_entry *le = calloc(h.count + 1u, sizeof(*le));
		assert_int_equal(os_mig_log_reply_get(body, bl, h.count, hd, le), OSTORE_OK);
		*out = calloc(h.count + 1u, sizeof(ent));
		for (uint16_t k = 0; k < h.count; k++)
			ent_copy(&(*out)[k], le[k].op, le[k].lsn, le[k].key, le[k].key_len, le[k].value,
			         le[k].value_len);
		*n = h.count;
		free(le);
	}
	free(body);
	return h.status;
}

/* MIG_APPLY of @n entries on node @i; returns the status, *@lsn the reply's LSN. */
static int apply(fx *f, int i, uint16_t b, uint16_t e, const ent *es, size_t n, uint64_t *lsn)
{
	os_buf q;
	frame(f, &q, OS_KIND_MIG_APPLY, (uint16_t)n);
	os_mig_apply_head_put(&q, CLUSTER, b, e);
	for (size_t k = 0; k < n; k++) {
		os_log_entry le = {.lsn = es[k].version, .epoch = 1, .op = es[k].op, .key = es[k].key,
		                   .key_len = es[k].key_len, .value = es[k].value,
		                   .value_len = es[k].value_len};
		os_log_entry_put(&q, &le);
	}
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[i], &q, &h, &body, &bl);
	if (h.status == OSTORE_OK) {
		assert_int_equal(bl, 8);
		if (lsn != NULL)
			*lsn = os_ld64(body);
	}
	free(body);
	return h.status;
}

static int purge(fx *f, int i, uint16_t b, uint16_t e, uint32_t max, uint32_t *deleted,
                 uint32_t *more)
{
	os_buf q;
	frame(f, &q, OS_KIND_MIG_PURGE, 0);
	os_mig_purge_req_put(&q, CLUSTER, b, e, max);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[i], &q, &h, &body, &bl);
	if (h.status == OSTORE_OK)
		assert_int_equal(os_mig_purge_reply_get(body, bl, deleted, more), OSTORE_OK);
	free(body);
	return h.status;
}

static uint64_t checksums(fx *f, int i, os_cksum_entry *e)
{
	os_buf b;
	frame(f, &b, OS_KIND_CHECKSUM, 0);
	os_cksum_req_put(&b, 0, OSTORE_SLOTS);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[i], &b, &h, &body, &bl);
	assert_int_equal(h.status, OSTORE_OK);
	uint64_t lsn = 0;
	assert_int_equal(os_cksum_reply_get(body, bl, OSTORE_SLOTS, &lsn, e), OSTORE_OK);
	free(body);
	return lsn;
}

/* Waits until nodes 1 and 2 (primary and replica of shard 1) hold the same data. */
static void assert_replica_in_sync(fx *f, int timeout_ms)
{
	static os_cksum_entry a[OSTORE_SLOTS], c[OSTORE_SLOTS];
	uint64_t end = os_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t la = checksums(f, 1, a), lc = checksums(f, 2, c);
		if (la == lc && memcmp(a, c, sizeof a) == 0)
			return;
		if (os_now_ns() > end)
			fail_msg("replica not in sync: lsn %llu vs %llu", (unsigned long long)la,
			         (unsigned long long)lc);
		sleep_ms(100);
	}
}

static uint64_t orders_in(fx *f, int i, unsigned b, unsigned e)
{
	static os_cksum_entry a[OSTORE_SLOTS];
	checksums(f, i, a);
	uint64_t n = 0;
	for (unsigned s = b; s < e; s++)
		n += a[s].orders;
	return n;
}

/* Installs f->map on every node (MAP_SET). */
static void push_map(fx *f)
{
	for (int i = 0; i < NN; i++) {
		os_buf b;
		frame(f, &b, OS_KIND_MAP_SET, 0);
		assert_int_equal(os_map_encode(f->map, &b), OSTORE_OK);
		os_hdr h;
		uint8_t *body;
		size_t bl;
		rpc(f->url[i], &b, &h, &body, &bl);
		assert_int_equal(h.status, OSTORE_OK);
		free(body);
	}
}

/* PUTs @n orders in [@b, @e) on node 0 from index @from, value size @vsize. */
static void fill(fx *f, unsigned b, unsigned e, int from, int n, size_t vsize)
{
	char id[32];
	char *val = malloc(vsize + 1);
	for (int k = from; k < from + n; k++) {
		memset(val, 'a' + k % 26, vsize);
		snprintf(val, vsize, "v%d-", k);
		val[strlen(val)] = 'x';
		val[vsize] = '\0';
		assert_int_equal(data(f, 0, OSTORE_OP_PUT, id_in(b, e, k, id), val, NULL), OSTORE_OK);
	}
	free(val);
}

/* ---- tests ---- */

/* Freeze: writes EMIGRATING, reads served, other slots writable, durable, unfreeze. */
static void test_freeze(void **state)
{
	(void)state;
	fx *f = fx_new(NULL);
	char id[32], other[32];
	id_in(R_BEGIN, R_END, 0, id);
	id_in(100, 200, 0, other);
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id, "before", NULL), OSTORE_OK);
	uint64_t lsn = 0;
	uint8_t bm[OS_MIG_BITMAP_SIZE];
	assert_int_equal(freeze(f, 0, OS_MIG_FREEZE, R_BEGIN, R_END, &lsn, bm), OSTORE_OK);
	assert_int_equal(lsn, 1);
	for (unsigned s = 0; s < 128; s++)
		assert_int_equal(bit(bm, s), s < R_END);
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id, "during", NULL), OSTORE_EMIGRATING);
	assert_int_equal(data(f, 0, OSTORE_OP_DEL, id, NULL, NULL), OSTORE_EMIGRATING);
	assert_int_equal(data(f, 0, OSTORE_OP_GET, id, NULL, NULL), OSTORE_OK);
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, other, "fine", NULL), OSTORE_OK);
	/* a slot of another shard: moved */
	assert_int_equal(freeze(f, 0, OS_MIG_FREEZE, 2048, 2050, NULL, NULL), OSTORE_EMOVED);
	/* the replica of shard 1: not primary */
	assert_int_equal(freeze(f, 2, OS_MIG_FREEZE, 2048, 2050, NULL, NULL), OSTORE_ENOTPRIMARY);
	/* durable across a restart */
	restart(f, 0);
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id, "during", NULL), OSTORE_EMIGRATING);
	memset(bm, 0, sizeof bm);
	assert_int_equal(freeze(f, 0, OS_MIG_QUERY, 0, OSTORE_SLOTS, &lsn, bm), OSTORE_OK);
	assert_int_equal(lsn, 2);
	assert_true(bit(bm, R_BEGIN) && bit(bm, R_END - 1) && !bit(bm, R_END));
	assert_int_equal(freeze(f, 0, OS_MIG_UNFREEZE, R_BEGIN, R_END, NULL, bm), OSTORE_OK);
	assert_false(bit(bm, R_BEGIN));
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id, "after", NULL), OSTORE_OK);
	fx_free(f);
}

static int g_between; /* writes made between snapshot pages */

static void write_between(fx *f)
{
	char id[32];
	/* overwrite an order of the range and add a new one, plus one outside it */
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id_in(R_BEGIN, R_END, g_between, id), "changed",
	                      NULL),
	                 OSTORE_OK);
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id_in(R_BEGIN, R_END, 1000 + g_between, id),
	                      "new", NULL),
	                 OSTORE_OK);
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id_in(500, 600, g_between, id), "out", NULL),
	                 OSTORE_OK);
	g_between++;
}

/* MIG_SNAP pages are the range's orders at one LSN; MIG_LOG the range's later writes. */
static void test_snap_and_log(void **state)
{
	(void)state;
	fx *f = fx_new(NULL);
	fill(f, R_BEGIN, R_END, 0, 200, 900); /* ~180 KB: several 64 KB pages */
	fill(f, 200, 300, 0, 50, 100);        /* outside the range */
	g_between = 0;
	size_t n;
	uint64_t snap_lsn;
	int pages;
	ent *es = snap_all(f, 0, R_BEGIN, R_END, &n, &snap_lsn, &pages, write_between);
	assert_true(pages >= 3);
	assert_int_equal(n, 200); /* the orders at the snapshot, none written after it */
	assert_int_equal(snap_lsn, 250);
	for (size_t k = 0; k < n; k++) {
		uint16_t s = os_key_slot(es[k].key);
		assert_true(s < R_END);
		assert_true(es[k].version <= snap_lsn);
		assert_int_equal(es[k].value_len, 900); /* never the "changed" value */
		assert_true(k == 0 || memcmp(es[k - 1].key, es[k].key, 2) <= 0);
	}
	ents_free(es, n);
	/* the log after the snapshot: only the range's writes */
	os_mig_log_head hd;
	ent *le;
	assert_int_equal(mig_log(f, 0, snap_lsn, R_BEGIN, R_END, &hd, &le, &n), OSTORE_OK);
	assert_int_equal(n, 2 * (size_t)g_between);
	assert_int_equal(hd.source_lsn, snap_lsn + 3 * (uint64_t)g_between);
	assert_int_equal(hd.scanned_to, hd.source_lsn);
	assert_int_equal(hd.frozen_lsn, 0);
	for (size_t k = 0; k < n; k++) {
		assert_true(le[k].version > snap_lsn);
		assert_true(os_key_slot(le[k].key) < R_END);
		assert_int_equal(le[k].op, OSTORE_OP_PUT);
	}
	ents_free(le, n);
	/* a freeze: frozen_lsn is its LSN */
	uint64_t flsn;
	assert_int_equal(freeze(f, 0, OS_MIG_FREEZE, R_BEGIN, R_END, &flsn, NULL), OSTORE_OK);
	assert_int_equal(mig_log(f, 0, hd.scanned_to, R_BEGIN, R_END, &hd, &le, &n), OSTORE_OK);
	assert_int_equal(hd.frozen_lsn, flsn);
	assert_int_equal(n, 0);
	ents_free(le, n);
	/* a sub-range not wholly frozen reports 0 */
	assert_int_equal(mig_log(f, 0, hd.scanned_to, R_BEGIN, R_END + 10, &hd, &le, &n), OSTORE_OK);
	assert_int_equal(hd.frozen_lsn, 0);
	ents_free(le, n);
	/* a range the node does not own */
	assert_int_equal(mig_log(f, 0, 0, 2048, 2050, &hd, &le, &n), OSTORE_EMOVED);
	fx_free(f);
}

/* MIG_LOG from before the retained log answers ERESEED. */
static void test_log_trimmed(void **state)
{
	(void)state;
	fx *f = fx_new("10");
	fill(f, R_BEGIN, R_END, 0, 40, 10);
	os_mig_log_head hd;
	ent *le;
	size_t n;
	assert_int_equal(mig_log(f, 0, 1, R_BEGIN, R_END, &hd, &le, &n), OSTORE_ERESEED);
	assert_int_equal(mig_log(f, 0, 35, R_BEGIN, R_END, &hd, &le, &n), OSTORE_OK);
	assert_int_equal(n, 5);
	assert_true(hd.oldest_lsn > 1);
	ents_free(le, n);
	fx_free(f);
}

/* MIG_APPLY: refused on an owned range; versions >= the source's (JUMP); replicated. */
static void test_apply(void **state)
{
	(void)state;
	fx *f = fx_new(NULL);
	fill(f, 200, 300, 0, 100, 20); /* source LSNs run ahead of the destination's */
	fill(f, R_BEGIN, R_END, 0, 30, 50);
	size_t n;
	uint64_t snap_lsn, lsn;
	int pages;
	ent *es = snap_all(f, 0, R_BEGIN, R_END, &n, &snap_lsn, &pages, NULL);
	assert_int_equal(n, 30);
	/* refusals: an owned range, a replica, an entry outside the range */
	assert_int_equal(apply(f, 1, 2048, 2100, es, 1, NULL), OSTORE_EINVAL);
	assert_int_equal(apply(f, 2, R_BEGIN, R_END, es, n, NULL), OSTORE_ENOTPRIMARY);
	assert_int_equal(apply(f, 1, R_BEGIN, R_BEGIN + 1, es, n, NULL),
	                 os_key_slot(es[n - 1].key) == R_BEGIN ? OSTORE_OK : OSTORE_EINVAL);
	/* a write of the destination's own before, so its LSN is not 0 */
	char id[32];
	assert_int_equal(data(f, 1, OSTORE_OP_PUT, id_in(2048, 4096, 0, id), "own", NULL), OSTORE_OK);
	assert_int_equal(apply(f, 1, R_BEGIN, R_END, es, n, &lsn), OSTORE_OK);
	assert_true(lsn >= snap_lsn);
	/* a DEL of an absent order is no error */
	ent del = {.op = OSTORE_OP_DEL, .version = 5};
	del.key_len = (uint16_t)os_key_make(del.key, (uint16_t)os_slot_of("absent-x", 8), "absent-x", 8);
	uint16_t ds = os_key_slot(del.key);
	assert_int_equal(apply(f, 1, ds, ds + 1, &del, 1, NULL),
	                 ds >= 2048 ? OSTORE_EINVAL : OSTORE_OK);
	assert_replica_in_sync(f, 5000);
	/* the map moves R to shard 1 (frozen on the source first: the guarded switch): reads
	 * there give versions >= the source's */
	assert_int_equal(freeze(f, 0, OS_MIG_FREEZE, R_BEGIN, R_END, NULL, NULL), OSTORE_OK);
	write_map(f, 2, R_END);
	push_map(f);
	for (size_t k = 0; k < n; k++) {
		char key_id[300];
		memcpy(key_id, es[k].key + 2, es[k].key_len - 2u);
		key_id[es[k].key_len - 2] = '\0';
		uint64_t ver = 0;
		assert_int_equal(data(f, 1, OSTORE_OP_GET, key_id, NULL, &ver), OSTORE_OK);
		assert_true(ver >= es[k].version);
	}
	/* a replica down while the LSN jumps far ahead, then restarted: it catches up */
	th_kill(f->pid[2], 9);
	th_wait_exit(f->pid[2], 5000);
	sleep_ms(800); /* past the heartbeat timeout: the replica is unreachable */
	ent far;
	ent_copy(&far, OSTORE_OP_PUT, lsn + 100000, es[0].key, es[0].key_len, (const uint8_t *)"far", 3);
	far.key_len = (uint16_t)os_key_make(far.key, 100, "far-away", 8);
	int st = apply(f, 1, 64, 128, &far, 1, NULL);
	assert_true(st == OSTORE_EREPLICAS || st == OSTORE_OK); /* committed either way */
	os_cksum_entry cs[OSTORE_SLOTS];
	assert_true(checksums(f, 1, cs) >= lsn + 100000);
	start(f, 2);
	assert_replica_in_sync(f, 10000);
	/* and a write after the jump replicates too */
	sleep_ms(300);
	assert_int_equal(data(f, 1, OSTORE_OP_PUT, id_in(2048, 4096, 1, id), "after-jump", NULL),
	                 OSTORE_OK);
	assert_replica_in_sync(f, 5000);
	free(far.value);
	ents_free(es, n);
	fx_free(f);
}

/* MIG_PURGE: refused on an owned range; deletes in steps until more = 0, on replicas too. */
static void test_purge(void **state)
{
	(void)state;
	fx *f = fx_new(NULL);
	fill(f, R_BEGIN, R_END, 0, 120, 30);
	size_t n;
	uint64_t snap_lsn;
	int pages;
	ent *es = snap_all(f, 0, R_BEGIN, R_END, &n, &snap_lsn, &pages, NULL);
	assert_int_equal(apply(f, 1, R_BEGIN, R_END, es, n, NULL), OSTORE_OK);
	assert_replica_in_sync(f, 5000);
	uint32_t del = 0, more = 0;
	/* the source still owns R */
	assert_int_equal(purge(f, 0, R_BEGIN, R_END, 50, &del, &more), OSTORE_EINVAL);
	assert_int_equal(purge(f, 2, R_BEGIN, R_END, 50, &del, &more), OSTORE_ENOTPRIMARY);
	/* the destination's leftovers (it does not own R): cleared, replica too */
	uint32_t total = 0;
	int rounds = 0;
	do {
		assert_int_equal(purge(f, 1, R_BEGIN, R_END, 50, &del, &more), OSTORE_OK);
		total += del;
		rounds++;
	} while (more && rounds < 10);
	assert_int_equal(total, 120);
	assert_int_equal(rounds, 3);
	assert_int_equal(orders_in(f, 1, R_BEGIN, R_END), 0);
	assert_replica_in_sync(f, 5000);
	assert_int_equal(orders_in(f, 2, R_BEGIN, R_END), 0);
	/* after a move, the source purges its copy */
	assert_int_equal(freeze(f, 0, OS_MIG_FREEZE, R_BEGIN, R_END, NULL, NULL), OSTORE_OK);
	write_map(f, 2, R_END);
	push_map(f);
	assert_int_equal(purge(f, 0, R_BEGIN, R_END, 1000, &del, &more), OSTORE_OK);
	assert_int_equal(del, 120);
	assert_int_equal(more, 0);
	assert_int_equal(orders_in(f, 0, R_BEGIN, R_END), 0);
	ents_free(es, n);
	fx_free(f);
}

/* Requests with a newer epoch than the node's map: ESTALE; bad frames: EPROTO. */
static void test_stale_and_bad(void **state)
{
	(void)state;
	fx *f = fx_new(NULL);
	f->map->epoch = 5; /* the test's frames now carry epoch 5, the nodes hold 1 */
	assert_int_equal(freeze(f, 0, OS_MIG_QUERY, 0, 10, NULL, NULL), OSTORE_ESTALE);
	os_mig_log_head hd;
	ent *le;
	size_t n;
	assert_int_equal(mig_log(f, 0, 0, 0, 10, &hd, &le, &n), OSTORE_ESTALE);
	uint32_t del, more;
	assert_int_equal(purge(f, 1, 0, 10, 10, &del, &more), OSTORE_ESTALE);
	f->map->epoch = 1;
	/* a bad range */
	os_buf q;
	frame(f, &q, OS_KIND_MIG_FREEZE, 0);
	os_mig_freeze_req_put(&q, OS_MIG_FREEZE, 10, 10);
	os_hdr h;
	uint8_t *body;
	size_t bl;
	rpc(f->url[0], &q, &h, &body, &bl);
	assert_int_equal(h.status, OSTORE_EPROTO);
	free(body);
	/* the node is still fine */
	char id[32];
	assert_int_equal(data(f, 0, OSTORE_OP_PUT, id_in(R_BEGIN, R_END, 0, id), "x", NULL), OSTORE_OK);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_freeze),
		cmocka_unit_test(test_snap_and_log),
		cmocka_unit_test(test_log_trimmed),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_purge),
		cmocka_unit_test(test_stale_and_bad),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	th_cleanup();
	return failed ? 1 : 0;
}
