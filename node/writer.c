/*
 * writer.c - group commit: one thread, one write transaction per batch of queued frames.
 *
 *   callbacks ──submit──▶ [queue] ──▶ writer: take batch ─▶ txn begin
 *                                       for each item: dedup? owner? apply (LSN++)
 *                                     ─▶ put "lsn" ─▶ commit (fsync) ─▶ remember request IDs
 *                                     ─▶ done(job) for each job (nng_ctx_send)
 *
 * Versions: every applied PUT, CAS and successful DEL takes the shard's next LSN; the LSN
 * lives in the writer while a transaction runs and is made durable with it ("lsn" meta
 * record in the same transaction). A failed or retried transaction rolls the LSN back.
 *
 * Dedup: a write with seq != 0 is first looked up in the table of committed request IDs
 * (dedup.c), then in the batch's own pending IDs (a retry can land in the same batch as
 * its original); a hit answers the remembered first result and applies nothing. Results
 * of applied writes enter the table only after their commit succeeded, so a failed batch
 * leaves no trace. Items answered EMOVED/ENOMAP were not applied and are not remembered.
 *
 * MDB_MAP_FULL: the transaction is aborted, the map grown (store.c) and the whole batch
 * redone from its start; at the maximum size (or with the disk full) the batch is redone
 * once with only its DELs applied, in the map's reserve, and every other write answers
 * OSTORE_EFULL. Any other storage error answers OSTORE_ESTORAGE for every item.
 *
 * MAP_SET jobs run alone in their own transaction, so all items of a batch are checked
 * against one map, and writes queued after a MAP_SET see the new map. Slot-migration jobs
 * (MIG_FREEZE / MIG_APPLY / MIG_PURGE) run alone too, in mig_writer.c.
 */
#include "writer_int.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "log.h"
#include "migrate.h"
#include "node_metrics.h"
#include "repl.h"
#include "replog.h"
#include "slot.h"
#include "util.h"

/* ---- pending request IDs ---- */

static bool pend_reset(node_writer *w, size_t nitems)
{
	size_t want = 64;
	while (want < nitems * 2)
		want *= 2;
	if (want > w->pend_cap) {
		pend_entry *p = realloc(w->pend, want * sizeof(*p));
		if (p == NULL)
			return false;
		w->pend = p;
		w->pend_cap = want;
	}
	memset(w->pend, 0, w->pend_cap * sizeof(*w->pend));
	w->pend_used = 0;
	return true;
}

static pend_entry *pend_slot(node_writer *w, uint64_t client_id, uint64_t seq)
{
	size_t mask = w->pend_cap - 1;
	size_t i = (size_t)((client_id ^ (seq * 0x9E3779B97F4A7C15ull)) >> 7) & mask;
	while (w->pend[i].seq != 0 && !(w->pend[i].seq == seq && w->pend[i].client_id == client_id))
		i = (i + 1) & mask;
	return &w->pend[i];
}

/* ---- applying one item ---- */

/*
 * Whether this node may write (@is_write) or read @slot under @map: OSTORE_OK;
 * OSTORE_EMIGRATING (a write to a slot it owns that is frozen for a move: mig_writer.c);
 * OSTORE_ENOMAP; OSTORE_EMOVED
 * (another shard's slot); OSTORE_ENOTPRIMARY (a slot of the shard this node is a replica
 * of: fenced after a failover); OSTORE_EUNAVAIL (the shard has LSNs this node lacks);
 * OSTORE_EREPLICAS (started empty, no replica has confirmed it is empty too).
 */
static int slot_status(node_writer *w, const os_map *map, uint16_t slot, bool is_write)
{
	if (map == NULL)
		return OSTORE_ENOMAP;
	if (node_owns_slot(map, w->env->id, slot))
		return is_write && node_mig_frozen_locked(w, slot)                ? OSTORE_EMIGRATING
		       : node_repl_known_lsn(w->env->repl) > w->lsn          ? OSTORE_EUNAVAIL
		       : node_repl_empty_unconfirmed(w->env->repl, map) ? OSTORE_EREPLICAS
		                                                         : OSTORE_OK;
	uint32_t shard;
	if (node_role_of(map, w->env->id, &shard) == OS_ROLE_REPLICA && map->slot_shard[slot] == shard)
		return OSTORE_ENOTPRIMARY;
	return OSTORE_EMOVED;
}

