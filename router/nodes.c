/*
 * nodes.c - node connections and the pool of forwarded calls.
 *
 *   rt_call_start ──▶ node READY?  ──yes──▶ ctx send ──▶ ctx recv ──▶ done(OK, reply)
 *                     │                        │timeout/error   │timeout/error
 *                     no (NEW: socket not      └───────────────▶┴──▶ done(EUNAVAIL)
 *                     open yet) ──▶ pending queue ──▶ connection thread opens the
 *                                                    socket, then launches the queue
 *
 * Design:
 *  - One REQ socket per node; RECVMAXSZ set, REQ resend disabled (the call has its own
 *    timeout and writes carry request IDs), dialled with NNG_FLAG_NONBLOCK so a node that
 *    is down never blocks us: nng keeps reconnecting in the background and the calls time
 *    out meanwhile.
 *  - Sockets are opened and closed only by the connection thread (nng callbacks must not
 *    open or close sockets, library-facts). rt_nodes_sync() runs anywhere (it is called
 *    when a map is installed, often from a callback) and only queues work for it.
 *  - A call is an nng_ctx + nng_aio + the caller's completion. Calls live in a per-node
 *    free list, created on demand up to max_calls per node (then OSTORE_EOVERLOAD). A
 *    call is returned to the pool before its completion runs, so the completion can start
 *    the next call on the same node without growing the pool.
 *  - A node whose address changes gets a new record; the old one is retired: its socket
 *    is closed (ending its calls with OSTORE_EUNAVAIL) and the record is kept until
 *    rt_nodes_destroy(), so a callback never sees freed memory. Address changes are rare
 *    (operator actions), so the kept records stay few.
 *  - Stalled nodes (opts.stall_ms > 0), so that one node that stops answering (SIGSTOP,
 *    a hung disk, a dead host) cannot hold the router's contexts, and with them the
 *    requests for every other shard, for whole call timeouts:
 *
 *      OK ──calls out, no reply for stall_ms──▶ SUSPECT: send a PING
 *       ▲                                          │ no answer within max(stall_ms, 1 s)
 *       │ any reply (PING included)                ▼
 *       └──────────────────────────────────── STALLED: abort its calls (EUNAVAIL now),
 *                                                refuse new ones (EUNAVAIL), PING every
 *                                                stall_ms until one is answered
 *
 *    The PING keeps a node that is merely slow (a long disk sync, writes waiting for a
 *    replica's ack) from being declared stalled: it answers from a free context. The
 *    connection thread runs the checks every stall_ms / 4 (timed wait on its condition
 *    variable); probes are calls of the node's pool beyond max_calls (at most one).
 *  - max_calls (the per-node cap) refuses with OSTORE_EOVERLOAD only while the node has
 *    not replied for stall_ms / 4 (always with the detector off), so it bounds what a
 *    node that went silent holds before the detector fires, not a healthy burst.
 *  - Metrics: a call counts as in flight from its send to its completion (rt_metrics.h);
 *    refusals (overload, stalled), stalls and the stalled state per node too.
 *  - One mutex (ns->mtx) guards the table, the pools and the queues; it is held only for
 *    list operations, never across an nng call that can wait.
 */
#include "nodes.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/protocol/reqrep0/req.h>

#include "buf.h"
#include "frame.h"
#include "log.h"
#include "rt_metrics.h"
#include "util.h"
#include "wire.h"

enum { NODE_NEW, NODE_READY, NODE_FAILED, NODE_RETIRED };
enum { HEALTH_OK, HEALTH_SUSPECT, HEALTH_STALLED };
enum { PH_IDLE, PH_SEND, PH_RECV };
/* Shortest wait for a stall-detector PING's answer, ms (probe_timeout_ms). */
enum { RT_PROBE_MIN_MS = 1000 };

typedef struct rt_node rt_node;

typedef struct rt_call {
	rt_nodes *ns;
	rt_node *node;
	nng_ctx ctx;
	bool has_ctx;
	nng_aio *aio;
	int phase;
	uint64_t deadline_ns;
	rt_call_fn done;
	void *arg;
	bool probe;               /* a PING of the stall detector */
	nng_msg *req;             /* while pending */
	struct rt_call *next;     /* free list or pending queue */
	struct rt_call *all_next; /* every call ever created */
} rt_call;

