/*
 * lmdb_commit.c - lmdb-commit: how many puts/s LMDB's synced group commit allows on this
 * disk with the node's storage layout, no network at all (issue 5), against the
 * Redis-style baseline (an append-only file, one write + one fdatasync per batch) in
 * the same run.
 *
 *   options ─▶ fresh dir (mkdtemp) ─▶ per env: open ─▶ preload its share of --records
 *     ─▶ E writer threads, one per env, for --seconds:
 *          lmdb: txn begin ─▶ batch x (put "orders" + append "log") ─▶ trim "log"
 *                ─▶ "lsn" ─▶ commit (pwrite pages, fdatasync, meta page via O_DSYNC)
 *          aof:  batch x RESP "SET key value" into one buffer ─▶ write ─▶ fdatasync
 *     ─▶ merge ─▶ one line (+ --json) ─▶ remove the dir
 *
 * The lmdb mode runs the node's own storage code (node/store.c, node/replog.c, linked
 * in), in the order node/writer.c's data_attempt() calls it: node_store_put (key = slot
 * big-endian + ID, value = version + bytes, MDB_RESERVE), node_replog_append (MDB_APPEND),
 * node_replog_trim with the node's default retention (--log-retain-entries 200000,
 * --log-retain-mb 256), node_store_commit ("lsn" meta record, synced mdb_txn_commit;
 * MDB_NOTLS, no MDB_NOSYNC / MDB_NOMETASYNC). What it leaves out is what is not storage:
 * the queue, request-ID dedup, the map check per item, replies.
 * Keys are orderstore-bench's ("bench-%08llu"), split over the envs by slot like an even
 * map (os_map_build_even), so env i holds what node i of a 3-shard cluster holds.
 * Disk figures are /proc/diskstats deltas of the device holding the dir: they include
 * every other process writing to that device during the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "hist.h"
#include "log.h"
#include "map.h"
#include "record_key.h"
#include "replog.h"
#include "slot.h"
#include "store.h"
#include "util.h"

#define MIB (1ull << 20)
#define PRELOAD_BATCH 1000u           /* records per preload commit ... */
#define PRELOAD_BATCH_BYTES (64 * MIB) /* ... while they stay within this */
#define NODE_MAP_SIZE (256 * MIB)      /* orderstore-node --map-size default */
#define NODE_MAX_MAP_SIZE (65536 * MIB) /* --max-map-size default */
#define NODE_RETAIN_BYTES (256 * MIB)   /* --log-retain-mb default */
#define NODE_MAX_READERS 126u
#define EPOCH 1u
#define BATCH_BYTES_MAX (256 * MIB)   /* --batch x (--value-size + 64) */
#define PRELOAD_BYTES_MAX (4096 * MIB) /* --records x (--value-size + 64) */
#define AOF_BYTES_MAX (1024 * MIB)     /* an AOF's writer stops early past this size */

typedef enum { MODE_LMDB, MODE_AOF } lc_mode;

typedef struct lc_cfg {
	lc_mode mode;
	uint64_t envs, batch, records, value_size, seconds, retain_entries;
	const char *parent; /* where the fresh dir is made */
	const char *json_path;
} lc_cfg;

/* One env (or AOF file) and its writer thread. */
typedef struct lc_env {
	const lc_cfg *cfg;
	unsigned idx;
	char path[4200];
	node_store *st; /* lmdb mode */
	int fd;         /* aof mode */
	uint64_t aof_bytes;
	uint64_t *keys; /* record numbers of this env's share */
	size_t nkeys;
	uint64_t lsn;
	uint64_t rng;
	uint8_t *value;
	uint8_t *aof_buf;
	/* results of the timed phase */
	uint64_t commits, puts, ns;
	uint64_t runq_ns; /* run-queue wait of the writer thread in the timed phase */
	ob_hist hist;
	int err; /* OSTORE_* of a failed commit, or an errno for aof (negated) */
	pthread_t tid;
} lc_env;

static atomic_int g_stop; /* set by a failed writer or SIGINT/SIGTERM: writers stop */

