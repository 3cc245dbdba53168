/*
 * wire.c - encoder and decoder of every orderstore frame (docs/protocol.md).
 *
 * Encoders append to an os_buf and report OSTORE_ENOMEM through its sticky oom flag.
 * Decoders walk an os_rd over the received bytes: a length field is compared with the
 * limits first (so an oversized ID or value gets its precise status) and with the bytes
 * left second (OSTORE_EPROTO), and a body must be consumed exactly (trailing bytes are
 * OSTORE_EPROTO). Nothing is copied: decoded items point into the caller's frame.
 *
 *   frame = header(32) body
 *   DATA  request body = count x { item header(24) id value }
 *   DATA  reply body   = count x { result header(16) value }
 */
#include <string.h>

#include "wire.h"

static int buf_status(const os_buf *b)
{
	return b->oom ? OSTORE_ENOMEM : OSTORE_OK;
}

/* ---- header ---- */

int os_hdr_put(os_buf *b, const os_hdr *h)
{
	uint8_t t[OS_HDR_SIZE];
	os_st16(t, OS_WIRE_MAGIC);
	t[2] = OS_WIRE_VERSION;
	t[3] = h->kind;
	os_st16(t + 4, h->status);
	os_st16(t + 6, h->count);
	os_st32(t + 8, h->timeout_ms);
	os_st64(t + 12, h->epoch);
	os_st64(t + 20, h->client_id);
	uint8_t clen = h->cred_len > OS_CRED_MAX ? (uint8_t)OS_CRED_MAX : h->cred_len;
	if (h->cred == NULL)
		clen = 0;
	t[28] = clen > 0 ? (uint8_t)(h->flags | OS_HDR_F_AUTH) : (uint8_t)(h->flags & ~OS_HDR_F_AUTH);
	memset(t + 29, 0, 3); /* reserved */
	os_buf_put(b, t, sizeof t);
	if (clen > 0) {
		os_buf_put(b, &clen, 1);
		os_buf_put(b, h->cred, clen);
	}
	return buf_status(b);
}

int os_hdr_get(const uint8_t *p, size_t len, os_hdr *h, const uint8_t **rest, size_t *rest_len)
{
	if (p == NULL || len < OS_HDR_SIZE)
		return OSTORE_EPROTO;
	if (os_ld16(p) != OS_WIRE_MAGIC)
		return OSTORE_EPROTO;
	if (p[2] != OS_WIRE_VERSION)
		return OSTORE_EVERSION;
	h->kind = p[3];
	h->status = os_ld16(p + 4);
	h->count = os_ld16(p + 6);
	h->timeout_ms = os_ld32(p + 8);
	h->epoch = os_ld64(p + 12);
	h->client_id = os_ld64(p + 20);
	h->flags = p[28];
	h->cred = NULL;
	h->cred_len = 0;
	size_t hlen = OS_HDR_SIZE;
	if (h->flags & OS_HDR_F_AUTH) {
		if (len < OS_HDR_SIZE + 1u)
			return OSTORE_EPROTO;
		uint8_t clen = p[OS_HDR_SIZE];
		if (clen == 0 || clen > OS_CRED_MAX || len - OS_HDR_SIZE - 1u < clen)
			return OSTORE_EPROTO;
		h->cred = p + OS_HDR_SIZE + 1;
		h->cred_len = clen;
		hlen += 1u + clen;
	}
	if (rest)
		*rest = p + hlen;
	if (rest_len)
		*rest_len = len - hlen;
	return OSTORE_OK;
}

int os_reply_status(os_buf *b, uint8_t kind, uint16_t status, uint64_t epoch,
                    uint64_t client_id)
{
	os_hdr h = {
		.kind = (uint8_t)(kind | OS_REPLY_BIT),
		.status = status,
		.count = 0,
		.timeout_ms = 0,
		.epoch = epoch,
		.client_id = client_id,
	};
	return os_hdr_put(b, &h);
}

/* ---- DATA ---- */

int os_read_bound_put(os_buf *b, const os_read_bound *rb)
{
	os_buf_put_u32(b, rb->max_lag_lsn);
	os_buf_put_u32(b, rb->max_lag_ms);
	return buf_status(b);
}