struct rt_node {
	uint16_t id;
	char *addr;
	int state;
	bool has_sock;
	bool queued_close;
	nng_socket sock;
	rt_call *free_calls;
	rt_call *pend_head, *pend_tail;
	unsigned ncalls;
	unsigned inflight;        /* calls taken from the pool and not released */
	int health;               /* HEALTH_*, stall detector */
	bool probing;             /* a probe is out */
	uint64_t progress_ns;     /* last reply, or when inflight went 0 -> 1 */
	rt_node *all_next;
	rt_node *work_next;
};

struct rt_nodes {
	rt_nodes_opts o;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	pthread_t thr;
	bool thr_started;
	bool stopping;
	rt_node *by_id[OS_MAP_MAX_IDS];
	rt_node *all;
	rt_node *to_open, *to_close;
	rt_call *all_calls;
};

static void call_cb(void *arg);

/* Detach the pending queue of @n; caller holds ns->mtx. */
static rt_call *take_pending_locked(rt_node *n)
{
	rt_call *p = n->pend_head;
	n->pend_head = n->pend_tail = NULL;
	return p;
}

/* Give a call back to its node's pool (or leave it idle on a dead node). @answered: the
 * node replied (progress for the stall detector, which it also ends). */
static void call_release(rt_call *c, bool answered)
{
	rt_nodes *ns = c->ns;
	rt_node *n = c->node;
	pthread_mutex_lock(&ns->mtx);
	c->phase = PH_IDLE;
	c->done = NULL;
	c->arg = NULL;
	n->inflight--;
	if (c->probe)
		n->probing = false;
	c->probe = false;
	if (answered) {
		n->progress_ns = os_now_ns();
		if (n->health == HEALTH_STALLED) {
			OS_INFO("msg=\"node answers again\" node=%u", n->id);
			rt_metrics_node_stalled(n->id, false);
		}
		n->health = HEALTH_OK;
	}
	if (!ns->stopping && c->node->state == NODE_READY) {
		c->next = c->node->free_calls;
		c->node->free_calls = c;
	}
	pthread_mutex_unlock(&ns->mtx);
}

/* End a call: release it, then run the caller's completion. */
static void call_finish(rt_call *c, int st, nng_msg *reply)
{
	rt_call_fn done = c->done;
	void *arg = c->arg;
	call_release(c, st == OSTORE_OK);
	done(arg, st, reply);
}

/* Fail calls that never got sent (their request is still attached). */
static void fail_pending(rt_call *p)
{
	while (p != NULL) {
		rt_call *next = p->next;
		if (p->req != NULL) {
			nng_msg_free(p->req);
			p->req = NULL;
		}
		call_finish(p, OSTORE_EUNAVAIL, NULL);
		p = next;
	}
}

/*
 * The time a call may take: the router's --timeout-ms, but no more than three quarters of
 * the deadline the client carried in the frame header (timeout_ms, 0 = none), so that a
 * down node is answered "unavailable" by the router before the client gives up on the
 * whole request and reports a bare timeout.
 */
static uint32_t call_timeout_ms(const rt_nodes *ns, nng_msg *req)
{
	uint32_t t = ns->o.timeout_ms;
	if (nng_msg_len(req) >= OS_HDR_SIZE) {
		uint32_t client_ms = os_ld32((const uint8_t *)nng_msg_body(req) + 8);
		uint32_t bound = client_ms / 4 * 3;
		if (client_ms != 0 && bound < t)
			t = bound > 0 ? bound : 1;
	}
	return t;
}

/* Send a call's request; the node is READY (its socket exists). Runs outside the lock. */
/* How long a stall-detector PING may take: stall_ms, but at least RT_PROBE_MIN_MS, so a
 * node that is only starved of CPU or still connecting (a new TLS handshake) is not
 * declared stalled; the per-node cap bounds what a silent node holds meanwhile. */
static uint32_t probe_timeout_ms(const rt_nodes *ns)
{
	return ns->o.stall_ms > RT_PROBE_MIN_MS ? ns->o.stall_ms : RT_PROBE_MIN_MS;
}

static void call_launch(rt_call *c)
{
	rt_nodes *ns = c->ns;
	if (!c->has_ctx) {
		if (nng_ctx_open(&c->ctx, c->node->sock) != 0) {
			nng_msg_free(c->req);
			c->req = NULL;
			call_finish(c, OSTORE_EUNAVAIL, NULL);
			return;
		}
		c->has_ctx = true;
	}
	if (os_netsec_stamp(ns->o.sec, c->req) != OSTORE_OK) {
		nng_msg_free(c->req);
		c->req = NULL;
		call_finish(c, OSTORE_ENOMEM, NULL);
		return;
	}
	uint32_t timeout_ms = c->probe ? probe_timeout_ms(ns) : call_timeout_ms(ns, c->req);
	c->deadline_ns = os_now_ns() + (uint64_t)timeout_ms * 1000000u;
	c->phase = PH_SEND;
	rt_metrics_call_start(c->node->id);
	nng_aio_set_msg(c->aio, c->req);
	c->req = NULL;
	nng_aio_set_timeout(c->aio, (nng_duration)timeout_ms);
	nng_ctx_send(c->ctx, c->aio);
}

