/*
 * test_wire_mig.c - the slot-migration frames (wire.h "Slot migration") and the TOP
 * reply: round trips,
 * and refusal of truncated, oversized and out-of-range frames. Every prefix is decoded
 * from its own exact-size heap copy, so AddressSanitizer catches a read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void test_snap_req(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	const uint8_t after[] = {0x01, 0x02, 'o', 'r', 'd'}; /* slot 258 + "ord" */
	os_mig_snap_req q = {.cluster_id = 0x1122334455667788ull, .session = 99, .max_bytes = 4096,
	                     .slot_begin = 256, .slot_end = 320, .after = after, .after_len = 5};
	assert_int_equal(os_mig_snap_req_put(&b, &q), OSTORE_OK);
	assert_int_equal(b.len, OS_MIG_SNAP_REQ_HDR + 5);
	os_mig_snap_req r;
	assert_int_equal(os_mig_snap_req_get(b.data, b.len, &r), OSTORE_OK);
	assert_true(r.cluster_id == q.cluster_id && r.session == 99 && r.max_bytes == 4096);
	assert_int_equal(r.slot_begin, 256);
	assert_int_equal(r.slot_end, 320);
	assert_int_equal(r.after_len, 5);
	assert_memory_equal(r.after, after, 5);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_equal(os_mig_snap_req_get(c, n, &r), OSTORE_EPROTO);
		free(c);
	}
	/* empty after, bad ranges, a 2-byte after key */
	os_buf_reset(&b);
	q.after = NULL;
	q.after_len = 0;
	os_mig_snap_req_put(&b, &q);
	assert_int_equal(os_mig_snap_req_get(b.data, b.len, &r), OSTORE_OK);
	assert_null(r.after);
	const uint16_t bad[][2] = {{10, 10}, {11, 10}, {0, 4097}};
	for (size_t i = 0; i < 3; i++) {
		os_buf_reset(&b);
		q.slot_begin = bad[i][0];
		q.slot_end = bad[i][1];
		os_mig_snap_req_put(&b, &q);
		assert_int_equal(os_mig_snap_req_get(b.data, b.len, &r), OSTORE_EPROTO);
	}
	os_buf_reset(&b);
	q.slot_begin = 0;
	q.slot_end = 4096;
	q.after = after;
	q.after_len = 2;
	os_mig_snap_req_put(&b, &q);
	assert_int_equal(os_mig_snap_req_get(b.data, b.len, &r), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_log(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_mig_log_req q = {.cluster_id = 7, .from_lsn = 12345, .max_bytes = 1 << 20,
	                    .max_scan = 5000, .slot_begin = 4000, .slot_end = 4096};
	assert_int_equal(os_mig_log_req_put(&b, &q), OSTORE_OK);
	assert_int_equal(b.len, OS_MIG_LOG_REQ_SIZE);
	os_mig_log_req r;
	assert_int_equal(os_mig_log_req_get(b.data, b.len, &r), OSTORE_OK);
	assert_true(r.cluster_id == 7 && r.from_lsn == 12345 && r.max_bytes == (1u << 20) &&
	            r.max_scan == 5000 && r.slot_begin == 4000 && r.slot_end == 4096);
	assert_int_equal(os_mig_log_req_get(b.data, b.len - 1, &r), OSTORE_EPROTO);
	os_buf_reset(&b);
	q.slot_end = 4000;
	os_mig_log_req_put(&b, &q);
	assert_int_equal(os_mig_log_req_get(b.data, b.len, &r), OSTORE_EPROTO);

	/* reply: head + a PUT and a DEL */
	os_buf_reset(&b);
	os_mig_log_head h = {.source_lsn = 50, .oldest_lsn = 3, .scanned_to = 48, .frozen_lsn = 47};
	assert_int_equal(os_mig_log_head_put(&b, &h), OSTORE_OK);
	const uint8_t k1[] = {0x0F, 0xA0, 'a'}, k2[] = {0x0F, 0xA1, 'b', 'c'};
	os_log_entry e1 = {.lsn = 40, .epoch = 2, .op = OSTORE_OP_PUT, .key = k1, .key_len = 3,
	                   .value = (const uint8_t *)"{}", .value_len = 2};
	os_log_entry e2 = {.lsn = 45, .epoch = 2, .op = OSTORE_OP_DEL, .key = k2, .key_len = 4};
	os_log_entry_put(&b, &e1);
	os_log_entry_put(&b, &e2);
	os_mig_log_head g;
	os_log_entry out[2];
	assert_int_equal(os_mig_log_reply_get(b.data, b.len, 2, &g, out), OSTORE_OK);
	assert_true(g.source_lsn == 50 && g.oldest_lsn == 3 && g.scanned_to == 48 && g.frozen_lsn == 47);
	assert_true(out[0].lsn == 40 && out[0].op == OSTORE_OP_PUT && out[0].value_len == 2);
	assert_true(out[1].lsn == 45 && out[1].op == OSTORE_OP_DEL && out[1].key_len == 4);
	assert_int_equal(os_mig_log_reply_get(b.data, b.len, 1, &g, out), OSTORE_EPROTO);
	assert_int_equal(os_mig_log_reply_get(b.data, b.len, 3, &g, out), OSTORE_EPROTO);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_not_equal(os_mig_log_reply_get(c, n, 2, &g, out), OSTORE_OK);
		free(c);
	}
	/* a head alone with no entries */
	assert_int_equal(os_mig_log_reply_get(b.data, OS_MIG_LOG_REPLY_HDR, 0, &g, NULL), OSTORE_OK);
	os_buf_fini(&b);
}

