/*
 * orderstore_local.c - `orderstore local up`: a whole cluster on 127.0.0.1 under one
 * directory, and the layout of that directory (which processes, where, how started).
 *
 *   DIR/map.json      the cluster map (epoch 1, N shards; R replicas per shard: shard s
 *                     has primary s*(R+1) and replicas s*(R+1)+1..+R, orderstore_ctl.c)
 *   DIR/local.json    the node options of `local up` (for `local start` and restarts)
 *   DIR/routers       router URLs, one per line (what data commands read with --dir)
 *   DIR/node-I/       node I's LMDB environment
 *   DIR/node-I.log    its stdout + stderr;   DIR/router.log likewise
 *   DIR/node-I.pid    PIDs of the processes started; DIR/router.pid
 *
 * up:   map (build or reuse) → port check (bind, never connect) → spawn each process
 *       detached (fork, setsid, exec; exec errors come back through a CLOEXEC pipe) →
 *       pid files → wait until every process answers a wire PING over nng REQ (a bare TCP
 *       connect stalls an nng 1.5.2 listener) → exit 0. On a timeout or an early death:
 *       stop what was started, print the log tails, exit 1. DIR must be new, empty or a
 *       cluster directory (map.json / local.json), else exit 2. When some processes of
 *       DIR still run (others crashed or were killed), only the others are started, with
 *       the newest map asked from the running ones (as `local start` does); when all run,
 *       exit 1.
 * The layout helpers (cli_lc_*, orderstore_local.h) are shared with
 * orderstore_local_ops.c (down, status, add-shard and the `local` dispatch).
 * kill | start of one node: orderstore_ctl.c.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "map.h"
#include "orderstore_cli.h"
#include "orderstore_local.h"
#include "util.h"

#define LOCAL_DEFAULT_BASE_PORT 7100u

/* ---- cluster layout ---------------------------------------------------------------- */

int cli_lc_init(cli_local_cluster *lc, const char *dir)
{
	memset(lc, 0, sizeof(*lc));
	char abs[PATH_MAX];
	if (realpath(dir, abs) == NULL)
		return errno;
	if (strlen(abs) > PATH_MAX - 64)
		return ENAMETOOLONG; /* so every DIR/name below fits */
	memcpy(lc->dir, abs, strlen(abs) + 1);
	cli_fmt(lc->map_path, sizeof(lc->map_path), "%s/map.json", lc->dir);
	return 0;
}

cli_local_proc *cli_lc_add(cli_local_cluster *lc, const char *name, const char *addr)
{
	cli_local_proc *p = &lc->procs[lc->nprocs++];
	memset(p, 0, sizeof(*p));
	cli_fmt(p->name, sizeof(p->name), "%s", name);
	cli_fmt(p->addr, sizeof(p->addr), "%s", addr);
	cli_fmt(p->pidfile, sizeof(p->pidfile), "%s/%s.pid", lc->dir, name);
	cli_fmt(p->logfile, sizeof(p->logfile), "%s/%s.log", lc->dir, name);
	return p;
}

bool cli_lc_router_addr(const char *dir, char *out, size_t outlen)
{
	char path[PATH_MAX];
	cli_fmt(path, sizeof(path), "%s/routers", dir);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return false;
	char line[512];
	bool ok = false;
	while (!ok && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0') {
			cli_fmt(out, outlen, "%s", line);
			ok = true;
		}
	}
	fclose(f);
	return ok;
}

int cli_lc_from_map(cli_local_cluster *lc, const os_map *m, const char *router_addr)
{
	for (uint16_t i = 0; i < m->nnodes; i++) {
		char name[32];
		cli_fmt(name, sizeof(name), "node-%u", m->nodes[i].id);
		cli_lc_add(lc, name, m->nodes[i].addr)->node_id = m->nodes[i].id;
	}
	cli_lc_add(lc, "router", router_addr)->is_router = true;
	return 0;
}

/* ---- local up ---------------------------------------------------------------------- */

