/*
 * test_map.c - the cluster map: even builds, blob and JSON round trips, validation,
 * lookups, refcounting and file I/O. Every refused map must be refused whole. Shard
 * weights: blob format 2 carries them, format 1 still decodes (weight 1), JSON "weight"
 * is optional; removing a shard drops its nodes unless another shard uses them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "map.h"

static const char *const addrs[] = {
	"tcp://127.0.0.1:7100", "tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102",
	"tcp://127.0.0.1:7103", "tcp://127.0.0.1:7104", "tcp://127.0.0.1:7105",
};

static void assert_map_equal(const os_map *a, const os_map *b)
{
	assert_true(a->epoch == b->epoch);
	assert_true(a->cluster_id == b->cluster_id);
	assert_int_equal(a->nnodes, b->nnodes);
	assert_int_equal(a->nshards, b->nshards);
	for (uint16_t i = 0; i < a->nnodes; i++) {
		assert_int_equal(a->nodes[i].id, b->nodes[i].id);
		assert_string_equal(a->nodes[i].addr, b->nodes[i].addr);
	}
	for (uint16_t i = 0; i < a->nshards; i++) {
		assert_int_equal(a->shards[i].id, b->shards[i].id);
		assert_int_equal(a->shards[i].primary, b->shards[i].primary);
		assert_int_equal(a->shards[i].nreplicas, b->shards[i].nreplicas);
		assert_int_equal(a->shards[i].weight, b->shards[i].weight);
		assert_memory_equal(a->shards[i].replicas, b->shards[i].replicas,
		                    a->shards[i].nreplicas * sizeof(uint16_t));
	}
	assert_memory_equal(a->slot_shard, b->slot_shard, sizeof a->slot_shard);
}

/* Three shards on six nodes, each with replicas, slots interleaved, ids out of order. */
static os_map *sample_map(void)
{
	os_map *m = os_map_new();
	assert_non_null(m);
	m->epoch = 42;
	m->cluster_id = 0xC0FFEE0012345678ull;
	for (int i = 5; i >= 0; i--)
		assert_int_equal(os_map_add_node(m, (uint16_t)(i * 10), addrs[i]), OSTORE_OK);
	const uint16_t r0[] = {10}, r1[] = {30, 40}, r2[] = {0, 10, 20};
	assert_int_equal(os_map_add_shard(m, 7, 50, r2, 3), OSTORE_OK);
	assert_int_equal(os_map_add_shard(m, 0, 0, r0, 1), OSTORE_OK);
	assert_int_equal(os_map_add_shard(m, 3, 20, r1, 2), OSTORE_OK);
	assert_int_equal(os_map_set_weight(m, 3, 5), OSTORE_OK);
	assert_int_equal(os_map_set_weight(m, 7, 0), OSTORE_OK);
	const uint16_t order[] = {0, 3, 7};
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		m->slot_shard[s] = order[(s / 100) % 3];
	assert_int_equal(os_map_check(m), OSTORE_OK);
	return m;
}

static void test_build_even(void **state)
{
	(void)state;
	for (uint16_t n = 1; n <= 5; n++) {
		os_map *m = os_map_build_even(n, addrs, 0);
		assert_non_null(m);
		assert_int_equal(os_map_check(m), OSTORE_OK);
		assert_true(m->epoch == 1);
		assert_true(m->cluster_id != 0);
		assert_int_equal(m->nshards, n);
		assert_int_equal(m->nnodes, n);
		uint32_t total = 0, lo = UINT32_MAX, hi = 0;
		for (uint16_t i = 0; i < n; i++) {
			uint32_t c = os_map_slot_count(m, i);
			total += c;
			lo = c < lo ? c : lo;
			hi = c > hi ? c : hi;
			assert_int_equal(m->shards[i].primary, i);
			assert_string_equal(os_map_node_by_id(m, i)->addr, addrs[i]);
			uint32_t first = (uint32_t)i * OSTORE_SLOTS / n;
			uint32_t end = ((uint32_t)i + 1) * OSTORE_SLOTS / n;
			for (uint32_t s = first; s < end; s++)
				assert_int_equal(m->slot_shard[s], i); /* contiguous range */
			assert_string_equal(os_map_primary_addr(m, (uint16_t)first), addrs[i]);
		}
		assert_int_equal(total, OSTORE_SLOTS);
		assert_true(hi - lo <= 1);
		os_map_unref(m);
	}
	os_map *m = os_map_build_even(2, addrs, 0x1234);
	assert_true(m->cluster_id == 0x1234);
	os_map_unref(m);
	assert_null(os_map_build_even(0, addrs, 0));
	assert_null(os_map_build_even(OS_MAP_MAX_IDS + 1, addrs, 0));
}

