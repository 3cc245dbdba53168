/*
 * orderstore_reseed.c - `reseed`: bring back a node whose data directory is damaged
 * (it refused to start with exit status 3, docs/operations.md) from its shard.
 *
 *   newest map ─▶ node N's shard S ─▶ N primary?  no --failover: refuse, say so
 *                                     └ --failover: `failover --shard S` first
 *              ─▶ S's primary P (≠ N) answers STATS as primary, else refuse
 *              ─▶ the data directory must be N's (node.created names the node) and
 *                 free (no process holds its node.lock); else refuse, nothing moved
 *              ─▶ move N's data directory aside (DIR.damaged-TIME: kept, never deleted)
 *              ─▶ local form (--dir): start N on an empty directory (`local start`),
 *                 wait until its applied LSN reaches P's LSN of before the start
 *                 explicit form (--data DIR): print how to start N; it re-seeds itself
 *
 * The empty node joins S as a replica: its first pull is behind P's retained log or
 * P's log still starts at LSN 1; either way it gets everything (snapshot, then log).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "orderstore_cli.h"
#include "util.h"

#define RESEED_WAIT_MS 60000u
#define RESEED_PROBE_MS 2000u

static const char kReseedHelp[] =
	"usage: orderstore reseed --node N (--dir DIR | --data DATADIR) [--failover]\n"
	"                         [--force-unknown-dir] [--wait-ms MS] [common options]\n"
	"Re-seed node N, whose data directory is damaged (the node exits with status 3 at\n"
	"start), from the primary of its shard. Its data directory is moved aside to\n"
	"DATADIR.damaged-YYYYmmddTHHMMSS[-K] (kept for inspection, never deleted) and the node\n"
	"comes back empty as a replica: it takes a snapshot of the primary and catches up\n"
	"from its write log.\n"
	"  --dir DIR      a local cluster ('orderstore local up'): the node's directory is\n"
	"                 DIR/node-N; the node is started and the command waits until it has\n"
	"                 caught up with the primary\n"
	"  --data DATADIR the node's data directory on this machine (cluster found by\n"
	"                 --router or $ORDERSTORE_ROUTER): moved aside, then start\n"
	"                 orderstore-node with its usual options yourself\n"
	"  --node N       the node to re-seed\n"
	"  --failover     N is the primary of its shard: promote a replica first\n"
	"                 ('orderstore failover'); without it such a reseed is refused\n"
	"  --force-unknown-dir  the directory's node.created does not name its node (written\n"
	"                 by an older version, or damaged): move it anyway as node N's\n"
	"  --wait-ms MS   how long to wait for the catch-up (default 60000)\n"
	"Refused, nothing moved: N is not in the cluster map; the directory belongs to\n"
	"another node (node.created), or does not say whose it is (without\n"
	"--force-unknown-dir); a process still holds it (node.lock) or N runs (local form);\n"
	"N is the primary and --failover is not given; no other node of the shard answers\n"
	"as its primary (no copy of the data to re-seed from).\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 re-seeded (or moved aside, explicit form), 1 refused or failed,\n"
	"2 usage, 3 the cluster did not answer.\n";

enum { OPT_NODE = CLI_OPT_FIRST_LOCAL + 400, OPT_DATA, OPT_FAILOVER, OPT_RWAIT, OPT_FORCE_DIR };

/* The shard of node @id in @m and whether it is its primary. Returns false if none. */
static bool node_shard(const os_map *m, uint16_t id, const os_map_shard **out, bool *primary)
{
	for (uint16_t s = 0; s < m->nshards; s++) {
		const os_map_shard *sh = &m->shards[s];
		bool is_p = sh->primary == id, is_r = false;
		for (uint16_t r = 0; r < sh->nreplicas; r++)
			is_r = is_r || sh->replicas[r] == id;
		if (is_p || is_r) {
			*out = sh;
			*primary = is_p;
			return true;
		}
	}
	return false;
}