void cli_lc_stop_started(cli_local_cluster *lc)
{
	for (size_t i = 0; i < lc->nprocs; i++)
		if (lc->procs[i].pid > 0)
			kill(lc->procs[i].pid, SIGTERM);
	uint64_t deadline = os_now_ns() + 5000ull * 1000000u;
	for (size_t i = 0; i < lc->nprocs; i++) {
		cli_local_proc *p = &lc->procs[i];
		if (p->pid <= 0)
			continue;
		unlink(p->pidfile); /* this run wrote it */
		while (waitpid(p->pid, NULL, WNOHANG) == 0) {
			if (os_now_ns() > deadline) {
				kill(p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
				break;
			}
			nng_msleep(20);
		}
		p->pid = 0;
	}
}

/*
 * `local up` only writes into a new or empty directory, or one that holds a cluster
 * (DIR/map.json or DIR/local.json): never into some other tree. Returns 0, or the exit
 * status after printing why (2 for a directory that is not a cluster directory).
 */
static int check_dir_usable(const char *cmd, const char *dir)
{
	struct stat sb;
	if (stat(dir, &sb) != 0)
		return 0; /* created below */
	if (!S_ISDIR(sb.st_mode))
		return cli_usage_error(cmd, "--dir %s exists and is not a directory", dir);
	char path[PATH_MAX];
	if (cli_fmt(path, sizeof(path), "%s/map.json", dir) == 0 && cli_file_exists(path))
		return 0;
	if (cli_fmt(path, sizeof(path), "%s/local.json", dir) == 0 && cli_file_exists(path))
		return 0;
	DIR *d = opendir(dir);
	if (d == NULL) {
		cli_err("%s: cannot open %s: %s", cmd, dir, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	struct dirent *de;
	const char *first = NULL;
	char name[256] = "";
	while (first == NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			cli_fmt(name, sizeof(name), "%s", de->d_name);
			first = name;
		}
	}
	closedir(d);
	if (first == NULL)
		return 0;
	return cli_usage_error(cmd, "--dir %s is not empty (it holds '%s') and is not an orderstore "
	                            "cluster directory (no map.json or local.json); give a new or "
	                            "empty directory",
	                       dir, first);
}

/* Marks every process whose pid file names a live process of ours as running; removes
 * stale pid files. Returns how many run. */
static size_t mark_running(cli_local_cluster *lc)
{
	size_t n = 0;
	for (size_t i = 0; i < lc->nprocs; i++) {
		cli_local_proc *p = &lc->procs[i];
		pid_t pid = cli_read_pidfile(p->pidfile);
		p->running = cli_proc_is_ours(pid, lc->dir);
		if (p->running) {
			p->running_pid = pid;
			n++;
		} else {
			unlink(p->pidfile);
		}
	}
	return n;
}

/* The first live *.pid of DIR into @name (without ".pid"); its PID, or 0 if none. */
static pid_t any_running(const cli_local_cluster *lc, char *name, size_t len)
{
	DIR *d = opendir(lc->dir);
	struct dirent *de;
	pid_t found = 0;
	while (d != NULL && found == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".pid") != 0)
			continue;
		char path[PATH_MAX];
		cli_fmt(path, sizeof(path), "%s/%s", lc->dir, de->d_name);
		pid_t pid = cli_read_pidfile(path);
		if (cli_proc_is_ours(pid, lc->dir)) {
			cli_fmt(name, len, "%.*s", (int)(n - 4), de->d_name);
			found = pid;
		}
	}
	if (d != NULL)
		closedir(d);
	return found;
}

