/*
 * orderstore_local_ops.c - `orderstore local down|status|add-shard` and the `local`
 * dispatch (`local up` is orderstore_local.c, `local kill|start` orderstore_ctl.c).
 *
 * down:      SIGTERM each PID whose /proc/PID/cmdline still names orderstore and DIR,
 *            wait up to 10 s, SIGKILL the rest, remove the pid files.
 * status:    every process of DIR (the nodes of DIR/map.json and the router), its role
 *            in the newest map and whether it answers PING.
 * add-shard: orderstore_shards.c (it starts the new nodes through cli_lc_spawn).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_cli.h"
#include "orderstore_local.h"
#include "util.h"

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
	cli_local_cluster *lc = calloc(1, sizeof(*lc));
	if (lc == NULL) {
		cli_err("local status: %s", strerror(ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (cli_lc_load(lc, "local status", dir, false) != 0) {
		free(lc);
		return CLI_EXIT_FAIL;
	}
	uint32_t timeout = ctx->timeout_ms ? ctx->timeout_ms : 1000;
	size_t nup = 0;
	char errbuf[256], role[48];
	os_map *m = NULL;
	if (cli_local_newest_map(lc->dir, timeout, &m, errbuf, sizeof(errbuf)) != 0)
		m = NULL; /* cli_lc_load read it a moment ago; show no roles then */
	if (m != NULL)
		printf("cluster map epoch %llu\n", (unsigned long long)m->epoch);
	printf("%-10s %8s  %-28s %-20s %s\n", "process", "pid", "address", "role", "state");
	for (size_t i = 0; i < lc->nprocs; i++) {
		cli_local_proc *p = &lc->procs[i];
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
	"usage: orderstore local up|down|status|kill|start|add-shard --dir DIR [options]\n"
	"  up       start a cluster of N shards under DIR (see 'orderstore local up --help')\n"
	"  down     stop it\n"
	"  status   show its processes and their roles\n"
	"  kill     SIGKILL one node (NODE or --primary-of S)\n"
	"  start    restart one node with the newest cluster map\n"
	"  add-shard  start a new shard's nodes and add it to the map (then 'rebalance')\n";

int cli_cmd_local(cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(kLocalHelp, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "up") == 0)
		return cli_local_up(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "add-shard") == 0)
		return cli_local_add_shard(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "kill") == 0)
		return cli_local_kill(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "start") == 0)
		return cli_local_start(ctx, argc - 1, argv + 1);
	bool down = strcmp(sub, "down") == 0;
	if (!down && strcmp(sub, "status") != 0)
		return cli_usage_error("local", "unknown subcommand '%s' (up, down, status, kill, start or add-shard)", sub);

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
