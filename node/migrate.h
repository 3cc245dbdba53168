/*
 * migrate.h - the node side of online slot migration (internal to node/; wire.h "Slot
 * migration", docs/protocol.md "Slot migration").
 *
 *   MIG_FREEZE ─▶ migrate.c: decode, epoch ─▶ QUERY: reply now from the frozen set
 *                                           └ FREEZE / UNFREEZE ─▶ writer job (alone)
 *   MIG_SNAP   ─▶ migrate.c: decode, epoch, cluster ─▶ snapshot.c session (range only)
 *   MIG_LOG    ─▶ migrate.c: read txn, the range's records after from_lsn ─▶ reply now
 *   MIG_APPLY / MIG_PURGE ─▶ migrate.c: decode, epoch ─▶ writer job (mig_writer.c)
 *                            ─▶ commit ─▶ node_repl_job_done (replica acks) ─▶ reply
 *
 * The frozen-slot set lives in the writer (writer_int.h) and in the LMDB meta record
 * "frozen"; a write to a frozen slot the node owns answers OSTORE_EMIGRATING.
 *
 * Thread safety: node_mig_handle on nng callback threads (many at once, each with its
 * own node_req); node_mig_frozen_view from any thread.
 */
#ifndef NODE_MIGRATE_H
#define NODE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "handler.h"
#include "node.h"
#include "wire.h"

/** Log records a MIG_LOG examines at most when the request says 0. */
#define NODE_MIG_SCAN_DEFAULT 20000u
/** Largest source version MIG_APPLY accepts (a JUMP can never exhaust the LSN space). */
#define NODE_MIG_VERSION_MAX (1ull << 62)
/** Migration snapshot sessions open at once at most (the others are for replicas). */
#define NODE_MIG_SESSIONS 4u
/* The "frozen" meta record (mig_writer.c): the bitmap, then one u64 LSN per slot. Its
 * size is checked at start (check.c). */
#define NODE_MIG_FROZEN_NAME "frozen"
#define NODE_MIG_FROZEN_SIZE (OS_MIG_BITMAP_SIZE + 8u * OSTORE_SLOTS)

/**
 * node_mig_handle - answer a MIG_SNAP / MIG_LOG / MIG_FREEZE / MIG_APPLY / MIG_PURGE
 * frame @h with body @body (@len bytes, borrowed; for NODE_REPLY_LATER it must stay valid
 * until job.done). @frame_len is the whole frame's size (logging, batch limits).
 * Returns NODE_REPLY_NOW (reply in r->out) or NODE_REPLY_LATER (r->job queued; the reply
 * comes in r->job.reply through job.done). Cannot fail otherwise: every error, including
 * a frame that cannot be decoded, becomes a status reply with its cause logged.
 */
int node_mig_handle(node_env *env, node_req *r, const os_hdr *h, const uint8_t *body,
                    size_t len, size_t frame_len);

/**
 * node_mig_frozen_view - a consistent look at the frozen-slot set of @w: the whole
 * bitmap into @bitmap (OS_MIG_BITMAP_SIZE bytes, may be NULL); into *@range_lsn (may be
 * NULL) the newest freeze LSN of the slots [@begin, @end) when every one of them is
 * frozen, else 0; into *@count (may be NULL) the number of frozen slots. Any thread.
 * Cannot fail.
 */
void node_mig_frozen_view(node_writer *w, uint8_t *bitmap, uint16_t begin, uint16_t end,
                          uint64_t *range_lsn, uint32_t *count);

#endif /* NODE_MIGRATE_H */
