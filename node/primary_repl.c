/*
 * primary_repl.c - the primary side of replication: REPL_PULL, acks, parked pulls and
 * parked writes (docs/replication.md "Stream" and "Modes").
 *
 *   replica ── PULL(from_lsn, from_epoch, wait_ms) ──▶ nng callback
 *       check cluster / shard / role ─▶ from_lsn consistent with our log? ─no─▶ ERESEED
 *       record ack (peers[node].acked = from_lsn) ─▶ release parked writes with K acks
 *       records after from_lsn? ─yes─▶ reply now (read txn, byte budget)
 *                                └no──▶ park: nng_sleep_aio(wait_ms) ──┐
 *   writer commit ─▶ node_repl_committed ─▶ nng_aio_cancel(parked) ────┴▶ callback:
 *                                      read txn, entries or an empty heartbeat ─▶ job.done
 *
 * Acks are cumulative: a pull's from_lsn is the replica's durable applied LSN. A write
 * job with LSNs is parked (never the writer) until K replicas of its shard acked its
 * highest LSN; the ticker thread fails parked jobs with OSTORE_EREPLICAS at their deadline
 * or as soon as fewer than K replicas are reachable (pulled within the heartbeat timeout).
 * A replica ahead of us (from_lsn > our LSN with an epoch not older than our map) means
 * this primary lost data (e.g. restarted with an empty directory): it is refused with
 * OSTORE_EUNAVAIL, logged, and the LSN is remembered so this node refuses writes and
 * snapshots instead of ever overwriting the replica. A primary that starts with no data
 * at all (LSN 0: a new cluster, or a data directory that was lost) accepts no write until
 * a replica's pull says it holds no data either; before that, a write could take LSN 1 in
 * the current epoch on top of a replica that already has LSN 1, and the epoch check
 * could not tell the two apart later.
 */
#include "repl_int.h"

#include <nng/nng.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handler.h"
#include "log.h"
#include "node_metrics.h"
#include "replog.h"
#include "util.h"

#define PULL_BUDGET_MIN (64u << 10)
#define PULL_BUDGET_MAX (8u << 20)
#define PULL_MAX_ENTRIES 65535u
#define TICK_MS 10

typedef struct pull_park {
	struct pull_park *next, *prev;
	bool linked;
	bool dead; /* the server is going away: never answer */
	node_env *env;
	node_req *req;
	nng_aio *aio;
	os_pull_req q;
	os_hdr h;
} pull_park;

/* ---- roles and counts ---- */

os_role node_role_of(const os_map *m, uint16_t id, uint32_t *shard)
{
	*shard = NODE_NO_SHARD;
	if (m == NULL)
		return OS_ROLE_NONE;
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *s = &m->shards[i];
		if (s->primary == id) {
			*shard = s->id;
			return OS_ROLE_PRIMARY;
		}
		for (uint16_t j = 0; j < s->nreplicas; j++) {
			if (s->replicas[j] == id) {
				*shard = s->id;
				return OS_ROLE_REPLICA;
			}
		}
	}
	return OS_ROLE_NONE;
}

uint32_t node_repl_sync_k(node_repl *r, const os_map *m, uint32_t shard)
{
	const os_map_shard *s = m != NULL && shard != NODE_NO_SHARD ? os_map_shard_by_id(m, (uint16_t)shard) : NULL;
	if (s == NULL)
		return 0;
	if (r->o.sync_replicas == NODE_SYNC_AUTO)
		return s->nreplicas > 0 ? 1 : 0;
	return r->o.sync_replicas;
}

static uint32_t reachable_locked(node_repl *r, const os_map_shard *s, uint64_t now)
{
	uint32_t n = 0;
	uint64_t hb = (uint64_t)r->o.heartbeat_ms * 1000000ull;
	for (uint16_t j = 0; j < s->nreplicas; j++) {
		const repl_peer *p = &r->peers[s->replicas[j]];
		/* now may have been read before another thread stamped last_seen: a stamp
		 * in the future is as fresh as it gets (no unsigned wrap-around) */
		if (p->last_seen != 0 && (now <= p->last_seen || now - p->last_seen < hb))
			n++;
	}
	return n;
}