/* Appends the log record of the write that just took LSN w->lsn. */
static int log_write(node_writer *w, MDB_txn *txn, uint8_t op, uint16_t slot, const os_item *it)
{
	uint8_t key[OS_KEY_MAX];
	os_log_entry e = {.lsn = w->lsn,
	                  .epoch = w->epoch,
	                  .op = op,
	                  .key = key,
	                  .key_len = (uint16_t)os_key_make(key, slot, it->id, it->id_len),
	                  .value = op == OSTORE_OP_PUT ? it->value : NULL,
	                  .value_len = op == OSTORE_OP_PUT ? it->value_len : 0};
	return node_replog_append(w->env->store, txn, &e);
}

/*
 * Applies one write (or reads one GET) of a DATA frame inside @txn. Fills *@res (and for
 * GET *@val and *@vlen, valid until the next write). Returns OSTORE_OK when the item has a
 * result, or OSTORE_EFULL / OSTORE_ESTORAGE when the transaction failed.
 */
static int apply_item(node_writer *w, MDB_txn *txn, const os_map *map, uint64_t client_id,
                      const os_item *it, node_dedup_result *res, const uint8_t **val,
                      size_t *vlen)
{
	node_store *st = w->env->store;
	uint16_t slot = os_slot_of(it->id, it->id_len);
	*val = NULL;
	*vlen = 0;
	res->version = 0;
	bool is_write = it->op != OSTORE_OP_GET;
	pend_entry *pe = NULL;

	if (is_write && it->seq != 0) {
		if (node_dedup_lookup(w->dedup, client_id, it->seq, res))
			return OSTORE_OK;
		pe = pend_slot(w, client_id, it->seq);
		if (pe->seq != 0) {
			*res = pe->res;
			return OSTORE_OK;
		}
	}
	int own = slot_status(w, map, slot, is_write);
	if (own != OSTORE_OK) {
		res->status = (uint16_t)own;
		return OSTORE_OK;
	}
	if (w->deletes_only && is_write && it->op != OSTORE_OP_DEL) {
		res->status = OSTORE_EFULL; /* not remembered: a retry may find room */
		return OSTORE_OK;
	}

	const uint8_t *cur;
	size_t cur_len;
	uint64_t cur_ver = 0;
	int rc = OSTORE_OK;
	switch (it->op) {
	case OSTORE_OP_GET:
		rc = node_store_get(st, txn, slot, it->id, it->id_len, val, vlen, &res->version);
		if (rc != OSTORE_OK && rc != OSTORE_ENOTFOUND)
			return rc;
		res->status = (uint16_t)rc;
		return OSTORE_OK;
	case OSTORE_OP_PUT:
		rc = node_store_put(st, txn, slot, it->id, it->id_len, w->lsn + 1, it->value,
		                    it->value_len);
		if (rc != OSTORE_OK)
			return rc;
		res->status = OSTORE_OK;
		res->version = ++w->lsn;
		if ((rc = log_write(w, txn, OSTORE_OP_PUT, slot, it)) != OSTORE_OK)
			return rc;
		break;
	case OSTORE_OP_DEL:
		rc = node_store_del(st, txn, slot, it->id, it->id_len);
		if (rc != OSTORE_OK && rc != OSTORE_ENOTFOUND)
			return rc;
		res->status = (uint16_t)rc;
		if (rc == OSTORE_OK) {
			res->version = ++w->lsn; /* a delete is a write: it consumes an LSN */
			if ((rc = log_write(w, txn, OSTORE_OP_DEL, slot, it)) != OSTORE_OK)
				return rc;
		}
		break;
	case OSTORE_OP_CAS:
		rc = node_store_get(st, txn, slot, it->id, it->id_len, &cur, &cur_len, &cur_ver);
		if (rc != OSTORE_OK && rc != OSTORE_ENOTFOUND)
			return rc;
		bool exists = rc == OSTORE_OK;
		if (it->expected == 0 ? exists : (exists && cur_ver != it->expected)) {
			res->status = OSTORE_ECONFLICT;
			res->version = cur_ver;
		} else if (!exists && it->expected != 0) {
			res->status = OSTORE_ENOTFOUND;
		} else {
			rc = node_store_put(st, txn, slot, it->id, it->id_len, w->lsn + 1, it->value,
			                    it->value_len);
			if (rc != OSTORE_OK)
				return rc;
			res->status = OSTORE_OK;
			res->version = ++w->lsn;
			if ((rc = log_write(w, txn, OSTORE_OP_PUT, slot, it)) != OSTORE_OK)
				return rc;
		}
		break;
	default: /* os_items_get admits only the four ops */
		res->status = OSTORE_EBADOP;
		return OSTORE_OK;
	}
	if (pe != NULL) {
		pe->client_id = client_id;
		pe->seq = it->seq;
		pe->res = *res;
		w->pend_used++;
	}
	return OSTORE_OK;
}

