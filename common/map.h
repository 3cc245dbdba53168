/*
 * map.h - the cluster map (internal).
 *
 * The map says, for one epoch: which shard owns each of the 4096 slots, which node is the
 * primary of each shard and which are its replicas, and each node's address. The epoch
 * only grows; everywhere (nodes, routers, clients, tools) the highest epoch wins. Nodes
 * store the newest map they have seen in LMDB; routers cache it and refresh it from the
 * nodes when a node answers "moved" or carries a newer epoch.
 *
 * Two encodings, both produced and checked here only:
 *  - binary blob (wire MAP_GET/MAP_SET and the node's LMDB meta record), little-endian:
 *      u32 magic 0x50414D4F ("OMAP")  u16 format (2)  u16 nnodes  u16 nshards  u16 pad
 *      u64 epoch  u64 cluster_id
 *      nnodes x { u16 node_id  u16 addr_len  addr[addr_len] }
 *      nshards x { u16 shard_id  u16 primary  u16 nreplicas  u16 replicas[nreplicas]
 *                  u16 weight }                          (format 1: no weight field)
 *      4096 x u16 shard_id (slot table)
 *    os_map_encode writes format 2; os_map_decode reads 1 (every weight 1) and 2.
 *  - JSON (files such as DIR/map.json and `orderstore map` output):
 *      {"cluster_id": "hex16", "epoch": 1,
 *       "nodes":  [{"id": 0, "addr": "tcp://127.0.0.1:7101"}, ...],
 *       "shards": [{"id": 0, "primary": 0, "replicas": [1], "weight": 1}, ...],
 *       "slots":  [[first, last, shard], ...]}      (inclusive ranges covering 0..4095)
 *    "weight" is optional when reading (default 1) and always written.
 *
 * Shard weights: the share of the 4096 slots a shard should own, relative to the other
 * shards' weights (tools/rebalance_plan.h turns them into slot targets). 0 means
 * "draining": the shard should own no slot (remove-shard). The weight is advice for the
 * rebalance tool only: ownership is always the slot table, whatever the weights say.
 *
 * Validation (os_map_check, applied by both decoders): epoch <= OS_MAP_EPOCH_MAX (JSON
 * integers are signed 64-bit), at least one shard and node, ids
 * unique, shard and node ids < OS_MAP_MAX_IDS, every slot's shard exists, every shard's
 * primary and replicas are known nodes, no node twice in one shard, addresses 1..255
 * bytes of printable ASCII (0x20..0x7E). A map that fails is refused whole with OSTORE_EPROTO (blob) / OSTORE_EINVAL (JSON).
 *
 * Thread safety: a map is immutable once built; share it read-only between threads and
 * keep it alive by refcount (os_map_ref / os_map_unref are atomic).
 */
#ifndef OS_MAP_H
#define OS_MAP_H

#include <stddef.h>
#include <stdint.h>

#include <orderstore.h>

#include "buf.h"

#define OS_MAP_MAGIC 0x50414D4Fu
#define OS_MAP_FORMAT 2u        /* written; format 1 (no weights) is still read */
#define OS_MAP_FORMAT_V1 1u
#define OS_MAP_WEIGHT_DEFAULT 1u
#define OS_MAP_MAX_IDS 1024u     /* node and shard IDs are < this */
#define OS_MAP_MAX_REPLICAS 8u
#define OS_MAP_EPOCH_MAX ((uint64_t)INT64_MAX) /* the largest epoch JSON can carry */
#define OS_NODE_NONE 0xFFFFu     /* "no node" in a shard's primary field */

typedef struct os_map_node {
	uint16_t id;
	char *addr; /* owned, NUL-terminated nng URL */
} os_map_node;

typedef struct os_map_shard {
	uint16_t id;
	uint16_t primary; /* node id, or OS_NODE_NONE */
	uint16_t nreplicas;
	uint16_t replicas[OS_MAP_MAX_REPLICAS];
	uint16_t weight; /* relative share of the slots; 0 = draining (no slots wanted) */
} os_map_shard;

typedef struct os_map {
	int refs; /* atomic; 1 after create/decode */
	uint64_t epoch;
	uint64_t cluster_id;
	uint16_t nnodes, nshards;
	os_map_node *nodes;   /* nnodes, sorted by id */
	os_map_shard *shards; /* nshards, sorted by id */
	uint16_t slot_shard[OSTORE_SLOTS];
} os_map;

/** os_map_new - allocate an empty map (refs 1, no nodes/shards). NULL on OOM. */
os_map *os_map_new(void);
/** os_map_ref - take a reference; returns @m. */
os_map *os_map_ref(os_map *m);
/** os_map_unref - drop a reference; frees at zero. NULL is ignored. */
void os_map_unref(os_map *m);
/** os_map_clone - deep copy with refs 1 (for building the next epoch). NULL on OOM. */
os_map *os_map_clone(const os_map *m);

