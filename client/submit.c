/*
 * submit.c - ostore_submit: admission, request coalescing, DATA frames and their replies.
 *
 * Every ostore_submit (and so every blocking data call, sync.c) becomes one oc_caller.
 * Callers travel in DATA frames; a frame carries one caller or several merged ones:
 *
 *   ostore_submit ─▶ validate, size check, admit (inflight < max_inflight, per caller)
 *        │
 *        ├─ coalescing off (co_items == 1): a frame of this caller alone, sent now
 *        │
 *        └─ on: under c->mu the caller's lane (lanes.c: class x shard), append to the
 *               queue, then while some queued caller's lane has lane_out < window: take
 *               a frame's worth of that lane's callers, lane_out[lane]++
 *                       │
 *                       ▼  (outside the lock)
 *               encode: header (count = all items) + each caller's items in turn, writes
 *               numbered from c->seq ─▶ engine (op.c), same bytes on every attempt
 *                       │
 *   reply / error ─▶ frame_done: per caller its slice of the results (or the frame's
 *                    error on every item), inflight--, its callback; then give the
 *                    window slot back and send what is queued
 *
 * Lanes: a caller's lane is its class (only GETs; only GETs with a replica-read bound;
 * any write) and the shard all its items belong to by the cached map (lanes.c), or the
 * class's mixed lane. Each lane has its own window: OC_LANE_WINDOW_PER_ROUTER frames per
 * connected router for a shard lane, OC_COALESCE_WINDOW_PER_ROUTER for a mixed lane (at
 * least one router's worth). While its lane's window has room a request goes out at once
 * and alone, so a lone caller sees no added latency; there is no timer. Only when the
 * window is full do callers queue, and a freed slot then carries all of them that fit.
 * The invariant after every unlock, per lane: lane_q > 0 => lane_out >= window > 0, so
 * some frame in flight in that lane will drain its callers when it ends (or when its
 * first attempt fails: on_retry gives the slot back early, so a silent router holds no
 * slot for long).
 *
 * A frame takes the first queued caller whose lane has room, then every later caller of
 * the same lane that keeps the frame within co_items items, co_gets GET items and
 * co_bytes bytes; a caller is never split, and a caller over a cap goes alone. Request
 * IDs: each write item gets its own seq when the frame is encoded, once; retries re-send
 * the same bytes. DATA replies carry the router's map epoch: a newer one refreshes the
 * lanes' table (lanes.c).
 *
 * Lock rule: the queue, lane_out and lane_q are guarded by c->mu, which also guards the
 * engine pool, so a drained frame takes its engine in the same critical section and
 * ostore_close (waiting for active == 0) cannot miss a queued caller. Callbacks run on
 * the thread that completed the frame, never under c->mu.
 */
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"
#include "util.h"

struct oc_caller {
	oc_caller *next;
	ostore_item *items;
	size_t n;
	ostore_done_fn done;
	void *arg;
	size_t bytes;    /* encoded size of the items */
	uint32_t ngets;  /* GET items */
	bool bounded;    /* all GETs, and the handle has a replica-read bound */
	uint8_t cls;     /* OC_CLS_*: only callers of one class share a frame */
	uint8_t lane;    /* lanes.c: only callers of one lane share a frame */
};

/* Frame classes. Reads are never merged with writes: a node serves a frame with any
 * write through its writer, so a GET sharing it would wait for the write's disk sync. */
enum { OC_CLS_WRITE = 0, OC_CLS_READ = 1, OC_CLS_BOUNDED_READ = 2 };

/* One DATA frame in flight: its callers in frame order. */
typedef struct oc_dframe {
	ostore_client *c;
	oc_caller *first;
	size_t nitems;
	bool bounded;
	uint8_t cls;    /* class of its callers */
	uint8_t lane;   /* lane of its callers */
	bool in_window; /* holds a slot of its lane's window; under c->mu */
} oc_dframe;