static void test_freeze(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_mig_freeze_req_put(&b, OS_MIG_FREEZE, 64, 128), OSTORE_OK);
	assert_int_equal(b.len, OS_MIG_FREEZE_REQ_SIZE);
	uint8_t op;
	uint16_t sb, se;
	assert_int_equal(os_mig_freeze_req_get(b.data, b.len, &op, &sb, &se), OSTORE_OK);
	assert_true(op == OS_MIG_FREEZE && sb == 64 && se == 128);
	assert_int_equal(os_mig_freeze_req_get(b.data, b.len - 1, &op, &sb, &se), OSTORE_EPROTO);
	b.data[0] = 3; /* unknown op */
	assert_int_equal(os_mig_freeze_req_get(b.data, b.len, &op, &sb, &se), OSTORE_EPROTO);
	os_buf_reset(&b);
	os_mig_freeze_req_put(&b, OS_MIG_QUERY, 5, 5);
	assert_int_equal(os_mig_freeze_req_get(b.data, b.len, &op, &sb, &se), OSTORE_EPROTO);

	uint8_t reply[OS_MIG_FREEZE_REPLY_SIZE] = {0}, bm[OS_MIG_BITMAP_SIZE];
	os_st64(reply, 777);
	reply[8 + 100 / 8] = (uint8_t)(1u << (100 % 8));
	uint64_t lsn;
	assert_int_equal(os_mig_freeze_reply_get(reply, sizeof reply, &lsn, bm), OSTORE_OK);
	assert_true(lsn == 777 && (bm[12] & (1u << 4)) != 0);
	assert_int_equal(os_mig_freeze_reply_get(reply, sizeof reply - 1, &lsn, bm), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_apply(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_mig_apply_head_put(&b, 42, 10, 12), OSTORE_OK);
	const uint8_t k1[] = {0x00, 0x0A, 'x'}, k2[] = {0x00, 0x0B, 'y'};
	os_log_entry e1 = {.lsn = 900, .op = OSTORE_OP_PUT, .key = k1, .key_len = 3,
	                   .value = (const uint8_t *)"v", .value_len = 1};
	os_log_entry e2 = {.lsn = 901, .op = OSTORE_OP_DEL, .key = k2, .key_len = 3};
	os_log_entry_put(&b, &e1);
	os_log_entry_put(&b, &e2);
	uint64_t cid;
	uint16_t sb, se;
	os_log_entry out[2];
	assert_int_equal(os_mig_apply_get(b.data, b.len, 2, &cid, &sb, &se, out), OSTORE_OK);
	assert_true(cid == 42 && sb == 10 && se == 12);
	assert_true(out[0].lsn == 900 && out[1].op == OSTORE_OP_DEL);
	assert_int_equal(os_mig_apply_get(b.data, b.len, 0, &cid, &sb, &se, out), OSTORE_EPROTO);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_not_equal(os_mig_apply_get(c, n, 2, &cid, &sb, &se, out), OSTORE_OK);
		free(c);
	}
	/* an entry whose op is not PUT/DEL is refused (JUMP records never travel here) */
	b.data[OS_MIG_APPLY_HDR + 16] = 0x10;
	assert_int_equal(os_mig_apply_get(b.data, b.len, 2, &cid, &sb, &se, out), OSTORE_EPROTO);
	os_buf_fini(&b);
}

