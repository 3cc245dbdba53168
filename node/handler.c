/*
 * handler.c - one request frame in, one reply frame out (or a job for the writer).
 *
 *   frame ─▶ header ok? ──no──▶ status-only reply (EPROTO / EVERSION / EBADOP)
 *              │ kind
 *              ├─ DATA ─▶ items ok? ─no─▶ status-only reply (EPROTO/EBADOP/EBADID/ETOOBIG)
 *              │            ├─ only GETs ─▶ read txn ─▶ reply now
 *              │            │   (bounded read on a replica: lag within the bound? else
 *              │            │    status-only OSTORE_ESTALEREAD; replica_read.c)
 *              │            └─ any write ─▶ node_job ─▶ writer (reply later)
 *              ├─ SCAN / STATS / MAP_GET / PING / CHECKSUM / SNAP / TOP ─▶ reply now
 *              ├─ MIG_SNAP / MIG_LOG / MIG_FREEZE query / MIG_LEASE ─▶ reply now (migrate.c)
 *              ├─ MIG_FREEZE / MIG_APPLY / MIG_PURGE ─▶ writer (reply later, migrate.h)
 *              ├─ REPL_PULL ─▶ reply now, or parked until the writer commits (repl.h)
 *              └─ MAP_SET ─▶ older/equal/foreign: reply now; newer: writer (reply later)
 *
 * Runs on nng's callback threads: only read-only LMDB transactions (lookups in the
 * memory map, no fsync, no write) and no blocking apart from the short reader lock.
 * Replies carry the node's map epoch so routers notice a newer map.
 */
#include "handler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"
#include "repl.h"
#include "slot.h"
#include "top.h"
#include "util.h"

#define SCAN_REPLY_BYTES (4u << 20) /* a SCAN page stops after about this much */

void node_req_init(node_req *r)
{
	memset(r, 0, sizeof(*r));
	os_buf_init(&r->out);
	os_buf_init(&r->scratch);
	os_buf_init(&r->job.reply);
}

void node_req_fini(node_req *r)
{
	free(r->items);
	free(r->ents);
	os_buf_fini(&r->out);
	os_buf_fini(&r->scratch);
	os_buf_fini(&r->job.reply);
	os_map_unref(r->job.map);
	node_pull_park_free(r->park);
	r->park = NULL;
	r->items = NULL;
	r->ents = NULL;
	r->job.map = NULL;
}

void node_req_stop(node_req *r)
{
	node_pull_park_stop(r->park);
}

/* Read access to @slot: OK, ENOMAP, ENOTPRIMARY (a replica of its shard), EMOVED. */
static int read_status(node_env *env, const os_map *map, uint16_t slot)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	if (node_owns_slot(map, env->id, slot))
		return OSTORE_OK;
	uint32_t shard;
	if (node_role_of(map, env->id, &shard) == OS_ROLE_REPLICA && map->slot_shard[slot] == shard)
		return OSTORE_ENOTPRIMARY;
	return OSTORE_EMOVED;
}

/* Bad frames are logged at warn, at most BAD_LOG_PER_SEC lines per second. */
#define BAD_LOG_PER_SEC 10u
static _Atomic uint64_t bad_window;
static _Atomic uint32_t bad_in_window;

void node_log_bad_frame(int status, uint8_t kind, size_t len)
{
	uint64_t now = os_now_ns() / 1000000000ull;
	uint64_t win = atomic_load(&bad_window);
	if (win != now && atomic_compare_exchange_strong(&bad_window, &win, now))
		atomic_store(&bad_in_window, 0);
	if (atomic_fetch_add(&bad_in_window, 1) < BAD_LOG_PER_SEC)
		OS_WARN("msg=\"bad frame\" status=%s kind=%u len=%zu", ostore_status_name(status),
		        kind, len);
}

