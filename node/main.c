/*
 * main.c - orderstore-node: options, start-up, signals, orderly shutdown.
 *
 *   parse options ─▶ open store (DIR, node id check) ─▶ adopt --map if newer ─▶ writer
 *   thread ─▶ metrics ─▶ REP socket + contexts ─▶ /metrics (--metrics-addr) ─▶ wait for SIGINT/SIGTERM ─▶ close listener ─▶
 *   writer finishes the queue (commit + replies) ─▶ wait for replies to leave ─▶ close
 *   socket ─▶ close LMDB ─▶ exit 0
 *
 * Options are one table (name, argument, help, range, default); each value goes through
 * os_parse_u64 against the table's range. Bad usage prints one message naming the option
 * and exits with status 2; a runtime failure (store, listen) exits with status 1.
 * SIGINT/SIGTERM are blocked in every thread and taken by sigwait() in the main thread,
 * so no handler runs inside nng or LMDB code.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <nng/nng.h>

#include "lease.h"
#include "log.h"
#include "map.h"
#include "netsec.h"
#include "metrics.h"
#include "node_metrics.h"
#include "node.h"
#include "nodemap.h"
#include "ostore_build.h"
#include "repl.h"
#include "replica.h"
#include "server.h"
#include "check.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "writer.h"

#define MIB (1024ull * 1024ull)
#define SYNC_AUTO 999u /* option table sentinel for "--sync-replicas not given" */

typedef struct node_config {
	uint64_t id;
	const char *listen;
	const char *data;
	const char *map_file;
	uint64_t no_sync;
	uint64_t contexts;
	uint64_t max_conns;
	uint64_t max_value;
	uint64_t map_size_mib;
	uint64_t max_map_size_mib;
	const char *log_level;
	uint64_t retain_entries;
	uint64_t retain_mb;
	uint64_t heartbeat_ms;
	uint64_t sync_replicas;
	const char *metrics_addr;
	const char *check;
	const char *tls_cert, *tls_key, *tls_ca;
	const char *client_token_file, *admin_token_file;
} node_config;

enum opt_type { OPT_U64, OPT_STR, OPT_FLAG };

typedef struct opt_def {
	const char *name;
	enum opt_type type;
	size_t offset;
	bool required;
	uint64_t min, max, def;
	const char *arg, *help;
} opt_def;

#define CFG(f) offsetof(node_config, f)
static const opt_def opts[] = {
	{"id", OPT_U64, CFG(id), true, 0, OS_MAP_MAX_IDS - 1, 0, "N", "node id in the cluster map"},
	{"listen", OPT_STR, CFG(listen), true, 0, 0, 0, "URL", "nng address, e.g. tcp://127.0.0.1:7101"},
	{"data", OPT_STR, CFG(data), true, 0, 0, 0, "DIR", "LMDB directory (created if missing)"},
	{"map", OPT_STR, CFG(map_file), false, 0, 0, 0, "FILE",
	 "cluster map JSON, adopted if newer than the stored one"},
	{"no-sync", OPT_FLAG, CFG(no_sync), false, 0, 1, 0, NULL,
	 "do not fsync commits (a crash may lose the last acknowledged writes)"},
	{"contexts", OPT_U64, CFG(contexts), false, 1, 1024, 64, "N", "concurrent requests (nng contexts)"},
	{"max-connections", OPT_U64, CFG(max_conns), false, 1, 65536, 1024, "N",
	 "connections open at once (routers, replicas, tools); more are closed on arrival"},
	{"max-value", OPT_U64, CFG(max_value), false, 0, OSTORE_MAX_VALUE_LIMIT,
	 OSTORE_DEFAULT_MAX_VALUE, "BYTES", "largest value accepted"},
	{"map-size", OPT_U64, CFG(map_size_mib), false, 1, 1u << 20, 256, "MiB", "initial LMDB map size"},
	{"max-map-size", OPT_U64, CFG(max_map_size_mib), false, 1, 1u << 20, 65536, "MiB",
	 "LMDB map size limit; past it writes answer OSTORE_EFULL"},
	{"log-level", OPT_STR, CFG(log_level), false, 0, 0, 0, "LEVEL", "debug|info|warn|error (default info)"},
	{"log-retain-entries", OPT_U64, CFG(retain_entries), false, 1, 1ull << 40, 200000, "N",
	 "write log records kept for replicas"},
	{"log-retain-mb", OPT_U64, CFG(retain_mb), false, 1, 1u << 20, 256, "MiB",
	 "write log size kept for replicas (at most a quarter of --max-map-size)"},
	{"heartbeat-timeout-ms", OPT_U64, CFG(heartbeat_ms), false, 30, 600000, 1000, "MS",
	 "a peer silent this long counts as dead"},
	{"sync-replicas", OPT_U64, CFG(sync_replicas), false, 0, OS_MAP_MAX_REPLICAS, SYNC_AUTO, "K",
	 "replica acks before a write is acknowledged (default: 1 if the shard has a replica, else 0)"},
	{"metrics-addr", OPT_STR, CFG(metrics_addr), false, 0, 0, 0, "HOST:PORT",
	 "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)"},
	{"check", OPT_STR, CFG(check), false, 0, 0, 0, "MODE",
	 "start-up check of the data file: full|quick|none|auto (default auto: full up to "
	 "1 GiB, else quick; docs/node.md)"},
	{"tls-cert", OPT_STR, CFG(tls_cert), false, 0, 0, 0, "FILE",
	 "PEM certificate of this node (TLS on tls+tcp:// links; with --tls-key, --tls-ca)"},
	{"tls-key", OPT_STR, CFG(tls_key), false, 0, 0, 0, "FILE", "PEM private key of --tls-cert"},
	{"tls-ca", OPT_STR, CFG(tls_ca), false, 0, 0, 0, "FILE",
	 "PEM CA certificate every peer's certificate must be signed by"},
	{"client-token-file", OPT_STR, CFG(client_token_file), false, 0, 0, 0, "FILE",
	 "token accepted for data requests (needs --admin-token-file)"},
	{"admin-token-file", OPT_STR, CFG(admin_token_file), false, 0, 0, 0, "FILE",
	 "token accepted for every request; also sent on replication links"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: orderstore-node --id N --listen URL --data DIR [options]\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
		         opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-22s %s", left, opts[i].help);
		if (opts[i].type == OPT_U64 && !opts[i].required && opts[i].def != SYNC_AUTO)
			fprintf(f, " (default %llu)", (unsigned long long)opts[i].def);
		fprintf(f, "\n");
	}
	fprintf(f, "  %-22s %s\n  %-22s %s\n", "--help", "show this help", "--version",
	        "show the version");
	fprintf(f, "\nExit status: 0 stopped by SIGINT/SIGTERM, 1 start-up failure, 2 bad usage,\n"
	           "%d data directory damaged (one error line names the file and the problem;\n"
	           "the node does not serve it: re-seed it with 'orderstore reseed').\n",
	        NODE_EXIT_DAMAGED);
}

