/*
 * client.c - the liborderstore handle: options, open/close, the engine pool.
 *
 * A handle owns one nng REQ socket that dials every router with NNG_FLAG_NONBLOCK, so
 * ostore_open never waits for a router: nng connects in the background, reconnects on
 * its own, and hands each request to a connected router (a dead router's pipe goes
 * away and requests move to the others). REQ's own resend timer is switched off
 * (NNG_OPT_REQ_RESENDTIME infinite): the engine in op.c retries itself with deadlines.
 *
 *   ostore_open ──▶ nng_req0_open ─▶ RECVMAXSZ, RESENDTIME ─▶ nng_dial(router i, NONBLOCK)
 *   request     ──▶ oc_op_get (pool or new ctx+aio) ─▶ op.c state machine ─▶ oc_op_put
 *   ostore_close ─▶ refuse new requests ─▶ let a lanes map fetch end (lanes.c) ─▶ wait
 *                  active == 0 and no caller queued in submit.c ─▶ free aios ─▶ nng_close
 *
 * Ownership: engines (oc_op) are created on demand, kept in all_ops, and recycled through
 * the free list; they are freed only at close, because an aio cannot be freed from its
 * own callback. Lock rule: c->mu guards the pool fields and `active`; the counters
 * marked _Atomic are lock-free.
 */
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"

#include <nng/protocol/reqrep0/req.h>
#include "util.h"

/* Reply frames may be larger than any request (a batch of GETs), so the receive limit
 * is a multiple of the request frame limit. It still bounds what a peer can make us
 * allocate (NNG_OPT_RECVMAXSZ is unlimited by default). */
#define OC_RECV_MAX (4 * OS_FRAME_MAX_DEFAULT)

void ostore_options_init(ostore_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = 5000;
	opts->retries = 2;
	opts->max_value = OSTORE_DEFAULT_MAX_VALUE;
	opts->max_inflight = 256;
	opts->coalesce_max_items = 0; /* coalescing on, OC_COALESCE_ITEMS_DEFAULT items */
}

void ostore_free(void *p)
{
	free(p);
}

/* Pipe notifications run on nng threads (REM_POST on the reaper): only flag here. */
static void oc_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	ostore_client *c = arg;
	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_store(&c->ever_connected, true);
		atomic_fetch_add(&c->npipes, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&c->npipes, 1);
	}
}

static int oc_check_options(const ostore_options *o)
{
	if (o->routers == NULL || o->nrouters == 0 || o->nrouters > OC_MAX_ROUTERS)
		return OSTORE_EINVAL;
	for (size_t i = 0; i < o->nrouters; i++)
		if (o->routers[i] == NULL || o->routers[i][0] == '\0')
			return OSTORE_EINVAL;
	if (o->timeout_ms == 0 || o->timeout_ms > INT32_MAX)
		return OSTORE_EINVAL;
	if (o->max_value > OSTORE_MAX_VALUE_LIMIT || o->max_inflight == 0)
		return OSTORE_EINVAL;
	return OSTORE_OK;
}

/* Socket setup: options before any dial, then every router. */
static int oc_socket_setup(ostore_client *c, const ostore_options *o)
{
	int rv;
	if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, OC_RECV_MAX)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, oc_pipe_cb, c)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, oc_pipe_cb, c)) != 0)
		return rv == NNG_ENOMEM ? OSTORE_ENOMEM : OSTORE_EINTERNAL;
	for (size_t i = 0; i < o->nrouters; i++) {
		/* OSTORE_ECONNECT: unparsable URL, unknown transport; OSTORE_EINVAL: tls+tcp://
		 * without TLS files. */
		int st = os_net_dial(c->sock, o->routers[i], c->sec, NNG_FLAG_NONBLOCK);
		if (st != OSTORE_OK)
			return st;
	}
	return OSTORE_OK;
}