static void test_blob_roundtrip(void **state)
{
	(void)state;
	os_map *m = sample_map();
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_map_encode(m, &b), OSTORE_OK);
	os_map *d = NULL;
	assert_int_equal(os_map_decode(b.data, b.len, &d), OSTORE_OK);
	assert_int_equal(d->refs, 1);
	assert_map_equal(m, d);
	os_map_unref(d);
	/* every truncation fails cleanly (exact-size copies for ASan) */
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = malloc(len ? len : 1);
		memcpy(c, b.data, len);
		d = NULL;
		assert_int_equal(os_map_decode(c, len, &d), OSTORE_EPROTO);
		assert_null(d);
		free(c);
	}
	/* trailing byte, bad magic, bad format */
	os_buf_put_u8(&b, 0);
	assert_int_equal(os_map_decode(b.data, b.len, &d), OSTORE_EPROTO);
	b.len--;
	b.data[0] ^= 0xFF;
	assert_int_equal(os_map_decode(b.data, b.len, &d), OSTORE_EPROTO);
	b.data[0] ^= 0xFF;
	b.data[4] = 3;
	assert_int_equal(os_map_decode(b.data, b.len, &d), OSTORE_EPROTO);
	b.data[4] = 1; /* format 1 has no weights: the bytes no longer line up */
	assert_int_equal(os_map_decode(b.data, b.len, &d), OSTORE_EPROTO);
	os_buf_fini(&b);
	os_map_unref(m);
}

/* A format-1 blob (written before weights existed) decodes with every weight 1. */
static void test_blob_format1(void **state)
{
	(void)state;
	os_map *m = sample_map();
	os_buf b;
	os_buf_init(&b);
	os_buf_put_u32(&b, OS_MAP_MAGIC);
	os_buf_put_u16(&b, OS_MAP_FORMAT_V1);
	os_buf_put_u16(&b, m->nnodes);
	os_buf_put_u16(&b, m->nshards);
	os_buf_put_u16(&b, 0);
	os_buf_put_u64(&b, m->epoch);
	os_buf_put_u64(&b, m->cluster_id);
	for (uint16_t i = 0; i < m->nnodes; i++) {
		os_buf_put_u16(&b, m->nodes[i].id);
		os_buf_put_u16(&b, (uint16_t)strlen(m->nodes[i].addr));
		os_buf_put(&b, m->nodes[i].addr, strlen(m->nodes[i].addr));
	}
	for (uint16_t i = 0; i < m->nshards; i++) {
		os_buf_put_u16(&b, m->shards[i].id);
		os_buf_put_u16(&b, m->shards[i].primary);
		os_buf_put_u16(&b, m->shards[i].nreplicas);
		for (uint16_t r = 0; r < m->shards[i].nreplicas; r++)
			os_buf_put_u16(&b, m->shards[i].replicas[r]);
	}
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		os_buf_put_u16(&b, m->slot_shard[s]);
	os_map *d = NULL;
	assert_int_equal(os_map_decode(b.data, b.len, &d), OSTORE_OK);
	for (uint16_t i = 0; i < d->nshards; i++) {
		assert_int_equal(d->shards[i].weight, 1);
		m->shards[i].weight = 1;
	}
	assert_map_equal(m, d);
	os_map_unref(d);
	os_buf_fini(&b);
	os_map_unref(m);
}

