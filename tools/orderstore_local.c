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
 *       stop what was started, print the log tails, exit 1.
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
	pid_t pid;          /* 0 = not started / not running */
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

/* Stop processes this invocation started (our children): TERM, wait, KILL; remove pid
 * files. */
static void stop_started(local_cluster *lc)
{
	for (size_t i = 0; i < lc->nprocs; i++)
		if (lc->procs[i].pid > 0)
			kill(lc->procs[i].pid, SIGTERM);
	uint64_t deadline = os_now_ns() + 5000ull * 1000000u;
	for (size_t i = 0; i < lc->nprocs; i++) {
		local_proc *p = &lc->procs[i];
		unlink(p->pidfile); /* this run wrote it (stale ones were removed before) */
		if (p->pid <= 0)
			continue;
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

static const char kUpHelp[] =
	"usage: orderstore local up --dir DIR --shards N [--replicas R] [options]\n"
	"Start N x (1 + R) nodes and one router on 127.0.0.1 in the background, with all\n"
	"state under DIR, and return once every process answers. Shard s has primary node\n"
	"s*(R+1) and replicas s*(R+1)+1 .. s*(R+1)+R. The router listens on\n"
	"tcp://127.0.0.1:P, node i on P+1+i. Its URL is written to DIR/routers, so data\n"
	"commands can use --dir DIR. Run again on a stopped DIR to restart the cluster with\n"
	"its data and map (--shards and --replicas may then be left out).\n"
	"\nOptions:\n"
	"  --dir DIR          cluster directory (created if missing)\n"
	"  --shards N         number of shards, 1..1000\n"
	"  --replicas R       replicas per shard, 0..8 (default 0)\n"
	"  --sync-replicas K  replica acks a primary waits for before acknowledging a write\n"
	"                     (default 1 when R >= 1; 0 = asynchronous replication)\n"
	"  --base-port P      router port; nodes use the next N x (1 + R) ports (default 7100)\n"
	"  --no-sync          nodes skip fsync (throwaway data, faster)\n"
	"  --wait-ms MS       how long to wait for the cluster to answer (default 15000)\n"
	"  --log-level L      log level of the started processes (debug|info|warn|error)\n"
	"  --help             this text\n"
	"Binaries: $ORDERSTORE_NODE_BIN / $ORDERSTORE_ROUTER_BIN, else orderstore-node and\n"
	"orderstore-router next to this program (or in ../node, ../router of a build tree).\n";

enum { OPT_SHARDS = CLI_OPT_FIRST_LOCAL, OPT_BASE_PORT, OPT_NO_SYNC, OPT_WAIT, OPT_REPLICAS,
       OPT_SYNC_REPLICAS };

static int local_up(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"shards", required_argument, NULL, OPT_SHARDS},
		{"base-port", required_argument, NULL, OPT_BASE_PORT},
		{"no-sync", no_argument, NULL, OPT_NO_SYNC},
		{"wait-ms", required_argument, NULL, OPT_WAIT},
		{"replicas", required_argument, NULL, OPT_REPLICAS},
		{"sync-replicas", required_argument, NULL, OPT_SYNC_REPLICAS},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "local up";
	uint32_t shards = 0, base = LOCAL_DEFAULT_BASE_PORT, wait_ms = LOCAL_DEFAULT_WAIT_MS;
	uint32_t replicas = 0, sync_k = 0;
	bool no_sync = false, base_given = false, replicas_given = false, sync_given = false;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SHARDS:
			if ((rc = cli_parse_u32(cmd, "--shards", optarg, 1, 1000, &shards)) != 0)
				return rc;
			break;
		case OPT_BASE_PORT:
			if ((rc = cli_parse_u32(cmd, "--base-port", optarg, 1, 65535, &base)) != 0)
				return rc;
			base_given = true;
			break;
		case OPT_NO_SYNC:
			no_sync = true;
			break;
		case OPT_WAIT:
			if ((rc = cli_parse_u32(cmd, "--wait-ms", optarg, 1, 3600000, &wait_ms)) != 0)
				return rc;
			break;
		case OPT_REPLICAS:
			if ((rc = cli_parse_u32(cmd, "--replicas", optarg, 0, OS_MAP_MAX_REPLICAS,
			                        &replicas)) != 0)
				return rc;
			replicas_given = true;
			break;
		case OPT_SYNC_REPLICAS:
			if ((rc = cli_parse_u32(cmd, "--sync-replicas", optarg, 0, OS_MAP_MAX_REPLICAS,
			                        &sync_k)) != 0)
				return rc;
			sync_given = true;
			break;
		case CLI_OPT_HELP:
			fputs(kUpHelp, stdout);
			return CLI_EXIT_OK;
		case ':':
		case '?':
			return cli_getopt_fail(cmd, c, argv);
		default:
			if (cli_common_opt(ctx, cmd, c, optarg) != 0)
				return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	if (shards != 0 && base + shards * (replicas + 1) > 65535)
		return cli_usage_error(cmd, "--base-port %u with %u nodes needs ports past 65535",
		                       base, shards * (replicas + 1));
	if (shards != 0 && shards * (replicas + 1) > OS_MAP_MAX_IDS)
		return cli_usage_error(cmd, "%u shards x %u nodes exceed %u node ids", shards,
		                       replicas + 1, OS_MAP_MAX_IDS);
	if (sync_given && replicas_given && sync_k > replicas)
		return cli_usage_error(cmd, "--sync-replicas %u is more than --replicas %u", sync_k,
		                       replicas);

	int err = cli_mkdir_p(ctx->dir);
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

	/* Refuse if a cluster already runs here: any pid file naming a live process of ours. */
	DIR *d = opendir(lc->dir);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".pid") != 0)
			continue;
		char path[PATH_MAX];
		cli_fmt(path, sizeof(path), "%s/%s", lc->dir, de->d_name);
		pid_t pid = cli_read_pidfile(path);
		if (cli_proc_is_ours(pid, lc->dir)) {
			cli_err("%s: a cluster is already running in %s (%.*s, pid %ld); stop it with "
			        "'orderstore local down --dir %s'",
			        cmd, lc->dir, (int)(n - 4), de->d_name, (long)pid, ctx->dir);
			closedir(d);
			free(lc);
			return CLI_EXIT_FAIL;
		}
		unlink(path); /* stale */
	}
	if (d != NULL)
		closedir(d);

	/* The map: reuse DIR/map.json (restart) or build a fresh one. */
	char errbuf[256], router_addr[300];
	os_map *m = NULL;
	bool restart = cli_file_exists(lc->map_path);
	if (restart) {
		if (os_map_load_file(lc->map_path, &m, errbuf, sizeof(errbuf)) != OSTORE_OK) {
			cli_err("%s: cannot load %s: %s", cmd, lc->map_path, errbuf);
			free(lc);
			return CLI_EXIT_FAIL;
		}
		if (shards != 0 && shards != m->nshards) {
			cli_err("%s: %s holds a cluster of %u shards, not %u (remove the directory "
			        "for a new cluster)",
			        cmd, lc->dir, m->nshards, shards);
			os_map_unref(m);
			free(lc);
			return CLI_EXIT_FAIL;
		}
		if (replicas_given && m->shards[0].nreplicas != replicas) {
			cli_err("%s: %s holds a cluster with %u replicas per shard, not %u", cmd, lc->dir,
			        m->shards[0].nreplicas, replicas);
			os_map_unref(m);
			free(lc);
			return CLI_EXIT_FAIL;
		}
		if (!read_router_addr(lc->dir, router_addr, sizeof(router_addr)) || base_given)
			cli_fmt(router_addr, sizeof(router_addr), "tcp://127.0.0.1:%u", base);
	} else {
		if (shards == 0) {
			free(lc);
			return cli_usage_error(cmd, "--shards N is required for a new cluster");
		}
		m = cli_local_build_map(shards, replicas, base);
		if (m == NULL) {
			cli_err("%s: cannot build the cluster map: %s", cmd, ostore_strerror(OSTORE_ENOMEM));
			free(lc);
			return CLI_EXIT_FAIL;
		}
		cli_fmt(router_addr, sizeof(router_addr), "tcp://127.0.0.1:%u", base);
	}
	cluster_from_map(lc, m, router_addr);
	uint16_t *node_ids = calloc(m->nnodes ? m->nnodes : 1, sizeof(*node_ids));
	for (uint16_t i = 0; node_ids != NULL && i < m->nnodes; i++)
		node_ids[i] = m->nodes[i].id;
	int result = CLI_EXIT_FAIL;

	/* Every port must be free before anything starts. */
	for (size_t i = 0; i < lc->nprocs; i++) {
		if (!cli_port_free(lc->procs[i].addr)) {
			char host[256];
			cli_err("%s: port %d (%s, %s) is already in use; choose another --base-port", cmd,
			        cli_url_port(lc->procs[i].addr, host, sizeof(host)), lc->procs[i].name,
			        lc->procs[i].addr);
			goto out;
		}
	}
	if (!restart && os_map_save_file(m, lc->map_path, errbuf, sizeof(errbuf)) != OSTORE_OK) {
		cli_err("%s: cannot write %s: %s", cmd, lc->map_path, errbuf);
		goto out;
	}
	/* Node options, remembered for `local start` and restarts. K defaults to 1 where a
	 * shard has a replica; without replicas and without --sync-replicas nothing is passed. */
	if (!restart || sync_given || no_sync || ctx->log_level_str != NULL) {
		int k = sync_given ? (int)sync_k : m->shards[0].nreplicas > 0 ? 1 : -1;
		if ((err = cli_local_save_conf(lc->dir, no_sync, k, ctx->log_level_str)) != 0) {
			cli_err("%s: cannot write %s/local.json: %s", cmd, lc->dir, strerror(err));
			goto out;
		}
	}
	char node_bin[PATH_MAX], router_bin[PATH_MAX];
	if (node_ids == NULL ||
	    cli_find_bin("ORDERSTORE_NODE_BIN", "orderstore-node", "node", node_bin, sizeof(node_bin)) ||
	    cli_find_bin("ORDERSTORE_ROUTER_BIN", "orderstore-router", "router", router_bin,
	             sizeof(router_bin)))
		goto out;

	/* Start the nodes, then the router. */
	for (size_t i = 0; i < lc->nprocs; i++) {
		local_proc *p = &lc->procs[i];
		bool is_router = i == lc->nprocs - 1;
		char id[16], data[PATH_MAX];
		const char *args[24];
		int a = 0;
		if (is_router) {
			args[a++] = router_bin;
		} else {
			cli_fmt(id, sizeof(id), "%u", node_ids[i]);
			cli_fmt(data, sizeof(data), "%s/%s", lc->dir, p->name);
			if ((err = cli_mkdir_p(data)) != 0) {
				cli_err("%s: cannot create %s: %s", cmd, data, strerror(err));
				goto fail;
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
			goto fail;
		if (is_router && ctx->log_level_str != NULL) {
			args[a++] = "--log-level";
			args[a++] = ctx->log_level_str;
		}
		args[a] = NULL;
		p->pid = cli_spawn_detached(args, p->logfile);
		if (p->pid < 0) {
			p->pid = 0;
			goto fail;
		}
		if ((err = cli_write_pidfile(p->pidfile, p->pid)) != 0) {
			cli_err("%s: cannot write %s: %s", cmd, p->pidfile, strerror(err));
			goto fail;
		}
	}
	char routers_path[PATH_MAX];
	cli_fmt(routers_path, sizeof(routers_path), "%s/routers", lc->dir);
	FILE *rf = fopen(routers_path, "we");
	if (rf == NULL || fprintf(rf, "%s\n", router_addr) < 0 || fclose(rf) != 0) {
		cli_err("%s: cannot write %s: %s", cmd, routers_path, strerror(errno));
		goto fail;
	}

	/* Wait until every process answers PING; notice early deaths. */
	uint64_t deadline = os_now_ns() + (uint64_t)wait_ms * 1000000u;
	size_t nup = 0;
	while (nup < lc->nprocs && os_now_ns() < deadline) {
		for (size_t i = 0; i < lc->nprocs; i++) {
			local_proc *p = &lc->procs[i];
			int status;
			if (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == p->pid) {
				cli_err("%s: %s (pid %ld) exited with %s %d before answering", cmd, p->name,
				        (long)p->pid, WIFEXITED(status) ? "status" : "signal",
				        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				p->pid = 0;
				cli_print_log_tail(p->name, p->logfile, 15);
				goto fail;
			}
			if (!p->up && cli_ping(p->addr, 200) == OSTORE_OK) {
				p->up = true;
				nup++;
			}
		}
	}
	if (nup < lc->nprocs) {
		cli_err("%s: the cluster did not answer within %u ms:", cmd, wait_ms);
		for (size_t i = 0; i < lc->nprocs; i++) {
			if (lc->procs[i].up)
				continue;
			fprintf(stderr, "  %s (%s, pid %ld) does not answer PING\n", lc->procs[i].name,
			        lc->procs[i].addr, (long)lc->procs[i].pid);
			cli_print_log_tail(lc->procs[i].name, lc->procs[i].logfile, 15);
		}
		goto fail;
	}
	printf("%s %u-shard cluster in %s: router %s, nodes %s..%s\n",
	       restart ? "restarted" : "started", m->nshards, lc->dir, router_addr,
	       lc->procs[0].addr, lc->procs[lc->nprocs - 2].addr);
	result = CLI_EXIT_OK;
	goto out;
fail:
	stop_started(lc);
	result = CLI_EXIT_FAIL;
out:
	free(node_ids);
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
		if (c == CLI_OPT_HELP) {
			fputs(down ? kDownHelp : kStatusHelp, stdout);
			return CLI_EXIT_OK;
		}
		if (c == ':' || c == '?')
			return cli_getopt_fail(cmd, c, argv);
		if (cli_common_opt(ctx, cmd, c, optarg) != 0)
			return CLI_EXIT_USAGE;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	return down ? local_down(ctx, ctx->dir) : local_status(ctx, ctx->dir);
}
