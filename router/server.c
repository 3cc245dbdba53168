/*
 * server.c - the client-facing REP socket and its context state machines.
 *
 *        ┌──────────────────────────────────────────────────────────┐
 *        ▼                                                          │
 *   RECV ──▶ decode header ──▶ handler (data/scan/stats/map/ping) ──▶ SEND
 *               │ bad frame                    (async: node calls)   ▲
 *               └──────────▶ status-only reply ──────────────────────┘
 *
 * Design: --contexts contexts share one REP socket (nng_rep0_open, RECVMAXSZ set before
 * listen). Each context owns one nng_aio whose callback drives it; a handler takes the
 * request, forwards it to nodes through the call pool and, from whichever callback
 * finishes last, hands the reply to rt_req_reply(), which starts the SEND. No thread per
 * request, no blocking call in any callback. A frame that cannot be decoded is answered
 * with its error code and the context goes on serving.
 * MAP_GET, MAP_SET and PING are answered here directly from the map holder.
 * Each context also owns a timer aio (nng_sleep_aio) that its request may use to wait
 * between retries (rt_req_sleep, data.c) without holding a thread.
 */
#include "server.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <nng/protocol/reqrep0/rep.h>

#include "frame.h"
#include "log.h"
#include "rt_metrics.h"
#include "util.h"

enum { SC_IDLE, SC_RECV, SC_WORK, SC_SEND };

typedef struct sctx {
	struct rt_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	nng_msg *msg; /* the request being served */
	rt_req req;
	nng_aio *timer;      /* rt_req_sleep */
	rt_sleep_fn wake_fn; /* its completion, set while a sleep runs */
	void *wake_arg;
} sctx;

struct rt_server {
	nng_socket sock;
	os_net_listener *listener; /* NULL once closed */
	const rt_env *env;
	unsigned nctx;
	sctx *ctxs;
	atomic_bool closing;
};

static void sctx_recv(sctx *c)
{
	c->state = SC_RECV;
	nng_ctx_recv(c->ctx, c->aio);
}

os_hdr rt_reply_hdr(const rt_req *r, uint16_t status, uint16_t count)
{
	os_hdr h = {
		.kind = (uint8_t)(r->hdr.kind | OS_REPLY_BIT),
		.status = status,
		.count = count,
		.timeout_ms = 0,
		.epoch = rt_maps_epoch(r->env->maps),
		.client_id = r->hdr.client_id,
	};
	return h;
}

void rt_req_reply(rt_req *r, nng_msg *reply)
{
	sctx *c = r->owner;
	os_procmetrics *pm = rt_metrics_proc();
	if (pm != NULL && !r->counted) {
		/* Frames not accounted per item: status of the reply frame, ENOMEM without one. */
		uint16_t st = OSTORE_ENOMEM;
		if (reply != NULL && nng_msg_len(reply) >= OS_HDR_SIZE)
			st = os_ld16((const uint8_t *)nng_msg_body(reply) + 4);
		os_procmetrics_frame(pm, os_mop_of_kind(r->hdr.kind), st, os_now_ns() - r->t0_ns);
	}
	r->counted = true;
	if (reply == NULL) {
		os_hdr h = rt_reply_hdr(r, OSTORE_ENOMEM, 0);
		reply = rt_msg_frame(&h, NULL, 0);
	}
	if (c->msg != NULL) {
		nng_msg_free(c->msg);
		c->msg = NULL;
	}
	r->body = NULL;
	r->body_len = 0;
	if (reply == NULL) { /* no memory even for a status: drop it, the client retries */
		sctx_recv(c);
		return;
	}
	c->state = SC_SEND;
	nng_aio_set_msg(c->aio, reply);
	nng_ctx_send(c->ctx, c->aio);
}

void rt_req_reply_status(rt_req *r, uint16_t status)
{
	os_hdr h = rt_reply_hdr(r, status, 0);
	rt_req_reply(r, rt_msg_frame(&h, NULL, 0));
}

