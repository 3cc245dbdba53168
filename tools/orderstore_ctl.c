/*
 * orderstore_ctl.c - one node of a local cluster: `local kill` and `local start`, plus
 * the pieces of `local up` that know about replicas (the map layout and the node options
 * remembered in DIR/local.json).
 *
 *   layout (R replicas per shard):  shard s ─ primary node s*(R+1)
 *                                           └ replicas s*(R+1)+1 .. s*(R+1)+R
 *                                   node id i listens on base port + 1 + i
 *
 *   local kill  ─▶ newest map (for --primary-of) ─▶ pid file ─▶ still ours? ─▶ SIGKILL
 *               ─▶ wait until gone ─▶ remove the pid file
 *   local start ─▶ newest map: DIR/map.json, MAP_GET from the routers and every node
 *               ─▶ DIR/node-N.map.json (fresh) + DIR/map.json updated ─▶ spawn the node
 *                  on its data directory with the options of `local up` ─▶ PING
 *
 * Design: a restarted node must learn the newest map, not the one `local up` wrote: after
 * a failover DIR/map.json can be older than what the nodes hold, and a node that started
 * from an old map would believe it is still a primary until a peer told it otherwise. So
 * the map is fetched from the live processes first and handed to the node as a file.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_cli.h"
#include "util.h"

#define CTL_PROBE_MS 1000u
#define CTL_WAIT_MS 15000u

/* ---- map layout and remembered options ------------------------------------------- */

os_map *cli_local_build_map(uint32_t shards, uint32_t replicas, uint32_t base,
                            const char *scheme)
{
	/* build_even gives the slot table and a random cluster ID; ids are laid out here. */
	char dummy[] = "tcp://127.0.0.1:1";
	const char **ptrs = calloc(shards, sizeof(*ptrs));
	if (ptrs == NULL)
		return NULL;
	for (uint32_t i = 0; i < shards; i++)
		ptrs[i] = dummy;
	os_map *even = os_map_build_even((uint16_t)shards, ptrs, 0);
	free(ptrs);
	os_map *m = even != NULL ? os_map_new() : NULL;
	if (m == NULL) {
		os_map_unref(even);
		return NULL;
	}
	m->epoch = 1;
	m->cluster_id = even->cluster_id;
	memcpy(m->slot_shard, even->slot_shard, sizeof(m->slot_shard));
	os_map_unref(even);
	uint32_t per = replicas + 1;
	for (uint32_t s = 0; s < shards; s++) {
		uint16_t reps[OS_MAP_MAX_REPLICAS];
		for (uint32_t k = 0; k < per; k++) {
			char addr[48];
			uint32_t id = s * per + k;
			cli_fmt(addr, sizeof(addr), "%s://127.0.0.1:%u", scheme, base + 1 + id);
			if (os_map_add_node(m, (uint16_t)id, addr) != OSTORE_OK)
				goto fail;
			if (k > 0)
				reps[k - 1] = (uint16_t)id;
		}
		if (os_map_add_shard(m, (uint16_t)s, (uint16_t)(s * per), reps, (uint16_t)replicas) !=
		    OSTORE_OK)
			goto fail;
	}
	if (os_map_check(m) == OSTORE_OK)
		return m;
fail:
	os_map_unref(m);
	return NULL;
}

int cli_local_load_conf(const char *dir, cli_local_conf *conf)
{
	char path[PATH_MAX];
	*conf = (cli_local_conf){.sync_replicas = -1};
	cli_fmt(path, sizeof(path), "%s/local.json", dir);
	if (!cli_file_exists(path))
		return 0; /* a cluster started before DIR/local.json existed: defaults */
	json_error_t jerr;
	json_t *o = json_load_file(path, 0, &jerr);
	if (o == NULL || !json_is_object(o)) {
		cli_err("cannot read %s: %s", path, o == NULL ? jerr.text : "not a JSON object");
		json_decref(o);
		return -1;
	}
	conf->no_sync = json_is_true(json_object_get(o, "no_sync"));
	json_t *k = json_object_get(o, "sync_replicas");
	if (json_is_integer(k) && json_integer_value(k) >= 0 &&
	    json_integer_value(k) <= OS_MAP_MAX_REPLICAS)
		conf->sync_replicas = (int)json_integer_value(k);
	const char *lv = json_string_value(json_object_get(o, "log_level"));
	if (lv != NULL)
		cli_fmt(conf->log_level, sizeof(conf->log_level), "%s", lv);
	json_t *re = json_object_get(o, "log_retain_entries");
	if (json_is_integer(re) && json_integer_value(re) > 0)
		conf->log_retain_entries = (uint64_t)json_integer_value(re);
	json_decref(o);
	return 0;
}

