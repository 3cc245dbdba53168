/*
 * nodes.h - the router's connections to the nodes and its pool of forwarded calls.
 *
 * One REQ socket per node of the cluster map (dialled without blocking) and, per node, a
 * pool of calls (nng_ctx + nng_aio). A call sends one frame to one node and hands the
 * reply, or the reason there is none, to a completion function. Every call carries the
 * router's per-call timeout, so a node that is down or silent costs at most that long.
 */
#ifndef RT_NODES_H
#define RT_NODES_H

#include <stdint.h>

#include <nng/nng.h>

#include "map.h"
#include "netsec.h"

typedef struct rt_nodes rt_nodes;

/** Options of rt_nodes_create(). */
typedef struct rt_nodes_opts {
	uint32_t timeout_ms;     /* per call, send + receive, > 0 */
	size_t recv_max;         /* NNG_OPT_RECVMAXSZ of every node socket */
	unsigned max_calls;      /* calls in flight per node while it is quiet (> 0), below */
	uint32_t stall_ms;       /* stalled-node detector, ms (0 = off): see rt_call_start */
	const os_netsec *sec;    /* TLS and the credential put on every call (NULL: none);
	                          * borrowed, outlives the rt_nodes */
} rt_nodes_opts;

/**
 * Completion of a call. @st is OSTORE_OK with @reply the node's reply frame (owned by the
 * callee from now on: free it with nng_msg_free when done), or OSTORE_EUNAVAIL (no answer
 * within the timeout, connection failed, socket closed) / OSTORE_ENOMEM with @reply NULL.
 * Runs on an nng thread or the router's connection thread; it must not block. It may
 * start further calls.
 */
typedef void (*rt_call_fn)(void *arg, int st, nng_msg *reply);

/**
 * rt_nodes_create - an empty node table and its connection thread (which opens and
 * closes sockets, so that no nng callback ever does).
 * Returns OSTORE_OK with *out set, or OSTORE_ENOMEM / OSTORE_EINTERNAL (thread).
 */
int rt_nodes_create(const rt_nodes_opts *opts, rt_nodes **out);

/**
 * rt_nodes_sync - make the node table follow @m: nodes that are new or whose address
 * changed get a new connection (opened by the connection thread; calls started before it
 * is ready wait for it), replaced or vanished nodes are retired (their socket is closed,
 * which ends their calls with OSTORE_EUNAVAIL). @m is only read during the call.
 * Never blocks (safe in callbacks). Thread-safe. Cannot fail: a node whose connection
 * cannot be set up answers its calls with OSTORE_EUNAVAIL.
 */
void rt_nodes_sync(rt_nodes *ns, const os_map *m);

/**
 * rt_call_start - send @req to node @node_id; @done runs exactly once, usually later on
 * another thread, but possibly before rt_call_start returns (so the caller must not touch
 * state that @done may free after a successful start).
 * Ownership of @req passes to the call on success; on failure it stays the caller's and
 * @done never runs.
 * Returns OSTORE_OK, OSTORE_EUNAVAIL (node not in the map, its address unusable, or the
 * node is stalled, below), OSTORE_EOVERLOAD (max_calls already in flight to that node and
 * no reply from it for stall_ms / 4, or at all when stall_ms is 0), OSTORE_ENOMEM,
 * OSTORE_ECLOSED (shutting down). Never blocks. Thread-safe.
 *
 * Stalled nodes (stall_ms > 0): a node with calls outstanding and no reply for stall_ms
 * is sent a PING; when that gets no answer within stall_ms either, the node is stalled:
 * its outstanding calls end at once with OSTORE_EUNAVAIL, new calls are refused with
 * OSTORE_EUNAVAIL, and a PING goes out every stall_ms until one is answered.
 */
int rt_call_start(rt_nodes *ns, uint16_t node_id, nng_msg *req, rt_call_fn done, void *arg);

/** rt_nodes_timeout_ms - the per-call timeout. Thread-safe. */
uint32_t rt_nodes_timeout_ms(const rt_nodes *ns);

/**
 * rt_nodes_close - refuse new calls (OSTORE_ECLOSED), stop the connection thread, close
 * every node socket and wait until every call has completed. Blocks: call it from the
 * main thread only, once.
 */
void rt_nodes_close(rt_nodes *ns);

/** rt_nodes_destroy - free everything; rt_nodes_close() must have run. NULL is ignored. */
void rt_nodes_destroy(rt_nodes *ns);

#endif /* RT_NODES_H */