int os_data_body(const os_hdr *h, const uint8_t *p, size_t len, os_read_bound *rb,
                 const uint8_t **items, size_t *items_len)
{
	*rb = (os_read_bound){0, 0};
	if ((h->flags & OS_HDR_F_BOUNDED_READ) == 0) {
		*items = p;
		*items_len = len;
		return OSTORE_OK;
	}
	if (p == NULL || len < OS_READ_BOUND_SIZE)
		return OSTORE_EPROTO;
	rb->max_lag_lsn = os_ld32(p);
	rb->max_lag_ms = os_ld32(p + 4);
	if (rb->max_lag_lsn == 0 && rb->max_lag_ms == 0)
		return OSTORE_EPROTO;
	*items = p + OS_READ_BOUND_SIZE;
	*items_len = len - OS_READ_BOUND_SIZE;
	return OSTORE_OK;
}

int os_item_put(os_buf *b, const os_item *it)
{
	uint8_t t[OS_DATA_ITEM_HDR];
	t[0] = it->op;
	t[1] = 0; /* flags */
	os_st16(t + 2, (uint16_t)it->id_len);
	os_st32(t + 4, it->value_len);
	os_st64(t + 8, it->seq);
	os_st64(t + 16, it->expected);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, it->id, it->id_len);
	os_buf_put(b, it->value, it->value_len);
	return buf_status(b);
}

static bool op_valid(uint8_t op)
{
	return op == OSTORE_OP_GET || op == OSTORE_OP_PUT || op == OSTORE_OP_DEL ||
	       op == OSTORE_OP_CAS;
}

static int item_get(os_rd *r, uint32_t max_value, os_item *it)
{
	const uint8_t *h = os_rd_take(r, OS_DATA_ITEM_HDR);
	if (h == NULL)
		return OSTORE_EPROTO;
	it->op = h[0];
	/* h[1] (flags) is reserved: senders write 0, receivers ignore it. */
	it->id_len = os_ld16(h + 2);
	it->value_len = os_ld32(h + 4);
	it->seq = os_ld64(h + 8);
	it->expected = os_ld64(h + 16);
	if (!op_valid(it->op))
		return OSTORE_EBADOP;
	if ((it->op == OSTORE_OP_GET || it->op == OSTORE_OP_DEL) && it->value_len != 0)
		return OSTORE_EBADOP;
	if (it->id_len == 0 || it->id_len > OSTORE_MAX_ID_LEN)
		return OSTORE_EBADID;
	if (it->value_len > max_value)
		return OSTORE_ETOOBIG;
	it->id = os_rd_take(r, it->id_len);
	if (it->id == NULL)
		return OSTORE_EPROTO;
	if (it->value_len) {
		it->value = os_rd_take(r, it->value_len);
		if (it->value == NULL)
			return OSTORE_EPROTO;
	} else {
		it->value = NULL;
	}
	return OSTORE_OK;
}

int os_items_get(const uint8_t *p, size_t len, uint16_t count, uint32_t max_value,
                 os_item *items, size_t *bad_index)
{
	if (bad_index)
		*bad_index = 0;
	if (count == 0)
		return OSTORE_EPROTO;
	/* Cheap early refusal: each item takes at least its header. */
	if (len / OS_DATA_ITEM_HDR < count)
		return OSTORE_EPROTO;
	os_rd r;
	os_rd_init(&r, p, len);
	for (uint16_t i = 0; i < count; i++) {
		int st = item_get(&r, max_value, &items[i]);
		if (st != OSTORE_OK) {
			if (bad_index)
				*bad_index = i;
			return st;
		}
	}
	if (r.left != 0) {
		if (bad_index)
			*bad_index = count;
		return OSTORE_EPROTO;
	}
	return OSTORE_OK;
}

int os_result_put(os_buf *b, uint16_t status, uint64_t version, const void *value,
                  uint32_t value_len)
{
	uint8_t t[OS_DATA_REPLY_HDR];
	os_st16(t, status);
	os_st16(t + 2, 0);
	os_st32(t + 4, value_len);
	os_st64(t + 8, version);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, value, value_len);
	return buf_status(b);
}