void oc_coalesce_setup(ostore_client *c, const ostore_options *o)
{
	uint32_t items = o->coalesce_max_items;
	if (items == 0)
		items = OC_COALESCE_ITEMS_DEFAULT;
	if (items > OSTORE_MAX_BATCH)
		items = OSTORE_MAX_BATCH;
	c->co_items = items;
	/* Merged GETs must fit one node's reply (recv limit OS_FRAME_MAX_DEFAULT) even if
	 * they all hit one shard and every value is as large as allowed. What is stored is
	 * bounded by the cluster's --max-value (default 1 MiB), not by this client's: a
	 * reader configured smaller must not merge more GETs than the default allows. */
	size_t vmax = c->max_value > OSTORE_DEFAULT_MAX_VALUE ? c->max_value : OSTORE_DEFAULT_MAX_VALUE;
	size_t gets = (OS_FRAME_MAX_DEFAULT - OS_HDR_SIZE) / (vmax + OS_DATA_REPLY_HDR);
	c->co_gets = gets < 1 ? 1 : gets > items ? items : (uint32_t)gets;
	c->co_bytes = OC_COALESCE_BYTES;
}

/* ---- validation ---- */

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

static bool oc_has_value(const ostore_item *it)
{
	return it->op == OSTORE_OP_PUT || it->op == OSTORE_OP_CAS;
}

/* Size the caller's items, count its GETs, classify it; reset the outputs. */
static void oc_caller_measure(const ostore_client *c, oc_caller *k)
{
	bool bound = c->read_bound.max_lag_lsn != 0 || c->read_bound.max_lag_ms != 0;
	k->bytes = 0;
	k->ngets = 0;
	for (size_t i = 0; i < k->n; i++) {
		ostore_item *it = &k->items[i];
		k->bytes += OS_DATA_ITEM_HDR + it->id_len + (oc_has_value(it) ? it->value_len : 0);
		k->ngets += it->op == OSTORE_OP_GET;
		it->status = OSTORE_EINTERNAL; /* until the answer */
		it->version = 0;
		it->out_value = NULL;
		it->out_len = 0;
	}
	k->bounded = bound && k->ngets == k->n;
	k->cls = k->ngets < k->n ? OC_CLS_WRITE : k->bounded ? OC_CLS_BOUNDED_READ : OC_CLS_READ;
}

/* Bytes of a frame holding @bytes of items (at most: a credential may follow the header). */
static size_t oc_frame_size(bool bounded, size_t bytes)
{
	return OS_HDR_SIZE + 1u + OS_CRED_MAX + (bounded ? OS_READ_BOUND_SIZE : 0) + bytes;
}

/* ---- encoding and replies ---- */

/* Encode frame @f into @b. Write items are numbered here, once per frame. */
static int oc_frame_encode(ostore_client *c, const oc_dframe *f, os_buf *b)
{
	uint64_t nwrites = 0;
	for (const oc_caller *k = f->first; k != NULL; k = k->next)
		nwrites += k->n - k->ngets;
	uint64_t seq = nwrites ? atomic_fetch_add(&c->seq, nwrites) : 0;
	int st = oc_frame_begin(c, b, OS_KIND_DATA, (uint16_t)f->nitems,
	                        f->bounded ? OS_HDR_F_BOUNDED_READ : 0);
	if (st != OSTORE_OK)
		return st;
	if (f->bounded && os_read_bound_put(b, &c->read_bound) != OSTORE_OK)
		return OSTORE_ENOMEM;
	for (const oc_caller *k = f->first; k != NULL; k = k->next) {
		for (size_t i = 0; i < k->n; i++) {
			const ostore_item *it = &k->items[i];
			bool has_value = oc_has_value(it);
			os_item w = {
				.op = (uint8_t)it->op,
				.seq = it->op == OSTORE_OP_GET ? 0 : ++seq,
				.expected = it->op == OSTORE_OP_CAS ? it->expected : 0,
				.id = it->id,
				.id_len = (uint32_t)it->id_len,
				.value = has_value ? it->value : NULL,
				.value_len = has_value ? (uint32_t)it->value_len : 0,
			};
			if (os_item_put(b, &w) != OSTORE_OK || b->oom)
				return OSTORE_ENOMEM;
		}
	}
	return OSTORE_OK;
}