static const char kUpHelp[] =
	"usage: orderstore local up --dir DIR --shards N [--replicas R] [options]\n"
	"Start N x (1 + R) nodes and one router on 127.0.0.1 in the background, with all\n"
	"state under DIR, and return once every process answers. Shard s has primary node\n"
	"s*(R+1) and replicas s*(R+1)+1 .. s*(R+1)+R. The router listens on\n"
	"tcp://127.0.0.1:P, node i on P+1+i. Its URL is written to DIR/routers, so data\n"
	"commands can use --dir DIR. DIR must be new, empty, or a cluster directory.\n"
	"Run again on a stopped DIR to restart the cluster with its data, map and node\n"
	"options (--shards and --replicas may then be left out). Run on a DIR where only\n"
	"some processes died (crash, 'local kill') to start just those, with the newest\n"
	"cluster map asked from the running ones (node options cannot change then).\n"
	"\nOptions:\n"
	"  --dir DIR          cluster directory (created if missing)\n"
	"  --shards N         number of shards, 1..1000\n"
	"  --replicas R       replicas per shard, 0..8 (default 0)\n"
	"  --sync-replicas K  replica acks a primary waits for before acknowledging a write\n"
	"                     (default 1 when R >= 1; 0 = asynchronous replication)\n"
	"  --log-retain-entries N  write log records each primary keeps for replicas\n"
	"                     (node default 200000); a replica further behind re-seeds\n"
	"  --base-port P      router port; nodes use the next N x (1 + R) ports (default 7100)\n"
	"  --no-sync          nodes skip fsync (throwaway data, faster)\n"
	"  --wait-ms MS       how long to wait for the cluster to answer (default 15000)\n"
	"  --log-level L      log level of the started processes (debug|info|warn|error)\n"
	"  --metrics-offset K every process serves /metrics on its port + K (default 100,\n"
	"                     0 = off); kept in DIR/metrics.json for 'status' and restarts\n"
	"  --tls              new cluster only: make test certificates in DIR/tls\n"
	"                     (tools/make-test-certs) and use tls+tcp:// on every link\n"
	"  --auth             new cluster only: make DIR/client.token and DIR/admin.token\n"
	"                     (mode 0600); requests without a valid token are refused\n"
	"  --help             this text\n"
	"Node options given here are kept in DIR/local.json for restarts and 'local start'.\n"
	"Binaries: $ORDERSTORE_NODE_BIN / $ORDERSTORE_ROUTER_BIN, else orderstore-node and\n"
	"orderstore-router next to this program (or in ../node, ../router of a build tree).\n"
	"Exit status: 0 up, 1 failed or already running, 2 usage (also a DIR that is not\n"
	"a cluster directory).\n";

enum { OPT_SHARDS = CLI_OPT_FIRST_LOCAL, OPT_BASE_PORT, OPT_NO_SYNC, OPT_WAIT, OPT_REPLICAS,
       OPT_SYNC_REPLICAS, OPT_RETAIN, OPT_METRICS, OPT_TLS, OPT_AUTH };

/* The options of `local up` after parsing. */
typedef struct up_opts {
	uint32_t shards, base, wait_ms, replicas, sync_k, metrics; /* metrics: port offset */
	uint64_t retain;
	bool no_sync, base_given, replicas_given, sync_given, metrics_given;
	bool tls, auth; /* docs/security.md */
} up_opts;