static int bad_usage(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "orderstore-node: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\nTry 'orderstore-node --help'.\n");
	return 2;
}

/* Returns -1 to go on, or an exit status (0 for --help/--version, 2 for bad usage). */
static int parse_args(int argc, char **argv, node_config *cfg)
{
	bool seen[NOPTS] = {false};
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type != OPT_STR)
			*(uint64_t *)((char *)cfg + opts[i].offset) = opts[i].def;
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("orderstore-node %s (LMDB %d.%d.%d, nng %s)\n", OSTORE_VERSION,
			       MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH, nng_version());
			return 0;
		}
		if (strncmp(arg, "--", 2) != 0)
			return bad_usage("unexpected argument '%s'%s", arg, "");
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		size_t k = 0;
		while (k < NOPTS && !(strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0))
			k++;
		if (k == NOPTS)
			return bad_usage("unknown option '%s'%s", arg, "");
		const opt_def *o = &opts[k];
		void *field = (char *)cfg + o->offset;
		if (seen[k])
			return bad_usage("option --%s given twice%s", o->name, "");
		seen[k] = true;
		if (o->type == OPT_FLAG) {
			if (eq)
				return bad_usage("option --%s takes no value%s", o->name, "");
			*(uint64_t *)field = 1;
			continue;
		}
		const char *val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
		if (val == NULL)
			return bad_usage("option --%s needs a value%s", o->name, "");
		if (o->type == OPT_STR) {
			if (*val == '\0')
				return bad_usage("option --%s needs a non-empty value%s", o->name, "");
			*(const char **)field = val;
		} else if (os_parse_u64(val, o->min, o->max, (uint64_t *)field) != 0) {
			char range[64];
			snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)o->min,
			         (unsigned long long)o->max);
			fprintf(stderr, "orderstore-node: bad value '%s' for --%s: expected a number in %s\n"
			        "Try 'orderstore-node --help'.\n", val, o->name, range);
			return 2;
		}
	}
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].required && !seen[i])
			return bad_usage("missing required option --%s%s", opts[i].name, "");
	if (cfg->max_map_size_mib < cfg->map_size_mib)
		return bad_usage("--max-map-size must be at least --map-size%s%s", "", "");
	if (cfg->metrics_addr != NULL && !os_metrics_check_hostport(cfg->metrics_addr))
		return bad_usage("bad --metrics-addr '%s': expected HOST:PORT, e.g. 127.0.0.1:9101%s",
		                 cfg->metrics_addr, "");
	node_check_mode mode;
	if (cfg->check != NULL && node_check_mode_parse(cfg->check, &mode) != 0)
		return bad_usage("bad --check '%s': expected auto|full|quick|none%s", cfg->check, "");
	if (cfg->log_level != NULL && os_log_parse_level(cfg->log_level) < 0)
		return bad_usage("bad --log-level '%s': expected debug|info|warn|error%s",
		                 cfg->log_level, "");
	if (cfg->client_token_file != NULL && cfg->admin_token_file == NULL)
		return bad_usage("--client-token-file needs --admin-token-file%s%s", "", "");
	return -1;
}

