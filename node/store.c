/*
 * store.c - LMDB environment of the node: open/check, reads, the writer's write
 * transactions, and map growth.
 *
 *   nng callbacks ──rdlock── read txn (GET, SCAN, STATS) ──unlock
 *   writer thread ── write txn ── put/del ... ── commit (sync) ──┐
 *                      │ MDB_MAP_FULL                           │
 *                      └─ abort ── wrlock ── set_mapsize(x2) ── unlock ── retry
 *
 * The rwlock prefers writers so that a stream of reads cannot starve a growth. LMDB
 * error codes never leave this file: they are logged with mdb_strerror() and the name of
 * the operation, and mapped to OSTORE_EFULL / OSTORE_ESTORAGE.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "slot.h"

#define META_LSN "lsn"
#define META_MAP "map"
#define META_NODE_ID "node_id"
#define META_EPOCH "applied_epoch"
#define VERSION_SIZE 8u
#define DISK_LOW_BYTES (4u << 20) /* an EIO with less free space than this is "disk full" */
#define RESERVE_MIN (256ull << 10) /* map reserve past the maximum: at least 256 KiB ... */
#define RESERVE_SHIFT 6           /* ... or 1/64 of --max-map-size */

struct node_store {
	MDB_env *env;
	MDB_dbi orders, meta, log;
	pthread_rwlock_t grow_lock; /* read mode around read txns; write mode to resize */
	_Atomic uint64_t lsn;        /* last committed LSN */
	_Atomic uint64_t epoch;      /* epoch stamped on the entry at lsn */
	uint64_t max_map_size;
	bool in_reserve;             /* writer: inside node_store_reserve(st, true) */
	uint64_t reserve;            /* map space beyond max_map_size for deletes when full */
	_Atomic int cause;           /* NODE_FULL_* of the last OSTORE_EFULL returned */
	_Atomic int full;            /* NODE_FULL_*: state for node_store_full() */
	int lock_fd;
	char *dir;
	os_buf scratch; /* writer-owned: value staging */
};

/* Whether LMDB error @rc means the file system is out of space: ENOSPC or EDQUOT, or
 * EIO (what LMDB answers for a short write) while less than DISK_LOW_BYTES are free. */
static bool disk_is_full(const node_store *st, int rc)
{
	if (rc == ENOSPC || rc == EDQUOT)
		return true;
	struct statvfs sv;
	return rc == EIO && st != NULL && statvfs(st->dir, &sv) == 0 &&
	       (uint64_t)sv.f_bavail * sv.f_frsize < DISK_LOW_BYTES;
}

/* Records the cause of "storage full" for node_store_full() and logs a change once. */
static void note_full(node_store *st, int cause)
{
	int old = atomic_exchange(&st->full, cause);
	if (old == cause)
		return;
	if (cause == NODE_FULL_MAP)
		OS_ERROR("msg=\"storage full: lmdb map at --max-map-size; writes answer "
		         "OSTORE_EFULL, deletes still run\" dir=%s max_map_size=%llu", st->dir,
		         (unsigned long long)st->max_map_size);
	else if (cause == NODE_FULL_DISK)
		OS_ERROR("msg=\"storage full: no space left on the file system; writes answer "
		         "OSTORE_EFULL\" dir=%s", st->dir);
	else
		OS_INFO("msg=\"storage no longer full: a write committed\" dir=%s", st->dir);
}

static int store_err(node_store *st, const char *what, int rc)
{
	if (rc == MDB_MAP_FULL) {
		OS_DEBUG("msg=\"lmdb map full\" op=%s", what);
		atomic_store(&st->cause, NODE_FULL_MAP);
		return OSTORE_EFULL;
	}
	if (disk_is_full(st, rc)) {
		OS_DEBUG("msg=\"no space on disk\" op=%s err=\"%s\"", what, mdb_strerror(rc));
		atomic_store(&st->cause, NODE_FULL_DISK);
		return OSTORE_EFULL;
	}
	OS_ERROR("msg=\"lmdb error\" op=%s err=\"%s\"", what, mdb_strerror(rc));
	return OSTORE_ESTORAGE;
}

