/*
 * orderstore_data.c - the data commands put, get, del and stats, and how every data
 * command finds the cluster and opens liborderstore.
 *
 * Cluster lookup, first match wins:
 *   --router URL (repeatable)  >  $ORDERSTORE_ROUTER (comma-separated)  >  --dir DIR
 *   (DIR/routers, one URL per line, written by `local up`).
 *
 * IDs on the command line are taken as the given bytes. Values are bytes too: `get`
 * writes the stored value to stdout unchanged (no newline added), `put ID -` stores
 * stdin unchanged.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "orderstore_cli.h"

/* Router URLs read from the environment or DIR/routers; freed at exit by the OS. */
static char *g_router_text;

static int add_router_list(cli_ctx *ctx, char *text, const char *seps)
{
	char *save = NULL;
	for (char *tok = strtok_r(text, seps, &save); tok != NULL; tok = strtok_r(NULL, seps, &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		size_t n = strlen(tok);
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t' || tok[n - 1] == '\r'))
			tok[--n] = '\0';
		if (n == 0)
			continue;
		if (ctx->nrouters >= CLI_MAX_ROUTERS)
			return -1;
		ctx->routers[ctx->nrouters++] = tok;
	}
	return 0;
}

int cli_resolve_routers(cli_ctx *ctx, const char *cmd, const char **source_out)
{
	static char path[4096]; /* named in cli_open's messages */
	const char *source = "--router";
	if (ctx->nrouters == 0) {
		const char *env = getenv("ORDERSTORE_ROUTER");
		if (env != NULL && env[0] != '\0') {
			source = "$ORDERSTORE_ROUTER";
			g_router_text = strdup(env);
			if (g_router_text == NULL || add_router_list(ctx, g_router_text, ",") != 0) {
				cli_err("%s: $ORDERSTORE_ROUTER: %s", cmd,
				        g_router_text ? "more than 64 routers" : strerror(ENOMEM));
				return CLI_EXIT_USAGE;
			}
			for (size_t i = 0; i < ctx->nrouters; i++)
				if (cli_check_url(cmd, "$ORDERSTORE_ROUTER", ctx->routers[i]) != 0)
					return CLI_EXIT_USAGE;
		} else if (ctx->dir != NULL) {
			size_t len;
			cli_fmt(path, sizeof(path), "%s/routers", ctx->dir);
			source = path;
			int err = cli_read_file(path, &g_router_text, &len);
			if (err != 0) {
				cli_err("%s: cannot read %s: %s (is there a local cluster in %s?)", cmd,
				        path, strerror(err), ctx->dir);
				return CLI_EXIT_FAIL;
			}
			if (add_router_list(ctx, g_router_text, "\n") != 0) {
				cli_err("%s: %s: more than 64 routers", cmd, path);
				return CLI_EXIT_FAIL;
			}
			if (ctx->nrouters == 0) {
				cli_err("%s: %s lists no router", cmd, path);
				return CLI_EXIT_FAIL;
			}
		} else {
			return cli_usage_error(cmd, "no cluster given: use --router URL, "
			                            "ORDERSTORE_ROUTER=URL[,URL...] or --dir DIR");
		}
	}
	if (source_out != NULL)
		*source_out = source;
	return CLI_EXIT_OK;
}

int cli_open(cli_ctx *ctx, const char *cmd, ostore_client **out)
{
	const char *source = "--router";
	int rc = cli_resolve_routers(ctx, cmd, &source);
	if (rc != CLI_EXIT_OK)
		return rc;
	ostore_options opts;
	ostore_options_init(&opts);
	opts.routers = ctx->routers;
	opts.nrouters = ctx->nrouters;
	if (ctx->timeout_ms != 0)
		opts.timeout_ms = ctx->timeout_ms;
	opts.retries = 1;
	opts.max_value = OSTORE_MAX_VALUE_LIMIT; /* the cluster enforces its own limit */
	cli_sec_client_opts(&opts);
	for (size_t i = 0; i < ctx->nrouters; i++)
		if (strncmp(ctx->routers[i], "tls+", 4) == 0 && opts.tls_ca_file == NULL)
			return cli_usage_error(cmd, "router %s is a TLS address: give --tls-cert, "
			                            "--tls-key and --tls-ca (or --dir of a cluster made "
			                            "with 'local up --tls')", ctx->routers[i]);
	ostore_status st = ostore_open(&opts, out);
	if (st != OSTORE_OK) {
		cli_err("%s: cannot open the cluster (routers from %s, first %s): %s", cmd, source,
		        ctx->routers[0], ostore_strerror(st));
		return cli_exit_for(st);
	}
	return CLI_EXIT_OK;
}

/*
 * Parse a command that has only common options plus positional arguments; collects the
 * positionals in @pos (at most @maxpos). Returns -1 to continue, or an exit status
 * (help printed, usage error).
 */
static int parse_simple(cli_ctx *ctx, int argc, char **argv, const char *help,
                        const char **pos, int minpos, int maxpos, int *npos)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	const char *cmd = argv[0];
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		int orc = cli_opt_rest(ctx, cmd, c, argv, help);
		if (orc != CLI_OPT_NEXT)
			return orc;
	}
	int n = argc - optind;
	if (n < minpos || n > maxpos)
		return cli_usage_error(cmd, "expected %d argument%s, got %d", maxpos,
		                       maxpos == 1 ? "" : "s", n);
	for (int i = 0; i < n; i++)
		pos[i] = argv[optind + i];
	*npos = n;
	return -1;
}

