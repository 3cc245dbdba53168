/*
 * bench.c - orderstore-bench: a load generator that drives the same workloads against
 * orderstore (liborderstore's asynchronous ostore_submit, never a thread per request) or,
 * with --target redis://HOST:PORT, against a Redis-protocol peer through hiredis's async
 * API, and measures both with the same histograms.
 *
 *   options ─▶ run setup (keys, value, order documents) ─▶ driver open ─▶ preload
 *     ─▶ driver run: --concurrency slots, closed loop or paced open loop (--rate)
 *     ─▶ merge recorders ─▶ text summary, --json result, --csv per-second series
 *
 * Workloads are in workloads.c, drivers in drv_ostore.c / drv_redis.c, output in
 * report.c. Every load loop is bounded by --ops and by time (--seconds, then at most
 * --timeout-ms to collect answers). Servers are the caller's; bench/compare starts them
 * on 127.0.0.1 only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "bench.h"
#include "map.h"
#include "orders.h"
#include "report.h"
#include "netsec.h"
#include "util.h"

#ifndef OB_HAVE_HIREDIS
#define OB_HAVE_HIREDIS 0
#endif
#ifndef OB_DEFAULT_ORDERS
#define OB_DEFAULT_ORDERS "data/online-retail.csv.xz"
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: orderstore-bench (--router URL... | --dir DIR | --target redis://HOST:PORT)"
	        " [options]\n"
	        "  --workload W         put | get | A | B | C | F | orders (default put)\n"
	        "                       A 50%% read/50%% update, B 95/5, C read only, F 50%% read/\n"
	        "                       50%% read-modify-write (get + compare-and-set), orders:\n"
	        "                       order lifecycle on real documents (create, then\n"
	        "                       paid/shipped/delivered by compare-and-set, reads between)\n"
	        "  --keys uniform|zipfian  key choice (default uniform; zipfian theta 0.99)\n"
	        "  --records N          preloaded key space (1..100000000, default 10000)\n"
	        "  --value-size B       value bytes (0..1048576, default 200)\n"
	        "  --concurrency C      requests in flight (1..4096, default 64)\n"
	        "  --seconds S          time bound (1..3600, default 10; 3600 with --ops)\n"
	        "  --ops N              bound on requests sent\n"
	        "  --rate R             open loop: R requests/s on a fixed schedule, latency from\n"
	        "                       the intended send time (default 0 = closed loop)\n"
	        "  --timeout-ms MS      per-request timeout / final drain (default 5000)\n"
	        "  --connections N      redis: TCP connections (default = concurrency, max 1024)\n"
	        "  --batch N            orderstore, closed loop: groups of N callers share one\n"
	        "                       ostore_submit frame (client-side coalescing; default 1)\n"
	        "  --orders-file PATH   Online Retail CSV(.xz) (default %s)\n"
	        "  --orders-pool N      order documents kept (1..100000, default 4096)\n"
	        "  --json FILE          write the result as JSON\n"
	        "  --csv FILE           write the per-second series (ops, failures, p50, p99, max)\n"
	        "  --quiet              no progress lines on stderr\n"
	        "  --avoid-shard S      orderstore, YCSB workloads: never draw a key whose slot\n"
	        "                       is on shard S (by --map FILE, else DIR/map.json of --dir)\n"
	        "  --map FILE           the cluster map JSON for --avoid-shard\n"
	        "  --no-preload         skip the preload: an earlier run loaded --records\n"
	        "  --coalesce-items N   orderstore: liborderstore's coalesce_max_items (1 = no\n"
	        "                       coalescing: every request its own frame, no window)\n"
	        "  --tls-cert F --tls-key F --tls-ca F  orderstore over tls+tcp:// (default with\n"
	        "                       --dir: DIR/tls/client.pem, client.key, ca.pem if present)\n"
	        "  --token-file F       orderstore credential (default with --dir: DIR/client.token)\n"
	        "  --help, --version\n"
	        "Exit: 0 ok, 1 requests failed, 2 usage, 3 target unreachable or setup failed.\n",
	        OB_DEFAULT_ORDERS);
}

static int read_routers(const char *dir, ob_config *cfg)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/routers", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "orderstore-bench: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[1024];
	while (cfg->nrouters < 64 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0' && (cfg->routers[cfg->nrouters] = strdup(line)) != NULL)
			cfg->nrouters++;
	}
	fclose(f);
	return cfg->nrouters > 0 ? 0 : -1;
}

/* --target redis://HOST:PORT into cfg->redis_host / redis_port. Returns 0, or -1 for
 * any other form (a usage error). */
