/*
 * orderstore_top.c - `orderstore top`: live load per shard and the hottest order IDs.
 *
 *   every interval: newest map (cli_find_map) ─▶ TOP to every node of the map
 *     ─▶ per node: ops/s (items of its last 1 s interval), writes/s, p50/p99 of its DATA
 *        frames, hottest IDs (Space-Saving counts, node/top.h) ─▶ one table (a terminal
 *        is cleared first) or one JSON line per round (--json)
 *   until --iterations rounds are done or SIGINT/SIGTERM (exit 0).
 *
 * A hot shard shows as a row with most of the ops/s; a hot key as an ID with a large
 * share of its node's ops. Nodes are asked one after the other; one that does not answer
 * is shown as such and costs its timeout.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_cli.h"
#include "util.h"

#define TOP_PROBE_MS 1000u
#define TOP_DEFAULT_KEYS 3u
#define TOP_MIN_SHARE_PCT 0.5 /* text view: keys the node surely saw this often */

static const char kTopHelp[] =
	"usage: orderstore top [--interval-ms MS] [--iterations N] [--keys K] [--json]\n"
	"                      [common options]\n"
	"Live load of every node of the cluster, refreshed every interval: role, shard,\n"
	"ops/s and writes/s (DATA items the node answered in its last 1 s interval), p50 and\n"
	"p99 latency of its DATA frames inside the node (log-scale buckets: the upper bound\n"
	"of the bucket), and up to K hottest order IDs with the share of its ops they surely\n"
	"had (counted with the Space-Saving algorithm: a count is never below the true one and\n"
	"at most its error above it; the table shows count - error, and only IDs with at least\n"
	"0.5 %, so an even load shows '-'). A hot shard is the row with most of the ops/s; a\n"
	"hot key an ID with a large share. On a terminal the screen is redrawn; otherwise (or\n"
	"with --json: one JSON document per round) rounds are printed one after another.\n"
	"\nOptions:\n"
	"  --interval-ms MS   time between rounds (default 1000, 200..60000)\n"
	"  --iterations N     stop after N rounds (default: until Ctrl-C)\n"
	"  --keys K           hot IDs shown per node (default 3, 0..32)\n"
	"  --json             one JSON document per round: {\"epoch\", \"nodes\": [{\"node\",\n"
	"                     \"addr\", \"role\", \"shard\", \"ok\", \"ops_per_sec\",\n"
	"                     \"writes_per_sec\", \"p50_us\", \"p99_us\", \"hot\": [{\"id\",\n"
	"                     \"hits\", \"err\"}]}]}\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 done or interrupted, 1 a node did not answer in the last round,\n"
	"2 usage, 3 no cluster map could be found.\n";

enum { OPT_INTERVAL = CLI_OPT_FIRST_LOCAL + 400, OPT_ITER, OPT_KEYS, OPT_TJSON };

static volatile sig_atomic_t stop_top;

static void on_stop(int sig)
{
	(void)sig;
	stop_top = 1;
}

/* One node's TOP answer, decoded. */
typedef struct top_row {
	int st;
	os_top_head h;
	uint16_t nkeys;
	os_top_key keys[OS_TOP_MAX_KEYS];
	cli_reply rep; /* keys point into it */
} top_row;

static int top_ask(const char *addr, uint32_t tmo, top_row *row)
{
	memset(row, 0, sizeof(*row));
	int st = cli_rpc(addr, OS_KIND_TOP, 0, NULL, 0, tmo, &row->rep);
	if (st == OSTORE_OK && row->rep.hdr.status != OSTORE_OK)
		st = row->rep.hdr.status;
	if (st == OSTORE_OK) {
		row->nkeys = row->rep.hdr.count;
		st = os_top_reply_get(row->rep.body, row->rep.body_len, row->nkeys, &row->h, row->keys);
	}
	row->st = st;
	return st;
}

static double per_sec(uint64_t n, uint64_t interval_ms)
{
	return interval_ms ? (double)n * 1000.0 / (double)interval_ms : 0.0;
}

/* The ID as text: printable ASCII as is, anything else as \xHH (quoted when shown). */
static json_t *id_json(const os_top_key *k)
{
	return json_string(cli_quote_id(k->id, k->id_len));
}

