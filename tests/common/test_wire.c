/*
 * test_wire.c - the wire codec: round trips of every frame kind, and refusal of every
 * malformed frame. Truncation tests decode each prefix from its own exact-size heap copy,
 * so AddressSanitizer (the asan build runs this suite too) catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

#define MAXV OSTORE_DEFAULT_MAX_VALUE

/* A malloc'ed copy of exactly @n bytes (at least 1 allocated so the pointer is valid). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void test_header_roundtrip(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_DATA | OS_REPLY_BIT, .status = OSTORE_EMOVED, .count = 4096,
	            .timeout_ms = 0xDEADBEEF, .epoch = 0x0102030405060708ull,
	            .client_id = 0xFFEEDDCCBBAA9988ull};
	assert_int_equal(os_hdr_put(&b, &h), OSTORE_OK);
	assert_int_equal(b.len, OS_HDR_SIZE);
	assert_int_equal(b.data[0], 0x4F); /* "OS" little-endian 0x534F */
	assert_int_equal(b.data[1], 0x53);
	assert_int_equal(b.data[2], OS_WIRE_VERSION);
	os_buf_put(&b, "body", 4);
	os_hdr g;
	const uint8_t *rest;
	size_t rest_len;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, &rest, &rest_len), OSTORE_OK);
	assert_int_equal(g.kind, h.kind);
	assert_int_equal(g.status, h.status);
	assert_int_equal(g.count, h.count);
	assert_int_equal(g.timeout_ms, h.timeout_ms);
	assert_true(g.epoch == h.epoch);
	assert_true(g.client_id == h.client_id);
	assert_int_equal(rest_len, 4);
	assert_memory_equal(rest, "body", 4);
	for (size_t n = 0; n < OS_HDR_SIZE; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_equal(os_hdr_get(c, n, &g, &rest, &rest_len), OSTORE_EPROTO);
		free(c);
	}
	os_buf_fini(&b);
}

static void test_header_bad(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_PING};
	os_hdr_put(&b, &h);
	os_hdr g;
	b.data[0] ^= 1;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, NULL), OSTORE_EPROTO);
	b.data[0] ^= 1;
	b.data[2] = 2;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, NULL), OSTORE_EVERSION);
	b.data[2] = 0;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, NULL), OSTORE_EVERSION);
	assert_int_equal(os_hdr_get(NULL, 0, &g, NULL, NULL), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_reply_status(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_reply_status(&b, OS_KIND_SCAN, OSTORE_EPROTO, 7, 99), OSTORE_OK);
	assert_int_equal(b.len, OS_HDR_SIZE);
	os_hdr g;
	size_t rest_len = 1;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, &rest_len), OSTORE_OK);
	assert_int_equal(g.kind, OS_KIND_SCAN | OS_REPLY_BIT);
	assert_int_equal(g.status, OSTORE_EPROTO);
	assert_int_equal(g.count, 0);
	assert_true(g.epoch == 7 && g.client_id == 99);
	assert_int_equal(rest_len, 0);
	os_buf_reset(&b);
	os_reply_status(&b, 0, OSTORE_EVERSION, 0, 0);
	os_hdr_get(b.data, b.len, &g, NULL, NULL);
	assert_int_equal(g.kind, OS_REPLY_BIT);
	os_buf_fini(&b);
}

/* A DATA request frame with one item of every op; IDs with NUL and 0xFF bytes. */
static uint8_t id256[256];
static const uint8_t id_nul[] = {0, 'x', 0xff, 0};

static void build_data(os_buf *b, os_item *in, size_t *nin)
{
	for (int i = 0; i < 256; i++)
		id256[i] = (uint8_t)(255 - i);
	os_item items[] = {
		{.op = OSTORE_OP_GET, .id = (const uint8_t *)"a", .id_len = 1},
		{.op = OSTORE_OP_PUT, .seq = 1, .id = id_nul, .id_len = sizeof id_nul,
		 .value = (const uint8_t *)"v\0v", .value_len = 3},
		{.op = OSTORE_OP_DEL, .seq = 2, .id = id256, .id_len = 256},
		{.op = OSTORE_OP_CAS, .seq = 3, .expected = 0x1122334455667788ull,
		 .id = (const uint8_t *)"cas", .id_len = 3, .value = (const uint8_t *)"new",
		 .value_len = 3},
		{.op = OSTORE_OP_PUT, .seq = UINT64_MAX, .id = (const uint8_t *)"empty",
		 .id_len = 5},
	};
	*nin = sizeof items / sizeof items[0];
	memcpy(in, items, sizeof items);
	os_hdr h = {.kind = OS_KIND_DATA, .count = (uint16_t)*nin, .timeout_ms = 5000,
	            .epoch = 3, .client_id = 42};
	assert_int_equal(os_hdr_put(b, &h), OSTORE_OK);
	for (size_t i = 0; i < *nin; i++)
		assert_int_equal(os_item_put(b, &items[i]), OSTORE_OK);
}