/* ---- replies ---- */

void node_writer_reply_begin(node_job *job, uint16_t count, uint64_t epoch)
{
	os_hdr h = {
		.kind = (uint8_t)(job->hdr.kind | OS_REPLY_BIT),
		.status = 0,
		.count = count,
		.epoch = epoch,
		.client_id = job->hdr.client_id,
	};
	os_buf_reset(&job->reply);
	os_hdr_put(&job->reply, &h);
}

/* Every item of a DATA job answers @status (the batch failed). */
static void reply_all_failed(node_job *job, int status, uint64_t epoch)
{
	node_writer_reply_begin(job, job->nitems, epoch);
	for (uint16_t i = 0; i < job->nitems; i++)
		os_result_put(&job->reply, (uint16_t)status, 0, NULL, 0);
}

/* A reply that could not be built in full (out of memory) becomes a status-only one. */
void node_writer_reply_check_oom(node_job *job, uint64_t epoch)
{
	if (!job->reply.oom)
		return;
	os_buf_fini(&job->reply);
	os_buf_init(&job->reply);
	os_reply_status(&job->reply, job->hdr.kind, OSTORE_ENOMEM, epoch, job->hdr.client_id);
}

/* ---- batches ---- */

int node_writer_trim_log(node_writer *w, MDB_txn *txn)
{
	const node_repl_opts *o = node_repl_opts_get(w->env->repl);
	return node_replog_trim(w->env->store, txn, o->retain_entries, o->retain_bytes,
	                        node_repl_log_pin(w->env->repl));
}

/* One attempt at a DATA batch. Returns OSTORE_OK (committed) or the failure. */
static int data_attempt(node_writer *w, node_job *batch, size_t nitems, const os_map *map,
                        uint64_t epoch)
{
	if (!pend_reset(w, nitems))
		return OSTORE_ENOMEM;
	MDB_txn *txn;
	int rc = node_store_write_begin(w->env->store, &txn);
	if (rc != OSTORE_OK)
		return rc;
	uint64_t lsn0 = w->lsn, epoch0 = w->epoch;
	w->epoch = epoch; /* entries of this batch are stamped with the map's epoch */
	for (node_job *j = batch; j != NULL && rc == OSTORE_OK; j = j->next) {
		node_writer_reply_begin(j, j->nitems, epoch);
		j->ack_lsn = 0;
		for (uint16_t i = 0; i < j->nitems && rc == OSTORE_OK; i++) {
			node_dedup_result res;
			const uint8_t *val;
			size_t vlen;
			rc = apply_item(w, txn, map, j->hdr.client_id, &j->items[i], &res, &val, &vlen);
			if (rc == OSTORE_OK)
				os_result_put(&j->reply, res.status, res.version, val, (uint32_t)vlen);
			if (rc == OSTORE_OK && j->items[i].op != OSTORE_OP_GET && res.status == OSTORE_OK &&
			    res.version > j->ack_lsn)
				j->ack_lsn = res.version;
		}
	}
	if (w->lsn == lsn0)
		w->epoch = epoch0; /* nothing written: the stamp of the last entry stays */
	if (rc == OSTORE_OK && w->lsn != lsn0)
		rc = node_writer_trim_log(w, txn);
	uint64_t t0 = os_now_ns();
	if (rc == OSTORE_OK)
		rc = node_store_commit(w->env->store, txn, w->lsn, w->epoch);
	else
		node_store_abort(w->env->store, txn);
	if (rc == OSTORE_OK)
		node_metrics_commit(nitems, os_now_ns() - t0);
	if (rc != OSTORE_OK) {
		w->lsn = lsn0;
		w->epoch = epoch0;
		return rc;
	}
	for (size_t i = 0; i < w->pend_cap && w->pend_used > 0; i++)
		if (w->pend[i].seq != 0)
			node_dedup_insert(w->dedup, w->pend[i].client_id, w->pend[i].seq, &w->pend[i].res);
	return OSTORE_OK;
}