static void test_weights_and_remove(void **state)
{
	(void)state;
	os_map *m = sample_map(); /* shards 0 (0, r 10), 3 (20, r 30 40), 7 (50, r 0 10 20) */
	assert_int_equal(os_map_shard_by_id(m, 0)->weight, 1);
	assert_int_equal(os_map_shard_by_id(m, 3)->weight, 5);
	assert_int_equal(os_map_set_weight(m, 4, 1), OSTORE_EINVAL);
	/* still owns slots, unknown shard */
	assert_int_equal(os_map_remove_shard(m, 7), OSTORE_EINVAL);
	assert_int_equal(os_map_remove_shard(m, 5), OSTORE_EINVAL);
	assert_int_equal(m->nshards, 3);
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		if (m->slot_shard[s] == 7)
			m->slot_shard[s] = 3;
	assert_int_equal(os_map_remove_shard(m, 7), OSTORE_OK);
	assert_int_equal(m->nshards, 2);
	assert_null(os_map_shard_by_id(m, 7));
	/* node 50 was only shard 7's: gone; 0, 10, 20 serve other shards: kept */
	assert_int_equal(m->nnodes, 5);
	assert_null(os_map_node_by_id(m, 50));
	assert_non_null(os_map_node_by_id(m, 0));
	assert_non_null(os_map_node_by_id(m, 10));
	assert_non_null(os_map_node_by_id(m, 20));
	assert_int_equal(os_map_check(m), OSTORE_OK);
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		m->slot_shard[s] = 0;
	assert_int_equal(os_map_remove_shard(m, 3), OSTORE_OK);
	assert_int_equal(m->nnodes, 2); /* 20, 30, 40 went with shard 3 */
	assert_int_equal(os_map_remove_shard(m, 0), OSTORE_EINVAL); /* the last shard */
	assert_int_equal(os_map_check(m), OSTORE_OK);
	os_map_unref(m);

	/* JSON: "weight" optional (1), kept, range-checked */
	const char *head = "{\"cluster_id\": \"0000000000000001\", \"epoch\": 1,"
	                   " \"nodes\": [{\"id\": 0, \"addr\": \"tcp://h:1\"}],"
	                   " \"slots\": [[0, 4095, 0]], \"shards\": [{\"id\": 0, \"primary\": 0";
	char text[512], err[256];
	snprintf(text, sizeof text, "%s}]}", head);
	assert_int_equal(os_map_from_json(text, &m, err, sizeof err), OSTORE_OK);
	assert_int_equal(m->shards[0].weight, 1);
	os_map_unref(m);
	snprintf(text, sizeof text, "%s, \"weight\": 0}]}", head);
	assert_int_equal(os_map_from_json(text, &m, err, sizeof err), OSTORE_OK);
	assert_int_equal(m->shards[0].weight, 0);
	char *out = os_map_to_json(m);
	assert_non_null(strstr(out, "\"weight\": 0"));
	free(out);
	os_map_unref(m);
	const char *bad[] = {"-1", "65536", "\"2\"", "1.5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "%s, \"weight\": %s}]}", head, bad[i]);
		m = NULL;
		assert_int_equal(os_map_from_json(text, &m, err, sizeof err), OSTORE_EINVAL);
		assert_null(m);
		assert_non_null(strstr(err, "weight"));
	}
}

static int decode_status(const os_map *m)
{
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_map_encode(m, &b), OSTORE_OK);
	os_map *d = NULL;
	int st = os_map_decode(b.data, b.len, &d);
	os_map_unref(d);
	os_buf_fini(&b);
	return st;
}

