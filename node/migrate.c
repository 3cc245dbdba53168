/*
 * migrate.c - the request side of slot migration: decode and check the MIG_* frames,
 * answer MIG_LOG and MIG_FREEZE queries at once, hand MIG_SNAP to the snapshot sessions
 * (snapshot.c) and FREEZE / APPLY / PURGE to the writer (mig_writer.c).
 *
 *   frame ─▶ decode ─bad─▶ EPROTO (logged, rate-limited)
 *         ─▶ header epoch > node's map epoch ─▶ ESTALE (the tool pushes its map first)
 *         ─▶ MIG_SNAP: cluster, range owned, not behind ─▶ session page
 *            MIG_LOG:  cluster, range owned ─▶ frozen view ─▶ read txn ─▶ records of
 *                      the range after from_lsn (max_bytes, max_scan) ─▶ reply
 *            MIG_FREEZE: QUERY ─▶ reply; FREEZE / UNFREEZE ─▶ writer job
 *            MIG_APPLY: entries inside the range, versions sane ─▶ writer job
 *            MIG_PURGE: ─▶ writer job
 *         ─▶ MIG_LEASE: grant / renew / release / query (lease.c) ─▶ reply (no epoch check)
 *
 * FREEZE / UNFREEZE, APPLY and PURGE need the header's client_id to hold the migration
 * lease: checked here (a quick OSTORE_ELOCKED) and again by the writer when the job runs
 * (the one that counts: the lease may lapse while the job waits in the queue).
 *
 * Checks that depend on the map and the LSN (ownership for FREEZE, APPLY and PURGE) are
 * made again by the writer against the map current when the job runs. Runs on nng
 * callback threads: read-only transactions only.
 */
#include "migrate.h"

#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "log.h"
#include "repl.h"
#include "replog.h"
#include "slot.h"
#include "util.h"
#include "writer.h"

#define MIG_LOG_BUDGET_MIN (64u << 10)
#define MIG_LOG_BUDGET_MAX (8u << 20)
#define MIG_LOG_MAX_ENTRIES 65535u

static int reply_status(node_env *env, node_req *r, const os_hdr *h, int status)
{
	os_buf_reset(&r->out);
	os_reply_status(&r->out, h->kind, (uint16_t)status, node_maps_epoch(env->maps),
	                h->client_id);
	return NODE_REPLY_NOW;
}

static int reply_bad(node_env *env, node_req *r, const os_hdr *h, int status, size_t frame_len)
{
	node_log_bad_frame(status, h->kind, frame_len);
	return reply_status(env, r, h, status);
}

/* The request's map is newer than ours: OSTORE_ESTALE (the tool pushes its map first). */
static bool stale(node_env *env, const os_hdr *h)
{
	uint64_t mine = node_maps_epoch(env->maps);
	if (h->epoch <= mine)
		return false;
	OS_INFO("msg=\"migration request with a newer map: answering stale\" kind=%u epoch=%llu "
	        "map_epoch=%llu",
	        h->kind, (unsigned long long)h->epoch, (unsigned long long)mine);
	return true;
}

/* The header's client_id does not hold the migration lease: log and refuse (ELOCKED). */
static bool unleased(node_env *env, const os_hdr *h)
{
	uint64_t holder;
	if (node_lease_held(env->lease, h->client_id, os_now_ns(), &holder))
		return false;
	OS_WARN("msg=\"migration request without the lease: refused\" kind=%u client_id=%016llx "
	        "holder=%016llx",
	        h->kind, (unsigned long long)h->client_id, (unsigned long long)holder);
	return true;
}

/* The source side (MIG_SNAP, MIG_LOG): this cluster, and every slot of the range owned
 * (EMOVED, or ENOTPRIMARY for slots of the shard this node is a replica of). */