/* Check an order ID given on the command line; returns 0 or the usage status. */
static int check_id(const char *cmd, const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > OSTORE_MAX_ID_LEN)
		return cli_usage_error(cmd, "order ID of %zu bytes: %s", n, ostore_strerror(OSTORE_EBADID));
	return 0;
}

static const char kPutHelp[] =
	"usage: orderstore put ID VALUE [common options]\n"
	"Store VALUE under the order ID (replacing any previous value) and print the new\n"
	"version. VALUE '-' reads the value from stdin, byte for byte. Use '--' before a\n"
	"VALUE that starts with '-'.\n"
	"\nCommon options:\n" CLI_COMMON_HELP;

int cli_cmd_put(cli_ctx *ctx, int argc, char **argv)
{
	const char *pos[2];
	int npos, rc = parse_simple(ctx, argc, argv, kPutHelp, pos, 2, 2, &npos);
	if (rc >= 0)
		return rc;
	if ((rc = check_id("put", pos[0])) != 0)
		return rc;
	char *value = (char *)pos[1];
	size_t vlen = strlen(value);
	char *owned = NULL;
	if (strcmp(pos[1], "-") == 0) {
		int err = cli_read_file("-", &owned, &vlen);
		if (err != 0) {
			cli_err("put: cannot read the value from stdin: %s", strerror(err));
			return CLI_EXIT_FAIL;
		}
		value = owned;
	}
	ostore_client *cl;
	if ((rc = cli_open(ctx, "put", &cl)) != 0) {
		free(owned);
		return rc;
	}
	uint64_t version = 0;
	ostore_status st = ostore_put(cl, pos[0], strlen(pos[0]), value, vlen, &version);
	ostore_close(cl);
	free(owned);
	if (st != OSTORE_OK) {
		cli_err("put '%s' (%zu-byte value): %s", cli_quote_id(pos[0], strlen(pos[0])), vlen,
		        ostore_strerror(st));
		return cli_exit_for(st);
	}
	printf("%llu\n", (unsigned long long)version);
	return CLI_EXIT_OK;
}

static const char kGetHelp[] =
	"usage: orderstore get ID [common options]\n"
	"Write the value stored under the order ID to stdout, byte for byte (no newline is\n"
	"added). Exit status 1 and a message on stderr when the order does not exist.\n"
	"\nCommon options:\n" CLI_COMMON_HELP;

