/*
 * mig_writer.c - the writer-thread side of slot migration: the frozen-slot set and the
 * MIG_FREEZE, MIG_APPLY and MIG_PURGE jobs (migrate.h, wire.h "Slot migration").
 *
 *   FREEZE/UNFREEZE: check ownership ─▶ txn: meta "frozen" ─▶ commit ─▶ set in memory
 *                    ─▶ reply lsn + bitmap (done at once)
 *   APPLY: check (primary, owns no slot of the range) ─▶ txn: per entry
 *            [JUMP record when the source version is ahead] ─▶ put/del + log record
 *          ─▶ trim ─▶ commit ─▶ wake pulls ─▶ node_repl_job_done (K replica acks)
 *   PURGE: same checks ─▶ txn: collect up to max_orders + 1 keys of the range ─▶ delete
 *          max_orders with DEL records ─▶ commit ─▶ node_repl_job_done
 *
 * Every job first checks that the header's client_id holds the node's migration lease
 * (lease.h): a run that lost it (paused past its expiry, another run took over) is
 * refused with OSTORE_ELOCKED and changes nothing.
 *
 * Each job runs alone in its own transaction (like MAP_SET), so a FREEZE orders itself
 * between whole batches: every write queued before it is committed with an LSN <= the
 * reply's lsn, and every batch after it sees the frozen bit (writer.c slot_status).
 *
 * Versions across a move: an applied PUT takes this shard's next LSN as its version;
 * when the source version v is above that (v > LSN + 1), a JUMP record with lsn v - 1
 * and prev_lsn = the current LSN is appended first, so the entry gets exactly v. An
 * entry therefore always gets a version >= its source version, equal when the LSN had to
 * jump. DELs of absent orders write nothing. Source versions are capped at
 * NODE_MIG_VERSION_MAX (migrate.c answers EPROTO beyond), so a bad request cannot exhaust
 * the LSN space.
 *
 * The "frozen" meta record: the bitmap (OS_MIG_BITMAP_SIZE bytes) then OSTORE_SLOTS u64
 * LE freeze LSNs (0 for slots not frozen).
 */
#include "writer_int.h"

#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "log.h"
#include "migrate.h"
#include "node_metrics.h"
#include "repl.h"
#include "replog.h"
#include "slot.h"
#include "util.h"

#define META_FROZEN NODE_MIG_FROZEN_NAME
#define FROZEN_REC_SIZE NODE_MIG_FROZEN_SIZE

static bool bit_get(const uint8_t *bm, uint16_t s)
{
	return (bm[s / 8] >> (s % 8)) & 1u;
}

static void bit_set(uint8_t *bm, uint16_t s, bool on)
{
	if (on)
		bm[s / 8] |= (uint8_t)(1u << (s % 8));
	else
		bm[s / 8] &= (uint8_t)~(1u << (s % 8));
}

/* ---- the frozen set ---- */

int node_mig_load(node_writer *w)
{
	MDB_txn *txn;
	int rc = node_store_read_begin(w->env->store, &txn);
	if (rc != OSTORE_OK)
		return rc;
	const uint8_t *p;
	size_t n;
	rc = node_store_meta_blob(w->env->store, txn, META_FROZEN, &p, &n);
	if (rc == OSTORE_OK && n != FROZEN_REC_SIZE) {
		OS_ERROR("msg=\"stored frozen-slot record has the wrong size\" size=%zu want=%u", n,
		         (unsigned)FROZEN_REC_SIZE);
		rc = OSTORE_ESTORAGE;
	}
	if (rc == OSTORE_OK) {
		memcpy(w->frozen, p, OS_MIG_BITMAP_SIZE);
		w->frozen_count = 0;
		for (uint32_t s = 0; s < OSTORE_SLOTS; s++) {
			w->frozen_lsn[s] = os_ld64(p + OS_MIG_BITMAP_SIZE + 8u * s);
			w->frozen_count += bit_get(w->frozen, (uint16_t)s);
		}
		if (w->frozen_count > 0)
			OS_INFO("msg=\"slots frozen for migration\" count=%u", w->frozen_count);
	} else if (rc == OSTORE_ENOTFOUND) {
		rc = OSTORE_OK; /* nothing ever frozen */
	}
	node_store_read_end(w->env->store, txn);
	return rc;
}

