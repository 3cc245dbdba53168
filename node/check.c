/*
 * check.c - the start-up check of the node's data directory (check.h has the steps).
 *
 *   node_store_open: lock ─▶ node_check_file ─▶ mdb_env_open ─▶ node_check_env
 *                      (size vs last page, then a read-only walk) ─▶ write txn ...
 *                    any step finds damage ─▶ report.problem ─▶ main: one line, exit 3
 *
 * Everything here only reads: a damaged environment is never written to, so it can be
 * kept aside for inspection (`orderstore reseed` moves it, never deletes it).
 */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "map.h"
#include "migrate.h"
#include "replog.h"
#include "slot.h"
#include "util.h"

#define MARKER "node.created"
#define VERSION_SIZE 8u

/* The DBIs of store.h, in walk order. */
enum { DB_ORDERS, DB_META, DB_LOG, NDBS };
static const char *const db_names[NDBS] = {"orders", "meta", "log"};

/* One pass over the environment: what the walk learns on the way. */
typedef struct walk {
	node_check_report *r;
	MDB_txn *txn;
	MDB_dbi dbi[NDBS];
	bool present[NDBS];
	uint64_t entries[NDBS]; /* mdb_stat */
	bool full;
	uint64_t lsn;
	bool has_lsn, has_node_id;
	volatile uint8_t touch; /* bytes read from value pages (full walk) */
} walk;

static bool problem(node_check_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool problem(node_check_report *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
	va_end(ap);
	return false;
}

int node_check_mode_parse(const char *s, node_check_mode *out)
{
	static const char *const names[] = {"auto", "full", "quick", "none"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (node_check_mode)i;
			return 0;
		}
	return -1;
}

bool node_check_is_damage(int rc)
{
	switch (rc) {
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_DBI:
	case MDB_BAD_VALSIZE:
	case MDB_PANIC:
	case EIO:
		return true;
	default:
		return false;
	}
}

bool node_check_file(const char *dir, node_check_report *r)
{
	char marker[4200];
	snprintf(r->file, sizeof(r->file), "%s/data.mdb", dir);
	snprintf(marker, sizeof(marker), "%s/" MARKER, dir);
	struct stat sb;
	bool have = stat(r->file, &sb) == 0;
	r->file_bytes = have ? (uint64_t)sb.st_size : 0;
	if (access(marker, F_OK) != 0 || r->file_bytes > 0)
		return true;
	return problem(r, have ? "empty (0 bytes) but this directory held an environment (%s)"
	                       : "missing but this directory held an environment (%s)",
	               MARKER);
}

void node_check_mark(const char *dir, uint32_t node_id)
{
	char marker[4200], want[32], have[32];
	snprintf(marker, sizeof(marker), "%s/" MARKER, dir);
	int n = snprintf(want, sizeof(want), "node_id %u\n", node_id);
	int fd = open(marker, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, have, sizeof(have)) : -1;
	if (fd >= 0)
		close(fd);
	if (got == n && memcmp(have, want, (size_t)n) == 0)
		return;
	/* New, or empty (written before the marker named the node): `orderstore reseed`
	 * reads the id from here without opening the environment. */
	fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, want, (size_t)n) != n || fsync(fd) != 0)
		OS_WARN("msg=\"cannot write the data directory marker\" path=%s err=\"%s\"", marker,
		        strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ---- signal guard ---- */

static char guard_line[1024];
static size_t guard_len;
static struct sigaction old_bus, old_segv, old_abrt;

static void guard_handler(int sig)
{
	(void)sig;
	ssize_t n = write(STDERR_FILENO, guard_line, guard_len);
	(void)n;
	_exit(NODE_EXIT_DAMAGED);
}

void node_check_guard(const node_check_report *r)
{
	if (r == NULL) {
		sigaction(SIGBUS, &old_bus, NULL);
		sigaction(SIGSEGV, &old_segv, NULL);
		sigaction(SIGABRT, &old_abrt, NULL);
		return;
	}
	int n = snprintf(guard_line, sizeof(guard_line),
	                 "level=error msg=\"data file damaged: refusing to serve it\" file=%s "
	                 "problem=\"crashed reading a page (SIGBUS/SIGSEGV, or an LMDB assertion: "
	                 "SIGABRT): unreadable or garbage page\" exit=%d\n",
	                 r->file, NODE_EXIT_DAMAGED);
	guard_len = n > 0 && (size_t)n < sizeof(guard_line) ? (size_t)n : sizeof(guard_line) - 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	/* LMDB's assertions (e.g. IS_LEAF in mdb_cursor_next on a zeroed page) call abort(). */
	sigaction(SIGABRT, &sa, &old_abrt);
}

/* ---- the walk ---- */

static bool lmdb_problem(walk *w, const char *what, int rc)
{
	return problem(w->r, "%s: %s", what, mdb_strerror(rc));
}

/* Reads one byte per page of @n bytes at @p, so a full walk touches every value page. */
static void touch(walk *w, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 4096)
		w->touch ^= p[i];
	if (n > 0)
		w->touch ^= p[n - 1];
}

