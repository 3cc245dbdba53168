/*
 * orderstore_sec.c - the CLI's TLS files and credential (docs/security.md).
 *
 *   --tls-cert/--tls-key/--tls-ca ─┐                    ┌─▶ cli_sec(): os_netsec for every
 *   else with --dir: DIR/tls/{client.pem,client.key,ca.pem} │  direct frame (orderstore_rpc.c,
 *   --token-file ─▶ $ORDERSTORE_TOKEN_FILE ─▶ DIR/admin.token │  cli_ping)
 *                                   └─ resolved once ───┴─▶ cli_sec_client_opts(): the same
 *                                                             for liborderstore (cli_open)
 *
 * Resolution runs on first use, after the subcommand has parsed its options (the common
 * options may stand after it). The token is read from a file, never taken from the
 * command line, where `ps` would show it. A file that cannot be used is a usage error
 * (exit status 2), like a bad option value.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orderstore_cli.h"
#include "util.h"

extern char **environ;

static const cli_ctx *g_ctx;
static bool g_done;
static os_netsec *g_sec;
static char g_token[OS_TOKEN_MAX + 1]; /* "" = none */
static const char *g_cert, *g_key, *g_ca;
static char g_dcert[PATH_MAX], g_dkey[PATH_MAX], g_dca[PATH_MAX], g_dtok[PATH_MAX];

void cli_sec_bind(const cli_ctx *ctx)
{
	g_ctx = ctx;
}

static void sec_fail(const char *what)
{
	fprintf(stderr, "orderstore: %s\n", what);
	exit(CLI_EXIT_USAGE);
}

/* The token file: --token-file, $ORDERSTORE_TOKEN_FILE, DIR/admin.token (if it exists). */
static const char *token_path(const cli_ctx *ctx)
{
	if (ctx->token_file != NULL)
		return ctx->token_file;
	const char *env = getenv("ORDERSTORE_TOKEN_FILE");
	if (env != NULL && env[0] != '\0')
		return env;
	if (ctx->dir != NULL && cli_fmt(g_dtok, sizeof(g_dtok), "%s/admin.token", ctx->dir) == 0 &&
	    cli_file_exists(g_dtok))
		return g_dtok;
	return NULL;
}

static void resolve(void)
{
	static const cli_ctx none = {.log_level = -1};
	const cli_ctx *ctx = g_ctx != NULL ? g_ctx : &none;
	g_done = true;
	g_cert = ctx->tls_cert;
	g_key = ctx->tls_key;
	g_ca = ctx->tls_ca;
	if (g_cert == NULL && g_key == NULL && g_ca == NULL && ctx->dir != NULL &&
	    cli_fmt(g_dca, sizeof(g_dca), "%s/tls/ca.pem", ctx->dir) == 0 && cli_file_exists(g_dca) &&
	    cli_fmt(g_dcert, sizeof(g_dcert), "%s/tls/client.pem", ctx->dir) == 0 &&
	    cli_fmt(g_dkey, sizeof(g_dkey), "%s/tls/client.key", ctx->dir) == 0) {
		g_cert = g_dcert;
		g_key = g_dkey;
		g_ca = g_dca;
	}
	char err[600];
	const char *tok = token_path(ctx);
	size_t len = 0;
	if (tok != NULL && os_token_read(tok, g_token, &len, err, sizeof(err)) != OSTORE_OK)
		sec_fail(err);
	os_netsec_opts so = {.tls_cert = g_cert, .tls_key = g_key, .tls_ca = g_ca,
	                     .send_token = g_token[0] != '\0' ? g_token : NULL};
	int st = os_netsec_create(&so, &g_sec, err, sizeof(err));
	if (st == OSTORE_ENOMEM) {
		fprintf(stderr, "orderstore: %s\n", ostore_strerror(st));
		exit(CLI_EXIT_FAIL);
	}
	if (st != OSTORE_OK)
		sec_fail(err);
}