int cli_local_save_conf(const char *dir, const cli_local_conf *conf)
{
	char path[PATH_MAX];
	cli_fmt(path, sizeof(path), "%s/local.json", dir);
	json_t *o = json_pack("{s:b, s:i}", "no_sync", conf->no_sync, "sync_replicas",
	                      conf->sync_replicas);
	if (o == NULL)
		return ENOMEM;
	if (conf->log_level[0] != '\0')
		json_object_set_new(o, "log_level", json_string(conf->log_level));
	if (conf->log_retain_entries > 0)
		json_object_set_new(o, "log_retain_entries",
		                    json_integer((json_int_t)conf->log_retain_entries));
	int rc = json_dump_file(o, path, JSON_INDENT(2)) == 0 ? 0 : EIO;
	json_decref(o);
	return rc;
}

int cli_local_node_args(const char *dir, const char **args, int *a)
{
	static char level[32], sync[16], retain[24];
	cli_local_conf conf;
	if (cli_local_load_conf(dir, &conf) != 0)
		return -1;
	if (conf.no_sync)
		args[(*a)++] = "--no-sync";
	if (conf.sync_replicas >= 0) {
		cli_fmt(sync, sizeof(sync), "%d", conf.sync_replicas);
		args[(*a)++] = "--sync-replicas";
		args[(*a)++] = sync;
	}
	if (conf.log_level[0] != '\0') {
		cli_fmt(level, sizeof(level), "%s", conf.log_level);
		args[(*a)++] = "--log-level";
		args[(*a)++] = level;
	}
	if (conf.log_retain_entries > 0) {
		cli_fmt(retain, sizeof(retain), "%llu", (unsigned long long)conf.log_retain_entries);
		args[(*a)++] = "--log-retain-entries";
		args[(*a)++] = retain;
	}
	return cli_local_sec_args(dir, args, a);
}

/* ---- the newest map of a local cluster ------------------------------------------ */

int cli_local_newest_map(const char *dir, uint32_t timeout_ms, os_map **out, char *err,
                         size_t errlen)
{
	char path[PATH_MAX];
	os_map *best = NULL;
	cli_fmt(path, sizeof(path), "%s/map.json", dir);
	if (os_map_load_file(path, &best, err, errlen) != OSTORE_OK)
		return -1;
	/* Routers (DIR/routers), then every node: the highest epoch of this cluster wins. */
	char *text = NULL;
	size_t len;
	cli_fmt(path, sizeof(path), "%s/routers", dir);
	if (cli_read_file(path, &text, &len) == 0) {
		char *save = NULL;
		for (char *u = strtok_r(text, "\r\n", &save); u != NULL; u = strtok_r(NULL, "\r\n", &save)) {
			os_map *m = NULL;
			if (u[0] == '\0' || cli_map_get(u, timeout_ms, &m) != OSTORE_OK)
				continue;
			if (m->cluster_id == best->cluster_id && m->epoch > best->epoch) {
				os_map_unref(best);
				best = m;
			} else {
				os_map_unref(m);
			}
		}
		free(text);
	}
	os_map *seed = os_map_ref(best);
	for (uint16_t i = 0; i < seed->nnodes; i++) {
		os_map *m = NULL;
		if (cli_map_get(seed->nodes[i].addr, timeout_ms, &m) != OSTORE_OK)
			continue;
		if (m->cluster_id == best->cluster_id && m->epoch > best->epoch) {
			os_map_unref(best);
			best = m;
		} else {
			os_map_unref(m);
		}
	}
	os_map_unref(seed);
	*out = best;
	return 0;
}

const char *cli_node_role(const os_map *m, uint16_t node, char *buf, size_t len)
{
	for (uint16_t s = 0; s < m->nshards; s++) {
		const os_map_shard *sh = &m->shards[s];
		if (sh->primary == node) {
			cli_fmt(buf, len, "primary of shard %u", sh->id);
			return buf;
		}
		for (uint16_t r = 0; r < sh->nreplicas; r++) {
			if (sh->replicas[r] == node) {
				cli_fmt(buf, len, "replica of shard %u", sh->id);
				return buf;
			}
		}
	}
	cli_fmt(buf, len, "no shard");
	return buf;
}

/* ---- local kill ------------------------------------------------------------------ */

static const char kKillHelp[] =
	"usage: orderstore local kill --dir DIR (NODE | --primary-of S)\n"
	"Kill one node of the local cluster in DIR with SIGKILL (a crash: no clean shutdown),\n"
	"by the PID in DIR/node-NODE.pid after checking that the process is still one of this\n"
	"cluster's. --primary-of S picks the node that the newest cluster map (asked from the\n"
	"running processes) names primary of shard S. Restart it with 'orderstore local start'.\n"
	"\nOptions:\n"
	"  --dir DIR          cluster directory\n"
	"  --primary-of S     kill the primary of shard S\n"
	"  --help             this text\n"
	"Exit status: 0 killed, 1 not running or no such node, 2 usage.\n";

