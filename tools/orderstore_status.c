/*
 * orderstore_status.c - `orderstore status [--json] [--watch]`: the whole cluster in one
 * table, and the JSON that scripts read (its keys are stable, see kStatusHelp).
 *
 *   newest map (cli_find_map) ─▶ per shard: STATS to the primary and every replica
 *     ─▶ node healthy = answered and reports the role the map gives it
 *     ─▶ lag = newest LSN of the shard (max of applied and known LSNs) − applied LSN
 *   ─▶ MAP_GET to every router: healthy = answered; "current" = holds the newest epoch
 *   ─▶ text table or JSON; exit 0 when everything is healthy, 1 otherwise
 *   --watch: the same every second until SIGINT/SIGTERM (exit status of the last round)
 *
 * Metrics URLs come from DIR/metrics.json (orderstore_metrics.c) when --dir names a local
 * cluster, else they are null. Nodes are probed one after the other with the probe
 * timeout, so a dead node costs one timeout per round (status --timeout-ms bounds it).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_cli.h"
#include "util.h"

#define STATUS_PROBE_MS 2000u
#define WATCH_PERIOD_MS 1000u

static const char kStatusHelp[] =
	"usage: orderstore status [--json] [--watch] [common options]\n"
	"One table of the whole cluster: per shard its slots, orders and disk use, the\n"
	"primary and the replicas with address, health, applied LSN and lag (newest LSN of\n"
	"the shard - applied LSN); then every router and whether it holds the newest map.\n"
	"A node is healthy when it answers and reports the role the map gives it; a router\n"
	"when it answers. --json prints (keys that stay stable; more keys may be added):\n"
	"  {\"epoch\": E, \"ok\": true, \"shards\": [{\"id\": 0, \"slots\": S, \"orders\": N,\n"
	"    \"primary\": NODE, \"replicas\": [NODE, ...]}], \"routers\": [{\"addr\": \"...\",\n"
	"    \"metrics\": URL|null, \"healthy\": true, \"epoch\": E}]}\n"
	"  NODE = {\"node\": id, \"addr\": \"...\", \"metrics\": URL|null, \"healthy\": true,\n"
	"          \"lag\": L|null, \"role\", \"lsn\", \"epoch\", \"orders\", \"bytes_used\", ...}\n"
	"Metrics URLs are known for local clusters (--dir DIR, DIR/metrics.json).\n"
	"\nOptions:\n"
	"  --json             machine-readable output\n"
	"  --watch            refresh every second until interrupted (Ctrl-C)\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 everything healthy, 1 something unhealthy or unreachable, 2 usage,\n"
	"3 no cluster map could be found.\n";

enum { OPT_JSON = CLI_OPT_FIRST_LOCAL + 300, OPT_WATCH };

static volatile sig_atomic_t stop_watch;

static void on_stop(int sig)
{
	(void)sig;
	stop_watch = 1;
}

static const char *role_name(uint32_t role)
{
	return role == OS_ROLE_PRIMARY ? "primary" : role == OS_ROLE_REPLICA ? "replica" : "none";
}

/* One node as probed. */
typedef struct node_probe {
	uint16_t id;
	const char *addr;
	bool is_primary;
	int st;
	os_stats_entry e;
	uint64_t epoch;
} node_probe;

static json_t *url_or_null(const char *addr, uint32_t moff)
{
	char url[320];
	return cli_metrics_url(addr, moff, url, sizeof(url)) == 0 ? json_string(url) : json_null();
}

