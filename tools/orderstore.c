/*
 * orderstore.c - the `orderstore` CLI: global options, the subcommand table, help, exit
 * codes and the small helpers every subcommand shares.
 *
 *   orderstore [common options] SUBCOMMAND [args] [options]
 *        │
 *        ├─ local up|down|status ──▶ orderstore_local.c  (processes + nng PING)
 *        ├─ local kill|start ──────▶ orderstore_ctl.c    (one node, newest map)
 *        ├─ put|get|del|stats ─────▶ orderstore_data.c   (liborderstore)
 *        ├─ import|export ─────────▶ orderstore_import.c (tools/retail.h, batches)
 *        ├─ failover|status|verify ▶ orderstore_admin.c  (direct frames, orderstore_rpc.c)
 *        ├─ rebalance ─────────────▶ orderstore_rebalance.c (+ _migrate.c, _mig.c, plan)
 *        └─ add-|remove-shard ─────▶ orderstore_shards.c
 *
 * Common options (--router, --dir, --timeout-ms, --log-level) may stand before the
 * subcommand or among its arguments. Every error message names its cause; the exit
 * status says what kind of failure it was (see kMainHelp).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "log.h"
#include "ostore_build.h"
#include "orderstore_cli.h"
#include "util.h"

static const char kMainHelp[] =
	"usage: orderstore [common options] COMMAND [arguments] [options]\n"
	"\n"
	"Local cluster (every process on 127.0.0.1, state under one directory):\n"
	"  local up --dir DIR --shards N [--replicas R] [--sync-replicas K] [--base-port P]\n"
	"           [--log-retain-entries N] [--tls] [--auth]\n"
	"                                   start nodes (R replicas per shard) and a router;\n"
	"                                   on a DIR where some died, starts just those;\n"
	"                                   --tls/--auth: TLS links, tokens (docs/security.md)\n"
	"  local down --dir DIR             stop them\n"
	"  local status --dir DIR           show each process, its role and whether it answers\n"
	"  local kill --dir DIR (NODE | --primary-of S)   SIGKILL one node\n"
	"  local start --dir DIR NODE       restart one node with the newest cluster map\n"
	"\n"
	"Data (the cluster is found by --router URL, else $ORDERSTORE_ROUTER, else --dir DIR):\n"
	"  put ID VALUE      store VALUE under ID ('-' reads VALUE from stdin); prints the version\n"
	"  get ID            write the value of ID to stdout, byte for byte\n"
	"  del ID            delete ID\n"
	"  import FILE       load the Online Retail CSV (plain or .xz), one JSON order per invoice\n"
	"  export            write every order as one JSON document per line\n"
	"  stats [--json]    orders and slots per shard and in total (exit 3 if a shard is down)\n"
	"\n"
	"Replication (the cluster is found as above; nodes are asked directly):\n"
	"  status [--json]              per shard: primary, replicas, applied LSN, lag\n"
	"  failover --shard S [--to N]  promote the most advanced replica of shard S\n"
	"  verify [--shard S]           compare primary and replicas slot by slot\n"
	"  reseed --node N (--dir DIR | --data DATADIR) [--failover] [--force-unknown-dir]\n"
	"                               re-seed a node whose data file is damaged from its shard\n"
	"  top [--json]                 live ops/s, p50/p99 and hot order IDs per node\n"
	"\n"
	"Capacity (online: reads and writes go on; killed, run the command again):\n"
	"  rebalance [--dry-run|--status] [--weights S=W,...] [--max-concurrent-slots N]\n"
	"            [--rate MB/s]     move slots until each shard owns its share by weight\n"
	"  add-shard --primary ID=URL [--replica ID=URL ...]   add an empty shard (weight 1)\n"
	"  local add-shard --dir DIR [--replicas R]   start a new shard's nodes and add it\n"
	"  remove-shard S               drain shard S (weight 0, rebalance), then remove it\n"
	"\n"
	"Common options:\n" CLI_COMMON_HELP
	"  --version          print the version\n"
	"\n"
	"'orderstore COMMAND --help' describes a command.\n"
	"\n"
	"Exit status:\n"
	"  0  success\n"
	"  1  not found, or the operation failed\n"
	"  2  usage error (bad command line)\n"
	"  3  cluster unreachable (no router or node answered in time)\n";

typedef struct cli_command {
	const char *name;
	int (*fn)(cli_ctx *ctx, int argc, char **argv);
} cli_command;

static const cli_command kCommands[] = {
	{"local", cli_cmd_local}, {"put", cli_cmd_put},       {"get", cli_cmd_get},
	{"del", cli_cmd_del},     {"import", cli_cmd_import}, {"export", cli_cmd_export},
	{"stats", cli_cmd_stats}, {"status", cli_cmd_status}, {"failover", cli_cmd_failover},
	{"verify", cli_cmd_verify}, {"top", cli_cmd_top}, {"rebalance", cli_cmd_rebalance},
	{"add-shard", cli_cmd_add_shard}, {"remove-shard", cli_cmd_remove_shard},
	{"reseed", cli_cmd_reseed},
};

void cli_err(const char *fmt, ...)
{
	va_list ap;
	fputs("orderstore: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "orderstore%s%s: ", cmd[0] ? " " : "", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'orderstore%s%s --help')\n", cmd[0] ? " " : "", cmd);
	return CLI_EXIT_USAGE;
}

int cli_opt_rest(cli_ctx *ctx, const char *cmd, int c, char **argv, const char *help)
{
	if (c == CLI_OPT_HELP) {
		fputs(help, stdout);
		return CLI_EXIT_OK;
	}
	if (c == ':' || c == '?')
		return cli_getopt_fail(cmd, c, argv);
	return cli_common_opt(ctx, cmd, c, optarg) != 0 ? CLI_EXIT_USAGE : CLI_OPT_NEXT;
}

int cli_getopt_fail(const char *cmd, int c, char **argv)
{
	/* A long option: getopt has moved past it, so it is argv[optind - 1]. A short one
	 * ("-dash": the CLI has none, so its first letter is refused): getopt stays on the
	 * argument while letters are left, and moves past it after its last letter. */
	const char *bad = argv[optind - 1];
	if (c == '?' && optopt != 0) {
		const char *cur = argv[optind];
		if (cur != NULL && cur[0] == '-' && cur[1] == optopt && cur[2] != '\0')
			bad = cur;
	}
	return cli_usage_error(cmd, "%s option '%s'", c == ':' ? "missing value for" : "unknown",
	                       bad);
}