ostore_status ostore_open(const ostore_options *opts, ostore_client **out)
{
	if (opts == NULL || out == NULL)
		return OSTORE_EINVAL;
	int st = oc_check_options(opts);
	if (st != OSTORE_OK)
		return (ostore_status)st;

	ostore_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return OSTORE_ENOMEM;
	c->client_id = os_random_u64();
	c->timeout_ms = opts->timeout_ms;
	c->retries = opts->retries;
	c->max_value = opts->max_value;
	c->max_inflight = opts->max_inflight;
	c->read_bound = (os_read_bound){.max_lag_lsn = opts->replica_reads_max_lag_lsn,
	                                .max_lag_ms = opts->replica_reads_max_lag_ms};
	c->frame_max = OS_FRAME_MAX_DEFAULT;
	os_netsec_opts so = {.tls_cert = opts->tls_cert_file, .tls_key = opts->tls_key_file,
	                     .tls_ca = opts->tls_ca_file, .send_token = opts->token};
	if ((st = os_netsec_create(&so, &c->sec, NULL, 0)) != OSTORE_OK) {
		free(c);
		return (ostore_status)st;
	}
	oc_coalesce_setup(c, opts);
	atomic_init(&c->seq, 0);
	atomic_init(&c->inflight, 0);
	atomic_init(&c->ever_connected, false);
	atomic_init(&c->npipes, 0);
	atomic_init(&c->closing, false);
	atomic_init(&c->lane_epoch, 0);
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		os_netsec_destroy(c->sec);
		free(c);
		return OSTORE_ENOMEM;
	}
	if (os_cond_init_monotonic(&c->idle) != 0) {
		pthread_mutex_destroy(&c->mu);
		os_netsec_destroy(c->sec);
		free(c);
		return OSTORE_ENOMEM;
	}
	int rv = nng_req0_open(&c->sock);
	if (rv != 0) {
		st = rv == NNG_ENOMEM ? OSTORE_ENOMEM : OSTORE_EINTERNAL;
		goto fail;
	}
	st = oc_socket_setup(c, opts);
	if (st != OSTORE_OK) {
		nng_close(c->sock);
		goto fail;
	}
	*out = c;
	return OSTORE_OK;
fail:
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->mu);
	os_netsec_destroy(c->sec);
	free(c);
	return (ostore_status)st;
}

void ostore_close(ostore_client *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->closing, true);
	pthread_mutex_lock(&c->mu);
	oc_lanes_close_locked(c);
	/* A queued caller implies a frame in flight (submit.c), so active > 0 covers it;
	 * the queue is checked too in case that ever changes. */
	while (c->active > 0 || c->q_head != NULL)
		pthread_cond_wait(&c->idle, &c->mu);
	pthread_mutex_unlock(&c->mu);
	/* No engine is in use: nng_aio_free waits for a callback still returning. */
	for (size_t i = 0; i < c->nall; i++) {
		oc_op *op = c->all_ops[i];
		nng_aio_free(op->aio);
		nng_ctx_close(op->ctx);
		os_buf_fini(&op->frame);
		free(op);
	}
	free(c->all_ops);
	nng_close(c->sock);
	os_netsec_destroy(c->sec);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Create an engine and register it in all_ops; called with c->mu held. */
static oc_op *oc_op_new_locked(ostore_client *c)
{
	if (c->nall == c->capall) {
		size_t ncap = c->capall ? c->capall * 2 : 16;
		oc_op **n = realloc(c->all_ops, ncap * sizeof(*n));
		if (n == NULL)
			return NULL;
		c->all_ops = n;
		c->capall = ncap;
	}
	oc_op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NULL;
	op->c = c;
	os_buf_init(&op->frame);
	if (nng_aio_alloc(&op->aio, oc_op_cb, op) != 0) {
		free(op);
		return NULL;
	}
	if (nng_ctx_open(&op->ctx, c->sock) != 0) {
		nng_aio_free(op->aio);
		free(op);
		return NULL;
	}
	c->all_ops[c->nall++] = op;
	return op;
}

oc_op *oc_op_get_locked(ostore_client *c)
{
	oc_op *op = c->free_ops;
	if (op != NULL)
		c->free_ops = op->next_free;
	else
		op = oc_op_new_locked(c);
	if (op != NULL) {
		op->next_free = NULL;
		op->admitted = false;
		op->on_retry = NULL;
		c->active++;
	}
	return op;
}

oc_op *oc_op_get(ostore_client *c)
{
	pthread_mutex_lock(&c->mu);
	oc_op *op = oc_op_get_locked(c);
	pthread_mutex_unlock(&c->mu);
	return op;
}

void oc_op_put(oc_op *op)
{
	ostore_client *c = op->c;
	os_buf_fini(&op->frame); /* a batch frame can be MiBs: do not keep it pooled */
	op->done = NULL;
	op->arg = NULL;
	op->on_retry = NULL;
	pthread_mutex_lock(&c->mu);
	op->next_free = c->free_ops;
	c->free_ops = op;
	if (--c->active == 0 && c->q_head == NULL)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->mu);
	/* From here on neither @op nor @c may be touched: ostore_close may be freeing. */
}