/* Ctrl-C ends the timed phase early; the figures so far are printed, the dir removed. */
static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, 1);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: lmdb-commit [--mode lmdb|aof] [options]\n"
	        "  --mode M             lmdb: synced LMDB group commits with the node's layout\n"
	        "                       (default); aof: one append-only file per env, one write +\n"
	        "                       one fdatasync per batch (Redis appendfsync always)\n"
	        "  --envs E             environments / files, one writer thread each (1..64,\n"
	        "                       default 3 = the nodes of a 3-shard cluster)\n"
	        "  --batch N            puts per commit (1..10000, default 21 = 64 callers / 3)\n"
	        "  --records N          preloaded records, split by slot (1..10000000, default\n"
	        "                       10000); each env needs at least one\n"
	        "  --value-size B       value bytes (0..1048576, default 200); --batch x\n"
	        "                       --value-size at most 256 MiB, --records x --value-size\n"
	        "                       at most 4 GiB; an AOF stops its writer at 1 GiB\n"
	        "  --seconds S          timed phase (1..3600, default 5)\n"
	        "  --log-retain-entries N  write log records kept (1..2^40, default 200000, the\n"
	        "                       node's default)\n"
	        "  --dir D              parent of the run's fresh directory (default $TMPDIR or\n"
	        "                       /tmp); the directory is removed at the end\n"
	        "  --json FILE          write the result as JSON\n"
	        "  --help, --version\n"
	        "Output: one line: mode envs batch commits/s puts/s p50/p99 commit latency (one\n"
	        "batch, begin to synced commit), disk write IOs and KB per put, the disk's mean\n"
	        "write and flush times, flushes per commit (n/a when /proc/diskstats lacks the\n"
	        "device), and the writers' run-queue wait per commit (time ready but without a CPU).\n"
	        "Exit: 0 ok, 1 storage or I/O error, 2 usage.\n");
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- disk counters ---- */

typedef struct lc_disk {
	bool found;
	unsigned maj, min;
	char name[256];
} lc_disk;

/* The block device holding @dir: st_dev, which /sys/dev/block must know (a tmpfs or an
 * overlay has no such entry and gives "n/a"). */
static void disk_find(const char *dir, lc_disk *d)
{
	memset(d, 0, sizeof(*d));
	struct stat sb;
	if (stat(dir, &sb) != 0)
		return;
	d->maj = major(sb.st_dev);
	d->min = minor(sb.st_dev);
	char link[128], target[256];
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", d->maj, d->min);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	const char *name = base != NULL ? base + 1 : target;
	memcpy(d->name, name, strlen(name) + 1); /* fits: name is part of target */
	d->found = true;
}

/* The counters of one /proc/diskstats line that the figures use
 * (Documentation/admin-guide/iostats.rst): fields 5, 7, 8 and, since Linux 5.5, 16, 17. */
typedef struct lc_diskstat {
	uint64_t writes;    /* write requests completed */
	uint64_t sectors;   /* 512-byte sectors written */
	uint64_t write_ms;  /* time the write requests took, summed */
	uint64_t flushes;   /* flush requests completed (0 before 5.5) */
	uint64_t flush_ms;  /* time the flushes took, summed */
	bool has_flush;
} lc_diskstat;

/* Reads @d's line of /proc/diskstats into @out. Returns false when it is not there. */
static bool disk_read(const lc_disk *d, lc_diskstat *out)
{
	if (!d->found)
		return false;
	FILE *f = fopen("/proc/diskstats", "r");
	if (f == NULL)
		return false;
	char line[512];
	bool ok = false;
	while (!ok && fgets(line, sizeof(line), f) != NULL) {
		unsigned maj, min;
		int at = 0;
		if (sscanf(line, "%u %u %*s%n", &maj, &min, &at) != 2 || maj != d->maj || min != d->min)
			continue;
		uint64_t v[17] = {0};
		int n = 0;
		for (char *p = line + at, *end; n < 17; p = end, n++) {
			v[n] = strtoull(p, &end, 10);
			if (end == p)
				break;
		}
		*out = (lc_diskstat){.writes = v[4], .sectors = v[6], .write_ms = v[7],
		                     .flushes = v[15], .flush_ms = v[16], .has_flush = n >= 17};
		ok = n >= 11;
	}
	fclose(f);
	return ok;
}

