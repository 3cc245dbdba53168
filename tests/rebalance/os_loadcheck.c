/*
 * os_loadcheck.c - os-loadcheck: steady write + read load through liborderstore that
 * checks, while it runs, that no acknowledged write is lost or changed (for the online
 * rebalance tests: slots move between shards while this runs).
 *
 *   writers (N threads) ── ostore_put(P-w<k>-<i>) ── OK ──▶ acked set (memory) + --acked FILE
 *                                                              │ random acked order
 *   readers (N threads) ── ostore_get ◀────────────────────────┘
 *        └─▶ by status; ENOTFOUND = notfound_acked; other value = wrong_value
 *   main thread: waits for --seconds / --max-ops / SIGTERM / SIGINT, flushes FILE each
 *   second, joins the threads, writes the JSON --report.
 *
 * Updates (--updates PCT, for the chaos test): that share of a writer's puts re-put one
 * of its OWN acknowledged orders with the next (higher) counter. Only that writer ever
 * writes the ID, one put at a time, so the counters of one ID grow with its puts. A put
 * that fails has an unknown outcome (it may still land later: a paused router forwards it
 * after the client gave up), so the writer retires that ID: it never writes it again, and
 * no later acknowledgement of the ID can be overwritten by that earlier put. Readers
 * check monotonic reads per client: a read of an ID never returns a counter lower than
 * the last one acknowledged to this process before the read began (stale_reads); a
 * higher, well-formed counter is a newer write of the same writer (newer_reads).
 *
 * Design: one client handle shared by every thread (the synchronous API: one request in
 * flight per thread, so an acknowledgement is recorded before any reader can pick the
 * order). The acked set is an array under a read-write lock; an entry keeps what the value
 * is rebuilt from (writer, index, counter) and the version. Each thread keeps its own
 * latency histograms (bench/hist.h) and status counters; main merges them after the join.
 * A thread stops at its next operation once the stop flag is set; each operation ends
 * within the client's bound (timeout x (retries + 1)), so the stop is bounded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <orderstore.h>

#include "hist.h"
#include "util.h"

#define LC_MAX_ROUTERS 16
#define LC_MAX_THREADS 256
#define LC_FIRST_IDS 20   /* ids kept for the report per kind of anomaly */
#define LC_ID_MAX 200     /* --prefix is at most 160 bytes: room for -w<k>-<i> */

typedef struct lc_opts {
	const char *routers[LC_MAX_ROUTERS];
	size_t nrouters;
	const char *prefix;
	uint64_t writers, readers, seconds, max_ops, value_bytes, updates;
	const char *acked_path, *report_path;
} lc_opts;

/* One acknowledged write. Its ID and value are rebuilt from writer, index and counter. */
typedef struct lc_acked {
	uint32_t writer;
	uint64_t index, counter, version;
} lc_acked;

/* Per-thread results, merged by main after the join. */
typedef struct lc_thread {
	struct lc_run *run;
	pthread_t thr;
	unsigned k; /* writer or reader number */
	bool writer;
	uint64_t rng;
	uint64_t ops, acked;
	uint64_t updates, updates_acked, retired; /* writers, --updates */
	uint64_t by_status[OSTORE_STATUS_COUNT];
	uint64_t version_differs, newer_reads;
	ob_hist lat; /* put latency (writers) or get latency (readers) */
} lc_thread;

/* Anomalies: count and the first IDs. */
typedef struct lc_anomaly {
	uint64_t count;
	size_t nids;
	char ids[LC_FIRST_IDS][LC_ID_MAX];
} lc_anomaly;

typedef struct lc_run {
	const lc_opts *o;
	ostore_client *c;
	atomic_bool stop;
	atomic_bool failed; /* a thread could not run (out of memory) */
	atomic_uint_fast64_t ops_started;
	atomic_uint_fast64_t counter; /* value counter, shared by the writers */
	pthread_rwlock_t acked_lock;
	lc_acked *acked;
	size_t nacked, capacked;
	bool acked_oom;
	pthread_mutex_t file_lock; /* acked file; anomalies */
	FILE *acked_file;
	bool file_error;
	lc_anomaly notfound, wrong, stale;
} lc_run;