int node_store_error(node_store *st, const char *what, int rc)
{
	return store_err(st, what, rc);
}

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v = {.mv_size = n, .mv_data = (void *)p};
	return v;
}

static int mkdir_p(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(path))
		return -1;
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		path[i] = c;
	}
	struct stat sb;
	return (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) ? 0 : -1;
}

static int store_lock_dir(node_store *st, const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/node.lock", dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (st->lock_fd < 0) {
		OS_ERROR("msg=\"cannot open lock file\" path=%s err=\"%s\"", path, strerror(errno));
		return OSTORE_EIO;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		OS_ERROR("msg=\"data directory in use by another process\" dir=%s err=\"%s\"", dir,
		         strerror(errno));
		return OSTORE_EINVAL;
	}
	return OSTORE_OK;
}

/* Reads node_id / lsn / map, writes node_id on first use. Runs in the open's txn. */
static int store_check_meta(node_store *st, MDB_txn *txn, uint32_t node_id, os_map **map_out)
{
	MDB_val k = mval(META_NODE_ID, strlen(META_NODE_ID)), v;
	int rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		uint8_t b[4];
		os_st32(b, node_id);
		v = mval(b, sizeof(b));
		if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0)
			return store_err(st, "put node_id", rc);
	} else if (rc != 0) {
		return store_err(st, "get node_id", rc);
	} else if (v.mv_size != 4 || os_ld32(v.mv_data) != node_id) {
		OS_ERROR("msg=\"data directory belongs to another node\" stored_id=%u id=%u",
		         v.mv_size == 4 ? os_ld32(v.mv_data) : 0xFFFFFFFFu, node_id);
		return OSTORE_EINVAL;
	}

	k = mval(META_LSN, strlen(META_LSN));
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		atomic_store(&st->lsn, os_ld64(v.mv_data));
	else if (rc != MDB_NOTFOUND)
		return rc != 0 ? store_err(st, "get lsn", rc) : store_err(st, "lsn record size", MDB_CORRUPTED);

	k = mval(META_EPOCH, strlen(META_EPOCH));
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		atomic_store(&st->epoch, os_ld64(v.mv_data));
	else if (rc != MDB_NOTFOUND)
		return rc != 0 ? store_err(st, "get applied_epoch", rc)
		               : store_err(st, "applied_epoch record size", MDB_CORRUPTED);

	*map_out = NULL;
	k = mval(META_MAP, strlen(META_MAP));
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0) {
		int st2 = os_map_decode(v.mv_data, v.mv_size, map_out);
		if (st2 != OSTORE_OK) {
			OS_ERROR("msg=\"stored cluster map is invalid\" err=\"%s\"", ostore_strerror(st2));
			return OSTORE_ESTORAGE;
		}
	} else if (rc != MDB_NOTFOUND) {
		return store_err(st, "get map", rc);
	}
	return OSTORE_OK;
}

static int store_open_env(node_store *st, const node_store_opts *o, node_check_report *rep)
{
	int rc;
	if ((rc = mdb_env_create(&st->env)) != 0)
		return store_err(st, "env_create", rc);
	if ((rc = mdb_env_set_maxreaders(st->env, o->max_readers)) != 0)
		return store_err(st, "set_maxreaders", rc);
	if ((rc = mdb_env_set_maxdbs(st->env, 4)) != 0)
		return store_err(st, "set_maxdbs", rc);
	if ((rc = mdb_env_set_mapsize(st->env, (size_t)o->map_size)) != 0)
		return store_err(st, "set_mapsize", rc);
	unsigned flags = MDB_NOTLS | (o->no_sync ? MDB_NOSYNC : 0);
	if ((rc = mdb_env_open(st->env, o->dir, flags, 0644)) != 0) {
		if (!node_check_is_damage(rc))
			return store_err(st, "env_open", rc);
		snprintf(rep->problem, sizeof(rep->problem), "cannot open: %s", mdb_strerror(rc));
		return OSTORE_ESTORAGE;
	}
	node_check_guard(rep);
	bool fine = node_check_env(st->env, o->node_id, o->check, rep);
	node_check_guard(NULL);
	if (!fine)
		return OSTORE_ESTORAGE;
	if (rep->mode != NULL && strcmp(rep->mode, "none") != 0)
		OS_INFO("msg=\"data file checked\" file=%s check=%s bytes=%llu records=%llu ms=%.1f "
		        "mb_per_s=%.0f", rep->file, rep->mode, (unsigned long long)rep->file_bytes,
		        (unsigned long long)rep->records, (double)rep->ns / 1e6,
		        rep->ns > 0 ? (double)rep->file_bytes / 1048576.0 / ((double)rep->ns / 1e9) : 0.0);
	int dead = 0;
	if ((rc = mdb_reader_check(st->env, &dead)) != 0)
		return store_err(st, "reader_check", rc);
	if (dead > 0)
		OS_WARN("msg=\"cleared stale reader slots\" count=%d", dead);
	return OSTORE_OK;
}