static void test_invalid_maps(void **state)
{
	(void)state;
	/* unknown shard in the slot table */
	os_map *m = os_map_build_even(3, addrs, 1);
	m->slot_shard[4095] = 9;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	os_map_unref(m);

	/* primary not a node; replica not a node */
	m = os_map_build_even(2, addrs, 1);
	m->shards[1].primary = 77;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	m->shards[1].primary = 1;
	m->shards[1].replicas[0] = 5;
	m->shards[1].nreplicas = 1;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	/* node twice in a shard */
	m->shards[1].replicas[0] = 1;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	m->shards[1].nreplicas = 0;
	assert_int_equal(os_map_check(m), OSTORE_OK);
	/* duplicate node id / shard id (forced past the builders) */
	m->nodes[1].id = 0;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	m->nodes[1].id = 1;
	m->shards[1].id = 0;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	m->shards[1].id = 1;
	assert_int_equal(os_map_check(m), OSTORE_OK);
	os_map_unref(m);

	/* a shard without a primary (failover in progress) is allowed */
	m = os_map_build_even(2, addrs, 1);
	m->shards[0].primary = OS_NODE_NONE;
	assert_int_equal(os_map_check(m), OSTORE_OK);
	assert_null(os_map_primary_addr(m, 0));
	assert_int_equal(decode_status(m), OSTORE_OK);
	os_map_unref(m);

	/* what JSON cannot carry (found by tests/fuzz/fuzz_map): an epoch over 2^63 - 1, an
	 * address byte outside printable ASCII */
	m = os_map_build_even(2, addrs, 1);
	m->epoch = OS_MAP_EPOCH_MAX + 1;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	m->epoch = OS_MAP_EPOCH_MAX;
	assert_int_equal(decode_status(m), OSTORE_OK);
	m->nodes[1].addr[6] = (char)0x8c;
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	m->nodes[1].addr[6] = '\n';
	assert_int_equal(decode_status(m), OSTORE_EPROTO);
	assert_int_equal(os_map_add_node(m, 9, "tcp://\x01:1"), OSTORE_EINVAL);
	os_map_unref(m);

	/* empty maps */
	m = os_map_new();
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	assert_int_equal(os_map_add_node(m, 0, "tcp://x:1"), OSTORE_OK);
	assert_int_equal(os_map_check(m), OSTORE_EINVAL);
	os_map_unref(m);
}

static void test_builders(void **state)
{
	(void)state;
	os_map *m = os_map_new();
	char long_addr[300];
	memset(long_addr, 'a', sizeof long_addr);
	long_addr[256] = '\0';
	assert_int_equal(os_map_add_node(m, 1, "tcp://a:1"), OSTORE_OK);
	assert_int_equal(os_map_add_node(m, 1, "tcp://b:1"), OSTORE_EINVAL);
	assert_int_equal(os_map_add_node(m, OS_MAP_MAX_IDS, "tcp://b:1"), OSTORE_EINVAL);
	assert_int_equal(os_map_add_node(m, 2, ""), OSTORE_EINVAL);
	assert_int_equal(os_map_add_node(m, 2, NULL), OSTORE_EINVAL);
	assert_int_equal(os_map_add_node(m, 2, long_addr), OSTORE_EINVAL);
	long_addr[255] = '\0';
	assert_int_equal(os_map_add_node(m, 2, long_addr), OSTORE_OK);
	assert_int_equal(os_map_add_node(m, 0, "tcp://c:1"), OSTORE_OK);
	assert_int_equal(m->nodes[0].id, 0); /* kept sorted */
	assert_int_equal(m->nodes[2].id, 2);
	uint16_t reps[OS_MAP_MAX_REPLICAS + 1] = {0, 2, 3, 4, 5, 6, 7, 8, 9};
	assert_int_equal(os_map_add_shard(m, 0, 1, reps, OS_MAP_MAX_REPLICAS + 1), OSTORE_EINVAL);
	assert_int_equal(os_map_add_shard(m, 0, 1, reps, 2), OSTORE_OK);
	assert_int_equal(os_map_add_shard(m, 0, 1, NULL, 0), OSTORE_EINVAL);
	assert_int_equal(os_map_add_shard(m, OS_MAP_MAX_IDS, 1, NULL, 0), OSTORE_EINVAL);
	const uint16_t self[] = {1};
	assert_int_equal(os_map_add_shard(m, 1, 1, self, 1), OSTORE_EINVAL);
	const uint16_t twice[] = {0, 0};
	assert_int_equal(os_map_add_shard(m, 1, 1, twice, 2), OSTORE_EINVAL);
	assert_int_equal(os_map_check(m), OSTORE_OK); /* slot table all shard 0 */
	assert_non_null(os_map_shard_by_id(m, 0));
	assert_null(os_map_shard_by_id(m, 1));
	assert_null(os_map_node_by_id(m, 3));
	assert_string_equal(os_map_primary_addr(m, 4095), "tcp://a:1");
	assert_null(os_map_primary_addr(m, 4096));

	/* refcount and clone */
	assert_ptr_equal(os_map_ref(m), m);
	assert_int_equal(m->refs, 2);
	os_map_unref(m);
	os_map *c = os_map_clone(m);
	assert_non_null(c);
	assert_int_equal(c->refs, 1);
	assert_map_equal(m, c);
	assert_ptr_not_equal(c->nodes[0].addr, m->nodes[0].addr);
	os_map_unref(m);
	os_map_unref(c);
	os_map_unref(NULL);
}