static void timer_cb(void *arg)
{
	sctx *c = arg;
	rt_sleep_fn fn = c->wake_fn;
	void *fn_arg = c->wake_arg;
	c->wake_fn = NULL;
	c->wake_arg = NULL;
	if (fn != NULL)
		fn(fn_arg, nng_aio_result(c->timer) == 0 ? OSTORE_OK : OSTORE_ECLOSED);
}

void rt_req_sleep(rt_req *r, uint32_t ms, rt_sleep_fn fn, void *arg)
{
	sctx *c = r->owner;
	c->wake_fn = fn;
	c->wake_arg = arg;
	/* A stopped timer (shutdown) still runs timer_cb, with NNG_ECANCELED. */
	nng_sleep_aio((nng_duration)ms, c->timer);
}

static void handle_map_get(rt_req *r)
{
	os_map *m = rt_maps_get(r->env->maps);
	if (m == NULL) {
		rt_req_reply_status(r, OSTORE_ENOMAP);
		return;
	}
	os_buf b;
	os_buf_init(&b);
	os_hdr h = rt_reply_hdr(r, OSTORE_OK, 0);
	h.epoch = m->epoch;
	nng_msg *reply = NULL;
	if (os_hdr_put(&b, &h) == OSTORE_OK && os_map_encode(m, &b) == OSTORE_OK)
		reply = rt_msg_from_buf(&b);
	os_buf_fini(&b);
	os_map_unref(m);
	rt_req_reply(r, reply);
}

static void handle_map_set(rt_req *r)
{
	os_map *m = NULL;
	int st = os_map_decode(r->body, r->body_len, &m);
	if (st == OSTORE_OK) {
		st = rt_maps_install(r->env->maps, m);
		os_map_unref(m);
	}
	rt_req_reply_status(r, (uint16_t)st);
}

static void dispatch(sctx *c)
{
	rt_req *r = &c->req;
	const uint8_t *p = nng_msg_body(c->msg);
	size_t len = nng_msg_len(c->msg);
	r->env = c->srv->env;
	r->owner = c;
	r->t0_ns = os_now_ns();
	r->counted = false;
	int st = os_hdr_get(p, len, &r->hdr, &r->body, &r->body_len);
	if (st != OSTORE_OK) {
		/* Echo what can be read of the broken header: its kind and client ID. */
		r->hdr = (os_hdr){0};
		if (len >= 4)
			r->hdr.kind = p[3] & (uint8_t)~OS_REPLY_BIT;
		if (len >= OS_HDR_SIZE)
			r->hdr.client_id = os_ld64(p + 24);
		OS_DEBUG("msg=\"bad frame\" err=%s len=%zu", ostore_status_name(st), len);
		rt_req_reply_status(r, (uint16_t)st);
		return;
	}
	if (r->hdr.kind & OS_REPLY_BIT) {
		r->hdr.kind &= (uint8_t)~OS_REPLY_BIT;
		rt_req_reply_status(r, OSTORE_EBADOP);
		return;
	}
	if ((st = os_netsec_check(r->env->sec, &r->hdr)) != OSTORE_OK) {
		OS_DEBUG("msg=\"request refused\" kind=%u err=%s", r->hdr.kind, ostore_status_name(st));
		rt_req_reply_status(r, (uint16_t)st);
		return;
	}
	r->hdr.cred = NULL; /* checked; forwarded frames carry the router's own credential */
	r->hdr.cred_len = 0;
	switch (r->hdr.kind) {
	case OS_KIND_DATA:
		rt_data_handle(r);
		break;
	case OS_KIND_SCAN:
		rt_scan_handle(r);
		break;
	case OS_KIND_STATS:
		rt_stats_handle(r);
		break;
	case OS_KIND_MAP_GET:
		handle_map_get(r);
		break;
	case OS_KIND_MAP_SET:
		handle_map_set(r);
		break;
	case OS_KIND_PING:
		rt_req_reply_status(r, OSTORE_OK);
		break;
	default:
		rt_req_reply_status(r, OSTORE_EBADOP);
		break;
	}
}

