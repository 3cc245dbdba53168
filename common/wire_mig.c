/*
 * wire_mig.c - encoders and decoders of the slot-migration frames (wire.h "Slot
 * migration", docs/protocol.md). Same rules as wire.c: encoders report OSTORE_ENOMEM
 * through the buffer's sticky flag; decoders check every length against what remains,
 * consume the body exactly, and point into the caller's bytes.
 */
#include <string.h>

#include "wire.h"

static int buf_status(const os_buf *b)
{
	return b->oom ? OSTORE_ENOMEM : OSTORE_OK;
}

static bool range_valid(uint16_t begin, uint16_t end)
{
	return begin < end && end <= OSTORE_SLOTS;
}

/* An LMDB key: slot (BE, < 4096) + 1..256 ID bytes. */
static bool key_valid(const uint8_t *key, size_t len)
{
	return len >= 3 && len <= 2u + OSTORE_MAX_ID_LEN &&
	       (unsigned)((key[0] << 8) | key[1]) < OSTORE_SLOTS;
}

/* ---- MIG_SNAP ---- */

int os_mig_snap_req_put(os_buf *b, const os_mig_snap_req *r)
{
	uint8_t t[OS_MIG_SNAP_REQ_HDR];
	os_st64(t, r->cluster_id);
	os_st64(t + 8, r->session);
	os_st32(t + 16, r->max_bytes);
	os_st16(t + 20, r->slot_begin);
	os_st16(t + 22, r->slot_end);
	os_st16(t + 24, r->after_len);
	os_st16(t + 26, 0);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, r->after, r->after_len);
	return buf_status(b);
}

int os_mig_snap_req_get(const uint8_t *p, size_t len, os_mig_snap_req *r)
{
	os_rd rd;
	os_rd_init(&rd, p, len);
	const uint8_t *h = os_rd_take(&rd, OS_MIG_SNAP_REQ_HDR);
	if (h == NULL)
		return OSTORE_EPROTO;
	r->cluster_id = os_ld64(h);
	r->session = os_ld64(h + 8);
	r->max_bytes = os_ld32(h + 16);
	r->slot_begin = os_ld16(h + 20);
	r->slot_end = os_ld16(h + 22);
	r->after_len = os_ld16(h + 24);
	r->after = NULL;
	if (!range_valid(r->slot_begin, r->slot_end))
		return OSTORE_EPROTO;
	if (r->after_len != 0) {
		r->after = os_rd_take(&rd, r->after_len);
		if (r->after == NULL || !key_valid(r->after, r->after_len))
			return OSTORE_EPROTO;
	}
	return rd.left == 0 ? OSTORE_OK : OSTORE_EPROTO;
}

/* ---- MIG_LOG ---- */