static void test_json_roundtrip(void **state)
{
	(void)state;
	os_map *m = sample_map();
	m->shards[1].primary = OS_NODE_NONE;
	char *text = os_map_to_json(m);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"c0ffee0012345678\""));
	os_map *d = NULL;
	char err[256];
	assert_int_equal(os_map_from_json(text, &d, err, sizeof err), OSTORE_OK);
	assert_map_equal(m, d);
	os_map_unref(d);
	free(text);
	os_map_unref(m);

	const char *hand = "{\"cluster_id\": \"00000000000000ff\", \"epoch\": 9,"
	                   " \"nodes\": [{\"id\": 1, \"addr\": \"tcp://h:2\"},"
	                   "             {\"id\": 0, \"addr\": \"tcp://h:1\"}],"
	                   " \"shards\": [{\"id\": 0, \"primary\": 1, \"replicas\": [0]}],"
	                   " \"slots\": [[2048, 4095, 0], [0, 2047, 0]]}";
	assert_int_equal(os_map_from_json(hand, &d, err, sizeof err), OSTORE_OK);
	assert_true(d->cluster_id == 0xff && d->epoch == 9);
	assert_int_equal(d->nodes[0].id, 0);
	assert_string_equal(os_map_primary_addr(d, 100), "tcp://h:2");
	assert_int_equal(os_map_slot_count(d, 0), OSTORE_SLOTS);
	os_map_unref(d);
}