/*
 * Storage full: redo a batch that has DELs with only its DELs applied (PUT/CAS answer
 * OSTORE_EFULL) in the store's map reserve, since an LMDB delete needs free pages too;
 * the pages the deletes free make room for later writes. Returns as data_attempt.
 */
static int deletes_only_attempt(node_writer *w, node_job *batch, size_t nitems,
                                const os_map *map, uint64_t epoch)
{
	bool has_del = false;
	for (node_job *j = batch; j != NULL && !has_del; j = j->next)
		for (uint16_t i = 0; i < j->nitems && !has_del; i++)
			has_del = j->items[i].op == OSTORE_OP_DEL;
	if (!has_del)
		return OSTORE_EFULL;
	node_store_reserve(w->env->store, true);
	w->deletes_only = true;
	int rc = data_attempt(w, batch, nitems, map, epoch);
	w->deletes_only = false;
	node_store_reserve(w->env->store, false);
	return rc;
}

static void run_data_batch(node_writer *w, node_job *batch, size_t nitems)
{
	os_map *map = node_maps_get(w->env->maps);
	uint64_t epoch = map != NULL ? map->epoch : 0;
	int rc;
	for (;;) {
		rc = data_attempt(w, batch, nitems, map, epoch);
		if (rc != OSTORE_EFULL)
			break;
		rc = node_store_grow(w->env->store);
		if (rc != OSTORE_OK)
			break;
	}
	if (rc == OSTORE_EFULL)
		rc = deletes_only_attempt(w, batch, nitems, map, epoch);
	if (rc != OSTORE_OK)
		node_metrics_commit_failed();
	if (rc == OSTORE_EFULL) /* store.c logs when the node becomes full and when not */
		OS_DEBUG("msg=\"write batch refused: storage full\" items=%zu", nitems);
	else if (rc != OSTORE_OK)
		OS_ERROR("msg=\"write batch failed\" items=%zu err=\"%s\"", nitems, ostore_strerror(rc));
	else
		OS_DEBUG("msg=\"batch committed\" items=%zu lsn=%llu", nitems,
		         (unsigned long long)w->lsn);
	if (rc == OSTORE_OK)
		node_repl_committed(w->env->repl, w->lsn);
	for (node_job *j = batch, *next; j != NULL; j = next) {
		next = j->next;
		if (rc != OSTORE_OK) {
			reply_all_failed(j, rc, epoch);
			j->ack_lsn = 0;
		}
		node_writer_reply_check_oom(j, epoch);
		node_repl_job_done(w->env->repl, j);
	}
	os_map_unref(map);
}

/* Stores a newer map durably, then installs it; a map taking slots away from this
 * primary passes the guarded switch first (node_mig_switch_check). Returns the status. */