static void test_data_roundtrip(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_item in[8], out[8];
	size_t n;
	build_data(&b, in, &n);
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	assert_int_equal(os_hdr_get(b.data, b.len, &h, &body, &blen), OSTORE_OK);
	assert_int_equal(h.count, n);
	size_t bad = 99;
	assert_int_equal(os_items_get(body, blen, h.count, MAXV, out, &bad), OSTORE_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].op, in[i].op);
		assert_true(out[i].seq == in[i].seq);
		assert_true(out[i].expected == in[i].expected);
		assert_int_equal(out[i].id_len, in[i].id_len);
		assert_memory_equal(out[i].id, in[i].id, in[i].id_len);
		assert_int_equal(out[i].value_len, in[i].value_len);
		if (in[i].value_len)
			assert_memory_equal(out[i].value, in[i].value, in[i].value_len);
		else
			assert_null(out[i].value);
		/* zero-copy: items point into the frame */
		assert_true(out[i].id >= b.data && out[i].id < b.data + b.len);
	}
	/* every shorter body fails cleanly */
	for (size_t len = 0; len < blen; len++) {
		uint8_t *c = dup_exact(body, len);
		assert_int_not_equal(os_items_get(c, len, h.count, MAXV, out, &bad), OSTORE_OK);
		free(c);
	}
	/* every shorter frame fails at the header or the body */
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		os_hdr hh;
		const uint8_t *bb;
		size_t bl;
		int st = os_hdr_get(c, len, &hh, &bb, &bl);
		if (st == OSTORE_OK)
			st = os_items_get(bb, bl, hh.count, MAXV, out, &bad);
		assert_int_equal(st, OSTORE_EPROTO);
		free(c);
	}
	/* trailing byte, count too small/large, count 0 */
	os_buf_put_u8(&b, 0);
	assert_int_equal(os_hdr_get(b.data, b.len, &h, &body, &blen), OSTORE_OK);
	assert_int_equal(os_items_get(body, blen, h.count, MAXV, out, &bad), OSTORE_EPROTO);
	assert_int_equal(os_items_get(body, blen - 1, (uint16_t)(n - 1), MAXV, out, NULL),
	                 OSTORE_EPROTO);
	assert_int_equal(os_items_get(body, blen - 1, (uint16_t)(n + 1), MAXV, out, NULL),
	                 OSTORE_EPROTO);
	assert_int_equal(os_items_get(body, blen - 1, 0, MAXV, out, NULL), OSTORE_EPROTO);
	os_buf_fini(&b);
}

/* Decode one hand-made item; returns the status and the bad index. */
static int decode_one(const uint8_t *hdr24, const void *rest, size_t rest_len, uint32_t maxv,
                      size_t *bad)
{
	os_buf b;
	os_buf_init(&b);
	/* a valid first item, so bad_index 1 proves the index is reported */
	os_item ok = {.op = OSTORE_OP_GET, .id = (const uint8_t *)"k", .id_len = 1};
	os_item_put(&b, &ok);
	os_buf_put(&b, hdr24, OS_DATA_ITEM_HDR);
	os_buf_put(&b, rest, rest_len);
	uint8_t *c = dup_exact(b.data, b.len);
	os_item out[2];
	int st = os_items_get(c, b.len, 2, maxv, out, bad);
	free(c);
	os_buf_fini(&b);
	return st;
}

static void item_hdr(uint8_t *h, uint8_t op, uint16_t id_len, uint32_t value_len)
{
	memset(h, 0, OS_DATA_ITEM_HDR);
	h[0] = op;
	os_st16(h + 2, id_len);
	os_st32(h + 4, value_len);
}