const os_netsec *cli_sec(void)
{
	if (!g_done)
		resolve();
	return g_sec;
}

void cli_sec_client_opts(ostore_options *o)
{
	cli_sec();
	o->tls_cert_file = g_cert;
	o->tls_key_file = g_key;
	o->tls_ca_file = g_ca;
	o->token = g_token[0] != '\0' ? g_token : NULL;
}

/* ---- local clusters: DIR/tls/ and DIR/{client,admin}.token ---- */

static char g_lcert[PATH_MAX], g_lkey[PATH_MAX], g_lca[PATH_MAX], g_lctok[PATH_MAX],
	g_latok[PATH_MAX];

bool cli_local_tls(const char *dir)
{
	char p[PATH_MAX];
	return cli_fmt(p, sizeof(p), "%s/tls/ca.pem", dir) == 0 && cli_file_exists(p);
}

const char *cli_local_scheme(const char *dir)
{
	return cli_local_tls(dir) ? "tls+tcp" : "tcp";
}

int cli_local_sec_args(const char *dir, const char **args, int *a)
{
	if (cli_local_tls(dir)) {
		if (cli_fmt(g_lcert, sizeof(g_lcert), "%s/tls/server.pem", dir) != 0 ||
		    cli_fmt(g_lkey, sizeof(g_lkey), "%s/tls/server.key", dir) != 0 ||
		    cli_fmt(g_lca, sizeof(g_lca), "%s/tls/ca.pem", dir) != 0)
			return -1;
		args[(*a)++] = "--tls-cert";
		args[(*a)++] = g_lcert;
		args[(*a)++] = "--tls-key";
		args[(*a)++] = g_lkey;
		args[(*a)++] = "--tls-ca";
		args[(*a)++] = g_lca;
	}
	if (cli_fmt(g_latok, sizeof(g_latok), "%s/admin.token", dir) == 0 && cli_file_exists(g_latok)) {
		if (cli_fmt(g_lctok, sizeof(g_lctok), "%s/client.token", dir) != 0)
			return -1;
		args[(*a)++] = "--client-token-file";
		args[(*a)++] = g_lctok;
		args[(*a)++] = "--admin-token-file";
		args[(*a)++] = g_latok;
	}
	return 0;
}

/* A new token file @dir/@name: 64 hex digits (256 random bits), mode 0600. */
static int write_token(const char *cmd, const char *dir, const char *name)
{
	char path[PATH_MAX], tok[80];
	if (cli_fmt(path, sizeof(path), "%s/%s", dir, name) != 0)
		return -1;
	int n = 0;
	for (int i = 0; i < 4; i++)
		n += snprintf(tok + n, sizeof(tok) - (size_t)n, "%016llx",
		              (unsigned long long)os_random_u64());
	tok[n++] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, tok, (size_t)n) != n || fsync(fd) != 0) {
		cli_err("%s: cannot write %s: %s", cmd, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int cli_local_sec_make(const char *cmd, const char *dir, bool tls, bool auth)
{
	if (auth && (write_token(cmd, dir, "client.token") != 0 ||
	             write_token(cmd, dir, "admin.token") != 0))
		return -1;
	if (!tls)
		return 0;
	char script[PATH_MAX], out[PATH_MAX];
	if (cli_find_bin("ORDERSTORE_MAKE_CERTS", "make-test-certs", "tools", script,
	                 sizeof(script)) != 0 ||
	    cli_fmt(out, sizeof(out), "%s/tls", dir) != 0)
		return -1;
	char *argv[] = {script, out, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, script, NULL, NULL, argv, environ);
	int status = 0;
	if (rc == 0 && waitpid(pid, &status, 0) != pid)
		rc = errno;
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cli_err("%s: %s %s failed (%s); is openssl installed (tools/install-deps)?", cmd, script,
		        out, rc != 0 ? strerror(rc) : "see its message above");
		return -1;
	}
	return 0;
}
