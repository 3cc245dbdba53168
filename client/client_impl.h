/*
 * client_impl.h - internals of liborderstore shared by the files of client/ (private:
 * nothing outside client/ includes it; prefix oc_).
 *
 * Layers, bottom up:
 *   client.c  the handle: options, the one REQ socket dialing every router, the pool of
 *             request engines, admission (max_inflight) and close.
 *   op.c      the request engine: one frame out, one reply in, over an nng_ctx + nng_aio
 *             state machine with per-attempt deadlines and retries of the same bytes.
 *   submit.c  ostore_submit: validate, admit (max_inflight counts callers), coalesce
 *             concurrent callers into shared DATA frames (a window of frames in flight
 *             per lane and connected router), encode, split each reply back to its
 *             callers.
 *   lanes.c   shard lanes: the shard of a caller's items from a cached copy of the
 *             router's map, so that callers share frames only with the same shard.
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
#include "netsec.h"
#include "slot.h"
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
	bool admitted;      /* holds one unit of c->inflight (oc_req_start), dropped at the end */
	oc_req_fn done;
	void *arg;
	void (*on_retry)(void *arg); /* if set: runs once, before the first retry (submit.c) */
};

/** Shard lanes per frame class (lanes.c); shard s uses lane s % OC_SHARD_LANES. */
#define OC_SHARD_LANES 16u
/** Lanes in all: per class (write, read, bounded read) the shard lanes + one mixed lane
 *  (callers whose items span shards, or every caller before the map is known). */
#define OC_NLANES (3u * (OC_SHARD_LANES + 1u))

/** One ostore_submit call waiting in, or sent with, a DATA frame (submit.c). */
typedef struct oc_caller oc_caller;

struct ostore_client {
	nng_socket sock;
	uint64_t client_id;
	uint32_t timeout_ms;
	uint32_t retries;
	uint32_t max_value;
	uint32_t max_inflight;
	os_read_bound read_bound; /* replica reads; {0, 0} = off (GETs go to primaries) */
	size_t frame_max; /* largest frame sent (and received) */
	os_netsec *sec;   /* TLS configurations and the token (NULL: none); fixed at open */
	/* coalescing (submit.c); fixed at open */
	uint32_t co_items;  /* most items in a merged frame; 1 = coalescing off */
	uint32_t co_gets;   /* most GET items in a merged frame (bounds the reply size) */
	size_t co_bytes;    /* most bytes in a merged frame */

	_Atomic uint64_t seq;         /* last write sequence number handed out */
	_Atomic uint32_t inflight;    /* admitted requests whose result is not delivered */
	_Atomic bool ever_connected;  /* a router pipe was added at least once */
	_Atomic int npipes;           /* router pipes connected now */
	_Atomic bool closing;         /* ostore_close started: refuse new requests */

