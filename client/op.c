/*
 * op.c - the request engine and ostore_submit.
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
 * REQ resend is off (client.c), so an attempt is exactly one send.
 *
 * ostore_submit validates the items, encodes one DATA frame (writes get the next seq of
 * the handle, GETs seq 0; a frame of only GETs carries the replica-read bound when the
 * handle has one), and on the reply fills each item: a non-zero frame status
 * applies to every item; otherwise item i gets reply item i. GET values are copied into
 * malloc'ed memory the caller frees with ostore_free.
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
	atomic_fetch_sub(&c->inflight, 1);
	done(arg, st, reply);
	oc_op_put(op);
}

static void oc_retry_or_fail(oc_op *op, int nng_err)
{
	ostore_client *c = op->c;
	if (oc_retryable(nng_err) && op->attempts <= c->retries && !atomic_load(&c->closing)) {
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
	op->frame = *frame; /* take the bytes over */
	os_buf_init(frame);
	op->done = done;
	op->arg = arg;
	op->attempts = 0;
	int rv = oc_attempt(op);
	if (rv != 0) {
		atomic_fetch_sub(&c->inflight, 1);
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

/* ---- ostore_submit ---- */

typedef struct oc_batch {
	ostore_item *items;
	size_t n;
	ostore_done_fn done;
	void *arg;
} oc_batch;

static void oc_items_fail(ostore_item *items, size_t n, int st)
{
	for (size_t i = 0; i < n; i++)
		items[i].status = (ostore_status)st;
}

/* Fill the items from a DATA reply. Returns the batch status (OSTORE_OK when every item
 * got its own answer). */
static int oc_batch_fill(ostore_item *items, size_t n, nng_msg *reply)
{
	os_hdr h;
	const uint8_t *body;
	size_t body_len;
	int st = oc_reply_check(reply, OS_KIND_DATA, &h, &body, &body_len);
	if (st != OSTORE_OK)
		return st;
	if (h.status != OSTORE_OK)
		return h.status;
	if (h.count != n)
		return OSTORE_EPROTO;
	os_result *res = malloc(n * sizeof(*res));
	if (res == NULL)
		return OSTORE_ENOMEM;
	st = os_results_get(body, body_len, h.count, res);
	if (st != OSTORE_OK) {
		free(res);
		return st;
	}
	for (size_t i = 0; i < n; i++) {
		ostore_item *it = &items[i];
		it->status = (ostore_status)res[i].status;
		it->version = res[i].version;
		if (it->op != OSTORE_OP_GET || res[i].status != OSTORE_OK || res[i].value_len == 0)
			continue;
		it->out_value = malloc(res[i].value_len);
		if (it->out_value == NULL) {
			it->status = OSTORE_ENOMEM;
			continue;
		}
		memcpy(it->out_value, res[i].value, res[i].value_len);
		it->out_len = res[i].value_len;
	}
	free(res);
	return OSTORE_OK;
}

static void oc_batch_cb(void *arg, int st, nng_msg *reply)
{
	oc_batch b = *(oc_batch *)arg;
	free(arg);
	if (st == OSTORE_OK) {
		st = oc_batch_fill(b.items, b.n, reply);
		nng_msg_free(reply);
	}
	if (st != OSTORE_OK)
		oc_items_fail(b.items, b.n, st);
	b.done(b.arg, b.items, b.n, (ostore_status)st);
}

/* Validate every item. Returns OSTORE_OK, OSTORE_EINVAL, OSTORE_EBADID, OSTORE_ETOOBIG. */
static int oc_items_check(const ostore_client *c, const ostore_item *items, size_t n)
{
	if (items == NULL || n == 0 || n > OSTORE_MAX_BATCH)
		return OSTORE_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const ostore_item *it = &items[i];
		if (it->op < OSTORE_OP_GET || it->op > OSTORE_OP_CAS)
			return OSTORE_EINVAL;
		if (it->id == NULL || it->id_len == 0 || it->id_len > OSTORE_MAX_ID_LEN)
			return OSTORE_EBADID;
		bool has_value = it->op == OSTORE_OP_PUT || it->op == OSTORE_OP_CAS;
		if (has_value && it->value_len > c->max_value)
			return OSTORE_ETOOBIG;
		if (has_value && it->value == NULL && it->value_len > 0)
			return OSTORE_EINVAL;
	}
	return OSTORE_OK;
}

/* Whether the frame for @items may be read from replicas: replica reads are on and
 * every item is a GET (docs/protocol.md, "Bounded replica reads"). */
static bool oc_bounded(const ostore_client *c, const ostore_item *items, size_t n)
{
	if (c->read_bound.max_lag_lsn == 0 && c->read_bound.max_lag_ms == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (items[i].op != OSTORE_OP_GET)
			return false;
	return true;
}

/* Encode the DATA frame into @b, handing out sequence numbers to the writes. A frame of
 * GETs carries the handle's replica-read bound when it has one. */
static int oc_batch_encode(ostore_client *c, ostore_item *items, size_t n, os_buf *b)
{
	bool bounded = oc_bounded(c, items, n);
	int st = oc_frame_begin(c, b, OS_KIND_DATA, (uint16_t)n,
	                        bounded ? OS_HDR_F_BOUNDED_READ : 0);
	if (st != OSTORE_OK)
		return st;
	if (bounded && os_read_bound_put(b, &c->read_bound) != OSTORE_OK)
		return OSTORE_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ostore_item *it = &items[i];
		bool has_value = it->op == OSTORE_OP_PUT || it->op == OSTORE_OP_CAS;
		os_item w = {
			.op = (uint8_t)it->op,
			.seq = it->op == OSTORE_OP_GET ? 0 : atomic_fetch_add(&c->seq, 1) + 1,
			.expected = it->op == OSTORE_OP_CAS ? it->expected : 0,
			.id = it->id,
			.id_len = (uint32_t)it->id_len,
			.value = has_value ? it->value : NULL,
			.value_len = has_value ? (uint32_t)it->value_len : 0,
		};
		if (os_item_put(b, &w) != OSTORE_OK || b->oom)
			return OSTORE_ENOMEM;
		if (b->len > c->frame_max)
			return OSTORE_ETOOBIG;
		it->status = OSTORE_EINTERNAL; /* until the answer */
		it->version = 0;
		it->out_value = NULL;
		it->out_len = 0;
	}
	return OSTORE_OK;
}

ostore_status ostore_submit(ostore_client *c, ostore_item *items, size_t n, ostore_done_fn done,
                            void *arg)
{
	if (c == NULL || done == NULL)
		return OSTORE_EINVAL;
	int st = oc_items_check(c, items, n);
	if (st != OSTORE_OK)
		return (ostore_status)st;
	if (atomic_load(&c->closing))
		return OSTORE_ECLOSED;
	oc_batch *bt = malloc(sizeof(*bt));
	if (bt == NULL)
		return OSTORE_ENOMEM;
	*bt = (oc_batch){.items = items, .n = n, .done = done, .arg = arg};
	os_buf frame;
	os_buf_init(&frame);
	st = oc_batch_encode(c, items, n, &frame);
	if (st == OSTORE_OK)
		st = oc_req_start(c, &frame, oc_batch_cb, bt); /* takes the frame */
	else
		os_buf_fini(&frame);
	if (st != OSTORE_OK)
		free(bt);
	return (ostore_status)st;
}
