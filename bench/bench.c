/*
 * bench.c - orderstore-bench: a closed-loop load generator on liborderstore's
 * asynchronous API (ostore_submit), never a thread per request.
 *
 *   C request slots ──submit──▶ liborderstore ──▶ router ──▶ nodes
 *        ▲                                                     │
 *        └──────── done callback: record latency, submit next ◀┘
 *
 * Each of --concurrency slots keeps exactly one request in flight: its completion
 * callback records the latency in the slot's own histogram (no lock on the hot path) and
 * submits the slot's next request, until --ops requests were issued or --seconds passed.
 * Histograms and error counts are merged at the end. Workloads: put (upsert of a random
 * key), get (read of a random preloaded key). Keys are "bench-%08u" over --records keys,
 * chosen uniformly; values are --value-size random bytes.
 * The load loop is bounded in count and time; servers are the caller's (127.0.0.1).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>

#include <orderstore.h>

#include "hist.h"
#include "util.h"

enum { W_PUT, W_GET };

typedef struct bench bench;

typedef struct slot {
	bench *b;
	ostore_item item;
	char id[32];
	uint64_t t0;
	uint64_t rng;
	ob_hist hist;
	uint64_t errors[OSTORE_STATUS_COUNT];
} slot;

struct bench {
	ostore_client *c;
	int workload;
	uint32_t records;
	uint8_t *value;
	uint32_t value_len;
	uint64_t ops_limit;
	uint64_t deadline_ns;
	atomic_uint_fast64_t issued;
	atomic_uint inflight;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
};

static uint64_t rng_next(uint64_t *s) /* xorshift64* */
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void slot_finish(bench *b)
{
	pthread_mutex_lock(&b->mtx);
	if (atomic_fetch_sub(&b->inflight, 1) == 1)
		pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mtx);
}

static void slot_done(void *arg, ostore_item *items, size_t n, ostore_status st);

static void slot_issue(slot *s)
{
	bench *b = s->b;
	for (;;) {
		if (os_now_ns() >= b->deadline_ns || atomic_fetch_add(&b->issued, 1) >= b->ops_limit) {
			slot_finish(b);
			return;
		}
		uint32_t k = (uint32_t)(rng_next(&s->rng) % b->records);
		int n = snprintf(s->id, sizeof(s->id), "bench-%08u", k);
		memset(&s->item, 0, sizeof(s->item));
		s->item.op = b->workload == W_PUT ? OSTORE_OP_PUT : OSTORE_OP_GET;
		s->item.id = s->id;
		s->item.id_len = (size_t)n;
		if (b->workload == W_PUT) {
			s->item.value = b->value;
			s->item.value_len = b->value_len;
		}
		s->t0 = os_now_ns();
		ostore_status st = ostore_submit(b->c, &s->item, 1, slot_done, s);
		if (st == OSTORE_OK)
			return;
		s->errors[st]++; /* refused before sending: count it and try the next one */
	}
}

static void slot_done(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	slot *s = arg;
	(void)n;
	uint64_t lat = os_now_ns() - s->t0;
	ostore_status ist = st != OSTORE_OK ? st : items[0].status;
	if (ist == OSTORE_OK)
		ob_hist_add(&s->hist, lat);
	else
		s->errors[ist < OSTORE_STATUS_COUNT ? ist : OSTORE_EINTERNAL]++;
	ostore_free(items[0].out_value);
	items[0].out_value = NULL;
	slot_issue(s);
}