int os_results_get(const uint8_t *p, size_t len, uint16_t count, os_result *res)
{
	if (len / OS_DATA_REPLY_HDR < count)
		return OSTORE_EPROTO;
	os_rd r;
	os_rd_init(&r, p, len);
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *h = os_rd_take(&r, OS_DATA_REPLY_HDR);
		if (h == NULL)
			return OSTORE_EPROTO;
		res[i].status = os_ld16(h);
		res[i].value_len = os_ld32(h + 4);
		res[i].version = os_ld64(h + 8);
		res[i].value = NULL;
		if (res[i].value_len) {
			res[i].value = os_rd_take(&r, res[i].value_len);
			if (res[i].value == NULL)
				return OSTORE_EPROTO;
		}
	}
	return r.left == 0 ? OSTORE_OK : OSTORE_EPROTO;
}

/* ---- SCAN ---- */

#define SCAN_REQ_HDR 12u
#define SCAN_ENTRY_HDR 16u
#define SCAN_LIMIT_MAX 4096u

int os_scan_req_put(os_buf *b, const os_scan_req *r)
{
	os_buf_put_u16(b, r->slot_begin);
	os_buf_put_u16(b, r->slot_end);
	os_buf_put_u32(b, r->limit);
	os_buf_put_u16(b, r->after_len);
	os_buf_put_u16(b, 0);
	os_buf_put(b, r->after, r->after_len);
	return buf_status(b);
}

int os_scan_req_get(const uint8_t *p, size_t len, os_scan_req *r)
{
	os_rd rd;
	os_rd_init(&rd, p, len);
	const uint8_t *h = os_rd_take(&rd, SCAN_REQ_HDR);
	if (h == NULL)
		return OSTORE_EPROTO;
	r->slot_begin = os_ld16(h);
	r->slot_end = os_ld16(h + 2);
	r->limit = os_ld32(h + 4);
	r->after_len = os_ld16(h + 8);
	if (r->slot_end > OSTORE_SLOTS || r->slot_begin >= r->slot_end)
		return OSTORE_EPROTO;
	if (r->limit == 0 || r->limit > SCAN_LIMIT_MAX)
		return OSTORE_EPROTO;
	if (r->after_len > OSTORE_MAX_ID_LEN)
		return OSTORE_EBADID;
	r->after = NULL;
	if (r->after_len) {
		r->after = os_rd_take(&rd, r->after_len);
		if (r->after == NULL)
			return OSTORE_EPROTO;
	}
	return rd.left == 0 ? OSTORE_OK : OSTORE_EPROTO;
}

int os_scan_next_put(os_buf *b, uint16_t next_slot, const void *next_after, uint16_t next_after_len)
{
	os_buf_put_u16(b, next_slot);
	os_buf_put_u16(b, next_after_len);
	os_buf_put(b, next_after, next_after_len);
	return buf_status(b);
}

int os_scan_entry_put(os_buf *b, const os_scan_entry *e)
{
	uint8_t t[SCAN_ENTRY_HDR];
	os_st16(t, 0); /* status: always OSTORE_OK for a stored order */
	os_st16(t + 2, e->id_len);
	os_st32(t + 4, e->value_len);
	os_st64(t + 8, e->version);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, e->id, e->id_len);
	os_buf_put(b, e->value, e->value_len);
	return buf_status(b);
}

int os_scan_reply_get(const uint8_t *p, size_t len, uint16_t count, uint16_t *next_slot,
                      const uint8_t **next_after, uint16_t *next_after_len,
                      os_scan_entry *entries)
{
	os_rd r;
	os_rd_init(&r, p, len);
	uint16_t ns = 0, nal = 0;
	if (!os_rd_u16(&r, &ns) || !os_rd_u16(&r, &nal))
		return OSTORE_EPROTO;
	if (ns > OSTORE_SLOTS || nal > OSTORE_MAX_ID_LEN)
		return OSTORE_EPROTO;
	const uint8_t *na = NULL;
	if (nal) {
		na = os_rd_take(&r, nal);
		if (na == NULL)
			return OSTORE_EPROTO;
	}
	if (r.left / (SCAN_ENTRY_HDR + 1) < count)
		return OSTORE_EPROTO;
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *h = os_rd_take(&r, SCAN_ENTRY_HDR);
		if (h == NULL)
			return OSTORE_EPROTO;
		os_scan_entry *e = &entries[i];
		e->id_len = os_ld16(h + 2);
		e->value_len = os_ld32(h + 4);
		e->version = os_ld64(h + 8);
		if (e->id_len == 0 || e->id_len > OSTORE_MAX_ID_LEN)
			return OSTORE_EPROTO;
		e->id = os_rd_take(&r, e->id_len);
		if (e->id == NULL)
			return OSTORE_EPROTO;
		e->value = NULL;
		if (e->value_len) {
			e->value = os_rd_take(&r, e->value_len);
			if (e->value == NULL)
				return OSTORE_EPROTO;
		}
	}
	if (r.left != 0)
		return OSTORE_EPROTO;
	*next_slot = ns;
	*next_after = na;
	*next_after_len = nal;
	return OSTORE_OK;
}

