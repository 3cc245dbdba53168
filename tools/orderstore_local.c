/*
 * orderstore_local.c - `orderstore local up|down|status`: a whole cluster on 127.0.0.1
 * under one directory.
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
 * down: SIGTERM each PID whose /proc/PID/cmdline still names orderstore and DIR, wait up
 *       to 10 s, SIGKILL the rest, remove the pid files.
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
#include "util.h"

#define LOCAL_DEFAULT_BASE_PORT 7100u
#define LOCAL_DEFAULT_WAIT_MS 15000u
#define LOCAL_STOP_WAIT_MS 10000u
#define LOCAL_MAX_PROCS (OS_MAP_MAX_IDS + 1)

/* One process of the local cluster. */
typedef struct local_proc {
	char name[32];      /* "node-3", "router" */
	char addr[300];     /* nng URL it listens on */
	char pidfile[PATH_MAX];
	char logfile[PATH_MAX];
	pid_t pid;          /* started by this run; 0 = not started by it */
	bool running;       /* already running before this run (its pid file is live) */
	pid_t running_pid;
	bool up;
} local_proc;

typedef struct local_cluster {
	char dir[PATH_MAX]; /* absolute */
	char map_path[PATH_MAX];
	local_proc procs[LOCAL_MAX_PROCS]; /* nodes by map order, then the router last */
	size_t nprocs;
} local_cluster;

/* ---- cluster layout ---------------------------------------------------------------- */

static int cluster_init(local_cluster *lc, const char *dir)
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

static local_proc *cluster_add(local_cluster *lc, const char *name, const char *addr)
{
	local_proc *p = &lc->procs[lc->nprocs++];
	cli_fmt(p->name, sizeof(p->name), "%s", name);
	cli_fmt(p->addr, sizeof(p->addr), "%s", addr);
	cli_fmt(p->pidfile, sizeof(p->pidfile), "%s/%s.pid", lc->dir, name);
	cli_fmt(p->logfile, sizeof(p->logfile), "%s/%s.log", lc->dir, name);
	return p;
}

/* First router URL from DIR/routers into @out; false if none. */
static bool read_router_addr(const char *dir, char *out, size_t outlen)
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

/* Fill @lc's processes from its map (nodes) and DIR/routers (router). */
static int cluster_from_map(local_cluster *lc, const os_map *m, const char *router_addr)
{
	for (uint16_t i = 0; i < m->nnodes; i++) {
		char name[32];
		cli_fmt(name, sizeof(name), "node-%u", m->nodes[i].id);
		cluster_add(lc, name, m->nodes[i].addr);
	}
	cluster_add(lc, "router", router_addr);
	return 0;
}

/* ---- local up ---------------------------------------------------------------------- */

/* Stop processes this invocation started (our children): TERM, wait, KILL; remove their
 * pid files (never those of processes that were already running). */