/**
 * os_map_add_node / os_map_add_shard - builders for a map under construction (keep the
 * arrays sorted by id). A new shard has weight OS_MAP_WEIGHT_DEFAULT (1). Return
 * OSTORE_OK, OSTORE_EINVAL (duplicate id, id too large, bad address, too many
 * replicas), OSTORE_ENOMEM. On error @m is unchanged.
 */
int os_map_add_node(os_map *m, uint16_t id, const char *addr);
int os_map_add_shard(os_map *m, uint16_t id, uint16_t primary, const uint16_t *replicas,
                     uint16_t nreplicas);

/**
 * os_map_set_weight - set shard @id's weight in a map under construction (0 = draining).
 * Returns OSTORE_OK, or OSTORE_EINVAL (no such shard; @m unchanged). Cannot fail otherwise.
 */
int os_map_set_weight(os_map *m, uint16_t id, uint16_t weight);

/**
 * os_map_remove_shard - remove shard @id from a map under construction, and with it
 * every node of that shard (primary, replicas) that is no other shard's primary or
 * replica (their addresses are freed). The shard must own no slot.
 * Returns OSTORE_OK, or OSTORE_EINVAL (no such shard, it still owns slots, or it is the
 * last shard); @m is unchanged on error. Cannot fail for lack of memory (arrays shrink
 * in place).
 */
int os_map_remove_shard(os_map *m, uint16_t id);

/**
 * os_map_build_even - a fresh map (epoch 1) of @nshards shards whose primaries are nodes
 * 0..nshards-1 at @addrs[i], slots split in contiguous ranges that differ by at most one
 * slot (shard i gets slots [i*4096/n, (i+1)*4096/n)). @cluster_id 0 picks a random one.
 * Returns the map or NULL (n == 0, n > OS_MAP_MAX_IDS, OOM).
 */
os_map *os_map_build_even(uint16_t nshards, const char *const *addrs, uint64_t cluster_id);

/** os_map_check - validate as described above. Returns OSTORE_OK or OSTORE_EINVAL. */
int os_map_check(const os_map *m);

/** Lookups: NULL when absent. O(log n). */
const os_map_node *os_map_node_by_id(const os_map *m, uint16_t id);
const os_map_shard *os_map_shard_by_id(const os_map *m, uint16_t id);
/** os_map_slot_count - slots owned by shard @shard. */
uint32_t os_map_slot_count(const os_map *m, uint16_t shard);
/** os_map_primary_addr - address of the primary of the shard owning @slot, or NULL. */
const char *os_map_primary_addr(const os_map *m, uint16_t slot);

/**
 * os_map_slot_targets - the slots each shard should own by weight (the rebalance
 * target): 4096 x weight / total weight, rounded down, and the slots left over given one
 * each to the shards with the largest remainders (ties: a shard that owns more than its
 * rounded-down share now first, so a balanced map stays as it is; then the lower shard
 * id). A shard of weight 0 gets 0. The tie rule does not change while a rebalance runs
 * (donors never fall below their target, receivers never rise above it).
 * @m: a valid map. @targets: caller's array of m->nshards entries, filled in the order of
 * m->shards. Returns OSTORE_OK, or OSTORE_EINVAL (every weight is 0; @targets untouched).
 * Used by the planner (tools/rebalance_plan.h) and the router's rebalance gauges.
 */
int os_map_slot_targets(const os_map *m, uint32_t *targets);

/** os_map_encode - append the binary blob. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_map_encode(const os_map *m, os_buf *b);
/** os_map_decode - parse and check a blob. Returns OSTORE_OK (new map in *out, refs 1),
 *  OSTORE_EPROTO (malformed or invalid), OSTORE_ENOMEM. */
int os_map_decode(const uint8_t *p, size_t len, os_map **out);

/** os_map_to_json - a malloc'ed NUL-terminated JSON text (indented). NULL on OOM. */
char *os_map_to_json(const os_map *m);
/** os_map_from_json - parse and check JSON text. On error writes a message naming the
 *  problem into @err (size @errlen) and returns OSTORE_EINVAL or OSTORE_ENOMEM. */
int os_map_from_json(const char *text, os_map **out, char *err, size_t errlen);
/** os_map_load_file / os_map_save_file - JSON file I/O; save writes a temp file then
 *  renames it (atomic). Return OSTORE_OK, OSTORE_EIO (message in @err), OSTORE_EINVAL. */
int os_map_load_file(const char *path, os_map **out, char *err, size_t errlen);
int os_map_save_file(const os_map *m, const char *path, char *err, size_t errlen);

#endif /* OS_MAP_H */