/* Runs another subcommand of this CLI in-process (getopt state reset). */
static int run_sub(cli_ctx *ctx, int (*fn)(cli_ctx *, int, char **), int argc, char **argv)
{
	optind = 0; /* GNU getopt: re-initialise */
	return fn(ctx, argc, argv);
}

/* Checks that @data is node @node's data directory and that no process holds it.
 * On success returns 0 and sets *@lock_fd to a descriptor holding the directory's
 * node.lock (the node's own flock, taken the same way: a node started meanwhile cannot
 * open it) or -1 when it has none; the caller closes it after the move. Returns -1
 * after printing why the directory is refused. */
static int check_data_dir(const char *cmd, const char *data, uint32_t node, bool force_unknown,
                          int *lock_fd)
{
	char path[PATH_MAX + 32];
	*lock_fd = -1;
	cli_fmt(path, sizeof(path), "%s/data.mdb", data);
	bool has_env = cli_file_exists(path);
	cli_fmt(path, sizeof(path), "%s/node.created", data);
	if (!has_env && !cli_file_exists(path)) {
		cli_err("%s: %s is not a node data directory (no data.mdb, no node.created)", cmd, data);
		return -1;
	}
	char text[64] = "";
	unsigned stored = 0;
	char extra = 0;
	FILE *f = fopen(path, "re");
	size_t n = f != NULL ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	text[n] = '\0';
	bool known = sscanf(text, "node_id %u%c", &stored, &extra) == 2 && extra == '\n' &&
	             stored < OS_MAP_MAX_IDS;
	if (known && stored != node) {
		cli_err("%s: %s belongs to node %u, not node %u (%s); nothing was moved", cmd, data,
		        stored, node, path);
		return -1;
	}
	if (!known && !force_unknown) {
		cli_err("%s: cannot tell which node %s belongs to (%s does not name it: written by "
		        "an older version, or damaged); if it is node %u's, add --force-unknown-dir; "
		        "nothing was moved", cmd, data, path, node);
		return -1;
	}
	cli_fmt(path, sizeof(path), "%s/node.lock", data);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		cli_err("%s: cannot open %s: %s; nothing was moved", cmd, path, strerror(errno));
		return -1;
	}
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		close(fd);
		cli_err("%s: %s is in use by a running process (%s: %s): stop that node first; "
		        "nothing was moved", cmd, data, path,
		        err == EWOULDBLOCK ? "locked" : strerror(err));
		return -1;
	}
	*lock_fd = fd;
	return 0;
}

/* Moves @data aside to @data.damaged-TIME. Returns 0, or -1 after printing why. */
static int move_aside(const char *cmd, const char *data, char *dest, size_t len)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	int cut = cli_fmt(dest, len, "%s.damaged-%s", data, stamp);
	for (int i = 2; cut == 0 && cli_file_exists(dest) && i < 100; i++)
		cut = cli_fmt(dest, len, "%s.damaged-%s-%d", data, stamp, i);
	if (cut != 0 || cli_file_exists(dest)) {
		cli_err("%s: cannot find a free name to move %s to", cmd, data);
		return -1;
	}
	if (rename(data, dest) != 0) {
		cli_err("%s: cannot move %s to %s: %s", cmd, data, dest, strerror(errno));
		return -1;
	}
	printf("moved the damaged data directory %s to %s (kept)\n", data, dest);
	return 0;
}

