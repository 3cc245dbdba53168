/*
 * snapshot.c - SNAP sessions: a consistent copy of the orders for a re-seeding replica
 * (docs/replication.md "Catch-up and re-seed").
 *
 *   SNAP(session 0) ─▶ new session: long read txn, its LSN/epoch, pin the log at LSN
 *   SNAP(session, after=last key) ─▶ next page from the same txn (cursor re-positioned
 *                                     by key each time: no pointer kept between pages)
 *   last page ─▶ txn ended; the pin stays until the replica pulls from >= the LSN
 *   no request for NODE_SNAP_IDLE_MS ─▶ session ended (ticker)
 *
 * The pin keeps the log records after the snapshot's LSN, so the replica can catch up
 * from it: one re-seed per fall-behind.
 *
 * Migration sessions (MIG_SNAP, wire.h "Slot migration") are the same sessions for one
 * slot range, not tied to a replica (node OS_NODE_NONE), at most NODE_MIG_SESSIONS at
 * once; their pin stays until a MIG_LOG of the range from at least their LSN, or idle
 * expiry. A node whose own LSN is below the newest LSN it
 * knows of for its shard never serves a snapshot (OSTORE_EUNAVAIL).
 */
#include "repl_int.h"

#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "log.h"
#include "migrate.h"
#include "slot.h"
#include "util.h"

#define SNAP_BUDGET_MIN (64u << 10)
#define SNAP_BUDGET_MAX (8u << 20)
#define SNAP_MAX_ENTRIES 65535u

void snap_recompute_pin_locked(node_repl *r)
{
	uint64_t pin = UINT64_MAX;
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++)
		if (r->snaps[i].id != 0 && r->snaps[i].lsn < pin)
			pin = r->snaps[i].lsn;
	atomic_store(&r->pin, pin);
}

/* Ends session @s (r->mu held, not busy). */
static void snap_end_locked(node_repl *r, snap_session *s)
{
	if (s->txn != NULL)
		node_store_long_read_end(r->env->store, s->txn);
	memset(s, 0, sizeof(*s));
	snap_recompute_pin_locked(r);
}

void snap_end_all(node_repl *r)
{
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++)
		if (r->snaps[i].id != 0)
			snap_end_locked(r, &r->snaps[i]);
	pthread_mutex_unlock(&r->mu);
}

void node_snap_expire(node_repl *r)
{
	uint64_t now = os_now_ns();
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
		snap_session *s = &r->snaps[i];
		if (s->id != 0 && !s->busy && now - s->last_ns > NODE_SNAP_IDLE_MS * 1000000ull) {
			OS_INFO("msg=\"snapshot session expired\" replica=%u lsn=%llu", s->node,
			        (unsigned long long)s->lsn);
			snap_end_locked(r, s);
		}
	}
	pthread_mutex_unlock(&r->mu);
}

void node_snap_note_pull(node_repl *r, uint16_t node, uint64_t from_lsn)
{
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
		snap_session *s = &r->snaps[i];
		if (s->id != 0 && s->node == node && s->txn == NULL && from_lsn >= s->lsn)
			snap_end_locked(r, s);
	}
	pthread_mutex_unlock(&r->mu);
}

int node_snap_source_ready(node_env *env, const char *what)
{
	uint64_t lsn = node_store_lsn(env->store), known = node_repl_known_lsn(env->repl);
	if (lsn >= known)
		return OSTORE_OK;
	OS_ERROR("msg=\"refusing to serve a %s: this node is behind its shard\" lsn=%llu "
	         "known_lsn=%llu",
	         what, (unsigned long long)lsn, (unsigned long long)known);
	return OSTORE_EUNAVAIL;
}

static int snap_check(node_env *env, const os_map *map, const os_snap_req *q)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	if (q->cluster_id != map->cluster_id) {
		OS_WARN("msg=\"snap refused: other cluster\" node=%u", q->node_id);
		return OSTORE_EINVAL;
	}
	const os_map_shard *s = os_map_shard_by_id(map, q->shard);
	if (s == NULL) {
		OS_WARN("msg=\"snap refused: unknown shard\" node=%u shard=%u", q->node_id, q->shard);
		return OSTORE_EINVAL;
	}
	if (s->primary != env->id)
		return OSTORE_ENOTPRIMARY;
	bool member = false;
	for (uint16_t j = 0; j < s->nreplicas; j++)
		member = member || s->replicas[j] == q->node_id;
	if (!member) {
		OS_WARN("msg=\"snap refused: not a replica of the shard\" node=%u shard=%u", q->node_id,
		        q->shard);
		return OSTORE_EINVAL;
	}
	return node_snap_source_ready(env, "snapshot");
}

static int snap_open_locked(node_repl *r, snap_session *s, uint16_t node, uint16_t begin,
                            uint16_t end);