/* ---- STATS ---- */

int os_stats_entry_put(os_buf *b, const os_stats_entry *e)
{
	uint8_t t[OS_STATS_ENTRY_SIZE];
	os_st32(t, e->shard);
	os_st32(t + 4, e->slots);
	os_st32(t + 8, e->node);
	os_st32(t + 12, e->status);
	os_st64(t + 16, e->orders);
	os_st64(t + 24, e->lsn);
	os_st64(t + 32, e->bytes_used);
	os_st64(t + 40, e->map_size);
	os_st32(t + 48, e->role);
	os_st32(t + 52, e->replicas);
	os_st64(t + 56, e->primary_lsn);
	os_st64(t + 64, e->replica_reads);
	os_st64(t + 72, e->stale_reads);
	os_st64(t + 80, e->lsn_epoch);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_stats_entries_get(const uint8_t *p, size_t len, uint16_t count, os_stats_entry *e)
{
	if (len != (size_t)count * OS_STATS_ENTRY_SIZE)
		return OSTORE_EPROTO;
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *t = p + (size_t)i * OS_STATS_ENTRY_SIZE;
		e[i].shard = os_ld32(t);
		e[i].slots = os_ld32(t + 4);
		e[i].node = os_ld32(t + 8);
		e[i].status = os_ld32(t + 12);
		e[i].orders = os_ld64(t + 16);
		e[i].lsn = os_ld64(t + 24);
		e[i].bytes_used = os_ld64(t + 32);
		e[i].map_size = os_ld64(t + 40);
		e[i].role = os_ld32(t + 48);
		e[i].replicas = os_ld32(t + 52);
		e[i].primary_lsn = os_ld64(t + 56);
		e[i].replica_reads = os_ld64(t + 64);
		e[i].stale_reads = os_ld64(t + 72);
		e[i].lsn_epoch = os_ld64(t + 80);
	}
	return OSTORE_OK;
}

/* ---- REPL_PULL ---- */

int os_pull_req_put(os_buf *b, const os_pull_req *r)
{
	uint8_t t[OS_PULL_REQ_SIZE];
	os_st16(t, r->shard);
	os_st16(t + 2, r->node_id);
	os_st32(t + 4, r->wait_ms);
	os_st64(t + 8, r->cluster_id);
	os_st64(t + 16, r->from_lsn);
	os_st64(t + 24, r->from_epoch);
	os_st32(t + 32, r->max_bytes);
	os_st32(t + 36, 0);
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_pull_req_get(const uint8_t *p, size_t len, os_pull_req *r)
{
	if (p == NULL || len != OS_PULL_REQ_SIZE)
		return OSTORE_EPROTO;
	r->shard = os_ld16(p);
	r->node_id = os_ld16(p + 2);
	r->wait_ms = os_ld32(p + 4);
	r->cluster_id = os_ld64(p + 8);
	r->from_lsn = os_ld64(p + 16);
	r->from_epoch = os_ld64(p + 24);
	r->max_bytes = os_ld32(p + 32);
	return OSTORE_OK;
}

int os_pull_reply_head_put(os_buf *b, uint64_t primary_lsn, uint64_t oldest_lsn)
{
	os_buf_put_u64(b, primary_lsn);
	os_buf_put_u64(b, oldest_lsn);
	return buf_status(b);
}

int os_log_entry_put(os_buf *b, const os_log_entry *e)
{
	uint8_t t[OS_LOG_ENTRY_HDR];
	os_st64(t, e->lsn);
	os_st64(t + 8, e->epoch);
	t[16] = e->op;
	t[17] = 0;
	os_st16(t + 18, e->key_len);
	os_st32(t + 20, e->value_len);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, e->key, e->key_len);
	os_buf_put(b, e->value, e->value_len);
	return buf_status(b);
}