int node_store_open(const node_store_opts *o, node_store **out, os_map **stored_map)
{
	*stored_map = NULL;
	if (mkdir_p(o->dir) != 0) {
		OS_ERROR("msg=\"cannot create data directory\" dir=%s err=\"%s\"", o->dir,
		         strerror(errno));
		return OSTORE_EIO;
	}
	node_store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return OSTORE_ENOMEM;
	st->lock_fd = -1;
	st->max_map_size = o->max_map_size;
	st->reserve = o->max_map_size >> RESERVE_SHIFT > RESERVE_MIN ? o->max_map_size >> RESERVE_SHIFT
	                                                            : RESERVE_MIN;
	atomic_init(&st->cause, NODE_FULL_NONE);
	atomic_init(&st->full, NODE_FULL_NONE);
	if ((st->dir = strdup(o->dir)) == NULL) {
		free(st);
		return OSTORE_ENOMEM;
	}
	atomic_init(&st->lsn, 0);
	atomic_init(&st->epoch, 0);
	os_buf_init(&st->scratch);
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int err = pthread_rwlock_init(&st->grow_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (err != 0) {
		free(st->dir);
		free(st);
		return OSTORE_ENOMEM;
	}

	node_check_report own_report;
	node_check_report *rep = o->report != NULL ? o->report : &own_report;
	memset(rep, 0, sizeof(*rep));
	int rc = store_lock_dir(st, o->dir);
	if (rc == OSTORE_OK && !node_check_file(o->dir, rep))
		rc = OSTORE_ESTORAGE;
	if (rc == OSTORE_OK)
		rc = store_open_env(st, o, rep);
	MDB_txn *txn = NULL;
	if (rc == OSTORE_OK) {
		int mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
		if (mrc != 0)
			rc = store_err(st, "txn_begin", mrc);
	}
	if (rc == OSTORE_OK) {
		int mrc = mdb_dbi_open(txn, "orders", MDB_CREATE, &st->orders);
		if (mrc == 0)
			mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
		if (mrc == 0)
			mrc = mdb_dbi_open(txn, "log", MDB_CREATE, &st->log);
		rc = mrc != 0 ? store_err(st, "dbi_open", mrc) : store_check_meta(st, txn, o->node_id, stored_map);
		if (rc == OSTORE_OK) {
			mrc = mdb_txn_commit(txn);
			if (mrc != 0)
				rc = store_err(st, "commit (open)", mrc);
		} else {
			mdb_txn_abort(txn);
		}
	}
	if (rc != OSTORE_OK) {
		os_map_unref(*stored_map);
		*stored_map = NULL;
		node_store_close(st);
		return rc;
	}
	node_check_mark(o->dir, o->node_id);
	*out = st;
	return OSTORE_OK;
}

void node_store_close(node_store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL)
		mdb_env_close(st->env); /* also closes the DBI handles */
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	pthread_rwlock_destroy(&st->grow_lock);
	os_buf_fini(&st->scratch);
	free(st->dir);
	free(st);
}

uint64_t node_store_lsn(const node_store *st)
{
	return atomic_load(&((node_store *)st)->lsn);
}

uint64_t node_store_epoch(const node_store *st)
{
	return atomic_load(&((node_store *)st)->epoch);
}

MDB_dbi node_store_log_dbi(const node_store *st)
{
	return st->log;
}

MDB_dbi node_store_meta_dbi(const node_store *st)
{
	return st->meta;
}