static void test_purge(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_mig_purge_req_put(&b, 9, 0, 4096, 1000), OSTORE_OK);
	uint64_t cid;
	uint16_t sb, se;
	uint32_t max;
	assert_int_equal(os_mig_purge_req_get(b.data, b.len, &cid, &sb, &se, &max), OSTORE_OK);
	assert_true(cid == 9 && sb == 0 && se == 4096 && max == 1000);
	assert_int_equal(os_mig_purge_req_get(b.data, b.len + 0 - 1, &cid, &sb, &se, &max), OSTORE_EPROTO);
	const uint32_t bad_max[] = {0, 65536};
	for (size_t i = 0; i < 2; i++) {
		os_buf_reset(&b);
		os_mig_purge_req_put(&b, 9, 0, 1, bad_max[i]);
		assert_int_equal(os_mig_purge_req_get(b.data, b.len, &cid, &sb, &se, &max), OSTORE_EPROTO);
	}
	uint8_t rep[OS_MIG_PURGE_REPLY_SIZE];
	os_st32(rep, 500);
	os_st32(rep + 4, 1);
	uint32_t del, more;
	assert_int_equal(os_mig_purge_reply_get(rep, sizeof rep, &del, &more), OSTORE_OK);
	assert_true(del == 500 && more == 1);
	assert_int_equal(os_mig_purge_reply_get(rep, 7, &del, &more), OSTORE_EPROTO);
	os_buf_fini(&b);
}