/* Nanoseconds the calling thread waited on a run queue for a CPU (schedstat field 2),
 * 0 when the kernel does not say (no CONFIG_SCHEDSTATS). */
static uint64_t runq_wait_ns(void)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	unsigned long long oncpu = 0, wait = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &oncpu, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

/* ---- lmdb mode ---- */

/* One transaction of @n puts of records @ks[0..n) at the env's next LSNs, as the node's
 * writer does it. EFULL (map full) grows the map and redoes it, like run_data_batch().
 * Returns OSTORE_OK or the failure. */
static int lmdb_txn(lc_env *e, const uint64_t *ks, size_t n)
{
	const lc_cfg *c = e->cfg;
	for (;;) {
		MDB_txn *txn;
		int rc = node_store_write_begin(e->st, &txn);
		if (rc != OSTORE_OK)
			return rc;
		uint64_t lsn = e->lsn;
		for (size_t i = 0; i < n && rc == OSTORE_OK; i++) {
			char id[OB_KEY_MAX];
			size_t id_len = ob_record_key(id, ks[i]);
			uint16_t slot = os_slot_of(id, id_len);
			rc = node_store_put(e->st, txn, slot, (const uint8_t *)id, id_len, lsn + 1, e->value,
			                    c->value_size);
			if (rc != OSTORE_OK)
				break;
			lsn++;
			uint8_t key[OS_KEY_MAX];
			os_log_entry le = {.lsn = lsn,
			                   .epoch = EPOCH,
			                   .op = OSTORE_OP_PUT,
			                   .key = key,
			                   .key_len = (uint16_t)os_key_make(key, slot, id, id_len),
			                   .value = e->value,
			                   .value_len = (uint32_t)c->value_size};
			rc = node_replog_append(e->st, txn, &le);
		}
		if (rc == OSTORE_OK)
			rc = node_replog_trim(e->st, txn, c->retain_entries, NODE_RETAIN_BYTES, UINT64_MAX);
		if (rc == OSTORE_OK)
			rc = node_store_commit(e->st, txn, lsn, EPOCH);
		else
			node_store_abort(e->st, txn);
		if (rc == OSTORE_OK) {
			e->lsn = lsn;
			return OSTORE_OK;
		}
		if (rc != OSTORE_EFULL || (rc = node_store_grow(e->st)) != OSTORE_OK)
			return rc;
	}
}

static int lmdb_open(lc_env *e, const os_map *map)
{
	node_store_opts so = {.dir = e->path,
	                      .node_id = e->idx,
	                      .map_size = NODE_MAP_SIZE,
	                      .max_map_size = NODE_MAX_MAP_SIZE,
	                      .max_readers = NODE_MAX_READERS,
	                      .check = NODE_CHECK_NONE};
	os_map *stored = NULL;
	int rc = node_store_open(&so, &e->st, &stored);
	os_map_unref(stored);
	if (rc != OSTORE_OK)
		return rc;
	MDB_txn *txn;
	if ((rc = node_store_write_begin(e->st, &txn)) != OSTORE_OK)
		return rc;
	if ((rc = node_store_put_map(e->st, txn, map)) != OSTORE_OK) {
		node_store_abort(e->st, txn);
		return rc;
	}
	return node_store_commit(e->st, txn, e->lsn, EPOCH);
}

/* ---- aof mode ---- */