static void test_json_invalid(void **state)
{
	(void)state;
	const char *head = "{\"cluster_id\": \"0000000000000001\", \"epoch\": 1, ";
	const char *nodes2 = "\"nodes\": [{\"id\": 0, \"addr\": \"tcp://h:1\"},"
	                     " {\"id\": 1, \"addr\": \"tcp://h:2\"}], ";
	const char *shards1 = "\"shards\": [{\"id\": 0, \"primary\": 0}], ";
	const char *slots_ok = "\"slots\": [[0, 4095, 0]]}";
	const struct {
		const char *what, *nodes, *shards, *slots;
	} cases[] = {
		{"unknown shard in slots", nodes2, shards1, "\"slots\": [[0, 4094, 0], [4095, 4095, 3]]}"},
		{"duplicate node ids",
		 "\"nodes\": [{\"id\": 0, \"addr\": \"tcp://h:1\"}, {\"id\": 0, \"addr\": \"tcp://h:2\"}], ",
		 shards1, slots_ok},
		{"duplicate shard ids", nodes2,
		 "\"shards\": [{\"id\": 0, \"primary\": 0}, {\"id\": 0, \"primary\": 1}], ", slots_ok},
		{"primary not a node", nodes2, "\"shards\": [{\"id\": 0, \"primary\": 5}], ", slots_ok},
		{"replica not a node", nodes2,
		 "\"shards\": [{\"id\": 0, \"primary\": 0, \"replicas\": [9]}], ", slots_ok},
		{"replica is the primary", nodes2,
		 "\"shards\": [{\"id\": 0, \"primary\": 0, \"replicas\": [0]}], ", slots_ok},
		{"slot missing", nodes2, shards1, "\"slots\": [[0, 4094, 0]]}"},
		{"slot twice", nodes2, shards1, "\"slots\": [[0, 4095, 0], [7, 7, 0]]}"},
		{"slot past 4095", nodes2, shards1, "\"slots\": [[0, 4096, 0]]}"},
		{"reversed range", nodes2, shards1, "\"slots\": [[5, 4, 0], [0, 4095, 0]]}"},
		{"no nodes", "\"nodes\": [], ", shards1, slots_ok},
		{"no shards", nodes2, "\"shards\": [], ", slots_ok},
		{"empty addr", "\"nodes\": [{\"id\": 0, \"addr\": \"\"}], ", shards1, slots_ok},
		{"node id too large", "\"nodes\": [{\"id\": 1024, \"addr\": \"tcp://h:1\"}], ", shards1,
		 slots_ok},
	};
	char text[2048], err[256];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "%s%s%s%s", head, cases[i].nodes, cases[i].shards,
		         cases[i].slots);
		os_map *m = NULL;
		err[0] = '\0';
		int st = os_map_from_json(text, &m, err, sizeof err);
		if (st != OSTORE_EINVAL)
			fail_msg("%s: accepted (status %d)", cases[i].what, st);
		assert_null(m);
		assert_true(strlen(err) > 0);
	}
	/* the valid base is accepted, so the cases above fail for their own reason */
	snprintf(text, sizeof text, "%s%s%s%s", head, nodes2, shards1, slots_ok);
	os_map *m = NULL;
	assert_int_equal(os_map_from_json(text, &m, err, sizeof err), OSTORE_OK);
	os_map_unref(m);

	const char *bad_docs[] = {
		"", "{", "[]", "{\"cluster_id\": \"xyz\"}",
		"{\"cluster_id\": \"00000000000000010\", \"epoch\": 1}",
		"{\"cluster_id\": \"000000000000000g\", \"epoch\": 1}",
		"{\"cluster_id\": \"0000000000000001\", \"epoch\": -1}",
		"{\"cluster_id\": \"0000000000000001\", \"epoch\": \"1\"}",
	};
	for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
		m = NULL;
		err[0] = '\0';
		assert_int_equal(os_map_from_json(bad_docs[i], &m, err, sizeof err), OSTORE_EINVAL);
		assert_null(m);
		assert_true(strlen(err) > 0);
	}
}

static void test_files(void **state)
{
	(void)state;
	char *dir = th_tmpdir("map");
	char path[512], err[256];
	snprintf(path, sizeof path, "%s/map.json", dir);
	os_map *m = sample_map();
	assert_int_equal(os_map_save_file(m, path, err, sizeof err), OSTORE_OK);
	os_map *d = NULL;
	assert_int_equal(os_map_load_file(path, &d, err, sizeof err), OSTORE_OK);
	assert_map_equal(m, d);
	os_map_unref(d);
	/* overwrite atomically with a newer epoch */
	m->epoch++;
	assert_int_equal(os_map_save_file(m, path, err, sizeof err), OSTORE_OK);
	assert_int_equal(os_map_load_file(path, &d, err, sizeof err), OSTORE_OK);
	assert_true(d->epoch == 43);
	os_map_unref(d);
	os_map_unref(m);

	snprintf(path, sizeof path, "%s/absent.json", dir);
	err[0] = '\0';
	assert_int_equal(os_map_load_file(path, &d, err, sizeof err), OSTORE_EIO);
	assert_non_null(strstr(err, "absent.json"));
	FILE *f = fopen(path, "w");
	fputs("{\"epoch\": 1}", f);
	fclose(f);
	assert_int_equal(os_map_load_file(path, &d, err, sizeof err), OSTORE_EINVAL);
	snprintf(path, sizeof path, "%s/no/such/dir/map.json", dir);
	m = os_map_build_even(1, addrs, 1);
	assert_int_equal(os_map_save_file(m, path, err, sizeof err), OSTORE_EIO);
	os_map_unref(m);
	th_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_even),    cmocka_unit_test(test_blob_roundtrip),
		cmocka_unit_test(test_invalid_maps),  cmocka_unit_test(test_builders),
		cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_json_invalid),
		cmocka_unit_test(test_files),         cmocka_unit_test(test_blob_format1),
		cmocka_unit_test(test_weights_and_remove),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