bool node_mig_frozen_locked(const node_writer *w, uint16_t slot)
{
	return w->frozen_count > 0 && bit_get(w->frozen, slot);
}

void node_mig_frozen_view(node_writer *w, uint8_t *bitmap, uint16_t begin, uint16_t end,
                          uint64_t *range_lsn, uint32_t *count)
{
	pthread_mutex_lock(&w->frozen_mu);
	if (bitmap != NULL)
		memcpy(bitmap, w->frozen, OS_MIG_BITMAP_SIZE);
	if (range_lsn != NULL) {
		uint64_t lsn = 0;
		for (uint32_t s = begin; s < end && s < OSTORE_SLOTS; s++) {
			if (!bit_get(w->frozen, (uint16_t)s)) {
				lsn = 0;
				break;
			}
			if (w->frozen_lsn[s] > lsn)
				lsn = w->frozen_lsn[s];
		}
		*range_lsn = lsn;
	}
	if (count != NULL)
		*count = w->frozen_count;
	pthread_mutex_unlock(&w->frozen_mu);
}

/* FREEZE needs every slot of the range owned: EMOVED / ENOTPRIMARY as DATA decides. */
static int freeze_check(node_writer *w, const os_map *map, const node_job *job)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	uint32_t shard;
	bool replica = node_role_of(map, w->env->id, &shard) == OS_ROLE_REPLICA;
	for (uint32_t s = job->slot_begin; s < job->slot_end; s++) {
		if (node_owns_slot(map, w->env->id, (uint16_t)s))
			continue;
		return replica && map->slot_shard[s] == shard ? OSTORE_ENOTPRIMARY : OSTORE_EMOVED;
	}
	return OSTORE_OK;
}

/* The job's client_id must hold the lease now (the handler's check may be outdated). */
static int lease_check(node_writer *w, const node_job *job, const char *what)
{
	uint64_t holder;
	if (node_lease_held(w->env->lease, job->hdr.client_id, os_now_ns(), &holder))
		return OSTORE_OK;
	OS_WARN("msg=\"%s refused: the sender does not hold the migration lease\" "
	        "client_id=%016llx holder=%016llx",
	        what, (unsigned long long)job->hdr.client_id, (unsigned long long)holder);
	return OSTORE_ELOCKED;
}