static void test_data_bad_items(void **state)
{
	(void)state;
	static uint8_t payload[300 + 64];
	memset(payload, 'p', sizeof payload);
	uint8_t h[OS_DATA_ITEM_HDR];
	size_t bad;
	const uint8_t bad_ops[] = {0, 5, 0x7f, 0xff};
	for (size_t i = 0; i < sizeof bad_ops; i++) {
		item_hdr(h, bad_ops[i], 1, 0);
		bad = 0;
		assert_int_equal(decode_one(h, payload, 1, MAXV, &bad), OSTORE_EBADOP);
		assert_int_equal(bad, 1);
	}
	item_hdr(h, OSTORE_OP_GET, 1, 2); /* value on GET */
	assert_int_equal(decode_one(h, payload, 3, MAXV, &bad), OSTORE_EBADOP);
	item_hdr(h, OSTORE_OP_DEL, 1, 2); /* value on DEL */
	assert_int_equal(decode_one(h, payload, 3, MAXV, &bad), OSTORE_EBADOP);
	item_hdr(h, OSTORE_OP_PUT, 0, 0); /* id_len 0 */
	assert_int_equal(decode_one(h, payload, 0, MAXV, &bad), OSTORE_EBADID);
	assert_int_equal(bad, 1);
	item_hdr(h, OSTORE_OP_PUT, 257, 0); /* id_len 257, bytes present */
	assert_int_equal(decode_one(h, payload, 257, MAXV, &bad), OSTORE_EBADID);
	item_hdr(h, OSTORE_OP_GET, 0xFFFF, 0);
	assert_int_equal(decode_one(h, payload, 10, MAXV, &bad), OSTORE_EBADID);
	item_hdr(h, OSTORE_OP_PUT, 256, 0); /* 256 is the limit: fine */
	assert_int_equal(decode_one(h, payload, 256, MAXV, &bad), OSTORE_OK);
	item_hdr(h, OSTORE_OP_PUT, 1, 64); /* value over a 63-byte limit */
	assert_int_equal(decode_one(h, payload, 65, 63, &bad), OSTORE_ETOOBIG);
	assert_int_equal(bad, 1);
	item_hdr(h, OSTORE_OP_CAS, 1, 64); /* at the limit: fine */
	assert_int_equal(decode_one(h, payload, 65, 64, &bad), OSTORE_OK);
	item_hdr(h, OSTORE_OP_PUT, 1, UINT32_MAX); /* huge announced value */
	assert_int_equal(decode_one(h, payload, 65, MAXV, &bad), OSTORE_ETOOBIG);
	assert_int_equal(decode_one(h, payload, 65, UINT32_MAX, &bad), OSTORE_EPROTO);
	item_hdr(h, OSTORE_OP_PUT, 10, 5); /* declared bytes missing */
	assert_int_equal(decode_one(h, payload, 14, MAXV, &bad), OSTORE_EPROTO);
}

static void test_results(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	static uint8_t big[70000];
	memset(big, 0xAB, sizeof big);
	assert_int_equal(os_result_put(&b, OSTORE_OK, 17, "hello", 5), OSTORE_OK);
	assert_int_equal(os_result_put(&b, OSTORE_ENOTFOUND, 0, NULL, 0), OSTORE_OK);
	assert_int_equal(os_result_put(&b, OSTORE_ECONFLICT, UINT64_MAX, NULL, 0), OSTORE_OK);
	assert_int_equal(os_result_put(&b, OSTORE_OK, 5, big, sizeof big), OSTORE_OK);
	os_result r[4];
	assert_int_equal(os_results_get(b.data, b.len, 4, r), OSTORE_OK);
	assert_int_equal(r[0].status, OSTORE_OK);
	assert_true(r[0].version == 17);
	assert_int_equal(r[0].value_len, 5);
	assert_memory_equal(r[0].value, "hello", 5);
	assert_int_equal(r[1].status, OSTORE_ENOTFOUND);
	assert_null(r[1].value);
	assert_int_equal(r[2].status, OSTORE_ECONFLICT);
	assert_true(r[2].version == UINT64_MAX);
	assert_int_equal(r[3].value_len, sizeof big);
	assert_memory_equal(r[3].value, big, sizeof big);
	/* truncations: every length up to the big value, then a sample of the rest */
	for (size_t len = 0; len < b.len; len = len < 200 ? len + 1 : len + 997) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_results_get(c, len, 4, r), OSTORE_EPROTO);
		free(c);
	}
	assert_int_equal(os_results_get(b.data, b.len, 3, r), OSTORE_EPROTO);
	assert_int_equal(os_results_get(b.data, b.len, 5, r), OSTORE_EPROTO);
	assert_int_equal(os_results_get(b.data, 0, 0, r), OSTORE_OK);
	os_buf_fini(&b);
}