/* Waits until node @addr reports an applied LSN >= @target as a replica. */
static int wait_caught_up(const char *cmd, uint16_t node, const char *addr, uint64_t target,
                          uint32_t wait_ms)
{
	uint64_t deadline = os_now_ns() + (uint64_t)wait_ms * 1000000u;
	os_stats_entry e = {0};
	int st = OSTORE_ETIMEDOUT;
	for (;;) {
		st = cli_node_stats(addr, RESEED_PROBE_MS, &e, NULL);
		if (st == OSTORE_OK && e.role == OS_ROLE_REPLICA && e.lsn >= target) {
			printf("node %u re-seeded: applied lsn %" PRIu64 " (primary had %" PRIu64
			       " when it started), %" PRIu64 " orders\n",
			       node, e.lsn, target, e.orders);
			return CLI_EXIT_OK;
		}
		if (os_now_ns() >= deadline)
			break;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
		nanosleep(&ts, NULL);
	}
	cli_err("%s: node %u has not caught up within %u ms (%s, applied lsn %" PRIu64 " of %"
	        PRIu64 "); see 'orderstore status'", cmd, node, wait_ms,
	        st == OSTORE_OK ? "answers" : ostore_strerror(st), e.lsn, target);
	return CLI_EXIT_FAIL;
}