static void run_freeze(node_writer *w, node_job *job)
{
	os_map *map = node_maps_get(w->env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	bool freeze = job->mig_op == OS_MIG_FREEZE;
	int rc = lease_check(w, job, "mig_freeze");
	if (rc == OSTORE_OK && freeze)
		rc = freeze_check(w, map, job);
	os_map_unref(map);
	uint8_t *rec = NULL;
	if (rc == OSTORE_OK && (rec = malloc(FROZEN_REC_SIZE)) == NULL)
		rc = OSTORE_ENOMEM;
	if (rc == OSTORE_OK) {
		memcpy(rec, w->frozen, OS_MIG_BITMAP_SIZE);
		for (uint32_t s = 0; s < OSTORE_SLOTS; s++) {
			uint64_t lsn = w->frozen_lsn[s];
			if (s >= job->slot_begin && s < job->slot_end) {
				bit_set(rec, (uint16_t)s, freeze);
				lsn = freeze ? w->lsn : 0;
			}
			os_st64(rec + OS_MIG_BITMAP_SIZE + 8u * s, lsn);
		}
	}
	while (rc == OSTORE_OK) {
		MDB_txn *txn;
		if ((rc = node_store_write_begin(w->env->store, &txn)) != OSTORE_OK)
			break;
		rc = node_store_meta_put(w->env->store, txn, META_FROZEN, rec, FROZEN_REC_SIZE);
		if (rc == OSTORE_OK)
			rc = node_store_commit(w->env->store, txn, w->lsn, w->epoch);
		else
			node_store_abort(w->env->store, txn);
		if (rc != OSTORE_EFULL || (rc = node_store_grow(w->env->store)) != OSTORE_OK)
			break;
	}
	if (rc == OSTORE_OK) {
		pthread_mutex_lock(&w->frozen_mu);
		memcpy(w->frozen, rec, OS_MIG_BITMAP_SIZE);
		w->frozen_count = 0;
		for (uint32_t s = 0; s < OSTORE_SLOTS; s++) {
			w->frozen_lsn[s] = os_ld64(rec + OS_MIG_BITMAP_SIZE + 8u * s);
			w->frozen_count += bit_get(w->frozen, (uint16_t)s);
		}
		pthread_mutex_unlock(&w->frozen_mu);
		OS_INFO("msg=\"%s slots\" begin=%u end=%u lsn=%llu frozen=%u",
		        freeze ? "froze" : "unfroze", job->slot_begin, job->slot_end,
		        (unsigned long long)w->lsn, w->frozen_count);
	} else {
		OS_WARN("msg=\"mig_freeze refused\" op=%u begin=%u end=%u err=\"%s\"", job->mig_op,
		        job->slot_begin, job->slot_end, ostore_strerror(rc));
	}
	free(rec);
	if (rc == OSTORE_OK) {
		node_writer_reply_begin(job, 0, epoch);
		os_buf_put_u64(&job->reply, w->lsn);
		os_buf_put(&job->reply, w->frozen, OS_MIG_BITMAP_SIZE);
	} else {
		os_buf_reset(&job->reply);
		os_reply_status(&job->reply, job->hdr.kind, (uint16_t)rc, epoch, job->hdr.client_id);
	}
	node_writer_reply_check_oom(job, epoch);
	job->done(job);
}

/* ---- APPLY and PURGE ---- */

/* The node must be a primary that owns no slot of the range and holds its shard's data. */
static int import_check(node_writer *w, const os_map *map, const node_job *job, const char *what)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	if (job->cluster_id != map->cluster_id) {
		OS_WARN("msg=\"%s refused: other cluster\" cluster=%016llx", what,
		        (unsigned long long)job->cluster_id);
		return OSTORE_EINVAL;
	}
	uint32_t slots;
	if (node_primary_shard(map, w->env->id, &slots) == NODE_NO_SHARD)
		return OSTORE_ENOTPRIMARY;
	for (uint32_t s = job->slot_begin; s < job->slot_end; s++) {
		if (node_owns_slot(map, w->env->id, (uint16_t)s)) {
			OS_WARN("msg=\"%s refused: this node owns a slot of the range\" begin=%u end=%u "
			        "slot=%u",
			        what, job->slot_begin, job->slot_end, s);
			return OSTORE_EINVAL;
		}
	}
	if (node_repl_known_lsn(w->env->repl) > w->lsn)
		return OSTORE_EUNAVAIL; /* behind its shard: its LSNs would collide */
	if (node_repl_empty_unconfirmed(w->env->repl, map))
		return OSTORE_EREPLICAS;
	return OSTORE_OK;
}

/* Appends the log record of a write that just took LSN w->lsn. */
static int log_key(node_writer *w, MDB_txn *txn, uint8_t op, const uint8_t *key,
                   uint16_t key_len, const uint8_t *value, uint32_t value_len)
{
	os_log_entry e = {.lsn = w->lsn, .epoch = w->epoch, .op = op, .key = key,
	                  .key_len = key_len, .value = value, .value_len = value_len};
	return node_replog_append(w->env->store, txn, &e);
}

/* Moves the LSN to @to (> w->lsn) with a JUMP record. */
static int jump_to(node_writer *w, MDB_txn *txn, uint64_t to)
{
	uint8_t prev[8];
	os_st64(prev, w->lsn);
	os_log_entry e = {.lsn = to, .epoch = w->epoch, .op = OS_LOG_OP_JUMP, .value = prev,
	                  .value_len = 8};
	int rc = node_replog_append(w->env->store, txn, &e);
	if (rc == OSTORE_OK)
		w->lsn = to;
	return rc;
}

typedef struct import_count {
	uint64_t orders, bytes, deleted;
	bool more;
} import_count;

