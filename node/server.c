/*
 * server.c - one REP socket, many contexts, one aio state machine per context (the
 * pattern of nng's demo/async): no thread per request.
 *
 *            ┌──────────────────────────────────────────────────────┐
 *            ▼                                                      │
 *   RECV ─(frame)─▶ node_handle ─ reply now ─────────────▶ SEND ─(sent)─┘
 *                        └─ write queued ─▶ WAIT ─(writer: job.done)─▶ SEND
 *
 * In WAIT the context has no aio operation pending and keeps the request message (the
 * decoded items point into it); the writer thread starts the send itself, which nng
 * allows from any thread. `busy` counts contexts between RECV completion and SEND
 * completion, so shutdown can wait for the replies of queued writes to leave.
 * Every reply is accounted (requests by op and code, latency) just before it is sent,
 * and the socket's pipe callbacks count open connections (atomics only).
 */
#include "server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handler.h"
#include "log.h"
#include "node_metrics.h"
#include "top.h"
#include "util.h"

enum { ST_IDLE, ST_RECV, ST_WAIT, ST_SEND };

typedef struct sctx {
	node_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	nng_msg *req; /* held in WAIT */
	node_req r;
	uint64_t t0;  /* os_now_ns() when the request arrived (metrics) */
} sctx;

struct node_server {
	node_env *env;
	nng_socket sock;
	bool sock_open;
	os_net_listener *listener; /* NULL once closed */
	sctx *ctxs;
	unsigned nctx;
	_Atomic unsigned busy;
	_Atomic bool closing;
};

static void ctx_recv(sctx *c)
{
	c->state = ST_RECV;
	nng_ctx_recv(c->ctx, c->aio);
}

/* Requests and latency by op and result code: per item for DATA (the ops are in c->r.items
 * when the reply carries per-item results), per frame otherwise. */
static void ctx_account(sctx *c, const os_buf *b)
{
	os_procmetrics *pm = node_metrics_proc();
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	if (pm == NULL || os_hdr_get(b->data, b->len, &h, &body, &blen) != OSTORE_OK)
		return;
	uint64_t dur = os_now_ns() - c->t0;
	uint8_t kind = h.kind & (uint8_t)~OS_REPLY_BIT;
	if (kind == OS_KIND_DATA && h.status == OSTORE_OK && h.count > 0 &&
	    h.count <= c->r.items_cap) {
		os_procmetrics_data_reply(pm, c->r.items, h.count, b->data, b->len, dur);
		node_top_record(c->r.items, h.count, dur);
	} else {
		os_procmetrics_frame(pm, os_mop_of_kind(kind), h.status, dur);
	}
}

/* Sends @b as the reply (copied into a new message). Any thread. */
static void ctx_send(sctx *c, const os_buf *b)
{
	ctx_account(c, b);
	nng_msg *m = NULL;
	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, b->data, b->len) != 0) {
		OS_ERROR("msg=\"cannot allocate reply\" len=%zu", b->len);
		/* No reply: the requester's REQ socket resends; a write is deduplicated. */
		if (m != NULL)
			nng_msg_free(m);
		atomic_fetch_sub(&c->srv->busy, 1);
		ctx_recv(c);
		return;
	}
	c->state = ST_SEND;
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
}

/* job.done: runs on the writer thread once the job's transaction is over. */
static void ctx_job_done(node_job *job)
{
	sctx *c = (sctx *)((char *)job - offsetof(sctx, r.job));
	nng_msg_free(c->req);
	c->req = NULL;
	ctx_send(c, &job->reply);
}

static void ctx_cb(void *arg)
{
	sctx *c = arg;
	node_server *s = c->srv;
	int rv = nng_aio_result(c->aio);
	switch (c->state) {
	case ST_RECV:
		if (rv != 0) {
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || atomic_load(&s->closing)) {
				c->state = ST_IDLE;
				return;
			}
			OS_WARN("msg=\"receive failed\" err=\"%s\"", nng_strerror(rv));
			ctx_recv(c);
			return;
		}
		if (atomic_load(&s->closing)) { /* shutting down: drop it, the REQ side resends */
			nng_msg_free(nng_aio_get_msg(c->aio));
			c->state = ST_IDLE;
			return;
		}
		atomic_fetch_add(&s->busy, 1);
		c->t0 = os_now_ns();
		c->req = nng_aio_get_msg(c->aio);
		/* WAIT before handing over: the writer may answer (and move the state to SEND)
		 * before node_handle even returns; nothing of c is touched after that. */
		c->state = ST_WAIT;
		if (node_handle(s->env, &c->r, nng_msg_body(c->req), nng_msg_len(c->req)) ==
		    NODE_REPLY_LATER)
			return;
		nng_msg_free(c->req);
		c->req = NULL;
		ctx_send(c, &c->r.out);
		return;
	case ST_SEND:
		if (rv != 0) {
			/* The message is still ours when the send failed. */
			nng_msg_free(nng_aio_get_msg(c->aio));
			if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
				OS_WARN("msg=\"send failed\" err=\"%s\"", nng_strerror(rv));
		}
		atomic_fetch_sub(&s->busy, 1);
		if (atomic_load(&s->closing) || rv == NNG_ECLOSED) {
			c->state = ST_IDLE;
			return;
		}
		ctx_recv(c);
		return;
	default:
		return;
	}
}

