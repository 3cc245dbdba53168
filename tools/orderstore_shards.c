/*
 * orderstore_shards.c - capacity: `add-shard`, `remove-shard` and `local add-shard`.
 *
 *   add-shard --primary ID=URL [--replica ID=URL ...]
 *     newest map ─▶ map' = map + nodes + shard (next free id, weight 1, no slots),
 *     epoch + 1 ─▶ MAP_SET to the old nodes first (so the newest map is always found
 *     from the old ones), then the new nodes and the routers ─▶ DIR/map.json
 *     The new shard gets slots with `orderstore rebalance`.
 *   local add-shard --dir DIR [--replicas R]
 *     new node ids and free ports ─▶ map' saved to DIR/map.json (so `local status`,
 *     `down`, `kill`, `start` and restarts know the new nodes) ─▶ start them as `local
 *     up` does (DIR/local.json options, pid files, logs, metrics address) ─▶ PING ─▶
 *     publish map' as add-shard does
 *   remove-shard S
 *     weight of S = 0 (epoch + 1, pushed) ─▶ rebalance (S gives all its slots, nothing
 *     else moves) ─▶ map' without S and its nodes (epoch + 1, pushed also to S's nodes)
 *     ─▶ with --dir: stop S's node processes
 *
 * Crash safety: each step is a map change the nodes hold; running remove-shard again
 * continues from the map (weight already 0, slots already moved, shard already gone:
 * then only the processes of nodes no longer in the map are stopped). After a crash of
 * `local add-shard`, DIR/map.json holds the new shard: `orderstore rebalance --dir DIR`
 * pushes it to every node and router.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_local.h"
#include "orderstore_rebalance.h"
#include "util.h"

enum { OPT_PRIMARY = CLI_OPT_FIRST_LOCAL + 400, OPT_REPLICA, OPT_SREPLICAS, OPT_SMAXSLOTS,
       OPT_SRATE, OPT_SWAIT };

/* The nodes of a new shard: [0] is the primary. */
typedef struct new_shard {
	uint16_t ids[1 + OS_MAP_MAX_REPLICAS];
	char addrs[1 + OS_MAP_MAX_REPLICAS][300];
	size_t n;
} new_shard;

/* ---- add-shard ------------------------------------------------------------------- */

static const char kAddHelp[] =
	"usage: orderstore add-shard --primary NODE_ID=URL [--replica NODE_ID=URL ...]\n"
	"                            [common options]\n"
	"Add a shard (the next free shard id, weight 1, no slots yet) whose nodes are already\n"
	"running: the next cluster map (epoch + 1) goes to every node, old ones first, then\n"
	"the new ones and the routers, and to DIR/map.json with --dir. Then run\n"
	"'orderstore rebalance' to give it its share of the slots.\n"
	"\nOptions:\n"
	"  --primary ID=URL   the new shard's primary: a node id not in the map (0..1023)\n"
	"                     and its nng URL\n"
	"  --replica ID=URL   a replica of the new shard (repeatable, at most 8)\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 added, 1 refused (e.g. the new primary did not take the map), 2 usage\n"
	"(also a node id or address already in the map), 3 the cluster did not answer.\n";

/* Parses "ID=URL" into slot @k of @ns. Returns 0 or CLI_EXIT_USAGE. */
static int parse_node(const char *cmd, const char *opt, const char *arg, new_shard *ns, size_t k)
{
	const char *eq = strchr(arg, '=');
	char idtxt[16];
	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(idtxt))
		return cli_usage_error(cmd, "%s '%s': expected NODE_ID=URL, e.g. 7=tcp://10.0.0.5:7107",
		                       opt, arg);
	memcpy(idtxt, arg, (size_t)(eq - arg));
	idtxt[eq - arg] = '\0';
	uint32_t id;
	if (cli_parse_u32(cmd, opt, idtxt, 0, OS_MAP_MAX_IDS - 1, &id) != 0)
		return CLI_EXIT_USAGE;
	if (cli_check_url(cmd, opt, eq + 1) != 0)
		return CLI_EXIT_USAGE;
	if (strlen(eq + 1) >= sizeof(ns->addrs[0]))
		return cli_usage_error(cmd, "%s: URL too long", opt);
	for (size_t i = 0; i < ns->n; i++)
		if (i != k && ns->ids[i] == id && ns->addrs[i][0] != '\0')
			return cli_usage_error(cmd, "node id %u is given twice", id);
	ns->ids[k] = (uint16_t)id;
	cli_fmt(ns->addrs[k], sizeof(ns->addrs[k]), "%s", eq + 1);
	return 0;
}