/* Finds or opens the session for @q (r->mu held). NULL with *st set on failure. */
static snap_session *snap_take_locked(node_repl *r, const os_snap_req *q, int *st)
{
	if (q->session != 0) {
		for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
			snap_session *s = &r->snaps[i];
			if (s->id == q->session && s->node == q->node_id && s->txn != NULL && !s->busy)
				return s;
		}
		*st = OSTORE_ERESEED; /* unknown, finished or expired: start again */
		return NULL;
	}
	snap_session *free_s = NULL;
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
		snap_session *s = &r->snaps[i];
		if (s->id != 0 && s->node == q->node_id && !s->busy)
			snap_end_locked(r, s); /* one session per replica */
		if (s->id == 0 && free_s == NULL)
			free_s = s;
	}
	if (free_s == NULL) {
		*st = OSTORE_EOVERLOAD;
		return NULL;
	}
	if ((*st = snap_open_locked(r, free_s, q->node_id, 0, OSTORE_SLOTS)) != OSTORE_OK)
		return NULL;
	return free_s;
}

/* Opens session @s for @node and [@begin, @end) (r->mu held). Returns its status. */
static int snap_open_locked(node_repl *r, snap_session *s, uint16_t node, uint16_t begin,
                            uint16_t end)
{
	MDB_txn *txn;
	int st = node_store_long_read_begin(r->env->store, &txn);
	if (st != OSTORE_OK)
		return st;
	uint64_t lsn, epoch;
	if ((st = node_store_meta_get(r->env->store, txn, &lsn, &epoch)) != OSTORE_OK) {
		node_store_long_read_end(r->env->store, txn);
		return st;
	}
	s->id = os_random_u64() | 1u; /* never 0 */
	s->node = node;
	s->slot_begin = begin;
	s->slot_end = end;
	s->txn = txn;
	s->lsn = lsn;
	s->epoch = epoch;
	s->last_ns = os_now_ns();
	snap_recompute_pin_locked(r);
	if (node == OS_NODE_NONE)
		OS_INFO("msg=\"migration snapshot session opened\" begin=%u end=%u lsn=%llu", begin,
		        end, (unsigned long long)lsn);
	else
		OS_INFO("msg=\"snapshot session opened\" replica=%u lsn=%llu", node,
		        (unsigned long long)lsn);
	return OSTORE_OK;
}

typedef struct snap_fill {
	os_buf *out;
	size_t budget, used;
	uint32_t count;
	bool stopped;
} snap_fill;

static bool snap_visit(void *arg, uint16_t slot, const uint8_t *id, size_t id_len,
                       const uint8_t *value, size_t value_len, uint64_t version)
{
	snap_fill *f = arg;
	if (id_len == 0 || id_len > OSTORE_MAX_ID_LEN)
		return true;
	size_t sz = OS_SNAP_ENTRY_HDR + 2 + id_len + value_len;
	if (f->count > 0 && (f->used + sz > f->budget || f->count >= SNAP_MAX_ENTRIES)) {
		f->stopped = true;
		return false;
	}
	uint8_t key[OS_KEY_MAX];
	os_snap_entry e = {.key = key,
	                   .key_len = (uint16_t)os_key_make(key, slot, id, id_len),
	                   .value = value,
	                   .value_len = (uint32_t)value_len,
	                   .version = version};
	os_snap_entry_put(f->out, &e);
	f->used += sz;
	f->count++;
	return true;
}

/*
 * One page of session @s (marked busy by the caller, who no longer holds r->mu) after
 * the LMDB key @after (@after_len 0: from the start of the session's range) into r->out.
 * Ends the read transaction at the last page (the pin stays). Returns NODE_REPLY_NOW.
 */
static int snap_page(node_env *env, node_req *r, const os_hdr *h, snap_session *s,
                     const uint8_t *after, uint16_t after_len, uint32_t max_bytes,
                     uint64_t epoch)
{
	node_repl *rp = env->repl;
	os_buf_reset(&r->out);
	os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT), .epoch = epoch, .client_id = h->client_id};
	os_hdr_put(&r->out, &rh);
	os_snap_head hd = {.session = s->id, .snap_lsn = s->lsn, .snap_epoch = s->epoch};
	size_t head_at = r->out.len;
	os_snap_head_put(&r->out, &hd);
	snap_fill f = {.out = &r->out, .budget = max_bytes};
	if (f.budget < SNAP_BUDGET_MIN)
		f.budget = SNAP_BUDGET_MIN;
	if (f.budget > SNAP_BUDGET_MAX)
		f.budget = SNAP_BUDGET_MAX;
	uint16_t slot = after_len ? os_key_slot(after) : s->slot_begin;
	if (slot < s->slot_begin) { /* a cursor before the range: start at the range */
		slot = s->slot_begin;
		after_len = 0;
	}
	int st = OSTORE_OK;
	if (slot < s->slot_end) {
		node_store_readers_lock(env->store);
		st = node_store_scan(env->store, s->txn, slot, after_len ? after + 2 : NULL,
		                     after_len ? after_len - 2u : 0, s->slot_end, snap_visit, &f);
		node_store_readers_unlock(env->store);
	}
	pthread_mutex_lock(&rp->mu);
	s->busy = false;
	s->last_ns = os_now_ns();
	bool done = st == OSTORE_OK && !f.stopped;
	if (done && s->txn != NULL) {
		node_store_long_read_end(env->store, s->txn);
		s->txn = NULL; /* the pin stays until the copy caught up from s->lsn */
		OS_INFO("msg=\"snapshot sent\" replica=%u begin=%u end=%u lsn=%llu", s->node,
		        s->slot_begin, s->slot_end, (unsigned long long)s->lsn);
	}
	pthread_mutex_unlock(&rp->mu);
	if (st != OSTORE_OK) {
		os_buf_reset(&r->out);
		os_reply_status(&r->out, h->kind, (uint16_t)st, epoch, h->client_id);
		return NODE_REPLY_NOW;
	}
	if (!r->out.oom) {
		r->out.data[head_at + 24] = done ? 1 : 0;
		os_st16(r->out.data + 6, (uint16_t)f.count);
	}
	return NODE_REPLY_NOW;
}