int cli_check_url(const char *cmd, const char *what, const char *url)
{
	static const char *const kSchemes[] = {"tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4",
	                                       "tls+tcp6", "ipc", "abstract", "inproc", "ws",
	                                       "wss", "ws4", "ws6", "wss4", "wss6"};
	const char *sep = strstr(url, "://");
	bool known = false;
	for (size_t i = 0; sep != NULL && i < sizeof(kSchemes) / sizeof(kSchemes[0]); i++)
		known = known || ((size_t)(sep - url) == strlen(kSchemes[i]) &&
		                  strncmp(url, kSchemes[i], strlen(kSchemes[i])) == 0);
	if (!known)
		return cli_usage_error(cmd, "%s '%s' is not an nng URL (expected e.g. "
		                            "tcp://127.0.0.1:7100)",
		                       what, url);
	nng_url *u = NULL;
	int rv = nng_url_parse(&u, url);
	bool tcp = strncmp(url, "tcp", 3) == 0 || strncmp(url, "tls+tcp", 7) == 0 ||
	           strncmp(url, "ws", 2) == 0;
	bool ok = rv == 0 && (!tcp || (u->u_hostname[0] != '\0' && u->u_port[0] != '\0' &&
	                               strcmp(u->u_port, "0") != 0));
	if (u != NULL)
		nng_url_free(u);
	if (!ok)
		return cli_usage_error(cmd, "%s '%s' is not a valid URL (%s)", what, url,
		                       rv != 0 ? nng_strerror(rv) : "it needs a host and a port");
	return 0;
}