/* The next map: @m + @ns's nodes + shard (max id + 1); *shard_out its id. NULL after
 * printing why (usage problems return NULL with *rc = 2). */
static os_map *map_with_shard(const char *cmd, const os_map *m, const new_shard *ns,
                              uint16_t *shard_out, int *rc)
{
	*rc = CLI_EXIT_USAGE;
	for (size_t i = 0; i < ns->n; i++) {
		for (size_t j = 0; j < i; j++)
			if (ns->ids[i] == ns->ids[j] || strcmp(ns->addrs[i], ns->addrs[j]) == 0) {
				cli_usage_error(cmd, "node %u=%s and node %u=%s: every new node needs its own "
				                "id and address", ns->ids[j], ns->addrs[j], ns->ids[i],
				                ns->addrs[i]);
				return NULL;
			}
		if (os_map_node_by_id(m, ns->ids[i]) != NULL) {
			cli_usage_error(cmd, "node id %u is already in the cluster map (epoch %" PRIu64 ")",
			                ns->ids[i], m->epoch);
			return NULL;
		}
		for (uint16_t k = 0; k < m->nnodes; k++)
			if (strcmp(m->nodes[k].addr, ns->addrs[i]) == 0) {
				cli_usage_error(cmd, "%s is already node %u's address", ns->addrs[i],
				                m->nodes[k].id);
				return NULL;
			}
	}
	uint16_t shard = (uint16_t)(m->shards[m->nshards - 1].id + 1);
	if (shard >= OS_MAP_MAX_IDS) {
		cli_err("%s: no free shard id below %u", cmd, OS_MAP_MAX_IDS);
		*rc = CLI_EXIT_FAIL;
		return NULL;
	}
	*rc = CLI_EXIT_FAIL;
	os_map *next = os_map_clone(m);
	int st = next == NULL ? OSTORE_ENOMEM : OSTORE_OK;
	for (size_t i = 0; st == OSTORE_OK && i < ns->n; i++)
		st = os_map_add_node(next, ns->ids[i], ns->addrs[i]);
	if (st == OSTORE_OK)
		st = os_map_add_shard(next, shard, ns->ids[0], ns->ids + 1, (uint16_t)(ns->n - 1));
	if (st != OSTORE_OK) {
		cli_err("%s: cannot build the next map: %s", cmd, ostore_strerror(st));
		os_map_unref(next);
		return NULL;
	}
	*shard_out = shard;
	return next;
}