static void launch_all(rt_call *p)
{
	while (p != NULL) {
		rt_call *next = p->next;
		call_launch(p);
		p = next;
	}
}

static void call_cb(void *arg)
{
	rt_call *c = arg;
	int rv = nng_aio_result(c->aio);

	if (c->phase == PH_SEND) {
		if (rv != 0) {
			nng_msg *m = nng_aio_get_msg(c->aio);
			nng_aio_set_msg(c->aio, NULL);
			if (m != NULL)
				nng_msg_free(m);
			rt_metrics_call_end(c->node->id, rv);
			call_finish(c, rv == NNG_ENOMEM ? OSTORE_ENOMEM : OSTORE_EUNAVAIL, NULL);
			return;
		}
		uint64_t now = os_now_ns();
		nng_duration left = 1;
		if (c->deadline_ns > now + 1000000u)
			left = (nng_duration)((c->deadline_ns - now) / 1000000u);
		c->phase = PH_RECV;
		nng_aio_set_timeout(c->aio, left);
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	rt_metrics_call_end(c->node->id, rv);
	if (rv != 0) {
		call_finish(c, rv == NNG_ENOMEM ? OSTORE_ENOMEM : OSTORE_EUNAVAIL, NULL);
		return;
	}
	nng_msg *reply = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	call_finish(c, OSTORE_OK, reply);
}

/* Open and dial the socket of @n (connection thread, no lock held). */
static int node_open(rt_nodes *ns, rt_node *n)
{
	nng_socket s;
	int rv = nng_req0_open(&s);
	if (rv != 0)
		return rv;
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, ns->o.recv_max)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000)) != 0) {
		nng_close(s);
		return rv;
	}
	int st = os_net_dial(s, n->addr, ns->o.sec, NNG_FLAG_NONBLOCK);
	if (st != OSTORE_OK) {
		if (st == OSTORE_EINVAL)
			OS_ERROR("msg=\"node has a tls+tcp:// address but the router has no --tls-* "
			         "files\" addr=%s", n->addr);
		nng_close(s);
		return st == OSTORE_ENOMEM ? NNG_ENOMEM : NNG_EADDRINVAL;
	}
	n->sock = s;
	return 0;
}

/* Take a call of @n's pool (a probe may exceed max_calls by one); caller holds ns->mtx.
 * The cap refuses only while the node is quiet (no reply for stall_ms / 4; always when the
 * detector is off): a node that keeps answering may take a burst of every context, a node
 * that went silent cannot hold more than max_calls of them until the detector ends them.
 * Returns the call, or NULL with *st set (OSTORE_EOVERLOAD, OSTORE_ENOMEM). */
static rt_call *call_take_locked(rt_nodes *ns, rt_node *n, bool probe, int *st)
{
	unsigned busy = n->inflight - (n->probing ? 1u : 0u);
	uint64_t quiet_ns = (uint64_t)ns->o.stall_ms * 250000u;
	if (!probe && busy >= ns->o.max_calls &&
	    (quiet_ns == 0 || os_now_ns() - n->progress_ns >= quiet_ns)) {
		*st = OSTORE_EOVERLOAD;
		return NULL;
	}
	rt_call *c = n->free_calls;
	if (c != NULL) {
		n->free_calls = c->next;
	} else {
		c = calloc(1, sizeof(*c));
		if (c == NULL || nng_aio_alloc(&c->aio, call_cb, c) != 0) {
			free(c);
			*st = OSTORE_ENOMEM;
			return NULL;
		}
		c->ns = ns;
		c->node = n;
		c->all_next = ns->all_calls;
		ns->all_calls = c;
		n->ncalls++;
	}
	if (n->inflight++ == 0)
		n->progress_ns = os_now_ns();
	c->next = NULL;
	c->probe = probe;
	if (probe)
		n->probing = true;
	return c;
}