static void test_scan_req(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_scan_req in = {.slot_begin = 10, .slot_end = 4096, .limit = 4096,
	                  .after = id_nul, .after_len = sizeof id_nul};
	assert_int_equal(os_scan_req_put(&b, &in), OSTORE_OK);
	os_scan_req out;
	assert_int_equal(os_scan_req_get(b.data, b.len, &out), OSTORE_OK);
	assert_int_equal(out.slot_begin, 10);
	assert_int_equal(out.slot_end, 4096);
	assert_int_equal(out.limit, 4096);
	assert_int_equal(out.after_len, sizeof id_nul);
	assert_memory_equal(out.after, id_nul, sizeof id_nul);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_scan_req_get(c, len, &out), OSTORE_EPROTO);
		free(c);
	}
	os_buf_put_u8(&b, 1);
	assert_int_equal(os_scan_req_get(b.data, b.len, &out), OSTORE_EPROTO);

	const struct {
		uint16_t begin, end;
		uint32_t limit;
		uint16_t after_len;
		int want;
	} cases[] = {
		{0, 4096, 1, 0, OSTORE_OK},        {5, 5, 10, 0, OSTORE_EPROTO},
		{6, 5, 10, 0, OSTORE_EPROTO},      {0, 4097, 10, 0, OSTORE_EPROTO},
		{0, 10, 0, 0, OSTORE_EPROTO},      {0, 10, 4097, 0, OSTORE_EPROTO},
		{0, 10, 10, 257, OSTORE_EBADID},   {0, 10, 10, 256, OSTORE_OK},
	};
	static uint8_t after[300];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		os_scan_req r = {.slot_begin = cases[i].begin, .slot_end = cases[i].end,
		                 .limit = cases[i].limit, .after = after,
		                 .after_len = cases[i].after_len};
		os_buf_reset(&b);
		os_scan_req_put(&b, &r);
		assert_int_equal(os_scan_req_get(b.data, b.len, &out), cases[i].want);
	}
	os_buf_fini(&b);
}

static void test_scan_reply(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_scan_next_put(&b, 77, "\0\xff", 2), OSTORE_OK);
	os_scan_entry in[] = {
		{.id = (const uint8_t *)"a", .id_len = 1, .value = (const uint8_t *)"1",
		 .value_len = 1, .version = 5},
		{.id = id256, .id_len = 256, .value = NULL, .value_len = 0, .version = 6},
		{.id = id_nul, .id_len = sizeof id_nul, .value = (const uint8_t *)"xyz",
		 .value_len = 3, .version = UINT64_MAX},
	};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(os_scan_entry_put(&b, &in[i]), OSTORE_OK);
	uint16_t ns = 0, nal = 0;
	const uint8_t *na = NULL;
	os_scan_entry out[3];
	assert_int_equal(os_scan_reply_get(b.data, b.len, 3, &ns, &na, &nal, out), OSTORE_OK);
	assert_int_equal(ns, 77);
	assert_int_equal(nal, 2);
	assert_memory_equal(na, "\0\xff", 2);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(out[i].id_len, in[i].id_len);
		assert_memory_equal(out[i].id, in[i].id, in[i].id_len);
		assert_int_equal(out[i].value_len, in[i].value_len);
		if (in[i].value_len)
			assert_memory_equal(out[i].value, in[i].value, in[i].value_len);
		assert_true(out[i].version == in[i].version);
	}
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_scan_reply_get(c, len, 3, &ns, &na, &nal, out), OSTORE_EPROTO);
		free(c);
	}
	assert_int_equal(os_scan_reply_get(b.data, b.len, 2, &ns, &na, &nal, out), OSTORE_EPROTO);
	assert_int_equal(os_scan_reply_get(b.data, b.len, 4, &ns, &na, &nal, out), OSTORE_EPROTO);

	/* exhausted range: next_slot == slot_end, no cursor, no entries */
	os_buf_reset(&b);
	os_scan_next_put(&b, 4096, NULL, 0);
	assert_int_equal(os_scan_reply_get(b.data, b.len, 0, &ns, &na, &nal, out), OSTORE_OK);
	assert_int_equal(ns, 4096);
	assert_int_equal(nal, 0);
	/* next_slot past 4096, cursor over 256, entry with id_len 0: refused */
	os_buf_reset(&b);
	os_scan_next_put(&b, 4097, NULL, 0);
	assert_int_equal(os_scan_reply_get(b.data, b.len, 0, &ns, &na, &nal, out), OSTORE_EPROTO);
	os_buf_reset(&b);
	os_buf_put_u16(&b, 1);
	os_buf_put_u16(&b, 257);
	static uint8_t pad[300];
	os_buf_put(&b, pad, 257);
	assert_int_equal(os_scan_reply_get(b.data, b.len, 0, &ns, &na, &nal, out), OSTORE_EPROTO);
	os_buf_reset(&b);
	os_scan_next_put(&b, 1, NULL, 0);
	os_scan_entry e0 = {.id = pad, .id_len = 0};
	os_scan_entry_put(&b, &e0);
	os_buf_put(&b, pad, 1);
	assert_int_equal(os_scan_reply_get(b.data, b.len, 1, &ns, &na, &nal, out), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_stats(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_stats_entry in[2] = {
		{.shard = 1, .slots = 2048, .node = 3, .status = OSTORE_OK, .orders = 1000000,
		 .lsn = 123456789012ull, .bytes_used = 1u << 30, .map_size = 1ull << 40,
		 .role = OS_ROLE_PRIMARY, .replicas = 2, .primary_lsn = 123456789013ull},
		{.shard = 2, .slots = 2048, .node = 4, .status = OSTORE_EUNAVAIL,
		 .role = OS_ROLE_REPLICA, .primary_lsn = 7, .replica_reads = 1ull << 40,
		 .stale_reads = 0x0102030405060708ull, .lsn_epoch = 0x1112131415161718ull},
	};
	for (int i = 0; i < 2; i++)
		assert_int_equal(os_stats_entry_put(&b, &in[i]), OSTORE_OK);
	assert_int_equal(OS_STATS_ENTRY_SIZE, 88);
	assert_int_equal(b.len, 2 * OS_STATS_ENTRY_SIZE);
	assert_int_equal(os_ld64(b.data + OS_STATS_ENTRY_SIZE + 64), 1ull << 40);
	assert_int_equal(os_ld64(b.data + OS_STATS_ENTRY_SIZE + 72), 0x0102030405060708ull);
	assert_int_equal(os_ld64(b.data + OS_STATS_ENTRY_SIZE + 80), 0x1112131415161718ull);
	os_stats_entry out[2];
	assert_int_equal(os_stats_entries_get(b.data, b.len, 2, out), OSTORE_OK);
	assert_memory_equal(&out[0], &in[0], sizeof in[0]);
	assert_memory_equal(&out[1], &in[1], sizeof in[1]);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_stats_entries_get(c, len, 2, out), OSTORE_EPROTO);
		free(c);
	}
	assert_int_equal(os_stats_entries_get(b.data, b.len, 1, out), OSTORE_EPROTO);
	os_buf_fini(&b);
}