static const char usage_text[] =
	"usage: os-loadcheck --router URL [--router URL ...] --prefix P --writers N --readers N\n"
	"                    --seconds S --max-ops N --value-bytes B --acked FILE --report FILE\n"
	"\n"
	"Puts fresh orders and reads acknowledged ones back through liborderstore, checking\n"
	"that every acknowledged write stays readable with its value (e.g. while a rebalance\n"
	"moves slots between shards).\n"
	"\n"
	"  --router URL      a router (nng URL), repeatable up to 16; all share one client\n"
	"  --prefix P        order IDs are P-w<k>-<i> (writer k, its i-th order); default lc\n"
	"  --writers N       writer threads, 0..256 (default 4): each puts fresh orders, one\n"
	"                    at a time; every acknowledged put is recorded in memory and FILE\n"
	"  --readers N       reader threads, 0..256 (default 4): each gets a random order\n"
	"                    already acknowledged and compares the value\n"
	"  --seconds S       run for S seconds, 1..86400 (default 10)\n"
	"  --max-ops N       stop after N operations (puts + gets) in all; 0 = no bound (default)\n"
	"  --value-bytes B   value size, 1..1048576 (default 64): 'ID|c=COUNTER|' padded with\n"
	"                    '.' to B bytes (never shorter than that prefix)\n"
	"  --updates PCT     0..100 (default 0): share of a writer's puts that re-put one of\n"
	"                    its own acknowledged orders with a higher counter (an order whose\n"
	"                    put failed is never written again); readers then also check\n"
	"                    monotonic reads: never a counter below the last one acknowledged\n"
	"                    to this process for that order\n"
	"  --acked FILE      every acknowledged write, one line each: ID<TAB>VALUE<TAB>VERSION\n"
	"                    (an updated order has several lines, the last is the newest)\n"
	"  --report FILE     JSON report, written at the end (also after SIGTERM / SIGINT):\n"
	"                    writes, writes_acked, write_errors{status:count}, reads,\n"
	"                    reads_by_status{status:count}, read_errors{status:count},\n"
	"                    notfound_acked{count,first_ids}, wrong_value{count,first_ids},\n"
	"                    version_differs (reads of the right value at another version:\n"
	"                    information only), updates, updates_acked, retired_ids,\n"
	"                    stale_reads{count,first_ids} (counter below the last acked one),\n"
	"                    newer_reads (a newer write seen: information only),\n"
	"                    latency_us{put,get}{count,p50,p99,max},\n"
	"                    seconds, stopped_by (seconds | max_ops | signal | error),\n"
	"                    acked_memory_full (true: some acked orders were not read back)\n"
	"\n"
	"Client: timeout 5000 ms per attempt, 2 retries. SIGTERM / SIGINT stop the run early;\n"
	"the report is still written. Exit status: 0 the run happened and the report was\n"
	"written (read it for the verdict), 1 cannot open the client or write the files,\n"
	"2 usage error.\n";

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "os-loadcheck: %s%s%s\nTry 'os-loadcheck --help'.\n", msg,
	        arg != NULL ? ": " : "", arg != NULL ? arg : "");
	return 2;
}

