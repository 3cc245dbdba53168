/*
 * orderstore_mig.c - the rebalance tool's slot-migration frames (orderstore_mig.h):
 * encode the request with the common/wire_mig.c codec, one cli_rpc round trip, decode
 * the reply. No retries here: the driver (orderstore_migrate.c) decides what a status
 * means (push a newer map on OSTORE_ESTALE, copy again on OSTORE_ERESEED, ...).
 */
#include <stdlib.h>
#include <string.h>

#include "orderstore_mig.h"
#include "wire.h"

void cli_mig_page_free(cli_mig_page *p)
{
	cli_reply_free(&p->reply);
	free(p->entries);
	memset(p, 0, sizeof(*p));
}

/* Sends @b (a request body) as @kind; the reply's status becomes the result. On
 * OSTORE_OK *r holds the reply. @b is released in every case. */
static int mig_call(const char *url, uint8_t kind, uint64_t run, uint64_t epoch, os_buf *b,
                    int enc, uint32_t timeout_ms, cli_reply *r)
{
	memset(r, 0, sizeof(*r));
	int st = enc != OSTORE_OK || b->oom ? OSTORE_ENOMEM
	         : cli_rpc_n(url, kind, epoch, 0, run, b->data, b->len, timeout_ms, r);
	os_buf_fini(b);
	if (st == OSTORE_OK && r->hdr.status != OSTORE_OK) {
		st = r->hdr.status;
		cli_reply_free(r);
	}
	return st;
}

/* Room for @count decoded entries (at least one, so a 0-entry page needs no case). */
static os_log_entry *entries_alloc(uint16_t count)
{
	return calloc(count ? count : 1, sizeof(os_log_entry));
}

int cli_mig_snap(const char *url, uint64_t run, uint64_t epoch, const os_mig_snap_req *req,
                 uint32_t timeout_ms, cli_mig_page *out)
{
	memset(out, 0, sizeof(*out));
	os_buf b;
	os_buf_init(&b);
	int st = mig_call(url, OS_KIND_MIG_SNAP, run, epoch, &b, os_mig_snap_req_put(&b, req),
	                  timeout_ms, &out->reply);
	if (st != OSTORE_OK)
		return st;
	uint16_t n = out->reply.hdr.count;
	os_snap_entry *se = calloc(n ? n : 1, sizeof(*se));
	out->entries = entries_alloc(n);
	if (se == NULL || out->entries == NULL) {
		free(se);
		cli_mig_page_free(out);
		return OSTORE_ENOMEM;
	}
	st = os_snap_reply_get(out->reply.body, out->reply.body_len, n, &out->snap, se);
	for (uint16_t i = 0; st == OSTORE_OK && i < n; i++)
		out->entries[i] = (os_log_entry){.lsn = se[i].version, .op = OSTORE_OP_PUT,
		                                 .key = se[i].key, .key_len = se[i].key_len,
		                                 .value = se[i].value, .value_len = se[i].value_len};
	free(se);
	if (st != OSTORE_OK) {
		cli_mig_page_free(out);
		return st;
	}
	out->count = n;
	return OSTORE_OK;
}

int cli_mig_log(const char *url, uint64_t run, uint64_t epoch, const os_mig_log_req *req,
                uint32_t timeout_ms, cli_mig_page *out)
{
	memset(out, 0, sizeof(*out));
	os_buf b;
	os_buf_init(&b);
	int st = mig_call(url, OS_KIND_MIG_LOG, run, epoch, &b, os_mig_log_req_put(&b, req),
	                  timeout_ms, &out->reply);
	if (st != OSTORE_OK)
		return st;
	uint16_t n = out->reply.hdr.count;
	out->entries = entries_alloc(n);
	if (out->entries == NULL) {
		cli_mig_page_free(out);
		return OSTORE_ENOMEM;
	}
	st = os_mig_log_reply_get(out->reply.body, out->reply.body_len, n, &out->log,
	                          out->entries);
	if (st != OSTORE_OK) {
		cli_mig_page_free(out);
		return st;
	}
	out->count = n;
	return OSTORE_OK;
}