/* Header byte 28 carries the flags; a bounded read's DATA body starts with its bound. */
static void test_bounded_read(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_DATA, .count = 1, .client_id = 9,
	            .flags = OS_HDR_F_BOUNDED_READ};
	assert_int_equal(os_hdr_put(&b, &h), OSTORE_OK);
	assert_int_equal(b.data[28], OS_HDR_F_BOUNDED_READ);
	assert_int_equal(b.data[29] | b.data[30] | b.data[31], 0);
	os_read_bound rb = {.max_lag_lsn = 0x01020304u, .max_lag_ms = 250};
	assert_int_equal(os_read_bound_put(&b, &rb), OSTORE_OK);
	assert_int_equal(b.len, OS_HDR_SIZE + OS_READ_BOUND_SIZE);
	os_item it = {.op = OSTORE_OP_GET, .id = (const uint8_t *)"o-1", .id_len = 3};
	assert_int_equal(os_item_put(&b, &it), OSTORE_OK);

	os_hdr g;
	const uint8_t *body, *items;
	size_t blen, ilen;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, &body, &blen), OSTORE_OK);
	assert_int_equal(g.flags, OS_HDR_F_BOUNDED_READ);
	os_read_bound out;
	assert_int_equal(os_data_body(&g, body, blen, &out, &items, &ilen), OSTORE_OK);
	assert_int_equal(out.max_lag_lsn, rb.max_lag_lsn);
	assert_int_equal(out.max_lag_ms, rb.max_lag_ms);
	assert_int_equal(ilen, blen - OS_READ_BOUND_SIZE);
	os_item got;
	assert_int_equal(os_items_get(items, ilen, 1, OSTORE_DEFAULT_MAX_VALUE, &got, NULL),
	                 OSTORE_OK);
	assert_memory_equal(got.id, "o-1", 3);
	/* Truncated bound, and a bound of 0 and 0: malformed. */
	for (size_t n = 0; n < OS_READ_BOUND_SIZE; n++)
		assert_int_equal(os_data_body(&g, body, n, &out, &items, &ilen), OSTORE_EPROTO);
	static const uint8_t zero[OS_READ_BOUND_SIZE] = {0};
	assert_int_equal(os_data_body(&g, zero, sizeof zero, &out, &items, &ilen), OSTORE_EPROTO);
	/* Without the flag the whole body is items and the bound is off. */
	g.flags = 0;
	assert_int_equal(os_data_body(&g, body, blen, &out, &items, &ilen), OSTORE_OK);
	assert_true(items == body && ilen == blen);
	assert_int_equal(out.max_lag_lsn | out.max_lag_ms, 0);
	/* Other frames and replies keep byte 28 at 0. */
	os_buf_reset(&b);
	os_reply_status(&b, OS_KIND_DATA, OSTORE_ESTALEREAD, 3, 9);
	assert_int_equal(b.data[28], 0);
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, NULL), OSTORE_OK);
	assert_int_equal(g.status, OSTORE_ESTALEREAD);
	assert_int_equal(g.flags, 0);
	os_buf_fini(&b);
}