int os_mig_log_req_put(os_buf *b, const os_mig_log_req *r)
{
	uint8_t t[OS_MIG_LOG_REQ_SIZE];
	os_st64(t, r->cluster_id);
	os_st64(t + 8, r->from_lsn);
	os_st32(t + 16, r->max_bytes);
	os_st32(t + 20, r->max_scan);
	os_st16(t + 24, r->slot_begin);
	os_st16(t + 26, r->slot_end);
	os_st32(t + 28, 0);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_mig_log_req_get(const uint8_t *p, size_t len, os_mig_log_req *r)
{
	if (p == NULL || len != OS_MIG_LOG_REQ_SIZE)
		return OSTORE_EPROTO;
	r->cluster_id = os_ld64(p);
	r->from_lsn = os_ld64(p + 8);
	r->max_bytes = os_ld32(p + 16);
	r->max_scan = os_ld32(p + 20);
	r->slot_begin = os_ld16(p + 24);
	r->slot_end = os_ld16(p + 26);
	return range_valid(r->slot_begin, r->slot_end) ? OSTORE_OK : OSTORE_EPROTO;
}

int os_mig_log_head_put(os_buf *b, const os_mig_log_head *h)
{
	os_buf_put_u64(b, h->source_lsn);
	os_buf_put_u64(b, h->oldest_lsn);
	os_buf_put_u64(b, h->scanned_to);
	os_buf_put_u64(b, h->frozen_lsn);
	return buf_status(b);
}

/* @count PUT/DEL entries (no JUMP) from @r, which must then be exhausted. */
static int entries_get(os_rd *r, uint16_t count, os_log_entry *entries)
{
	if (r->left / (OS_LOG_ENTRY_HDR + 3) < count)
		return OSTORE_EPROTO;
	for (uint16_t i = 0; i < count; i++) {
		int st = os_log_entry_get(r, &entries[i]);
		if (st != OSTORE_OK)
			return st;
		if (entries[i].op != OSTORE_OP_PUT && entries[i].op != OSTORE_OP_DEL)
			return OSTORE_EPROTO;
	}
	return r->left == 0 ? OSTORE_OK : OSTORE_EPROTO;
}

int os_mig_log_reply_get(const uint8_t *p, size_t len, uint16_t count, os_mig_log_head *h,
                         os_log_entry *entries)
{
	os_rd r;
	os_rd_init(&r, p, len);
	os_mig_log_head hd;
	if (!os_rd_u64(&r, &hd.source_lsn) || !os_rd_u64(&r, &hd.oldest_lsn) ||
	    !os_rd_u64(&r, &hd.scanned_to) || !os_rd_u64(&r, &hd.frozen_lsn))
		return OSTORE_EPROTO;
	int st = entries_get(&r, count, entries);
	if (st == OSTORE_OK)
		*h = hd;
	return st;
}

/* ---- MIG_FREEZE ---- */

int os_mig_freeze_req_put(os_buf *b, uint8_t op, uint16_t slot_begin, uint16_t slot_end)
{
	uint8_t t[OS_MIG_FREEZE_REQ_SIZE] = {0};
	t[0] = op;
	os_st16(t + 2, slot_begin);
	os_st16(t + 4, slot_end);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_mig_freeze_req_get(const uint8_t *p, size_t len, uint8_t *op, uint16_t *slot_begin,
                          uint16_t *slot_end)
{
	if (p == NULL || len != OS_MIG_FREEZE_REQ_SIZE)
		return OSTORE_EPROTO;
	uint8_t o = p[0];
	uint16_t b = os_ld16(p + 2), e = os_ld16(p + 4);
	if (o != OS_MIG_QUERY && o != OS_MIG_FREEZE && o != OS_MIG_UNFREEZE)
		return OSTORE_EPROTO;
	if (!range_valid(b, e))
		return OSTORE_EPROTO;
	*op = o;
	*slot_begin = b;
	*slot_end = e;
	return OSTORE_OK;
}

int os_mig_freeze_reply_get(const uint8_t *p, size_t len, uint64_t *lsn, uint8_t *bitmap)
{
	if (p == NULL || len != OS_MIG_FREEZE_REPLY_SIZE)
		return OSTORE_EPROTO;
	*lsn = os_ld64(p);
	memcpy(bitmap, p + 8, OS_MIG_BITMAP_SIZE);
	return OSTORE_OK;
}

/* ---- MIG_APPLY ---- */

int os_mig_apply_head_put(os_buf *b, uint64_t cluster_id, uint16_t slot_begin, uint16_t slot_end)
{
	uint8_t t[OS_MIG_APPLY_HDR] = {0};
	os_st64(t, cluster_id);
	os_st16(t + 8, slot_begin);
	os_st16(t + 10, slot_end);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_mig_apply_get(const uint8_t *p, size_t len, uint16_t count, uint64_t *cluster_id,
                     uint16_t *slot_begin, uint16_t *slot_end, os_log_entry *entries)
{
	os_rd r;
	os_rd_init(&r, p, len);
	const uint8_t *h = os_rd_take(&r, OS_MIG_APPLY_HDR);
	if (h == NULL || count == 0)
		return OSTORE_EPROTO;
	uint16_t b = os_ld16(h + 8), e = os_ld16(h + 10);
	if (!range_valid(b, e))
		return OSTORE_EPROTO;
	int st = entries_get(&r, count, entries);
	if (st != OSTORE_OK)
		return st;
	*cluster_id = os_ld64(h);
	*slot_begin = b;
	*slot_end = e;
	return OSTORE_OK;
}

/* ---- MIG_PURGE ---- */

int os_mig_purge_req_put(os_buf *b, uint64_t cluster_id, uint16_t slot_begin,
                         uint16_t slot_end, uint32_t max_orders)
{
	uint8_t t[OS_MIG_PURGE_REQ_SIZE];
	os_st64(t, cluster_id);
	os_st16(t + 8, slot_begin);
	os_st16(t + 10, slot_end);
	os_st32(t + 12, max_orders);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_mig_purge_req_get(const uint8_t *p, size_t len, uint64_t *cluster_id,
                         uint16_t *slot_begin, uint16_t *slot_end, uint32_t *max_orders)
{
	if (p == NULL || len != OS_MIG_PURGE_REQ_SIZE)
		return OSTORE_EPROTO;
	uint16_t b = os_ld16(p + 8), e = os_ld16(p + 10);
	uint32_t n = os_ld32(p + 12);
	if (!range_valid(b, e) || n == 0 || n > 65535u)
		return OSTORE_EPROTO;
	*cluster_id = os_ld64(p);
	*slot_begin = b;
	*slot_end = e;
	*max_orders = n;
	return OSTORE_OK;
}

int os_mig_purge_reply_get(const uint8_t *p, size_t len, uint32_t *deleted, uint32_t *more)
{
	if (p == NULL || len != OS_MIG_PURGE_REPLY_SIZE)
		return OSTORE_EPROTO;
	*deleted = os_ld32(p);
	*more = os_ld32(p + 4);
	return OSTORE_OK;
}

/* ---- MIG_LEASE ---- */

int os_mig_lease_req_put(os_buf *b, uint64_t owner, uint32_t ttl_ms, uint32_t flags)
{
	uint8_t t[OS_MIG_LEASE_SIZE];
	os_st64(t, owner);
	os_st32(t + 8, ttl_ms);
	os_st32(t + 12, flags);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_mig_lease_req_get(const uint8_t *p, size_t len, uint64_t *owner, uint32_t *ttl_ms,
                         uint32_t *flags)
{
	if (p == NULL || len != OS_MIG_LEASE_SIZE)
		return OSTORE_EPROTO;
	uint64_t o = os_ld64(p);
	uint32_t ttl = os_ld32(p + 8), f = os_ld32(p + 12);
	if (o == 0 || (ttl != 0 && (ttl < OS_MIG_LEASE_TTL_MIN || ttl > OS_MIG_LEASE_TTL_MAX)) ||
	    (f & ~OS_MIG_LEASE_F_RENEW) != 0)
		return OSTORE_EPROTO;
	*owner = o;
	*ttl_ms = ttl;
	*flags = f;
	return OSTORE_OK;
}

int os_mig_lease_reply_put(os_buf *b, uint64_t holder, uint32_t remaining_ms)
{
	uint8_t t[OS_MIG_LEASE_SIZE] = {0};
	os_st64(t, holder);
	os_st32(t + 8, remaining_ms);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_mig_lease_reply_get(const uint8_t *p, size_t len, uint64_t *holder,
                           uint32_t *remaining_ms)
{
	if (p == NULL || len != OS_MIG_LEASE_SIZE)
		return OSTORE_EPROTO;
	*holder = os_ld64(p);
	*remaining_ms = os_ld32(p + 8);
	return OSTORE_OK;
}
