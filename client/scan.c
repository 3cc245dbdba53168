/*
 * scan.c - ostore_scan: every stored order, page by page, through the routers.
 *
 * The cursor is (slot, after): the next page holds orders with key (slot, id) greater
 * than (cursor slot, after) and slot < 4096, in key order. The router sends each page
 * to the owner of the run of slots that starts at the cursor and answers the next
 * cursor; the scan ends when next_slot reaches 4096.
 *
 *   cursor = (0, "") ─▶ SCAN{slot_begin, 4096, limit, after} ─▶ entries ─▶ fn(...)
 *        ▲                                                          │
 *        └────────────── (next_slot, next_after) ◀──────────────────┘ until 4096
 *
 * A cursor that does not move forward is a protocol error (never an endless loop).
 * Pages are retried like any request (SCAN reads are idempotent).
 */
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"

#define OC_SCAN_PAGE 512u

typedef struct oc_cursor {
	uint16_t slot;
	uint16_t after_len;
	uint8_t after[OSTORE_MAX_ID_LEN];
} oc_cursor;

/* Is (slot, after) strictly past the cursor @cur? Keys compare as LMDB keys do. */
static bool oc_cursor_advances(const oc_cursor *cur, uint16_t slot, const uint8_t *after,
                               uint16_t after_len)
{
	if (slot != cur->slot)
		return slot > cur->slot;
	size_t n = after_len < cur->after_len ? after_len : cur->after_len;
	int cmp = n ? memcmp(after, cur->after, n) : 0;
	if (cmp != 0)
		return cmp > 0;
	return after_len > cur->after_len;
}

/* Fetch and visit one page. *stop is set when fn asked to stop; *cur moves on. */
static int oc_scan_page(ostore_client *c, oc_cursor *cur, ostore_scan_fn fn, void *arg,
                        bool *stop)
{
	os_buf frame;
	os_buf_init(&frame);
	os_scan_req rq = {
		.slot_begin = cur->slot,
		.slot_end = OSTORE_SLOTS,
		.limit = OC_SCAN_PAGE,
		.after = cur->after,
		.after_len = cur->after_len,
	};
	int st = oc_frame_begin(c, &frame, OS_KIND_SCAN, 0, 0);
	if (st == OSTORE_OK && (os_scan_req_put(&frame, &rq) != OSTORE_OK || frame.oom))
		st = OSTORE_ENOMEM;
	if (st != OSTORE_OK) {
		os_buf_fini(&frame);
		return st;
	}
	nng_msg *reply = NULL;
	st = oc_call(c, &frame, &reply); /* takes the frame */
	if (st != OSTORE_OK)
		return st;

	os_hdr h;
	const uint8_t *body;
	size_t body_len;
	os_scan_entry *ents = NULL;
	st = oc_reply_check(reply, OS_KIND_SCAN, &h, &body, &body_len);
	if (st == OSTORE_OK && h.status != OSTORE_OK)
		st = h.status;
	if (st != OSTORE_OK)
		goto out;
	ents = malloc((h.count ? h.count : 1) * sizeof(*ents));
	if (ents == NULL) {
		st = OSTORE_ENOMEM;
		goto out;
	}
	uint16_t next_slot, next_after_len;
	const uint8_t *next_after;
	st = os_scan_reply_get(body, body_len, h.count, &next_slot, &next_after, &next_after_len,
	                       ents);
	if (st != OSTORE_OK)
		goto out;
	if (next_slot > OSTORE_SLOTS || next_after_len > OSTORE_MAX_ID_LEN ||
	    (next_slot < OSTORE_SLOTS && !oc_cursor_advances(cur, next_slot, next_after,
	                                                      next_after_len))) {
		st = OSTORE_EPROTO;
		goto out;
	}
	for (uint16_t i = 0; i < h.count; i++) {
		const os_scan_entry *e = &ents[i];
		if (fn(arg, e->id, e->id_len, e->value, e->value_len, e->version) != 0) {
			*stop = true;
			goto out;
		}
	}
	cur->slot = next_slot;
	cur->after_len = next_slot < OSTORE_SLOTS ? next_after_len : 0;
	if (cur->after_len > 0)
		memcpy(cur->after, next_after, cur->after_len);
out:
	free(ents);
	nng_msg_free(reply);
	return st;
}

ostore_status ostore_scan(ostore_client *c, ostore_scan_fn fn, void *arg)
{
	if (c == NULL || fn == NULL)
		return OSTORE_EINVAL;
	oc_cursor cur = {.slot = 0, .after_len = 0};
	bool stop = false;
	while (cur.slot < OSTORE_SLOTS && !stop) {
		int st = oc_scan_page(c, &cur, fn, arg, &stop);
		if (st != OSTORE_OK)
			return (ostore_status)st;
	}
	return OSTORE_OK;
}
