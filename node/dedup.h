/*
 * dedup.h - the node's table of recent write request IDs (internal to node/).
 *
 * A request ID is (client_id from the frame header, seq of the item); seq 0 means "no
 * request ID" and is never stored. The table maps a request ID to the first result of
 * that write (status and version), so a write that a REQ socket resends (timer or
 * reconnect) is applied once and answers its first result.
 *
 * Window: the table holds NODE_DEDUP_ENTRIES (1 << 17) entries. A request ID hashes to a
 * neighbourhood of NODE_DEDUP_PROBE consecutive entries; inserting into a full
 * neighbourhood overwrites its oldest entry. In practice a request ID is remembered for
 * roughly the last 100,000 write requests (at least NODE_DEDUP_PROBE writes, about 2^17
 * on average once the table is full). A retry that arrives after its ID left the window
 * is applied again. The table lives in memory only: a restarted node forgets it.
 *
 * Thread safety: none. The table is owned by the writer thread (writer.c).
 */
#ifndef NODE_DEDUP_H
#define NODE_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#define NODE_DEDUP_ENTRIES (1u << 17)
#define NODE_DEDUP_PROBE 8u

typedef struct node_dedup node_dedup;

/** The remembered first result of a write. */
typedef struct node_dedup_result {
	uint16_t status;
	uint64_t version;
} node_dedup_result;

/** node_dedup_create - an empty table (about 4 MiB). NULL on out of memory. */
node_dedup *node_dedup_create(void);
/** node_dedup_destroy - free the table; NULL is ignored. */
void node_dedup_destroy(node_dedup *d);
/**
 * node_dedup_lookup - the first result of request (@client_id, @seq), if remembered.
 * Returns true and fills *@out when found; false otherwise (also for seq 0). Cannot fail.
 */
bool node_dedup_lookup(const node_dedup *d, uint64_t client_id, uint64_t seq,
                       node_dedup_result *out);
/**
 * node_dedup_insert - remember @res as the first result of (@client_id, @seq), replacing
 * the oldest entry of the neighbourhood when it is full. seq 0 is ignored. Cannot fail.
 */
void node_dedup_insert(node_dedup *d, uint64_t client_id, uint64_t seq,
                       const node_dedup_result *res);

#endif /* NODE_DEDUP_H */