static int top_round(cli_ctx *ctx, uint32_t tmo, unsigned nkeys, bool json, bool tty)
{
	os_map *m = NULL;
	int st = cli_find_map(ctx, "top", tmo, &m);
	if (st != CLI_EXIT_OK)
		return st;
	top_row *rows = calloc(m->nnodes, sizeof(*rows));
	if (rows == NULL) {
		os_map_unref(m);
		cli_err("top: %s", ostore_strerror(OSTORE_ENOMEM));
		return CLI_EXIT_FAIL;
	}
	size_t bad = 0;
	double total = 0;
	for (uint16_t i = 0; i < m->nnodes; i++) {
		if (top_ask(m->nodes[i].addr, tmo, &rows[i]) != OSTORE_OK)
			bad++;
		else
			total += per_sec(rows[i].h.items, rows[i].h.interval_ms);
	}
	json_t *jnodes = json ? json_array() : NULL;
	if (!json) {
		if (tty)
			printf("\033[H\033[2J");
		printf("map epoch %" PRIu64 "  nodes %u  total %.0f ops/s\n", m->epoch, m->nnodes, total);
		printf("%-5s %-22s %-20s %10s %10s %8s %8s  %s\n", "node", "addr", "role", "ops/s",
		       "writes/s", "p50_us", "p99_us", "hot order IDs (share of the node's ops)");
	}
	for (uint16_t i = 0; i < m->nnodes; i++) {
		const os_map_node *n = &m->nodes[i];
		const top_row *r = &rows[i];
		char role[48];
		cli_node_role(m, n->id, role, sizeof(role));
		double ops = per_sec(r->h.items, r->h.interval_ms);
		double wr = per_sec(r->h.writes, r->h.interval_ms);
		unsigned shown = r->nkeys < nkeys ? r->nkeys : nkeys;
		if (json) {
			json_t *hot = json_array();
			for (unsigned k = 0; k < shown; k++)
				json_array_append_new(hot, json_pack("{s:o, s:I, s:I}", "id", id_json(&r->keys[k]),
				                                     "hits", (json_int_t)r->keys[k].hits, "err",
				                                     (json_int_t)r->keys[k].err));
			json_array_append_new(
				jnodes, json_pack("{s:i, s:s, s:s, s:b, s:f, s:f, s:I, s:I, s:o, s:s?}", "node",
			                      n->id, "addr", n->addr, "role", role, "ok", r->st == OSTORE_OK,
			                      "ops_per_sec", ops, "writes_per_sec", wr, "p50_us",
			                      (json_int_t)r->h.p50_us, "p99_us", (json_int_t)r->h.p99_us, "hot",
			                      hot, "error", r->st == OSTORE_OK ? NULL : ostore_status_name(r->st)));
			continue;
		}
		if (r->st != OSTORE_OK) {
			printf("%-5u %-22s %-20.20s %s\n", n->id, n->addr, role, ostore_strerror(r->st));
			continue;
		}
		printf("%-5u %-22s %-20.20s %10.0f %10.0f %8" PRIu32 " %8" PRIu32 " ", n->id, n->addr, role,
		       ops, wr, r->h.p50_us, r->h.p99_us);
		unsigned printed = 0;
		for (unsigned k = 0; k < shown; k++) {
			/* The share the node certainly saw (hits - err): under an even load every
			 * counter is mostly error, and no key is hot. */
			double share = r->h.items ? 100.0 * (r->keys[k].hits - r->keys[k].err) /
			                                (double)r->h.items
			                          : 0.0;
			if (share < TOP_MIN_SHARE_PCT)
				continue;
			printf(" %s (>=%.1f%%)", cli_quote_id(r->keys[k].id, r->keys[k].id_len), share);
			printed++;
		}
		printf("%s\n", printed ? "" : " -");
	}
	if (json) {
		json_t *root = json_pack("{s:I, s:o}", "epoch", (json_int_t)m->epoch, "nodes", jnodes);
		char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		json_decref(root);
	}
	fflush(stdout);
	for (uint16_t i = 0; i < m->nnodes; i++)
		cli_reply_free(&rows[i].rep);
	free(rows);
	os_map_unref(m);
	return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_top(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {{"interval-ms", required_argument, NULL, OPT_INTERVAL},
	                                          {"iterations", required_argument, NULL, OPT_ITER},
	                                          {"keys", required_argument, NULL, OPT_KEYS},
	                                          {"json", no_argument, NULL, OPT_TJSON},
	                                          CLI_COMMON_LONGOPTS,
	                                          {NULL, 0, NULL, 0}};
	const char *cmd = "top";
	uint32_t interval = 1000, iterations = 0, nkeys = TOP_DEFAULT_KEYS;
	bool json = false;
	int c, orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_INTERVAL) {
			if ((orc = cli_parse_u32(cmd, "--interval-ms", optarg, 200, 60000, &interval)) != 0)
				return orc;
		} else if (c == OPT_ITER) {
			if ((orc = cli_parse_u32(cmd, "--iterations", optarg, 1, UINT32_MAX, &iterations)) != 0)
				return orc;
		} else if (c == OPT_KEYS) {
			if ((orc = cli_parse_u32(cmd, "--keys", optarg, 0, 32, &nkeys)) != 0)
				return orc;
		} else if (c == OPT_TJSON) {
			json = true;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kTopHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	uint32_t tmo = ctx->timeout_ms ? ctx->timeout_ms : TOP_PROBE_MS;
	bool tty = !json && isatty(STDOUT_FILENO);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	int rc = CLI_EXIT_OK;
	for (uint32_t round = 0; !stop_top && (iterations == 0 || round < iterations); round++) {
		if (round > 0) {
			for (uint32_t ms = 0; ms < interval && !stop_top; ms += 50)
				nng_msleep(50);
			if (stop_top)
				break;
			if (!tty && !json)
				printf("\n");
		}
		rc = top_round(ctx, tmo, nkeys, json, tty);
		if (rc == CLI_EXIT_UNREACHABLE && round == 0)
			return rc;
	}
	return rc == CLI_EXIT_UNREACHABLE ? CLI_EXIT_FAIL : rc;
}
