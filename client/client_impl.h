/*
 * client_impl.h - internals of liborderstore shared by the files of client/ (private:
 * nothing outside client/ includes it; prefix oc_).
 *
 * Layers, bottom up:
 *   client.c  the handle: options, the one REQ socket dialing every router, the pool of
 *             request engines, admission (max_inflight) and close.
 *   op.c      the request engine: one frame out, one reply in, over an nng_ctx + nng_aio
 *             state machine with per-attempt deadlines and retries of the same bytes;
 *             and ostore_submit (validate, encode a DATA frame, decode the reply).
 *   sync.c    blocking calls (put/get/del/cas/batch, and oc_call for scan/stats) that
 *             wait on a mutex + condvar for the same engine.
 *   scan.c, stats.c  whole-cluster calls built on oc_call.
 */
#ifndef OC_CLIENT_IMPL_H
#define OC_CLIENT_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include <orderstore.h>

#include "buf.h"
#include "wire.h"

/** Largest router list accepted by ostore_open (documented in orderstore.h). */
#define OC_MAX_ROUTERS 64u

/**
 * Completion of one engine request. @st is OSTORE_OK with a reply frame, or the
 * transport error after the last attempt. @reply (NULL unless st == OSTORE_OK) is owned
 * by the callee, which frees it with nng_msg_free. Runs on an nng thread; must not block.
 */
typedef void (*oc_req_fn)(void *arg, int st, nng_msg *reply);

/** One request engine: a context and its aio, reused through the handle's pool. */
typedef struct oc_op oc_op;
struct oc_op {
	ostore_client *c;
	oc_op *next_free; /* pool link, under c->mu */
	nng_ctx ctx;
	nng_aio *aio;
	/* the request in progress */
	os_buf frame;       /* the encoded frame, re-sent unchanged on every attempt */
	uint32_t attempts;  /* attempts made so far */
	uint64_t deadline;  /* os_now_ns() deadline of the current attempt */
	bool sending;       /* state: SEND pending (else RECV pending) */
	oc_req_fn done;
	void *arg;
};

struct ostore_client {
	nng_socket sock;
	uint64_t client_id;
	uint32_t timeout_ms;
	uint32_t retries;
	uint32_t max_value;
	uint32_t max_inflight;
	os_read_bound read_bound; /* replica reads; {0, 0} = off (GETs go to primaries) */
	size_t frame_max; /* largest frame sent (and received) */

	_Atomic uint64_t seq;         /* last write sequence number handed out */
	_Atomic uint32_t inflight;    /* admitted requests whose result is not delivered */
	_Atomic bool ever_connected;  /* a router pipe was added at least once */
	_Atomic int npipes;           /* router pipes connected now */
	_Atomic bool closing;         /* ostore_close started: refuse new requests */

	pthread_mutex_t mu;   /* guards: free list, active, all_ops */
	pthread_cond_t idle;  /* signalled when active drops to 0 */
	uint32_t active;      /* engines out of the pool (callbacks may still run) */
	oc_op *free_ops;      /* pool */
	oc_op **all_ops;      /* every engine ever created, freed at close */
	size_t nall, capall;
};

/**
 * oc_req_start - send the frame in @frame (taken over in every case: on success the
 * engine owns it, on failure it is freed) and call @done once with the reply.
 * Returns OSTORE_OK (done will run exactly once), OSTORE_ECLOSED, OSTORE_EOVERLOAD,
 * OSTORE_ENOMEM (done never runs).
 */
int oc_req_start(ostore_client *c, os_buf *frame, oc_req_fn done, void *arg);

/* client.c: pool of engines. */
/** oc_op_get - take an engine from the pool or make one. NULL on OOM / nng failure. */
oc_op *oc_op_get(ostore_client *c);
/** oc_op_put - give @op back; the last touch of @op and @c by the engine. */
void oc_op_put(oc_op *op);

/* op.c: the engine's aio callback. */
void oc_op_cb(void *arg);

/**
 * oc_frame_begin - start a request frame of @kind with @count items and header @flags
 * (OS_HDR_F_*) into @b (reset). Returns OSTORE_OK or OSTORE_ENOMEM.
 */
int oc_frame_begin(ostore_client *c, os_buf *b, uint8_t kind, uint16_t count, uint8_t flags);

/**
 * oc_reply_check - decode the header of @reply for a request of @kind. On success *h is
 * the header and *body / *body_len the body. Returns OSTORE_OK, or OSTORE_EPROTO /
 * OSTORE_EVERSION for a frame that is not a reply to @kind. A non-zero h->status is
 * not an error here: callers apply it.
 */
int oc_reply_check(nng_msg *reply, uint8_t kind, os_hdr *h, const uint8_t **body,
                   size_t *body_len);

/**
 * oc_call - blocking request (sync.c): send @frame (taken over) and wait for the reply.
 * Returns OSTORE_OK with *reply (caller frees with nng_msg_free), or the error.
 * Must not be called from a library callback.
 */
int oc_call(ostore_client *c, os_buf *frame, nng_msg **reply);

#endif /* OC_CLIENT_IMPL_H */