/* Fill @k's items from results @res (its slice). */
static void oc_caller_fill(oc_caller *k, const os_result *res)
{
	for (size_t i = 0; i < k->n; i++) {
		ostore_item *it = &k->items[i];
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
}

/* Decode a DATA reply for @nitems items into *res (malloc'ed); *epoch gets the reply's
 * map epoch (0 if the header could not be read). Returns OSTORE_OK or the status every
 * item gets (a frame status, EPROTO, ENOMEM). */
static int oc_reply_results(nng_msg *reply, size_t nitems, os_result **res, uint64_t *epoch)
{
	os_hdr h;
	const uint8_t *body;
	size_t body_len;
	*epoch = 0;
	int st = oc_reply_check(reply, OS_KIND_DATA, &h, &body, &body_len);
	if (st != OSTORE_OK)
		return st;
	*epoch = h.epoch;
	if (h.status != OSTORE_OK)
		return h.status;
	if (h.count != nitems)
		return OSTORE_EPROTO;
	*res = malloc(nitems * sizeof(**res));
	if (*res == NULL)
		return OSTORE_ENOMEM;
	st = os_results_get(body, body_len, h.count, *res);
	if (st != OSTORE_OK) {
		free(*res);
		*res = NULL;
	}
	return st;
}

/* Callbacks of this client library running on this thread (oc_in_callback). */
static _Thread_local unsigned oc_cb_depth;

bool oc_in_callback(void)
{
	return oc_cb_depth > 0;
}

/* Deliver to every caller of the list @k: its results (when @res) or @st on each item.
 * Each caller's admission unit is returned just before its callback, so the callback
 * may submit again. Frees the callers. */
static void oc_callers_deliver(ostore_client *c, oc_caller *k, int st, const os_result *res)
{
	size_t at = 0;
	while (k != NULL) {
		oc_caller *next = k->next;
		if (res != NULL) {
			oc_caller_fill(k, res + at);
		} else {
			for (size_t i = 0; i < k->n; i++)
				k->items[i].status = (ostore_status)st;
		}
		at += k->n;
		ostore_done_fn done = k->done;
		void *arg = k->arg;
		ostore_item *items = k->items;
		size_t n = k->n;
		free(k);
		atomic_fetch_sub(&c->inflight, 1);
		oc_cb_depth++;
		done(arg, items, n, (ostore_status)st);
		oc_cb_depth--;
		k = next;
	}
}

/* ---- the window and the queue ---- */

/* Under c->mu: whether @lane's window has room for one more frame. */
static bool oc_lane_room_locked(const ostore_client *c, uint8_t lane)
{
	return c->lane_out[lane] < oc_lane_window(c, lane);
}

/* Under c->mu: the first queued caller whose lane has room, and the one before it. */
static oc_caller *oc_first_ready_locked(const ostore_client *c, oc_caller **before)
{
	*before = NULL;
	for (oc_caller *k = c->q_head; k != NULL; k = k->next) {
		if (oc_lane_room_locked(c, k->lane))
			return k;
		*before = k;
	}
	return NULL;
}

/* Whether caller @k may join frame @f (which has callers already). */
static bool oc_fits(const ostore_client *c, const oc_dframe *f, size_t bytes, uint32_t gets,
                    const oc_caller *k)
{
	return k->lane == f->lane && k->cls == f->cls && f->nitems + k->n <= c->co_items &&
	       gets + k->ngets <= c->co_gets &&
	       oc_frame_size(f->bounded, bytes + k->bytes) <= c->co_bytes;
}

/* Under c->mu: take @head (queued after @before, NULL: it is the queue head) and every
 * later caller that fits into @f. */
static void oc_take_locked(ostore_client *c, oc_dframe *f, oc_caller *head, oc_caller *before)
{
	if (before != NULL)
		before->next = head->next;
	else
		c->q_head = head->next;
	oc_caller *from = head->next;
	head->next = NULL;
	c->lane_q[head->lane]--;
	f->first = head;
	f->nitems = head->n;
	f->bounded = head->bounded;
	f->cls = head->cls;
	f->lane = head->lane;
	size_t bytes = head->bytes;
	uint32_t gets = head->ngets;
	oc_caller *tail = head, *prev = before; /* prev: last caller left in the queue */
	for (oc_caller *k = from; k != NULL && f->nitems < c->co_items;) {
		oc_caller *next = k->next;
		if (oc_fits(c, f, bytes, gets, k)) {
			if (prev != NULL)
				prev->next = next;
			else
				c->q_head = next;
			k->next = NULL;
			tail->next = k;
			tail = k;
			c->lane_q[k->lane]--;
			f->nitems += k->n;
			bytes += k->bytes;
			gets += k->ngets;
		} else {
			prev = k;
		}
		k = next;
	}
	/* Callers were unlinked from anywhere in the queue: find its tail again (the queue
	 * holds at most max_inflight callers). */
	c->q_tail = c->q_head;
	while (c->q_tail != NULL && c->q_tail->next != NULL)
		c->q_tail = c->q_tail->next;
}

static void oc_frame_done(void *arg, int st, nng_msg *reply);
static void oc_frame_retrying(void *arg);

/* A frame ready to go: its engine (NULL if none could be made) and its callers. */
typedef struct oc_ready {
	oc_dframe *f;
	oc_op *op;
} oc_ready;

/* Under c->mu: fill @out with frames to send while the window has room (at most @cap).
 * Returns how many. A frame without memory for itself is not taken. */
static size_t oc_drain_locked(ostore_client *c, oc_ready *out, size_t cap)
{
	size_t n = 0;
	oc_caller *head, *before;
	while (n < cap && (head = oc_first_ready_locked(c, &before)) != NULL) {
		oc_dframe *f = calloc(1, sizeof(*f));
		if (f == NULL)
			break; /* the frames in flight drain the queue later */
		f->c = c;
		oc_take_locked(c, f, head, before);
		f->in_window = true;
		c->lane_out[f->lane]++;
		out[n].f = f;
		out[n].op = oc_op_get_locked(c);
		n++;
	}
	return n;
}

/* Release @f's window slot if it holds one; with c->mu held. */
static void oc_slot_release_locked(ostore_client *c, oc_dframe *f)
{
	if (f->in_window) {
		f->in_window = false;
		c->lane_out[f->lane]--;
	}
}

/* Encode and send a frame taken by oc_drain_locked. Returns OSTORE_OK or the error the
 * frame failed with; on failure the frame (and its slot) is given back and its callers
 * are NOT delivered (the caller of this function does that). */
static int oc_frame_start(ostore_client *c, oc_dframe *f, oc_op *op)
{
	int st = OSTORE_ENOMEM;
	os_buf b;
	os_buf_init(&b);
	if (op != NULL && (st = oc_frame_encode(c, f, &b)) == OSTORE_OK) {
		op->on_retry = oc_frame_retrying;
		st = oc_op_send(op, &b, oc_frame_done, f); /* takes b; puts op back on failure */
		op = NULL;
	}
	os_buf_fini(&b);
	if (st == OSTORE_OK)
		return OSTORE_OK;
	pthread_mutex_lock(&c->mu);
	oc_slot_release_locked(c, f);
	pthread_mutex_unlock(&c->mu);
	if (op != NULL)
		oc_op_put(op);
	return st;
}

/* Send every frame the window allows now. A frame that cannot start (no memory)
 * delivers its error to its callers by callback, here. */
static void oc_pump(ostore_client *c)
{
	enum { BURST = 8 };
	for (;;) {
		oc_ready r[BURST];
		pthread_mutex_lock(&c->mu);
		size_t n = oc_drain_locked(c, r, BURST);
		pthread_mutex_unlock(&c->mu);
		bool failed = false;
		for (size_t i = 0; i < n; i++) {
			int st = oc_frame_start(c, r[i].f, r[i].op);
			if (st == OSTORE_OK)
				continue;
			failed = true; /* its slot is free again: drain once more */
			oc_caller *list = r[i].f->first;
			free(r[i].f);
			oc_callers_deliver(c, list, st, NULL);
		}
		if (n < BURST && !failed)
			return;
	}
}

/* The frame's first attempt failed: give its slot to the queue before retrying. */
static void oc_frame_retrying(void *arg)
{
	oc_dframe *f = arg;
	ostore_client *c = f->c;
	pthread_mutex_lock(&c->mu);
	oc_slot_release_locked(c, f);
	pthread_mutex_unlock(&c->mu);
	oc_pump(c);
}

static void oc_frame_done(void *arg, int st, nng_msg *reply)
{
	oc_dframe *f = arg;
	ostore_client *c = f->c;
	os_result *res = NULL;
	if (st == OSTORE_OK) {
		uint64_t epoch;
		st = oc_reply_results(reply, f->nitems, &res, &epoch);
		oc_lanes_note_epoch(c, epoch); /* a newer map: refresh the lanes' table */
	}
	/* Callbacks first, slot after: what the callbacks submit (a closed-loop caller's
	 * next request, an order's next step) queues in the lane and leaves in the same
	 * frame as the requests already waiting, instead of in a frame of its own after it.
	 * Measured with bench/compare's 64 callers: +10-20 % put and get. The callbacks are
	 * short (ostore_done_fn) and may not block (the blocking calls refuse to run in
	 * them), so the queue waits only for their run. */
	oc_callers_deliver(c, f->first, st, res); /* res points into reply: free it after */
	free(res);
	if (reply != NULL)
		nng_msg_free(reply);
	pthread_mutex_lock(&c->mu);
	bool held = f->in_window;
	oc_slot_release_locked(c, f);
	pthread_mutex_unlock(&c->mu);
	if (held)
		oc_pump(c);
	free(f);
}

/* ---- ostore_submit ---- */

/* Send @k alone in a frame now, holding a window slot if @slot (taken by the caller).
 * Returns the submit status; on failure nothing was sent and @k is still the caller's. */
static int oc_send_alone(ostore_client *c, oc_caller *k, oc_op *op, bool slot)
{
	oc_dframe *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		if (op != NULL)
			oc_op_put(op);
		if (slot) {
			pthread_mutex_lock(&c->mu);
			c->lane_out[k->lane]--;
			pthread_mutex_unlock(&c->mu);
		}
		return OSTORE_ENOMEM;
	}
	*f = (oc_dframe){.c = c, .first = k, .nitems = k->n, .bounded = k->bounded,
	                 .cls = k->cls, .lane = k->lane, .in_window = slot};
	int st = oc_frame_start(c, f, op);
	if (st != OSTORE_OK)
		free(f);
	return st;
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
	oc_caller *k = malloc(sizeof(*k));
	if (k == NULL)
		return OSTORE_ENOMEM;
	*k = (oc_caller){.items = items, .n = n, .done = done, .arg = arg};
	oc_caller_measure(c, k);
	if (oc_frame_size(k->bounded, k->bytes) > c->frame_max) {
		free(k);
		return OSTORE_ETOOBIG;
	}
	uint32_t before = atomic_fetch_add(&c->inflight, 1);
	if (before >= c->max_inflight) {
		atomic_fetch_sub(&c->inflight, 1);
		free(k);
		return OSTORE_EOVERLOAD;
	}
	if (c->co_items <= 1) {
		st = oc_send_alone(c, k, oc_op_get(c), false); /* coalescing off */
	} else {
		if (atomic_load_explicit(&c->lane_epoch, memory_order_relaxed) == 0)
			oc_lanes_note_epoch(c, 0); /* no lanes' table yet: fetch one */
		pthread_mutex_lock(&c->mu);
		k->lane = oc_lane_of_locked(c, items, n, k->cls);
		if (c->lane_q[k->lane] == 0 && oc_lane_room_locked(c, k->lane)) {
			/* Room in the lane's window and nobody of it waiting: go now, alone. */
			c->lane_out[k->lane]++;
			oc_op *op = oc_op_get_locked(c);
			pthread_mutex_unlock(&c->mu);
			st = oc_send_alone(c, k, op, true);
			if (st != OSTORE_OK)
				oc_pump(c); /* the slot came back: callers may have queued meanwhile */
		} else {
			/* Window full: wait for a slot with the others. Once queued, the request
			 * is accepted: any later failure reaches @done. */
			if (c->q_tail != NULL)
				c->q_tail->next = k;
			else
				c->q_head = k;
			c->q_tail = k;
			c->lane_q[k->lane]++;
			pthread_mutex_unlock(&c->mu);
			oc_pump(c); /* a no-op unless the window grew (a router connected) */
			return OSTORE_OK;
		}
	}
	if (st != OSTORE_OK) {
		atomic_fetch_sub(&c->inflight, 1);
		free(k);
	}
	return (ostore_status)st;
}