static void sctx_cb(void *arg)
{
	sctx *c = arg;
	int rv = nng_aio_result(c->aio);
	bool closing = atomic_load(&c->srv->closing);

	switch (c->state) {
	case SC_RECV:
		if (rv != 0) {
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || closing) {
				c->state = SC_IDLE;
				return;
			}
			OS_WARN("msg=\"receive failed\" err=\"%s\"", nng_strerror(rv));
			sctx_recv(c);
			return;
		}
		c->msg = nng_aio_get_msg(c->aio);
		nng_aio_set_msg(c->aio, NULL);
		c->state = SC_WORK;
		dispatch(c);
		return;
	case SC_SEND:
		if (rv != 0) {
			nng_msg *m = nng_aio_get_msg(c->aio);
			nng_aio_set_msg(c->aio, NULL);
			if (m != NULL)
				nng_msg_free(m);
		}
		if (closing || rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			c->state = SC_IDLE;
			return;
		}
		sctx_recv(c);
		return;
	default:
		return;
	}
}

/* Free the aios of the contexts set up so far, the contexts and @s (no callback runs). */
static void free_aios(rt_server *s)
{
	for (unsigned i = 0; i < s->nctx; i++) {
		nng_aio_free(s->ctxs[i].aio);
		nng_aio_free(s->ctxs[i].timer);
	}
	free(s->ctxs);
	free(s);
}

int rt_server_create(const rt_server_opts *opts, const rt_env *env, rt_server **out)
{
	rt_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return OSTORE_ENOMEM;
	s->env = env;
	atomic_init(&s->closing, false);
	int rv = nng_rep0_open(&s->sock);
	if (rv != 0) {
		free(s);
		return os_from_nng(rv);
	}
	s->ctxs = calloc(opts->contexts, sizeof(*s->ctxs));
	if (s->ctxs == NULL) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, opts->recv_max)) != 0)
		goto fail;
	for (unsigned i = 0; i < opts->contexts; i++) {
		sctx *c = &s->ctxs[i];
		c->srv = s;
		if ((rv = nng_aio_alloc(&c->aio, sctx_cb, c)) != 0)
			goto fail;
		if ((rv = nng_aio_alloc(&c->timer, timer_cb, c)) != 0) {
			nng_aio_free(c->aio);
			goto fail;
		}
		s->nctx = i + 1;
		if ((rv = nng_ctx_open(&c->ctx, s->sock)) != 0)
			goto fail;
	}
	if (rt_metrics_proc() != NULL &&
	    os_procmetrics_watch_socket(rt_metrics_proc(), s->sock, opts->max_conns) != OSTORE_OK)
		OS_WARN("msg=\"cannot count or limit connections\"");
	if ((rv = os_net_serve(s->sock, opts->listen, env->sec, &s->listener)) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot listen\" addr=%s err=\"%s\"", opts->listen, ostore_strerror(rv));
		nng_close(s->sock);
		s->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
		free_aios(s);
		return OSTORE_ECONNECT;
	}
	for (unsigned i = 0; i < s->nctx; i++)
		sctx_recv(&s->ctxs[i]);
	OS_INFO("msg=\"listening\" addr=%s contexts=%u", opts->listen, opts->contexts);
	*out = s;
	return OSTORE_OK;
fail:
	nng_close(s->sock);
	free_aios(s);
	return os_from_nng(rv);
}

void rt_server_close(rt_server *s)
{
	atomic_store(&s->closing, true);
	os_net_unserve(s->listener);
	s->listener = NULL;
	nng_close(s->sock);
}

void rt_server_destroy(rt_server *s)
{
	if (s == NULL)
		return;
	os_net_unserve(s->listener); /* if rt_server_close did not run */
	s->listener = NULL;
	/* Timers first: a sleeping request wakes with OSTORE_ECLOSED and replies (into the
	 * closed socket) through its context's aio, which is stopped next. */
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_stop(s->ctxs[i].timer);
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_stop(s->ctxs[i].aio);
	for (unsigned i = 0; i < s->nctx; i++) {
		if (s->ctxs[i].msg != NULL)
			nng_msg_free(s->ctxs[i].msg);
		nng_aio_free(s->ctxs[i].aio);
		nng_aio_free(s->ctxs[i].timer);
	}
	free(s->ctxs);
	free(s);
}