size_t os_log_entry_size(const os_log_entry *e)
{
	return OS_LOG_ENTRY_HDR + (size_t)e->key_len + e->value_len;
}

/* An LMDB key as carried by REPL_PULL and SNAP: slot (BE, < 4096) + 1..256 ID bytes. */
static bool key_valid(const uint8_t *key, size_t len)
{
	return len >= 3 && len <= 2u + OSTORE_MAX_ID_LEN && (unsigned)((key[0] << 8) | key[1]) < OSTORE_SLOTS;
}

/* Decodes one log entry; a JUMP record (OS_LOG_OP_JUMP) only when @allow_jump. */
static int log_entry_get(os_rd *r, os_log_entry *e, bool allow_jump)
{
	const uint8_t *h = os_rd_take(r, OS_LOG_ENTRY_HDR);
	if (h == NULL)
		return OSTORE_EPROTO;
	e->lsn = os_ld64(h);
	e->epoch = os_ld64(h + 8);
	e->op = h[16];
	e->key_len = os_ld16(h + 18);
	e->value_len = os_ld32(h + 20);
	if (e->op == OS_LOG_OP_JUMP && allow_jump) {
		/* no key, value = u64 prev_lsn below the record's own lsn */
		if (e->key_len != 0 || e->value_len != 8)
			return OSTORE_EPROTO;
		e->key = NULL;
		e->value = os_rd_take(r, 8);
		if (e->value == NULL || os_ld64(e->value) >= e->lsn)
			return OSTORE_EPROTO;
		return OSTORE_OK;
	}
	if (e->op != OSTORE_OP_PUT && e->op != OSTORE_OP_DEL)
		return OSTORE_EPROTO;
	if (e->op == OSTORE_OP_DEL && e->value_len != 0)
		return OSTORE_EPROTO;
	if (e->value_len > OSTORE_MAX_VALUE_LIMIT)
		return OSTORE_EPROTO;
	e->key = os_rd_take(r, e->key_len);
	if (e->key == NULL || !key_valid(e->key, e->key_len))
		return OSTORE_EPROTO;
	e->value = NULL;
	if (e->value_len) {
		e->value = os_rd_take(r, e->value_len);
		if (e->value == NULL)
			return OSTORE_EPROTO;
	}
	return OSTORE_OK;
}

int os_pull_reply_get(const uint8_t *p, size_t len, uint16_t count, uint64_t *primary_lsn,
                      uint64_t *oldest_lsn, os_log_entry *entries)
{
	os_rd r;
	os_rd_init(&r, p, len);
	uint64_t pl = 0, ol = 0;
	if (!os_rd_u64(&r, &pl) || !os_rd_u64(&r, &ol))
		return OSTORE_EPROTO;
	if (r.left / OS_LOG_ENTRY_HDR < count)
		return OSTORE_EPROTO;
	for (uint16_t i = 0; i < count; i++) {
		int st = log_entry_get(&r, &entries[i], true);
		if (st != OSTORE_OK)
			return st;
	}
	if (r.left != 0)
		return OSTORE_EPROTO;
	*primary_lsn = pl;
	*oldest_lsn = ol;
	return OSTORE_OK;
}

/* ---- SNAP ---- */

int os_snap_req_put(os_buf *b, const os_snap_req *r)
{
	uint8_t t[OS_SNAP_REQ_HDR];
	os_st16(t, r->shard);
	os_st16(t + 2, r->node_id);
	os_st32(t + 4, r->max_bytes);
	os_st64(t + 8, r->cluster_id);
	os_st64(t + 16, r->session);
	os_st16(t + 24, r->after_len);
	os_st16(t + 26, 0);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, r->after, r->after_len);
	return buf_status(b);
}

int os_snap_req_get(const uint8_t *p, size_t len, os_snap_req *r)
{
	os_rd rd;
	os_rd_init(&rd, p, len);
	const uint8_t *h = os_rd_take(&rd, OS_SNAP_REQ_HDR);
	if (h == NULL)
		return OSTORE_EPROTO;
	r->shard = os_ld16(h);
	r->node_id = os_ld16(h + 2);
	r->max_bytes = os_ld32(h + 4);
	r->cluster_id = os_ld64(h + 8);
	r->session = os_ld64(h + 16);
	r->after_len = os_ld16(h + 24);
	r->after = NULL;
	if (r->after_len > 2u + OSTORE_MAX_ID_LEN)
		return OSTORE_EPROTO;
	if (r->after_len) {
		r->after = os_rd_take(&rd, r->after_len);
		if (r->after == NULL)
			return OSTORE_EPROTO;
	}
	return rd.left == 0 ? OSTORE_OK : OSTORE_EPROTO;
}