static int parse_target(const char *url, ob_config *cfg)
{
	const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : NULL;
	const char *colon = p ? strrchr(p, ':') : NULL;
	uint64_t port;
	if (p == NULL || colon == NULL || colon == p ||
	    (size_t)(colon - p) >= sizeof(cfg->redis_host) ||
	    os_parse_u64(colon + 1, 1, 65535, &port) != 0)
		return -1;
	memcpy(cfg->redis_host, p, (size_t)(colon - p));
	cfg->redis_host[colon - p] = '\0';
	cfg->redis_port = (int)port;
	return 0;
}

enum {
	O_ROUTER = 256, O_DIR, O_TARGET, O_WORKLOAD, O_KEYS, O_RECORDS, O_VSIZE, O_CONC,
	O_SECONDS, O_OPS, O_RATE, O_TIMEOUT, O_CONNS, O_BATCH, O_OFILE, O_OPOOL, O_JSON, O_CSV, O_QUIET,
	O_AVOID, O_MAP, O_NOPRELOAD, O_COALESCE, O_HELP, O_VERSION, O_TLS_CERT, O_TLS_KEY, O_TLS_CA,
	O_TOKEN
};

/* --dir defaults for the TLS files and the token (docs/security.md). */
static void dir_security(const char *dir, ob_config *cfg, const char **token_file)
{
	static char cert[4096], key[4096], ca[4096], tok[4096];
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", dir);
	if (cfg->tls_cert == NULL && cfg->tls_key == NULL && cfg->tls_ca == NULL &&
	    access(ca, R_OK) == 0) {
		snprintf(cert, sizeof(cert), "%s/tls/client.pem", dir);
		snprintf(key, sizeof(key), "%s/tls/client.key", dir);
		cfg->tls_cert = cert;
		cfg->tls_key = key;
		cfg->tls_ca = ca;
	}
	snprintf(tok, sizeof(tok), "%s/client.token", dir);
	if (*token_file == NULL && access(tok, R_OK) == 0)
		*token_file = tok;
}

/* Whether the result file @path (NULL: none asked for) can be written once the run is
 * over: its directory is writable and, if it exists, so is the file. Checked before the
 * run, without creating the file, so a bad path costs no run. Prints the reason. */
static bool writable(const char *path, const char *opt)
{
	if (path == NULL)
		return true;
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	struct stat st;
	errno = 0;
	if (path[0] == '\0' || slash == path + strlen(path) - 1 || stat(dir, &st) != 0 ||
	    (!S_ISDIR(st.st_mode) && (errno = ENOTDIR) != 0) || access(dir, W_OK) != 0 ||
	    (access(path, F_OK) == 0 && access(path, W_OK) != 0)) {
		fprintf(stderr, "orderstore-bench: cannot write %s %s: %s\n", opt, path,
		        errno != 0 ? strerror(errno) : "not a file name");
		return false;
	}
	return true;
}