static json_t *node_json(const node_probe *p, uint64_t top, uint32_t moff, bool *healthy)
{
	bool ok = p->st == OSTORE_OK;
	const char *mrole = p->is_primary ? "primary" : "replica";
	*healthy = ok && strcmp(role_name(p->e.role), mrole) == 0;
	json_t *o = json_pack("{s:i, s:s, s:o, s:b, s:s}", "node", p->id, "addr", p->addr,
	                      "metrics", url_or_null(p->addr, moff), "healthy", *healthy,
	                      "map_role", mrole);
	if (!ok) {
		json_object_set_new(o, "lag", json_null());
		json_object_set_new(o, "error", json_string(ostore_status_name(p->st)));
		return o;
	}
	uint64_t lag = top > p->e.lsn ? top - p->e.lsn : 0;
	json_object_set_new(o, "lag", json_integer((json_int_t)lag));
	json_object_set_new(o, "role", json_string(role_name(p->e.role)));
	json_object_set_new(o, "lsn", json_integer((json_int_t)p->e.lsn));
	json_object_set_new(o, "epoch", json_integer((json_int_t)p->epoch));
	json_object_set_new(o, "orders", json_integer((json_int_t)p->e.orders));
	json_object_set_new(o, "bytes_used", json_integer((json_int_t)p->e.bytes_used));
	json_object_set_new(o, "map_size", json_integer((json_int_t)p->e.map_size));
	if (p->is_primary)
		json_object_set_new(o, "connected_replicas", json_integer((json_int_t)p->e.replicas));
	return o;
}

static void print_node(const node_probe *p, json_t *o, const os_map *m)
{
	const char *mrole = p->is_primary ? "primary" : "replica";
	if (p->st != OSTORE_OK) {
		printf("  node %-4u %-26s %-8s UNHEALTHY unreachable (%s)\n", p->id, p->addr, mrole,
		       ostore_strerror(p->st));
		return;
	}
	bool healthy = json_is_true(json_object_get(o, "healthy"));
	printf("  node %-4u %-26s %-8s %-9s lsn %-10" PRIu64 " lag %-8" PRIu64, p->id, p->addr,
	       mrole, healthy ? "healthy" : "UNHEALTHY", p->e.lsn,
	       (uint64_t)json_integer_value(json_object_get(o, "lag")));
	if (!healthy)
		printf(" (reports role %s)", role_name(p->e.role));
	if (p->is_primary)
		printf(" replicas connected %u", p->e.replicas);
	if (p->epoch != m->epoch)
		printf(" (node's map epoch %" PRIu64 ")", p->epoch);
	printf("\n");
}

/* One shard: probe, JSON, text. Returns the number of unhealthy nodes. */
static size_t status_shard(const os_map *m, const os_map_shard *sh, uint32_t tmo, uint32_t moff,
                           bool json, json_t *jshards)
{
	node_probe pr[1 + OS_MAP_MAX_REPLICAS];
	size_t np = 0, bad = 0;
	uint64_t top = 0, orders = 0, bytes = 0;
	bool have_orders = false;
	for (int r = -1; r < (int)sh->nreplicas; r++) {
		uint16_t id = r < 0 ? sh->primary : sh->replicas[r];
		if (id == OS_NODE_NONE)
			continue;
		const os_map_node *mn = os_map_node_by_id(m, id);
		node_probe *p = &pr[np++];
		*p = (node_probe){.id = id, .addr = mn != NULL ? mn->addr : "?", .is_primary = r < 0,
		                  .st = OSTORE_EUNAVAIL};
		if (mn != NULL)
			p->st = cli_node_stats(mn->addr, tmo, &p->e, &p->epoch);
		if (p->st != OSTORE_OK)
			continue;
		top = p->e.lsn > top ? p->e.lsn : top;
		top = p->e.primary_lsn > top ? p->e.primary_lsn : top;
		if (!have_orders || p->is_primary) { /* the primary's count, else a replica's */
			orders = p->e.orders;
			bytes = p->e.bytes_used;
			have_orders = true;
		}
	}
	json_t *js = json_pack("{s:i, s:i, s:I}", "id", sh->id, "slots",
	                       (int)os_map_slot_count(m, sh->id), "primary_lsn", (json_int_t)top);
	json_object_set_new(js, "orders", have_orders ? json_integer((json_int_t)orders) : json_null());
	json_object_set_new(js, "bytes_used", have_orders ? json_integer((json_int_t)bytes) : json_null());
	json_object_set_new(js, "primary", json_null());
	json_t *jreps = json_array();
	if (!json) {
		printf("shard %u: %u slots, ", sh->id, os_map_slot_count(m, sh->id));
		if (have_orders)
			printf("%" PRIu64 " orders, %.1f MiB used, ", orders, (double)bytes / 1048576.0);
		printf("newest lsn %" PRIu64 "\n", top);
	}
	for (size_t i = 0; i < np; i++) {
		bool healthy;
		json_t *o = node_json(&pr[i], top, moff, &healthy);
		bad += !healthy;
		if (!json)
			print_node(&pr[i], o, m);
		if (pr[i].is_primary)
			json_object_set_new(js, "primary", o);
		else
			json_array_append_new(jreps, o);
	}
	if (sh->primary == OS_NODE_NONE)
		bad++;
	json_object_set_new(js, "replicas", jreps);
	json_array_append_new(jshards, js);
	return bad;
}