/* TLS files and tokens (docs/security.md). Returns -1 to go on, or exit status 2. */
static int setup_security(const node_config *cfg, os_netsec **out)
{
	os_netsec_opts so = {
		.tls_cert = cfg->tls_cert,
		.tls_key = cfg->tls_key,
		.tls_ca = cfg->tls_ca,
		.client_token_file = cfg->client_token_file,
		.admin_token_file = cfg->admin_token_file,
		.send_token_file = cfg->admin_token_file, /* replication is an admin kind */
	};
	char err[512] = "";
	if (os_netsec_create(&so, out, err, sizeof(err)) != OSTORE_OK)
		return bad_usage("%s%s", err, "");
	if (strncmp(cfg->listen, "tls+", 4) == 0 && !os_netsec_tls(*out)) {
		os_netsec_destroy(*out);
		*out = NULL;
		return bad_usage("--listen %s needs --tls-cert, --tls-key and --tls-ca%s", cfg->listen,
		                 "");
	}
	return -1;
}

/* Loads --map FILE and makes it durable and current if newer than the stored map.
 * Returns OSTORE_OK or an error (logged). Runs before the writer thread exists. */
static int adopt_map_file(node_store *st, const char *path, os_map **cur)
{
	char err[256] = "";
	os_map *m = NULL;
	int rc = os_map_load_file(path, &m, err, sizeof(err));
	if (rc != OSTORE_OK) {
		OS_ERROR("msg=\"cannot load map file\" path=%s err=\"%s\"", path, err);
		return rc;
	}
	if (*cur != NULL && (*cur)->cluster_id != m->cluster_id) {
		OS_ERROR("msg=\"map file belongs to another cluster\" path=%s stored=%016llx file=%016llx",
		         path, (unsigned long long)(*cur)->cluster_id, (unsigned long long)m->cluster_id);
		os_map_unref(m);
		return OSTORE_EINVAL;
	}
	if (*cur != NULL && m->epoch <= (*cur)->epoch) {
		OS_INFO("msg=\"map file not newer than the stored map\" file_epoch=%llu epoch=%llu",
		        (unsigned long long)m->epoch, (unsigned long long)(*cur)->epoch);
		os_map_unref(m);
		return OSTORE_OK;
	}
	for (;;) {
		MDB_txn *txn;
		if ((rc = node_store_write_begin(st, &txn)) != OSTORE_OK)
			break;
		if ((rc = node_store_put_map(st, txn, m)) == OSTORE_OK)
			rc = node_store_commit(st, txn, node_store_lsn(st), node_store_epoch(st));
		else
			node_store_abort(st, txn);
		if (rc != OSTORE_EFULL || (rc = node_store_grow(st)) != OSTORE_OK)
			break;
	}
	if (rc != OSTORE_OK) {
		os_map_unref(m);
		return rc;
	}
	OS_INFO("msg=\"adopted map file\" path=%s epoch=%llu", path, (unsigned long long)m->epoch);
	os_map_unref(*cur);
	*cur = m;
	return OSTORE_OK;
}