/* Publishes @next (from map_with_shard) and checks that the new primary holds it. */
static int publish_added(cli_rb_run *r, os_map *next, uint16_t shard, const new_shard *ns)
{
	/* A shard whose nodes do not run would own nothing, yet stop every later rebalance
	 * (its primary cannot be asked): the map changes only once they all answer. */
	for (size_t i = 0; i < ns->n; i++) {
		int st = cli_ping(ns->addrs[i], r->timeout_ms);
		if (st != OSTORE_OK) {
			cli_err("%s: new node %u at %s does not answer (%s): start it first "
			        "(orderstore-node --id %u --listen %s --data DIR); nothing changed",
			        r->cmd, ns->ids[i], ns->addrs[i], ostore_strerror(st), ns->ids[i],
			        ns->addrs[i]);
			os_map_unref(next);
			return CLI_EXIT_FAIL;
		}
	}
	int rc = cli_rb_publish(r, next, NULL, 0);
	if (rc != 0)
		return rc;
	int st = cli_map_set(ns->addrs[0], r->map, r->timeout_ms);
	if (st != OSTORE_OK) {
		cli_err("%s: the new primary %s did not take map epoch %" PRIu64 ": %s (the other "
		        "nodes have it; start the node, then 'orderstore rebalance' pushes it)", r->cmd,
		        ns->addrs[0], r->map->epoch, ostore_strerror(st));
		return cli_exit_for((ostore_status)st);
	}
	printf("added shard %u (primary node %u", shard, ns->ids[0]);
	for (size_t i = 1; i < ns->n; i++)
		printf("%s%u", i == 1 ? ", replicas " : ", ", ns->ids[i]);
	printf(", weight 1, no slots): map epoch %" PRIu64 "\nnext: orderstore rebalance%s%s\n",
	       r->map->epoch, r->ctx->dir ? " --dir " : "", r->ctx->dir ? r->ctx->dir : "");
	fflush(stdout);
	return 0;
}

int cli_cmd_add_shard(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"primary", required_argument, NULL, OPT_PRIMARY},
		{"replica", required_argument, NULL, OPT_REPLICA},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "add-shard";
	new_shard ns = {.n = 1};
	bool have_primary = false;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_PRIMARY) {
			if (have_primary)
				return cli_usage_error(cmd, "--primary is given twice");
			if ((rc = parse_node(cmd, "--primary", optarg, &ns, 0)) != 0)
				return rc;
			have_primary = true;
		} else if (c == OPT_REPLICA) {
			if (ns.n == 1 + OS_MAP_MAX_REPLICAS)
				return cli_usage_error(cmd, "at most %u --replica", OS_MAP_MAX_REPLICAS);
			ns.addrs[ns.n][0] = '\0';
			if ((rc = parse_node(cmd, "--replica", optarg, &ns, ns.n)) != 0)
				return rc;
			ns.n++;
		} else if ((rc = cli_opt_rest(ctx, cmd, c, argv, kAddHelp)) != CLI_OPT_NEXT) {
			return rc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!have_primary)
		return cli_usage_error(cmd, "--primary NODE_ID=URL is required");
	for (size_t i = 1; i < ns.n; i++)
		if (ns.ids[i] == ns.ids[0])
			return cli_usage_error(cmd, "node id %u is both --primary and --replica", ns.ids[0]);
	cli_rb_run r;
	if ((rc = cli_rb_open(&r, ctx, cmd)) != 0)
		return rc;
	if ((rc = cli_rb_lease_take(&r)) != 0) { /* not while a rebalance runs */
		cli_rb_close(&r);
		return rc;
	}
	cli_rb_sync(&r);
	uint16_t shard;
	os_map *next = map_with_shard(cmd, r.map, &ns, &shard, &rc);
	if (next != NULL)
		rc = publish_added(&r, next, shard, &ns);
	cli_rb_close(&r);
	return rc;
}

/* ---- local add-shard --------------------------------------------------------------- */

static const char kLocalAddHelp[] =
	"usage: orderstore local add-shard --dir DIR [--replicas R] [--wait-ms MS]\n"
	"Start the nodes of a new shard of the local cluster in DIR (1 + R nodes with the next\n"
	"free node ids, on free ports above the cluster's, with the node options of\n"
	"DIR/local.json, pid files, logs and metrics addresses as 'local up' gives them), add\n"
	"the shard to DIR/map.json and push the map to every node and the router, as\n"
	"'orderstore add-shard' does. The shard owns no slot until 'orderstore rebalance'.\n"
	"\nOptions:\n"
	"  --dir DIR          the cluster directory (required)\n"
	"  --replicas R       replicas of the new shard, 0..8 (default: as shard 0's)\n"
	"  --wait-ms MS       how long to wait for the new nodes to answer (default 15000)\n"
	"Exit status: 0 added, 1 failed (the nodes started are stopped again), 2 usage,\n"
	"3 the cluster did not answer.\n";