int node_server_create(node_env *env, const node_server_opts *o, node_server **out)
{
	node_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return OSTORE_ENOMEM;
	s->env = env;
	atomic_init(&s->busy, 0);
	atomic_init(&s->closing, false);
	int rv = nng_rep0_open(&s->sock);
	if (rv != 0) {
		OS_ERROR("msg=\"cannot open socket\" err=\"%s\"", nng_strerror(rv));
		free(s);
		return os_from_nng(rv);
	}
	s->sock_open = true;
	int status = OSTORE_OK;
	if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, o->recv_max)) != 0) {
		OS_ERROR("msg=\"cannot set recv-size-max\" err=\"%s\"", nng_strerror(rv));
		status = os_from_nng(rv);
		goto fail;
	}
	s->ctxs = calloc(o->contexts, sizeof(*s->ctxs));
	if (s->ctxs == NULL) {
		status = OSTORE_ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < o->contexts; i++) {
		sctx *c = &s->ctxs[i];
		c->srv = s;
		node_req_init(&c->r);
		c->r.job.done = ctx_job_done;
		if ((rv = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
			OS_ERROR("msg=\"cannot create context\" err=\"%s\"", nng_strerror(rv));
			node_req_fini(&c->r);
			if (c->aio != NULL)
				nng_aio_free(c->aio);
			status = os_from_nng(rv);
			goto fail;
		}
		s->nctx++;
	}
	if (node_metrics_proc() != NULL &&
	    os_procmetrics_watch_socket(node_metrics_proc(), s->sock, o->max_conns) != OSTORE_OK)
		OS_WARN("msg=\"cannot count or limit connections\"");
	/* The listener inherits the socket's NNG_OPT_RECVMAXSZ set above. */
	if ((status = os_net_serve(s->sock, o->url, env->sec, &s->listener)) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot listen\" addr=%s err=\"%s\"", o->url, ostore_strerror(status));
		goto fail;
	}
	for (unsigned i = 0; i < s->nctx; i++)
		ctx_recv(&s->ctxs[i]);
	*out = s;
	return OSTORE_OK;
fail:
	node_server_destroy(s);
	return status;
}

void node_server_stop_accepting(node_server *s)
{
	os_net_unserve(s->listener);
	s->listener = NULL;
}

unsigned node_server_drain(node_server *s, int timeout_ms)
{
	uint64_t end = os_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned busy;
	while ((busy = atomic_load(&s->busy)) > 0 && os_now_ns() < end) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return busy;
}

/*
 * nng_close() in nng 1.5.2 can hang for good while peers are connected and sending
 * (library-facts: #1543; upstream #1813, fixed in 1.7.x). It runs in a helper thread;
 * if it has not returned after CLOSE_WAIT_MS the socket's memory is left to process exit
 * instead of being freed under nng's feet.
 */
#define CLOSE_WAIT_MS 3000

typedef struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
} closer;

static void *closer_main(void *arg)
{
	closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Returns true when the socket closed in time (the closer is then freed). */
static bool close_with_timeout(nng_socket sock)
{
	closer *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		nng_close(sock);
		return true;
	}
	c->sock = sock;
	pthread_mutex_init(&c->mu, NULL);
	os_cond_init_monotonic(&c->cv); /* glibc's pthread_cond_init does not fail */
	pthread_t t;
	if (pthread_create(&t, NULL, closer_main, c) != 0) {
		nng_close(sock);
		c->done = true;
	} else {
		struct timespec ts = os_timespec_at(os_now_ns() + (uint64_t)CLOSE_WAIT_MS * 1000000u);
		pthread_mutex_lock(&c->mu);
		while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
			;
		bool done = c->done;
		pthread_mutex_unlock(&c->mu);
		if (!done) {
			pthread_detach(t);
			OS_WARN("msg=\"socket close did not finish, leaving it to process exit\" "
			        "wait_ms=%d",
			        CLOSE_WAIT_MS);
			return false; /* c stays allocated: the closer thread still uses it */
		}
		pthread_join(t, NULL);
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return true;
}

void node_server_destroy(node_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->closing, true);
	node_server_stop_accepting(s);
	/* Close the socket first (pending receives end with NNG_ECLOSED and the callbacks
	 * see `closing`), then stop every aio (waits for callbacks still running). */
	if (s->sock_open && !close_with_timeout(s->sock))
		return; /* nng may still use the contexts: do not free them */
	for (unsigned i = 0; i < s->nctx; i++)
		node_req_stop(&s->ctxs[i].r); /* parked pulls: never answered now */
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_stop(s->ctxs[i].aio);
	for (unsigned i = 0; i < s->nctx; i++) {
		sctx *c = &s->ctxs[i];
		nng_aio_free(c->aio);
		if (c->req != NULL)
			nng_msg_free(c->req);
		node_req_fini(&c->r);
	}
	free(s->ctxs);
	free(s);
}
