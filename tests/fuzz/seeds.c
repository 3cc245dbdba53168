/*
 * seeds.c - writes the seed corpus of the frame and map harnesses (tests only; run by
 * tests/fuzz/make-corpus, docs/fuzzing.md): `fuzz_seeds OUTDIR` fills
 * OUTDIR/fuzz_wire, fuzz_repl, fuzz_mig and fuzz_map (the directories must exist).
 *
 * Every seed is produced by the real encoders of common/ with the values real traffic
 * carries: order IDs and JSON documents of the Online Retail data set, the map of a
 * `orderstore local up` cluster (3 shards, a replica each, loopback addresses), LMDB
 * keys (slot BE + ID) with their real slots. The fuzzer starts from valid frames of every
 * kind and mutates from there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "slot.h"
#include "wire.h"

static const char *outdir;

static const char *const ids[] = {"536365", "C536379", "581587"};
static const char *const docs[] = {
	"{\"order_id\":\"536365\",\"customer\":\"17850\",\"country\":\"United Kingdom\","
	"\"created_at\":\"2010-12-01T08:26:00\",\"status\":\"placed\",\"lines\":[{\"stock_code\":"
	"\"85123A\",\"description\":\"WHITE HANGING HEART T-LIGHT HOLDER\",\"quantity\":6,"
	"\"unit_price\":2.55}]}",
	"{\"order_id\":\"C536379\",\"customer\":\"14527\",\"country\":\"United Kingdom\","
	"\"created_at\":\"2010-12-01T09:41:00\",\"status\":\"cancelled\",\"lines\":[{\"stock_code\":"
	"\"D\",\"description\":\"Discount\",\"quantity\":-1,\"unit_price\":27.5}]}",
	"{\"order_id\":\"581587\",\"customer\":\"12680\",\"country\":\"France\",\"created_at\":"
	"\"2011-12-09T12:50:00\",\"status\":\"placed\",\"lines\":[{\"stock_code\":\"22613\","
	"\"description\":\"PACK OF 20 SPACEBOY NAPKINS\",\"quantity\":12,\"unit_price\":0.85}]}",
};
#define NIDS 3u

/* Write @n bytes to OUTDIR/@dir/@name; exits on failure (a seed tool has nothing to
 * recover). */
static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s/%s", outdir, dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Write a frame: a header of @kind with @count, @flags, @status and credential @cred
 * (NULL: none), then @body. */
static void frame_cred(const char *dir, const char *name, uint8_t kind, uint16_t status,
                       uint16_t count, uint8_t flags, const os_buf *body, const char *cred)
{
	os_hdr h = {.kind = kind, .status = status, .count = count, .timeout_ms = 2000,
	            .epoch = 7, .client_id = 0x5eed5eed01020304ull, .flags = flags,
	            .cred = (const uint8_t *)cred, .cred_len = cred ? (uint8_t)strlen(cred) : 0};
	if (kind & OS_REPLY_BIT)
		h.timeout_ms = 0; /* replies echo client_id, carry no deadline */
	os_buf b;
	os_buf_init(&b);
	os_hdr_put(&b, &h);
	os_buf_put(&b, body->data, body->len);
	if (b.oom) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	write_seed(dir, name, b.data, b.len);
	os_buf_fini(&b);
}

static void frame(const char *dir, const char *name, uint8_t kind, uint16_t status,
                  uint16_t count, uint8_t flags, const os_buf *body)
{
	frame_cred(dir, name, kind, status, count, flags, body, NULL);
}

/* A credential as `local up --auth` writes them (64 hex digits). */
static const char kSeedToken[] = "5eed0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";

/* The LMDB key of ids[i]: slot (BE) + ID. */
static size_t lmdb_key(unsigned i, uint8_t key[2 + OSTORE_MAX_ID_LEN])
{
	size_t n = strlen(ids[i]);
	uint16_t slot = os_slot_of(ids[i], n);
	key[0] = (uint8_t)(slot >> 8);
	key[1] = (uint8_t)slot;
	memcpy(key + 2, ids[i], n);
	return n + 2;
}