/* A free node id (not in @m, no DIR/node-I left from a removed node) above @after. */
static int free_node_id(const os_map *m, const char *dir, int after)
{
	for (int id = after + 1; id < (int)OS_MAP_MAX_IDS; id++) {
		char path[PATH_MAX];
		cli_fmt(path, sizeof(path), "%s/node-%d", dir, id);
		if (os_map_node_by_id(m, (uint16_t)id) == NULL && !cli_file_exists(path))
			return id;
	}
	return -1;
}

/* A free loopback port (and metrics port) above *port; advances *port. -1 if none. */
static int free_port(int *port, uint32_t moff)
{
	char url[64];
	for ((*port)++; *port + (int)moff <= 65535; (*port)++) {
		cli_fmt(url, sizeof(url), "tcp://127.0.0.1:%d", *port);
		if (!cli_port_free(url))
			continue;
		cli_fmt(url, sizeof(url), "tcp://127.0.0.1:%d", *port + (int)moff);
		if (moff == 0 || cli_port_free(url))
			return *port;
	}
	return -1;
}

int cli_local_add_shard(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"replicas", required_argument, NULL, OPT_SREPLICAS},
		{"wait-ms", required_argument, NULL, OPT_SWAIT},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "local add-shard";
	uint32_t replicas = 0, wait_ms = LOCAL_DEFAULT_WAIT_MS;
	bool have_replicas = false;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_SREPLICAS) {
			if ((rc = cli_parse_u32(cmd, "--replicas", optarg, 0, OS_MAP_MAX_REPLICAS,
			                        &replicas)) != 0)
				return rc;
			have_replicas = true;
		} else if (c == OPT_SWAIT) {
			if ((rc = cli_parse_u32(cmd, "--wait-ms", optarg, 1, 3600000, &wait_ms)) != 0)
				return rc;
		} else if ((rc = cli_opt_rest(ctx, cmd, c, argv, kLocalAddHelp)) != CLI_OPT_NEXT) {
			return rc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	cli_local_cluster *lc = calloc(1, sizeof(*lc));
	if (lc == NULL || cli_lc_load(lc, cmd, ctx->dir, false) != 0) {
		free(lc);
		return CLI_EXIT_FAIL;
	}
	cli_rb_run r;
	if ((rc = cli_rb_open(&r, ctx, cmd)) != 0) {
		free(lc);
		return rc;
	}
	if ((rc = cli_rb_lease_take(&r)) != 0) { /* not while a rebalance runs */
		cli_rb_close(&r);
		free(lc);
		return rc;
	}
	cli_rb_sync(&r);
	if (!have_replicas)
		replicas = r.map->shards[0].nreplicas;
	/* Ids and ports: above every node of the map and the router. */
	new_shard ns = {.n = 1 + replicas};
	int port = 0, id = -1;
	char host[256];
	for (size_t i = 0; i < lc->nprocs; i++) {
		int p = cli_url_port(lc->procs[i].addr, host, sizeof(host));
		port = p > port ? p : port;
	}
	for (uint16_t i = 0; i < r.map->nnodes; i++) {
		int p = cli_url_port(r.map->nodes[i].addr, host, sizeof(host));
		port = p > port ? p : port;
		id = r.map->nodes[i].id > id ? r.map->nodes[i].id : id;
	}
	uint32_t moff = cli_metrics_offset(lc->dir);
	rc = CLI_EXIT_FAIL;
	for (size_t i = 0; i < ns.n; i++) {
		if ((id = free_node_id(r.map, lc->dir, id)) < 0 || free_port(&port, moff) < 0) {
			cli_err("%s: no free %s for the new nodes", cmd, id < 0 ? "node id" : "port");
			goto out;
		}
		ns.ids[i] = (uint16_t)id;
		cli_fmt(ns.addrs[i], sizeof(ns.addrs[i]), "%s://127.0.0.1:%d", cli_local_scheme(lc->dir),
		        port);
	}
	uint16_t shard;
	os_map *next = map_with_shard(cmd, r.map, &ns, &shard, &rc);
	if (next == NULL)
		goto out;
	next->epoch = r.map->epoch + 1;
	char err[256];
	if (os_map_save_file(next, lc->map_path, err, sizeof(err)) != OSTORE_OK) {
		cli_err("%s: cannot write %s: %s", cmd, lc->map_path, err);
		os_map_unref(next);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	char node_bin[PATH_MAX];
	size_t first = lc->nprocs;
	bool ok = cli_find_bin("ORDERSTORE_NODE_BIN", "orderstore-node", "node", node_bin,
	                       sizeof(node_bin)) == 0;
	for (size_t i = 0; ok && i < ns.n; i++) {
		char name[32];
		cli_fmt(name, sizeof(name), "node-%u", ns.ids[i]);
		cli_lc_add(lc, name, ns.addrs[i])->node_id = ns.ids[i];
		ok = cli_lc_spawn(ctx, lc, lc->nprocs - 1, node_bin, node_bin) == 0;
	}
	for (size_t i = 0; i < first; i++)
		lc->procs[i].running = true; /* only the new ones are waited for */
	if (ok)
		ok = cli_lc_wait(lc, wait_ms) == 0;
	if (!ok) {
		cli_lc_stop_started(lc);
		os_map_save_file(r.map, lc->map_path, err, sizeof(err)); /* as it was */
		os_map_unref(next);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < ns.n; i++)
		printf("started node-%u on %s\n", ns.ids[i], ns.addrs[i]);
	rc = publish_added(&r, next, shard, &ns);
	if (rc == 0)
		cli_lc_wait_replicas(r.map, wait_ms);
out:
	cli_rb_close(&r);
	free(lc);
	return rc;
}

/* ---- remove-shard ------------------------------------------------------------------ */

static const char kRemoveHelp[] =
	"usage: orderstore remove-shard SHARD [--max-concurrent-slots N] [--rate MB/s]\n"
	"                               [common options]\n"
	"Drain shard SHARD and take it out of the cluster, online: its weight becomes 0 (map\n"
	"epoch + 1), 'rebalance' moves all of its slots to the other shards (nothing else\n"
	"moves), then the shard and its nodes leave the map (epoch + 1; they are told too).\n"
	"With --dir the node processes of the shard are stopped at the end (their data\n"
	"directories stay). Killed at any point, run it again: it continues.\n"
	"\nOptions:\n"
	"  --max-concurrent-slots N  slots per move (1..4096, default 64)\n"
	"  --rate MB/s        copy at most this fast\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 removed, 1 failed (run again to continue), 2 usage (also a shard\n"
	"that is not in the map, or the last one), 3 the cluster did not answer.\n";

/* Stops node processes of DIR whose node is not in @m (SIGTERM, then SIGKILL). */
static void stop_removed_nodes(const char *dir, const os_map *m)
{
	char abs[PATH_MAX];
	if (realpath(dir, abs) == NULL)
		return;
	DIR *d = opendir(abs);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		unsigned id;
		char tail[8];
		if (sscanf(de->d_name, "node-%u.%7s", &id, tail) != 2 || strcmp(tail, "pid") != 0 ||
		    id >= OS_MAP_MAX_IDS || os_map_node_by_id(m, (uint16_t)id) != NULL)
			continue;
		char path[PATH_MAX];
		cli_fmt(path, sizeof(path), "%s/%s", abs, de->d_name);
		pid_t pid = cli_read_pidfile(path);
		if (cli_proc_is_ours(pid, abs)) {
			kill(pid, SIGTERM);
			uint64_t deadline = os_now_ns() + (uint64_t)LOCAL_STOP_WAIT_MS * 1000000u;
			while (cli_proc_is_ours(pid, abs) && os_now_ns() < deadline)
				nng_msleep(50);
			if (cli_proc_is_ours(pid, abs))
				kill(pid, SIGKILL);
			printf("stopped node-%u (pid %ld)\n", id, (long)pid);
		}
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
}

int cli_cmd_remove_shard(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"max-concurrent-slots", required_argument, NULL, OPT_SMAXSLOTS},
		{"rate", required_argument, NULL, OPT_SRATE},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "remove-shard";
	uint32_t max_slots = RB_MAX_SLOTS_DEFAULT, shard;
	double rate = 0;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_SMAXSLOTS) {
			if ((rc = cli_parse_u32(cmd, "--max-concurrent-slots", optarg, 1, OSTORE_SLOTS,
			                        &max_slots)) != 0)
				return rc;
		} else if (c == OPT_SRATE) {
			if ((rc = cli_rb_parse_rate(cmd, optarg, &rate)) != 0)
				return rc;
		} else if ((rc = cli_opt_rest(ctx, cmd, c, argv, kRemoveHelp)) != CLI_OPT_NEXT) {
			return rc;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "SHARD is required");
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = cli_parse_u32(cmd, "SHARD", argv[optind], 0, OS_MAP_MAX_IDS - 1, &shard)) != 0)
		return rc;
	cli_rb_run r;
	if ((rc = cli_rb_open(&r, ctx, cmd)) != 0)
		return rc;
	r.max_slots = max_slots;
	r.rate_bps = rate * 1e6;
	if ((rc = cli_rb_lease_take(&r)) != 0) {
		cli_rb_close(&r);
		return rc;
	}
	cli_rb_sync(&r);
	const os_map_shard *sh = os_map_shard_by_id(r.map, (uint16_t)shard);
	if (sh == NULL) {
		/* Not a shard of this cluster, or removed already (maybe by a run killed before it
		 * stopped the nodes: those are stopped now). */
		uint64_t epoch = r.map->epoch;
		if (ctx->dir != NULL)
			stop_removed_nodes(ctx->dir, r.map);
		cli_rb_close(&r);
		return cli_usage_error(cmd, "shard %u is not in the cluster map (epoch %" PRIu64
		                       "): nothing to remove", shard, epoch);
	}
	if (r.map->nshards == 1) {
		rc = cli_usage_error(cmd, "shard %u is the only shard", shard);
		goto out;
	}
	if (sh->weight != 0) {
		os_map *next = os_map_clone(r.map);
		if (next == NULL || os_map_set_weight(next, (uint16_t)shard, 0) != OSTORE_OK) {
			os_map_unref(next);
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		if ((rc = cli_rb_publish(&r, next, NULL, 0)) != 0)
			goto out;
		printf("shard %u: weight 0 (draining), map epoch %" PRIu64 "\n", shard, r.map->epoch);
	}
	if ((rc = cli_rb_rebalance(&r)) != 0)
		goto out;
	if (os_map_slot_count(r.map, (uint16_t)shard) != 0) {
		cli_err("%s: shard %u still owns %u slots; run the command again", cmd, shard,
		        os_map_slot_count(r.map, (uint16_t)shard));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	os_map *next = os_map_clone(r.map);
	if (next == NULL || os_map_remove_shard(next, (uint16_t)shard) != OSTORE_OK) {
		os_map_unref(next);
		cli_err("%s: cannot build the map without shard %u", cmd, shard);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	if ((rc = cli_rb_publish(&r, next, NULL, 0)) != 0)
		goto out;
	printf("removed shard %u: map epoch %" PRIu64 ", %u shards\n", shard, r.map->epoch,
	       r.map->nshards);
	cli_rb_lease_release(&r); /* before its nodes stop: a stopped node costs a timeout */
	if (ctx->dir != NULL)
		stop_removed_nodes(ctx->dir, r.map);
out:
	fflush(stdout);
	cli_rb_close(&r);
	return rc;
}