int node_store_meta_get(node_store *st, MDB_txn *txn, uint64_t *lsn, uint64_t *epoch)
{
	*lsn = 0;
	*epoch = 0;
	const char *names[2] = {META_LSN, META_EPOCH};
	uint64_t *outs[2] = {lsn, epoch};
	for (int i = 0; i < 2; i++) {
		MDB_val k = mval(names[i], strlen(names[i])), v;
		int rc = mdb_get(txn, st->meta, &k, &v);
		if (rc == 0 && v.mv_size == 8)
			*outs[i] = os_ld64(v.mv_data);
		else if (rc != MDB_NOTFOUND)
			return store_err(st, "get meta", rc != 0 ? rc : MDB_CORRUPTED);
	}
	return OSTORE_OK;
}

void node_store_readers_lock(node_store *st)
{
	pthread_rwlock_rdlock(&st->grow_lock);
}

void node_store_readers_unlock(node_store *st)
{
	pthread_rwlock_unlock(&st->grow_lock);
}

int node_store_long_read_begin(node_store *st, MDB_txn **txn)
{
	pthread_rwlock_rdlock(&st->grow_lock);
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
	pthread_rwlock_unlock(&st->grow_lock);
	return rc != 0 ? store_err(st, "txn_begin (snapshot)", rc) : OSTORE_OK;
}

void node_store_long_read_end(node_store *st, MDB_txn *txn)
{
	(void)st;
	mdb_txn_abort(txn);
}

int node_store_read_begin(node_store *st, MDB_txn **txn)
{
	pthread_rwlock_rdlock(&st->grow_lock);
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
	if (rc != 0) {
		pthread_rwlock_unlock(&st->grow_lock);
		return store_err(st, "txn_begin (read)", rc);
	}
	return OSTORE_OK;
}

void node_store_read_end(node_store *st, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&st->grow_lock);
}

int node_store_get(node_store *st, MDB_txn *txn, uint16_t slot, const uint8_t *id,
                   size_t id_len, const uint8_t **value, size_t *value_len, uint64_t *version)
{
	uint8_t key[OS_KEY_MAX];
	MDB_val k = mval(key, os_key_make(key, slot, id, id_len)), v;
	int rc = mdb_get(txn, st->orders, &k, &v);
	if (rc == MDB_NOTFOUND)
		return OSTORE_ENOTFOUND;
	if (rc != 0)
		return store_err(st, "get", rc);
	if (v.mv_size < VERSION_SIZE) {
		OS_ERROR("msg=\"corrupt order record\" slot=%u size=%zu", slot, v.mv_size);
		return OSTORE_ESTORAGE;
	}
	*version = os_ld64(v.mv_data);
	*value = (const uint8_t *)v.mv_data + VERSION_SIZE;
	*value_len = v.mv_size - VERSION_SIZE;
	return OSTORE_OK;
}

int node_store_scan(node_store *st, MDB_txn *txn, uint16_t slot_begin, const uint8_t *after,
                    size_t after_len, uint16_t slot_end, node_scan_fn fn, void *arg)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, st->orders, &cur);
	if (rc != 0)
		return store_err(st, "cursor_open", rc);
	uint8_t start[OS_KEY_MAX];
	size_t start_len = os_key_make(start, slot_begin, after, after_len);
	MDB_val k = mval(start, start_len), v;
	int result = OSTORE_OK;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size < 3 || v.mv_size < VERSION_SIZE) {
			OS_ERROR("msg=\"corrupt order record\" key_len=%zu value_len=%zu", k.mv_size,
			         v.mv_size);
			result = OSTORE_ESTORAGE;
			break;
		}
		const uint8_t *kp = k.mv_data;
		uint16_t slot = os_key_slot(kp);
		if (slot >= slot_end)
			break;
		bool skip = after_len > 0 && k.mv_size == start_len && memcmp(kp, start, start_len) == 0;
		if (!skip && !fn(arg, slot, kp + 2, k.mv_size - 2, (const uint8_t *)v.mv_data + VERSION_SIZE,
		                 v.mv_size - VERSION_SIZE, os_ld64(v.mv_data)))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND && result == OSTORE_OK)
		result = store_err(st, "cursor_get", rc);
	mdb_cursor_close(cur);
	return result;
}