/* Returns -1 to go on, else the exit status. */
static int up_parse(cli_ctx *ctx, int argc, char **argv, up_opts *o)
{
	static const struct option longopts[] = {
		{"shards", required_argument, NULL, OPT_SHARDS},
		{"base-port", required_argument, NULL, OPT_BASE_PORT},
		{"no-sync", no_argument, NULL, OPT_NO_SYNC},
		{"wait-ms", required_argument, NULL, OPT_WAIT},
		{"replicas", required_argument, NULL, OPT_REPLICAS},
		{"sync-replicas", required_argument, NULL, OPT_SYNC_REPLICAS},
		{"log-retain-entries", required_argument, NULL, OPT_RETAIN},
		{"metrics-offset", required_argument, NULL, OPT_METRICS},
		{"tls", no_argument, NULL, OPT_TLS},
		{"auth", no_argument, NULL, OPT_AUTH},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "local up";
	*o = (up_opts){.base = LOCAL_DEFAULT_BASE_PORT, .wait_ms = LOCAL_DEFAULT_WAIT_MS};
	int c, rc;
	uint32_t v;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SHARDS:
			if ((rc = cli_parse_u32(cmd, "--shards", optarg, 1, 1000, &o->shards)) != 0)
				return rc;
			break;
		case OPT_BASE_PORT:
			if ((rc = cli_parse_u32(cmd, "--base-port", optarg, 1, 65535, &o->base)) != 0)
				return rc;
			o->base_given = true;
			break;
		case OPT_NO_SYNC:
			o->no_sync = true;
			break;
		case OPT_WAIT:
			if ((rc = cli_parse_u32(cmd, "--wait-ms", optarg, 1, 3600000, &o->wait_ms)) != 0)
				return rc;
			break;
		case OPT_REPLICAS:
			if ((rc = cli_parse_u32(cmd, "--replicas", optarg, 0, OS_MAP_MAX_REPLICAS,
			                        &o->replicas)) != 0)
				return rc;
			o->replicas_given = true;
			break;
		case OPT_SYNC_REPLICAS:
			if ((rc = cli_parse_u32(cmd, "--sync-replicas", optarg, 0, OS_MAP_MAX_REPLICAS,
			                        &o->sync_k)) != 0)
				return rc;
			o->sync_given = true;
			break;
		case OPT_RETAIN: /* the node's range is 1..2^40; 32 bits are plenty here */
			if ((rc = cli_parse_u32(cmd, "--log-retain-entries", optarg, 1, 4000000000u,
			                        &v)) != 0)
				return rc;
			o->retain = v;
			break;
		case OPT_METRICS:
			if ((rc = cli_parse_u32(cmd, "--metrics-offset", optarg, 0, 60000, &o->metrics)) != 0)
				return rc;
			o->metrics_given = true;
			break;
		case OPT_TLS:
			o->tls = true;
			break;
		case OPT_AUTH:
			o->auth = true;
			break;
		default: {
			int orc = cli_opt_rest(ctx, cmd, c, argv, kUpHelp);
			if (orc != CLI_OPT_NEXT)
				return orc;
		}
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	if (o->shards != 0 && o->base + o->shards * (o->replicas + 1) > 65535)
		return cli_usage_error(cmd, "--base-port %u with %u nodes needs ports past 65535",
		                       o->base, o->shards * (o->replicas + 1));
	if (o->shards != 0 && o->shards * (o->replicas + 1) > OS_MAP_MAX_IDS)
		return cli_usage_error(cmd, "%u shards x %u nodes exceed %u node ids", o->shards,
		                       o->replicas + 1, OS_MAP_MAX_IDS);
	if (o->sync_given && o->replicas_given && o->sync_k > o->replicas)
		return cli_usage_error(cmd, "--sync-replicas %u is more than --replicas %u", o->sync_k,
		                       o->replicas);
	return -1;
}

int cli_lc_spawn(cli_ctx *ctx, cli_local_cluster *lc, size_t i, const char *node_bin,
                 const char *router_bin)
{
	cli_local_proc *p = &lc->procs[i];
	bool is_router = p->is_router;
	char id[16], data[PATH_MAX];
	const char *args[48];
	int a = 0, err;
	if (is_router) {
		args[a++] = router_bin;
	} else {
		cli_fmt(id, sizeof(id), "%u", p->node_id);
		cli_fmt(data, sizeof(data), "%s/%s", lc->dir, p->name);
		if ((err = cli_mkdir_p(data)) != 0) {
			cli_err("local up: cannot create %s: %s", data, strerror(err));
			return -1;
		}
		args[a++] = node_bin;
		args[a++] = "--id";
		args[a++] = id;
		args[a++] = "--data";
		args[a++] = data;
	}
	args[a++] = "--listen";
	args[a++] = p->addr;
	args[a++] = "--map";
	args[a++] = lc->map_path;
	if (!is_router && cli_local_node_args(lc->dir, args, &a) != 0)
		return -1;
	if (is_router && cli_local_sec_args(lc->dir, args, &a) != 0)
		return -1;
	char maddr[300];
	if (cli_metrics_hostport(p->addr, cli_metrics_offset(lc->dir), maddr, sizeof(maddr)) == 0) {
		args[a++] = "--metrics-addr";
		args[a++] = maddr;
	}
	if (is_router && ctx->log_level_str != NULL) {
		args[a++] = "--log-level";
		args[a++] = ctx->log_level_str;
	}
	args[a] = NULL;
	p->pid = cli_spawn_detached(args, p->logfile);
	if (p->pid < 0) {
		p->pid = 0;
		return -1;
	}
	if ((err = cli_write_pidfile(p->pidfile, p->pid)) != 0) {
		cli_err("local up: cannot write %s: %s", p->pidfile, strerror(err));
		return -1;
	}
	return 0;
}

int cli_lc_wait(cli_local_cluster *lc, uint32_t wait_ms)
{
	const char *cmd = "local up";
	uint64_t deadline = os_now_ns() + (uint64_t)wait_ms * 1000000u;
	size_t nup = 0;
	for (size_t i = 0; i < lc->nprocs; i++) {
		lc->procs[i].up = lc->procs[i].running;
		nup += lc->procs[i].up;
	}
	while (nup < lc->nprocs && os_now_ns() < deadline) {
		for (size_t i = 0; i < lc->nprocs; i++) {
			cli_local_proc *p = &lc->procs[i];
			int status;
			if (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == p->pid) {
				cli_err("%s: %s (pid %ld) exited with %s %d before answering", cmd, p->name,
				        (long)p->pid, WIFEXITED(status) ? "status" : "signal",
				        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				unlink(p->pidfile);
				p->pid = 0;
				cli_print_log_tail(p->name, p->logfile, 15);
				return -1;
			}
			/* TLS: long enough never to abandon a handshake (nng #1518, docs/security.md) */
			uint32_t ping_ms = strncmp(p->addr, "tls+", 4) == 0 ? 2000 : 200;
			if (!p->up && cli_ping(p->addr, ping_ms) == OSTORE_OK) {
				p->up = true;
				nup++;
			}
		}
	}
	if (nup == lc->nprocs)
		return 0;
	cli_err("%s: the cluster did not answer within %u ms:", cmd, wait_ms);
	for (size_t i = 0; i < lc->nprocs; i++) {
		if (lc->procs[i].up)
			continue;
		fprintf(stderr, "  %s (%s, pid %ld) does not answer PING\n", lc->procs[i].name,
		        lc->procs[i].addr, (long)lc->procs[i].pid);
		cli_print_log_tail(lc->procs[i].name, lc->procs[i].logfile, 15);
	}
	return -1;
}

void cli_lc_wait_replicas(const os_map *m, uint32_t wait_ms)
{
	uint64_t deadline = os_now_ns() + (uint64_t)wait_ms * 1000000u;
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *sh = &m->shards[i];
		const os_map_node *pn = os_map_node_by_id(m, sh->primary);
		if (sh->nreplicas == 0 || pn == NULL)
			continue;
		os_stats_entry e = {0};
		uint64_t epoch;
		while (!(cli_node_stats(pn->addr, 500, &e, &epoch) == OSTORE_OK &&
		         e.replicas >= sh->nreplicas)) {
			if (os_now_ns() >= deadline) {
				cli_err("local up: shard %u: %u of %u replicas connected so far; writes to it "
				        "answer 'not enough replicas' until they are", sh->id, e.replicas,
				        sh->nreplicas);
				break;
			}
			usleep(20000);
		}
	}
}

/* Loads DIR's map for a restart: the newest one of the running processes when some run
 * (@partial), else DIR/map.json; checks it against --shards/--replicas. */
static os_map *up_restart_map(const cli_local_cluster *lc, const up_opts *o, bool partial)
{
	const char *cmd = "local up";
	char errbuf[256];
	os_map *m = NULL;
	int rc = partial ? cli_local_newest_map(lc->dir, 1000, &m, errbuf, sizeof(errbuf))
	                 : (os_map_load_file(lc->map_path, &m, errbuf, sizeof(errbuf)) == OSTORE_OK
	                            ? 0
	                            : -1);
	if (rc != 0) {
		cli_err("%s: cannot load %s: %s", cmd, lc->map_path, errbuf);
		return NULL;
	}
	if (o->shards != 0 && o->shards != m->nshards) {
		cli_err("%s: %s holds a cluster of %u shards, not %u (remove the directory for a new "
		        "cluster)",
		        cmd, lc->dir, m->nshards, o->shards);
	} else if (o->replicas_given && m->shards[0].nreplicas != o->replicas) {
		cli_err("%s: %s holds a cluster with %u replicas per shard, not %u", cmd, lc->dir,
		        m->shards[0].nreplicas, o->replicas);
	} else {
		return m;
	}
	os_map_unref(m);
	return NULL;
}

int cli_local_up(cli_ctx *ctx, int argc, char **argv)
{
	const char *cmd = "local up";
	up_opts o;
	int err, rc = up_parse(ctx, argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = check_dir_usable(cmd, ctx->dir)) != 0)
		return rc;
	err = cli_mkdir_p(ctx->dir);
	cli_local_cluster *lc = calloc(1, sizeof(*lc));
	if (lc == NULL) {
		cli_err("%s: %s", cmd, strerror(ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (err != 0 || (err = cli_lc_init(lc, ctx->dir)) != 0) {
		cli_err("%s: cannot create %s: %s", cmd, ctx->dir, strerror(err));
		free(lc);
		return CLI_EXIT_FAIL;
	}

	/* Processes already running here: all of them -> refuse; some -> start the rest. */
	char running_name[64];
	pid_t running_pid = any_running(lc, running_name, sizeof(running_name));
	bool restart = cli_file_exists(lc->map_path), partial = running_pid != 0;
	if (partial && !restart) {
		cli_err("%s: %s (pid %ld) runs in %s but there is no map.json; stop it with "
		        "'orderstore local down --dir %s'",
		        cmd, running_name, (long)running_pid, lc->dir, ctx->dir);
		free(lc);
		return CLI_EXIT_FAIL;
	}
	char errbuf[256], router_addr[300];
	os_map *m = NULL;
	if (restart) {
		if ((m = up_restart_map(lc, &o, partial)) == NULL) {
			free(lc);
			return CLI_EXIT_FAIL;
		}
		if (!cli_lc_router_addr(lc->dir, router_addr, sizeof(router_addr)) || o.base_given)
			cli_fmt(router_addr, sizeof(router_addr), "%s://127.0.0.1:%u",
			        cli_local_scheme(lc->dir), o.base);
	} else {
		if (o.shards == 0) {
			free(lc);
			return cli_usage_error(cmd, "--shards N is required for a new cluster");
		}
		if (cli_local_sec_make(cmd, lc->dir, o.tls, o.auth) != 0) {
			free(lc);
			return CLI_EXIT_FAIL;
		}
		m = cli_local_build_map(o.shards, o.replicas, o.base, cli_local_scheme(lc->dir));
		if (m == NULL) {
			cli_err("%s: cannot build the cluster map: %s", cmd, ostore_strerror(OSTORE_ENOMEM));
			free(lc);
			return CLI_EXIT_FAIL;
		}
		cli_fmt(router_addr, sizeof(router_addr), "%s://127.0.0.1:%u", cli_local_scheme(lc->dir),
		        o.base);
	}
	cli_lc_from_map(lc, m, router_addr);
	size_t nrunning = mark_running(lc);
	int result = CLI_EXIT_FAIL;
	if (nrunning == lc->nprocs) {
		cli_err("%s: a cluster is already running in %s (every process answers to its pid "
		        "file); stop it with 'orderstore local down --dir %s'",
		        cmd, lc->dir, ctx->dir);
		goto out;
	}
	if (partial && (o.no_sync || o.sync_given || o.retain || o.base_given)) {
		rc = cli_usage_error(cmd, "%s (pid %ld) of the cluster in %s is running: node "
		                          "options and --base-port cannot change now; start the "
		                          "processes that are down without them, or run "
		                          "'orderstore local down --dir %s' first",
		                     running_name, (long)running_pid, lc->dir, ctx->dir);
		goto out_rc;
	}

	/* Metrics ports: data port + K (DIR/metrics.json, written before anything starts). */
	uint32_t moff = partial ? cli_metrics_offset(lc->dir)
	                : o.metrics_given || !restart ? (o.metrics_given ? o.metrics : CLI_METRICS_DEFAULT_OFFSET)
	                : cli_metrics_offset(lc->dir);
	if (!partial && (err = cli_metrics_save(lc->dir, moff)) != 0) {
		cli_err("%s: cannot write %s/metrics.json: %s", cmd, lc->dir, strerror(err));
		goto out;
	}
	/* Every port to be used must be free before anything starts. */
	for (size_t i = 0; i < lc->nprocs; i++) {
		char murl[300];
		if (!lc->procs[i].running && moff != 0 &&
		    cli_metrics_hostport(lc->procs[i].addr, moff, murl + 6, sizeof(murl) - 6) == 0 &&
		    !cli_port_free(memcpy(murl, "tcp://", 6))) {
			cli_err("%s: metrics port of %s (%s) is in use; choose another --metrics-offset "
			        "or --base-port", cmd, lc->procs[i].name, murl);
			goto out;
		}
		if (!lc->procs[i].running && !cli_port_free(lc->procs[i].addr)) {
			char host[256];
			cli_err("%s: port %d (%s, %s) is already in use; %s", cmd,
			        cli_url_port(lc->procs[i].addr, host, sizeof(host)), lc->procs[i].name,
			        lc->procs[i].addr,
			        partial ? "stop what holds it" : "choose another --base-port");
			goto out;
		}
	}
	if ((!restart || partial) && os_map_save_file(m, lc->map_path, errbuf, sizeof(errbuf)) != OSTORE_OK) {
		cli_err("%s: cannot write %s: %s", cmd, lc->map_path, errbuf);
		goto out;
	}
	/* Node options, remembered for `local start` and restarts: those given now replace
	 * the remembered ones. K defaults to 1 where a shard has a replica. */
	cli_local_conf conf;
	if (!partial) {
		if (restart && cli_local_load_conf(lc->dir, &conf) != 0)
			goto out;
		if (!restart)
			conf = (cli_local_conf){.sync_replicas = m->shards[0].nreplicas > 0 ? 1 : -1};
		conf.no_sync = conf.no_sync || o.no_sync;
		if (o.sync_given)
			conf.sync_replicas = (int)o.sync_k;
		if (o.retain)
			conf.log_retain_entries = o.retain;
		if (ctx->log_level_str != NULL)
			cli_fmt(conf.log_level, sizeof(conf.log_level), "%s", ctx->log_level_str);
		if ((err = cli_local_save_conf(lc->dir, &conf)) != 0) {
			cli_err("%s: cannot write %s/local.json: %s", cmd, lc->dir, strerror(err));
			goto out;
		}
	}
	char node_bin[PATH_MAX], router_bin[PATH_MAX];
	if (cli_find_bin("ORDERSTORE_NODE_BIN", "orderstore-node", "node", node_bin, sizeof(node_bin)) ||
	    cli_find_bin("ORDERSTORE_ROUTER_BIN", "orderstore-router", "router", router_bin,
	             sizeof(router_bin)))
		goto out;

	/* Start the nodes, then the router (those not running). */
	char started[512] = "";
	size_t nstarted = 0;
	for (size_t i = 0; i < lc->nprocs; i++) {
		if (lc->procs[i].running)
			continue;
		if (cli_lc_spawn(ctx, lc, i, node_bin, router_bin) != 0)
			goto fail;
		size_t n = strlen(started);
		cli_fmt(started + n, sizeof(started) - n, "%s%s", nstarted ? ", " : "",
		        lc->procs[i].name);
		nstarted++;
	}
	if (!partial) {
		char routers_path[PATH_MAX];
		cli_fmt(routers_path, sizeof(routers_path), "%s/routers", lc->dir);
		FILE *rf = fopen(routers_path, "we");
		if (rf == NULL || fprintf(rf, "%s\n", router_addr) < 0 || fclose(rf) != 0) {
			cli_err("%s: cannot write %s: %s", cmd, routers_path, strerror(errno));
			goto fail;
		}
	}
	if (cli_lc_wait(lc, o.wait_ms) != 0)
		goto fail;
	cli_lc_wait_replicas(m, o.wait_ms);
	if (partial)
		printf("started %s (%zu of %zu processes were down) in %s with map epoch %llu\n",
		       started, nstarted, lc->nprocs, lc->dir, (unsigned long long)m->epoch);
	else if (lc->nprocs == 2)
		printf("%s %u-shard cluster in %s: router %s, node %s\n",
		       restart ? "restarted" : "started", m->nshards, lc->dir, router_addr,
		       lc->procs[0].addr);
	else
		printf("%s %u-shard cluster in %s: router %s, nodes %s..%s\n",
		       restart ? "restarted" : "started", m->nshards, lc->dir, router_addr,
		       lc->procs[0].addr, lc->procs[lc->nprocs - 2].addr);
	if (moff != 0)
		printf("metrics: http://127.0.0.1:<port + %u>/metrics of every process (DIR/metrics.json)\n",
		       moff);
	result = CLI_EXIT_OK;
	goto out;
fail:
	cli_lc_stop_started(lc);
	result = CLI_EXIT_FAIL;
	goto out;
out_rc:
	result = rc;
out:
	os_map_unref(m);
	free(lc);
	return result;
}

/* ---- local down / status ------------------------------------------------------------- */

int cli_lc_load(cli_local_cluster *lc, const char *cmd, const char *dir, bool quiet_absent)
{
	int err = cli_lc_init(lc, dir);
	if (err != 0) {
		if (!(quiet_absent && err == ENOENT))
			cli_err("%s: %s: %s", cmd, dir, strerror(err));
		return -1;
	}
	char errbuf[256], router_addr[300];
	os_map *m = NULL;
	if (os_map_load_file(lc->map_path, &m, errbuf, sizeof(errbuf)) != OSTORE_OK) {
		if (!quiet_absent || cli_file_exists(lc->map_path))
			cli_err("%s: no cluster in %s: cannot load %s: %s", cmd, dir, lc->map_path, errbuf);
		return -1;
	}
	if (!cli_lc_router_addr(lc->dir, router_addr, sizeof(router_addr)))
		cli_fmt(router_addr, sizeof(router_addr), "-");
	cli_lc_from_map(lc, m, router_addr);
	os_map_unref(m);
	return 0;
}

