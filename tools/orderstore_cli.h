/*
 * orderstore_cli.h - internals shared by the files of the `orderstore` CLI (tools/ only).
 *
 *   orderstore.c         main: global options, subcommand table, help, exit codes
 *   orderstore_local.c   local up, the layout of a cluster directory (orderstore_local.h)
 *   orderstore_local_ops.c  local down | status, the `local` dispatch
 *   orderstore_shards.c  add-shard | remove-shard | local add-shard
 *   orderstore_proc.c    their helpers: PING, pid files, spawning, port checks
 *   orderstore_data.c    put | get | del | stats, and finding/opening the cluster
 *   orderstore_import.c  import (tools/retail.h -> batches in flight) | export (scan)
 *   orderstore_rpc.c     direct frames to nodes/routers (MAP_GET/SET, STATS, CHECKSUM)
 *   orderstore_admin.c   failover | status | verify (replication administration)
 *   orderstore_ctl.c     local kill | local start (one node of a local cluster)
 *   orderstore_reseed.c  reseed (a node with a damaged data directory)
 *   orderstore_rebalance.c  rebalance (options, --dry-run, --status, --weights)
 *   orderstore_migrate.c the rebalance driver (orderstore_rebalance.h): recovery, moves
 *   orderstore_mig.c     the slot-migration frames (orderstore_mig.h)
 *   rebalance_plan.c     the planner (rebalance_plan.h, pure)
 *
 * Every subcommand is `int cmd(cli_ctx *ctx, int argc, char **argv)` where argv[0] is
 * the subcommand's name; it returns the process exit status (CLI_EXIT_*). Messages go
 * to stderr as "orderstore: <what>: <cause>", data to stdout.
 */
#ifndef OS_CLI_H
#define OS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <orderstore.h>

#include "map.h"
#include "netsec.h"
#include "wire.h"

/* Exit statuses, documented in `orderstore --help`. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1        /* not found, or the operation failed */
#define CLI_EXIT_USAGE 2       /* bad command line */
#define CLI_EXIT_UNREACHABLE 3 /* the cluster did not answer */

#define CLI_MAX_ROUTERS 64

/* Options common to every subcommand; may be given before or after the subcommand. */
typedef struct cli_ctx {
	const char *routers[CLI_MAX_ROUTERS]; /* --router (repeatable), borrowed from argv */
	size_t nrouters;
	const char *dir;     /* --dir */
	uint32_t timeout_ms; /* --timeout-ms; 0 = the subcommand's default */
	int log_level;       /* --log-level parsed, -1 = not given */
	const char *log_level_str;
	/* --tls-cert/--tls-key/--tls-ca, --token-file (orderstore_sec.c resolves defaults) */
	const char *tls_cert, *tls_key, *tls_ca;
	const char *token_file;
} cli_ctx;

/*
 * Long options every subcommand accepts. A subcommand's getopt_long table starts with
 * its own entries and appends CLI_COMMON_LONGOPTS; the short codes below are returned
 * for them and handled by cli_common_opt().
 */