int node_store_stats_get(node_store *st, MDB_txn *txn, node_store_stats *out)
{
	MDB_stat so, sm;
	MDB_envinfo info;
	int rc = mdb_stat(txn, st->orders, &so);
	if (rc == 0)
		rc = mdb_stat(txn, st->meta, &sm);
	if (rc != 0)
		return store_err(st, "stat", rc);
	if ((rc = mdb_env_info(st->env, &info)) != 0)
		return store_err(st, "env_info", rc);
	out->orders = so.ms_entries;
	out->bytes_used = (uint64_t)(so.ms_leaf_pages + so.ms_branch_pages + so.ms_overflow_pages +
	                             sm.ms_leaf_pages + sm.ms_branch_pages + sm.ms_overflow_pages) *
	                  so.ms_psize;
	out->map_size = info.me_mapsize;
	return OSTORE_OK;
}

int node_store_write_begin(node_store *st, MDB_txn **txn)
{
	int rc = mdb_txn_begin(st->env, NULL, 0, txn);
	return rc != 0 ? store_err(st, "txn_begin (write)", rc) : OSTORE_OK;
}

int node_store_put_key(node_store *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                       uint64_t version, const uint8_t *value, size_t value_len)
{
	MDB_val k = mval(key, key_len);
	/* MDB_RESERVE: LMDB hands out the space and we fill it, no staging copy. */
	MDB_val v = mval(NULL, VERSION_SIZE + value_len);
	int rc = mdb_put(txn, st->orders, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return store_err(st, "put", rc);
	os_st64(v.mv_data, version);
	if (value_len > 0)
		memcpy((uint8_t *)v.mv_data + VERSION_SIZE, value, value_len);
	return OSTORE_OK;
}

int node_store_del_key(node_store *st, MDB_txn *txn, const uint8_t *key, size_t key_len)
{
	MDB_val k = mval(key, key_len);
	int rc = mdb_del(txn, st->orders, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return OSTORE_ENOTFOUND;
	return rc != 0 ? store_err(st, "del", rc) : OSTORE_OK;
}

int node_store_put(node_store *st, MDB_txn *txn, uint16_t slot, const uint8_t *id,
                   size_t id_len, uint64_t version, const uint8_t *value, size_t value_len)
{
	uint8_t key[OS_KEY_MAX];
	size_t klen = os_key_make(key, slot, id, id_len);
	return node_store_put_key(st, txn, key, klen, version, value, value_len);
}

int node_store_del(node_store *st, MDB_txn *txn, uint16_t slot, const uint8_t *id,
                   size_t id_len)
{
	uint8_t key[OS_KEY_MAX];
	size_t klen = os_key_make(key, slot, id, id_len);
	return node_store_del_key(st, txn, key, klen);
}

int node_store_clear(node_store *st, MDB_txn *txn)
{
	int rc = mdb_drop(txn, st->orders, 0);
	if (rc == 0)
		rc = mdb_drop(txn, st->log, 0);
	return rc != 0 ? store_err(st, "drop", rc) : OSTORE_OK;
}

int node_store_put_map(node_store *st, MDB_txn *txn, const os_map *m)
{
	os_buf_reset(&st->scratch);
	if (os_map_encode(m, &st->scratch) != OSTORE_OK || st->scratch.oom)
		return OSTORE_ENOMEM;
	MDB_val k = mval(META_MAP, strlen(META_MAP));
	MDB_val v = mval(st->scratch.data, st->scratch.len);
	int rc = mdb_put(txn, st->meta, &k, &v, 0);
	return rc != 0 ? store_err(st, "put map", rc) : OSTORE_OK;
}

static int put_meta_u64(node_store *st, MDB_txn *txn, const char *name, uint64_t val)
{
	uint8_t b[8];
	os_st64(b, val);
	MDB_val k = mval(name, strlen(name)), v = mval(b, sizeof(b));
	int rc = mdb_put(txn, st->meta, &k, &v, 0);
	return rc != 0 ? store_err(st, name, rc) : OSTORE_OK;
}

int node_store_commit(node_store *st, MDB_txn *txn, uint64_t lsn, uint64_t epoch)
{
	int rc = OSTORE_OK;
	if (lsn != atomic_load(&st->lsn))
		rc = put_meta_u64(st, txn, META_LSN, lsn);
	if (rc == OSTORE_OK && epoch != atomic_load(&st->epoch))
		rc = put_meta_u64(st, txn, META_EPOCH, epoch);
	if (rc != OSTORE_OK) {
		mdb_txn_abort(txn);
		return rc;
	}
	int mrc;
	if ((mrc = mdb_txn_commit(txn)) != 0)
		return store_err(st, "commit", mrc);
	atomic_store(&st->lsn, lsn);
	atomic_store(&st->epoch, epoch);
	if (!st->in_reserve && atomic_load(&st->full) != NODE_FULL_NONE)
		note_full(st, NODE_FULL_NONE);
	return OSTORE_OK;
}

void node_store_abort(node_store *st, MDB_txn *txn)
{
	(void)st;
	mdb_txn_abort(txn);
}

int node_store_grow(node_store *st)
{
	MDB_envinfo info;
	int rc = mdb_env_info(st->env, &info);
	if (rc != 0)
		return store_err(st, "env_info", rc);
	uint64_t cur = info.me_mapsize;
	if (atomic_load(&st->cause) == NODE_FULL_DISK || cur >= st->max_map_size) {
		note_full(st, atomic_load(&st->cause) == NODE_FULL_DISK ? NODE_FULL_DISK : NODE_FULL_MAP);
		return OSTORE_EFULL;
	}
	uint64_t next = cur * 2 > st->max_map_size ? st->max_map_size : cur * 2;
	pthread_rwlock_wrlock(&st->grow_lock);
	rc = mdb_env_set_mapsize(st->env, (size_t)next);
	pthread_rwlock_unlock(&st->grow_lock);
	if (rc != 0)
		return store_err(st, "set_mapsize", rc);
	OS_INFO("msg=\"grew lmdb map\" from=%llu to=%llu", (unsigned long long)cur,
	        (unsigned long long)next);
	return OSTORE_OK;
}

void node_store_reserve(node_store *st, bool on)
{
	/* Shrinking is clamped by LMDB to the pages in use, so pages the deletes took from
	 * the reserve stay mapped, and only free pages are left for later writes. */
	uint64_t size = on ? st->max_map_size + st->reserve : st->max_map_size;
	pthread_rwlock_wrlock(&st->grow_lock);
	int rc = mdb_env_set_mapsize(st->env, (size_t)size);
	pthread_rwlock_unlock(&st->grow_lock);
	if (rc != 0)
		store_err(st, "set_mapsize (reserve)", rc);
	st->in_reserve = on;
}

int node_store_full(const node_store *st)
{
	return atomic_load(&((node_store *)st)->full);
}

/* mdb_reader_list calls back once per line: a header, then one line per slot in use. */
static int count_reader_line(const char *msg, void *ctx)
{
	(void)msg;
	(*(unsigned *)ctx)++;
	return 0;
}

void node_store_readers(node_store *st, unsigned *used, unsigned *max)
{
	unsigned lines = 0, m = 0;
	mdb_reader_list(st->env, count_reader_line, &lines);
	mdb_env_get_maxreaders(st->env, &m);
	*used = lines > 0 ? lines - 1 : 0; /* no header line when the table is empty */
	*max = m;
}

int node_store_meta_blob(node_store *st, MDB_txn *txn, const char *name, const uint8_t **p,
                         size_t *n)
{
	MDB_val k = mval(name, strlen(name)), v;
	int rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return OSTORE_ENOTFOUND;
	if (rc != 0)
		return store_err(st, name, rc);
	*p = v.mv_data;
	*n = v.mv_size;
	return OSTORE_OK;
}

int node_store_meta_put(node_store *st, MDB_txn *txn, const char *name, const void *p,
                        size_t n)
{
	MDB_val k = mval(name, strlen(name)), v = mval(p, n);
	int rc = mdb_put(txn, st->meta, &k, &v, 0);
	return rc != 0 ? store_err(st, name, rc) : OSTORE_OK;
}