/* One round: returns the exit status. */
static int status_round(cli_ctx *ctx, bool json, uint32_t tmo)
{
	os_map *m = NULL;
	int rc = cli_find_map(ctx, "status", tmo, &m);
	if (rc != 0)
		return rc;
	uint32_t moff = cli_metrics_offset(ctx->dir);
	json_t *jshards = json_array(), *jrouters = json_array();
	size_t bad = 0;
	if (!json)
		printf("cluster map epoch %" PRIu64 ", %u shard%s, %u node%s\n", m->epoch, m->nshards,
		       m->nshards == 1 ? "" : "s", m->nnodes, m->nnodes == 1 ? "" : "s");
	for (uint16_t s = 0; s < m->nshards; s++)
		bad += status_shard(m, &m->shards[s], tmo, moff, json, jshards);
	if (!json && ctx->nrouters > 0)
		printf("routers\n");
	for (size_t i = 0; i < ctx->nrouters; i++) {
		os_map *rm = NULL;
		int st = cli_map_get(ctx->routers[i], tmo, &rm);
		bool ok = st == OSTORE_OK || st == OSTORE_ENOMAP;
		bad += !ok;
		json_t *o = json_pack("{s:s, s:o, s:b, s:o, s:b}", "addr", ctx->routers[i], "metrics",
		                      url_or_null(ctx->routers[i], moff), "healthy", ok, "epoch",
		                      rm != NULL ? json_integer((json_int_t)rm->epoch) : json_null(),
		                      "current", rm != NULL && rm->epoch >= m->epoch);
		json_array_append_new(jrouters, o);
		if (!json && rm != NULL)
			printf("  %-36s healthy   map epoch %" PRIu64 "%s\n", ctx->routers[i], rm->epoch,
			       rm->epoch < m->epoch ? " (behind the newest map)" : "");
		else if (!json)
			printf("  %-36s %s\n", ctx->routers[i], ok ? "healthy, no map" : "UNHEALTHY unreachable");
		os_map_unref(rm);
	}
	if (json) {
		json_t *root = json_pack("{s:I, s:b, s:o, s:o}", "epoch", (json_int_t)m->epoch, "ok",
		                         bad == 0, "shards", jshards, "routers", jrouters);
		char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
		if (text != NULL)
			puts(text);
		free(text);
		json_decref(root);
	} else {
		json_decref(jshards);
		json_decref(jrouters);
		if (bad)
			cli_err("status: %zu process%s unhealthy", bad, bad == 1 ? " is" : "es are");
	}
	fflush(stdout);
	os_map_unref(m);
	return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_status(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {{"json", no_argument, NULL, OPT_JSON},
	                                          {"watch", no_argument, NULL, OPT_WATCH},
	                                          CLI_COMMON_LONGOPTS,
	                                          {NULL, 0, NULL, 0}};
	const char *cmd = "status";
	bool json = false, watch = false;
	int c;
	int orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_JSON) {
			json = true;
		} else if (c == OPT_WATCH) {
			watch = true;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kStatusHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	uint32_t tmo = ctx->timeout_ms ? ctx->timeout_ms : STATUS_PROBE_MS;
	if (!watch)
		return status_round(ctx, json, tmo);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	int rc = CLI_EXIT_OK;
	while (!stop_watch) {
		uint64_t t0 = os_now_ns();
		if (!json)
			printf("\033[H\033[2J"); /* home + clear: one screen per refresh */
		rc = status_round(ctx, json, tmo);
		uint64_t spent_ms = (os_now_ns() - t0) / 1000000u;
		for (uint64_t ms = spent_ms; ms < WATCH_PERIOD_MS && !stop_watch; ms += 50)
			nng_msleep(50);
	}
	return rc;
}