int main(int argc, char **argv)
{
	node_config cfg = {0};
	int rc = parse_args(argc, argv, &cfg);
	if (rc >= 0)
		return rc;
	os_netsec *sec = NULL;
	if ((rc = setup_security(&cfg, &sec)) >= 0)
		return rc;
	os_log_set_component("node");
	if (cfg.log_level != NULL)
		os_log_set_level((os_log_level)os_log_parse_level(cfg.log_level));

	/* Block the shutdown signals before any thread exists; main takes them by sigwait. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	node_store_opts so = {
		.dir = cfg.data,
		.node_id = (uint32_t)cfg.id,
		.no_sync = cfg.no_sync != 0,
		.map_size = cfg.map_size_mib * MIB,
		.max_map_size = cfg.max_map_size_mib * MIB,
		.max_readers = cfg.contexts + 64 > 126 ? (unsigned)cfg.contexts + 64 : 126,
	};
	node_check_report report;
	so.report = &report;
	if (cfg.check != NULL)
		node_check_mode_parse(cfg.check, &so.check);
	node_env env = {.id = (uint16_t)cfg.id, .max_value = (uint32_t)cfg.max_value, .sec = sec};
	os_map *map = NULL;
	node_server *srv = NULL;
	int exit_code = 1;
	if (node_store_open(&so, &env.store, &map) != OSTORE_OK) {
		if (report.problem[0] != '\0') {
			OS_ERROR("msg=\"data file damaged: refusing to serve it\" file=%s problem=\"%s\" "
			         "exit=%d hint=\"keep it aside and re-seed this node from its shard: "
			         "orderstore reseed (docs/operations.md)\"",
			         report.file, report.problem, NODE_EXIT_DAMAGED);
			exit_code = NODE_EXIT_DAMAGED;
		}
		goto out;
	}
	if (cfg.map_file != NULL && adopt_map_file(env.store, cfg.map_file, &map) != OSTORE_OK)
		goto out;
	if ((env.maps = node_maps_create()) == NULL || (env.lease = node_lease_create()) == NULL)
		goto out;
	node_maps_install(env.maps, map);
	map = NULL;
	/* The write log never takes more than a quarter of the map: on a full node it
	 * would otherwise keep the space deletes free (each DEL appends a record too). */
	uint64_t retain_bytes = cfg.retain_mb * MIB;
	if (retain_bytes > so.max_map_size / 4) {
		retain_bytes = so.max_map_size / 4;
		OS_INFO("msg=\"write log limited to a quarter of --max-map-size\" retain_bytes=%llu",
		        (unsigned long long)retain_bytes);
	}
	node_repl_opts ro = {
		.retain_entries = cfg.retain_entries,
		.retain_bytes = retain_bytes,
		.heartbeat_ms = (uint32_t)cfg.heartbeat_ms,
		.sync_replicas = cfg.sync_replicas == SYNC_AUTO ? NODE_SYNC_AUTO : (uint32_t)cfg.sync_replicas,
	};
	if (node_repl_create(&env, &ro, &env.repl) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot start replication state\"");
		goto out;
	}
	if (node_writer_create(&env, &env.writer) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot start writer thread\"");
		goto out;
	}
	if (node_metrics_init(&env) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot set up metrics\" err=\"%s\"", ostore_strerror(OSTORE_ENOMEM));
		goto out;
	}
	node_server_opts sv = {
		.url = cfg.listen,
		.contexts = (unsigned)cfg.contexts,
		.max_conns = (unsigned)cfg.max_conns,
		.recv_max = OS_FRAME_MAX_DEFAULT, /* >= max-value + 1 MiB for any max-value */
	};
	if (node_server_create(&env, &sv, &srv) != OSTORE_OK)
		goto out;
	if (node_replica_create(&env, &env.replica) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot start replicator thread\"");
		goto out;
	}
	if (cfg.metrics_addr != NULL && node_metrics_serve(cfg.metrics_addr) != OSTORE_OK)
		goto out;
	int nng_threads = os_procmetrics_nng_threads(node_metrics_proc()); /* sockets are open */
	OS_INFO("msg=\"started\" id=%u addr=%s data=%s epoch=%llu lsn=%llu sync=%s tls=%s auth=%s "
	        "version=%s nng_task_threads=%d",
	        env.id, cfg.listen, cfg.data, (unsigned long long)node_maps_epoch(env.maps),
	        (unsigned long long)node_store_lsn(env.store), cfg.no_sync ? "off" : "on",
	        os_netsec_tls(sec) ? "on" : "off", os_netsec_auth(sec) ? "on" : "off",
	        OSTORE_VERSION, nng_threads);

	int sig = 0;
	sigwait(&sigs, &sig);
	OS_INFO("msg=\"stopping\" signal=%d", sig);
	node_server_stop_accepting(srv);
	node_replica_destroy(env.replica); /* uses the writer: stop it first */
	env.replica = NULL;
	node_writer_stop(env.writer); /* commits and answers everything queued */
	unsigned busy = node_server_drain(srv, 5000);
	if (busy > 0)
		OS_WARN("msg=\"replies still in flight at shutdown\" contexts=%u", busy);
	exit_code = 0;
out:
	node_metrics_stop(); /* its collector reads the parts destroyed below */
	node_replica_destroy(env.replica);
	node_repl_stop(env.repl); /* answers parked writes while the server still exists */
	node_server_destroy(srv);
	node_writer_destroy(env.writer);
	node_repl_destroy(env.repl);
	node_maps_destroy(env.maps);
	node_lease_destroy(env.lease);
	os_map_unref(map);
	uint64_t lsn = env.store != NULL ? node_store_lsn(env.store) : 0;
	node_store_close(env.store);
	node_metrics_fini();
	os_netsec_destroy(sec);
	if (exit_code == 0)
		OS_INFO("msg=\"stopped\" id=%u lsn=%llu", env.id, (unsigned long long)lsn);
	return exit_code;
}
