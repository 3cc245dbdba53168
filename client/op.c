/*
 * op.c - the request engine.
 *
 * The engine sends one frame and delivers one reply. It is an nng_ctx + nng_aio state
 * machine; nothing blocks, and every step runs in the aio callback on an nng thread:
 *
 *          oc_req_start
 *               │  admission (inflight < max_inflight), engine from the pool
 *               ▼
 *   ┌──▶ ATTEMPT: copy the kept frame bytes into a new nng_msg, deadline = now+timeout
 *   │           │  nng_ctx_send (aio timeout = timeout_ms)
 *   │           ▼
 *   │     SEND done ── error ──┐
 *   │           │ ok           │
 *   │           ▼              │
 *   │     RECV (aio timeout = what is left of the deadline)
 *   │           │ ── error ────┤
 *   │           │ ok           ▼
 *   │           │         retryable (timeout, connection lost) and attempts <= retries?
 *   └───────────┼──────────── yes
 *               │              │ no: ETIMEDOUT, or ECONNECT if no router is connected
 *               ▼              ▼
 *           done(arg, st, reply) ─▶ engine back to the pool
 *
 * A retry re-sends the SAME bytes: write items keep their request IDs (client ID +
 * seq), so nodes that already applied them answer with the first result. nng's own
 * REQ resend is off (client.c), so an attempt is exactly one send. Before the first
 * retry the engine calls op->on_retry once (submit.c uses it to give back the frame's
 * window slot, so callers queued behind a silent router do not wait for every retry).
 *
 * Two ways in: oc_req_start admits one request (c->inflight < max_inflight, dropped
 * just before done runs) and is used by scan/stats; oc_op_send sends on an engine the
 * caller already took and admits nothing (submit.c counts its callers itself).
 */
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"
#include "util.h"

/* ---- engine ---- */

/* Transport outcomes worth another attempt over the same or another router. */
static bool oc_retryable(int nng_err)
{
	switch (nng_err) {
	case NNG_ETIMEDOUT:
	case NNG_ECONNRESET:
	case NNG_ECONNREFUSED:
	case NNG_ECONNSHUT:
	case NNG_ECONNABORTED:
	case NNG_EUNREACHABLE:
	case NNG_EAGAIN:
		return true;
	default:
		return false;
	}
}

/* Start one attempt: a fresh message with the kept frame bytes. Returns 0 or an nng
 * error (the engine stays idle then). */
static int oc_attempt(oc_op *op)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, op->frame.len);
	if (rv != 0)
		return rv;
	memcpy(nng_msg_body(m), op->frame.data, op->frame.len);
	op->attempts++;
	op->deadline = os_now_ns() + (uint64_t)op->c->timeout_ms * 1000000u;
	op->sending = true;
	nng_aio_set_msg(op->aio, m);
	nng_aio_set_timeout(op->aio, (nng_duration)op->c->timeout_ms);
	nng_ctx_send(op->ctx, op->aio);
	return 0;
}

/* Deliver the outcome and recycle the engine. The admission count drops before the
 * callback so that it may submit again; the engine returns to the pool after it. */
static void oc_finish(oc_op *op, int st, nng_msg *reply)
{
	ostore_client *c = op->c;
	oc_req_fn done = op->done;
	void *arg = op->arg;
	if (op->admitted)
		atomic_fetch_sub(&c->inflight, 1);
	done(arg, st, reply);
	oc_op_put(op);
}

static void oc_retry_or_fail(oc_op *op, int nng_err)
{
	ostore_client *c = op->c;
	if (oc_retryable(nng_err) && op->attempts <= c->retries && !atomic_load(&c->closing)) {
		if (op->on_retry != NULL) {
			void (*hook)(void *) = op->on_retry;
			op->on_retry = NULL;
			hook(op->arg);
		}
		int rv = oc_attempt(op);
		if (rv == 0)
			return;
		nng_err = rv;
	}
	int st;
	if (oc_retryable(nng_err))
		st = atomic_load(&c->npipes) > 0 ? OSTORE_ETIMEDOUT : OSTORE_ECONNECT;
	else
		st = os_from_nng(nng_err);
	oc_finish(op, st, NULL);
}