	pthread_mutex_t mu;   /* guards: free list, active, all_ops, the submit queue */
	pthread_cond_t idle;  /* CLOCK_MONOTONIC; signalled when active drops to 0 and when
	                       * a lanes map fetch ends */
	uint32_t active;      /* engines out of the pool (callbacks may still run) */
	oc_caller *q_head, *q_tail; /* callers waiting for a window slot (submit.c) */
	uint32_t lane_out[OC_NLANES]; /* DATA frames holding a window slot, per lane */
	uint32_t lane_q[OC_NLANES];   /* callers of each lane in the queue */
	/* shard lanes (lanes.c), under mu; lane_epoch also read without it */
	uint8_t lane_of_slot[OSTORE_SLOTS]; /* shard lane of each slot */
	_Atomic uint64_t lane_epoch;        /* epoch of the map behind it; 0 = no table yet */
	bool lane_fetching;                 /* a MAP_GET for it is in flight ... */
	oc_op *lane_op;                     /* ... on this engine, once sent (close aborts it) */
	uint64_t lane_retry_ns;             /* after a failed fetch: none before this */
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

/**
 * oc_op_send - send @frame (taken over in every case) on @op, an engine taken with
 * oc_op_get / oc_op_get_locked, and call @done once with the reply. No admission: the
 * caller accounts for c->inflight itself. Returns OSTORE_OK (done will run exactly once)
 * or an error (done never runs, @op is back in the pool).
 */
int oc_op_send(oc_op *op, os_buf *frame, oc_req_fn done, void *arg);

/* client.c: pool of engines. */
/** oc_op_get - take an engine from the pool or make one. NULL on OOM / nng failure. */
oc_op *oc_op_get(ostore_client *c);
/** oc_op_get_locked - oc_op_get with c->mu already held. */
oc_op *oc_op_get_locked(ostore_client *c);
/** oc_op_put - give @op back; the last touch of @op and @c by the engine. */
void oc_op_put(oc_op *op);

/* submit.c */
/** Default and largest items in a merged DATA frame (ostore_options.coalesce_max_items). */
#define OC_COALESCE_ITEMS_DEFAULT 64u
/** Most bytes in a merged DATA frame (a lone caller may still send up to frame_max). */
#define OC_COALESCE_BYTES (256u * 1024u)
/** DATA frames in flight per connected router before callers queue (the window; a
 *  build may override it with -DOC_COALESCE_WINDOW_PER_ROUTER=N to measure others). */
#ifndef OC_COALESCE_WINDOW_PER_ROUTER
#define OC_COALESCE_WINDOW_PER_ROUTER 4u
#endif
/** DATA frames in flight per shard lane and connected router: one frame per shard at a
 *  time gathers everything that queued for that shard while it was out. */
#ifndef OC_LANE_WINDOW_PER_ROUTER
#define OC_LANE_WINDOW_PER_ROUTER 1u
#endif
/** oc_coalesce_setup - fill c->co_* from @o (after c->max_value is set). Cannot fail. */
void oc_coalesce_setup(ostore_client *c, const ostore_options *o);

/** oc_in_callback - whether this thread is running an ostore_done_fn of the library
 *  (the blocking calls refuse to run there: they would wait for the frame whose
 *  callbacks are running, which holds its lane's window slot until they return). */
bool oc_in_callback(void);

/* lanes.c */
/**
 * oc_lane_of_locked - the lane of a caller with @n @items of frame class @cls (OC_CLS_*):
 * its shard's lane when all items map to one shard lane in the cached table, else the
 * class's mixed lane (also with no table yet, or more than co_items items). c->mu held.
 */
uint8_t oc_lane_of_locked(const ostore_client *c, const ostore_item *items, size_t n,
                          uint8_t cls);
/** oc_lane_window - frames @lane may have in flight now (grows with connected routers). */
uint32_t oc_lane_window(const ostore_client *c, uint8_t lane);
/**
 * oc_lanes_note_epoch - a reply showed map @epoch (0: "none known", from a submit):
 * start one asynchronous MAP_GET if the table is missing or older and none is in flight
 * (never with coalescing off: no lanes then).
 * Call without c->mu. Failures only delay the next fetch (OC_LANES_RETRY_MS).
 */
void oc_lanes_note_epoch(ostore_client *c, uint64_t epoch);
/**
 * oc_lanes_close_locked - ostore_close: let a MAP_GET in flight end on its own for up to
 * OC_LANES_CLOSE_GRACE_MS (at most timeout_ms; not at all with no router connected), then
 * abort it (OSTORE_ECLOSED), so that closing never waits long for a fetch nobody asked
 * for. Why wait at all: aborted, its reply still arrives, and nng 1.5.2 can hang for
 * good in nng_close when a reply comes in as the socket closes (nng issues #1543 and
 * #1813, fixed upstream after 1.7); the fetch starts before the caller's request, so it
 * is nearly always answered by then. c->mu held (released while waiting).
 */
void oc_lanes_close_locked(ostore_client *c);

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