static void wire_seeds(const os_map *map)
{
	const char *d = "fuzz_wire";
	os_buf b;
	os_buf_init(&b);
	/* DATA: GET, PUT, CAS, DEL; replies; a bounded read */
	static const uint8_t ops[] = {OSTORE_OP_GET, OSTORE_OP_PUT, OSTORE_OP_CAS, OSTORE_OP_DEL};
	for (unsigned i = 0; i < 4; i++) {
		const char *v = ops[i] == OSTORE_OP_PUT || ops[i] == OSTORE_OP_CAS ? docs[i % NIDS] : NULL;
		os_item it = {.op = ops[i], .seq = ops[i] == OSTORE_OP_GET ? 0 : 41 + i,
		              .expected = ops[i] == OSTORE_OP_CAS ? 1234 : 0,
		              .id = (const uint8_t *)ids[i % NIDS], .id_len = (uint32_t)strlen(ids[i % NIDS]),
		              .value = (const uint8_t *)v, .value_len = v ? (uint32_t)strlen(v) : 0};
		os_item_put(&b, &it);
	}
	frame(d, "data_req_mixed", OS_KIND_DATA, 0, 4, 0, &b);
	frame_cred(d, "data_req_auth", OS_KIND_DATA, 0, 4, 0, &b, kSeedToken);
	os_buf_reset(&b);
	os_read_bound rb = {.max_lag_lsn = 100, .max_lag_ms = 500};
	os_read_bound_put(&b, &rb);
	for (unsigned i = 0; i < NIDS; i++) {
		os_item it = {.op = OSTORE_OP_GET, .id = (const uint8_t *)ids[i],
		              .id_len = (uint32_t)strlen(ids[i])};
		os_item_put(&b, &it);
	}
	frame(d, "data_req_bounded", OS_KIND_DATA, 0, NIDS, OS_HDR_F_BOUNDED_READ, &b);
	frame_cred(d, "data_req_bounded_auth", OS_KIND_DATA, 0, NIDS, OS_HDR_F_BOUNDED_READ, &b, "c");
	os_buf_reset(&b);
	os_result_put(&b, OSTORE_OK, 1042, docs[0], (uint32_t)strlen(docs[0]));
	os_result_put(&b, OSTORE_ENOTFOUND, 0, NULL, 0);
	os_result_put(&b, OSTORE_OK, 1043, docs[2], (uint32_t)strlen(docs[2]));
	frame(d, "data_reply", OS_KIND_DATA | OS_REPLY_BIT, 0, 3, 0, &b);
	/* SCAN */
	os_buf_reset(&b);
	os_scan_req sq = {.slot_begin = 0, .slot_end = 1365, .limit = 100,
	                  .after = (const uint8_t *)ids[0], .after_len = 6};
	os_scan_req_put(&b, &sq);
	frame(d, "scan_req", OS_KIND_SCAN, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_scan_next_put(&b, 17, ids[1], (uint16_t)strlen(ids[1]));
	for (unsigned i = 0; i < NIDS; i++) {
		os_scan_entry e = {.id = (const uint8_t *)ids[i], .id_len = (uint16_t)strlen(ids[i]),
		                   .value = (const uint8_t *)docs[i], .value_len = (uint32_t)strlen(docs[i]),
		                   .version = 900 + i};
		os_scan_entry_put(&b, &e);
	}
	frame(d, "scan_reply", OS_KIND_SCAN | OS_REPLY_BIT, 0, NIDS, 0, &b);
	/* STATS: a node's one entry, a router's three */
	os_buf_reset(&b);
	for (unsigned i = 0; i < 3; i++) {
		os_stats_entry e = {.shard = i, .slots = 1365 + (i == 0), .node = 2 * i, .orders = 8000 + i,
		                    .lsn = 25000 + i, .bytes_used = 4u << 20, .map_size = 1u << 30,
		                    .role = OS_ROLE_PRIMARY, .replicas = 1, .primary_lsn = 25000 + i,
		                    .replica_reads = 12, .stale_reads = 1};
		os_stats_entry_put(&b, &e);
		if (i == 0)
			frame(d, "stats_reply_node", OS_KIND_STATS | OS_REPLY_BIT, 0, 1, 0, &b);
	}
	frame(d, "stats_reply_router", OS_KIND_STATS | OS_REPLY_BIT, 0, 3, 0, &b);
	/* CHECKSUM */
	os_buf_reset(&b);
	os_cksum_req_put(&b, 0, 8);
	frame(d, "cksum_req", OS_KIND_CHECKSUM, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_buf_put_u64(&b, 25000);
	for (unsigned i = 0; i < 8; i++) {
		os_buf_put_u64(&b, i % 3);
		os_buf_put_u64(&b, i % 3 ? 0x9e3779b97f4a7c15ull * i : 0x2d06800538d394c2ull);
	}
	frame(d, "cksum_reply", OS_KIND_CHECKSUM | OS_REPLY_BIT, 0, 8, 0, &b);
	/* TOP */
	os_buf_reset(&b);
	os_top_head th = {.interval_ms = 1000, .items = 5230, .writes = 1200, .p50_us = 64,
	                  .p99_us = 1024};
	os_top_head_put(&b, &th);
	for (unsigned i = 0; i < NIDS; i++) {
		os_top_key k = {.hits = 300 - 50 * i, .err = i, .id = (const uint8_t *)ids[i],
		                .id_len = (uint16_t)strlen(ids[i])};
		os_top_key_put(&b, &k);
	}
	frame(d, "top_reply", OS_KIND_TOP | OS_REPLY_BIT, 0, NIDS, 0, &b);
	/* MAP_SET / MAP_GET, status-only replies, PING */
	os_buf_reset(&b);
	os_map_encode(map, &b);
	frame(d, "map_set", OS_KIND_MAP_SET, 0, 0, 0, &b);
	frame_cred(d, "map_set_auth", OS_KIND_MAP_SET, 0, 0, 0, &b, kSeedToken);
	frame(d, "map_get_reply", OS_KIND_MAP_GET | OS_REPLY_BIT, 0, 0, 0, &b);
	os_buf_reset(&b);
	frame(d, "ping", OS_KIND_PING, 0, 0, 0, &b);
	os_reply_status(&b, OS_KIND_DATA, OSTORE_EMOVED, 8, 0x5eed5eed01020304ull);
	write_seed(d, "reply_moved", b.data, b.len);
	os_buf_fini(&b);
}

static void repl_seeds(void)
{
	const char *d = "fuzz_repl";
	os_buf b;
	os_buf_init(&b);
	os_pull_req pr = {.shard = 1, .node_id = 4, .wait_ms = 1000, .cluster_id = 0xc1u,
	                  .from_lsn = 24990, .from_epoch = 7, .max_bytes = 1u << 20};
	os_pull_req_put(&b, &pr);
	frame(d, "pull_req", OS_KIND_REPL_PULL, 0, 0, 0, &b);
	frame_cred(d, "pull_req_auth", OS_KIND_REPL_PULL, 0, 0, 0, &b, kSeedToken);
	os_buf_reset(&b);
	os_pull_reply_head_put(&b, 25000, 20000);
	uint8_t key[2 + OSTORE_MAX_ID_LEN], prev[8];
	for (unsigned i = 0; i < NIDS; i++) {
		size_t kl = lmdb_key(i, key);
		os_log_entry e = {.lsn = 24991 + i, .epoch = 7, .op = i == 1 ? OSTORE_OP_DEL : OSTORE_OP_PUT,
		                  .key = key, .key_len = (uint16_t)kl};
		if (e.op == OSTORE_OP_PUT)
			e.value = (const uint8_t *)docs[i], e.value_len = (uint32_t)strlen(docs[i]);
		os_log_entry_put(&b, &e);
	}
	os_st64(prev, 24993);
	os_log_entry jump = {.lsn = 25000, .epoch = 7, .op = OS_LOG_OP_JUMP, .value = prev,
	                     .value_len = 8};
	os_log_entry_put(&b, &jump);
	frame(d, "pull_reply", OS_KIND_REPL_PULL | OS_REPLY_BIT, 0, NIDS + 1, 0, &b);
	os_buf_reset(&b);
	size_t kl = lmdb_key(0, key);
	os_snap_req sr = {.shard = 1, .node_id = 4, .max_bytes = 1u << 20, .cluster_id = 0xc1u,
	                  .session = 3, .after = key, .after_len = (uint16_t)kl};
	os_snap_req_put(&b, &sr);
	frame(d, "snap_req", OS_KIND_SNAP, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_snap_head sh = {.session = 3, .snap_lsn = 25000, .snap_epoch = 7, .done = 1};
	os_snap_head_put(&b, &sh);
	for (unsigned i = 0; i < NIDS; i++) {
		kl = lmdb_key(i, key);
		os_snap_entry e = {.key = key, .key_len = (uint16_t)kl, .value = (const uint8_t *)docs[i],
		                   .value_len = (uint32_t)strlen(docs[i]), .version = 24000 + i};
		os_snap_entry_put(&b, &e);
	}
	frame(d, "snap_reply", OS_KIND_SNAP | OS_REPLY_BIT, 0, NIDS, 0, &b);
	os_buf_fini(&b);
}

static void mig_seeds(void)
{
	const char *d = "fuzz_mig";
	os_buf b;
	os_buf_init(&b);
	uint8_t key[2 + OSTORE_MAX_ID_LEN];
	size_t kl = lmdb_key(0, key);
	uint16_t s0 = (uint16_t)((key[0] << 8) | key[1]);
	os_mig_snap_req sq = {.cluster_id = 0xc1u, .session = 0, .max_bytes = 1u << 20,
	                      .slot_begin = s0, .slot_end = (uint16_t)(s0 + 1), .after = key,
	                      .after_len = (uint16_t)kl};
	os_mig_snap_req_put(&b, &sq);
	frame(d, "snap_req", OS_KIND_MIG_SNAP, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_snap_head sh = {.session = 5, .snap_lsn = 25000, .snap_epoch = 7, .done = 0};
	os_snap_head_put(&b, &sh);
	os_snap_entry se = {.key = key, .key_len = (uint16_t)kl, .value = (const uint8_t *)docs[0],
	                    .value_len = (uint32_t)strlen(docs[0]), .version = 24000};
	os_snap_entry_put(&b, &se);
	frame(d, "snap_reply", OS_KIND_MIG_SNAP | OS_REPLY_BIT, 0, 1, 0, &b);
	os_buf_reset(&b);
	os_mig_log_req lq = {.cluster_id = 0xc1u, .from_lsn = 25000, .max_bytes = 1u << 20,
	                     .max_scan = 0, .slot_begin = s0, .slot_end = (uint16_t)(s0 + 1)};
	os_mig_log_req_put(&b, &lq);
	frame(d, "log_req", OS_KIND_MIG_LOG, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_mig_log_head lh = {.source_lsn = 25010, .oldest_lsn = 20000, .scanned_to = 25010,
	                      .frozen_lsn = 25010};
	os_mig_log_head_put(&b, &lh);
	os_log_entry le = {.lsn = 25004, .epoch = 7, .op = OSTORE_OP_PUT, .key = key,
	                   .key_len = (uint16_t)kl, .value = (const uint8_t *)docs[0],
	                   .value_len = (uint32_t)strlen(docs[0])};
	os_log_entry_put(&b, &le);
	os_log_entry del = {.lsn = 25009, .epoch = 7, .op = OSTORE_OP_DEL, .key = key,
	                    .key_len = (uint16_t)kl};
	os_log_entry_put(&b, &del);
	frame(d, "log_reply", OS_KIND_MIG_LOG | OS_REPLY_BIT, 0, 2, 0, &b);
	for (uint8_t op = OS_MIG_QUERY; op <= OS_MIG_UNFREEZE; op++) {
		char name[32];
		snprintf(name, sizeof name, "freeze_req_%u", op);
		os_buf_reset(&b);
		os_mig_freeze_req_put(&b, op, s0, (uint16_t)(s0 + 1));
		frame(d, name, OS_KIND_MIG_FREEZE, 0, 0, 0, &b);
	}
	os_buf_reset(&b);
	uint8_t bitmap[OS_MIG_BITMAP_SIZE] = {0};
	bitmap[s0 / 8] |= (uint8_t)(1u << (s0 % 8));
	os_buf_put_u64(&b, 25010);
	os_buf_put(&b, bitmap, sizeof bitmap);
	frame(d, "freeze_reply", OS_KIND_MIG_FREEZE | OS_REPLY_BIT, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_mig_apply_head_put(&b, 0xc1u, s0, (uint16_t)(s0 + 1));
	os_log_entry_put(&b, &le);
	os_log_entry_put(&b, &del);
	frame(d, "apply_req", OS_KIND_MIG_APPLY, 0, 2, 0, &b);
	os_buf_reset(&b);
	os_mig_purge_req_put(&b, 0xc1u, s0, (uint16_t)(s0 + 1), 1000);
	frame(d, "purge_req", OS_KIND_MIG_PURGE, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_buf_put_u32(&b, 1000);
	os_buf_put_u32(&b, 1);
	frame(d, "purge_reply", OS_KIND_MIG_PURGE | OS_REPLY_BIT, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_mig_lease_req_put(&b, 0x5eed5eed5eedull, 30000, OS_MIG_LEASE_F_RENEW);
	frame(d, "lease_req", OS_KIND_MIG_LEASE, 0, 0, 0, &b);
	os_buf_reset(&b);
	os_mig_lease_reply_put(&b, 0x5eed5eed5eedull, 29000);
	frame(d, "lease_reply", OS_KIND_MIG_LEASE | OS_REPLY_BIT, 0, 0, 0, &b);
	os_buf_fini(&b);
}

/* The map of `orderstore local up --shards 3 --replicas 1`: primaries 0..2, replicas
 * 3..5, epoch 7 after a failover and a weight change. */
static os_map *local_map(void)
{
	static const char *const addrs[] = {"tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102",
	                                    "tcp://127.0.0.1:7103"};
	os_map *m = os_map_build_even(3, addrs, 0x0123456789abcdefull);
	if (m == NULL)
		return NULL;
	os_map *n = os_map_clone(m);
	os_map_unref(m);
	n->epoch = 7;
	for (uint16_t i = 0; i < 3; i++) {
		char addr[64];
		snprintf(addr, sizeof addr, "tcp://127.0.0.1:%u", 7104u + i);
		os_map_add_node(n, (uint16_t)(3 + i), addr);
		n->shards[i].replicas[0] = (uint16_t)(3 + i);
		n->shards[i].nreplicas = 1;
	}
	os_map_set_weight(n, 2, 2);
	return os_map_check(n) == OSTORE_OK ? n : NULL;
}

static void map_seeds(const os_map *m)
{
	const char *d = "fuzz_map";
	os_buf b;
	os_buf_init(&b);
	os_map_encode(m, &b);
	write_seed(d, "blob_v2", b.data, b.len);
	/* format 1: the same map without the weight fields */
	os_buf v1;
	os_buf_init(&v1);
	os_buf_put_u32(&v1, OS_MAP_MAGIC);
	os_buf_put_u16(&v1, OS_MAP_FORMAT_V1);
	os_buf_put(&v1, b.data + 6, 22);
	size_t at = 28;
	for (uint16_t i = 0; i < m->nnodes; i++) {
		size_t n = 4 + strlen(m->nodes[i].addr);
		os_buf_put(&v1, b.data + at, n);
		at += n;
	}
	for (uint16_t i = 0; i < m->nshards; i++) {
		size_t n = 6 + 2u * m->shards[i].nreplicas;
		os_buf_put(&v1, b.data + at, n);
		at += n + 2;
	}
	os_buf_put(&v1, b.data + at, b.len - at);
	write_seed(d, "blob_v1", v1.data, v1.len);
	char *json = os_map_to_json(m);
	if (json == NULL)
		exit(1);
	write_seed(d, "local.json", json, strlen(json));
	free(json);
	static const char *const one[] = {"tcp://127.0.0.1:7101"};
	os_map *single = os_map_build_even(1, one, 0xfeedull);
	json = single ? os_map_to_json(single) : NULL;
	if (json == NULL)
		exit(1);
	write_seed(d, "single.json", json, strlen(json));
	free(json);
	os_map_unref(single);
	os_buf_fini(&v1);
	os_buf_fini(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	os_map *m = local_map();
	if (m == NULL) {
		fprintf(stderr, "fuzz_seeds: cannot build the local map\n");
		return 1;
	}
	wire_seeds(m);
	repl_seeds();
	mig_seeds();
	map_seeds(m);
	os_map_unref(m);
	return 0;
}