static uint32_t acked_locked(node_repl *r, const os_map_shard *s, uint64_t lsn)
{
	uint32_t n = 0;
	for (uint16_t j = 0; j < s->nreplicas; j++)
		if (r->peers[s->replicas[j]].acked >= lsn)
			n++;
	return n;
}

uint32_t node_repl_reachable(node_repl *r, const os_map *m, uint32_t shard)
{
	const os_map_shard *s = m != NULL && shard != NODE_NO_SHARD ? os_map_shard_by_id(m, (uint16_t)shard) : NULL;
	if (s == NULL)
		return 0;
	pthread_mutex_lock(&r->mu);
	uint32_t n = reachable_locked(r, s, os_now_ns());
	pthread_mutex_unlock(&r->mu);
	return n;
}

size_t node_repl_peers(node_repl *r, const os_map *m, uint32_t shard,
                       node_repl_peer_info *out, size_t max)
{
	const os_map_shard *s = m != NULL && shard != NODE_NO_SHARD ? os_map_shard_by_id(m, (uint16_t)shard) : NULL;
	size_t n = 0;
	if (s == NULL)
		return 0;
	pthread_mutex_lock(&r->mu);
	for (uint16_t j = 0; j < s->nreplicas && n < max; j++) {
		const repl_peer *p = &r->peers[s->replicas[j] % OS_MAP_MAX_IDS];
		out[n++] = (node_repl_peer_info){.node = s->replicas[j], .acked = p->acked,
		                                 .last_seen_ns = p->last_seen};
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* ---- known LSN ---- */

void node_repl_note_lsn(node_repl *r, uint64_t lsn)
{
	uint64_t cur = atomic_load(&r->known_lsn);
	while (lsn > cur && !atomic_compare_exchange_weak(&r->known_lsn, &cur, lsn))
		;
}

bool node_repl_empty_unconfirmed(node_repl *r, const os_map *map)
{
	if (!atomic_load(&r->empty_unconfirmed) || node_store_lsn(r->env->store) != 0)
		return false; /* it had data at start, or has since received some */
	uint32_t shard;
	if (node_role_of(map, r->env->id, &shard) != OS_ROLE_PRIMARY)
		return false;
	const os_map_shard *sh = os_map_shard_by_id(map, (uint16_t)shard);
	return sh != NULL && sh->nreplicas > 0;
}

uint64_t node_repl_known_lsn(node_repl *r)
{
	uint64_t own = node_store_lsn(r->env->store);
	uint64_t k = atomic_load(&r->known_lsn);
	return k > own ? k : own;
}

void node_repl_reset_known(node_repl *r, uint64_t lsn)
{
	atomic_store(&r->known_lsn, lsn);
}

uint64_t node_repl_log_pin(node_repl *r)
{
	return atomic_load(&r->pin);
}

const node_repl_opts *node_repl_opts_get(const node_repl *r)
{
	return &r->o;
}

/* ---- parked writes ---- */

static void job_fail_replicas(node_repl *r, node_job *job)
{
	if (job->kind != NODE_JOB_DATA) { /* migration jobs: a status-only reply */
		os_buf_reset(&job->reply);
		os_reply_status(&job->reply, job->hdr.kind, OSTORE_EREPLICAS,
		                node_maps_epoch(r->env->maps), job->hdr.client_id);
		job->done(job);
		return;
	}
	os_hdr h = {.kind = (uint8_t)(job->hdr.kind | OS_REPLY_BIT),
	            .count = job->nitems,
	            .epoch = node_maps_epoch(r->env->maps),
	            .client_id = job->hdr.client_id};
	os_buf_reset(&job->reply);
	os_hdr_put(&job->reply, &h);
	for (uint16_t i = 0; i < job->nitems; i++)
		os_result_put(&job->reply, OSTORE_EREPLICAS, 0, NULL, 0);
	job->done(job);
}

void node_repl_job_done(node_repl *r, node_job *job)
{
	if (job->ack_lsn == 0) {
		job->done(job);
		return;
	}
	os_map *map = node_maps_get(r->env->maps);
	uint32_t shard;
	os_role role = node_role_of(map, r->env->id, &shard);
	uint32_t k = role == OS_ROLE_PRIMARY ? node_repl_sync_k(r, map, shard) : 0;
	if (k == 0) {
		os_map_unref(map);
		job->done(job);
		return;
	}
	const os_map_shard *s = os_map_shard_by_id(map, (uint16_t)shard);
	uint64_t now = os_now_ns();
	pthread_mutex_lock(&r->mu);
	bool acked = acked_locked(r, s, job->ack_lsn) >= k;
	bool reach = reachable_locked(r, s, now) >= k;
	parked_job *p = NULL;
	if (!acked && reach && !r->stopping && (p = malloc(sizeof(*p))) != NULL) {
		uint32_t t = job->hdr.timeout_ms ? job->hdr.timeout_ms : NODE_ACK_TIMEOUT_MS;
		p->job = job;
		p->shard = shard;
		p->deadline_ns = now + (uint64_t)t * 1000000ull;
		p->next = r->parked;
		r->parked = p;
	}
	pthread_mutex_unlock(&r->mu);
	os_map_unref(map);
	if (acked)
		job->done(job);
	else if (p == NULL) {
		OS_DEBUG("msg=\"write not acknowledged: not enough replicas\" k=%u lsn=%llu", k,
		         (unsigned long long)job->ack_lsn);
		job_fail_replicas(r, job);
	}
}

/*
 * Takes the parked jobs that are released (acked by K) or failed (deadline, fewer than
 * K reachable) off the list (r->mu held). @check_fail: also look at deadlines/reach.
 */
static void parked_sweep_locked(node_repl *r, const os_map *map, bool check_fail,
                                parked_job **ok, parked_job **bad)
{
	uint64_t now = os_now_ns();
	parked_job **pp = &r->parked;
	while (*pp != NULL) {
		parked_job *p = *pp;
		const os_map_shard *s = map != NULL ? os_map_shard_by_id(map, (uint16_t)p->shard) : NULL;
		uint32_t k = node_repl_sync_k(r, map, p->shard);
		bool released = s != NULL && acked_locked(r, s, p->job->ack_lsn) >= k;
		bool failed = !released && (r->stopping || s == NULL ||
		                            (check_fail && (now >= p->deadline_ns ||
		                                            reachable_locked(r, s, now) < k)));
		if (released || failed) {
			*pp = p->next;
			p->next = released ? *ok : *bad;
			if (released)
				*ok = p;
			else
				*bad = p;
		} else {
			pp = &p->next;
		}
	}
}

static void parked_deliver(node_repl *r, parked_job *ok, parked_job *bad)
{
	while (ok != NULL) {
		parked_job *n = ok->next;
		ok->job->done(ok->job);
		free(ok);
		ok = n;
	}
	while (bad != NULL) {
		parked_job *n = bad->next;
		OS_DEBUG("msg=\"write not acknowledged by enough replicas in time\" lsn=%llu",
		         (unsigned long long)bad->job->ack_lsn);
		job_fail_replicas(r, bad->job);
		free(bad);
		bad = n;
	}
}

static void *ticker_main(void *arg)
{
	node_repl *r = arg;
	uint64_t last_snap = 0;
	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		struct timespec ts = os_timespec_at(os_now_ns() + (uint64_t)TICK_MS * 1000000u);
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		if (r->parked != NULL) {
			pthread_mutex_unlock(&r->mu);
			os_map *map = node_maps_get(r->env->maps);
			pthread_mutex_lock(&r->mu);
			parked_job *ok = NULL, *bad = NULL;
			parked_sweep_locked(r, map, true, &ok, &bad);
			pthread_mutex_unlock(&r->mu);
			os_map_unref(map);
			parked_deliver(r, ok, bad);
			pthread_mutex_lock(&r->mu);
		}
		uint64_t now = os_now_ns();
		if (now - last_snap > 1000000000ull) {
			last_snap = now;
			pthread_mutex_unlock(&r->mu);
			node_snap_expire(r);
			pthread_mutex_lock(&r->mu);
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int node_repl_create(node_env *env, const node_repl_opts *o, node_repl **out)
{
	node_repl *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return OSTORE_ENOMEM;
	r->env = env;
	r->o = *o;
	atomic_init(&r->known_lsn, 0);
	atomic_init(&r->empty_unconfirmed, node_store_lsn(env->store) == 0);
	atomic_init(&r->pin, UINT64_MAX);
	atomic_init(&r->confirmed_ns, 0);
	atomic_init(&r->replica_reads, 0);
	atomic_init(&r->stale_reads, 0);
	pthread_mutex_init(&r->mu, NULL);
	os_cond_init_monotonic(&r->cv); /* glibc's pthread_cond_init does not fail */
	if (pthread_create(&r->ticker, NULL, ticker_main, r) != 0) {
		node_repl_destroy(r);
		return OSTORE_EINTERNAL;
	}
	r->ticker_started = true;
	*out = r;
	return OSTORE_OK;
}

void node_repl_stop(node_repl *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_signal(&r->cv);
	parked_job *ok = NULL, *bad = NULL;
	parked_sweep_locked(r, NULL, true, &ok, &bad);
	pthread_mutex_unlock(&r->mu);
	parked_deliver(r, ok, bad);
	if (r->ticker_started) {
		pthread_join(r->ticker, NULL);
		r->ticker_started = false;
	}
}

void node_repl_destroy(node_repl *r)
{
	if (r == NULL)
		return;
	node_repl_stop(r);
	snap_end_all(r);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---- pulls ---- */

static void put_reply_header(os_buf *b, const os_hdr *h, uint16_t status, uint64_t epoch)
{
	os_buf_reset(b);
	os_reply_status(b, h->kind, status, epoch, h->client_id);
}

/* Checks a pull against the map. Returns OSTORE_OK or the refusal (logged). */
static int pull_check(node_env *env, const os_map *map, const os_pull_req *q)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	if (q->cluster_id != map->cluster_id) {
		OS_WARN("msg=\"pull refused: other cluster\" node=%u cluster=%016llx", q->node_id,
		        (unsigned long long)q->cluster_id);
		return OSTORE_EINVAL;
	}
	const os_map_shard *s = os_map_shard_by_id(map, q->shard);
	if (s == NULL) {
		OS_WARN("msg=\"pull refused: unknown shard\" node=%u shard=%u", q->node_id, q->shard);
		return OSTORE_EINVAL;
	}
	if (s->primary != env->id)
		return OSTORE_ENOTPRIMARY;
	for (uint16_t j = 0; j < s->nreplicas; j++)
		if (s->replicas[j] == q->node_id)
			return OSTORE_OK;
	OS_WARN("msg=\"pull refused: node is not a replica of the shard\" node=%u shard=%u",
	        q->node_id, q->shard);
	return OSTORE_EINVAL;
}

typedef struct fill_state {
	os_buf *out;
	size_t budget, used;
	uint32_t count;
} fill_state;

static bool fill_visit(void *arg, const os_log_entry *e)
{
	fill_state *f = arg;
	size_t sz = os_log_entry_size(e);
	if (f->count > 0 && (f->used + sz > f->budget || f->count >= PULL_MAX_ENTRIES))
		return false;
	os_log_entry_put(f->out, e);
	f->used += sz;
	f->count++;
	return true;
}

/*
 * Builds the reply to pull @q into @out. @record: count the pull as an ack (first look,
 * not a parked wake-up). *@empty is true when the reply is OK without entries.
 */
static void pull_fill(node_env *env, const os_hdr *h, const os_pull_req *q, os_buf *out,
                      bool record, bool *empty)
{
	node_repl *r = env->repl;
	*empty = false;
	os_map *map = node_maps_get(env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	int st = pull_check(env, map, q);
	MDB_txn *txn = NULL;
	uint64_t plsn = 0, pepoch = 0, oldest = 0, newest = 0, first_prev = 0;
	if (st == OSTORE_OK)
		st = node_store_read_begin(env->store, &txn);
	if (st == OSTORE_OK) {
		st = node_store_meta_get(env->store, txn, &plsn, &pepoch);
		if (st == OSTORE_OK)
			st = node_replog_bounds(env->store, txn, &oldest, &newest);
		if (st == OSTORE_OK) /* oldest - 1, or the prev_lsn of a JUMP record there */
			st = node_replog_first_prev(env->store, txn, oldest, &first_prev);
	}
	if (st == OSTORE_OK && q->from_lsn == 0 && plsn == 0 &&
	    atomic_exchange(&r->empty_unconfirmed, false))
		OS_INFO("msg=\"a replica holds no data either: accepting writes\" replica=%u",
		        q->node_id);
	if (st == OSTORE_OK && q->from_lsn > plsn) {
		if (plsn == 0 || q->from_epoch >= epoch) {
			OS_ERROR("msg=\"replica is ahead of this primary: refusing it, and writes, "
			         "to keep its data\" replica=%u replica_lsn=%llu lsn=%llu",
			         q->node_id, (unsigned long long)q->from_lsn, (unsigned long long)plsn);
			node_repl_note_lsn(r, q->from_lsn);
			st = OSTORE_EUNAVAIL;
		} else {
			st = OSTORE_ERESEED; /* writes of an older epoch that were never acknowledged */
		}
	} else if (st == OSTORE_OK && q->from_lsn > 0) {
		uint64_t at = 0;
		if (q->from_lsn == plsn)
			at = pepoch;
		else if (oldest == 0 || q->from_lsn < first_prev)
			st = OSTORE_ERESEED; /* behind the retained log */
		else if (q->from_lsn >= oldest)
			st = node_replog_epoch_at(env->store, txn, q->from_lsn, &at);
		else if (q->from_lsn == first_prev)
			at = q->from_epoch; /* the record before the oldest: cannot be checked */
		else
			st = OSTORE_ERESEED; /* an LSN skipped by a JUMP: never held by anyone */
		if (st == OSTORE_ENOTFOUND)
			st = OSTORE_ERESEED; /* no record at from_lsn (a JUMP gap): diverged */
		if (st == OSTORE_OK && at != q->from_epoch)
			st = OSTORE_ERESEED; /* diverged */
	} else if (st == OSTORE_OK && plsn > 0 && (oldest == 0 || first_prev > 0)) {
		st = OSTORE_ERESEED; /* an empty replica, and the log no longer starts at 1 */
	}
	if (st == OSTORE_ERESEED && record)
		node_metrics_reseed_requested();
	if (st == OSTORE_ERESEED)
		OS_INFO("msg=\"replica must re-seed\" replica=%u from_lsn=%llu oldest=%llu lsn=%llu",
		        q->node_id, (unsigned long long)q->from_lsn, (unsigned long long)oldest,
		        (unsigned long long)plsn);
	if (st == OSTORE_OK && record) {
		parked_job *ok = NULL, *bad = NULL;
		pthread_mutex_lock(&r->mu);
		repl_peer *p = &r->peers[q->node_id % OS_MAP_MAX_IDS];
		p->acked = q->from_lsn;
		p->last_seen = os_now_ns();
		if (r->parked != NULL)
			parked_sweep_locked(r, map, false, &ok, &bad);
		pthread_mutex_unlock(&r->mu);
		parked_deliver(r, ok, bad);
		node_snap_note_pull(r, q->node_id, q->from_lsn);
	} else if (st == OSTORE_OK) {
		/* Answering a parked pull: the replica was there when it sent it and gets the
		 * entries now, so its heartbeat clock restarts here rather than at arrival;
		 * otherwise wait_ms of parking plus one slow apply (a synced commit under disk
		 * contention) could exceed the heartbeat timeout and fail every parked write. */
		pthread_mutex_lock(&r->mu);
		r->peers[q->node_id % OS_MAP_MAX_IDS].last_seen = os_now_ns();
		pthread_mutex_unlock(&r->mu);
	}
	if (st != OSTORE_OK) {
		if (txn != NULL)
			node_store_read_end(env->store, txn);
		os_map_unref(map);
		put_reply_header(out, h, (uint16_t)st, epoch);
		return;
	}
	os_buf_reset(out);
	os_hdr rh = {.kind = (uint8_t)(h->kind | OS_REPLY_BIT), .epoch = epoch, .client_id = h->client_id};
	os_hdr_put(out, &rh);
	os_pull_reply_head_put(out, plsn, oldest);
	fill_state f = {.out = out, .budget = q->max_bytes, .used = 0, .count = 0};
	if (f.budget < PULL_BUDGET_MIN)
		f.budget = PULL_BUDGET_MIN;
	if (f.budget > PULL_BUDGET_MAX)
		f.budget = PULL_BUDGET_MAX;
	if (q->from_lsn < plsn)
		st = node_replog_scan(env->store, txn, q->from_lsn, fill_visit, &f);
	node_store_read_end(env->store, txn);
	os_map_unref(map);
	if (st != OSTORE_OK) {
		put_reply_header(out, h, (uint16_t)st, epoch);
		return;
	}
	if (out->len >= 8)
		os_st16(out->data + 6, (uint16_t)f.count);
	*empty = f.count == 0;
}

static void park_cb(void *arg)
{
	pull_park *p = arg;
	node_repl *r = p->env->repl;
	pthread_mutex_lock(&r->mu);
	if (p->linked) {
		if (p->prev != NULL)
			p->prev->next = p->next;
		else
			r->pulls = p->next;
		if (p->next != NULL)
			p->next->prev = p->prev;
		p->linked = false;
	}
	pthread_mutex_unlock(&r->mu);
	if (p->dead)
		return;
	bool empty;
	pull_fill(p->env, &p->h, &p->q, &p->req->job.reply, false, &empty);
	if (p->req->job.reply.oom) {
		os_buf_fini(&p->req->job.reply);
		os_buf_init(&p->req->job.reply);
		put_reply_header(&p->req->job.reply, &p->h, OSTORE_ENOMEM, node_maps_epoch(p->env->maps));
	}
	p->req->job.done(&p->req->job);
}

void node_pull_park_free(void *park)
{
	pull_park *p = park;
	if (p == NULL)
		return;
	p->dead = true;
	nng_aio_free(p->aio); /* stops it: a callback still running finishes first */
	if (p->linked) {
		node_repl *r = p->env->repl;
		pthread_mutex_lock(&r->mu);
		if (p->prev != NULL)
			p->prev->next = p->next;
		else
			r->pulls = p->next;
		if (p->next != NULL)
			p->next->prev = p->prev;
		pthread_mutex_unlock(&r->mu);
	}
	free(p);
}

void node_pull_park_stop(void *park)
{
	pull_park *p = park;
	if (p == NULL)
		return;
	p->dead = true;
	nng_aio_stop(p->aio);
}

void node_repl_committed(node_repl *r, uint64_t lsn)
{
	nng_aio *wake[64];
	size_t n;
	pull_park *from = NULL;
	do {
		n = 0;
		pthread_mutex_lock(&r->mu);
		pull_park *p = from != NULL && from->linked ? from->next : r->pulls;
		for (; p != NULL && n < 64; p = p->next)
			if (p->q.from_lsn < lsn)
				wake[n++] = p->aio;
		from = p;
		pthread_mutex_unlock(&r->mu);
		for (size_t i = 0; i < n; i++)
			nng_aio_cancel(wake[i]);
	} while (n == 64 && from != NULL);
}

int node_repl_handle_pull(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                          size_t len)
{
	os_pull_req q;
	if (os_pull_req_get(body, len, &q) != OSTORE_OK) {
		OS_WARN("msg=\"bad pull frame\" len=%zu", len);
		put_reply_header(&r->out, h, OSTORE_EPROTO, node_maps_epoch(env->maps));
		return NODE_REPLY_NOW;
	}
	bool empty;
	pull_fill(env, h, &q, &r->out, true, &empty);
	if (!empty || q.wait_ms == 0 || r->out.oom)
		return NODE_REPLY_NOW;
	pull_park *p = r->park;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL || nng_aio_alloc(&p->aio, park_cb, p) != 0) {
			free(p);
			return NODE_REPLY_NOW; /* answer the empty reply: a heartbeat */
		}
		p->env = env;
		p->req = r;
		r->park = p;
	}
	p->q = q;
	p->h = *h;
	node_repl *rp = env->repl;
	pthread_mutex_lock(&rp->mu);
	if (rp->stopping) {
		pthread_mutex_unlock(&rp->mu);
		return NODE_REPLY_NOW;
	}
	p->prev = NULL;
	p->next = rp->pulls;
	if (rp->pulls != NULL)
		rp->pulls->prev = p;
	rp->pulls = p;
	p->linked = true;
	pthread_mutex_unlock(&rp->mu);
	uint32_t wait = q.wait_ms < rp->o.heartbeat_ms ? q.wait_ms : rp->o.heartbeat_ms;
	nng_sleep_aio((nng_duration)wait, p->aio);
	/* A commit between the look and the park would otherwise wait out the timer. */
	if (node_store_lsn(env->store) > q.from_lsn)
		nng_aio_cancel(p->aio);
	return NODE_REPLY_LATER;
}