/* Parse argv into @o. Returns -1 to go on, or the exit status (0 after --help). */
static int parse_opts(int argc, char **argv, lc_opts *o)
{
	*o = (lc_opts){.prefix = "lc", .writers = 4, .readers = 4, .seconds = 10, .value_bytes = 64};
	enum { O_ROUTER = 256, O_PREFIX, O_WRITERS, O_READERS, O_SECONDS, O_MAXOPS, O_VBYTES,
	       O_ACKED, O_REPORT, O_UPDATES, O_HELP };
	static const struct option longs[] = {
		{"router", required_argument, NULL, O_ROUTER},
		{"prefix", required_argument, NULL, O_PREFIX},
		{"writers", required_argument, NULL, O_WRITERS},
		{"readers", required_argument, NULL, O_READERS},
		{"seconds", required_argument, NULL, O_SECONDS},
		{"max-ops", required_argument, NULL, O_MAXOPS},
		{"value-bytes", required_argument, NULL, O_VBYTES},
		{"acked", required_argument, NULL, O_ACKED},
		{"report", required_argument, NULL, O_REPORT},
		{"updates", required_argument, NULL, O_UPDATES},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	static const struct {
		int opt;
		const char *name;
		uint64_t min, max;
		size_t off;
	} nums[] = {
		{O_WRITERS, "--writers", 0, LC_MAX_THREADS, offsetof(lc_opts, writers)},
		{O_READERS, "--readers", 0, LC_MAX_THREADS, offsetof(lc_opts, readers)},
		{O_SECONDS, "--seconds", 1, 86400, offsetof(lc_opts, seconds)},
		{O_MAXOPS, "--max-ops", 0, UINT64_MAX, offsetof(lc_opts, max_ops)},
		{O_VBYTES, "--value-bytes", 1, OSTORE_DEFAULT_MAX_VALUE, offsetof(lc_opts, value_bytes)},
		{O_UPDATES, "--updates", 0, 100, offsetof(lc_opts, updates)},
	};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		bool done = false;
		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			if (nums[i].opt != c)
				continue;
			uint64_t v;
			if (os_parse_u64(optarg, nums[i].min, nums[i].max, &v) != 0)
				return usage_error("bad number for", nums[i].name);
			*(uint64_t *)((char *)o + nums[i].off) = v;
			done = true;
		}
		if (done)
			continue;
		switch (c) {
		case O_ROUTER:
			if (o->nrouters == LC_MAX_ROUTERS)
				return usage_error("too many --router", NULL);
			o->routers[o->nrouters++] = optarg;
			break;
		case O_PREFIX:
			if (optarg[0] == '\0' || strlen(optarg) > 160)
				return usage_error("--prefix must be 1..160 bytes", NULL);
			o->prefix = optarg;
			break;
		case O_ACKED:
			o->acked_path = optarg;
			break;
		case O_REPORT:
			o->report_path = optarg;
			break;
		case 'h':
		case O_HELP:
			fputs(usage_text, stdout);
			return 0;
		case ':':
			return usage_error("missing value for", argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (o->nrouters == 0)
		return usage_error("--router URL is required", NULL);
	if (o->acked_path == NULL || o->report_path == NULL)
		return usage_error("--acked FILE and --report FILE are required", NULL);
	if (o->writers + o->readers == 0)
		return usage_error("no --writers and no --readers", NULL);
	return -1;
}

static int make_id(const lc_opts *o, uint32_t writer, uint64_t index, char *buf)
{
	return snprintf(buf, LC_ID_MAX, "%s-w%" PRIu32 "-%" PRIu64, o->prefix, writer, index);
}

/* The value of (writer, index, counter) into @buf (o->value_bytes + LC_ID_MAX + 32
 * bytes); returns its length. */
static size_t make_value(const lc_opts *o, uint32_t writer, uint64_t index, uint64_t counter,
                         char *buf)
{
	char id[LC_ID_MAX];
	make_id(o, writer, index, id);
	int n = sprintf(buf, "%s|c=%" PRIu64 "|", id, counter);
	size_t len = (size_t)n;
	if (len < o->value_bytes) {
		memset(buf + len, '.', o->value_bytes - len);
		len = o->value_bytes;
	}
	return len;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Take one operation from the --max-ops budget; false (and stop set) when none is left. */
static bool take_op(lc_run *run)
{
	if (atomic_load(&run->stop))
		return false;
	uint64_t max = run->o->max_ops;
	if (max != 0 && atomic_fetch_add(&run->ops_started, 1) >= max) {
		atomic_store(&run->stop, true);
		return false;
	}
	return true;
}

static void count_status(lc_thread *t, ostore_status st)
{
	if ((int)st >= 0 && st < OSTORE_STATUS_COUNT)
		t->by_status[st]++;
}

static void note_anomaly(lc_run *run, lc_anomaly *a, const char *id)
{
	pthread_mutex_lock(&run->file_lock);
	a->count++;
	if (a->nids < LC_FIRST_IDS)
		snprintf(a->ids[a->nids++], LC_ID_MAX, "%s", id);
	pthread_mutex_unlock(&run->file_lock);
}

/* Append the line of an acknowledged write to the --acked file. */
static void write_acked_line(lc_run *run, const char *id, const char *val, size_t vlen,
                             uint64_t version)
{
	pthread_mutex_lock(&run->file_lock);
	if (fprintf(run->acked_file, "%s\t%.*s\t%" PRIu64 "\n", id, (int)vlen, val, version) < 0)
		run->file_error = true;
	pthread_mutex_unlock(&run->file_lock);
}

/* Record a fresh acknowledged write; returns its position in run->acked, or SIZE_MAX
 * when memory ran out (it is still in the file; readers just do not pick it). */
static size_t record_acked(lc_run *run, const lc_acked *e, const char *id, const char *val,
                           size_t vlen)
{
	size_t pos = SIZE_MAX;
	pthread_rwlock_wrlock(&run->acked_lock);
	if (run->nacked == run->capacked) {
		size_t cap = run->capacked ? run->capacked * 2 : 4096;
		lc_acked *a = realloc(run->acked, cap * sizeof(*a));
		if (a != NULL) {
			run->acked = a;
			run->capacked = cap;
		}
	}
	if (run->nacked < run->capacked) {
		pos = run->nacked;
		run->acked[run->nacked++] = *e;
	} else {
		run->acked_oom = true;
	}
	pthread_rwlock_unlock(&run->acked_lock);
	write_acked_line(run, id, val, vlen, e->version);
	return pos;
}

/* A writer's own acknowledged orders that it may still update (positions in run->acked). */
typedef struct lc_own {
	size_t *pos;
	size_t n, cap;
} lc_own;

static void own_add(lc_own *own, size_t pos)
{
	if (pos == SIZE_MAX)
		return;
	if (own->n == own->cap) {
		size_t cap = own->cap ? own->cap * 2 : 256;
		size_t *p = realloc(own->pos, cap * sizeof(*p));
		if (p == NULL)
			return; /* not updatable then: fresh puts go on */
		own->pos = p;
		own->cap = cap;
	}
	own->pos[own->n++] = pos;
}

/* One update: re-put own order own->pos[k] with @counter. On an acknowledgement the
 * entry readers pick gets the new counter; on a failure the order is retired. */
static void update_one(lc_thread *t, lc_own *own, size_t k, uint64_t counter, char *id,
                       char *val)
{
	lc_run *run = t->run;
	const lc_opts *o = run->o;
	size_t pos = own->pos[k];
	pthread_rwlock_rdlock(&run->acked_lock);
	lc_acked e = run->acked[pos];
	pthread_rwlock_unlock(&run->acked_lock);
	int idlen = make_id(o, e.writer, e.index, id);
	size_t vlen = make_value(o, e.writer, e.index, counter, val);
	uint64_t version = 0;
	uint64_t t0 = os_now_ns();
	ostore_status st = ostore_put(run->c, id, (size_t)idlen, val, vlen, &version);
	ob_hist_add(&t->lat, os_now_ns() - t0);
	t->ops++;
	t->updates++;
	count_status(t, st);
	if (st != OSTORE_OK) {
		/* Unknown outcome: never write this ID again (see the top of the file). */
		own->pos[k] = own->pos[--own->n];
		t->retired++;
		return;
	}
	t->acked++;
	t->updates_acked++;
	pthread_rwlock_wrlock(&run->acked_lock);
	run->acked[pos].counter = counter;
	run->acked[pos].version = version;
	pthread_rwlock_unlock(&run->acked_lock);
	write_acked_line(run, id, val, vlen, version);
}

static void *writer_main(void *arg)
{
	lc_thread *t = arg;
	lc_run *run = t->run;
	const lc_opts *o = run->o;
	char id[LC_ID_MAX];
	char *val = malloc(o->value_bytes + LC_ID_MAX + 32);
	lc_own own = {0};
	if (val == NULL) {
		atomic_store(&run->failed, true);
		atomic_store(&run->stop, true);
		return NULL;
	}
	uint64_t i = 0; /* index of the next fresh order */
	while (take_op(run)) {
		uint64_t counter = atomic_fetch_add(&run->counter, 1) + 1;
		if (o->updates > 0 && own.n > 0 && rng_next(&t->rng) % 100 < o->updates) {
			update_one(t, &own, (size_t)(rng_next(&t->rng) % own.n), counter, id, val);
			continue;
		}
		int idlen = make_id(o, t->k, i, id);
		size_t vlen = make_value(o, t->k, i, counter, val);
		uint64_t version = 0;
		uint64_t t0 = os_now_ns();
		ostore_status st = ostore_put(run->c, id, (size_t)idlen, val, vlen, &version);
		ob_hist_add(&t->lat, os_now_ns() - t0);
		t->ops++;
		count_status(t, st);
		uint64_t index = i++;
		if (st != OSTORE_OK)
			continue;
		t->acked++;
		lc_acked e = {.writer = t->k, .index = index, .counter = counter, .version = version};
		size_t pos = record_acked(run, &e, id, val, vlen);
		if (o->updates > 0)
			own_add(&own, pos);
	}
	free(own.pos);
	free(val);
	return NULL;
}

/* A random acknowledged write into *@e; false when there is none yet. */
static bool pick_acked(lc_run *run, uint64_t *rng, lc_acked *e)
{
	pthread_rwlock_rdlock(&run->acked_lock);
	size_t n = run->nacked;
	if (n > 0)
		*e = run->acked[rng_next(rng) % n];
	pthread_rwlock_unlock(&run->acked_lock);
	return n > 0;
}

/* The counter of a value of order @id, if it is exactly what make_value builds for that
 * counter (@scratch: o->value_bytes + LC_ID_MAX + 32 bytes). */
static bool parse_counter(const lc_opts *o, const lc_acked *e, const char *id, const char *got,
                          size_t glen, char *scratch, uint64_t *counter)
{
	size_t idlen = strlen(id);
	if (glen < idlen + 4 || memcmp(got, id, idlen) != 0 || memcmp(got + idlen, "|c=", 3) != 0)
		return false;
	uint64_t c = 0;
	size_t i = idlen + 3, digits = 0;
	while (i < glen && got[i] >= '0' && got[i] <= '9' && digits < 20) {
		c = c * 10 + (uint64_t)(got[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || i >= glen || got[i] != '|')
		return false;
	size_t want = make_value(o, e->writer, e->index, c, scratch);
	if (want != glen || memcmp(scratch, got, glen) != 0)
		return false;
	*counter = c;
	return true;
}

static void *reader_main(void *arg)
{
	lc_thread *t = arg;
	lc_run *run = t->run;
	const lc_opts *o = run->o;
	char id[LC_ID_MAX];
	char *scratch = malloc(o->value_bytes + LC_ID_MAX + 32);
	if (scratch == NULL) {
		atomic_store(&run->failed, true);
		atomic_store(&run->stop, true);
		return NULL;
	}
	while (!atomic_load(&run->stop)) {
		lc_acked e;
		if (!pick_acked(run, &t->rng, &e)) {
			nanosleep(&(struct timespec){.tv_nsec = 1000000L}, NULL); /* nothing acked yet */
			continue;
		}
		if (!take_op(run))
			break;
		int idlen = make_id(o, e.writer, e.index, id);
		void *got = NULL;
		size_t glen = 0;
		uint64_t version = 0;
		uint64_t t0 = os_now_ns();
		ostore_status st = ostore_get(run->c, id, (size_t)idlen, &got, &glen, &version);
		ob_hist_add(&t->lat, os_now_ns() - t0);
		t->ops++;
		count_status(t, st);
		uint64_t c = 0;
		if (st == OSTORE_ENOTFOUND) {
			note_anomaly(run, &run->notfound, id);
		} else if (st == OSTORE_OK) {
			if (!parse_counter(o, &e, id, got, glen, scratch, &c))
				note_anomaly(run, &run->wrong, id);
			else if (c < e.counter)
				note_anomaly(run, &run->stale, id); /* older than acknowledged to us */
			else if (c > e.counter)
				t->newer_reads++; /* a newer put of the same writer (acked or not) */
			else if (version != e.version)
				t->version_differs++;
		}
		ostore_free(got);
	}
	free(scratch);
	return NULL;
}

/* Wait up to @ms for SIGTERM / SIGINT (blocked in every thread). Returns the signal or 0. */
static int wait_signal(const sigset_t *set, long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	for (;;) {
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
	}
}

static json_t *status_counts(const uint64_t *by_status, bool skip_ok)
{
	json_t *o = json_object();
	for (int s = 0; s < OSTORE_STATUS_COUNT; s++)
		if (by_status[s] > 0 && !(skip_ok && s == OSTORE_OK))
			json_object_set_new(o, ostore_status_name(s), json_integer((json_int_t)by_status[s]));
	return o;
}

static json_t *anomaly_json(const lc_anomaly *a)
{
	json_t *ids = json_array();
	for (size_t i = 0; i < a->nids; i++)
		json_array_append_new(ids, json_string(a->ids[i]));
	return json_pack("{s:I, s:o}", "count", (json_int_t)a->count, "first_ids", ids);
}

static json_t *latency_json(const ob_hist *h)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)h->count, "p50",
	                 (json_int_t)(ob_hist_quantile(h, 0.50) / 1000u), "p99",
	                 (json_int_t)(ob_hist_quantile(h, 0.99) / 1000u), "max",
	                 (json_int_t)(h->max_ns / 1000u));
}

/* Merge the threads' results and write the report. Returns 0 or -1 (message printed). */
static int write_report(lc_run *run, lc_thread *th, size_t nth, double seconds,
                        const char *stopped_by)
{
	uint64_t wst[OSTORE_STATUS_COUNT] = {0}, rst[OSTORE_STATUS_COUNT] = {0};
	uint64_t writes = 0, acked = 0, reads = 0, vdiff = 0, newer = 0;
	uint64_t updates = 0, updates_acked = 0, retired = 0;
	ob_hist *put = malloc(sizeof(*put)), *get = malloc(sizeof(*get));
	if (put == NULL || get == NULL) {
		free(put);
		free(get);
		fprintf(stderr, "os-loadcheck: out of memory for the report\n");
		return -1;
	}
	ob_hist_init(put);
	ob_hist_init(get);
	for (size_t i = 0; i < nth; i++) {
		uint64_t *by = th[i].writer ? wst : rst;
		for (int s = 0; s < OSTORE_STATUS_COUNT; s++)
			by[s] += th[i].by_status[s];
		if (th[i].writer) {
			writes += th[i].ops;
			acked += th[i].acked;
			updates += th[i].updates;
			updates_acked += th[i].updates_acked;
			retired += th[i].retired;
		} else {
			reads += th[i].ops;
			vdiff += th[i].version_differs;
			newer += th[i].newer_reads;
		}
		ob_hist_merge(th[i].writer ? put : get, &th[i].lat);
	}
	json_t *r = json_pack(
		"{s:s, s:I, s:I, s:f, s:s, s:I, s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:b, "
		"s:{s:o, s:o}}",
		"prefix", run->o->prefix, "writers", (json_int_t)run->o->writers, "readers",
		(json_int_t)run->o->readers, "seconds", seconds, "stopped_by", stopped_by, "writes",
		(json_int_t)writes, "writes_acked", (json_int_t)acked, "write_errors",
		status_counts(wst, true), "reads", (json_int_t)reads, "reads_by_status",
		status_counts(rst, false), "read_errors", status_counts(rst, true), "notfound_acked",
		anomaly_json(&run->notfound), "wrong_value", anomaly_json(&run->wrong),
		"version_differs", (json_int_t)vdiff, "acked_memory_full", run->acked_oom,
		"latency_us", "put", latency_json(put), "get", latency_json(get));
	free(put);
	free(get);
	if (r == NULL || json_object_set_new(r, "updates", json_integer((json_int_t)updates)) != 0 ||
	    json_object_set_new(r, "updates_acked", json_integer((json_int_t)updates_acked)) != 0 ||
	    json_object_set_new(r, "retired_ids", json_integer((json_int_t)retired)) != 0 ||
	    json_object_set_new(r, "stale_reads", anomaly_json(&run->stale)) != 0 ||
	    json_object_set_new(r, "newer_reads", json_integer((json_int_t)newer)) != 0) {
		json_decref(r);
		fprintf(stderr, "os-loadcheck: out of memory for the report\n");
		return -1;
	}
	int rc = json_dump_file(r, run->o->report_path, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(r);
	if (rc != 0) {
		fprintf(stderr, "os-loadcheck: cannot write --report %s\n", run->o->report_path);
		return -1;
	}
	return 0;
}

static int open_client(const lc_opts *o, ostore_client **c)
{
	ostore_options opts;
	ostore_options_init(&opts);
	opts.routers = o->routers;
	opts.nrouters = o->nrouters;
	opts.max_inflight = (uint32_t)(o->writers + o->readers + 16);
	ostore_status st = ostore_open(&opts, c);
	if (st != OSTORE_OK)
		fprintf(stderr, "os-loadcheck: cannot open the client: %s\n", ostore_strerror(st));
	return st == OSTORE_OK ? 0 : -1;
}

/* Start every thread; returns how many started (the rest are left out, message printed). */
static size_t start_threads(lc_run *run, lc_thread *th)
{
	const lc_opts *o = run->o;
	size_t n = 0;
	uint64_t seed = os_now_ns() | 1u;
	for (uint64_t i = 0; i < o->writers + o->readers; i++) {
		lc_thread *t = &th[n];
		t->run = run;
		t->writer = i < o->writers;
		t->k = (unsigned)(t->writer ? i : i - o->writers);
		t->rng = seed ^ ((i + 1) * 0x9E3779B97F4A7C15u);
		ob_hist_init(&t->lat);
		if (pthread_create(&t->thr, NULL, t->writer ? writer_main : reader_main, t) != 0) {
			fprintf(stderr, "os-loadcheck: cannot start thread %" PRIu64 "\n", i);
			atomic_store(&run->failed, true);
			atomic_store(&run->stop, true);
			break;
		}
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	lc_opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* inherited by every thread */
	signal(SIGPIPE, SIG_IGN);

	lc_run run = {.o = &o};
	atomic_init(&run.stop, false);
	atomic_init(&run.failed, false);
	atomic_init(&run.ops_started, 0);
	atomic_init(&run.counter, 0);
	pthread_rwlock_init(&run.acked_lock, NULL);
	pthread_mutex_init(&run.file_lock, NULL);
	lc_thread *th = calloc(o.writers + o.readers, sizeof(*th));
	run.acked_file = fopen(o.acked_path, "w");
	if (th == NULL || run.acked_file == NULL) {
		fprintf(stderr, "os-loadcheck: cannot open --acked %s: %s\n", o.acked_path,
		        th == NULL ? "out of memory" : strerror(errno));
		rc = 1;
		goto out;
	}
	if (open_client(&o, &run.c) != 0) {
		rc = 1;
		goto out;
	}
	uint64_t t0 = os_now_ns();
	uint64_t end = t0 + o.seconds * 1000000000u;
	size_t nth = start_threads(&run, th);
	const char *stopped_by = "seconds";
	while (!atomic_load(&run.stop)) {
		uint64_t now = os_now_ns();
		if (now >= end)
			break;
		uint64_t left_ms = (end - now) / 1000000u;
		int sig = wait_signal(&stop, left_ms < 100 ? (long)left_ms + 1 : 100);
		if (sig != 0) {
			stopped_by = "signal";
			break;
		}
		pthread_mutex_lock(&run.file_lock);
		fflush(run.acked_file); /* what a kill -9 would leave: whole lines, mostly */
		pthread_mutex_unlock(&run.file_lock);
	}
	if (atomic_load(&run.failed))
		stopped_by = "error";
	else if (atomic_load(&run.stop) && strcmp(stopped_by, "seconds") == 0)
		stopped_by = "max_ops";
	atomic_store(&run.stop, true);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i].thr, NULL);
	double secs = (double)(os_now_ns() - t0) / 1e9;
	rc = 0;
	if (fclose(run.acked_file) != 0 || run.file_error) {
		fprintf(stderr, "os-loadcheck: cannot write --acked %s\n", o.acked_path);
		rc = 1;
	}
	run.acked_file = NULL;
	if (write_report(&run, th, nth, secs, stopped_by) != 0)
		rc = 1;
out:
	ostore_close(run.c);
	if (run.acked_file != NULL)
		fclose(run.acked_file);
	free(th);
	free(run.acked);
	pthread_rwlock_destroy(&run.acked_lock);
	pthread_mutex_destroy(&run.file_lock);
	return rc;
}