static int reply_status(node_env *env, node_req *r, uint8_t kind, int status,
                        uint64_t client_id)
{
	os_buf_reset(&r->out);
	os_reply_status(&r->out, (uint8_t)(kind & ~OS_REPLY_BIT), (uint16_t)status,
	                node_maps_epoch(env->maps), client_id);
	return NODE_REPLY_NOW;
}

static int reply_bad(node_env *env, node_req *r, uint8_t kind, int status, uint64_t client_id,
                     size_t len)
{
	node_log_bad_frame(status, kind, len);
	return reply_status(env, r, kind, status, client_id);
}

static void put_header(os_buf *b, uint8_t kind, uint16_t count, uint64_t epoch,
                       uint64_t client_id)
{
	os_hdr h = {.kind = (uint8_t)(kind | OS_REPLY_BIT),
	            .count = count,
	            .epoch = epoch,
	            .client_id = client_id};
	os_hdr_put(b, &h);
}

/* ---- DATA ---- */

/* A bounded read on a replica whose lag is over the bound: the whole frame is refused.
 * Returns the reply kind; the caller still owns @txn (ended here) and @map (dropped). */
static int refuse_stale(node_env *env, node_req *r, const os_hdr *h, const os_read_bound *rb,
                        MDB_txn *txn, os_map *map, uint64_t lag_lsn, uint64_t lag_ms)
{
	node_store_read_end(env->store, txn);
	os_map_unref(map);
	node_repl_count_reads(env->repl, 0, 1);
	OS_DEBUG("msg=\"bounded read refused: replica too stale\" lag_lsn=%llu lag_ms=%lld "
	         "max_lag_lsn=%u max_lag_ms=%u",
	         (unsigned long long)lag_lsn, lag_ms == UINT64_MAX ? -1LL : (long long)lag_ms,
	         rb->max_lag_lsn, rb->max_lag_ms);
	return reply_status(env, r, h->kind, OSTORE_ESTALEREAD, h->client_id);
}

/*
 * GET-only frames. With a read bound (@rb not {0, 0}) and this node a replica, items of
 * its shard are served from its own data when its lag is within the bound (checked
 * after the read transaction opened, see replica_read.c), else the frame is refused.
 */