static void probe_done(void *arg, int st, nng_msg *reply)
{
	(void)arg;
	(void)st;
	if (reply != NULL)
		nng_msg_free(reply); /* call_release has already counted the answer */
}

/* Start a PING of the stall detector to READY node @n; caller holds ns->mtx. Returns the
 * call to launch once the lock is dropped, or NULL (no memory: the next tick retries). */
static rt_call *probe_take_locked(rt_nodes *ns, rt_node *n)
{
	os_hdr h = {.kind = OS_KIND_PING};
	nng_msg *m = rt_msg_frame(&h, NULL, 0);
	int st;
	rt_call *c = m != NULL ? call_take_locked(ns, n, true, &st) : NULL;
	if (c == NULL) {
		if (m != NULL)
			nng_msg_free(m);
		return NULL;
	}
	c->done = probe_done;
	c->arg = n;
	c->req = m;
	return c;
}

/* Declare @n stalled: collect its calls in flight (not the probe) into @abort (room for
 * n->ncalls); caller holds ns->mtx. Returns how many. */
static size_t stall_locked(rt_nodes *ns, rt_node *n, nng_aio **abort)
{
	n->health = HEALTH_STALLED;
	OS_WARN("msg=\"node stalled: no reply, PING unanswered; failing its calls fast\" node=%u "
	        "addr=%s inflight=%u stall_ms=%u",
	        n->id, n->addr, n->inflight, ns->o.stall_ms);
	rt_metrics_node_stalled(n->id, true);
	size_t k = 0;
	if (abort == NULL)
		return 0; /* no memory: the calls end at their own timeouts */
	/* done is set and cleared under ns->mtx: set = taken from the pool, not released */
	for (rt_call *c = ns->all_calls; c != NULL && k < n->ncalls; c = c->all_next)
		if (c->node == n && c->done != NULL && !c->probe)
			abort[k++] = c->aio;
	return k;
}

/*
 * One round of the stall detector (header comment) over the nodes of the map; caller
 * holds ns->mtx, which is dropped and retaken to launch probes and abort calls (nng
 * calls outside our lock: an abort completes the call through call_cb, which locks).
 * An abort can hit a call that completed and was reused meanwhile: the node is stalled
 * by then, so that can only be a probe, which the next round sends again. A call taken
 * but not yet sent is not affected by the abort and ends at its own timeout.
 */
static void health_round_locked(rt_nodes *ns)
{
	uint64_t now = os_now_ns(), stall_ns = (uint64_t)ns->o.stall_ms * 1000000u;
	for (unsigned id = 0; id < OS_MAP_MAX_IDS && !ns->stopping; id++) {
		rt_node *n = ns->by_id[id];
		if (n == NULL || n->state != NODE_READY)
			continue;
		rt_call *probe = NULL;
		nng_aio **abort = NULL;
		size_t nabort = 0;
		unsigned busy = n->inflight - (n->probing ? 1u : 0u);
		if (n->health == HEALTH_OK && busy > 0 && now - n->progress_ns >= stall_ns) {
			n->health = HEALTH_SUSPECT;
			OS_DEBUG("msg=\"node silent, sending a PING\" node=%u inflight=%u", n->id, busy);
			probe = probe_take_locked(ns, n);
		} else if (n->health == HEALTH_SUSPECT && !n->probing) {
			abort = malloc(sizeof(*abort) * (n->ncalls + 1u));
			nabort = stall_locked(ns, n, abort);
		} else if (n->health == HEALTH_STALLED && !n->probing) {
			probe = probe_take_locked(ns, n);
		}
		if (probe == NULL && abort == NULL)
			continue;
		pthread_mutex_unlock(&ns->mtx);
		if (probe != NULL)
			call_launch(probe);
		for (size_t i = 0; i < nabort; i++)
			nng_aio_abort(abort[i], NNG_ECANCELED);
		free(abort);
		pthread_mutex_lock(&ns->mtx);
		now = os_now_ns();
	}
}

/* Wait for connection work, or until the next stall-detector round is due. */
static void conn_wait_locked(rt_nodes *ns, uint64_t *next_round_ns)
{
	if (ns->o.stall_ms == 0) {
		pthread_cond_wait(&ns->cv, &ns->mtx);
		return;
	}
	uint64_t tick_ns = (uint64_t)ns->o.stall_ms * 250000u; /* stall_ms / 4 */
	if (tick_ns < 10000000u)
		tick_ns = 10000000u;
	if (os_now_ns() >= *next_round_ns) {
		health_round_locked(ns);
		*next_round_ns = os_now_ns() + tick_ns;
		return;
	}
	struct timespec ts = os_timespec_at(*next_round_ns);
	pthread_cond_timedwait(&ns->cv, &ns->mtx, &ts);
}