static int source_check(node_env *env, const os_map *map, uint64_t cluster_id, uint16_t begin,
                        uint16_t end, const char *what)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	if (cluster_id != map->cluster_id) {
		OS_WARN("msg=\"%s refused: other cluster\" cluster=%016llx", what,
		        (unsigned long long)cluster_id);
		return OSTORE_EINVAL;
	}
	uint32_t shard;
	bool replica = node_role_of(map, env->id, &shard) == OS_ROLE_REPLICA;
	for (uint32_t s = begin; s < end; s++) {
		if (node_owns_slot(map, env->id, (uint16_t)s))
			continue;
		return replica && map->slot_shard[s] == shard ? OSTORE_ENOTPRIMARY : OSTORE_EMOVED;
	}
	return OSTORE_OK;
}

/* ---- MIG_SNAP ---- */

static int handle_snap(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                       size_t len, size_t frame_len)
{
	os_mig_snap_req q;
	int st = os_mig_snap_req_get(body, len, &q);
	if (st != OSTORE_OK)
		return reply_bad(env, r, h, st, frame_len);
	if (stale(env, h))
		return reply_status(env, r, h, OSTORE_ESTALE);
	os_map *map = node_maps_get(env->maps);
	st = source_check(env, map, q.cluster_id, q.slot_begin, q.slot_end, "mig_snap");
	os_map_unref(map);
	if (st == OSTORE_OK)
		st = node_snap_source_ready(env, "migration snapshot");
	if (st != OSTORE_OK)
		return reply_status(env, r, h, st);
	return node_mig_snap_page(env, r, h, &q);
}

/* ---- MIG_LOG ---- */

typedef struct log_fill {
	os_buf *out;
	uint16_t begin, end;
	size_t budget, used;
	uint32_t count, scanned, max_scan;
	uint64_t last; /* LSN of the last record examined */
	bool stopped;
} log_fill;

static bool log_visit(void *arg, const os_log_entry *e)
{
	log_fill *f = arg;
	if (f->scanned >= f->max_scan) {
		f->stopped = true;
		return false;
	}
	if (e->op != OS_LOG_OP_JUMP && e->key_len >= 3) {
		uint16_t slot = os_key_slot(e->key);
		if (slot >= f->begin && slot < f->end) {
			size_t sz = os_log_entry_size(e);
			if (f->count > 0 && (f->used + sz > f->budget || f->count >= MIG_LOG_MAX_ENTRIES)) {
				f->stopped = true; /* this record is not examined: the next from_lsn */
				return false;
			}
			os_log_entry_put(f->out, e);
			f->used += sz;
			f->count++;
		}
	}
	f->scanned++;
	f->last = e->lsn;
	return true;
}

