/*
 * fuzz_mig.c - fuzz harness of the slot-migration frames (common/wire_mig.c): MIG_SNAP,
 * MIG_LOG, MIG_FREEZE, MIG_APPLY, MIG_PURGE and MIG_LEASE requests and replies (MIG_SNAP replies
 * are SNAP pages). The input is one whole frame; see fuzz.h for the round-trip rules.
 * Each static handler is a fuzz_body_fn (fuzz.h): decode one body kind, re-encode it.
 */
#include <stdlib.h>

#include "fuzz.h"

static void check_range(uint16_t begin, uint16_t end)
{
	FUZZ_CHECK(begin < end && end <= OSTORE_SLOTS);
}

/* A migrated entry: PUT or DEL of a valid LMDB key (no JUMP record). */
static void check_entry(const os_log_entry *e)
{
	FUZZ_CHECK(e->op == OSTORE_OP_PUT || e->op == OSTORE_OP_DEL);
	FUZZ_CHECK(e->key_len >= 3 && e->key_len <= 2 + OSTORE_MAX_ID_LEN);
	FUZZ_CHECK(e->op == OSTORE_OP_PUT || e->value_len == 0);
}

static int snap_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	os_mig_snap_req r;
	int st = os_mig_snap_req_get(p, len, &r);
	if (st == OSTORE_OK) {
		check_range(r.slot_begin, r.slot_end);
		FUZZ_CHECK(r.after_len == 0 || r.after_len >= 3);
		os_mig_snap_req_put(out, &r);
	}
	return st;
}

static int snap_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_snap_entry *e = fuzz_array(h->count, len, OS_SNAP_ENTRY_HDR + 3, sizeof *e);
	os_snap_head sh;
	int st = os_snap_reply_get(p, len, h->count, &sh, e);
	if (st == OSTORE_OK) {
		os_snap_head_put(out, &sh);
		for (uint16_t i = 0; i < h->count; i++)
			os_snap_entry_put(out, &e[i]);
	}
	free(e);
	return st;
}

static int log_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	os_mig_log_req r;
	int st = os_mig_log_req_get(p, len, &r);
	if (st == OSTORE_OK) {
		check_range(r.slot_begin, r.slot_end);
		os_mig_log_req_put(out, &r);
	}
	return st;
}

static int log_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_log_entry *e = fuzz_array(h->count, len, OS_LOG_ENTRY_HDR + 3, sizeof *e);
	os_mig_log_head lh;
	int st = os_mig_log_reply_get(p, len, h->count, &lh, e);
	if (st == OSTORE_OK) {
		os_mig_log_head_put(out, &lh);
		for (uint16_t i = 0; i < h->count; i++) {
			check_entry(&e[i]);
			os_log_entry_put(out, &e[i]);
		}
	}
	free(e);
	return st;
}

static int freeze_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint8_t op = 0;
	uint16_t b = 0, e = 0;
	int st = os_mig_freeze_req_get(p, len, &op, &b, &e);
	if (st == OSTORE_OK) {
		check_range(b, e);
		FUZZ_CHECK(op <= OS_MIG_UNFREEZE);
		os_mig_freeze_req_put(out, op, b, e);
	}
	return st;
}

static int freeze_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint64_t lsn = 0;
	uint8_t bitmap[OS_MIG_BITMAP_SIZE];
	int st = os_mig_freeze_reply_get(p, len, &lsn, bitmap);
	if (st == OSTORE_OK) {
		os_buf_put_u64(out, lsn);
		os_buf_put(out, bitmap, sizeof bitmap);
	}
	return st;
}

static int apply_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_log_entry *e = fuzz_array(h->count, len, OS_LOG_ENTRY_HDR + 3, sizeof *e);
	uint64_t cluster = 0;
	uint16_t b = 0, end = 0;
	int st = os_mig_apply_get(p, len, h->count, &cluster, &b, &end, e);
	if (st == OSTORE_OK) {
		check_range(b, end);
		FUZZ_CHECK(h->count > 0);
		os_mig_apply_head_put(out, cluster, b, end);
		for (uint16_t i = 0; i < h->count; i++) {
			check_entry(&e[i]);
			os_log_entry_put(out, &e[i]);
		}
	}
	free(e);
	return st;
}

static int purge_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint64_t cluster = 0;
	uint16_t b = 0, e = 0;
	uint32_t max = 0;
	int st = os_mig_purge_req_get(p, len, &cluster, &b, &e, &max);
	if (st == OSTORE_OK) {
		check_range(b, e);
		FUZZ_CHECK(max >= 1 && max <= 65535u);
		os_mig_purge_req_put(out, cluster, b, e, max);
	}
	return st;
}

static int purge_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint32_t deleted = 0, more = 0;
	int st = os_mig_purge_reply_get(p, len, &deleted, &more);
	if (st == OSTORE_OK) {
		os_buf_put_u32(out, deleted);
		os_buf_put_u32(out, more);
	}
	return st;
}

static int lease_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint64_t owner = 0;
	uint32_t ttl = 0, flags = 0;
	int st = os_mig_lease_req_get(p, len, &owner, &ttl, &flags);
	if (st == OSTORE_OK) {
		FUZZ_CHECK(owner != 0);
		FUZZ_CHECK(ttl == 0 || (ttl >= OS_MIG_LEASE_TTL_MIN && ttl <= OS_MIG_LEASE_TTL_MAX));
		FUZZ_CHECK((flags & ~OS_MIG_LEASE_F_RENEW) == 0);
		os_mig_lease_req_put(out, owner, ttl, flags);
	}
	return st;
}

static int lease_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	uint64_t holder = 0;
	uint32_t remaining = 0;
	int st = os_mig_lease_reply_get(p, len, &holder, &remaining);
	if (st == OSTORE_OK)
		os_mig_lease_reply_put(out, holder, remaining);
	return st;
}

static const fuzz_kind kinds[] = {
	{.kind = OS_KIND_MIG_SNAP, .fn = snap_req, .same_len = true},
	{.kind = OS_KIND_MIG_SNAP | OS_REPLY_BIT, .fn = snap_reply, .same_len = true},
	{.kind = OS_KIND_MIG_LOG, .fn = log_req, .same_len = true},
	{.kind = OS_KIND_MIG_LOG | OS_REPLY_BIT, .fn = log_reply, .same_len = true},
	{.kind = OS_KIND_MIG_FREEZE, .fn = freeze_req, .same_len = true},
	{.kind = OS_KIND_MIG_FREEZE | OS_REPLY_BIT, .fn = freeze_reply, .same_len = true},
	{.kind = OS_KIND_MIG_APPLY, .fn = apply_req, .same_len = true},
	{.kind = OS_KIND_MIG_PURGE, .fn = purge_req, .same_len = true},
	{.kind = OS_KIND_MIG_PURGE | OS_REPLY_BIT, .fn = purge_reply, .same_len = true},
	{.kind = OS_KIND_MIG_LEASE, .fn = lease_req, .same_len = true},
	{.kind = OS_KIND_MIG_LEASE | OS_REPLY_BIT, .fn = lease_reply, .same_len = true},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_frame(data, size, kinds, sizeof kinds / sizeof kinds[0]);
}