static int preload(ostore_client *c, uint32_t records, const uint8_t *value, uint32_t len)
{
	enum { BATCH = 256 };
	ostore_item items[BATCH];
	char ids[BATCH][32];
	for (uint32_t k = 0; k < records;) {
		size_t n = 0;
		for (; n < BATCH && k < records; n++, k++) {
			int l = snprintf(ids[n], sizeof(ids[n]), "bench-%08u", k);
			items[n] = (ostore_item){.op = OSTORE_OP_PUT, .id = ids[n], .id_len = (size_t)l,
			                         .value = value, .value_len = len};
		}
		ostore_status st = ostore_batch(c, items, n);
		for (size_t i = 0; st == OSTORE_OK && i < n; i++)
			st = items[i].status;
		if (st != OSTORE_OK) {
			fprintf(stderr, "orderstore-bench: preload failed: %s\n", ostore_strerror(st));
			return -1;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: orderstore-bench (--router URL... | --dir DIR) [options]\n"
	        "  --workload put|get   operation (default put; get preloads --records keys)\n"
	        "  --concurrency C      requests in flight (1..4096, default 64)\n"
	        "  --value-size B       value bytes (0..1048576, default 200)\n"
	        "  --records N          key space (1..100000000, default 10000)\n"
	        "  --seconds S          time bound (1..3600, default 10)\n"
	        "  --ops N              count bound (default unbounded within --seconds)\n"
	        "  --timeout-ms MS      per-request timeout (default 5000)\n"
	        "  --json FILE          also write the result as JSON\n"
	        "  --help, --version\n"
	        "Exit: 0 ok, 1 requests failed, 2 usage, 3 cluster unreachable.\n");
}

static int read_routers(const char *dir, char **urls, size_t *n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/routers", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "orderstore-bench: cannot read %s\n", path);
		return -1;
	}
	char line[1024];
	while (*n < 64 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0')
			urls[(*n)++] = strdup(line);
	}
	fclose(f);
	return *n > 0 ? 0 : -1;
}