static bool check_meta_rec(walk *w, const MDB_val *k, const MDB_val *v)
{
	const char *key = k->mv_data;
	size_t kn = k->mv_size;
#define IS(name) (kn == strlen(name) && memcmp(key, name, kn) == 0)
	if (IS("node_id")) {
		w->has_node_id = true;
		if (v->mv_size != 4)
			return problem(w->r, "meta record 'node_id' has %zu bytes, not 4", v->mv_size);
	} else if (IS("lsn") || IS("applied_epoch")) {
		if (v->mv_size != 8)
			return problem(w->r, "meta record '%.*s' has %zu bytes, not 8", (int)kn, key,
			               v->mv_size);
		if (IS("lsn")) {
			w->has_lsn = true;
			w->lsn = os_ld64(v->mv_data);
		}
	} else if (IS("map")) {
		os_map *m = NULL;
		int rc = os_map_decode(v->mv_data, v->mv_size, &m);
		os_map_unref(m);
		if (rc != OSTORE_OK)
			return problem(w->r, "meta record 'map' does not decode: %s", ostore_strerror(rc));
	} else if (IS(NODE_MIG_FROZEN_NAME)) {
		if (v->mv_size != NODE_MIG_FROZEN_SIZE)
			return problem(w->r, "meta record 'frozen' has %zu bytes", v->mv_size);
	}
#undef IS
	return true;
}

static bool check_order(walk *w, const MDB_val *k, const MDB_val *v)
{
	if (k->mv_size < 3 || k->mv_size > OS_KEY_MAX)
		return problem(w->r, "order key of %zu bytes", k->mv_size);
	if (os_key_slot(k->mv_data) >= OSTORE_SLOTS)
		return problem(w->r, "order key with slot %u", os_key_slot(k->mv_data));
	if (v->mv_size < VERSION_SIZE)
		return problem(w->r, "order record of %zu bytes (no version)", v->mv_size);
	uint64_t ver = os_ld64(v->mv_data);
	if (ver == 0 || ver > w->lsn)
		return problem(w->r, "order version %llu outside 1..lsn %llu", (unsigned long long)ver,
		               (unsigned long long)w->lsn);
	if (w->full)
		touch(w, v->mv_data, v->mv_size);
	return true;
}

static bool check_log(walk *w, const MDB_val *k, const MDB_val *v, uint64_t *prev_epoch)
{
	os_log_entry e;
	if (!node_replog_decode(k, v, &e))
		return problem(w->r, "write log record does not decode (key %zu bytes, value %zu bytes)",
		               k->mv_size, v->mv_size);
	if (e.lsn > w->lsn)
		return problem(w->r, "write log record at LSN %llu after the stored lsn %llu",
		               (unsigned long long)e.lsn, (unsigned long long)w->lsn);
	if (e.epoch < *prev_epoch)
		return problem(w->r, "write log epoch goes down at LSN %llu", (unsigned long long)e.lsn);
	*prev_epoch = e.epoch;
	if (w->full)
		touch(w, v->mv_data, v->mv_size);
	return true;
}