static void stop_started(local_cluster *lc)
{
	for (size_t i = 0; i < lc->nprocs; i++)
		if (lc->procs[i].pid > 0)
			kill(lc->procs[i].pid, SIGTERM);
	uint64_t deadline = os_now_ns() + 5000ull * 1000000u;
	for (size_t i = 0; i < lc->nprocs; i++) {
		local_proc *p = &lc->procs[i];
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
static size_t mark_running(local_cluster *lc)
{
	size_t n = 0;
	for (size_t i = 0; i < lc->nprocs; i++) {
		local_proc *p = &lc->procs[i];
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
static pid_t any_running(const local_cluster *lc, char *name, size_t len)
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
	"  --help             this text\n"
	"Node options given here are kept in DIR/local.json for restarts and 'local start'.\n"
	"Binaries: $ORDERSTORE_NODE_BIN / $ORDERSTORE_ROUTER_BIN, else orderstore-node and\n"
	"orderstore-router next to this program (or in ../node, ../router of a build tree).\n"
	"Exit status: 0 up, 1 failed or already running, 2 usage (also a DIR that is not\n"
	"a cluster directory).\n";

enum { OPT_SHARDS = CLI_OPT_FIRST_LOCAL, OPT_BASE_PORT, OPT_NO_SYNC, OPT_WAIT, OPT_REPLICAS,
       OPT_SYNC_REPLICAS, OPT_RETAIN, OPT_METRICS };

/* The options of `local up` after parsing. */
typedef struct up_opts {
	uint32_t shards, base, wait_ms, replicas, sync_k, metrics; /* metrics: port offset */
	uint64_t retain;
	bool no_sync, base_given, replicas_given, sync_given, metrics_given;
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

/* Spawns process @i of @lc (node or, last, the router) and writes its pid file. */
static int up_spawn(cli_ctx *ctx, local_cluster *lc, size_t i, const os_map *m,
                    const char *node_bin, const char *router_bin)
{
	local_proc *p = &lc->procs[i];
	bool is_router = i == lc->nprocs - 1;
	char id[16], data[PATH_MAX];
	const char *args[24];
	int a = 0, err;
	if (is_router) {
		args[a++] = router_bin;
	} else {
		cli_fmt(id, sizeof(id), "%u", m->nodes[i].id);
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

/* Waits until every process answers PING (running ones count as up). Returns 0, or -1
 * after printing why (an early death, a timeout). */
static int up_wait(local_cluster *lc, uint32_t wait_ms)
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
			local_proc *p = &lc->procs[i];
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
			if (!p->up && cli_ping(p->addr, 200) == OSTORE_OK) {
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

/*
 * Waits until the primary of every shard that has replicas reports them all connected
 * (STATS replicas): until then a sync primary answers writes "not enough replicas", and
 * a primary that started empty takes no write before a replica has pulled. Only warns
 * when the time runs out: the cluster is up, the replicas may still come.
 */
static void up_wait_replicas(const os_map *m, uint32_t wait_ms)
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
static os_map *up_restart_map(const local_cluster *lc, const up_opts *o, bool partial)
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

static int local_up(cli_ctx *ctx, int argc, char **argv)
{
	const char *cmd = "local up";
	up_opts o;
	int err, rc = up_parse(ctx, argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = check_dir_usable(cmd, ctx->dir)) != 0)
		return rc;
	err = cli_mkdir_p(ctx->dir);
	local_cluster *lc = calloc(1, sizeof(*lc));
	if (lc == NULL) {
		cli_err("%s: %s", cmd, strerror(ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (err != 0 || (err = cluster_init(lc, ctx->dir)) != 0) {
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
		if (!read_router_addr(lc->dir, router_addr, sizeof(router_addr)) || o.base_given)
			cli_fmt(router_addr, sizeof(router_addr), "tcp://127.0.0.1:%u", o.base);
	} else {
		if (o.shards == 0) {
			free(lc);
			return cli_usage_error(cmd, "--shards N is required for a new cluster");
		}
		m = cli_local_build_map(o.shards, o.replicas, o.base);
		if (m == NULL) {
			cli_err("%s: cannot build the cluster map: %s", cmd, ostore_strerror(OSTORE_ENOMEM));
			free(lc);
			return CLI_EXIT_FAIL;
		}
		cli_fmt(router_addr, sizeof(router_addr), "tcp://127.0.0.1:%u", o.base);
	}
	cluster_from_map(lc, m, router_addr);
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
		if (up_spawn(ctx, lc, i, m, node_bin, router_bin) != 0)
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
	if (up_wait(lc, o.wait_ms) != 0)
		goto fail;
	up_wait_replicas(m, o.wait_ms);
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
	stop_started(lc);
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

/* Load DIR's processes (map.json + routers); prints why and returns -1 on failure. */
static int cluster_load(local_cluster *lc, const char *cmd, const char *dir, bool quiet_absent)
{
	int err = cluster_init(lc, dir);
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
	if (!read_router_addr(lc->dir, router_addr, sizeof(router_addr)))
		cli_fmt(router_addr, sizeof(router_addr), "-");
	cluster_from_map(lc, m, router_addr);
	os_map_unref(m);
	return 0;
}

static const char kDownHelp[] =
	"usage: orderstore local down --dir DIR\n"
	"Stop the processes of the local cluster in DIR (SIGTERM, then SIGKILL after 10 s)\n"
	"and remove their pid files. Data, map and logs stay. Exit status 0 also when the\n"
	"cluster is already down.\n";
static const char kStatusHelp[] =
	"usage: orderstore local status --dir DIR [--timeout-ms MS]\n"
	"For each process of the local cluster in DIR: name, pid, address, role in the\n"
	"newest cluster map (primary or replica of a shard; asked from the running\n"
	"processes) and whether it answers a PING (within --timeout-ms, default 1000).\n"
	"Exit status 0 when all are up, 1 otherwise.\n";

static int local_down(cli_ctx *ctx, const char *dir)
{
	/* Every *.pid file counts, also one whose process is no longer in the map. */
	char abs[PATH_MAX];
	if (realpath(dir, abs) == NULL) {
		printf("no cluster in %s (%s)\n", dir, strerror(errno));
		return CLI_EXIT_OK;
	}
	(void)ctx;
	struct {
		char path[PATH_MAX];
		pid_t pid;
	} *pf = NULL;
	size_t n = 0, cap = 0, signalled = 0;
	DIR *d = opendir(abs);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".pid") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			void *np = realloc(pf, cap * sizeof(*pf));
			if (np == NULL)
				break;
			pf = np;
		}
		cli_fmt(pf[n].path, sizeof(pf[n].path), "%s/%s", abs, de->d_name);
		pf[n].pid = cli_read_pidfile(pf[n].path);
		if (cli_proc_is_ours(pf[n].pid, abs) && kill(pf[n].pid, SIGTERM) == 0)
			signalled++;
		else
			pf[n].pid = 0;
		n++;
	}
	if (d != NULL)
		closedir(d);
	uint64_t deadline = os_now_ns() + (uint64_t)LOCAL_STOP_WAIT_MS * 1000000u;
	size_t killed = 0;
	for (;;) {
		size_t alive = 0;
		for (size_t i = 0; i < n; i++)
			if (pf[i].pid > 0 && cli_proc_is_ours(pf[i].pid, abs))
				alive++;
		if (alive == 0)
			break;
		if (os_now_ns() > deadline) {
			for (size_t i = 0; i < n; i++) {
				if (pf[i].pid > 0 && cli_proc_is_ours(pf[i].pid, abs)) {
					cli_err("local down: %s (pid %ld) ignored SIGTERM for %u s; sending "
					        "SIGKILL", pf[i].path, (long)pf[i].pid, LOCAL_STOP_WAIT_MS / 1000);
					kill(pf[i].pid, SIGKILL);
					killed++;
				}
			}
			nng_msleep(200);
			break;
		}
		nng_msleep(50);
	}
	for (size_t i = 0; i < n; i++)
		unlink(pf[i].path);
	free(pf);
	if (signalled == 0)
		printf("no cluster running in %s\n", abs);
	else
		printf("stopped %zu process%s in %s%s\n", signalled, signalled == 1 ? "" : "es", abs,
		       killed ? " (some with SIGKILL)" : "");
	return CLI_EXIT_OK;
}

static int local_status(cli_ctx *ctx, const char *dir)
{
	local_cluster *lc = calloc(1, sizeof(*lc));
	if (lc == NULL) {
		cli_err("local status: %s", strerror(ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (cluster_load(lc, "local status", dir, false) != 0) {
		free(lc);
		return CLI_EXIT_FAIL;
	}
	uint32_t timeout = ctx->timeout_ms ? ctx->timeout_ms : 1000;
	size_t nup = 0;
	char errbuf[256], role[48];
	os_map *m = NULL;
	if (cli_local_newest_map(lc->dir, timeout, &m, errbuf, sizeof(errbuf)) != 0)
		m = NULL; /* cluster_load read it a moment ago; show no roles then */
	if (m != NULL)
		printf("cluster map epoch %llu\n", (unsigned long long)m->epoch);
	printf("%-10s %8s  %-28s %-20s %s\n", "process", "pid", "address", "role", "state");
	for (size_t i = 0; i < lc->nprocs; i++) {
		local_proc *p = &lc->procs[i];
		unsigned id;
		if (m != NULL && sscanf(p->name, "node-%u", &id) == 1)
			cli_node_role(m, (uint16_t)id, role, sizeof(role));
		else
			cli_fmt(role, sizeof(role), "%s", i == lc->nprocs - 1 ? "router" : "-");
		pid_t pid = cli_read_pidfile(p->pidfile);
		bool running = cli_proc_is_ours(pid, lc->dir);
		bool up = strcmp(p->addr, "-") != 0 && cli_ping(p->addr, timeout) == OSTORE_OK;
		nup += up;
		char pidtxt[24];
		cli_fmt(pidtxt, sizeof(pidtxt), running ? "%ld" : "-", (long)pid);
		printf("%-10s %8s  %-28s %-20s %s\n", p->name, pidtxt, p->addr, role,
		       up ? "up" : running ? "down (running, not answering)" : "down");
	}
	os_map_unref(m);
	size_t total = lc->nprocs;
	free(lc);
	fflush(stdout);
	return nup == total ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static const char kLocalHelp[] =
	"usage: orderstore local up|down|status|kill|start --dir DIR [options]\n"
	"  up       start a cluster of N shards under DIR (see 'orderstore local up --help')\n"
	"  down     stop it\n"
	"  status   show its processes and their roles\n"
	"  kill     SIGKILL one node (NODE or --primary-of S)\n"
	"  start    restart one node with the newest cluster map\n";

int cli_cmd_local(cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(kLocalHelp, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "up") == 0)
		return local_up(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "kill") == 0)
		return cli_local_kill(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "start") == 0)
		return cli_local_start(ctx, argc - 1, argv + 1);
	bool down = strcmp(sub, "down") == 0;
	if (!down && strcmp(sub, "status") != 0)
		return cli_usage_error("local", "unknown subcommand '%s' (up, down, status, kill or start)", sub);

	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	const char *cmd = down ? "local down" : "local status";
	int c;
	argc--;
	argv++;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		int orc = cli_opt_rest(ctx, cmd, c, argv, down ? kDownHelp : kStatusHelp);
		if (orc != CLI_OPT_NEXT)
			return orc;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	return down ? local_down(ctx, ctx->dir) : local_status(ctx, ctx->dir);
}