static int data_reads(node_env *env, node_req *r, const os_hdr *h, uint16_t n,
                      const os_read_bound *rb)
{
	os_map *map = node_maps_get(env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	uint32_t shard;
	bool as_replica = (rb->max_lag_lsn != 0 || rb->max_lag_ms != 0) &&
	                  node_role_of(map, env->id, &shard) == OS_ROLE_REPLICA;
	MDB_txn *txn = NULL;
	int txn_rc = node_store_read_begin(env->store, &txn);
	if (as_replica && txn_rc == OSTORE_OK) {
		uint64_t lag_lsn, lag_ms;
		if (node_repl_read_check(env->repl, rb, os_now_ns(), &lag_lsn, &lag_ms) != OSTORE_OK)
			return refuse_stale(env, r, h, rb, txn, map, lag_lsn, lag_ms);
	}
	uint64_t served = 0;
	os_buf_reset(&r->out);
	put_header(&r->out, h->kind, n, epoch, h->client_id);
	for (uint16_t i = 0; i < n; i++) {
		const os_item *it = &r->items[i];
		uint16_t slot = os_slot_of(it->id, it->id_len);
		const uint8_t *val = NULL;
		size_t vlen = 0;
		uint64_t ver = 0;
		int st = read_status(env, map, slot);
		if (st == OSTORE_ENOTPRIMARY && as_replica) {
			st = OSTORE_OK; /* a replica of the slot's shard, within the bound */
			served++;
		}
		if (st != OSTORE_OK)
			;
		else if (txn_rc != OSTORE_OK)
			st = txn_rc;
		else
			st = node_store_get(env->store, txn, slot, it->id, it->id_len, &val, &vlen, &ver);
		if (st != OSTORE_OK) {
			val = NULL;
			vlen = 0;
			if (st != OSTORE_ENOTFOUND)
				ver = 0;
		}
		os_result_put(&r->out, (uint16_t)st, ver, val, (uint32_t)vlen);
	}
	if (txn_rc == OSTORE_OK)
		node_store_read_end(env->store, txn);
	os_map_unref(map);
	node_repl_count_reads(env->repl, served, 0);
	return NODE_REPLY_NOW;
}

static int handle_data(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                       size_t body_len, size_t frame_len)
{
	size_t n = h->count;
	if (n > r->items_cap) {
		os_item *p = realloc(r->items, n * sizeof(*p));
		if (p == NULL)
			return reply_status(env, r, h->kind, OSTORE_ENOMEM, h->client_id);
		r->items = p;
		r->items_cap = n;
	}
	os_read_bound rb;
	const uint8_t *ip;
	size_t ilen;
	int rc = os_data_body(h, body, body_len, &rb, &ip, &ilen);
	size_t bad = 0;
	if (rc == OSTORE_OK)
		rc = os_items_get(ip, ilen, h->count, env->max_value, r->items, &bad);
	if (rc != OSTORE_OK)
		return reply_bad(env, r, h->kind, rc, h->client_id, frame_len);
	node_top_keys(r->items, h->count);
	bool writes = false;
	for (size_t i = 0; i < n && !writes; i++)
		writes = r->items[i].op != OSTORE_OP_GET;
	if (!writes)
		return data_reads(env, r, h, h->count, &rb);

	node_job *job = &r->job;
	job->kind = NODE_JOB_DATA;
	job->hdr = *h;
	job->items = r->items;
	job->nitems = h->count;
	job->bytes = frame_len;
	job->map = NULL;
	if (node_writer_submit(env->writer, job) != OSTORE_OK)
		return reply_status(env, r, h->kind, OSTORE_EUNAVAIL, h->client_id);
	return NODE_REPLY_LATER;
}

/* ---- SCAN ---- */

typedef struct scan_state {
	os_buf *entries;
	uint32_t limit, count;
	size_t bytes;
	bool stopped; /* by limit or size: the cursor is the last key returned */
	uint16_t last_slot;
	uint8_t last_id[OSTORE_MAX_ID_LEN];
	uint16_t last_len;
} scan_state;

static bool scan_visit(void *arg, uint16_t slot, const uint8_t *id, size_t id_len,
                       const uint8_t *value, size_t value_len, uint64_t version)
{
	scan_state *s = arg;
	if (id_len > OSTORE_MAX_ID_LEN)
		return true; /* cannot be written through the protocol; never returned */
	size_t size = 16 + id_len + value_len;
	if (s->count > 0 && s->bytes + size > SCAN_REPLY_BYTES) {
		s->stopped = true;
		return false;
	}
	os_scan_entry e = {.id = id,
	                   .id_len = (uint16_t)id_len,
	                   .value = value,
	                   .value_len = (uint32_t)value_len,
	                   .version = version};
	os_scan_entry_put(s->entries, &e);
	s->count++;
	s->bytes += size;
	s->last_slot = slot;
	memcpy(s->last_id, id, id_len);
	s->last_len = (uint16_t)id_len;
	if (s->count >= s->limit) {
		s->stopped = true;
		return false;
	}
	return true;
}

static int handle_scan(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                       size_t body_len, size_t frame_len)
{
	os_scan_req q;
	int rc = os_scan_req_get(body, body_len, &q);
	if (rc != OSTORE_OK)
		return reply_bad(env, r, h->kind, rc, h->client_id, frame_len);
	os_map *map = node_maps_get(env->maps);
	if (map == NULL)
		return reply_status(env, r, h->kind, OSTORE_ENOMAP, h->client_id);
	uint64_t epoch = map->epoch;
	bool owned = true;
	for (uint32_t s = q.slot_begin; s < q.slot_end && owned; s++)
		owned = node_owns_slot(map, env->id, (uint16_t)s);
	os_map_unref(map);
	if (!owned)
		return reply_status(env, r, h->kind, OSTORE_EMOVED, h->client_id);

	scan_state *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return reply_status(env, r, h->kind, OSTORE_ENOMEM, h->client_id);
	os_buf_reset(&r->scratch);
	s->entries = &r->scratch;
	s->limit = q.limit;
	MDB_txn *txn;
	rc = node_store_read_begin(env->store, &txn);
	if (rc == OSTORE_OK) {
		rc = node_store_scan(env->store, txn, q.slot_begin, q.after, q.after_len, q.slot_end,
		                     scan_visit, s);
		node_store_read_end(env->store, txn);
	}
	if (rc == OSTORE_OK && r->scratch.oom)
		rc = OSTORE_ENOMEM;
	if (rc != OSTORE_OK) {
		free(s);
		return reply_status(env, r, h->kind, rc, h->client_id);
	}
	os_buf_reset(&r->out);
	put_header(&r->out, h->kind, (uint16_t)s->count, epoch, h->client_id);
	if (s->stopped)
		os_scan_next_put(&r->out, s->last_slot, s->last_id, s->last_len);
	else
		os_scan_next_put(&r->out, q.slot_end, NULL, 0);
	os_buf_put(&r->out, r->scratch.data, r->scratch.len);
	free(s);
	return NODE_REPLY_NOW;
}

/* ---- STATS, MAP_GET, MAP_SET ---- */

static int handle_stats(node_env *env, node_req *r, const os_hdr *h)
{
	os_map *map = node_maps_get(env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	os_stats_entry e = {.node = env->id, .lsn = node_store_lsn(env->store),
	                    .lsn_epoch = node_store_epoch(env->store)};
	uint32_t shard;
	e.role = node_role_of(map, env->id, &shard);
	e.shard = shard;
	node_primary_shard(map, env->id, &e.slots);
	if (e.role == OS_ROLE_REPLICA)
		e.slots = os_map_slot_count(map, (uint16_t)shard);
	e.primary_lsn = node_repl_known_lsn(env->repl);
	if (e.role == OS_ROLE_PRIMARY)
		e.replicas = node_repl_reachable(env->repl, map, shard);
	node_repl_read_counts(env->repl, &e.replica_reads, &e.stale_reads);
	os_map_unref(map);
	node_store_stats ss = {0};
	MDB_txn *txn;
	int rc = node_store_read_begin(env->store, &txn);
	if (rc == OSTORE_OK) {
		rc = node_store_stats_get(env->store, txn, &ss);
		node_store_read_end(env->store, txn);
	}
	e.status = (uint32_t)rc;
	e.orders = ss.orders;
	e.bytes_used = ss.bytes_used;
	e.map_size = ss.map_size;
	os_buf_reset(&r->out);
	put_header(&r->out, h->kind, 1, epoch, h->client_id);
	os_stats_entry_put(&r->out, &e);
	return NODE_REPLY_NOW;
}

static int handle_map_get(node_env *env, node_req *r, const os_hdr *h)
{
	os_map *map = node_maps_get(env->maps);
	if (map == NULL)
		return reply_status(env, r, h->kind, OSTORE_ENOMAP, h->client_id);
	os_buf_reset(&r->out);
	put_header(&r->out, h->kind, 0, map->epoch, h->client_id);
	int rc = os_map_encode(map, &r->out);
	os_map_unref(map);
	if (rc != OSTORE_OK)
		return reply_status(env, r, h->kind, rc, h->client_id);
	return NODE_REPLY_NOW;
}

static int handle_map_set(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                          size_t body_len, size_t frame_len)
{
	os_map *m = NULL;
	int rc = os_map_decode(body, body_len, &m);
	if (rc != OSTORE_OK)
		return reply_bad(env, r, h->kind, rc, h->client_id, frame_len);
	/* Old, equal or foreign maps are answered here; the writer re-checks newer ones
	 * against the map current when it runs. */
	os_map *cur = node_maps_get(env->maps);
	bool same = false;
	if (cur != NULL) {
		if (cur->cluster_id != m->cluster_id)
			rc = OSTORE_EINVAL;
		else if (m->epoch < cur->epoch)
			rc = OSTORE_ESTALE;
		else
			same = m->epoch == cur->epoch;
		os_map_unref(cur);
	}
	if (rc != OSTORE_OK || same) {
		os_map_unref(m);
		if (rc != OSTORE_OK)
			OS_WARN("msg=\"map_set refused\" err=\"%s\"", ostore_strerror(rc));
		return reply_status(env, r, h->kind, rc, h->client_id);
	}
	node_job *job = &r->job;
	job->kind = NODE_JOB_MAP;
	job->hdr = *h;
	job->items = NULL;
	job->nitems = 0;
	job->bytes = frame_len;
	job->map = m;
	if (node_writer_submit(env->writer, job) != OSTORE_OK) {
		os_map_unref(m);
		job->map = NULL;
		return reply_status(env, r, h->kind, OSTORE_EUNAVAIL, h->client_id);
	}
	return NODE_REPLY_LATER;
}

/* ---- dispatch ---- */

int node_handle(node_env *env, node_req *r, const uint8_t *p, size_t len)
{
	os_hdr h;
	const uint8_t *body;
	size_t body_len;
	int rc = os_hdr_get(p, len, &h, &body, &body_len);
	if (rc != OSTORE_OK) {
		/* Echo what can be read of a broken header. */
		uint8_t kind = len >= 4 ? p[3] : 0;
		uint64_t cid = len >= 28 ? os_ld64(p + 20) : 0;
		return reply_bad(env, r, kind, rc, cid, len);
	}
	if ((rc = os_netsec_check(env->sec, &h)) != OSTORE_OK) {
		OS_DEBUG("msg=\"request refused\" kind=%u err=%s", h.kind, ostore_status_name(rc));
		return reply_status(env, r, h.kind, (uint16_t)rc, h.client_id);
	}
	h.cred = NULL; /* checked; nothing below may echo it */
	h.cred_len = 0;
	int out;
	switch (h.kind) {
	case OS_KIND_DATA:
		out = handle_data(env, r, &h, body, body_len, len);
		break;
	case OS_KIND_SCAN:
		out = handle_scan(env, r, &h, body, body_len, len);
		break;
	case OS_KIND_STATS:
		out = handle_stats(env, r, &h);
		break;
	case OS_KIND_MAP_GET:
		out = handle_map_get(env, r, &h);
		break;
	case OS_KIND_MAP_SET:
		out = handle_map_set(env, r, &h, body, body_len, len);
		break;
	case OS_KIND_PING:
		out = reply_status(env, r, h.kind, OSTORE_OK, h.client_id);
		break;
	case OS_KIND_REPL_PULL:
		out = node_repl_handle_pull(env, r, &h, body, body_len);
		break;
	case OS_KIND_SNAP:
		out = node_snap_handle(env, r, &h, body, body_len);
		break;
	case OS_KIND_CHECKSUM:
		out = node_checksum_handle(env, r, &h, body, body_len);
		break;
	case OS_KIND_MIG_SNAP:
	case OS_KIND_MIG_LOG:
	case OS_KIND_MIG_FREEZE:
	case OS_KIND_MIG_APPLY:
	case OS_KIND_MIG_PURGE:
	case OS_KIND_MIG_LEASE:
		out = node_mig_handle(env, r, &h, body, body_len, len);
		break;
	case OS_KIND_TOP:
		out = node_top_handle(env, r, &h, body_len);
		break;
	default:
		return reply_bad(env, r, h.kind, OSTORE_EBADOP, h.client_id, len);
	}
	if (out == NODE_REPLY_NOW && r->out.oom) {
		os_buf_fini(&r->out);
		os_buf_init(&r->out);
		reply_status(env, r, h.kind, OSTORE_ENOMEM, h.client_id);
	}
	return out;
}
