/*
 * checksum.c - the CHECKSUM frame: per-slot order count and XXH3 checksum, so
 * `orderstore verify` can compare a primary and its replicas slot by slot.
 *
 *   read txn ─▶ for slot in [begin, end): cursor over the slot's keys
 *                 XXH3 stream: key (slot BE + id), version (u64 LE), value ─▶ digest
 *
 * The reply's LSN is read inside the same transaction, so counts, checksums and LSN
 * describe one consistent state. Both sides store the same key, version (the LSN of the
 * last write, replicated unchanged) and value, so equal data gives equal checksums.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "handler.h"
#include "log.h"
#include "repl.h"
#include "slot.h"

typedef struct ck_state {
	XXH3_state_t *xs;
	uint16_t slot;
	uint64_t orders;
	os_buf *out;
} ck_state;

static void ck_flush(ck_state *c)
{
	os_buf_put_u64(c->out, c->orders);
	os_buf_put_u64(c->out, XXH3_64bits_digest(c->xs));
	XXH3_64bits_reset(c->xs);
	c->orders = 0;
	c->slot++;
}

static bool ck_visit(void *arg, uint16_t slot, const uint8_t *id, size_t id_len,
                     const uint8_t *value, size_t value_len, uint64_t version)
{
	ck_state *c = arg;
	while (c->slot < slot)
		ck_flush(c);
	uint8_t key[OS_KEY_MAX], ver[8];
	size_t klen = os_key_make(key, slot, id, id_len <= OSTORE_MAX_ID_LEN ? id_len : OSTORE_MAX_ID_LEN);
	os_st64(ver, version);
	XXH3_64bits_update(c->xs, key, klen);
	XXH3_64bits_update(c->xs, ver, sizeof ver);
	XXH3_64bits_update(c->xs, value, value_len);
	c->orders++;
	return true;
}

int node_checksum_handle(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                         size_t len)
{
	uint64_t epoch = node_maps_epoch(env->maps);
	uint16_t b = 0, e = 0;
	int st = os_cksum_req_get(body, len, &b, &e);
	XXH3_state_t *xs = st == OSTORE_OK ? XXH3_createState() : NULL;
	if (st == OSTORE_OK && xs == NULL)
		st = OSTORE_ENOMEM;
	MDB_txn *txn = NULL;
	if (st == OSTORE_OK)
		st = node_store_read_begin(env->store, &txn);
	os_buf_reset(&r->out);
	if (st == OSTORE_OK) {
		uint64_t lsn = 0, ep = 0;
		st = node_store_meta_get(env->store, txn, &lsn, &ep);
		os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT),
		             .count = (uint16_t)(e - b),
		             .epoch = epoch,
		             .client_id = h->client_id};
		os_hdr_put(&r->out, &rh);
		os_buf_put_u64(&r->out, lsn);
		XXH3_64bits_reset(xs);
		ck_state c = {.xs = xs, .slot = b, .orders = 0, .out = &r->out};
		if (st == OSTORE_OK)
			st = node_store_scan(env->store, txn, b, NULL, 0, e, ck_visit, &c);
		while (c.slot < e)
			ck_flush(&c);
		node_store_read_end(env->store, txn);
	}
	if (xs != NULL)
		XXH3_freeState(xs);
	if (st != OSTORE_OK) {
		if (st == OSTORE_EPROTO)
			OS_WARN("msg=\"bad checksum frame\" len=%zu", len);
		os_buf_reset(&r->out);
		os_reply_status(&r->out, h->kind, (uint16_t)st, epoch, h->client_id);
	}
	return NODE_REPLY_NOW;
}