static int apply_entries(node_writer *w, MDB_txn *txn, const node_job *job, import_count *c)
{
	node_store *st = w->env->store;
	for (uint32_t i = 0; i < job->nentries; i++) {
		const os_log_entry *e = &job->log[i];
		int rc;
		if (e->op == OSTORE_OP_DEL) {
			rc = node_store_del_key(st, txn, e->key, e->key_len);
			if (rc == OSTORE_ENOTFOUND)
				continue;
			if (rc != OSTORE_OK)
				return rc;
			w->lsn++;
			rc = log_key(w, txn, OSTORE_OP_DEL, e->key, e->key_len, NULL, 0);
		} else {
			if (e->lsn > w->lsn + 1 && (rc = jump_to(w, txn, e->lsn - 1)) != OSTORE_OK)
				return rc;
			rc = node_store_put_key(st, txn, e->key, e->key_len, w->lsn + 1, e->value,
			                        e->value_len);
			if (rc != OSTORE_OK)
				return rc;
			w->lsn++;
			rc = log_key(w, txn, OSTORE_OP_PUT, e->key, e->key_len, e->value, e->value_len);
			c->bytes += e->value_len;
		}
		if (rc != OSTORE_OK)
			return rc;
		c->orders++;
	}
	return OSTORE_OK;
}

typedef struct purge_keys {
	os_buf keys; /* u16 key_len + key, per order */
	uint32_t n, max;
} purge_keys;

static bool purge_visit(void *arg, uint16_t slot, const uint8_t *id, size_t id_len,
                        const uint8_t *value, size_t value_len, uint64_t version)
{
	(void)value;
	(void)value_len;
	(void)version;
	purge_keys *pk = arg; /* collects max + 1 keys: the last only says "more" */
	if (id_len > OSTORE_MAX_ID_LEN)
		return true;
	uint8_t key[OS_KEY_MAX];
	uint16_t kl = (uint16_t)os_key_make(key, slot, id, id_len);
	uint8_t l[2];
	os_st16(l, kl);
	os_buf_put(&pk->keys, l, 2);
	os_buf_put(&pk->keys, key, kl);
	pk->n++;
	return pk->n <= pk->max;
}

static int purge_entries(node_writer *w, MDB_txn *txn, const node_job *job, import_count *c)
{
	purge_keys pk = {.max = job->max_orders};
	os_buf_init(&pk.keys);
	int rc = node_store_scan(w->env->store, txn, job->slot_begin, NULL, 0, job->slot_end,
	                         purge_visit, &pk);
	if (rc == OSTORE_OK && pk.keys.oom)
		rc = OSTORE_ENOMEM;
	size_t off = 0;
	for (uint32_t i = 0; rc == OSTORE_OK && i < pk.n && i < pk.max; i++) {
		uint16_t kl = os_ld16(pk.keys.data + off);
		const uint8_t *key = pk.keys.data + off + 2; /* our copy, not the map's */
		off += 2u + kl;
		rc = node_store_del_key(w->env->store, txn, key, kl);
		if (rc == OSTORE_OK) {
			w->lsn++;
			rc = log_key(w, txn, OSTORE_OP_DEL, key, kl, NULL, 0);
			c->deleted++;
		}
	}
	c->more = pk.n > pk.max;
	os_buf_fini(&pk.keys);
	return rc;
}

/* One attempt of an APPLY or PURGE job. Returns OSTORE_OK (committed) or the failure
 * (the LSN and epoch are rolled back). */
static int import_attempt(node_writer *w, node_job *job, uint64_t epoch, import_count *c)
{
	memset(c, 0, sizeof(*c));
	MDB_txn *txn;
	int rc = node_store_write_begin(w->env->store, &txn);
	if (rc != OSTORE_OK)
		return rc;
	uint64_t lsn0 = w->lsn, epoch0 = w->epoch;
	w->epoch = epoch;
	rc = job->kind == NODE_JOB_MIG_APPLY ? apply_entries(w, txn, job, c)
	                                     : purge_entries(w, txn, job, c);
	if (w->lsn == lsn0)
		w->epoch = epoch0;
	if (rc == OSTORE_OK && w->lsn != lsn0)
		rc = node_writer_trim_log(w, txn);
	if (rc == OSTORE_OK)
		rc = node_store_commit(w->env->store, txn, w->lsn, w->epoch);
	else
		node_store_abort(w->env->store, txn);
	if (rc != OSTORE_OK) {
		w->lsn = lsn0;
		w->epoch = epoch0;
	}
	return rc;
}