int cli_cmd_reseed(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"node", required_argument, NULL, OPT_NODE},
		{"data", required_argument, NULL, OPT_DATA},
		{"failover", no_argument, NULL, OPT_FAILOVER},
		{"force-unknown-dir", no_argument, NULL, OPT_FORCE_DIR},
		{"wait-ms", required_argument, NULL, OPT_RWAIT},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "reseed", *data_opt = NULL;
	uint32_t node = 0, wait_ms = RESEED_WAIT_MS;
	bool have_node = false, failover = false, force_unknown = false;
	int c, rc, orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_NODE) {
			if ((rc = cli_parse_u32(cmd, "--node", optarg, 0, OS_MAP_MAX_IDS - 1, &node)) != 0)
				return rc;
			have_node = true;
		} else if (c == OPT_DATA) {
			data_opt = optarg;
		} else if (c == OPT_FAILOVER) {
			failover = true;
		} else if (c == OPT_FORCE_DIR) {
			force_unknown = true;
		} else if (c == OPT_RWAIT) {
			if ((rc = cli_parse_u32(cmd, "--wait-ms", optarg, 1, 3600000, &wait_ms)) != 0)
				return rc;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kReseedHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!have_node)
		return cli_usage_error(cmd, "--node N is required");
	if ((ctx->dir == NULL) == (data_opt == NULL))
		return cli_usage_error(cmd, "give either --dir DIR (local cluster) or --data DATADIR");
	if (data_opt != NULL && data_opt[0] == '\0')
		return cli_usage_error(cmd, "--data needs a directory");

	char dir[PATH_MAX] = "", data[PATH_MAX], pidfile[PATH_MAX];
	if (ctx->dir != NULL) {
		if (realpath(ctx->dir, dir) == NULL) {
			cli_err("%s: %s: %s", cmd, ctx->dir, strerror(errno));
			return CLI_EXIT_FAIL;
		}
		cli_fmt(data, sizeof(data), "%s/node-%u", dir, node);
		cli_fmt(pidfile, sizeof(pidfile), "%s/node-%u.pid", dir, node);
		pid_t pid = cli_read_pidfile(pidfile);
		if (cli_proc_is_ours(pid, dir)) {
			cli_err("%s: node %u runs (pid %ld): a node that serves its data needs no re-seed",
			        cmd, node, (long)pid);
			return CLI_EXIT_FAIL;
		}
	} else {
		cli_fmt(data, sizeof(data), "%s", data_opt);
	}
	uint32_t tmo = ctx->timeout_ms ? ctx->timeout_ms : RESEED_PROBE_MS;
	os_map *m = NULL;
	if ((rc = cli_find_map(ctx, cmd, tmo, &m)) != 0)
		return rc;
	int result = CLI_EXIT_FAIL, lock_fd = -1;
	const os_map_shard *sh = NULL;
	bool is_primary = false;
	if (!node_shard(m, (uint16_t)node, &sh, &is_primary)) {
		cli_err("%s: no node %u in the cluster map (epoch %" PRIu64 ", in no shard)", cmd, node,
		        m->epoch);
		goto out;
	}
	if (check_data_dir(cmd, data, node, force_unknown, &lock_fd) != 0)
		goto out;
	uint16_t shard = sh->id;
	if (is_primary && sh->nreplicas == 0) {
		cli_err("%s: node %u is the only node of shard %u: no copy of its data to re-seed "
		        "from (restore it from a backup)", cmd, node, shard);
		goto out;
	}
	if (is_primary && !failover) {
		cli_err("%s: node %u is the primary of shard %u: promote a replica first "
		        "('orderstore failover --shard %u'), or run reseed with --failover", cmd, node,
		        shard, shard);
		goto out;
	}
	if (is_primary) {
		char sarg[16];
		cli_fmt(sarg, sizeof(sarg), "%u", shard);
		char *fargv[] = {"failover", "--shard", sarg, NULL};
		printf("node %u is the primary of shard %u: failing over first\n", node, shard);
		if ((rc = run_sub(ctx, cli_cmd_failover, 3, fargv)) != CLI_EXIT_OK) {
			cli_err("%s: failover of shard %u failed; nothing was moved", cmd, shard);
			result = rc;
			goto out;
		}
		os_map_unref(m);
		m = NULL;
		if ((rc = cli_find_map(ctx, cmd, tmo, &m)) != 0) {
			result = rc;
			goto out;
		}
		if (!node_shard(m, (uint16_t)node, &sh, &is_primary) || is_primary) {
			cli_err("%s: node %u is still the primary of shard %u after the failover", cmd, node,
			        shard);
			goto out;
		}
	}
	const os_map_node *pn = os_map_node_by_id(m, sh->primary);
	os_stats_entry pe;
	int st = pn != NULL ? cli_node_stats(pn->addr, tmo, &pe, NULL) : OSTORE_ENOMAP;
	if (st != OSTORE_OK || pe.role != OS_ROLE_PRIMARY) {
		cli_err("%s: the primary of shard %u (node %u) %s: no healthy copy to re-seed from; "
		        "nothing was moved", cmd, shard, sh->primary,
		        st != OSTORE_OK ? ostore_strerror(st) : "does not answer as primary");
		result = st == OSTORE_OK ? CLI_EXIT_FAIL : CLI_EXIT_UNREACHABLE;
		goto out;
	}
	printf("shard %u: primary node %u (%s) at applied lsn %" PRIu64 ", %" PRIu64 " orders\n",
	       shard, sh->primary, pn->addr, pe.lsn, pe.orders);
	char aside[PATH_MAX + 64];
	if (move_aside(cmd, data, aside, sizeof(aside)) != 0)
		goto out;
	if (lock_fd >= 0)
		close(lock_fd); /* the lock moved aside with the directory */
	lock_fd = -1;
	/* An empty directory in its place: the node (or `local start`) starts on it. */
	int err = cli_mkdir_p(data);
	if (err != 0) {
		cli_err("%s: cannot create the empty %s: %s", cmd, data, strerror(err));
		goto out;
	}
	if (ctx->dir == NULL) {
		printf("now start orderstore-node --id %u --data %s with its usual options: it joins "
		       "shard %u as a replica and re-seeds from node %u (watch 'orderstore status')\n",
		       node, data, shard, sh->primary);
		result = CLI_EXIT_OK;
		goto out;
	}
	char narg[16];
	cli_fmt(narg, sizeof(narg), "%u", node);
	char *sargv[] = {"start", narg, NULL};
	if ((rc = run_sub(ctx, cli_local_start, 2, sargv)) != CLI_EXIT_OK) {
		result = rc;
		goto out;
	}
	const os_map_node *nn = os_map_node_by_id(m, (uint16_t)node);
	result = nn != NULL ? wait_caught_up(cmd, (uint16_t)node, nn->addr, pe.lsn, wait_ms)
	                    : CLI_EXIT_FAIL;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	os_map_unref(m);
	return result;
}