static int map_apply(node_writer *w, node_job *job)
{
	os_map *cur = node_maps_get(w->env->maps);
	int rc = OSTORE_OK;
	if (cur != NULL && cur->cluster_id != job->map->cluster_id)
		rc = OSTORE_EINVAL;
	else if (cur != NULL && job->map->epoch < cur->epoch)
		rc = OSTORE_ESTALE;
	bool same = cur != NULL && job->map->epoch == cur->epoch;
	if (rc == OSTORE_OK && !same)
		rc = node_mig_switch_check(w, cur, job->map, job->hdr.client_id);
	os_map_unref(cur);
	if (rc != OSTORE_OK || same)
		return rc;
	uint32_t shard;
	uint64_t known = node_repl_known_lsn(w->env->repl);
	if (node_role_of(job->map, w->env->id, &shard) == OS_ROLE_PRIMARY && known > w->lsn) {
		OS_ERROR("msg=\"refusing a map that makes this node primary: it is behind its shard\" "
		         "epoch=%llu lsn=%llu known_lsn=%llu",
		         (unsigned long long)job->map->epoch, (unsigned long long)w->lsn,
		         (unsigned long long)known);
		return OSTORE_EUNAVAIL;
	}
	for (;;) {
		MDB_txn *txn;
		rc = node_store_write_begin(w->env->store, &txn);
		if (rc != OSTORE_OK)
			return rc;
		rc = node_store_put_map(w->env->store, txn, job->map);
		if (rc == OSTORE_OK)
			rc = node_store_commit(w->env->store, txn, w->lsn, w->epoch);
		else
			node_store_abort(w->env->store, txn);
		if (rc != OSTORE_EFULL)
			break;
		if ((rc = node_store_grow(w->env->store)) != OSTORE_OK)
			return rc;
	}
	if (rc != OSTORE_OK)
		return rc;
	OS_INFO("msg=\"installed cluster map\" epoch=%llu", (unsigned long long)job->map->epoch);
	node_maps_install(w->env->maps, job->map);
	job->map = NULL;
	return OSTORE_OK;
}

static void run_map_job(node_writer *w, node_job *job)
{
	int rc = map_apply(w, job);
	job->status = rc;
	if (rc != OSTORE_OK)
		OS_WARN("msg=\"map_set refused\" err=\"%s\"", ostore_strerror(rc));
	uint64_t epoch = node_maps_epoch(w->env->maps);
	os_buf_reset(&job->reply);
	os_reply_status(&job->reply, job->hdr.kind, (uint16_t)rc, epoch, job->hdr.client_id);
	node_writer_reply_check_oom(job, epoch);
	job->done(job);
}

/* Takes the next batch off the queue (w->mu held). Returns NULL when stopping and empty. */
static node_job *take_batch_locked(node_writer *w, size_t *nitems)
{
	while (w->head == NULL && !w->stopping)
		pthread_cond_wait(&w->cv, &w->mu);
	node_job *first = w->head;
	if (first == NULL)
		return NULL;
	node_job *last = first;
	size_t items = first->nitems, bytes = first->bytes;
	if (first->kind == NODE_JOB_DATA) {
		for (node_job *j = first->next; j != NULL && j->kind == NODE_JOB_DATA; j = j->next) {
			if (items + j->nitems > NODE_BATCH_ITEMS || bytes + j->bytes > NODE_BATCH_BYTES)
				break;
			items += j->nitems;
			bytes += j->bytes;
			last = j;
		}
	}
	w->head = last->next;
	if (w->head == NULL)
		w->tail = NULL;
	last->next = NULL;
	*nitems = items;
	return first;
}

/* ---- replica jobs ---- */

/* Applies pulled entries (consecutive after w->lsn) in @txn. */
static int repl_apply(node_writer *w, MDB_txn *txn, node_job *job)
{
	node_store *st = w->env->store;
	for (uint32_t i = 0; i < job->nentries; i++) {
		const os_log_entry *e = &job->log[i];
		if (e->op == OS_LOG_OP_JUMP) { /* only moves the LSN: kept in the log */
			if (os_ld64(e->value) != w->lsn || e->lsn <= w->lsn)
				return OSTORE_EPROTO;
			int rc = node_replog_append(st, txn, e);
			if (rc != OSTORE_OK)
				return rc;
			w->lsn = e->lsn;
			w->epoch = e->epoch;
			continue;
		}
		if (e->lsn != w->lsn + 1)
			return OSTORE_EPROTO;
		int rc = e->op == OSTORE_OP_PUT
		                 ? node_store_put_key(st, txn, e->key, e->key_len, e->lsn, e->value, e->value_len)
		                 : node_store_del_key(st, txn, e->key, e->key_len);
		if (rc != OSTORE_OK && rc != OSTORE_ENOTFOUND)
			return rc;
		if ((rc = node_replog_append(st, txn, e)) != OSTORE_OK)
			return rc;
		w->lsn = e->lsn;
		w->epoch = e->epoch;
	}
	return node_writer_trim_log(w, txn);
}