/* PING, MAP_GET and STATS requests are bare headers. */
static void test_empty_kinds(void **state)
{
	(void)state;
	const uint8_t kinds[] = {OS_KIND_PING, OS_KIND_MAP_GET, OS_KIND_STATS};
	for (size_t i = 0; i < sizeof kinds; i++) {
		os_buf b;
		os_buf_init(&b);
		os_hdr h = {.kind = kinds[i], .client_id = 5};
		os_hdr_put(&b, &h);
		os_hdr g;
		size_t rl = 9;
		assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, &rl), OSTORE_OK);
		assert_int_equal(g.kind, kinds[i]);
		assert_int_equal(rl, 0);
		os_buf_fini(&b);
	}
}

/* ---- REPL_PULL ---- */

static void test_pull_req(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_pull_req in = {.shard = 3, .node_id = 7, .wait_ms = 1000, .cluster_id = 0xABCDEF0123456789ull,
	                  .from_lsn = 1ull << 40, .from_epoch = 9, .max_bytes = 1u << 20};
	assert_int_equal(os_pull_req_put(&b, &in), OSTORE_OK);
	assert_int_equal(b.len, OS_PULL_REQ_SIZE);
	os_pull_req out;
	assert_int_equal(os_pull_req_get(b.data, b.len, &out), OSTORE_OK);
	assert_int_equal(out.shard, 3);
	assert_int_equal(out.node_id, 7);
	assert_int_equal(out.wait_ms, 1000);
	assert_true(out.cluster_id == in.cluster_id);
	assert_true(out.from_lsn == in.from_lsn);
	assert_int_equal(out.from_epoch, 9);
	assert_int_equal(out.max_bytes, 1u << 20);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_pull_req_get(c, len, &out), OSTORE_EPROTO);
		free(c);
	}
	os_buf_put_u8(&b, 0);
	assert_int_equal(os_pull_req_get(b.data, b.len, &out), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_pull_reply(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	const uint8_t k1[] = {0x0F, 0xFF, 'a', 0, 'b'}, k2[] = {0x00, 0x01, 'z'};
	const uint8_t v1[] = "value-1";
	os_log_entry in[2] = {
		{.lsn = 41, .epoch = 2, .op = OSTORE_OP_PUT, .key = k1, .key_len = sizeof k1,
		 .value = v1, .value_len = sizeof v1},
		{.lsn = 42, .epoch = 3, .op = OSTORE_OP_DEL, .key = k2, .key_len = sizeof k2},
	};
	assert_int_equal(os_pull_reply_head_put(&b, 50, 10), OSTORE_OK);
	size_t expect = OS_PULL_REPLY_HDR;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(os_log_entry_put(&b, &in[i]), OSTORE_OK);
		expect += os_log_entry_size(&in[i]);
	}
	assert_int_equal(b.len, expect);
	os_log_entry out[2];
	uint64_t pl = 0, ol = 0;
	assert_int_equal(os_pull_reply_get(b.data, b.len, 2, &pl, &ol, out), OSTORE_OK);
	assert_int_equal(pl, 50);
	assert_int_equal(ol, 10);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(out[i].lsn, in[i].lsn);
		assert_int_equal(out[i].epoch, in[i].epoch);
		assert_int_equal(out[i].op, in[i].op);
		assert_int_equal(out[i].key_len, in[i].key_len);
		assert_memory_equal(out[i].key, in[i].key, in[i].key_len);
		assert_int_equal(out[i].value_len, in[i].value_len);
	}
	assert_memory_equal(out[0].value, v1, sizeof v1);
	assert_null(out[1].value);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_pull_reply_get(c, len, 2, &pl, &ol, out), OSTORE_EPROTO);
		free(c);
	}
	assert_int_equal(os_pull_reply_get(b.data, b.len, 1, &pl, &ol, out), OSTORE_EPROTO);
	assert_int_equal(os_pull_reply_get(b.data, b.len, 3, &pl, &ol, out), OSTORE_EPROTO);
	/* An empty reply (heartbeat). */
	assert_int_equal(os_pull_reply_get(b.data, OS_PULL_REPLY_HDR, 0, &pl, &ol, NULL), OSTORE_OK);

	/* Corruptions: bad op, value on DEL, key too short, slot >= 4096. */
	uint8_t *c = dup_exact(b.data, b.len);
	c[OS_PULL_REPLY_HDR + 16] = 9;
	assert_int_equal(os_pull_reply_get(c, b.len, 2, &pl, &ol, out), OSTORE_EPROTO);
	memcpy(c, b.data, b.len);
	c[OS_PULL_REPLY_HDR + 24] = 0x10; /* slot 0x10FF */
	assert_int_equal(os_pull_reply_get(c, b.len, 2, &pl, &ol, out), OSTORE_EPROTO);
	free(c);
	os_buf_reset(&b);
	os_pull_reply_head_put(&b, 1, 1);
	os_log_entry bad = {.lsn = 1, .op = OSTORE_OP_DEL, .key = k2, .key_len = sizeof k2,
	                    .value = v1, .value_len = 1};
	os_log_entry_put(&b, &bad);
	assert_int_equal(os_pull_reply_get(b.data, b.len, 1, &pl, &ol, out), OSTORE_EPROTO);
	os_buf_reset(&b);
	os_pull_reply_head_put(&b, 1, 1);
	bad = (os_log_entry){.lsn = 1, .op = OSTORE_OP_PUT, .key = k2, .key_len = 2};
	os_log_entry_put(&b, &bad);
	assert_int_equal(os_pull_reply_get(b.data, b.len, 1, &pl, &ol, out), OSTORE_EPROTO);
	os_buf_fini(&b);
}