static void *conn_main(void *arg)
{
	rt_nodes *ns = arg;
	uint64_t next_round_ns = 0;
	pthread_mutex_lock(&ns->mtx);
	for (;;) {
		while (!ns->stopping && ns->to_open == NULL && ns->to_close == NULL)
			conn_wait_locked(ns, &next_round_ns);
		if (ns->stopping)
			break;
		if (ns->to_close != NULL) {
			rt_node *n = ns->to_close;
			ns->to_close = n->work_next;
			rt_call *p = take_pending_locked(n);
			bool close_it = n->has_sock;
			n->has_sock = false;
			pthread_mutex_unlock(&ns->mtx);
			OS_INFO("msg=\"node retired\" node=%u addr=%s", n->id, n->addr);
			fail_pending(p);
			if (close_it)
				nng_close(n->sock);
			pthread_mutex_lock(&ns->mtx);
			continue;
		}
		rt_node *n = ns->to_open;
		ns->to_open = n->work_next;
		if (n->state != NODE_NEW)
			continue;
		pthread_mutex_unlock(&ns->mtx);
		int rv = node_open(ns, n);
		if (rv != 0)
			OS_WARN("msg=\"cannot dial node\" node=%u addr=%s err=\"%s\"", n->id, n->addr,
			        nng_strerror(rv));
		else
			OS_INFO("msg=\"dialling node\" node=%u addr=%s", n->id, n->addr);
		pthread_mutex_lock(&ns->mtx);
		rt_call *p = take_pending_locked(n);
		bool close_now = false, launch = false;
		if (rv == 0 && n->state == NODE_NEW) {
			n->has_sock = true;
			n->state = NODE_READY;
			launch = true;
		} else if (rv == 0) {
			close_now = true; /* retired while we were opening it */
		} else if (n->state == NODE_NEW) {
			n->state = NODE_FAILED;
		}
		pthread_mutex_unlock(&ns->mtx);
		if (launch)
			launch_all(p);
		else
			fail_pending(p);
		if (close_now)
			nng_close(n->sock);
		pthread_mutex_lock(&ns->mtx);
	}
	pthread_mutex_unlock(&ns->mtx);
	return NULL;
}

int rt_nodes_create(const rt_nodes_opts *opts, rt_nodes **out)
{
	rt_nodes *ns = calloc(1, sizeof(*ns));
	if (ns == NULL)
		return OSTORE_ENOMEM;
	ns->o = *opts;
	pthread_mutex_init(&ns->mtx, NULL);
	if (os_cond_init_monotonic(&ns->cv) != 0) {
		pthread_mutex_destroy(&ns->mtx);
		free(ns);
		return OSTORE_EINTERNAL;
	}
	if (pthread_create(&ns->thr, NULL, conn_main, ns) != 0) {
		pthread_cond_destroy(&ns->cv);
		pthread_mutex_destroy(&ns->mtx);
		free(ns);
		return OSTORE_EINTERNAL;
	}
	ns->thr_started = true;
	*out = ns;
	return OSTORE_OK;
}

/* Retire @n: caller holds ns->mtx. */
static void retire_locked(rt_nodes *ns, rt_node *n)
{
	if (n->state == NODE_RETIRED)
		return;
	n->state = NODE_RETIRED;
	if (n->health == HEALTH_STALLED) /* a successor record with this id starts OK */
		rt_metrics_node_stalled(n->id, false);
	if (!n->queued_close) {
		n->queued_close = true;
		n->work_next = ns->to_close;
		ns->to_close = n;
	}
}