/* Parse argv into @cfg. Returns -1 to continue, otherwise the exit status. */
static int parse_args(int argc, char **argv, ob_config *cfg)
{
	static const struct option longopts[] = {
		{"router", required_argument, NULL, O_ROUTER},
		{"dir", required_argument, NULL, O_DIR},
		{"target", required_argument, NULL, O_TARGET},
		{"workload", required_argument, NULL, O_WORKLOAD},
		{"keys", required_argument, NULL, O_KEYS},
		{"records", required_argument, NULL, O_RECORDS},
		{"value-size", required_argument, NULL, O_VSIZE},
		{"concurrency", required_argument, NULL, O_CONC},
		{"seconds", required_argument, NULL, O_SECONDS},
		{"ops", required_argument, NULL, O_OPS},
		{"rate", required_argument, NULL, O_RATE},
		{"timeout-ms", required_argument, NULL, O_TIMEOUT},
		{"connections", required_argument, NULL, O_CONNS},
		{"batch", required_argument, NULL, O_BATCH},
		{"orders-file", required_argument, NULL, O_OFILE},
		{"orders-pool", required_argument, NULL, O_OPOOL},
		{"json", required_argument, NULL, O_JSON},
		{"csv", required_argument, NULL, O_CSV},
		{"quiet", no_argument, NULL, O_QUIET},
		{"avoid-shard", required_argument, NULL, O_AVOID},
		{"map", required_argument, NULL, O_MAP},
		{"no-preload", no_argument, NULL, O_NOPRELOAD},
		{"coalesce-items", required_argument, NULL, O_COALESCE},
		{"tls-cert", required_argument, NULL, O_TLS_CERT},
		{"tls-key", required_argument, NULL, O_TLS_KEY},
		{"tls-ca", required_argument, NULL, O_TLS_CA},
		{"token-file", required_argument, NULL, O_TOKEN},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *wl = "put", *token_file = NULL;
	int seconds_given = 0, opt;
	int li = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		int bad = 0;
		switch (opt) {
		case O_ROUTER: {
			nng_url *u = NULL;
			if ((bad = nng_url_parse(&u, optarg) != 0) != 0)
				break;
			nng_url_free(u);
			if (cfg->nrouters < 64 && (cfg->routers[cfg->nrouters] = strdup(optarg)) != NULL)
				cfg->nrouters++;
			break;
		}
		case O_DIR: dir = optarg; break;
		case O_TARGET:
			cfg->target = optarg;
			bad = parse_target(optarg, cfg);
			break;
		case O_WORKLOAD: wl = optarg; break;
		case O_KEYS:
			if (strcmp(optarg, "uniform") == 0)
				cfg->dist = OB_DIST_UNIFORM;
			else if (strcmp(optarg, "zipfian") == 0)
				cfg->dist = OB_DIST_ZIPFIAN;
			else
				bad = 1;
			break;
		case O_RECORDS: bad = os_parse_u64(optarg, 1, 100000000, &cfg->records); break;
		case O_VSIZE:
			bad = os_parse_u64(optarg, 0, OSTORE_DEFAULT_MAX_VALUE, &cfg->value_size);
			break;
		case O_CONC: bad = os_parse_u64(optarg, 1, 4096, &cfg->concurrency); break;
		case O_SECONDS:
			bad = os_parse_u64(optarg, 1, 3600, &cfg->seconds);
			seconds_given = 1;
			break;
		case O_OPS: bad = os_parse_u64(optarg, 1, UINT64_MAX - 1, &cfg->ops_limit); break;
		case O_RATE: bad = os_parse_u64(optarg, 0, 100000000, &cfg->rate); break;
		case O_TIMEOUT: bad = os_parse_u64(optarg, 1, 3600000, &cfg->timeout_ms); break;
		case O_CONNS: bad = os_parse_u64(optarg, 1, 1024, &cfg->connections); break;
		case O_BATCH: bad = os_parse_u64(optarg, 1, 256, &cfg->batch); break;
		case O_OFILE: cfg->orders_file = optarg; break;
		case O_OPOOL: bad = os_parse_u64(optarg, 1, 100000, &cfg->orders_pool); break;
		case O_JSON: cfg->json_path = optarg; break;
		case O_CSV: cfg->csv_path = optarg; break;
		case O_QUIET: cfg->quiet = 1; break;
		case O_AVOID: {
			uint64_t v = 0;
			bad = os_parse_u64(optarg, 0, OS_MAP_MAX_IDS - 1, &v);
			cfg->avoid_shard = (int64_t)v;
			break;
		}
		case O_MAP: cfg->map_path = optarg; break;
		case O_NOPRELOAD: cfg->no_preload = 1; break;
		case O_COALESCE: bad = os_parse_u64(optarg, 1, OSTORE_MAX_BATCH, &cfg->coalesce); break;
		case O_TLS_CERT: cfg->tls_cert = optarg; break;
		case O_TLS_KEY: cfg->tls_key = optarg; break;
		case O_TLS_CA: cfg->tls_ca = optarg; break;
		case O_TOKEN: token_file = optarg; break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION:
			printf("orderstore-bench %s (redis driver: %s)\n", ostore_version_string(),
			       OB_HAVE_HIREDIS ? "yes" : "no, built without hiredis");
			return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "orderstore-bench: bad value '%s' for --%s (see --help)\n", optarg,
			        longopts[li].name);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "orderstore-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cfg->target != NULL && !OB_HAVE_HIREDIS) {
		fprintf(stderr, "orderstore-bench: built without hiredis: --target needs libhiredis-dev "
		                "at build time (meson setup --reconfigure after installing it)\n");
		return 2;
	}
	if (cfg->batch > 1 && (cfg->target != NULL || cfg->rate != 0)) {
		fprintf(stderr, "orderstore-bench: --batch is for orderstore in the closed loop "
		                "(for redis, fewer --connections pipeline more per connection)\n");
		return 2;
	}
	if ((cfg->wl = ob_workload_find(wl)) == NULL) {
		fprintf(stderr, "orderstore-bench: unknown workload '%s' (see --help)\n", wl);
		return 2;
	}
	if (cfg->avoid_shard >= 0 && (cfg->target != NULL || cfg->wl->id == OB_W_ORDERS)) {
		fprintf(stderr, "orderstore-bench: --avoid-shard is for orderstore and the YCSB "
		                "workloads\n");
		return 2;
	}
	if (cfg->avoid_shard >= 0 && cfg->map_path == NULL) {
		static char mp[4096];
		if (dir == NULL) {
			fprintf(stderr, "orderstore-bench: --avoid-shard needs --map FILE or --dir DIR\n");
			return 2;
		}
		snprintf(mp, sizeof(mp), "%s/map.json", dir);
		cfg->map_path = mp;
	}
	if (!seconds_given && cfg->ops_limit != UINT64_MAX)
		cfg->seconds = 3600;
	if (cfg->target == NULL && cfg->nrouters == 0 && dir == NULL) {
		fprintf(stderr, "orderstore-bench: give --router URL, --dir DIR of a local cluster, or "
		                "--target redis://HOST:PORT\n");
		return 2;
	}
	if (cfg->target == NULL && cfg->nrouters == 0 && read_routers(dir, cfg) != 0) {
		fprintf(stderr, "orderstore-bench: %s is not a running local cluster (no router "
		                "address in %s/routers; start one with `orderstore local up --dir %s`)\n",
		        dir, dir, dir);
		return 3; /* the target is unreachable: a setup failure, not a usage error */
	}
	if (dir != NULL)
		dir_security(dir, cfg, &token_file);
	int ntls = (cfg->tls_cert != NULL) + (cfg->tls_key != NULL) + (cfg->tls_ca != NULL);
	if (ntls != 0 && ntls != 3) {
		fprintf(stderr, "orderstore-bench: TLS needs all of --tls-cert, --tls-key and --tls-ca\n");
		return 2;
	}
	char err[600];
	size_t tlen;
	if (token_file != NULL && os_token_read(token_file, cfg->token, &tlen, err, sizeof(err)) != 0) {
		fprintf(stderr, "orderstore-bench: %s\n", err);
		return 2;
	}
	if (!writable(cfg->json_path, "--json") || !writable(cfg->csv_path, "--csv"))
		return 2;
	return -1;
}

