/*
 * orderstore_rpc.c - the admin tool's direct line to nodes and routers: one synchronous
 * request/reply over nng REQ, the frames the admin commands need (MAP_GET, MAP_SET,
 * STATS, CHECKSUM; the MIG frames of rebalancing are orderstore_mig.c), and how the admin commands find the newest cluster map.
 *
 *   cli_find_map ─▶ MAP_GET to every router (--router / $ORDERSTORE_ROUTER / DIR/routers)
 *        │        ─▶ DIR/map.json (with --dir)
 *        │        ─▶ MAP_GET to every node of the best map so far
 *        └─▶ the map with the highest epoch (the highest epoch wins everywhere)
 *
 * Design: the admin commands are short-lived and talk to a handful of processes, so a
 * blocking REQ socket per request is simpler than an aio state machine and costs
 * nothing that matters. Each socket sets NNG_OPT_RECVMAXSZ before dialling, disables the
 * REQ resend timer (every admin frame is idempotent, but a resend would only hide a slow
 * peer) and dials without blocking so a dead peer costs exactly the timeout.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "map.h"
#include "orderstore_cli.h"
#include "util.h"
#include "wire.h"

void cli_reply_free(cli_reply *r)
{
	if (r->msg != NULL)
		nng_free(r->msg, r->len);
	memset(r, 0, sizeof(*r));
}

int cli_rpc(const char *url, uint8_t kind, uint64_t epoch, const void *body, size_t blen,
            uint32_t timeout_ms, cli_reply *out)
{
	return cli_rpc_n(url, kind, epoch, 0, 0, body, blen, timeout_ms, out);
}

int cli_rpc_n(const char *url, uint8_t kind, uint64_t epoch, uint16_t count,
              uint64_t client_id, const void *body, size_t blen, uint32_t timeout_ms,
              cli_reply *out)
{
	memset(out, 0, sizeof(*out));
	nng_socket s;
	int rv = nng_req0_open(&s);
	if (rv != 0)
		return os_from_nng(rv);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, OS_FRAME_MAX_DEFAULT);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 200);
	int st = os_net_dial(s, url, cli_sec(), NNG_FLAG_NONBLOCK);
	if (st != OSTORE_OK) {
		nng_close(s);
		if (st == OSTORE_EINVAL)
			cli_err("%s is a TLS address: give --tls-cert, --tls-key and --tls-ca (or --dir "
			        "of a cluster made with 'local up --tls')", url);
		return st == OSTORE_EINVAL ? OSTORE_ECONNECT : st;
	}
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = kind, .count = count, .timeout_ms = timeout_ms, .epoch = epoch,
	            .client_id = client_id};
	os_netsec_cred(cli_sec(), &h);
	st = os_hdr_put(&b, &h);
	if (st == OSTORE_OK && blen > 0)
		st = os_buf_put(&b, body, blen) == 0 ? OSTORE_OK : OSTORE_ENOMEM;
	if (st != OSTORE_OK) {
		os_buf_fini(&b);
		nng_close(s);
		return OSTORE_ENOMEM;
	}
	uint64_t deadline = os_now_ns() + (uint64_t)timeout_ms * 1000000u;
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
	rv = nng_send(s, b.data, b.len, 0);
	os_buf_fini(&b);
	if (rv != 0) {
		nng_close(s);
		return rv == NNG_ETIMEDOUT ? OSTORE_ETIMEDOUT : os_from_nng(rv);
	}
	uint64_t now = os_now_ns();
	nng_duration left = now >= deadline ? 1 : (nng_duration)((deadline - now) / 1000000u + 1);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, left);
	void *reply;
	size_t len;
	rv = nng_recv(s, &reply, &len, NNG_FLAG_ALLOC);
	nng_close(s);
	if (rv != 0)
		return rv == NNG_ETIMEDOUT ? OSTORE_ETIMEDOUT : os_from_nng(rv);
	out->msg = reply;
	out->len = len;
	st = os_hdr_get(reply, len, &out->hdr, &out->body, &out->body_len);
	if (st == OSTORE_OK && out->hdr.kind != (kind | OS_REPLY_BIT))
		st = OSTORE_EPROTO;
	if (st != OSTORE_OK)
		cli_reply_free(out);
	return st;
}

int cli_map_get(const char *url, uint32_t timeout_ms, os_map **out)
{
	cli_reply r;
	int st = cli_rpc(url, OS_KIND_MAP_GET, 0, NULL, 0, timeout_ms, &r);
	if (st != OSTORE_OK)
		return st;
	st = r.hdr.status != OSTORE_OK ? r.hdr.status : os_map_decode(r.body, r.body_len, out);
	cli_reply_free(&r);
	return st;
}

int cli_map_set(const char *url, const os_map *m, uint32_t timeout_ms)
{
	return cli_map_set_as(url, m, 0, timeout_ms);
}

int cli_map_set_as(const char *url, const os_map *m, uint64_t client_id, uint32_t timeout_ms)
{
	os_buf b;
	os_buf_init(&b);
	int st = os_map_encode(m, &b);
	if (st == OSTORE_OK) {
		cli_reply r;
		st = cli_rpc_n(url, OS_KIND_MAP_SET, m->epoch, 0, client_id, b.data, b.len, timeout_ms,
		               &r);
		if (st == OSTORE_OK) {
			st = r.hdr.status;
			cli_reply_free(&r);
		}
	}
	os_buf_fini(&b);
	return st;
}

int cli_node_stats(const char *url, uint32_t timeout_ms, os_stats_entry *e, uint64_t *epoch)
{
	cli_reply r;
	int st = cli_rpc(url, OS_KIND_STATS, 0, NULL, 0, timeout_ms, &r);
	if (st != OSTORE_OK)
		return st;
	if (epoch != NULL)
		*epoch = r.hdr.epoch;
	if (r.hdr.status != OSTORE_OK)
		st = r.hdr.status;
	else if (r.hdr.count != 1)
		st = OSTORE_EPROTO;
	else
		st = os_stats_entries_get(r.body, r.body_len, 1, e);
	cli_reply_free(&r);
	return st;
}

int cli_node_checksum(const char *url, uint16_t begin, uint16_t end, uint32_t timeout_ms,
                      uint64_t *lsn, os_cksum_entry *e)
{
	os_buf b;
	os_buf_init(&b);
	int st = os_cksum_req_put(&b, begin, end);
	if (st != OSTORE_OK) {
		os_buf_fini(&b);
		return st;
	}
	cli_reply r;
	st = cli_rpc(url, OS_KIND_CHECKSUM, 0, b.data, b.len, timeout_ms, &r);
	os_buf_fini(&b);
	if (st != OSTORE_OK)
		return st;
	if (r.hdr.status != OSTORE_OK)
		st = r.hdr.status;
	else if (r.hdr.count != end - begin)
		st = OSTORE_EPROTO;
	else
		st = os_cksum_reply_get(r.body, r.body_len, r.hdr.count, lsn, e);
	cli_reply_free(&r);
	return st;
}

/* Keep the map with the higher epoch in *best (takes ownership of @m). */
static void keep_newest(os_map **best, os_map *m)
{
	if (*best == NULL || m->epoch > (*best)->epoch) {
		os_map_unref(*best);
		*best = m;
	} else {
		os_map_unref(m);
	}
}