static int handle_log(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                      size_t len, size_t frame_len)
{
	os_mig_log_req q;
	int st = os_mig_log_req_get(body, len, &q);
	if (st != OSTORE_OK)
		return reply_bad(env, r, h, st, frame_len);
	if (stale(env, h))
		return reply_status(env, r, h, OSTORE_ESTALE);
	os_map *map = node_maps_get(env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	st = source_check(env, map, q.cluster_id, q.slot_begin, q.slot_end, "mig_log");
	os_map_unref(map);
	if (st != OSTORE_OK)
		return reply_status(env, r, h, st);
	/* The freeze is looked at before the read transaction starts: a freeze seen here is
	 * committed in it, so its LSN is <= the LSN the transaction sees. */
	os_mig_log_head hd = {0};
	node_mig_frozen_view(env->writer, NULL, q.slot_begin, q.slot_end, &hd.frozen_lsn, NULL);
	MDB_txn *txn;
	if ((st = node_store_read_begin(env->store, &txn)) != OSTORE_OK)
		return reply_status(env, r, h, st);
	uint64_t pepoch, newest, first_prev = 0;
	st = node_store_meta_get(env->store, txn, &hd.source_lsn, &pepoch);
	if (st == OSTORE_OK)
		st = node_replog_bounds(env->store, txn, &hd.oldest_lsn, &newest);
	if (st == OSTORE_OK)
		st = node_replog_first_prev(env->store, txn, hd.oldest_lsn, &first_prev);
	if (st == OSTORE_OK && q.from_lsn < hd.source_lsn &&
	    (hd.oldest_lsn == 0 || q.from_lsn < first_prev)) {
		OS_INFO("msg=\"mig_log: records after from_lsn no longer retained\" from_lsn=%llu "
		        "oldest=%llu lsn=%llu",
		        (unsigned long long)q.from_lsn, (unsigned long long)hd.oldest_lsn,
		        (unsigned long long)hd.source_lsn);
		st = OSTORE_ERESEED;
	}
	if (st != OSTORE_OK) {
		node_store_read_end(env->store, txn);
		return reply_status(env, r, h, st);
	}
	os_buf_reset(&r->out);
	os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT), .epoch = epoch, .client_id = h->client_id};
	os_hdr_put(&r->out, &rh);
	size_t head_at = r->out.len;
	os_mig_log_head_put(&r->out, &hd);
	log_fill f = {.out = &r->out, .begin = q.slot_begin, .end = q.slot_end,
	              .budget = q.max_bytes, .max_scan = q.max_scan ? q.max_scan : NODE_MIG_SCAN_DEFAULT,
	              .last = q.from_lsn};
	if (f.budget < MIG_LOG_BUDGET_MIN)
		f.budget = MIG_LOG_BUDGET_MIN;
	if (f.budget > MIG_LOG_BUDGET_MAX)
		f.budget = MIG_LOG_BUDGET_MAX;
	if (q.from_lsn < hd.source_lsn)
		st = node_replog_scan(env->store, txn, q.from_lsn, log_visit, &f);
	node_store_read_end(env->store, txn);
	if (st != OSTORE_OK)
		return reply_status(env, r, h, st);
	/* Everything up to the transaction's LSN was examined unless the scan stopped. */
	hd.scanned_to = f.stopped ? f.last : (q.from_lsn > hd.source_lsn ? q.from_lsn : hd.source_lsn);
	if (!r->out.oom) {
		os_st64(r->out.data + head_at + 16, hd.scanned_to);
		os_st16(r->out.data + 6, (uint16_t)f.count);
	}
	node_mig_snap_note_log(env->repl, q.slot_begin, q.slot_end, q.from_lsn);
	return NODE_REPLY_NOW;
}

/* ---- MIG_FREEZE, MIG_APPLY, MIG_PURGE ---- */

static int submit(node_env *env, node_req *r, const os_hdr *h, node_job_kind kind,
                  size_t frame_len)
{
	node_job *job = &r->job;
	job->kind = kind;
	job->hdr = *h;
	job->items = NULL;
	job->nitems = 0;
	job->bytes = frame_len;
	job->map = NULL;
	job->ack_lsn = 0;
	if (node_writer_submit(env->writer, job) != OSTORE_OK)
		return reply_status(env, r, h, OSTORE_EUNAVAIL);
	return NODE_REPLY_LATER;
}

static int handle_freeze(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                         size_t len, size_t frame_len)
{
	uint8_t op;
	uint16_t begin, end;
	int st = os_mig_freeze_req_get(body, len, &op, &begin, &end);
	if (st != OSTORE_OK)
		return reply_bad(env, r, h, st, frame_len);
	if (stale(env, h))
		return reply_status(env, r, h, OSTORE_ESTALE);
	if (op == OS_MIG_QUERY) {
		uint8_t bm[OS_MIG_BITMAP_SIZE];
		node_mig_frozen_view(env->writer, bm, 0, 0, NULL, NULL);
		os_buf_reset(&r->out);
		os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT),
		             .epoch = node_maps_epoch(env->maps),
		             .client_id = h->client_id};
		os_hdr_put(&r->out, &rh);
		os_buf_put_u64(&r->out, node_store_lsn(env->store));
		os_buf_put(&r->out, bm, sizeof bm);
		return NODE_REPLY_NOW;
	}
	if (unleased(env, h))
		return reply_status(env, r, h, OSTORE_ELOCKED);
	r->job.mig_op = op;
	r->job.slot_begin = begin;
	r->job.slot_end = end;
	return submit(env, r, h, NODE_JOB_MIG_FREEZE, frame_len);
}

