/*
 * server.h - the node's nng REP socket and its context state machines (internal).
 *
 * Thread safety: create/stop/destroy from the main thread only; everything else runs on
 * nng's callback threads and the writer thread.
 */
#ifndef NODE_SERVER_H
#define NODE_SERVER_H

#include <stddef.h>

#include "node.h"

typedef struct node_server node_server;

typedef struct node_server_opts {
	const char *url;    /* listen address, e.g. tcp://127.0.0.1:7101 */
	unsigned contexts;  /* nng contexts (concurrent requests), >= 1 */
	size_t recv_max;    /* NNG_OPT_RECVMAXSZ, bytes */
	unsigned max_conns; /* connections open at once, 0 = no limit */
} node_server_opts;

/**
 * node_server_create - open the REP socket, set NNG_OPT_RECVMAXSZ, listen on @o->url and
 * start @o->contexts receive loops. @env is borrowed and must outlive the server.
 * Returns OSTORE_OK (*@out set), OSTORE_ECONNECT (bad URL / address in use; logged),
 * OSTORE_ENOMEM, OSTORE_EIO.
 */
int node_server_create(node_env *env, const node_server_opts *o, node_server **out);
/** node_server_stop_accepting - close the listener (no new connections). Idempotent. */
void node_server_stop_accepting(node_server *s);
/**
 * node_server_drain - wait up to @timeout_ms until no context is handling a request or
 * sending a reply (call after node_writer_stop so queued writes have been answered).
 * Returns the number of contexts still busy (0 = drained).
 */
unsigned node_server_drain(node_server *s, int timeout_ms);
/** node_server_destroy - close the socket, stop every context, free. NULL is ignored.
 *  If nng_close() hangs (an nng 1.5.2 bug) for 3 s, the server is left allocated for the
 *  process exit that follows; no callback touches the node after this returns. */
void node_server_destroy(node_server *s);

#endif /* NODE_SERVER_H */