/* Writes one snapshot page in @txn. */
static int snap_apply(node_writer *w, MDB_txn *txn, node_job *job)
{
	node_store *st = w->env->store;
	int rc;
	if (job->snap_first) {
		if ((rc = node_store_clear(st, txn)) != OSTORE_OK)
			return rc;
		w->lsn = 0;
		w->epoch = 0;
	}
	for (uint32_t i = 0; i < job->nentries; i++) {
		const os_snap_entry *e = &job->snap[i];
		rc = node_store_put_key(st, txn, e->key, e->key_len, e->version, e->value, e->value_len);
		if (rc != OSTORE_OK)
			return rc;
	}
	if (job->snap_head.done) {
		w->lsn = job->snap_head.snap_lsn;
		w->epoch = job->snap_head.snap_epoch;
	}
	return OSTORE_OK;
}

static void run_replica_job(node_writer *w, node_job *job)
{
	uint64_t lsn0 = w->lsn, epoch0 = w->epoch;
	bool reserve = false;
	int rc;
	for (;;) {
		MDB_txn *txn;
		rc = node_store_write_begin(w->env->store, &txn);
		if (rc != OSTORE_OK)
			break;
		rc = job->kind == NODE_JOB_REPL ? repl_apply(w, txn, job) : snap_apply(w, txn, job);
		uint64_t t0 = os_now_ns();
		if (rc == OSTORE_OK)
			rc = node_store_commit(w->env->store, txn, w->lsn, w->epoch);
		else
			node_store_abort(w->env->store, txn);
		if (rc == OSTORE_OK) /* a replica's group commit: the pulled entries */
			node_metrics_commit(job->nentries, os_now_ns() - t0);
		if (rc != OSTORE_OK) {
			w->lsn = lsn0;
			w->epoch = epoch0;
		}
		if (rc != OSTORE_EFULL || reserve)
			break;
		/* At the maximum, a replica still applies what its primary committed: its page
		 * layout differs (other transactions), so with the same --max-map-size it can
		 * run out a few pages earlier; the reserve covers that and the primary's DELs. */
		int grown = node_store_grow(w->env->store);
		if (grown == OSTORE_EFULL) {
			reserve = true;
			node_store_reserve(w->env->store, true);
		} else if (grown != OSTORE_OK) {
			break;
		}
	}
	if (reserve)
		node_store_reserve(w->env->store, false);
	if (rc == OSTORE_OK)
		node_repl_committed(w->env->repl, w->lsn);
	job->status = rc;
	job->done(job);
}

static void *writer_main(void *arg)
{
	node_writer *w = arg;
	for (;;) {
		size_t nitems = 0;
		pthread_mutex_lock(&w->mu);
		node_job *batch = take_batch_locked(w, &nitems);
		pthread_mutex_unlock(&w->mu);
		if (batch == NULL)
			break;
		if (batch->kind == NODE_JOB_MAP)
			run_map_job(w, batch);
		else if (batch->kind == NODE_JOB_REPL || batch->kind == NODE_JOB_SNAP)
			run_replica_job(w, batch);
		else if (batch->kind != NODE_JOB_DATA)
			node_mig_run_job(w, batch);
		else
			run_data_batch(w, batch, nitems);
	}
	return NULL;
}

int node_writer_create(node_env *env, node_writer **out)
{
	node_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return OSTORE_ENOMEM;
	w->env = env;
	w->lsn = node_store_lsn(env->store);
	w->epoch = node_store_epoch(env->store);
	w->dedup = node_dedup_create();
	if (w->dedup == NULL) {
		free(w);
		return OSTORE_ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_mutex_init(&w->frozen_mu, NULL);
	int rc = node_mig_load(w);
	if (rc != OSTORE_OK) {
		node_writer_destroy(w);
		return rc;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		node_writer_destroy(w);
		return OSTORE_EINTERNAL;
	}
	w->started = true;
	*out = w;
	return OSTORE_OK;
}

int node_writer_submit(node_writer *w, node_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return OSTORE_EUNAVAIL;
	}
	if (w->tail != NULL)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return OSTORE_OK;
}

void node_writer_stop(node_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

void node_writer_destroy(node_writer *w)
{
	if (w == NULL)
		return;
	node_writer_stop(w);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->frozen_mu);
	node_dedup_destroy(w->dedup);
	free(w->pend);
	free(w);
}