int cli_mig_freeze(const char *url, uint64_t run, uint64_t epoch, uint8_t op, uint16_t begin, uint16_t end,
                   uint32_t timeout_ms, uint64_t *lsn, uint8_t *bitmap)
{
	os_buf b;
	os_buf_init(&b);
	cli_reply r;
	int st = mig_call(url, OS_KIND_MIG_FREEZE, run, epoch, &b,
	                  os_mig_freeze_req_put(&b, op, begin, end), timeout_ms, &r);
	if (st != OSTORE_OK)
		return st;
	uint8_t bits[OS_MIG_BITMAP_SIZE];
	st = os_mig_freeze_reply_get(r.body, r.body_len, lsn, bits);
	if (st == OSTORE_OK && bitmap != NULL)
		memcpy(bitmap, bits, sizeof(bits));
	cli_reply_free(&r);
	return st;
}

int cli_mig_apply(const char *url, uint64_t run, uint64_t epoch, uint64_t cluster_id, uint16_t begin,
                  uint16_t end, const os_log_entry *entries, uint16_t count,
                  uint32_t timeout_ms, uint64_t *lsn)
{
	os_buf b;
	os_buf_init(&b);
	int enc = os_mig_apply_head_put(&b, cluster_id, begin, end);
	for (uint16_t i = 0; enc == OSTORE_OK && i < count; i++)
		enc = os_log_entry_put(&b, &entries[i]);
	if (enc != OSTORE_OK || b.oom) {
		os_buf_fini(&b);
		return OSTORE_ENOMEM;
	}
	/* The entry count goes into the frame header, which cli_rpc_n writes. */
	cli_reply r;
	int st = cli_rpc_n(url, OS_KIND_MIG_APPLY, epoch, count, run, b.data, b.len, timeout_ms, &r);
	os_buf_fini(&b);
	if (st != OSTORE_OK)
		return st;
	if (r.hdr.status != OSTORE_OK)
		st = r.hdr.status;
	else if (r.body_len != 8)
		st = OSTORE_EPROTO;
	else if (lsn != NULL)
		*lsn = os_ld64(r.body);
	cli_reply_free(&r);
	return st;
}

int cli_mig_purge(const char *url, uint64_t run, uint64_t epoch, uint64_t cluster_id, uint16_t begin,
                  uint16_t end, uint32_t max_orders, uint32_t timeout_ms, uint32_t *deleted,
                  uint32_t *more)
{
	os_buf b;
	os_buf_init(&b);
	cli_reply r;
	int st = mig_call(url, OS_KIND_MIG_PURGE, run, epoch, &b,
	                  os_mig_purge_req_put(&b, cluster_id, begin, end, max_orders), timeout_ms,
	                  &r);
	if (st != OSTORE_OK)
		return st;
	st = os_mig_purge_reply_get(r.body, r.body_len, deleted, more);
	cli_reply_free(&r);
	return st;
}

int cli_mig_lease(const char *url, uint64_t run, uint32_t ttl_ms, uint32_t flags,
                  uint32_t timeout_ms, uint64_t *holder, uint32_t *remaining_ms)
{
	uint64_t h = 0;
	uint32_t rem = 0;
	os_buf b;
	os_buf_init(&b);
	int enc = os_mig_lease_req_put(&b, run, ttl_ms, flags);
	cli_reply r;
	int st = enc != OSTORE_OK || b.oom ? OSTORE_ENOMEM
	         : cli_rpc_n(url, OS_KIND_MIG_LEASE, 0, 0, run, b.data, b.len, timeout_ms, &r);
	os_buf_fini(&b);
	if (st == OSTORE_OK) {
		st = r.hdr.status;
		/* OK and ELOCKED carry the lease; other statuses (EPROTO) are status-only. */
		if ((st == OSTORE_OK || st == OSTORE_ELOCKED) &&
		    os_mig_lease_reply_get(r.body, r.body_len, &h, &rem) != OSTORE_OK)
			st = OSTORE_EPROTO;
		cli_reply_free(&r);
	}
	if (st != OSTORE_OK && st != OSTORE_ELOCKED)
		h = rem = 0;
	if (holder != NULL)
		*holder = h;
	if (remaining_ms != NULL)
		*remaining_ms = rem;
	return st;
}
