/*
 * top.h - what `orderstore top` shows of a node (internal to node/; wire.h "TOP").
 *
 * Per interval of NODE_TOP_INTERVAL_MS: DATA items answered, how many were writes, the
 * DATA frame latency (log-scale histogram, 4 buckets per power of two of microseconds)
 * and the hottest order IDs, counted with the Space-Saving algorithm (Metwally, Agrawal,
 * El Abbadi, "Efficient computation of frequent and top-k elements in data streams",
 * ICDT 2005): NODE_TOP_COUNTERS counters; an ID not tracked takes over the smallest
 * counter, inheriting its count as its error bound, so a reported count is never below
 * the true one and at most err above it, and every ID seen more than items/counters
 * times is tracked. The completed interval is what TOP answers; a quiet node rotates
 * when asked.
 *
 * Thread safety: every function may run on any thread (one mutex, held for a few
 * hundred instructions per DATA frame).
 */
#ifndef NODE_TOP_H
#define NODE_TOP_H

#include <stddef.h>
#include <stdint.h>

#include "handler.h"
#include "node.h"
#include "wire.h"

#define NODE_TOP_INTERVAL_MS 1000u
#define NODE_TOP_COUNTERS 32u

/** node_top_keys - count the IDs of a decoded DATA frame's @n items (@items and the
 *  frame they point into, borrowed for the call) for the hot-key summary. Cannot fail. */
void node_top_keys(const os_item *items, uint16_t n);
/** node_top_record - one answered DATA frame of @n items that took @dur_ns in the node.
 *  Reads only each item's op (the request frame may be gone by then). Cannot fail. */
void node_top_record(const os_item *items, uint16_t n, uint64_t dur_ns);

/** node_top_handle - answer a TOP frame with the last completed interval (up to
 *  NODE_TOP_COUNTERS keys, hottest first). Reply in r->out, always now. */
int node_top_handle(node_env *env, node_req *r, const os_hdr *h, size_t body_len);

#endif /* NODE_TOP_H */