/* MIG_LEASE: request and reply round trips, every truncation, bad owner / ttl / flags. */
static void test_lease(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_mig_lease_req_put(&b, 0xA1B2C3D4E5F60718ull, 30000, OS_MIG_LEASE_F_RENEW),
	                 OSTORE_OK);
	assert_int_equal(b.len, OS_MIG_LEASE_SIZE);
	uint64_t owner;
	uint32_t ttl, flags;
	assert_int_equal(os_mig_lease_req_get(b.data, b.len, &owner, &ttl, &flags), OSTORE_OK);
	assert_true(owner == 0xA1B2C3D4E5F60718ull && ttl == 30000 && flags == OS_MIG_LEASE_F_RENEW);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_equal(os_mig_lease_req_get(c, n, &owner, &ttl, &flags), OSTORE_EPROTO);
		free(c);
	}
	uint8_t *longer = calloc(1, b.len + 1);
	memcpy(longer, b.data, b.len);
	assert_int_equal(os_mig_lease_req_get(longer, b.len + 1, &owner, &ttl, &flags), OSTORE_EPROTO);
	free(longer);
	/* release (ttl 0) and the range bounds are accepted */
	const uint32_t good_ttl[] = {0, OS_MIG_LEASE_TTL_MIN, OS_MIG_LEASE_TTL_MAX};
	for (size_t i = 0; i < 3; i++) {
		os_buf_reset(&b);
		os_mig_lease_req_put(&b, 5, good_ttl[i], 0);
		assert_int_equal(os_mig_lease_req_get(b.data, b.len, &owner, &ttl, &flags), OSTORE_OK);
		assert_int_equal(ttl, good_ttl[i]);
	}
	const uint32_t bad_ttl[] = {1, OS_MIG_LEASE_TTL_MIN - 1, OS_MIG_LEASE_TTL_MAX + 1};
	for (size_t i = 0; i < 3; i++) {
		os_buf_reset(&b);
		os_mig_lease_req_put(&b, 5, bad_ttl[i], 0);
		assert_int_equal(os_mig_lease_req_get(b.data, b.len, &owner, &ttl, &flags), OSTORE_EPROTO);
	}
	os_buf_reset(&b);
	os_mig_lease_req_put(&b, 0, 5000, 0); /* owner 0 */
	assert_int_equal(os_mig_lease_req_get(b.data, b.len, &owner, &ttl, &flags), OSTORE_EPROTO);
	os_buf_reset(&b);
	os_mig_lease_req_put(&b, 5, 5000, 0x2); /* unknown flag */
	assert_int_equal(os_mig_lease_req_get(b.data, b.len, &owner, &ttl, &flags), OSTORE_EPROTO);
	/* reply */
	os_buf_reset(&b);
	assert_int_equal(os_mig_lease_reply_put(&b, 77, 12345), OSTORE_OK);
	assert_int_equal(b.len, OS_MIG_LEASE_SIZE);
	uint64_t holder;
	uint32_t rem;
	assert_int_equal(os_mig_lease_reply_get(b.data, b.len, &holder, &rem), OSTORE_OK);
	assert_true(holder == 77 && rem == 12345);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_equal(os_mig_lease_reply_get(c, n, &holder, &rem), OSTORE_EPROTO);
		free(c);
	}
	os_buf_fini(&b);
}

static void test_top(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_top_head h = {.interval_ms = 1003, .items = 5000, .writes = 250, .p50_us = 90, .p99_us = 700};
	assert_int_equal(os_top_head_put(&b, &h), OSTORE_OK);
	os_top_key k1 = {.hits = 900, .err = 0, .id = (const uint8_t *)"hot", .id_len = 3};
	os_top_key k2 = {.hits = 40, .err = 12, .id = (const uint8_t *)"a\0b", .id_len = 3};
	os_top_key_put(&b, &k1);
	os_top_key_put(&b, &k2);
	os_top_head g;
	os_top_key keys[2];
	assert_int_equal(os_top_reply_get(b.data, b.len, 2, &g, keys), OSTORE_OK);
	assert_true(g.interval_ms == 1003 && g.items == 5000 && g.writes == 250 && g.p50_us == 90 &&
	            g.p99_us == 700);
	assert_true(keys[0].hits == 900 && keys[0].id_len == 3 && memcmp(keys[0].id, "hot", 3) == 0);
	assert_true(keys[1].err == 12 && memcmp(keys[1].id, "a\0b", 3) == 0);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *c = dup_exact(b.data, n);
		assert_int_not_equal(os_top_reply_get(c, n, 2, &g, keys), OSTORE_OK);
		free(c);
	}
	assert_int_equal(os_top_reply_get(b.data, b.len, 1, &g, keys), OSTORE_EPROTO);
	assert_int_equal(os_top_reply_get(b.data, OS_TOP_HEAD_SIZE, OS_TOP_MAX_KEYS + 1, &g, keys),
	                 OSTORE_EPROTO);
	/* an empty ID is refused */
	os_st16(b.data + OS_TOP_HEAD_SIZE + 8, 0);
	assert_int_equal(os_top_reply_get(b.data, b.len, 2, &g, keys), OSTORE_EPROTO);
	os_buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snap_req), cmocka_unit_test(test_log), cmocka_unit_test(test_freeze),
		cmocka_unit_test(test_apply),    cmocka_unit_test(test_purge), cmocka_unit_test(test_lease),
		cmocka_unit_test(test_top),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