enum {
	CLI_OPT_ROUTER = 0x1000,
	CLI_OPT_DIR,
	CLI_OPT_TIMEOUT,
	CLI_OPT_LOGLEVEL,
	CLI_OPT_HELP,
	CLI_OPT_TLS_CERT,
	CLI_OPT_TLS_KEY,
	CLI_OPT_TLS_CA,
	CLI_OPT_TOKEN_FILE,
	CLI_OPT_FIRST_LOCAL /* first code free for a subcommand's own options */
};
#define CLI_COMMON_LONGOPTS                                          \
	{"router", required_argument, NULL, CLI_OPT_ROUTER},         \
	{"dir", required_argument, NULL, CLI_OPT_DIR},               \
	{"timeout-ms", required_argument, NULL, CLI_OPT_TIMEOUT},    \
	{"log-level", required_argument, NULL, CLI_OPT_LOGLEVEL},    \
	{"tls-cert", required_argument, NULL, CLI_OPT_TLS_CERT},     \
	{"tls-key", required_argument, NULL, CLI_OPT_TLS_KEY},       \
	{"tls-ca", required_argument, NULL, CLI_OPT_TLS_CA},         \
	{"token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE}, \
	{"help", no_argument, NULL, CLI_OPT_HELP}

/* Text of the common options for the help screens. */
#define CLI_COMMON_HELP                                                                   \
	"  --router URL       a router of the cluster (repeatable)\n"                        \
	"  --dir DIR          a local cluster directory (reads DIR/routers)\n"              \
	"  --timeout-ms MS    time one request may take (default 5000)\n"                   \
	"  --log-level L      debug|info|warn|error\n"                                        \
	"  --tls-cert F --tls-key F --tls-ca F   TLS files for tls+tcp:// clusters\n"           \
	"                     (default with --dir: DIR/tls/client.pem, client.key, ca.pem)\n"   \
	"  --token-file F     credential sent with every request (default:\n"                 \
	"                     $ORDERSTORE_TOKEN_FILE, else DIR/admin.token with --dir)\n"      \
	"  --help             this text\n"

/**
 * cli_common_opt - handle one common option code @c with argument @arg.
 * Returns 0 when handled, 1 when @c is not a common option, or CLI_EXIT_USAGE after
 * printing the problem (bad value). CLI_OPT_HELP is not handled here (returns 1).
 */
int cli_common_opt(cli_ctx *ctx, const char *cmd, int c, const char *arg);
/** cli_getopt_fail - report getopt_long's ':' (missing value) or '?' (unknown option),
 *  using optind; returns CLI_EXIT_USAGE. Parsers use the optstring prefix ":". */
int cli_getopt_fail(const char *cmd, int c, char **argv);

/** Returned by cli_opt_rest when parsing goes on. */
#define CLI_OPT_NEXT (-1)
/**
 * cli_opt_rest - the end of every subcommand's getopt loop, for a code @c the
 * subcommand's own options did not take: --help (prints @help, CLI_EXIT_OK), a getopt
 * error (cli_getopt_fail), or a common option (cli_common_opt: CLI_OPT_NEXT when
 * handled, CLI_EXIT_USAGE otherwise). Returns CLI_OPT_NEXT or the exit code to return.
 */
int cli_opt_rest(cli_ctx *ctx, const char *cmd, int c, char **argv, const char *help);

/** cli_check_url - whether @url (named @what in the message, e.g. "--router") is an nng
 *  URL with a known scheme and, for TCP and WebSocket, a host and a port. Returns 0, or
 *  CLI_EXIT_USAGE after printing the problem naming the URL. */
int cli_check_url(const char *cmd, const char *what, const char *url);
/** cli_usage_error - print "orderstore CMD: MSG" + a hint to stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** cli_err - print "orderstore: MSG" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * cli_fmt - vsnprintf into @out (@len bytes). Returns 0, or -1 if the text was cut.
 * (A plain function, so gcc's snprintf truncation analysis does not flag paths whose
 * lengths the callers bound themselves.)
 */
int cli_fmt(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** cli_exit_for - exit status for a failed ostore_status (3 for unreachable causes). */
int cli_exit_for(ostore_status st);

/**
 * cli_quote_id - a printable form of an order ID for messages: printable ASCII as is,
 * other bytes as \xNN, cut at about 80 characters. Returns a static ring buffer
 * (valid for 4 calls in one thread). Cannot fail.
 */
const char *cli_quote_id(const void *id, size_t len);

/**
 * cli_parse_u32 - parse option @name's decimal value @s into [min, max].
 * Returns 0, or CLI_EXIT_USAGE after printing the problem.
 */
int cli_parse_u32(const char *cmd, const char *name, const char *s, uint32_t min, uint32_t max,
                  uint32_t *out);

/**
 * cli_open - open a client on the cluster given by --router, else $ORDERSTORE_ROUTER
 * (comma-separated), else --dir DIR (DIR/routers). On failure prints why and returns
 * the exit status (2 when no cluster was named, 1/3 otherwise); 0 on success.
 */
int cli_open(cli_ctx *ctx, const char *cmd, ostore_client **out);

/* ---- security (orderstore_sec.c; docs/security.md) ---- */

/** cli_sec_bind - the ctx whose options (and --dir) cli_sec resolves; set by main before
 *  the subcommand parses its options. */
void cli_sec_bind(const cli_ctx *ctx);
/**
 * cli_sec - the CLI's TLS files and credential, built on first use from --tls-*,
 * --token-file, $ORDERSTORE_TOKEN_FILE, and with --dir DIR/tls/ and DIR/admin.token. NULL
 * when there is none. A file that cannot be used prints why and exits with status 2.
 */
const os_netsec *cli_sec(void);
/** cli_sec_client_opts - put the same TLS files and token into @o (for ostore_open);
 *  exits with status 2 as cli_sec. */
void cli_sec_client_opts(ostore_options *o);
/** cli_local_tls - whether local cluster @dir was made with TLS (DIR/tls/ca.pem). */
bool cli_local_tls(const char *dir);
/** cli_local_scheme - "tls+tcp" for a TLS local cluster @dir, else "tcp". */
const char *cli_local_scheme(const char *dir);
/** cli_local_sec_args - append the --tls-* and --*-token-file options of a node or router
 *  of local cluster @dir (DIR/tls/server.*, DIR/{client,admin}.token; none if absent) to
 *  @args at *@a (at most 10 entries; the strings are static). Returns 0, or -1 if a path
 *  is too long. */
int cli_local_sec_args(const char *dir, const char **args, int *a);
/** cli_local_sec_make - for a new local cluster @dir: with @auth write DIR/client.token
 *  and DIR/admin.token (random, mode 0600), with @tls run make-test-certs into DIR/tls.
 *  Returns 0, or -1 after printing why (as "@cmd: ..."). */
int cli_local_sec_make(const char *cmd, const char *dir, bool tls, bool auth);

/**
 * cli_read_file - read all of @path ("-" = stdin) into a malloc'ed buffer with a NUL
 * after the end (not counted in *len). Returns 0 or an errno value.
 */
int cli_read_file(const char *path, char **data, size_t *len);

/**
 * cli_ping - send a wire PING frame over an nng REQ socket to @url and wait for the
 * answer, trying again until @timeout_ms passes. Returns OSTORE_OK when answered,
 * OSTORE_ETIMEDOUT, OSTORE_ECONNECT (bad URL), OSTORE_ENOMEM.
 */
int cli_ping(const char *url, uint32_t timeout_ms);

/**
 * cli_resolve_routers - fill ctx->routers from --router, else $ORDERSTORE_ROUTER, else
 * DIR/routers (borrowed strings live until exit). *@source_out (may be NULL) names where
 * they came from. Returns 0, or the exit status after printing why (2: no cluster named).
 */
int cli_resolve_routers(cli_ctx *ctx, const char *cmd, const char **source_out);

/* ---- direct frames to nodes and routers (orderstore_rpc.c) ---- */

/** One reply frame: the received message (owned) and its decoded header and body. */
typedef struct cli_reply {
	void *msg;
	size_t len;
	os_hdr hdr;
	const uint8_t *body;
	size_t body_len;
} cli_reply;

/** cli_reply_free - release a reply filled by cli_rpc (zeroed; safe twice). */
void cli_reply_free(cli_reply *r);
/**
 * cli_rpc - send one frame of @kind (header epoch @epoch, body @body/@blen) to @url and
 * wait up to @timeout_ms for the reply. On OSTORE_OK *out holds a reply of the matching
 * kind (its header status may still be an error; free with cli_reply_free). Otherwise
 * OSTORE_ETIMEDOUT (no answer), OSTORE_ECONNECT (bad URL), OSTORE_EPROTO (bad reply),
 * OSTORE_ENOMEM, and *out is empty.
 */
int cli_rpc(const char *url, uint8_t kind, uint64_t epoch, const void *body, size_t blen,
            uint32_t timeout_ms, cli_reply *out);
/** cli_rpc_n - cli_rpc with @count and @client_id in the frame header (frames whose body
 *  holds a number of items, e.g. MIG_APPLY; frames of a rebalance run, which carry its
 *  run id as client_id). Same results and ownership as cli_rpc. */
int cli_rpc_n(const char *url, uint8_t kind, uint64_t epoch, uint16_t count,
              uint64_t client_id, const void *body, size_t blen, uint32_t timeout_ms,
              cli_reply *out);
/** cli_map_get - MAP_GET from @url: OSTORE_OK with a new map in *out (unref it), or the
 *  transport error / the peer's status (OSTORE_ENOMAP...) / OSTORE_EPROTO. */
int cli_map_get(const char *url, uint32_t timeout_ms, os_map **out);
/** cli_map_set - MAP_SET @m to @url: the peer's status (OSTORE_OK, OSTORE_ESTALE...) or
 *  the transport error. @m stays the caller's. */
int cli_map_set(const char *url, const os_map *m, uint32_t timeout_ms);
/** cli_map_set_as - cli_map_set with @client_id in the header: a rebalance run's id, which
 *  a primary losing slots checks against its migration lease (wire.h "MIG_LEASE"). */
int cli_map_set_as(const char *url, const os_map *m, uint64_t client_id, uint32_t timeout_ms);
/** cli_node_stats - STATS from one node: its one entry in *e and its map epoch in
 *  *epoch (may be NULL). Returns OSTORE_OK or an error as cli_map_get. */
int cli_node_stats(const char *url, uint32_t timeout_ms, os_stats_entry *e, uint64_t *epoch);
/** cli_node_checksum - CHECKSUM of slots [begin, end) from one node: its applied LSN in
 *  *lsn and end - begin entries in @e. Returns OSTORE_OK or an error as cli_map_get. */
int cli_node_checksum(const char *url, uint16_t begin, uint16_t end, uint32_t timeout_ms,
                      uint64_t *lsn, os_cksum_entry *e);
/**
 * cli_find_map - the newest cluster map reachable from the cluster named on the command
 * line: MAP_GET from every router, DIR/map.json, then MAP_GET from every node of the best
 * map (same cluster ID); the highest epoch wins. Also fills ctx->routers when it can.
 * Returns 0 with *out (unref it), or the exit status after printing why (2 no cluster
 * named, 3 nothing answered).
 */
int cli_find_map(cli_ctx *ctx, const char *cmd, uint32_t timeout_ms, os_map **out);

/* ---- process helpers of `local` (orderstore_proc.c) ---- */

/** cli_mkdir_p - mkdir -p @path (0755). Returns 0 or an errno value. */
int cli_mkdir_p(const char *path);
/** cli_file_exists - whether stat(@path) succeeds. */
bool cli_file_exists(const char *path);
/** cli_read_pidfile - the PID in @path; 0 when absent or unreadable. */
pid_t cli_read_pidfile(const char *path);
/** cli_write_pidfile - write "PID\n" to @path. Returns 0 or an errno value. */
int cli_write_pidfile(const char *path, pid_t pid);
/** cli_proc_is_ours - whether @pid is alive (not a zombie) and its command line names
 *  orderstore and the cluster directory @dir (so a recycled PID is never signalled). */
bool cli_proc_is_ours(pid_t pid, const char *dir);
/** cli_print_log_tail - print the last @lines lines of @path to stderr. */
void cli_print_log_tail(const char *name, const char *path, int lines);
/** cli_url_port - port of a "tcp://HOST:PORT" URL, host copied to @host; -1 otherwise. */
int cli_url_port(const char *url, char *host, size_t hostlen);
/** cli_port_free - whether @url's TCP port can be bound now (bind only, never connect). */
bool cli_port_free(const char *url);
/** cli_find_bin - path of binary @file: $@env, else next to this program, else in
 *  ../@subdir relative to it (build tree). Returns 0, or -1 after printing why. */
int cli_find_bin(const char *env, const char *file, const char *subdir, char *out, size_t outlen);
/** cli_spawn_detached - fork + setsid + exec @argv (NULL-terminated) with stdin from
 *  /dev/null and stdout+stderr appended to @log. The child stays our child until this
 *  process exits (reap with waitpid). Returns the PID, or -1 after printing why (exec
 *  errors included). */
pid_t cli_spawn_detached(const char *const argv[], const char *log);

/* ---- metrics addresses of a local cluster (orderstore_metrics.c) ---- */

/** Default distance between a process's data port and its metrics port (`local up`). */
#define CLI_METRICS_DEFAULT_OFFSET 100u
/** cli_metrics_offset - K of DIR/metrics.json; 0 when absent/unreadable (no metrics). */
uint32_t cli_metrics_offset(const char *dir);
/** cli_metrics_save - write DIR/metrics.json with @offset. Returns 0 or an errno value. */
int cli_metrics_save(const char *dir, uint32_t offset);
/** cli_metrics_hostport - "HOST:(PORT + @offset)" of the tcp:// URL @url into @out.
 *  Returns 0, or -1 (no offset, not tcp://HOST:PORT, port past 65535). */
int cli_metrics_hostport(const char *url, uint32_t offset, char *out, size_t len);
/** cli_metrics_url - "http://HOST:(PORT + @offset)/metrics" of @url; 0 or -1 as above. */
int cli_metrics_url(const char *url, uint32_t offset, char *out, size_t len);

/* Subcommands. */
int cli_cmd_local(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_put(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_get(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_del(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stats(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_import(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_export(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_failover(cli_ctx *ctx, int argc, char **argv);
/** cli_cmd_reseed - `reseed` (orderstore_reseed.c): re-seed a node with a damaged data
 *  directory from its shard. Exit status. */
int cli_cmd_reseed(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_status(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_top(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rebalance(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_add_shard(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_remove_shard(cli_ctx *ctx, int argc, char **argv);

/* ---- local kill | start (orderstore_ctl.c), called by cli_cmd_local ---- */

/** cli_local_kill / cli_local_start - argv[0] is "kill" / "start". Exit status. */
int cli_local_kill(cli_ctx *ctx, int argc, char **argv);
int cli_local_start(cli_ctx *ctx, int argc, char **argv);
/* The node options `local up` gave every node, remembered in DIR/local.json. */
typedef struct cli_local_conf {
	bool no_sync;                /* --no-sync */
	int sync_replicas;           /* --sync-replicas K; -1 = not given (node default) */
	char log_level[16];          /* --log-level; "" = not given */
	uint64_t log_retain_entries; /* --log-retain-entries N; 0 = not given */
} cli_local_conf;

/** cli_local_load_conf - DIR/local.json into *@conf (defaults when the file is absent).
 *  Returns 0, or -1 after printing why (unreadable). */
int cli_local_load_conf(const char *dir, cli_local_conf *conf);
/** cli_local_save_conf - write *@conf to DIR/local.json. Returns 0 or an errno value. */
int cli_local_save_conf(const char *dir, const cli_local_conf *conf);
/**
 * cli_local_node_args - the options of DIR/local.json as node arguments (--no-sync,
 * --sync-replicas K, --log-level L, --log-retain-entries N) and the security options
 * (cli_local_sec_args), appended to @args from index *@a (room for 17 more). Strings
 * point into static storage. Returns 0, or -1
 * after printing why.
 */
int cli_local_node_args(const char *dir, const char **args, int *a);
/**
 * cli_local_build_map - a fresh map (epoch 1, random cluster ID, even slot ranges) of
 * @shards shards with @replicas replicas each: shard s has primary s*(R+1) and replicas
 * s*(R+1)+1..+R; node i listens on @scheme://127.0.0.1:(@base + 1 + i) (@scheme "tcp" or
 * "tls+tcp"). NULL on OOM or when
 * the layout is invalid (too many ids or replicas).
 */
os_map *cli_local_build_map(uint32_t shards, uint32_t replicas, uint32_t base,
                            const char *scheme);
/**
 * cli_local_newest_map - DIR/map.json, replaced by any newer map of the same cluster that
 * a router of DIR/routers or a node of the map answers MAP_GET with. Returns 0 with *out
 * (unref it), or -1 with the reason in @err (DIR/map.json unreadable).
 */
int cli_local_newest_map(const char *dir, uint32_t timeout_ms, os_map **out, char *err,
                         size_t errlen);
/** cli_node_role - "primary of shard S", "replica of shard S" or "no shard" for @node in
 *  @m, written to @buf; returns @buf. */
const char *cli_node_role(const os_map *m, uint16_t node, char *buf, size_t len);

#endif /* OS_CLI_H */