static int write_json(const char *path, const char *wl, uint64_t conc, uint64_t vsize, double secs,
                      const ob_hist *h, const uint64_t *errors)
{
	json_t *lat = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "p50", ob_hist_quantile(h, 0.50) / 1e3,
	                        "p95", ob_hist_quantile(h, 0.95) / 1e3, "p99",
	                        ob_hist_quantile(h, 0.99) / 1e3, "p999",
	                        ob_hist_quantile(h, 0.999) / 1e3, "max", h->max_ns / 1e3, "mean",
	                        h->count ? (double)h->sum_ns / (double)h->count / 1e3 : 0.0);
	json_t *errs = json_object();
	for (int i = 1; i < OSTORE_STATUS_COUNT; i++)
		if (errors[i] != 0)
			json_object_set_new(errs, ostore_status_name(i), json_integer((json_int_t)errors[i]));
	json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:f,s:f,s:o,s:o}", "workload", wl, "concurrency",
	                      (json_int_t)conc, "value_size", (json_int_t)vsize, "ops",
	                      (json_int_t)h->count, "seconds", secs, "ops_per_sec",
	                      secs > 0 ? (double)h->count / secs : 0.0, "latency_us", lat, "errors",
	                      errs);
	int rc = json_dump_file(o, path, JSON_INDENT(2));
	json_decref(o);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"router", required_argument, NULL, 'r'},   {"dir", required_argument, NULL, 'd'},
	        {"workload", required_argument, NULL, 'w'}, {"concurrency", required_argument, NULL, 'c'},
	        {"value-size", required_argument, NULL, 'v'}, {"records", required_argument, NULL, 'n'},
	        {"seconds", required_argument, NULL, 's'},  {"ops", required_argument, NULL, 'o'},
	        {"timeout-ms", required_argument, NULL, 't'}, {"json", required_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0}};
	char *urls[64];
	size_t nurls = 0;
	const char *dir = NULL, *wl = "put", *json_path = NULL;
	uint64_t conc = 64, vsize = 200, records = 10000, secs = 10, ops = UINT64_MAX, tmo = 5000;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case 'r':
			if (nurls < 64)
				urls[nurls++] = strdup(optarg);
			break;
		case 'd': dir = optarg; break;
		case 'w': wl = optarg; break;
		case 'c': bad = os_parse_u64(optarg, 1, 4096, &conc); break;
		case 'v': bad = os_parse_u64(optarg, 0, OSTORE_DEFAULT_MAX_VALUE, &vsize); break;
		case 'n': bad = os_parse_u64(optarg, 1, 100000000, &records); break;
		case 's': bad = os_parse_u64(optarg, 1, 3600, &secs); break;
		case 'o': bad = os_parse_u64(optarg, 1, UINT64_MAX - 1, &ops); break;
		case 't': bad = os_parse_u64(optarg, 1, 3600000, &tmo); break;
		case 'j': json_path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("orderstore-bench %s\n", ostore_version_string()); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "orderstore-bench: bad value '%s' (see --help for ranges)\n",
			        optarg);
			return 2;
		}
	}
	int workload = strcmp(wl, "put") == 0 ? W_PUT : strcmp(wl, "get") == 0 ? W_GET : -1;
	if (workload < 0 || optind != argc) {
		fprintf(stderr, "orderstore-bench: unknown workload or extra argument\n");
		usage(stderr);
		return 2;
	}
	if (nurls == 0 && (dir == NULL || read_routers(dir, urls, &nurls) != 0)) {
		fprintf(stderr, "orderstore-bench: give --router URL or --dir DIR of a local cluster\n");
		return 2;
	}
	ostore_options o;
	ostore_options_init(&o);
	o.routers = (const char *const *)urls;
	o.nrouters = nurls;
	o.timeout_ms = (uint32_t)tmo;
	o.max_inflight = (uint32_t)conc + 16;
	bench b = {.workload = workload, .records = (uint32_t)records, .value_len = (uint32_t)vsize,
	           .ops_limit = ops};
	ostore_status st = ostore_open(&o, &b.c);
	if (st != OSTORE_OK) {
		fprintf(stderr, "orderstore-bench: %s\n", ostore_strerror(st));
		return 3;
	}
	b.value = malloc(vsize ? vsize : 1);
	uint64_t seed = os_random_u64();
	for (uint64_t i = 0; i < vsize; i++)
		b.value[i] = (uint8_t)('a' + rng_next(&seed) % 26);
	if (workload == W_GET && preload(b.c, b.records, b.value, b.value_len) != 0)
		return 3;
	pthread_mutex_init(&b.mtx, NULL);
	pthread_cond_init(&b.cv, NULL);
	slot *slots = calloc(conc, sizeof(*slots));
	if (slots == NULL || b.value == NULL) {
		fprintf(stderr, "orderstore-bench: out of memory\n");
		return 1;
	}
	atomic_store(&b.inflight, (unsigned)conc);
	uint64_t start = os_now_ns();
	b.deadline_ns = start + secs * 1000000000ull;
	for (uint64_t i = 0; i < conc; i++) {
		slots[i].b = &b;
		slots[i].rng = os_random_u64();
		ob_hist_init(&slots[i].hist);
	}
	for (uint64_t i = 0; i < conc; i++)
		slot_issue(&slots[i]);
	pthread_mutex_lock(&b.mtx);
	while (atomic_load(&b.inflight) != 0)
		pthread_cond_wait(&b.cv, &b.mtx);
	pthread_mutex_unlock(&b.mtx);
	double elapsed = (double)(os_now_ns() - start) / 1e9;

	ob_hist *h = calloc(1, sizeof(*h));
	uint64_t errors[OSTORE_STATUS_COUNT] = {0}, nerr = 0;
	for (uint64_t i = 0; i < conc; i++) {
		ob_hist_merge(h, &slots[i].hist);
		for (int e = 0; e < OSTORE_STATUS_COUNT; e++)
			errors[e] += slots[i].errors[e];
	}
	for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
		nerr += errors[e];
	printf("workload=%s concurrency=%llu value_size=%llu ops=%llu errors=%llu seconds=%.2f "
	       "ops_per_sec=%.0f p50_us=%.0f p95_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f\n",
	       wl, (unsigned long long)conc, (unsigned long long)vsize, (unsigned long long)h->count,
	       (unsigned long long)nerr, elapsed, (double)h->count / elapsed,
	       ob_hist_quantile(h, 0.50) / 1e3, ob_hist_quantile(h, 0.95) / 1e3,
	       ob_hist_quantile(h, 0.99) / 1e3, ob_hist_quantile(h, 0.999) / 1e3, h->max_ns / 1e3);
	for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
		if (errors[e] != 0)
			printf("  %s: %llu\n", ostore_status_name(e), (unsigned long long)errors[e]);
	if (json_path != NULL && write_json(json_path, wl, conc, vsize, elapsed, h, errors) != 0)
		fprintf(stderr, "orderstore-bench: cannot write %s\n", json_path);
	ostore_close(b.c);
	free(h);
	free(slots);
	free(b.value);
	for (size_t i = 0; i < nurls; i++)
		free(urls[i]);
	return nerr != 0 ? 1 : 0;
}