/* Visits DB @db: every record (full) or the first and the last (quick). */
static bool walk_db(walk *w, int db)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(w->txn, w->dbi[db], &cur);
	if (rc != 0)
		return lmdb_problem(w, db_names[db], rc);
	MDB_val k, v;
	uint64_t n = 0, prev_epoch = 0;
	bool ok = true;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		n++;
		ok = db == DB_META ? check_meta_rec(w, &k, &v)
		     : db == DB_ORDERS ? check_order(w, &k, &v)
		                       : check_log(w, &k, &v, &prev_epoch);
		if (!ok)
			break;
		if (w->full)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		else if (n == 1 && w->entries[db] > 1)
			rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		else
			break;
	}
	mdb_cursor_close(cur);
	w->r->records += n;
	if (!ok) {
		char what[sizeof(w->r->problem)];
		snprintf(what, sizeof(what), "%s", w->r->problem);
		return problem(w->r, "DB '%s': %s", db_names[db], what);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_problem(w, db_names[db], rc);
	if (w->full && n != w->entries[db])
		return problem(w->r, "DB '%s' has %llu records but its pages say %llu", db_names[db],
		               (unsigned long long)n, (unsigned long long)w->entries[db]);
	return true;
}

static bool walk_env(walk *w)
{
	for (int db = 0; db < NDBS; db++) {
		int rc = mdb_dbi_open(w->txn, db_names[db], 0, &w->dbi[db]);
		if (rc == MDB_NOTFOUND)
			continue; /* a new environment */
		if (rc != 0)
			return lmdb_problem(w, db_names[db], rc);
		MDB_stat s;
		if ((rc = mdb_stat(w->txn, w->dbi[db], &s)) != 0)
			return lmdb_problem(w, db_names[db], rc);
		w->present[db] = true;
		w->entries[db] = s.ms_entries;
	}
	/* The meta records first: the walk of the others needs lsn. */
	if (w->present[DB_META]) {
		bool full = w->full;
		w->full = true; /* a handful of records: always all of them */
		bool ok = walk_db(w, DB_META);
		w->full = full;
		if (!ok)
			return false;
	}
	uint64_t data = w->entries[DB_ORDERS] + w->entries[DB_LOG];
	if (data > 0 && !w->has_lsn)
		return problem(w->r, "meta record 'lsn' missing while %llu records are stored",
		               (unsigned long long)data);
	if (data > 0 && !w->has_node_id)
		return problem(w->r, "meta record 'node_id' missing while %llu records are stored",
		               (unsigned long long)data);
	for (int db = 0; db < NDBS; db++)
		if (db != DB_META && w->present[db] && !walk_db(w, db))
			return false;
	return true;
}

bool node_check_env(MDB_env *env, uint32_t node_id, node_check_mode mode, node_check_report *r)
{
	(void)node_id; /* a directory of another node is refused by store.c with its own message */
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_env_info(env, &info);
	if (rc == 0)
		rc = mdb_env_stat(env, &st);
	if (rc != 0)
		return problem(r, "cannot read the meta page: %s", mdb_strerror(rc));
	struct stat sb;
	if (stat(r->file, &sb) != 0)
		return problem(r, "cannot stat: %s", strerror(errno));
	r->file_bytes = (uint64_t)sb.st_size;
	uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if (r->file_bytes < need)
		return problem(r, "truncated: %llu bytes, but the meta page names page %llu (needs "
		               "%llu bytes)", (unsigned long long)r->file_bytes,
		               (unsigned long long)info.me_last_pgno, (unsigned long long)need);
	if (mode == NODE_CHECK_AUTO)
		mode = r->file_bytes <= NODE_CHECK_AUTO_FULL_MAX ? NODE_CHECK_FULL : NODE_CHECK_QUICK;
	r->mode = mode == NODE_CHECK_FULL ? "full" : mode == NODE_CHECK_QUICK ? "quick" : "none";
	if (mode == NODE_CHECK_NONE)
		return true;
	uint64_t t0 = os_now_ns();
	walk w = {.r = r, .full = mode == NODE_CHECK_FULL};
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &w.txn)) != 0) {
		if (node_check_is_damage(rc))
			return lmdb_problem(&w, "read transaction", rc);
		/* not damage (e.g. no reader slot): the open's own transaction reports it */
		OS_WARN("msg=\"start-up check skipped\" err=\"%s\"", mdb_strerror(rc));
		return true;
	}
	bool ok = walk_env(&w);
	mdb_txn_abort(w.txn); /* also closes the DBI handles it opened */
	r->ns = os_now_ns() - t0;
	return ok;
}