/* Appends Redis's AOF form of "SET @id <value>" (RESP) at @p; returns the bytes. */
static size_t aof_record(uint8_t *p, const char *id, size_t id_len, const uint8_t *v, size_t vlen)
{
	int h = sprintf((char *)p, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", id_len, id, vlen);
	memcpy(p + h, v, vlen);
	memcpy(p + h + vlen, "\r\n", 2);
	return (size_t)h + vlen + 2;
}

static size_t aof_record_max(const lc_cfg *c)
{
	return 128 + OB_KEY_MAX + c->value_size; /* RESP framing: < 100 bytes with two lengths */
}

/* One batch: the records in one buffer, one write(), one fdatasync(). Returns 0 or -errno. */
static int aof_batch(lc_env *e, const uint64_t *ks, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		char id[OB_KEY_MAX];
		size_t id_len = ob_record_key(id, ks[i]);
		len += aof_record(e->aof_buf + len, id, id_len, e->value, e->cfg->value_size);
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(e->fd, e->aof_buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	e->aof_bytes += len;
	return fdatasync(e->fd) == 0 ? 0 : -errno;
}

/* ---- both ---- */

static int run_batch(lc_env *e, const uint64_t *ks, size_t n)
{
	return e->cfg->mode == MODE_LMDB ? lmdb_txn(e, ks, n) : aof_batch(e, ks, n);
}

static void *writer_main(void *arg)
{
	lc_env *e = arg;
	size_t n = (size_t)e->cfg->batch;
	uint64_t *ks = malloc(n * sizeof(*ks));
	if (ks == NULL) {
		e->err = OSTORE_ENOMEM;
		return NULL;
	}
	uint64_t deadline = os_now_ns() + e->cfg->seconds * 1000000000ull;
	uint64_t runq0 = runq_wait_ns();
	uint64_t start = os_now_ns(), now = start;
	while (!atomic_load(&g_stop) && now < deadline && e->aof_bytes < AOF_BYTES_MAX) {
		for (size_t i = 0; i < n; i++)
			ks[i] = e->keys[xorshift(&e->rng) % e->nkeys];
		uint64_t t0 = now;
		int rc = run_batch(e, ks, n);
		now = os_now_ns();
		if (rc != 0) {
			e->err = rc;
			atomic_store(&g_stop, 1);
			break;
		}
		ob_hist_add(&e->hist, now - t0);
		e->commits++;
		e->puts += n;
	}
	e->ns = now - start;
	if (e->aof_bytes >= AOF_BYTES_MAX)
		fprintf(stderr, "lmdb-commit: %s reached %llu MiB: its writer stopped after %.1f s "
		        "(rates are over the time it ran)\n", e->path, AOF_BYTES_MAX / MIB,
		        (double)e->ns / 1e9);
	e->runq_ns = runq_wait_ns() - runq0;
	free(ks);
	return NULL;
}

static void report_err(const lc_env *e)
{
	if (e->err < 0)
		fprintf(stderr, "lmdb-commit: %s: %s\n", e->path, strerror(-e->err));
	else
		fprintf(stderr, "lmdb-commit: %s: %s\n", e->path, ostore_strerror(e->err));
}

/* Opens env @e and writes its share of the records in synced batches of @pb. */
static int env_setup(lc_env *e, const os_map *map)
{
	const lc_cfg *c = e->cfg;
	size_t pb = PRELOAD_BATCH_BYTES / aof_record_max(c);
	pb = pb < 1 ? 1 : pb > PRELOAD_BATCH ? PRELOAD_BATCH : pb;
	int rc = 0;
	if (c->mode == MODE_LMDB) {
		rc = lmdb_open(e, map);
		for (size_t i = 0; rc == OSTORE_OK && i < e->nkeys; i += pb)
			rc = lmdb_txn(e, e->keys + i, e->nkeys - i < pb ? e->nkeys - i : pb);
		return rc;
	}
	e->fd = open(e->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (e->fd < 0)
		return -errno;
	if ((e->aof_buf = malloc((c->batch > pb ? c->batch : pb) * aof_record_max(c))) == NULL)
		return OSTORE_ENOMEM;
	for (size_t i = 0; rc == 0 && i < e->nkeys; i += pb)
		rc = aof_batch(e, e->keys + i, e->nkeys - i < pb ? e->nkeys - i : pb);
	e->aof_bytes = 0; /* AOF_BYTES_MAX counts the timed phase */
	return rc;
}

static void env_close(lc_env *e)
{
	node_store_close(e->st);
	if (e->fd >= 0)
		close(e->fd);
	free(e->keys);
	free(e->value);
	free(e->aof_buf);
}

/* Splits record numbers 0..records-1 over the envs by slot, like an even map of
 * cfg->envs shards. Returns OSTORE_OK, OSTORE_ENOMEM, or OSTORE_EINVAL when an env got no
 * record (too few --records). */
static int split_records(const lc_cfg *c, lc_env *envs, os_map **map_out)
{
	const char *addrs[64];
	char buf[64][32];
	for (unsigned i = 0; i < c->envs; i++) {
		snprintf(buf[i], sizeof(buf[i]), "tcp://127.0.0.1:%u", 7000 + i);
		addrs[i] = buf[i];
	}
	os_map *m = os_map_build_even((uint16_t)c->envs, addrs, 1);
	if (m == NULL)
		return OSTORE_ENOMEM;
	*map_out = m;
	for (int pass = 0; pass < 2; pass++) { /* count, then fill */
		for (uint64_t k = 0; k < c->records; k++) {
			char id[OB_KEY_MAX];
			size_t n = ob_record_key(id, k);
			lc_env *e = &envs[m->slot_shard[os_slot_of(id, n)]];
			if (pass == 1)
				e->keys[e->nkeys] = k;
			e->nkeys++;
		}
		for (unsigned i = 0; pass == 0 && i < c->envs; i++) {
			if (envs[i].nkeys == 0)
				return OSTORE_EINVAL;
			if ((envs[i].keys = malloc(envs[i].nkeys * sizeof(uint64_t))) == NULL)
				return OSTORE_ENOMEM;
			envs[i].nkeys = 0;
		}
	}
	return OSTORE_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "lmdb-commit: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

static int parse_args(int argc, char **argv, lc_cfg *c)
{
	enum { O_MODE = 256, O_ENVS, O_BATCH, O_RECORDS, O_VSIZE, O_SECONDS, O_RETAIN, O_DIR,
	       O_JSON, O_HELP, O_VERSION };
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, O_MODE},
		{"envs", required_argument, NULL, O_ENVS},
		{"batch", required_argument, NULL, O_BATCH},
		{"records", required_argument, NULL, O_RECORDS},
		{"value-size", required_argument, NULL, O_VSIZE},
		{"seconds", required_argument, NULL, O_SECONDS},
		{"log-retain-entries", required_argument, NULL, O_RETAIN},
		{"dir", required_argument, NULL, O_DIR},
		{"json", required_argument, NULL, O_JSON},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	int opt, li = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		int bad = 0;
		switch (opt) {
		case O_MODE:
			if (strcmp(optarg, "lmdb") == 0)
				c->mode = MODE_LMDB;
			else if (strcmp(optarg, "aof") == 0)
				c->mode = MODE_AOF;
			else
				bad = 1;
			break;
		case O_ENVS: bad = os_parse_u64(optarg, 1, 64, &c->envs); break;
		case O_BATCH: bad = os_parse_u64(optarg, 1, 10000, &c->batch); break;
		case O_RECORDS: bad = os_parse_u64(optarg, 1, 10000000, &c->records); break;
		case O_VSIZE: bad = os_parse_u64(optarg, 0, MIB, &c->value_size); break;
		case O_SECONDS: bad = os_parse_u64(optarg, 1, 3600, &c->seconds); break;
		case O_RETAIN: bad = os_parse_u64(optarg, 1, 1ull << 40, &c->retain_entries); break;
		case O_DIR: c->parent = optarg; break;
		case O_JSON: c->json_path = optarg; break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("lmdb-commit %s\n", ostore_version_string()); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "lmdb-commit: bad value '%s' for --%s (see --help)\n", optarg,
			        longopts[li].name);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lmdb-commit: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* Bounds on what one run may write, so a typo cannot fill the disk. */
	if (c->batch * (c->value_size + 64) > BATCH_BYTES_MAX) {
		fprintf(stderr, "lmdb-commit: --batch x --value-size must stay within %llu MiB per "
		        "batch\n", BATCH_BYTES_MAX / MIB);
		usage(stderr);
		return 2;
	}
	if (c->records * (c->value_size + 64) > PRELOAD_BYTES_MAX) {
		fprintf(stderr, "lmdb-commit: --records x --value-size must stay within %llu MiB\n",
		        PRELOAD_BYTES_MAX / MIB);
		usage(stderr);
		return 2;
	}
	return -1; /* go on */
}

/* A figure that may be unknown ("n/a" on the line, null in the JSON). */
typedef struct lc_fig {
	const char *name; /* key on the line and in the JSON */
	bool known;
	double v;
} lc_fig;

enum { F_IOS, F_KB, F_WRITE_MS, F_FLUSH_MS, F_FLUSHES, F_RUNQ, F_COUNT };

/* The summed result of the timed phase. */
typedef struct lc_result {
	uint64_t commits, puts, ns, runq_ns;
	ob_hist hist;
	lc_fig fig[F_COUNT];
} lc_result;

/* The disk and scheduler figures from the counters before (@a) and after (@b). */
static void result_figures(lc_result *r, bool disk, const lc_diskstat *a, const lc_diskstat *b)
{
	uint64_t w = b->writes - a->writes, fl = b->flushes - a->flushes;
	double puts = (double)r->puts;
	lc_fig f[F_COUNT] = {
		[F_IOS] = {"write_ios_per_put", disk, (double)w / puts},
		[F_KB] = {"write_kb_per_put", disk, (double)(b->sectors - a->sectors) / 2.0 / puts},
		[F_WRITE_MS] = {"write_ms_per_io", disk && w > 0,
		                (double)(b->write_ms - a->write_ms) / (double)(w > 0 ? w : 1)},
		[F_FLUSH_MS] = {"flush_ms_per_flush", disk && b->has_flush && fl > 0,
		                (double)(b->flush_ms - a->flush_ms) / (double)(fl > 0 ? fl : 1)},
		[F_FLUSHES] = {"flushes_per_commit", disk && b->has_flush,
		               (double)fl / (double)r->commits},
		[F_RUNQ] = {"runq_wait_us_per_commit", true,
		            (double)r->runq_ns / 1e3 / (double)r->commits},
	};
	memcpy(r->fig, f, sizeof(f));
}

static int write_json(const lc_cfg *c, const lc_result *r, const lc_disk *d)
{
	double secs = (double)r->ns / 1e9;
	json_t *o = json_pack(
	        "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:f,s:f,s:f,s:f,s:s*}", "mode",
	        c->mode == MODE_LMDB ? "lmdb" : "aof", "envs", (json_int_t)c->envs, "batch",
	        (json_int_t)c->batch, "records", (json_int_t)c->records, "value_size",
	        (json_int_t)c->value_size, "log_retain_entries", (json_int_t)c->retain_entries,
	        "commits", (json_int_t)r->commits, "puts", (json_int_t)r->puts, "seconds", secs,
	        "seconds_requested", (json_int_t)c->seconds, "commits_per_sec",
	        (double)r->commits / secs, "puts_per_sec", (double)r->puts / secs, "commit_p50_us",
	        (double)ob_hist_quantile(&r->hist, 0.50) / 1e3, "commit_p99_us",
	        (double)ob_hist_quantile(&r->hist, 0.99) / 1e3, "disk_device",
	        d->found ? d->name : NULL);
	for (int i = 0; o != NULL && i < F_COUNT; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s%s", i == F_RUNQ ? "" : "disk_", r->fig[i].name);
		json_object_set_new(o, key, r->fig[i].known ? json_real(r->fig[i].v) : json_null());
	}
	if (o == NULL || json_dump_file(o, c->json_path, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "lmdb-commit: cannot write %s\n", c->json_path);
		json_decref(o);
		return 1;
	}
	json_decref(o);
	return 0;
}

static void print_line(const lc_cfg *c, const lc_result *r)
{
	double secs = (double)r->ns / 1e9;
	printf("mode=%s envs=%llu batch=%llu commits_per_sec=%.0f puts_per_sec=%.0f "
	       "commit_p50_us=%.0f commit_p99_us=%.0f",
	       c->mode == MODE_LMDB ? "lmdb" : "aof", (unsigned long long)c->envs,
	       (unsigned long long)c->batch, (double)r->commits / secs, (double)r->puts / secs,
	       (double)ob_hist_quantile(&r->hist, 0.50) / 1e3,
	       (double)ob_hist_quantile(&r->hist, 0.99) / 1e3);
	for (int i = 0; i < F_COUNT; i++) {
		if (r->fig[i].known)
			printf(" %s=%.2f", r->fig[i].name, r->fig[i].v);
		else
			printf(" %s=n/a", r->fig[i].name);
	}
	printf("\n");
}

/* Setup, timed phase, results. @dir exists and is empty; the caller removes it. */
static int run(const lc_cfg *c, const char *dir)
{
	lc_env *envs = calloc(c->envs, sizeof(*envs));
	os_map *map = NULL;
	if (envs == NULL)
		return 1;
	for (unsigned i = 0; i < c->envs; i++) {
		lc_env *e = &envs[i];
		e->cfg = c;
		e->idx = i;
		e->fd = -1;
		e->rng = 0x9E3779B97F4A7C15ull * (i + 1);
		ob_hist_init(&e->hist);
		snprintf(e->path, sizeof(e->path), c->mode == MODE_LMDB ? "%s/env%u" : "%s/env%u.aof",
		         dir, i);
	}
	int status = 0, rc = split_records(c, envs, &map);
	if (rc == OSTORE_EINVAL) {
		fprintf(stderr, "lmdb-commit: --records %llu leaves an env without records; use more\n",
		        (unsigned long long)c->records);
		status = 2;
	} else if (rc != OSTORE_OK) {
		fprintf(stderr, "lmdb-commit: out of memory\n");
		status = 1;
	}
	for (unsigned i = 0; status == 0 && i < c->envs; i++) {
		lc_env *e = &envs[i];
		if ((e->value = malloc(c->value_size + 1)) == NULL) {
			e->err = OSTORE_ENOMEM;
		} else {
			memset(e->value, 'v', c->value_size + 1);
			e->err = env_setup(e, map);
		}
		if (e->err != 0) {
			report_err(e);
			status = 1;
		}
	}
	lc_disk disk;
	disk_find(dir, &disk);
	lc_diskstat ds0 = {0}, ds1 = {0};
	bool have_disk = status == 0 && disk_read(&disk, &ds0);
	unsigned started = 0;
	for (; status == 0 && started < c->envs; started++)
		if (pthread_create(&envs[started].tid, NULL, writer_main, &envs[started]) != 0) {
			fprintf(stderr, "lmdb-commit: cannot start a writer thread\n");
			atomic_store(&g_stop, 1);
			status = 1;
		}
	lc_result r = {0};
	ob_hist_init(&r.hist);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(envs[i].tid, NULL);
		if (envs[i].err != 0) {
			report_err(&envs[i]);
			status = 1;
		}
		r.commits += envs[i].commits;
		r.puts += envs[i].puts;
		r.runq_ns += envs[i].runq_ns;
		r.ns = envs[i].ns > r.ns ? envs[i].ns : r.ns;
		ob_hist_merge(&r.hist, &envs[i].hist);
	}
	have_disk = have_disk && disk_read(&disk, &ds1);
	if (status == 0 && r.puts > 0) {
		result_figures(&r, have_disk, &ds0, &ds1);
		print_line(c, &r);
		if (c->json_path != NULL)
			status = write_json(c, &r, &disk);
	} else if (status == 0) {
		fprintf(stderr, "lmdb-commit: no batch committed\n");
		status = 1;
	}
	for (unsigned i = 0; i < c->envs; i++)
		env_close(&envs[i]);
	os_map_unref(map);
	free(envs);
	return status;
}

int main(int argc, char **argv)
{
	lc_cfg c = {.mode = MODE_LMDB,
	            .envs = 3,
	            .batch = 21,
	            .records = 10000,
	            .value_size = 200,
	            .seconds = 5,
	            .retain_entries = 200000};
	int st = parse_args(argc, argv, &c);
	if (st >= 0)
		return st;
	os_log_set_level(OS_LOG_WARN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (c.parent == NULL)
		c.parent = getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] != '\0' ? getenv("TMPDIR")
		                                                                   : "/tmp";
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/lmdb-commit.XXXXXX", c.parent) >= sizeof(dir) - 64) {
		fprintf(stderr, "lmdb-commit: --dir path too long\n");
		return 2;
	}
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "lmdb-commit: cannot create a directory in %s: %s\n", c.parent,
		        strerror(errno));
		return errno == ENOENT || errno == ENOTDIR ? 2 : 1;
	}
	st = run(&c, dir);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return st;
}
