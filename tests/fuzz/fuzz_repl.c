/*
 * fuzz_repl.c - fuzz harness of the replication frames (common/wire.c): REPL_PULL
 * requests and replies (log entries, JUMP records) and SNAP requests and replies (the
 * re-seed pages). The input is one whole frame; see fuzz.h for the round-trip rules.
 * Each static handler is a fuzz_body_fn (fuzz.h): decode one body kind, re-encode it.
 */
#include <stdlib.h>

#include "fuzz.h"

static int pull_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	os_pull_req r;
	int st = os_pull_req_get(p, len, &r);
	if (st == OSTORE_OK)
		os_pull_req_put(out, &r);
	return st;
}

/* The properties every decoded log entry keeps (wire.h "REPL_PULL"). */
static void check_entry(const os_log_entry *e)
{
	if (e->op == OS_LOG_OP_JUMP) {
		FUZZ_CHECK(e->key_len == 0 && e->value_len == 8 && os_ld64(e->value) < e->lsn);
		return;
	}
	FUZZ_CHECK(e->op == OSTORE_OP_PUT || e->op == OSTORE_OP_DEL);
	FUZZ_CHECK(e->key_len >= 3 && e->key_len <= 2 + OSTORE_MAX_ID_LEN);
	FUZZ_CHECK(((e->key[0] << 8) | e->key[1]) < (int)OSTORE_SLOTS);
	FUZZ_CHECK(e->op == OSTORE_OP_PUT || e->value_len == 0);
	FUZZ_CHECK(os_log_entry_size(e) == OS_LOG_ENTRY_HDR + e->key_len + (size_t)e->value_len);
}

static int pull_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_log_entry *e = fuzz_array(h->count, len, OS_LOG_ENTRY_HDR, sizeof *e);
	uint64_t primary = 0, oldest = 0;
	int st = os_pull_reply_get(p, len, h->count, &primary, &oldest, e);
	if (st == OSTORE_OK) {
		os_pull_reply_head_put(out, primary, oldest);
		for (uint16_t i = 0; i < h->count; i++) {
			check_entry(&e[i]);
			os_log_entry_put(out, &e[i]);
		}
	}
	free(e);
	return st;
}

static int snap_req(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	(void)h;
	os_snap_req r;
	int st = os_snap_req_get(p, len, &r);
	if (st == OSTORE_OK)
		os_snap_req_put(out, &r);
	return st;
}

static int snap_reply(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out)
{
	os_snap_entry *e = fuzz_array(h->count, len, OS_SNAP_ENTRY_HDR + 3, sizeof *e);
	os_snap_head sh;
	int st = os_snap_reply_get(p, len, h->count, &sh, e);
	if (st == OSTORE_OK) {
		os_snap_head_put(out, &sh);
		for (uint16_t i = 0; i < h->count; i++) {
			FUZZ_CHECK(e[i].key_len >= 3 && e[i].key_len <= 2 + OSTORE_MAX_ID_LEN);
			os_snap_entry_put(out, &e[i]);
		}
	}
	free(e);
	return st;
}

static const fuzz_kind kinds[] = {
	{.kind = OS_KIND_REPL_PULL, .fn = pull_req, .same_len = true},
	{.kind = OS_KIND_REPL_PULL | OS_REPLY_BIT, .fn = pull_reply, .same_len = true},
	{.kind = OS_KIND_SNAP, .fn = snap_req, .same_len = true},
	{.kind = OS_KIND_SNAP | OS_REPLY_BIT, .fn = snap_reply, .same_len = true},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_frame(data, size, kinds, sizeof kinds / sizeof kinds[0]);
}
