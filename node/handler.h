/*
 * handler.h - decoding and answering one request frame (internal to node/).
 *
 * The transport (server.c) hands each received frame to node_handle(). Frames that only
 * read (GET-only DATA, SCAN, STATS, MAP_GET, PING, MAP_SET with an old or equal map) are
 * answered at once from a short read-only LMDB transaction; frames that write become a
 * node_job for the writer thread (writer.h), answered later through job.done.
 * REPL_PULL is answered at once or parked until new log records exist (repl.h).
 * A frame that cannot be decoded is answered with a status-only reply (EPROTO, EVERSION,
 * EBADOP, EBADID, ETOOBIG) and changes nothing.
 *
 * Thread safety: node_handle() may run on many threads at once, each with its own
 * node_req.
 */
#ifndef NODE_HANDLER_H
#define NODE_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "node.h"
#include "wire.h"
#include "writer.h"

/** Per-request scratch owned by one server context and reused across requests. */
typedef struct node_req {
	os_item *items;    /* decoded DATA items (owned array) */
	size_t items_cap;
	os_log_entry *ents; /* decoded MIG_APPLY entries (owned array) */
	size_t ents_cap;
	os_buf out;        /* immediate replies */
	os_buf scratch;    /* SCAN entries before the cursor is known */
	node_job job;      /* writes; the owner sets job.done once */
	void *park;        /* parked REPL_PULL state (primary_repl.c), NULL until used */
} node_req;

enum {
	NODE_REPLY_NOW = 0,   /* the reply frame is in req->out */
	NODE_REPLY_LATER = 1, /* req->job was queued; job.done delivers the reply in job.reply,
	                         the frame bytes must stay valid until then */
};

/** node_req_init / node_req_fini - empty scratch; fini frees it (job must be idle). */
void node_req_init(node_req *r);
void node_req_fini(node_req *r);

/** node_req_stop - the server is closing: a parked pull of @r will not be answered. */
void node_req_stop(node_req *r);

/** node_log_bad_frame - log a frame answered @status (undecodable) at warn, at most
 *  10 lines per second over all threads. Cannot fail. */
void node_log_bad_frame(int status, uint8_t kind, size_t len);

/**
 * node_handle - answer the frame @p of @len bytes (borrowed).
 * Returns NODE_REPLY_NOW or NODE_REPLY_LATER. Cannot fail otherwise: every error becomes
 * a reply (out of memory answers OSTORE_ENOMEM when even that fits).
 */
int node_handle(node_env *env, node_req *r, const uint8_t *p, size_t len);

#endif /* NODE_HANDLER_H */