int cli_cmd_get(cli_ctx *ctx, int argc, char **argv)
{
	const char *pos[1];
	int npos, rc = parse_simple(ctx, argc, argv, kGetHelp, pos, 1, 1, &npos);
	if (rc >= 0)
		return rc;
	if ((rc = check_id("get", pos[0])) != 0)
		return rc;
	ostore_client *cl;
	if ((rc = cli_open(ctx, "get", &cl)) != 0)
		return rc;
	void *value = NULL;
	size_t len = 0;
	ostore_status st = ostore_get(cl, pos[0], strlen(pos[0]), &value, &len, NULL);
	if (st == OSTORE_ENOTFOUND) {
		ostore_close(cl);
		cli_err("order '%s' not found", cli_quote_id(pos[0], strlen(pos[0])));
		return CLI_EXIT_FAIL;
	}
	if (st != OSTORE_OK) {
		ostore_close(cl);
		cli_err("get '%s': %s", cli_quote_id(pos[0], strlen(pos[0])), ostore_strerror(st));
		return cli_exit_for(st);
	}
	/* Output first, then close: the value is out even if closing takes long. */
	rc = CLI_EXIT_OK;
	if ((len > 0 && fwrite(value, 1, len, stdout) != len) || fflush(stdout) != 0) {
		cli_err("get: cannot write to stdout: %s", strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	ostore_free(value);
	ostore_close(cl);
	return rc;
}

static const char kDelHelp[] =
	"usage: orderstore del ID [common options]\n"
	"Delete the order ID. Exit status 1 and a message when it does not exist.\n"
	"\nCommon options:\n" CLI_COMMON_HELP;

int cli_cmd_del(cli_ctx *ctx, int argc, char **argv)
{
	const char *pos[1];
	int npos, rc = parse_simple(ctx, argc, argv, kDelHelp, pos, 1, 1, &npos);
	if (rc >= 0)
		return rc;
	if ((rc = check_id("del", pos[0])) != 0)
		return rc;
	ostore_client *cl;
	if ((rc = cli_open(ctx, "del", &cl)) != 0)
		return rc;
	ostore_status st = ostore_del(cl, pos[0], strlen(pos[0]));
	ostore_close(cl);
	if (st == OSTORE_ENOTFOUND) {
		cli_err("order '%s' not found", cli_quote_id(pos[0], strlen(pos[0])));
		return CLI_EXIT_FAIL;
	}
	if (st != OSTORE_OK) {
		cli_err("del '%s': %s", cli_quote_id(pos[0], strlen(pos[0])), ostore_strerror(st));
		return cli_exit_for(st);
	}
	return CLI_EXIT_OK;
}

static const char kStatsHelp[] =
	"usage: orderstore stats [--json] [common options]\n"
	"Orders and slots per shard and in total. --json prints\n"
	"  {\"epoch\": E, \"total_orders\": N, \"shards\": [{\"id\": 0, \"slots\": S, \"orders\": M,\n"
	"   \"node\": P, \"lsn\": L, \"bytes_used\": B, \"status\": \"ok\"}, ...]}\n"
	"A shard that did not answer is listed with its error: in --json with\n"
	"\"orders\", \"lsn\" and \"bytes_used\" null and \"status\" the error's name\n"
	"(e.g. \"OSTORE_EUNAVAIL\"); the totals count only the shards that answered.\n"
	"A shard's count is what its primary stores: while a rebalance copies slots to it (or\n"
	"after an interrupted one, until 'orderstore rebalance' runs again and cleans up) it\n"
	"includes copies of slots it does not own yet; 'export' lists each order once.\n"
	"Exit status: 0 every shard answered; 3 a shard (or the router) did not answer in\n"
	"time (unreachable, as in 'orderstore --help'); 1 a shard answered with another\n"
	"error; 2 usage. The table or JSON is printed in every case but 2.\n"
	"\nOptions:\n"
	"  --json             machine-readable output\n"
	"\nCommon options:\n" CLI_COMMON_HELP;

static int stats_json(const ostore_cluster_stats *s)
{
	json_t *root = json_object();
	json_t *shards = json_array();
	if (root == NULL || shards == NULL)
		goto oom;
	json_object_set_new(root, "epoch", json_integer((json_int_t)s->epoch));
	json_object_set_new(root, "total_orders", json_integer((json_int_t)s->total_orders));
	for (size_t i = 0; i < s->nshards; i++) {
		const ostore_shard_stats *sh = &s->shards[i];
		bool ok = sh->status == OSTORE_OK;
		json_t *o = json_pack("{s:I, s:I, s:o, s:I, s:o, s:o, s:s}", "id", (json_int_t)sh->shard,
		                      "slots", (json_int_t)sh->slots, "orders",
		                      ok ? json_integer((json_int_t)sh->orders) : json_null(), "node",
		                      (json_int_t)sh->node, "lsn",
		                      ok ? json_integer((json_int_t)sh->lsn) : json_null(), "bytes_used",
		                      ok ? json_integer((json_int_t)sh->bytes_used) : json_null(),
		                      "status", ok ? "ok" : ostore_status_name(sh->status));
		if (o == NULL || json_array_append_new(shards, o) != 0)
			goto oom;
	}
	json_object_set_new(root, "shards", shards);
	shards = NULL;
	char *text = json_dumps(root, JSON_COMPACT);
	if (text == NULL)
		goto oom;
	puts(text);
	free(text);
	json_decref(root);
	return 0;
oom:
	json_decref(shards);
	json_decref(root);
	cli_err("stats: %s", ostore_strerror(OSTORE_ENOMEM));
	return -1;
}

int cli_cmd_stats(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'}, CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	bool json = false;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
			continue;
		}
		int orc = cli_opt_rest(ctx, "stats", c, argv, kStatsHelp);
		if (orc != CLI_OPT_NEXT)
			return orc;
	}
	if (optind < argc)
		return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
	ostore_client *cl;
	if ((rc = cli_open(ctx, "stats", &cl)) != 0)
		return rc;
	ostore_cluster_stats *s = NULL;
	ostore_status st = ostore_stats(cl, &s);
	if (st != OSTORE_OK) {
		ostore_close(cl);
		cli_err("stats: %s", ostore_strerror(st));
		return cli_exit_for(st);
	}
	int failed = 0, exit_rc = CLI_EXIT_OK;
	for (size_t i = 0; i < s->nshards; i++) {
		ostore_status sst = s->shards[i].status;
		if (sst == OSTORE_OK)
			continue;
		failed++;
		/* unreachable (3) wins over other failures (1) */
		if (exit_rc != CLI_EXIT_UNREACHABLE)
			exit_rc = cli_exit_for(sst);
	}
	if (json) {
		if (stats_json(s) != 0) {
			ostore_stats_free(s);
			ostore_close(cl);
			return CLI_EXIT_FAIL;
		}
	} else {
		uint64_t slots = 0;
		printf("%-7s %6s %10s %6s %12s  %s\n", "shard", "slots", "orders", "node", "lsn",
		       "status");
		for (size_t i = 0; i < s->nshards; i++) {
			const ostore_shard_stats *sh = &s->shards[i];
			slots += sh->slots;
			if (sh->status == OSTORE_OK)
				printf("%-7u %6u %10llu %6u %12llu  ok\n", sh->shard, sh->slots,
				       (unsigned long long)sh->orders, sh->node, (unsigned long long)sh->lsn);
			else
				printf("%-7u %6u %10s %6u %12s  %s\n", sh->shard, sh->slots, "-", sh->node,
				       "-", ostore_strerror(sh->status));
		}
		printf("%-7s %6llu %10llu\n", "total", (unsigned long long)slots,
		       (unsigned long long)s->total_orders);
		printf("epoch %llu, %zu shard%s\n", (unsigned long long)s->epoch, s->nshards,
		       s->nshards == 1 ? "" : "s");
	}
	if (failed)
		cli_err("stats: %d shard%s did not answer; totals count only the others", failed,
		        failed == 1 ? "" : "s");
	ostore_stats_free(s);
	fflush(stdout);
	ostore_close(cl);
	return exit_rc;
}