/* ---- SNAP ---- */

/* JUMP records: accepted in REPL_PULL replies with an empty key, an 8-byte prev_lsn
 * below their lsn; refused otherwise, and never in MIG_LOG / MIG_APPLY bodies. */
static void test_pull_reply_jump(void **state)
{
	(void)state;
	uint8_t prev[8], key[3] = {0, 1, 'a'};
	os_st64(prev, 7);
	os_log_entry j = {.lsn = 100, .epoch = 2, .op = OS_LOG_OP_JUMP, .value = prev, .value_len = 8};
	os_log_entry p = {.lsn = 101, .epoch = 2, .op = OSTORE_OP_PUT, .key = key, .key_len = 3,
	                  .value = (const uint8_t *)"v", .value_len = 1};
	os_buf b;
	os_buf_init(&b);
	os_pull_reply_head_put(&b, 101, 1);
	os_log_entry_put(&b, &j);
	os_log_entry_put(&b, &p);
	os_log_entry out[2];
	uint64_t pl, ol;
	assert_int_equal(os_pull_reply_get(b.data, b.len, 2, &pl, &ol, out), OSTORE_OK);
	assert_int_equal(out[0].op, OS_LOG_OP_JUMP);
	assert_int_equal(out[0].lsn, 100);
	assert_int_equal(out[0].key_len, 0);
	assert_int_equal(os_ld64(out[0].value), 7);
	assert_int_equal(out[1].lsn, 101);
	/* not in MIG_LOG replies */
	os_buf m;
	os_buf_init(&m);
	os_mig_log_head hd = {.source_lsn = 101};
	os_mig_log_head_put(&m, &hd);
	os_log_entry_put(&m, &j);
	os_mig_log_head gh;
	assert_int_equal(os_mig_log_reply_get(m.data, m.len, 1, &gh, out), OSTORE_EPROTO);
	os_buf_fini(&m);
	/* prev_lsn not below lsn, a key, a value that is not 8 bytes */
	os_log_entry bad[3] = {j, j, j};
	uint8_t prev_hi[8];
	os_st64(prev_hi, 100);
	bad[0].value = prev_hi;
	bad[1].key = key;
	bad[1].key_len = 3;
	bad[2].value_len = 4;
	for (int i = 0; i < 3; i++) {
		os_buf_reset(&b);
		os_pull_reply_head_put(&b, 101, 1);
		os_log_entry_put(&b, &bad[i]);
		assert_int_equal(os_pull_reply_get(b.data, b.len, 1, &pl, &ol, out), OSTORE_EPROTO);
	}
	os_buf_fini(&b);
}