/* --avoid-shard: flag the slots of that shard in the map. Returns 0 or -1 (printed). */
static int skip_setup(ob_run *run, const ob_config *cfg)
{
	os_map *m = NULL;
	char err[256] = "";
	if (os_map_load_file(cfg->map_path, &m, err, sizeof(err)) != OSTORE_OK) {
		fprintf(stderr, "orderstore-bench: --map %s: %s\n", cfg->map_path, err);
		return -1;
	}
	uint16_t sh = (uint16_t)cfg->avoid_shard;
	uint32_t owned = os_map_slot_count(m, sh);
	if (os_map_shard_by_id(m, sh) == NULL || owned == 0 || owned == OSTORE_SLOTS) {
		fprintf(stderr, "orderstore-bench: --avoid-shard %u: the map has no such shard, or it "
		                "owns no slot or every slot\n", sh);
		os_map_unref(m);
		return -1;
	}
	run->skip_slot = calloc(OSTORE_SLOTS, 1);
	if (run->skip_slot == NULL) {
		os_map_unref(m);
		return -1;
	}
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		run->skip_slot[s] = m->slot_shard[s] == sh;
	os_map_unref(m);
	return 0;
}

/* Prepare everything the slots share, and the slots. Returns 0 or -1 (printed). */
static int run_setup(ob_run *run, const ob_config *cfg)
{
	run->cfg = cfg;
	if (ob_keygen_init(&run->keys, cfg->dist, cfg->records, OB_ZIPF_THETA) != 0) {
		fprintf(stderr, "orderstore-bench: bad key space\n");
		return -1;
	}
	if (cfg->avoid_shard >= 0 && skip_setup(run, cfg) != 0)
		return -1;
	uint64_t seed = os_random_u64();
	snprintf(run->tag, sizeof(run->tag), "%08llx", (unsigned long long)(seed & 0xFFFFFFFFu));
	run->value = malloc(cfg->value_size ? cfg->value_size : 1);
	if (run->value == NULL)
		return -1;
	for (uint64_t i = 0; i < cfg->value_size; i++)
		run->value[i] = (uint8_t)('a' + ob_rng_next(&seed) % 26);
	size_t vcap = cfg->value_size;
	if (cfg->wl->id == OB_W_ORDERS) {
		char err[512] = "";
		uint64_t t0 = os_now_ns();
		if (ob_orders_load(cfg->orders_file, (uint32_t)cfg->orders_pool, &run->orders, err,
		                   sizeof(err)) != 0) {
			fprintf(stderr, "orderstore-bench: order documents: %s\n", err);
			return -1;
		}
		if (!cfg->quiet)
			fprintf(stderr, "orderstore-bench: %u order documents (mean %.0f bytes, max %zu) "
			                "from %s in %.1f s\n",
			        ob_orders_count(run->orders), ob_orders_mean_len(run->orders),
			        ob_orders_max_len(run->orders), cfg->orders_file,
			        (double)(os_now_ns() - t0) / 1e9);
		if (ob_orders_max_len(run->orders) > vcap)
			vcap = ob_orders_max_len(run->orders);
	}
	run->slots = calloc(cfg->concurrency, sizeof(*run->slots));
	if (run->slots == NULL)
		return -1;
	for (uint64_t i = 0; i < cfg->concurrency; i++) {
		ob_slot *s = &run->slots[i];
		s->run = run;
		s->index = (uint32_t)i;
		s->rng = os_random_u64();
		s->vcap = vcap;
		s->vbuf = malloc(OB_HEADROOM + vcap);
		if (s->vbuf == NULL)
			return -1;
		ob_workload_init_slot(s);
	}
	return 0;
}