static int handle_apply(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                        size_t len, size_t frame_len)
{
	size_t n = h->count;
	if (n > r->ents_cap) {
		os_log_entry *p = realloc(r->ents, n * sizeof(*p));
		if (p == NULL)
			return reply_status(env, r, h, OSTORE_ENOMEM);
		r->ents = p;
		r->ents_cap = n;
	}
	uint64_t cluster_id;
	uint16_t begin, end;
	int st = os_mig_apply_get(body, len, h->count, &cluster_id, &begin, &end, r->ents);
	for (size_t i = 0; i < n && st == OSTORE_OK; i++) {
		const os_log_entry *e = &r->ents[i];
		if (e->op == OSTORE_OP_PUT && (e->lsn == 0 || e->lsn > NODE_MIG_VERSION_MAX))
			st = OSTORE_EPROTO; /* a version no source can have */
	}
	if (st != OSTORE_OK)
		return reply_bad(env, r, h, st, frame_len);
	if (stale(env, h))
		return reply_status(env, r, h, OSTORE_ESTALE);
	for (size_t i = 0; i < n; i++) {
		uint16_t slot = os_key_slot(r->ents[i].key);
		if (slot < begin || slot >= end) {
			OS_WARN("msg=\"mig_apply refused: entry outside the range\" begin=%u end=%u "
			        "slot=%u index=%zu",
			        begin, end, slot, i);
			return reply_status(env, r, h, OSTORE_EINVAL);
		}
	}
	if (unleased(env, h))
		return reply_status(env, r, h, OSTORE_ELOCKED);
	r->job.log = r->ents;
	r->job.nentries = h->count;
	r->job.cluster_id = cluster_id;
	r->job.slot_begin = begin;
	r->job.slot_end = end;
	return submit(env, r, h, NODE_JOB_MIG_APPLY, frame_len);
}

static int handle_purge(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                        size_t len, size_t frame_len)
{
	uint64_t cluster_id;
	uint16_t begin, end;
	uint32_t max_orders;
	int st = os_mig_purge_req_get(body, len, &cluster_id, &begin, &end, &max_orders);
	if (st != OSTORE_OK)
		return reply_bad(env, r, h, st, frame_len);
	if (stale(env, h))
		return reply_status(env, r, h, OSTORE_ESTALE);
	if (unleased(env, h))
		return reply_status(env, r, h, OSTORE_ELOCKED);
	r->job.cluster_id = cluster_id;
	r->job.slot_begin = begin;
	r->job.slot_end = end;
	r->job.max_orders = max_orders;
	return submit(env, r, h, NODE_JOB_MIG_PURGE, frame_len);
}

/* ---- MIG_LEASE ---- */

static int handle_lease(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                        size_t len, size_t frame_len)
{
	uint64_t owner, holder;
	uint32_t ttl, flags, remaining;
	int st = os_mig_lease_req_get(body, len, &owner, &ttl, &flags);
	if (st != OSTORE_OK)
		return reply_bad(env, r, h, st, frame_len);
	st = node_lease_request(env->lease, owner, ttl, flags, os_now_ns(), &holder, &remaining);
	/* OK and ELOCKED both carry the lease (wire.h "MIG_LEASE"). */
	os_buf_reset(&r->out);
	os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT), .status = (uint16_t)st,
	             .epoch = node_maps_epoch(env->maps), .client_id = h->client_id};
	os_hdr_put(&r->out, &rh);
	os_mig_lease_reply_put(&r->out, holder, remaining);
	return NODE_REPLY_NOW;
}

int node_mig_handle(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                    size_t len, size_t frame_len)
{
	switch (h->kind) {
	case OS_KIND_MIG_SNAP:
		return handle_snap(env, r, h, body, len, frame_len);
	case OS_KIND_MIG_LOG:
		return handle_log(env, r, h, body, len, frame_len);
	case OS_KIND_MIG_FREEZE:
		return handle_freeze(env, r, h, body, len, frame_len);
	case OS_KIND_MIG_APPLY:
		return handle_apply(env, r, h, body, len, frame_len);
	case OS_KIND_MIG_PURGE:
		return handle_purge(env, r, h, body, len, frame_len);
	case OS_KIND_MIG_LEASE:
		return handle_lease(env, r, h, body, len, frame_len);
	default:
		return reply_bad(env, r, h, OSTORE_EBADOP, frame_len);
	}
}
