/*
 * fuzz_wire.c - fuzz harness of the client/router/node frames (common/wire.c,
 * common/wire_top.c): DATA requests (read bound + items) and replies, SCAN, STATS,
 * CHECKSUM, TOP, status-only replies and the MAP_SET / MAP_GET bodies (the map blob).
 * The input is one whole frame; see fuzz.h for the round-trip rules.
 * Each static handler is a fuzz_body_fn (fuzz.h): decode one body kind, re-encode it.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "map.h"

static int data_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_read_bound rb;
	const uint8_t *ip;
	size_t ilen;
	int st = os_data_body(h, p, len, &rb, &ip, &ilen);
	if (st != OSTORE_OK)
		return st;
	os_item *items = fuzz_array(h->count, ilen, OS_DATA_ITEM_HDR + 1, sizeof *items);
	size_t bad = SIZE_MAX;
	st = os_items_get(ip, ilen, h->count, OSTORE_MAX_VALUE_LIMIT, items, &bad);
	FUZZ_CHECK(bad <= h->count);
	if (st == OSTORE_OK) {
		if (h->flags & OS_HDR_F_BOUNDED_READ)
			os_read_bound_put(out, &rb);
		for (uint16_t i = 0; i < h->count; i++) {
			FUZZ_CHECK(items[i].id_len >= 1 && items[i].id_len <= OSTORE_MAX_ID_LEN);
			os_item_put(out, &items[i]);
		}
	}
	free(items);
	return st;
}

static int data_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_result *res = fuzz_array(h->count, len, OS_DATA_REPLY_HDR, sizeof *res);
	int st = os_results_get(p, len, h->count, res);
	for (uint16_t i = 0; st == OSTORE_OK && i < h->count; i++)
		os_result_put(out, res[i].status, res[i].version, res[i].value, res[i].value_len);
	free(res);
	return st;
}

static int scan_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	os_scan_req r;
	int st = os_scan_req_get(p, len, &r);
	if (st == OSTORE_OK) {
		FUZZ_CHECK(r.slot_begin < r.slot_end && r.slot_end <= OSTORE_SLOTS);
		os_scan_req_put(out, &r);
	}
	return st;
}

static int scan_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_scan_entry *e = fuzz_array(h->count, len, 17, sizeof *e);
	uint16_t next_slot = 0, next_len = 0;
	const uint8_t *next = NULL;
	int st = os_scan_reply_get(p, len, h->count, &next_slot, &next, &next_len, e);
	if (st == OSTORE_OK) {
		os_scan_next_put(out, next_slot, next, next_len);
		for (uint16_t i = 0; i < h->count; i++)
			os_scan_entry_put(out, &e[i]);
	}
	free(e);
	return st;
}

static int stats_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_stats_entry *e = fuzz_array(h->count, len, OS_STATS_ENTRY_SIZE, sizeof *e);
	int st = os_stats_entries_get(p, len, h->count, e);
	for (uint16_t i = 0; st == OSTORE_OK && i < h->count; i++)
		os_stats_entry_put(out, &e[i]);
	free(e);
	return st;
}

static int cksum_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint16_t b = 0, e = 0;
	int st = os_cksum_req_get(p, len, &b, &e);
	if (st == OSTORE_OK)
		os_cksum_req_put(out, b, e);
	return st;
}

static int cksum_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_cksum_entry *e = fuzz_array(h->count, len, OS_CKSUM_ENTRY_SIZE, sizeof *e);
	uint64_t lsn = 0;
	int st = os_cksum_reply_get(p, len, h->count, &lsn, e);
	if (st == OSTORE_OK) {
		os_buf_put_u64(out, lsn);
		for (uint16_t i = 0; i < h->count; i++) {
			os_buf_put_u64(out, e[i].orders);
			os_buf_put_u64(out, e[i].checksum);
		}
	}
	free(e);
	return st;
}

static int top_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_top_key *k = fuzz_array(h->count, len, OS_TOP_KEY_HDR + 1, sizeof *k);
	os_top_head th;
	int st = os_top_reply_get(p, len, h->count, &th, k);
	if (st == OSTORE_OK) {
		FUZZ_CHECK(h->count <= OS_TOP_MAX_KEYS);
		os_top_head_put(out, &th);
		for (uint16_t i = 0; i < h->count; i++)
			os_top_key_put(out, &k[i]);
	}
	free(k);
	return st;
}

/* MAP_SET request / MAP_GET reply: the map blob (fuzz_map.c goes deeper). */
static int map_body(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	os_map *m = NULL;
	int st = os_map_decode(p, len, &m);
	if (st == OSTORE_OK) {
		FUZZ_CHECK(os_map_check(m) == OSTORE_OK);
		os_map_encode(m, out);
		os_map_unref(m);
	}
	return st;
}

static const fuzz_kind kinds[] = {
	{.kind = OS_KIND_DATA, .fn = data_req, .same_len = true},
	{.kind = OS_KIND_DATA | OS_REPLY_BIT, .fn = data_reply, .same_len = true},
	{.kind = OS_KIND_SCAN, .fn = scan_req, .same_len = true},
	{.kind = OS_KIND_SCAN | OS_REPLY_BIT, .fn = scan_reply, .same_len = true},
	{.kind = OS_KIND_STATS | OS_REPLY_BIT, .fn = stats_reply, .same_len = true},
	{.kind = OS_KIND_CHECKSUM, .fn = cksum_req, .same_len = true},
	{.kind = OS_KIND_CHECKSUM | OS_REPLY_BIT, .fn = cksum_reply, .same_len = true},
	{.kind = OS_KIND_TOP | OS_REPLY_BIT, .fn = top_reply, .same_len = true},
	{.kind = OS_KIND_MAP_SET, .fn = map_body, .same_len = false},
	{.kind = OS_KIND_MAP_GET | OS_REPLY_BIT, .fn = map_body, .same_len = false},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_frame(data, size, kinds, sizeof kinds / sizeof kinds[0]);
}