static void test_snap_req(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	const uint8_t after[] = {0x00, 0x05, 'x', 'y'};
	os_snap_req in = {.shard = 1, .node_id = 2, .max_bytes = 4096, .cluster_id = 77,
	                  .session = 123, .after = after, .after_len = sizeof after};
	assert_int_equal(os_snap_req_put(&b, &in), OSTORE_OK);
	assert_int_equal(b.len, OS_SNAP_REQ_HDR + sizeof after);
	os_snap_req out;
	assert_int_equal(os_snap_req_get(b.data, b.len, &out), OSTORE_OK);
	assert_int_equal(out.shard, 1);
	assert_int_equal(out.node_id, 2);
	assert_int_equal(out.max_bytes, 4096);
	assert_int_equal(out.cluster_id, 77);
	assert_int_equal(out.session, 123);
	assert_int_equal(out.after_len, sizeof after);
	assert_memory_equal(out.after, after, sizeof after);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_snap_req_get(c, len, &out), OSTORE_EPROTO);
		free(c);
	}
	os_buf_put_u8(&b, 0);
	assert_int_equal(os_snap_req_get(b.data, b.len, &out), OSTORE_EPROTO);
	/* after_len over the largest key */
	os_buf_reset(&b);
	in.after_len = 300;
	in.after = NULL;
	in.after_len = 0;
	os_snap_req_put(&b, &in);
	os_st16(b.data + 24, 300);
	assert_int_equal(os_snap_req_get(b.data, b.len, &out), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_snap_reply(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	const uint8_t k1[] = {0x00, 0x00, 1}, k2[] = {0x0F, 0xFF, 2, 3};
	const uint8_t v2[] = {9, 8, 7};
	os_snap_head hd = {.session = 5, .snap_lsn = 1000, .snap_epoch = 4, .done = 1};
	os_snap_entry in[2] = {
		{.key = k1, .key_len = sizeof k1, .version = 11},
		{.key = k2, .key_len = sizeof k2, .value = v2, .value_len = sizeof v2, .version = 12},
	};
	assert_int_equal(os_snap_head_put(&b, &hd), OSTORE_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(os_snap_entry_put(&b, &in[i]), OSTORE_OK);
	os_snap_head g;
	os_snap_entry out[2];
	assert_int_equal(os_snap_reply_get(b.data, b.len, 2, &g, out), OSTORE_OK);
	assert_int_equal(g.session, 5);
	assert_int_equal(g.snap_lsn, 1000);
	assert_int_equal(g.snap_epoch, 4);
	assert_int_equal(g.done, 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(out[i].key_len, in[i].key_len);
		assert_memory_equal(out[i].key, in[i].key, in[i].key_len);
		assert_int_equal(out[i].value_len, in[i].value_len);
		assert_int_equal(out[i].version, in[i].version);
	}
	assert_null(out[0].value);
	assert_memory_equal(out[1].value, v2, sizeof v2);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_snap_reply_get(c, len, 2, &g, out), OSTORE_EPROTO);
		free(c);
	}
	assert_int_equal(os_snap_reply_get(b.data, b.len, 1, &g, out), OSTORE_EPROTO);
	assert_int_equal(os_snap_reply_get(b.data, OS_SNAP_REPLY_HDR, 0, &g, NULL), OSTORE_OK);
	os_buf_fini(&b);
}

/* ---- CHECKSUM ---- */

static void test_cksum(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_cksum_req_put(&b, 10, 4096), OSTORE_OK);
	uint16_t sb = 0, se = 0;
	assert_int_equal(os_cksum_req_get(b.data, b.len, &sb, &se), OSTORE_OK);
	assert_int_equal(sb, 10);
	assert_int_equal(se, 4096);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_cksum_req_get(c, len, &sb, &se), OSTORE_EPROTO);
		free(c);
	}
	os_buf_reset(&b);
	os_cksum_req_put(&b, 5, 5);
	assert_int_equal(os_cksum_req_get(b.data, b.len, &sb, &se), OSTORE_EPROTO);
	os_buf_reset(&b);
	os_cksum_req_put(&b, 0, 4097);
	assert_int_equal(os_cksum_req_get(b.data, b.len, &sb, &se), OSTORE_EPROTO);

	os_buf_reset(&b);
	os_buf_put_u64(&b, 99);
	os_buf_put_u64(&b, 3);
	os_buf_put_u64(&b, 0xDEADBEEFull);
	os_buf_put_u64(&b, 0);
	os_buf_put_u64(&b, 0x2d06800538d394c2ull);
	uint64_t lsn = 0;
	os_cksum_entry e[2];
	assert_int_equal(os_cksum_reply_get(b.data, b.len, 2, &lsn, e), OSTORE_OK);
	assert_int_equal(lsn, 99);
	assert_int_equal(e[0].orders, 3);
	assert_true(e[0].checksum == 0xDEADBEEFull);
	assert_int_equal(e[1].orders, 0);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *c = dup_exact(b.data, len);
		assert_int_equal(os_cksum_reply_get(c, len, 2, &lsn, e), OSTORE_EPROTO);
		free(c);
	}
	os_buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_roundtrip), cmocka_unit_test(test_header_bad),
		cmocka_unit_test(test_reply_status),     cmocka_unit_test(test_data_roundtrip),
		cmocka_unit_test(test_data_bad_items),   cmocka_unit_test(test_results),
		cmocka_unit_test(test_scan_req),         cmocka_unit_test(test_scan_reply),
		cmocka_unit_test(test_stats),            cmocka_unit_test(test_empty_kinds),
		cmocka_unit_test(test_pull_req),         cmocka_unit_test(test_pull_reply),
		cmocka_unit_test(test_pull_reply_jump),
		cmocka_unit_test(test_snap_req),         cmocka_unit_test(test_snap_reply),
		cmocka_unit_test(test_cksum),            cmocka_unit_test(test_bounded_read),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