static void run_import(node_writer *w, node_job *job)
{
	bool apply = job->kind == NODE_JOB_MIG_APPLY;
	const char *what = apply ? "mig_apply" : "mig_purge";
	os_map *map = node_maps_get(w->env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	int rc = lease_check(w, job, what);
	if (rc == OSTORE_OK)
		rc = import_check(w, map, job, what);
	os_map_unref(map);
	uint64_t lsn0 = w->lsn;
	import_count c = {0};
	while (rc == OSTORE_OK) {
		rc = import_attempt(w, job, epoch, &c);
		if (rc != OSTORE_EFULL || (rc = node_store_grow(w->env->store)) != OSTORE_OK)
			break;
	}
	job->ack_lsn = 0;
	if (rc == OSTORE_OK) {
		if (w->lsn != lsn0) {
			node_repl_committed(w->env->repl, w->lsn);
			job->ack_lsn = w->lsn; /* replicas must hold all of it (synchronous mode) */
		}
		if (apply)
			node_metrics_mig_imported(c.orders, c.bytes);
		else
			node_metrics_mig_purged(c.deleted);
		OS_DEBUG("msg=\"%s committed\" begin=%u end=%u writes=%llu deleted=%llu lsn=%llu",
		         what, job->slot_begin, job->slot_end, (unsigned long long)c.orders,
		         (unsigned long long)c.deleted, (unsigned long long)w->lsn);
		node_writer_reply_begin(job, 0, epoch);
		if (apply) {
			os_buf_put_u64(&job->reply, w->lsn);
		} else {
			uint8_t t[OS_MIG_PURGE_REPLY_SIZE];
			os_st32(t, (uint32_t)c.deleted);
			os_st32(t + 4, c.more ? 1u : 0u);
			os_buf_put(&job->reply, t, sizeof t);
		}
	} else {
		if (rc != OSTORE_EINVAL && rc != OSTORE_ENOTPRIMARY && rc != OSTORE_ELOCKED)
			OS_WARN("msg=\"%s failed\" begin=%u end=%u err=\"%s\"", what, job->slot_begin,
			        job->slot_end, ostore_strerror(rc));
		os_buf_reset(&job->reply);
		os_reply_status(&job->reply, job->hdr.kind, (uint16_t)rc, epoch, job->hdr.client_id);
	}
	node_writer_reply_check_oom(job, epoch);
	node_repl_job_done(w->env->repl, job);
}

/* ---- the guarded switch (MAP_SET) ---- */

int node_mig_switch_check(node_writer *w, const os_map *cur, const os_map *next,
                          uint64_t client_id)
{
	if (cur == NULL)
		return OSTORE_OK;
	uint16_t me = w->env->id;
	for (uint16_t i = 0; i < cur->nshards; i++) {
		uint16_t sh = cur->shards[i].id;
		if (cur->shards[i].primary != me)
			continue;
		const os_map_shard *ns = os_map_shard_by_id(next, sh);
		if (ns != NULL && ns->primary != me)
			continue; /* a failover: this node no longer serves the shard */
		uint32_t taken = 0, unfrozen = 0, first = OSTORE_SLOTS;
		for (uint32_t s = 0; s < OSTORE_SLOTS; s++) {
			if (cur->slot_shard[s] != sh || next->slot_shard[s] == sh)
				continue;
			taken++;
			if (!node_mig_frozen_locked(w, (uint16_t)s)) {
				unfrozen++;
				first = first < s ? first : s;
			}
		}
		if (taken == 0)
			continue;
		if (unfrozen > 0) {
			OS_WARN("msg=\"refusing a map that takes unfrozen slots from this primary's "
			        "shard: only a rebalance that froze them may switch\" epoch=%llu shard=%u "
			        "slots_taken=%u unfrozen=%u first_unfrozen=%u",
			        (unsigned long long)next->epoch, sh, taken, unfrozen, first);
			return OSTORE_ELOCKED;
		}
		uint64_t holder;
		if (!node_lease_held(w->env->lease, client_id, os_now_ns(), &holder)) {
			OS_WARN("msg=\"refusing a map that takes slots from this primary's shard: the "
			        "sender does not hold the migration lease\" epoch=%llu shard=%u "
			        "slots_taken=%u client_id=%016llx holder=%016llx",
			        (unsigned long long)next->epoch, sh, taken,
			        (unsigned long long)client_id, (unsigned long long)holder);
			return OSTORE_ELOCKED;
		}
	}
	return OSTORE_OK;
}

void node_mig_run_job(node_writer *w, node_job *job)
{
	if (job->kind == NODE_JOB_MIG_FREEZE)
		run_freeze(w, job);
	else
		run_import(w, job);
}
