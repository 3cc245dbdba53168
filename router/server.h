/*
 * server.h - the client-facing side of the router: a REP socket with many contexts, and
 * the request object that the request handlers (data.c, scan.c, stats.c) complete.
 */
#ifndef RT_SERVER_H
#define RT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "mapstate.h"
#include "nodes.h"
#include "readsel.h"
#include "wire.h"

/** What every handler needs: shared, read-only after start. */
typedef struct rt_env {
	rt_maps *maps;
	rt_nodes *nodes;
	rt_readsel *reads;  /* replica choice for bounded reads (thread-safe) */
	uint32_t max_value; /* largest value accepted in a DATA item */
	const os_netsec *sec; /* TLS and accepted tokens (NULL: plain, no credentials) */
} rt_env;

/**
 * One client request in flight. The header and body stay valid (they point into the
 * received message) until rt_req_reply() is called.
 */
typedef struct rt_req {
	const rt_env *env;
	os_hdr hdr;
	const uint8_t *body;
	size_t body_len;
	void *owner; /* the server context; private to server.c */
	uint64_t t0_ns; /* os_now_ns() when the request arrived (metrics) */
	bool counted;   /* a handler accounted it already (DATA: per item, data.c) */
} rt_req;

/**
 * Completion of rt_req_sleep(): @st is OSTORE_OK when the time passed, or OSTORE_ECLOSED
 * when the router is shutting down (the timer was stopped): the request must then be
 * ended at once, without sleeping again.
 */
typedef void (*rt_sleep_fn)(void *arg, int st);

/**
 * rt_req_sleep - run @fn(@arg, ...) once, on an nng thread, after @ms milliseconds, with
 * the timer of @r's server context (one per context, so at most one sleep per request at
 * a time). The request stays open meanwhile; @fn usually goes on with it. Never blocks
 * (no thread sleeps: nng_sleep_aio). Cannot fail: @fn always runs exactly once.
 */
void rt_req_sleep(rt_req *r, uint32_t ms, rt_sleep_fn fn, void *arg);

/**
 * rt_req_reply - send @reply (ownership passes here, also on failure) as the answer to
 * @r and end the request: @r and its body must not be used afterwards. @reply NULL means
 * "out of memory while building it": a status-only OSTORE_ENOMEM reply is tried instead.
 * Exactly once per request. Never blocks. Thread-safe (any thread).
 */
void rt_req_reply(rt_req *r, nng_msg *reply);

/**
 * rt_req_reply_status - answer @r with a status-only frame (os_reply_status, count 0,
 * the router's epoch) and end the request, as rt_req_reply().
 */
void rt_req_reply_status(rt_req *r, uint16_t status);

/**
 * rt_reply_hdr - a reply header for @r: kind of the request with the reply bit, @status,
 * @count, the router's current epoch, the client's ID echoed. Cannot fail.
 */
os_hdr rt_reply_hdr(const rt_req *r, uint16_t status, uint16_t count);

typedef struct rt_server rt_server;

/** Options of rt_server_create(). */
typedef struct rt_server_opts {
	const char *listen;  /* nng URL, read during rt_server_create only */
	unsigned contexts;   /* REP contexts, >= 1 */
	size_t recv_max;     /* NNG_OPT_RECVMAXSZ of the client socket */
	unsigned max_conns;  /* client connections open at once, 0 = no limit */
} rt_server_opts;

/**
 * rt_server_create - open the REP socket, set its limits, listen on @opts->listen and
 * start every context receiving. @env is borrowed and must outlive the server.
 * Returns OSTORE_OK with *out set, OSTORE_ECONNECT (cannot listen: message logged),
 * OSTORE_ENOMEM, or another status translated from nng. On failure nothing is left open.
 * Call from the main thread.
 */
int rt_server_create(const rt_server_opts *opts, const rt_env *env, rt_server **out);

/**
 * rt_server_close - stop serving: close the socket (contexts end their receive). Requests
 * in flight still finish (their replies are dropped). Main thread, once.
 */
void rt_server_close(rt_server *s);

/**
 * rt_server_destroy - stop the contexts' timers (a request still sleeping in
 * rt_req_sleep() is woken with OSTORE_ECLOSED and ends), wait for every context's
 * callback to end and free the server. Call after rt_server_close() and after
 * rt_nodes_close() (so no handler is still running). NULL is ignored.
 */
void rt_server_destroy(rt_server *s);

/* Handlers, one per module; each ends the request exactly once with rt_req_reply*. */
/** rt_data_handle - DATA: split by shard, forward, merge (data.c). */
void rt_data_handle(rt_req *r);
/** rt_scan_handle - SCAN: one page from the owner of the cursor's slot run (scan.c). */
void rt_scan_handle(rt_req *r);
/** rt_stats_handle - STATS: one entry per shard (stats.c). */
void rt_stats_handle(rt_req *r);

#endif /* RT_SERVER_H */