enum { OPT_PRIMARY_OF = CLI_OPT_FIRST_LOCAL + 100, OPT_CTL_WAIT };

int cli_local_kill(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"primary-of", required_argument, NULL, OPT_PRIMARY_OF},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "local kill";
	uint32_t shard = 0, node = 0;
	bool by_shard = false;
	int c, rc;
	int orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_PRIMARY_OF) {
			if ((rc = cli_parse_u32(cmd, "--primary-of", optarg, 0, OS_MAP_MAX_IDS - 1,
			                        &shard)) != 0)
				return rc;
			by_shard = true;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kKillHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	int npos = argc - optind;
	if (by_shard ? npos != 0 : npos != 1)
		return cli_usage_error(cmd, "give either one NODE or --primary-of S");
	if (!by_shard && (rc = cli_parse_u32(cmd, "NODE", argv[optind], 0, OS_MAP_MAX_IDS - 1,
	                                     &node)) != 0)
		return rc;
	char dir[PATH_MAX], err[256], role[48];
	if (realpath(ctx->dir, dir) == NULL) {
		cli_err("%s: %s: %s", cmd, ctx->dir, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	os_map *m = NULL;
	uint32_t probe = ctx->timeout_ms ? ctx->timeout_ms : CTL_PROBE_MS;
	if (cli_local_newest_map(dir, probe, &m, err, sizeof(err)) != 0) {
		cli_err("%s: no cluster in %s: %s", cmd, dir, err);
		return CLI_EXIT_FAIL;
	}
	if (by_shard) {
		const os_map_shard *sh = os_map_shard_by_id(m, (uint16_t)shard);
		if (sh == NULL || sh->primary == OS_NODE_NONE) {
			cli_err("%s: the cluster map (epoch %llu) has %s shard %u", cmd,
			        (unsigned long long)m->epoch, sh == NULL ? "no" : "no primary for", shard);
			os_map_unref(m);
			return CLI_EXIT_FAIL;
		}
		node = sh->primary;
	} else if (os_map_node_by_id(m, (uint16_t)node) == NULL) {
		cli_err("%s: node %u is not in the cluster map (epoch %llu)", cmd, node,
		        (unsigned long long)m->epoch);
		os_map_unref(m);
		return CLI_EXIT_FAIL;
	}
	cli_node_role(m, (uint16_t)node, role, sizeof(role));
	os_map_unref(m);
	char pidfile[PATH_MAX];
	cli_fmt(pidfile, sizeof(pidfile), "%s/node-%u.pid", dir, node);
	pid_t pid = cli_read_pidfile(pidfile);
	if (!cli_proc_is_ours(pid, dir)) {
		cli_err("%s: node %u is not running (no live process of this cluster in %s)", cmd, node,
		        pidfile);
		return CLI_EXIT_FAIL;
	}
	if (kill(pid, SIGKILL) != 0) {
		cli_err("%s: kill %ld: %s", cmd, (long)pid, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	waitpid(pid, NULL, WNOHANG); /* in case it is our child; init reaps it otherwise */
	uint64_t deadline = os_now_ns() + 5000ull * 1000000u;
	while (cli_proc_is_ours(pid, dir) && os_now_ns() < deadline)
		nng_msleep(10);
	unlink(pidfile);
	printf("killed node %u (pid %ld, %s) with SIGKILL\n", node, (long)pid, role);
	return CLI_EXIT_OK;
}

/* ---- local start ----------------------------------------------------------------- */

static const char kStartHelp[] =
	"usage: orderstore local start --dir DIR NODE [--wait-ms MS]\n"
	"Start one stopped or killed node of the local cluster in DIR on its data directory,\n"
	"with the options 'local up' gave it and the NEWEST cluster map: the map is asked\n"
	"from the running routers and nodes (DIR/map.json may be older after a failover),\n"
	"written to DIR/node-NODE.map.json and DIR/map.json, and passed to the node. A former\n"
	"primary thus rejoins as a replica of the new primary. Returns once it answers PING.\n"
	"\nOptions:\n"
	"  --dir DIR          cluster directory\n"
	"  --wait-ms MS       how long to wait for the node to answer (default 15000)\n"
	"  --help             this text\n"
	"Exit status: 0 started, 1 already running / failed to start, 2 usage.\n";

int cli_local_start(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"wait-ms", required_argument, NULL, OPT_CTL_WAIT},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "local start";
	uint32_t node = 0, wait_ms = CTL_WAIT_MS;
	int c, rc;
	int orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_CTL_WAIT) {
			if ((rc = cli_parse_u32(cmd, "--wait-ms", optarg, 1, 3600000, &wait_ms)) != 0)
				return rc;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kStartHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (ctx->dir == NULL)
		return cli_usage_error(cmd, "--dir DIR is required");
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected one NODE id");
	if ((rc = cli_parse_u32(cmd, "NODE", argv[optind], 0, OS_MAP_MAX_IDS - 1, &node)) != 0)
		return rc;
	char dir[PATH_MAX], err[256], role[48];
	if (realpath(ctx->dir, dir) == NULL) {
		cli_err("%s: %s: %s", cmd, ctx->dir, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	char pidfile[PATH_MAX], logfile[PATH_MAX], data[PATH_MAX], mapfile[PATH_MAX];
	cli_fmt(pidfile, sizeof(pidfile), "%s/node-%u.pid", dir, node);
	cli_fmt(logfile, sizeof(logfile), "%s/node-%u.log", dir, node);
	cli_fmt(data, sizeof(data), "%s/node-%u", dir, node);
	cli_fmt(mapfile, sizeof(mapfile), "%s/node-%u.map.json", dir, node);
	pid_t old = cli_read_pidfile(pidfile);
	if (cli_proc_is_ours(old, dir)) {
		cli_err("%s: node %u is already running (pid %ld)", cmd, node, (long)old);
		return CLI_EXIT_FAIL;
	}
	os_map *m = NULL;
	uint32_t probe = ctx->timeout_ms ? ctx->timeout_ms : CTL_PROBE_MS;
	if (cli_local_newest_map(dir, probe, &m, err, sizeof(err)) != 0) {
		cli_err("%s: no cluster in %s: %s", cmd, dir, err);
		return CLI_EXIT_FAIL;
	}
	int result = CLI_EXIT_FAIL;
	const os_map_node *mn = os_map_node_by_id(m, (uint16_t)node);
	char bin[PATH_MAX], id[16], mappath[PATH_MAX];
	if (mn == NULL) {
		cli_err("%s: node %u is not in the cluster map (epoch %llu)", cmd, node,
		        (unsigned long long)m->epoch);
		goto out;
	}
	if (!cli_file_exists(data)) {
		cli_err("%s: %s does not exist (node %u never ran here)", cmd, data, node);
		goto out;
	}
	if (!cli_port_free(mn->addr)) {
		cli_err("%s: the address of node %u (%s) is in use", cmd, node, mn->addr);
		goto out;
	}
	cli_fmt(mappath, sizeof(mappath), "%s/map.json", dir);
	if (os_map_save_file(m, mapfile, err, sizeof(err)) != OSTORE_OK ||
	    os_map_save_file(m, mappath, err, sizeof(err)) != OSTORE_OK) {
		cli_err("%s: cannot write the map: %s", cmd, err);
		goto out;
	}
	if (cli_find_bin("ORDERSTORE_NODE_BIN", "orderstore-node", "node", bin, sizeof(bin)) != 0)
		goto out;
	const char *args[48];
	int a = 0;
	cli_fmt(id, sizeof(id), "%u", node);
	args[a++] = bin;
	args[a++] = "--id";
	args[a++] = id;
	args[a++] = "--data";
	args[a++] = data;
	args[a++] = "--listen";
	args[a++] = mn->addr;
	args[a++] = "--map";
	args[a++] = mapfile;
	char maddr[300];
	if (cli_metrics_hostport(mn->addr, cli_metrics_offset(dir), maddr, sizeof(maddr)) == 0) {
		args[a++] = "--metrics-addr";
		args[a++] = maddr;
	}
	if (cli_local_node_args(dir, args, &a) != 0)
		goto out;
	args[a] = NULL;
	pid_t pid = cli_spawn_detached(args, logfile);
	if (pid < 0)
		goto out;
	if ((rc = cli_write_pidfile(pidfile, pid)) != 0) {
		cli_err("%s: cannot write %s: %s", cmd, pidfile, strerror(rc));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	uint64_t deadline = os_now_ns() + (uint64_t)wait_ms * 1000000u;
	bool up = false;
	while (!up && os_now_ns() < deadline) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			cli_err("%s: node %u (pid %ld) exited with %s %d before answering", cmd, node,
			        (long)pid, WIFEXITED(status) ? "status" : "signal",
			        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			cli_print_log_tail("node", logfile, 15);
			unlink(pidfile);
			goto out;
		}
		up = cli_ping(mn->addr, 200) == OSTORE_OK;
	}
	if (!up) {
		cli_err("%s: node %u did not answer within %u ms; stopping it", cmd, node, wait_ms);
		cli_print_log_tail("node", logfile, 15);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unlink(pidfile);
		goto out;
	}
	printf("started node %u (pid %ld) at %s as %s (map epoch %llu)\n", node, (long)pid,
	       mn->addr, cli_node_role(m, (uint16_t)node, role, sizeof(role)),
	       (unsigned long long)m->epoch);
	result = CLI_EXIT_OK;
out:
	os_map_unref(m);
	return result;
}