int os_snap_head_put(os_buf *b, const os_snap_head *h)
{
	uint8_t t[OS_SNAP_REPLY_HDR];
	memset(t, 0, sizeof t);
	os_st64(t, h->session);
	os_st64(t + 8, h->snap_lsn);
	os_st64(t + 16, h->snap_epoch);
	t[24] = h->done;
	os_buf_put(b, t, sizeof t);
	return buf_status(b);
}

int os_snap_entry_put(os_buf *b, const os_snap_entry *e)
{
	uint8_t t[OS_SNAP_ENTRY_HDR];
	os_st16(t, e->key_len);
	os_st16(t + 2, 0);
	os_st32(t + 4, e->value_len);
	os_st64(t + 8, e->version);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, e->key, e->key_len);
	os_buf_put(b, e->value, e->value_len);
	return buf_status(b);
}

int os_snap_reply_get(const uint8_t *p, size_t len, uint16_t count, os_snap_head *hd,
                      os_snap_entry *entries)
{
	os_rd r;
	os_rd_init(&r, p, len);
	const uint8_t *h = os_rd_take(&r, OS_SNAP_REPLY_HDR);
	if (h == NULL)
		return OSTORE_EPROTO;
	if (r.left / (OS_SNAP_ENTRY_HDR + 3) < count)
		return OSTORE_EPROTO;
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *t = os_rd_take(&r, OS_SNAP_ENTRY_HDR);
		if (t == NULL)
			return OSTORE_EPROTO;
		os_snap_entry *e = &entries[i];
		e->key_len = os_ld16(t);
		e->value_len = os_ld32(t + 4);
		e->version = os_ld64(t + 8);
		if (e->value_len > OSTORE_MAX_VALUE_LIMIT)
			return OSTORE_EPROTO;
		e->key = os_rd_take(&r, e->key_len);
		if (e->key == NULL || !key_valid(e->key, e->key_len))
			return OSTORE_EPROTO;
		e->value = NULL;
		if (e->value_len) {
			e->value = os_rd_take(&r, e->value_len);
			if (e->value == NULL)
				return OSTORE_EPROTO;
		}
	}
	if (r.left != 0)
		return OSTORE_EPROTO;
	hd->session = os_ld64(h);
	hd->snap_lsn = os_ld64(h + 8);
	hd->snap_epoch = os_ld64(h + 16);
	hd->done = h[24];
	return OSTORE_OK;
}

/* ---- CHECKSUM ---- */

int os_cksum_req_put(os_buf *b, uint16_t slot_begin, uint16_t slot_end)
{
	os_buf_put_u16(b, slot_begin);
	os_buf_put_u16(b, slot_end);
	return buf_status(b);
}

int os_cksum_req_get(const uint8_t *p, size_t len, uint16_t *slot_begin, uint16_t *slot_end)
{
	if (p == NULL || len != OS_CKSUM_REQ_SIZE)
		return OSTORE_EPROTO;
	uint16_t b = os_ld16(p), e = os_ld16(p + 2);
	if (e > OSTORE_SLOTS || b >= e)
		return OSTORE_EPROTO;
	*slot_begin = b;
	*slot_end = e;
	return OSTORE_OK;
}

int os_cksum_reply_get(const uint8_t *p, size_t len, uint16_t count, uint64_t *lsn,
                       os_cksum_entry *e)
{
	if (p == NULL || len != 8u + (size_t)count * OS_CKSUM_ENTRY_SIZE)
		return OSTORE_EPROTO;
	*lsn = os_ld64(p);
	for (uint16_t i = 0; i < count; i++) {
		e[i].orders = os_ld64(p + 8 + (size_t)i * OS_CKSUM_ENTRY_SIZE);
		e[i].checksum = os_ld64(p + 16 + (size_t)i * OS_CKSUM_ENTRY_SIZE);
	}
	return OSTORE_OK;
}

int os_log_entry_get(os_rd *r, os_log_entry *e)
{
	return log_entry_get(r, e, false); /* JUMP records: REPL_PULL replies only */
}