void rt_nodes_sync(rt_nodes *ns, const os_map *m)
{
	bool keep[OS_MAP_MAX_IDS] = {false};
	pthread_mutex_lock(&ns->mtx);
	if (ns->stopping) {
		pthread_mutex_unlock(&ns->mtx);
		return;
	}
	for (uint16_t i = 0; i < m->nnodes; i++) {
		const os_map_node *mn = &m->nodes[i];
		rt_node *cur = ns->by_id[mn->id];
		keep[mn->id] = true;
		if (cur != NULL && strcmp(cur->addr, mn->addr) == 0)
			continue;
		rt_node *n = calloc(1, sizeof(*n));
		char *addr = strdup(mn->addr);
		if (n == NULL || addr == NULL) {
			/* Keep the old record (if any): calls to this node then fail or go to the
			 * old address until the next map; nothing else can be done without memory. */
			free(n);
			free(addr);
			OS_ERROR("msg=\"out of memory adding node\" node=%u", mn->id);
			continue;
		}
		n->id = mn->id;
		n->addr = addr;
		n->state = NODE_NEW;
		n->all_next = ns->all;
		ns->all = n;
		n->work_next = ns->to_open;
		ns->to_open = n;
		if (cur != NULL)
			retire_locked(ns, cur);
		ns->by_id[mn->id] = n;
	}
	for (unsigned id = 0; id < OS_MAP_MAX_IDS; id++) {
		if (ns->by_id[id] != NULL && !keep[id]) {
			retire_locked(ns, ns->by_id[id]);
			ns->by_id[id] = NULL;
		}
	}
	pthread_cond_broadcast(&ns->cv);
	pthread_mutex_unlock(&ns->mtx);
}

int rt_call_start(rt_nodes *ns, uint16_t node_id, nng_msg *req, rt_call_fn done, void *arg)
{
	pthread_mutex_lock(&ns->mtx);
	if (ns->stopping) {
		pthread_mutex_unlock(&ns->mtx);
		return OSTORE_ECLOSED;
	}
	rt_node *n = node_id < OS_MAP_MAX_IDS ? ns->by_id[node_id] : NULL;
	if (n == NULL || (n->state != NODE_NEW && n->state != NODE_READY)) {
		pthread_mutex_unlock(&ns->mtx);
		return OSTORE_EUNAVAIL;
	}
	if (n->health == HEALTH_STALLED) {
		pthread_mutex_unlock(&ns->mtx);
		rt_metrics_node_refused(node_id, OSTORE_EUNAVAIL);
		return OSTORE_EUNAVAIL;
	}
	int st = OSTORE_OK;
	rt_call *c = call_take_locked(ns, n, false, &st);
	if (c == NULL) {
		pthread_mutex_unlock(&ns->mtx);
		if (st == OSTORE_EOVERLOAD)
			rt_metrics_node_refused(node_id, st);
		return st;
	}
	c->done = done;
	c->arg = arg;
	c->req = req;
	if (n->state == NODE_NEW) {
		if (n->pend_tail != NULL)
			n->pend_tail->next = c;
		else
			n->pend_head = c;
		n->pend_tail = c;
		pthread_mutex_unlock(&ns->mtx);
		return OSTORE_OK;
	}
	pthread_mutex_unlock(&ns->mtx);
	call_launch(c);
	return OSTORE_OK;
}

uint32_t rt_nodes_timeout_ms(const rt_nodes *ns)
{
	return ns->o.timeout_ms;
}

void rt_nodes_close(rt_nodes *ns)
{
	pthread_mutex_lock(&ns->mtx);
	ns->stopping = true;
	pthread_cond_broadcast(&ns->cv);
	pthread_mutex_unlock(&ns->mtx);
	if (ns->thr_started) {
		pthread_join(ns->thr, NULL);
		ns->thr_started = false;
	}
	/* The connection thread is gone: nobody else opens or closes sockets now. */
	pthread_mutex_lock(&ns->mtx);
	rt_call *pend = NULL;
	for (rt_node *n = ns->all; n != NULL; n = n->all_next) {
		rt_call *p = take_pending_locked(n);
		while (p != NULL) {
			rt_call *next = p->next;
			p->next = pend;
			pend = p;
			p = next;
		}
	}
	pthread_mutex_unlock(&ns->mtx);
	fail_pending(pend);
	for (rt_node *n = ns->all; n != NULL; n = n->all_next) {
		if (n->has_sock) {
			n->has_sock = false;
			nng_close(n->sock);
		}
	}
	for (rt_call *c = ns->all_calls; c != NULL; c = c->all_next)
		nng_aio_stop(c->aio);
}

void rt_nodes_destroy(rt_nodes *ns)
{
	if (ns == NULL)
		return;
	rt_call *c = ns->all_calls;
	while (c != NULL) {
		rt_call *next = c->all_next;
		nng_aio_free(c->aio);
		if (c->req != NULL)
			nng_msg_free(c->req);
		free(c);
		c = next;
	}
	rt_node *n = ns->all;
	while (n != NULL) {
		rt_node *next = n->all_next;
		free(n->addr);
		free(n);
		n = next;
	}
	pthread_cond_destroy(&ns->cv);
	pthread_mutex_destroy(&ns->mtx);
	free(ns);
}