int cli_find_map(cli_ctx *ctx, const char *cmd, uint32_t timeout_ms, os_map **out)
{
	os_map *best = NULL;
	int rc = CLI_EXIT_OK;
	const char *env = getenv("ORDERSTORE_ROUTER");
	bool have_env = env != NULL && env[0] != '\0';
	if (ctx->nrouters == 0 && !have_env && ctx->dir == NULL)
		return cli_usage_error(cmd, "no cluster given: use --router URL, "
		                            "ORDERSTORE_ROUTER=URL[,URL...] or --dir DIR");
	char mpath[PATH_MAX];
	if (ctx->nrouters == 0 && !have_env && ctx->dir != NULL) {
		cli_fmt(mpath, sizeof(mpath), "%s/map.json", ctx->dir);
		if (!cli_file_exists(mpath)) {
			cli_err("%s: %s has no map.json: is there a local cluster in %s? (orderstore "
			        "local up --dir %s)", cmd, ctx->dir, ctx->dir, ctx->dir);
			return CLI_EXIT_FAIL;
		}
	}
	char rpath[PATH_MAX];
	cli_fmt(rpath, sizeof(rpath), "%s/routers", ctx->dir != NULL ? ctx->dir : ".");
	if (ctx->nrouters > 0 || have_env || cli_file_exists(rpath)) {
		rc = cli_resolve_routers(ctx, cmd, NULL);
		if (rc == CLI_EXIT_USAGE)
			return rc;
	}
	for (size_t i = 0; i < ctx->nrouters; i++) {
		os_map *m = NULL;
		if (cli_map_get(ctx->routers[i], timeout_ms, &m) == OSTORE_OK)
			keep_newest(&best, m);
	}
	if (ctx->dir != NULL) {
		char path[PATH_MAX], err[256];
		os_map *m = NULL;
		cli_fmt(path, sizeof(path), "%s/map.json", ctx->dir);
		if (os_map_load_file(path, &m, err, sizeof(err)) == OSTORE_OK)
			keep_newest(&best, m);
	}
	if (best == NULL) {
		if (rc != CLI_EXIT_OK)
			return rc; /* cli_resolve_routers said why */
		cli_err("%s: no cluster map: no router answered MAP_GET within %u ms%s", cmd,
		        timeout_ms, ctx->dir != NULL ? " and DIR/map.json cannot be read" : "");
		return CLI_EXIT_UNREACHABLE;
	}
	/* Nodes may hold a newer map than the routers (a failover that reached only them). */
	os_map *seed = os_map_ref(best);
	for (uint16_t i = 0; i < seed->nnodes; i++) {
		os_map *m = NULL;
		if (cli_map_get(seed->nodes[i].addr, timeout_ms, &m) == OSTORE_OK) {
			if (m->cluster_id == best->cluster_id)
				keep_newest(&best, m);
			else
				os_map_unref(m);
		}
	}
	os_map_unref(seed);
	*out = best;
	return CLI_EXIT_OK;
}
