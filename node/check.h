/*
 * check.h - the node's start-up check of its data directory (internal to node/).
 *
 * Before the node serves (or seeds replicas from) its LMDB environment it checks it, in
 * node_store_open():
 *   1. file: DIR/node.created (written after the first successful open) with no or an
 *      empty DIR/data.mdb = the file was lost or truncated to nothing (LMDB would
 *      silently start a new, empty environment);
 *   2. open: mdb_env_open errors that mean damage (MDB_INVALID, MDB_VERSION_MISMATCH,
 *      MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...);
 *   3. size: data.mdb shorter than the last page the newest meta page names (a
 *      truncated file: touching that page through the memory map would raise SIGBUS);
 *   4. content (quick or full, in a read-only transaction, before anything is written):
 *      the meta records (node_id, lsn, applied_epoch, map, frozen) present when data
 *      exists, of the right sizes, the map decodable; every DB's root and its first and
 *      last records (quick) or a cursor over every record of every DB (full): order
 *      keys and versions (<= lsn), write log records decoded, LSNs <= lsn, epochs never
 *      going down, entry counts equal to what LMDB's page headers say.
 * A damaged directory makes node_store_open fail with OSTORE_ESTORAGE and the report's
 * problem set; main.c logs one error line naming the file and exits NODE_EXIT_DAMAGED.
 * While the check runs, SIGBUS/SIGSEGV (LMDB following a garbage page) print the same
 * kind of line and exit NODE_EXIT_DAMAGED instead of dumping core.
 *
 * Thread safety: start-up only (one thread; the signal guard is process-wide).
 */
#ifndef NODE_CHECK_H
#define NODE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

/** Exit status of orderstore-node when its data directory is damaged (docs/node.md). */
#define NODE_EXIT_DAMAGED 3
/** --check auto: full up to this data file size, quick above it. */
#define NODE_CHECK_AUTO_FULL_MAX (1ull << 30)

typedef enum node_check_mode {
	NODE_CHECK_AUTO = 0, /* full up to NODE_CHECK_AUTO_FULL_MAX, else quick */
	NODE_CHECK_FULL,
	NODE_CHECK_QUICK,
	NODE_CHECK_NONE, /* only the checks that keep the process from crashing (1-3) */
} node_check_mode;

/** What the check found and did. problem is "" when the directory is fine. */
typedef struct node_check_report {
	char file[4200];      /* the damaged file (DIR/data.mdb) */
	char problem[512];    /* one line: what is wrong */
	const char *mode;     /* "full", "quick" or "none": what ran */
	uint64_t file_bytes;  /* size of data.mdb */
	uint64_t records;     /* records visited */
	uint64_t ns;          /* duration of the content check */
} node_check_report;

/** node_check_mode_parse - "auto|full|quick|none" into *@out. Returns 0 or -1. */
int node_check_mode_parse(const char *s, node_check_mode *out);

/** node_check_is_damage - whether LMDB error @rc means the file is damaged (not a
 *  permission, memory or locking problem). Cannot fail. */
bool node_check_is_damage(int rc);

/**
 * node_check_file - step 1 for @dir, before mdb_env_open; fills @r->file and
 * @r->file_bytes. Returns false (and sets @r->problem) when the directory held an
 * environment whose data.mdb is gone or empty. Cannot fail otherwise.
 */
bool node_check_file(const char *dir, node_check_report *r);

/**
 * node_check_env - steps 3 and 4 on @env, opened (mdb_env_open) but with no
 * transaction begun yet. @node_id is the id the node was started with. Returns false
 * and sets @r->problem when the environment is damaged; true when it is fine (or new).
 * Reads only.
 */
bool node_check_env(MDB_env *env, uint32_t node_id, node_check_mode mode, node_check_report *r);

/** node_check_mark - write DIR/node.created ("node_id N\n", @node_id the id whose
 *  record the store's meta DB holds) after a successful open; rewritten when it is
 *  missing or says something else. `orderstore reseed` reads the id from it.
 *  Errors are logged (the next start then skips step 1). */
void node_check_mark(const char *dir, uint32_t node_id);

/** node_check_guard - with @r, turn SIGBUS/SIGSEGV/SIGABRT (LMDB assertions) into a "damaged" line naming
 *  @r->file and exit NODE_EXIT_DAMAGED; with NULL, restore the previous handlers. */
void node_check_guard(const node_check_report *r);

#endif /* NODE_CHECK_H */