int node_snap_handle(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                     size_t len)
{
	node_repl *rp = env->repl;
	os_snap_req q;
	uint64_t epoch = node_maps_epoch(env->maps);
	int st = os_snap_req_get(body, len, &q);
	if (st == OSTORE_OK && q.after_len > 0 && q.after_len < 3)
		st = OSTORE_EPROTO;
	if (st != OSTORE_OK) {
		OS_WARN("msg=\"bad snap frame\" len=%zu", len);
	} else {
		os_map *map = node_maps_get(env->maps);
		st = snap_check(env, map, &q);
		os_map_unref(map);
	}
	snap_session *s = NULL;
	if (st == OSTORE_OK) {
		pthread_mutex_lock(&rp->mu);
		s = snap_take_locked(rp, &q, &st);
		if (s != NULL)
			s->busy = true;
		pthread_mutex_unlock(&rp->mu);
	}
	if (s == NULL) {
		os_buf_reset(&r->out);
		os_reply_status(&r->out, h->kind, (uint16_t)st, epoch, h->client_id);
		return NODE_REPLY_NOW;
	}
	return snap_page(env, r, h, s, q.after, q.after_len, q.max_bytes, epoch);
}

/* ---- migration sessions ---- */

/* Finds or opens the migration session for @q (r->mu held). NULL with *st on failure. */
static snap_session *mig_take_locked(node_repl *r, const os_mig_snap_req *q, int *st)
{
	if (q->session != 0) {
		for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
			snap_session *s = &r->snaps[i];
			if (s->id == q->session && s->node == OS_NODE_NONE && s->txn != NULL && !s->busy &&
			    s->slot_begin == q->slot_begin && s->slot_end == q->slot_end)
				return s;
		}
		*st = OSTORE_ERESEED; /* unknown, finished or expired: start again */
		return NULL;
	}
	snap_session *free_s = NULL;
	unsigned mig = 0;
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
		snap_session *s = &r->snaps[i];
		if (s->id != 0 && s->node == OS_NODE_NONE && !s->busy &&
		    s->slot_begin == q->slot_begin && s->slot_end == q->slot_end)
			snap_end_locked(r, s); /* the tool started the range over */
		if (s->id != 0 && s->node == OS_NODE_NONE)
			mig++;
		if (s->id == 0 && free_s == NULL)
			free_s = s;
	}
	/* Keep room for replicas: migrations take at most NODE_MIG_SESSIONS. */
	if (free_s == NULL || mig >= NODE_MIG_SESSIONS) {
		*st = OSTORE_EOVERLOAD;
		return NULL;
	}
	if ((*st = snap_open_locked(r, free_s, OS_NODE_NONE, q->slot_begin, q->slot_end)) != OSTORE_OK)
		return NULL;
	return free_s;
}

int node_mig_snap_page(node_env *env, node_req *r, const os_hdr *h, const os_mig_snap_req *q)
{
	node_repl *rp = env->repl;
	uint64_t epoch = node_maps_epoch(env->maps);
	int st = OSTORE_OK;
	pthread_mutex_lock(&rp->mu);
	snap_session *s = mig_take_locked(rp, q, &st);
	if (s != NULL)
		s->busy = true;
	pthread_mutex_unlock(&rp->mu);
	if (s == NULL) {
		if (st == OSTORE_EOVERLOAD)
			OS_WARN("msg=\"mig_snap refused: no free session\" begin=%u end=%u", q->slot_begin,
			        q->slot_end);
		os_buf_reset(&r->out);
		os_reply_status(&r->out, h->kind, (uint16_t)st, epoch, h->client_id);
		return NODE_REPLY_NOW;
	}
	return snap_page(env, r, h, s, q->after, q->after_len, q->max_bytes, epoch);
}

void node_mig_snap_note_log(node_repl *r, uint16_t begin, uint16_t end, uint64_t from_lsn)
{
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < NODE_SNAP_SESSIONS; i++) {
		snap_session *s = &r->snaps[i];
		if (s->id != 0 && s->node == OS_NODE_NONE && s->txn == NULL && !s->busy &&
		    s->slot_begin == begin && s->slot_end == end && from_lsn >= s->lsn)
			snap_end_locked(r, s);
	}
	pthread_mutex_unlock(&r->mu);
}