void oc_op_cb(void *arg)
{
	oc_op *op = arg;
	int rv = nng_aio_result(op->aio);
	if (op->sending) {
		if (rv != 0) {
			/* A failed send leaves the message with us. */
			nng_msg *m = nng_aio_get_msg(op->aio);
			if (m != NULL)
				nng_msg_free(m);
			nng_aio_set_msg(op->aio, NULL);
			oc_retry_or_fail(op, rv);
			return;
		}
		uint64_t now = os_now_ns();
		if (now >= op->deadline) {
			oc_retry_or_fail(op, NNG_ETIMEDOUT);
			return;
		}
		uint64_t left_ms = (op->deadline - now + 999999u) / 1000000u;
		op->sending = false;
		nng_aio_set_timeout(op->aio, (nng_duration)left_ms);
		nng_ctx_recv(op->ctx, op->aio);
		return;
	}
	if (rv != 0) {
		oc_retry_or_fail(op, rv);
		return;
	}
	nng_msg *reply = nng_aio_get_msg(op->aio);
	nng_aio_set_msg(op->aio, NULL);
	oc_finish(op, OSTORE_OK, reply);
}

int oc_req_start(ostore_client *c, os_buf *frame, oc_req_fn done, void *arg)
{
	if (atomic_load(&c->closing)) {
		os_buf_fini(frame);
		return OSTORE_ECLOSED;
	}
	uint32_t before = atomic_fetch_add(&c->inflight, 1);
	if (before >= c->max_inflight) {
		atomic_fetch_sub(&c->inflight, 1);
		os_buf_fini(frame);
		return OSTORE_EOVERLOAD;
	}
	oc_op *op = oc_op_get(c);
	if (op == NULL) {
		atomic_fetch_sub(&c->inflight, 1);
		os_buf_fini(frame);
		return OSTORE_ENOMEM;
	}
	op->admitted = true; /* before the send: the reply may come on another thread */
	int st = oc_op_send(op, frame, done, arg);
	if (st != OSTORE_OK)
		atomic_fetch_sub(&c->inflight, 1);
	return st;
}

int oc_op_send(oc_op *op, os_buf *frame, oc_req_fn done, void *arg)
{
	op->frame = *frame; /* take the bytes over */
	os_buf_init(frame);
	op->done = done;
	op->arg = arg;
	op->attempts = 0;
	int rv = oc_attempt(op);
	if (rv != 0) {
		op->on_retry = NULL;
		oc_op_put(op);
		return os_from_nng(rv);
	}
	return OSTORE_OK;
}

int oc_frame_begin(ostore_client *c, os_buf *b, uint8_t kind, uint16_t count, uint8_t flags)
{
	os_hdr h = {
		.flags = flags,
		.kind = kind,
		.status = 0,
		.count = count,
		.timeout_ms = c->timeout_ms,
		.epoch = 0,
		.client_id = c->client_id,
	};
	os_netsec_cred(c->sec, &h);
	os_buf_reset(b);
	return os_hdr_put(b, &h) == OSTORE_OK && !b->oom ? OSTORE_OK : OSTORE_ENOMEM;
}

int oc_reply_check(nng_msg *reply, uint8_t kind, os_hdr *h, const uint8_t **body,
                   size_t *body_len)
{
	int st = os_hdr_get(nng_msg_body(reply), nng_msg_len(reply), h, body, body_len);
	if (st != OSTORE_OK)
		return st;
	if ((h->kind & OS_REPLY_BIT) == 0)
		return OSTORE_EPROTO;
	uint8_t k = (uint8_t)(h->kind & ~OS_REPLY_BIT);
	/* A status-only answer to a frame the peer could not decode may carry kind 0. */
	if (k != kind && !(k == 0 && h->status != OSTORE_OK))
		return OSTORE_EPROTO;
	return OSTORE_OK;
}