int cli_fmt(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int cli_exit_for(ostore_status st)
{
	switch (st) {
	case OSTORE_OK:
		return CLI_EXIT_OK;
	case OSTORE_EUNAVAIL:
	case OSTORE_ETIMEDOUT:
	case OSTORE_ECONNECT:
	case OSTORE_ECLOSED:
		return CLI_EXIT_UNREACHABLE;
	case OSTORE_EMIGRATING:
		/* The slot stayed frozen (a rebalance moving it) for the whole timeout: the write
		 * was not applied; the cluster answered, so it is a failed operation. */
		return CLI_EXIT_FAIL;
	default:
		return CLI_EXIT_FAIL;
	}
}

int cli_parse_u32(const char *cmd, const char *name, const char *s, uint32_t min, uint32_t max,
                  uint32_t *out)
{
	uint64_t v;
	if (os_parse_u64(s, min, max, &v) != 0)
		return cli_usage_error(cmd, "%s '%s': expected a whole number from %u to %u", name, s,
		                       min, max);
	*out = (uint32_t)v;
	return 0;
}

int cli_common_opt(cli_ctx *ctx, const char *cmd, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_ROUTER:
		if (ctx->nrouters >= CLI_MAX_ROUTERS)
			return cli_usage_error(cmd, "too many --router options (at most %d)",
			                       CLI_MAX_ROUTERS);
		if (arg[0] == '\0')
			return cli_usage_error(cmd, "--router needs a URL such as tcp://127.0.0.1:7100");
		if (cli_check_url(cmd, "--router", arg) != 0)
			return CLI_EXIT_USAGE;
		ctx->routers[ctx->nrouters++] = arg;
		return 0;
	case CLI_OPT_DIR:
		ctx->dir = arg;
		return 0;
	case CLI_OPT_TIMEOUT:
		return cli_parse_u32(cmd, "--timeout-ms", arg, 1, 3600000, &ctx->timeout_ms);
	case CLI_OPT_TLS_CERT:
	case CLI_OPT_TLS_KEY:
	case CLI_OPT_TLS_CA:
	case CLI_OPT_TOKEN_FILE: {
		const char **f = c == CLI_OPT_TLS_CERT ? &ctx->tls_cert
		               : c == CLI_OPT_TLS_KEY  ? &ctx->tls_key
		               : c == CLI_OPT_TLS_CA   ? &ctx->tls_ca
		                                       : &ctx->token_file;
		if (arg[0] == '\0')
			return cli_usage_error(cmd, "an empty file name was given to a --tls-* or "
			                            "--token-file option");
		*f = arg;
		return 0;
	}
	case CLI_OPT_LOGLEVEL: {
		int lvl = os_log_parse_level(arg);
		if (lvl < 0)
			return cli_usage_error(cmd, "--log-level '%s': expected debug, info, warn or error",
			                       arg);
		ctx->log_level = lvl;
		ctx->log_level_str = arg;
		os_log_set_level((os_log_level)lvl);
		return 0;
	}
	default:
		return 1;
	}
}

const char *cli_quote_id(const void *id, size_t len)
{
	static __thread char ring[4][400];
	static __thread unsigned next;
	char *out = ring[next++ % 4];
	const unsigned char *p = id;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (o > 80) {
			memcpy(out + o, "...", 4);
			return out;
		}
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '\'')
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, 8, "\\x%02x", p[i]);
	}
	out[o] = '\0';
	return out;
}

int cli_read_file(const char *path, char **data, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return errno;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	int err = 0;
	while (buf != NULL) {
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				err = errno ? errno : EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL)
		return ENOMEM;
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cli_ctx ctx = {.log_level = -1};
	os_log_set_level(OS_LOG_WARN);
	os_log_set_component("orderstore");

	opterr = 0;
	int c;
	/* '+': stop at the subcommand; its own parser reads the rest. */
	while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		if (c == 'V') {
			printf("orderstore %s (liborderstore %s)\n", OSTORE_VERSION,
			       ostore_version_string());
			return CLI_EXIT_OK;
		}
		if (c == CLI_OPT_HELP) {
			fputs(kMainHelp, stdout);
			return CLI_EXIT_OK;
		}
		if (c == ':' || c == '?') {
			fprintf(stderr, "orderstore: %s option '%s'\n%s",
			        c == ':' ? "missing value for" : "unknown", argv[optind - 1], kMainHelp);
			return CLI_EXIT_USAGE;
		}
		int rc = cli_common_opt(&ctx, "", c, optarg);
		if (rc != 0)
			return CLI_EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "orderstore: no command given\n%s", kMainHelp);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (strcmp(name, "help") == 0) {
		fputs(kMainHelp, stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(kCommands) / sizeof(kCommands[0]); i++) {
		if (strcmp(kCommands[i].name, name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 0; /* glibc: full re-initialisation for the subcommand's parser */
			cli_sec_bind(&ctx);
			int rc = kCommands[i].fn(&ctx, sub_argc, sub_argv);
			/* Every socket is closed by now and the CLI runs no threads of its own: let
			 * nng's reaper finish freeing what closed sockets still hold (it does so
			 * asynchronously), so that LeakSanitizer does not report it at exit (seen
			 * once in the chaos suite under ASan: `local start` exited 1 on such a
			 * report). nng.h recommends nng_fini for exactly this, after all other
			 * nng calls. */
			nng_fini();
			return rc;
		}
	}
	fprintf(stderr, "orderstore: unknown command '%s' (see 'orderstore --help')\n", name);
	return CLI_EXIT_USAGE;
}