static void run_cleanup(ob_run *run)
{
	if (run->slots != NULL)
		for (uint64_t i = 0; i < run->cfg->concurrency; i++)
			free(run->slots[i].vbuf);
	free(run->slots);
	free(run->skip_slot);
	free(run->value);
	ob_orders_free(run->orders);
	ob_report_destroy(run->report);
}

int main(int argc, char **argv)
{
	ob_config cfg = {.dist = OB_DIST_UNIFORM, .records = 10000, .value_size = 200,
	                 .concurrency = 64, .seconds = 10, .ops_limit = UINT64_MAX,
	                 .timeout_ms = 5000, .batch = 1, .orders_file = OB_DEFAULT_ORDERS,
	                 .orders_pool = 4096, .avoid_shard = -1};
	int rc = parse_args(argc, argv, &cfg);
	if (rc >= 0) {
		for (size_t i = 0; i < cfg.nrouters; i++)
			free(cfg.routers[i]);
		return rc;
	}
#if OB_HAVE_HIREDIS
	const ob_driver *drv = cfg.target != NULL ? &ob_driver_redis : &ob_driver_ostore;
#else
	const ob_driver *drv = &ob_driver_ostore;
#endif
	ob_run run = {0};
	void *st = NULL;
	rc = 3;
	if (run_setup(&run, &cfg) != 0)
		goto out;
	run.report = ob_report_create(cfg.seconds + cfg.timeout_ms / 1000 + 2);
	if (run.report == NULL || drv->open(&run, &st) != 0)
		goto out;
	if (cfg.wl->preload && !cfg.no_preload) {
		uint64_t t0 = os_now_ns();
		if (drv->preload(&run, st) != 0)
			goto out;
		if (!cfg.quiet)
			fprintf(stderr, "orderstore-bench: preloaded %llu records in %.1f s\n",
			        (unsigned long long)cfg.records, (double)(os_now_ns() - t0) / 1e9);
	}
	run.start_ns = os_now_ns();
	run.deadline_ns = run.start_ns + cfg.seconds * 1000000000ull;
	ob_report_start(run.report, run.start_ns);
	if (drv->run(&run, st) != 0) {
		fprintf(stderr, "orderstore-bench: out of memory\n");
		goto out;
	}
	run.end_ns = os_now_ns();
	ob_report_finish(run.report, (double)(run.end_ns - run.start_ns) / 1e9);
	ob_report_print(run.report, &run, stdout);
	rc = ob_report_failures(run.report) != 0 ? 1 : 0;
	if (cfg.json_path != NULL && ob_report_write_json(run.report, &run, cfg.json_path) != 0) {
		fprintf(stderr, "orderstore-bench: cannot write %s\n", cfg.json_path);
		rc = 1;
	}
	if (cfg.csv_path != NULL && ob_report_write_csv(run.report, cfg.csv_path) != 0) {
		fprintf(stderr, "orderstore-bench: cannot write %s\n", cfg.csv_path);
		rc = 1;
	}
out:
	drv->close(st);
	run_cleanup(&run);
	for (size_t i = 0; i < cfg.nrouters; i++)
		free(cfg.routers[i]);
	return rc;
}
