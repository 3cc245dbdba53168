/*
 * wire_top.c - encoder and decoder of the TOP reply (wire.h "TOP"), same rules as
 * wire.c: encoders report OSTORE_ENOMEM through the buffer's sticky flag, decoders check
 * every length and consume the body exactly.
 */
#include "wire.h"

int os_top_head_put(os_buf *b, const os_top_head *h)
{
	uint8_t t[OS_TOP_HEAD_SIZE];
	os_st64(t, h->interval_ms);
	os_st64(t + 8, h->items);
	os_st64(t + 16, h->writes);
	os_st32(t + 24, h->p50_us);
	os_st32(t + 28, h->p99_us);
	os_buf_put(b, t, sizeof t);
	return b->oom ? OSTORE_ENOMEM : OSTORE_OK;
}

int os_top_key_put(os_buf *b, const os_top_key *k)
{
	uint8_t t[OS_TOP_KEY_HDR];
	os_st32(t, k->hits);
	os_st32(t + 4, k->err);
	os_st16(t + 8, k->id_len);
	os_st16(t + 10, 0);
	os_buf_put(b, t, sizeof t);
	os_buf_put(b, k->id, k->id_len);
	return b->oom ? OSTORE_ENOMEM : OSTORE_OK;
}

int os_top_reply_get(const uint8_t *p, size_t len, uint16_t count, os_top_head *h,
                     os_top_key *keys)
{
	os_rd r;
	os_rd_init(&r, p, len);
	const uint8_t *t = os_rd_take(&r, OS_TOP_HEAD_SIZE);
	if (t == NULL || count > OS_TOP_MAX_KEYS)
		return OSTORE_EPROTO;
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *k = os_rd_take(&r, OS_TOP_KEY_HDR);
		if (k == NULL)
			return OSTORE_EPROTO;
		keys[i].hits = os_ld32(k);
		keys[i].err = os_ld32(k + 4);
		keys[i].id_len = os_ld16(k + 8);
		if (keys[i].id_len == 0 || keys[i].id_len > OSTORE_MAX_ID_LEN)
			return OSTORE_EPROTO;
		if ((keys[i].id = os_rd_take(&r, keys[i].id_len)) == NULL)
			return OSTORE_EPROTO;
	}
	if (r.left != 0)
		return OSTORE_EPROTO;
	h->interval_ms = os_ld64(t);
	h->items = os_ld64(t + 8);
	h->writes = os_ld64(t + 16);
	h->p50_us = os_ld32(t + 24);
	h->p99_us = os_ld32(t + 28);
	return OSTORE_OK;
}
