/*
 * wire.h - the orderstore wire codec (internal; prefix os_).
 *
 * Every message between client, router and node is one nng message holding one frame:
 * a fixed 32-byte header followed by an op-specific body. All integers are
 * little-endian. The full specification, with every field and limit, is
 * docs/protocol.md; this header is its one implementation, used by every part.
 *
 *   header (32 bytes):
 *     u16 magic (0x534F, bytes "OS")   u8 version (1)   u8 kind (os_kind; | 0x80 on replies)
 *     u16 status (replies; 0 in requests)   u16 count (items in the body)
 *     u32 timeout_ms (requests: the sender's deadline, 0 = none; replies: 0)
 *     u64 epoch (the sender's cluster-map epoch; 0 = none)
 *     u64 client_id (requests: the client's random ID; replies echo it)
 *     u8 flags (OS_HDR_F_*; 0 in replies)   u8 reserved[3] (0)
 *   credential (requests with OS_HDR_F_AUTH only, right after the header):
 *     u8 cred_len (1..OS_CRED_MAX)   cred[cred_len]
 *
 * Decoding never trusts a length: every decoder checks each length against the bytes
 * that remain and against the limits, and fails with OSTORE_EPROTO (or OSTORE_EBADID,
 * OSTORE_ETOOBIG, OSTORE_EBADOP, OSTORE_EVERSION) without reading out of bounds.
 * Decoded items point into the frame buffer (no copies): the buffer must outlive them.
 *
 * Thread safety: every function here is reentrant; none keeps state.
 */
#ifndef OS_WIRE_H
#define OS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orderstore.h>

#include "buf.h"

#define OS_WIRE_MAGIC 0x534Fu
#define OS_WIRE_VERSION 1u
#define OS_HDR_SIZE 32u
#define OS_REPLY_BIT 0x80u
#define OS_DATA_ITEM_HDR 24u  /* request item header size */
#define OS_DATA_REPLY_HDR 16u /* reply item header size */
/** Default frame limit (NNG_OPT_RECVMAXSZ): one largest value plus room for a batch. */
#define OS_FRAME_MAX_DEFAULT ((size_t)OSTORE_MAX_VALUE_LIMIT + (1u << 20))

/** Frame kinds (header byte 3). */
typedef enum os_kind {
	OS_KIND_DATA = 1,  /* items: GET/PUT/DEL/CAS */
	OS_KIND_SCAN = 2,  /* one page of orders in a slot range */
	OS_KIND_STATS = 3, /* per-shard counters */
	OS_KIND_MAP_GET = 4,
	OS_KIND_MAP_SET = 5,
	OS_KIND_PING = 6,
	OS_KIND_REPL_PULL = 7, /* replica -> primary: log entries after an LSN (+ ack) */
	OS_KIND_SNAP = 8,      /* replica -> primary: one page of a consistent snapshot */
	OS_KIND_CHECKSUM = 9,  /* tool -> node: per-slot checksums (orderstore verify) */
	/* slot migration (rebalance; docs/protocol.md "Slot migration", docs/rebalance.md) */
	OS_KIND_MIG_SNAP = 10,   /* tool -> source primary: a page of a slot range's snapshot */
	OS_KIND_MIG_LOG = 11,    /* tool -> source primary: a slot range's log after an LSN */
	OS_KIND_MIG_FREEZE = 12, /* tool -> source primary: freeze / unfreeze / query writes */
	OS_KIND_MIG_APPLY = 13,  /* tool -> destination primary: copied entries to write */
	OS_KIND_MIG_PURGE = 14,  /* tool -> primary: delete orders of slots it does not own */
	OS_KIND_TOP = 15,        /* tool -> node: last interval's ops, latency and hot keys */
	OS_KIND_MIG_LEASE = 16,  /* tool -> primary: take / renew / release the migration lease */
} os_kind;

typedef struct os_hdr {
	uint8_t kind; /* os_kind, with OS_REPLY_BIT on replies */
	uint16_t status;
	uint16_t count;
	uint32_t timeout_ms;
	uint64_t epoch;
	uint64_t client_id;
	uint8_t flags; /* OS_HDR_F_* (header byte 28); unknown bits are ignored */
	/* The credential (docs/security.md): os_hdr_get points it into the frame and sets
	 * OS_HDR_F_AUTH in flags when present; os_hdr_put writes it (and the flag) when
	 * cred_len > 0 and clears the flag otherwise. Never sent in replies. */
	const uint8_t *cred;
	uint8_t cred_len;
} os_hdr;

/**
 * Header flag of a request: a credential (u8 length 1..OS_CRED_MAX, then its bytes)
 * follows the 32-byte header, before the body. Set by os_hdr_put from os_hdr.cred.
 */
#define OS_HDR_F_AUTH 0x02u
/** Longest credential on the wire, bytes. */
#define OS_CRED_MAX 128u

/**
 * Header flag of a DATA request: the body starts with an os_read_bound (8 bytes) before
 * the items, and GET items may be answered by a replica whose lag is within it
 * (docs/protocol.md "Bounded replica reads", docs/replication.md "Reads"). Senders set it
 * only on frames of GETs; a frame with a write is served as if the flag were absent.
 */
#define OS_HDR_F_BOUNDED_READ 0x01u

/**
 * Staleness bound of a bounded read (DATA body prefix, 8 bytes):
 *   u32 max_lag_lsn (0 = no LSN bound)  u32 max_lag_ms (0 = no time bound)
 * At least one is non-zero.
 */
typedef struct os_read_bound {
	uint32_t max_lag_lsn;
	uint32_t max_lag_ms;
} os_read_bound;

#define OS_READ_BOUND_SIZE 8u

/**
 * One DATA request item (24-byte header, then id, then value):
 *   u8 op (ostore_op)  u8 flags (0)  u16 id_len  u32 value_len
 *   u64 seq (request sequence, unique per client_id for writes; 0 for GET)
 *   u64 expected (CAS: expected version; otherwise 0)
 */
typedef struct os_item {
	uint8_t op;
	uint64_t seq;
	uint64_t expected;
	const uint8_t *id;
	uint32_t id_len;
	const uint8_t *value;
	uint32_t value_len;
} os_item;

/**
 * One DATA reply item (16-byte header, then value), in the order of the request items:
 *   u16 status  u16 reserved (0)  u32 value_len  u64 version
 */
typedef struct os_result {
	uint16_t status;
	uint64_t version;
	const uint8_t *value; /* GET replies; NULL otherwise */
	uint32_t value_len;
} os_result;

/* ---- header ---- */

/** os_hdr_put - append a header (and its credential when h->cred_len > 0; at most
 *  OS_CRED_MAX bytes, longer ones are cut) to @b. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_hdr_put(os_buf *b, const os_hdr *h);

/**
 * os_hdr_get - decode the header at the start of @p (@len bytes), and the credential
 * after it when OS_HDR_F_AUTH is set (h->cred points into @p). On success *rest and
 * *rest_len are the body. Returns OSTORE_OK, OSTORE_EPROTO (short, bad magic, credential
 * length 0, over OS_CRED_MAX or past the end), OSTORE_EVERSION (other protocol version).
 */
int os_hdr_get(const uint8_t *p, size_t len, os_hdr *h, const uint8_t **rest, size_t *rest_len);

/* ---- DATA ---- */

/** os_read_bound_put - append a read bound (the body prefix of a DATA request flagged
 *  OS_HDR_F_BOUNDED_READ). Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_read_bound_put(os_buf *b, const os_read_bound *rb);

/**
 * os_data_body - split a DATA request body into its read bound and its items.
 * Without OS_HDR_F_BOUNDED_READ in @h->flags, *rb is {0, 0} and the items are the whole
 * body; with it, the first 8 bytes are decoded into *rb. *items / *items_len point into
 * @p. Returns OSTORE_OK, or OSTORE_EPROTO (flagged body shorter than 8 bytes, or both
 * bounds 0).
 */
int os_data_body(const os_hdr *h, const uint8_t *p, size_t len, os_read_bound *rb,
                 const uint8_t **items, size_t *items_len);

/** os_item_put - append one request item. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_item_put(os_buf *b, const os_item *it);

/**
 * os_items_get - decode @count request items from a DATA body.
 * @items: caller's array of at least @count entries; filled with pointers into @p.
 * @max_value: largest value accepted, bytes.
 * Returns OSTORE_OK, OSTORE_EPROTO (truncated / trailing bytes / count 0),
 * OSTORE_EBADOP (op not GET/PUT/DEL/CAS, or a value on GET/DEL), OSTORE_EBADID (id_len 0
 * or > 256), OSTORE_ETOOBIG (value over @max_value).
 * On error *bad_index (if not NULL) is the index of the offending item.
 */
int os_items_get(const uint8_t *p, size_t len, uint16_t count, uint32_t max_value,
                 os_item *items, size_t *bad_index);

/** os_result_put - append one reply item. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_result_put(os_buf *b, uint16_t status, uint64_t version, const void *value,
                  uint32_t value_len);

/**
 * os_results_get - decode @count reply items. Returns OSTORE_OK or OSTORE_EPROTO.
 * Reply values are limited only by the frame size (the sender checked them).
 */
int os_results_get(const uint8_t *p, size_t len, uint16_t count, os_result *res);

/* ---- SCAN ----
 * request body:  u16 slot_begin  u16 slot_end (exclusive, <= 4096)  u32 limit (items,
 *                1..4096)  u16 after_len (0..256)  u16 reserved  after[after_len]
 *   Orders with key (slot, id) > (slot_begin, after) and slot < slot_end, in key order.
 *   after_len 0 means "from the start of slot_begin".
 * reply body:    u16 next_slot  u16 next_after_len  next_after[...]  then count items:
 *                u16 status  u16 id_len  u32 value_len  u64 version  id  value
 *   next_slot == slot_end (and next_after_len 0) when the range is exhausted.
 */
typedef struct os_scan_req {
	uint16_t slot_begin;
	uint16_t slot_end;
	uint32_t limit;
	const uint8_t *after;
	uint16_t after_len;
} os_scan_req;

int os_scan_req_put(os_buf *b, const os_scan_req *r);
/** Returns OSTORE_OK, OSTORE_EPROTO (truncated, range empty or past 4096, limit 0 or
 *  > 4096), OSTORE_EBADID (after_len > 256). */
int os_scan_req_get(const uint8_t *p, size_t len, os_scan_req *r);

typedef struct os_scan_entry {
	const uint8_t *id;
	uint16_t id_len;
	const uint8_t *value;
	uint32_t value_len;
	uint64_t version;
} os_scan_entry;

/** Append the cursor part of a SCAN reply (must come before the entries). */
int os_scan_next_put(os_buf *b, uint16_t next_slot, const void *next_after, uint16_t next_after_len);
int os_scan_entry_put(os_buf *b, const os_scan_entry *e);
/**
 * os_scan_reply_get - decode a SCAN reply body with @count entries into @entries (array
 * of @count). Returns OSTORE_OK or OSTORE_EPROTO.
 */
int os_scan_reply_get(const uint8_t *p, size_t len, uint16_t count, uint16_t *next_slot,
                      const uint8_t **next_after, uint16_t *next_after_len,
                      os_scan_entry *entries);

/* ---- STATS ----
 * request body: empty. reply body: count entries of 80 bytes:
 *   u32 shard  u32 slots  u32 node  u32 status  u64 orders  u64 lsn  u64 bytes_used
 *   u64 map_size  u32 role (os_role)  u32 replicas  u64 primary_lsn
 *   u64 replica_reads (GET items this node served as a replica, bounded reads)
 *   u64 stale_reads (bounded read frames it refused with OSTORE_ESTALEREAD)
 * A node answers with one entry (itself): shard is the shard it is primary or replica
 * of (0xFFFFFFFF for none), lsn its applied LSN, primary_lsn the newest LSN of its shard
 * it knows of (its own LSN on a primary), replicas the replicas that pulled within the
 * heartbeat timeout (primary only). A router answers with one entry per shard.
 */
typedef enum os_role {
	OS_ROLE_NONE = 0,
	OS_ROLE_PRIMARY = 1,
	OS_ROLE_REPLICA = 2,
} os_role;

typedef struct os_stats_entry {
	uint32_t shard, slots, node, status;
	uint64_t orders, lsn, bytes_used, map_size;
	uint32_t role;     /* os_role */
	uint32_t replicas; /* connected replicas (primary) */
	uint64_t primary_lsn;
	uint64_t replica_reads; /* GET items served as a replica since the node started */
	uint64_t stale_reads;   /* bounded read frames refused as too stale */
	uint64_t lsn_epoch;     /* epoch of the entry at lsn (failover: newest log wins) */
} os_stats_entry;

#define OS_STATS_ENTRY_SIZE 88u
/** os_stats_entry_put - append one entry. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_stats_entry_put(os_buf *b, const os_stats_entry *e);
/** os_stats_entries_get - decode exactly @count entries from @len bytes into @e.
 *  Returns OSTORE_OK or OSTORE_EPROTO (length is not count x 64). */
int os_stats_entries_get(const uint8_t *p, size_t len, uint16_t count, os_stats_entry *e);

/* ---- MAP_GET / MAP_SET ----
 * MAP_GET request body: empty; reply body: the map blob (map.h, os_map_encode).
 * MAP_SET request body: the map blob; reply: status only (OSTORE_ESTALE when older;
 *   OSTORE_ELOCKED from a primary when the map takes slots from the shard it is and
 *   stays primary of and not all of them are frozen on it or the header's client_id
 *   does not hold its migration lease: the guarded switch, see MIG_LEASE).
 * PING: empty bodies both ways.
 */

/* ---- REPL_PULL (replication, docs/replication.md) ----
 * request body (40 bytes): u16 shard  u16 node_id (the replica)  u32 wait_ms (long-poll:
 *   the primary may hold the request up to this long when it has nothing newer)
 *   u64 cluster_id  u64 from_lsn (the replica's durable applied LSN: also its cumulative
 *   ack)  u64 from_epoch (epoch stamped on the replica's entry at from_lsn, 0 if none)
 *   u32 max_bytes (reply budget)  u32 reserved
 * reply body: u64 primary_lsn (newest committed)  u64 oldest_lsn (oldest retained log
 *   entry)  then count entries:
 *   u64 lsn  u64 epoch  u8 op (PUT 2 / DEL 3)  u8 reserved  u16 key_len  u32 value_len
 *   key[key_len] (LMDB key: slot BE + id)  value[value_len]
 * Reply statuses: OK; OSTORE_ERESEED (from_lsn older than the retained log, or the entry
 * at from_lsn has another epoch: the replica diverged); OSTORE_ENOTPRIMARY; OSTORE_EINVAL
 * (other cluster or shard, or a node that is not a replica of the shard in the map).
 */
typedef struct os_pull_req {
	uint16_t shard, node_id;
	uint32_t wait_ms;
	uint64_t cluster_id, from_lsn, from_epoch;
	uint32_t max_bytes;
} os_pull_req;

typedef struct os_log_entry {
	uint64_t lsn, epoch;
	uint8_t op;
	const uint8_t *key;
	uint16_t key_len;
	const uint8_t *value;
	uint32_t value_len;
} os_log_entry;

#define OS_PULL_REQ_SIZE 40u
#define OS_PULL_REPLY_HDR 16u
#define OS_LOG_ENTRY_HDR 24u

/** os_pull_req_put - append a REPL_PULL request body. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_pull_req_put(os_buf *b, const os_pull_req *r);
/** os_pull_req_get - decode a REPL_PULL request body (exactly 40 bytes).
 *  Returns OSTORE_OK or OSTORE_EPROTO. */
int os_pull_req_get(const uint8_t *p, size_t len, os_pull_req *r);
/** os_pull_reply_head_put - append the fixed part of a REPL_PULL reply (before the
 *  entries). Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_pull_reply_head_put(os_buf *b, uint64_t primary_lsn, uint64_t oldest_lsn);
/** os_log_entry_put - append one log entry. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_log_entry_put(os_buf *b, const os_log_entry *e);
/**
 * os_log_entry_get - decode one log entry at @r (the REPL_PULL entry rules below); the
 * entry points into @r's bytes. Returns OSTORE_OK or OSTORE_EPROTO. For the MIG frames.
 */
int os_log_entry_get(os_rd *r, os_log_entry *e);
/** os_log_entry_size - bytes os_log_entry_put appends for @e. Cannot fail. */
size_t os_log_entry_size(const os_log_entry *e);
/**
 * os_pull_reply_get - decode a REPL_PULL reply body with @count entries into @entries
 * (array of @count; may be NULL when @count is 0). Entries point into @p.
 * Returns OSTORE_OK or OSTORE_EPROTO (truncated, trailing bytes, op not PUT/DEL/JUMP, a
 * value on DEL, key not 3..258 bytes, value over OSTORE_MAX_VALUE_LIMIT, a JUMP record
 * whose key is not empty, whose value is not 8 bytes or whose prev_lsn is not below its
 * lsn).
 */
int os_pull_reply_get(const uint8_t *p, size_t len, uint16_t count, uint64_t *primary_lsn,
                      uint64_t *oldest_lsn, os_log_entry *entries);

/* ---- SNAP (re-seed) ----
 * request body: u16 shard  u16 node_id  u32 max_bytes  u64 cluster_id
 *   u64 session (0 = open a new snapshot)  u16 after_len  u16 reserved  after[after_len]
 *   (continue after this LMDB key; empty = from the start)
 * reply body: u64 session  u64 snap_lsn  u64 snap_epoch  u8 done (1 = last page)
 *   u8 reserved[7]  then count entries: u16 key_len  u16 reserved  u32 value_len
 *   u64 version  key  value
 * The primary holds one read transaction per session (a consistent snapshot at snap_lsn)
 * and ends it at the last page or after a period without requests.
 * Reply statuses: OK; OSTORE_ENOTPRIMARY; OSTORE_EINVAL (other cluster or shard);
 * OSTORE_ERESEED (unknown or expired session: start again with session 0);
 * OSTORE_EUNAVAIL (the node is behind the newest LSN it knows of: it never seeds).
 */
typedef struct os_snap_req {
	uint16_t shard, node_id;
	uint32_t max_bytes;
	uint64_t cluster_id, session;
	const uint8_t *after;
	uint16_t after_len;
} os_snap_req;

typedef struct os_snap_head {
	uint64_t session, snap_lsn, snap_epoch;
	uint8_t done;
} os_snap_head;

typedef struct os_snap_entry {
	const uint8_t *key;
	uint16_t key_len;
	const uint8_t *value;
	uint32_t value_len;
	uint64_t version;
} os_snap_entry;

#define OS_SNAP_REQ_HDR 28u
#define OS_SNAP_REPLY_HDR 32u
#define OS_SNAP_ENTRY_HDR 16u

/** os_snap_req_put - append a SNAP request body. Returns OSTORE_OK or OSTORE_ENOMEM. */
int os_snap_req_put(os_buf *b, const os_snap_req *r);
/** os_snap_req_get - decode a SNAP request body. Returns OSTORE_OK or OSTORE_EPROTO
 *  (truncated, trailing bytes, after_len > 258). */
int os_snap_req_get(const uint8_t *p, size_t len, os_snap_req *r);
/** os_snap_head_put - append the fixed part of a SNAP reply. OSTORE_OK or OSTORE_ENOMEM. */
int os_snap_head_put(os_buf *b, const os_snap_head *h);
/** os_snap_entry_put - append one snapshot entry. OSTORE_OK or OSTORE_ENOMEM. */
int os_snap_entry_put(os_buf *b, const os_snap_entry *e);
/**
 * os_snap_reply_get - decode a SNAP reply body with @count entries into @entries (array
 * of @count, may be NULL when 0). Returns OSTORE_OK or OSTORE_EPROTO (truncated,
 * trailing bytes, key not 3..258 bytes, value over OSTORE_MAX_VALUE_LIMIT).
 */
int os_snap_reply_get(const uint8_t *p, size_t len, uint16_t count, os_snap_head *h,
                      os_snap_entry *entries);

/* ---- CHECKSUM ----
 * request body: u16 slot_begin  u16 slot_end (exclusive, <= 4096)
 * reply body: u64 lsn (the node's applied LSN)  then count = slot_end - slot_begin entries:
 *   u64 orders  u64 checksum (XXH3_64bits over every (key, version, value) in key order)
 * The checksum of a slot is XXH3_64bits (streaming) over, per order in key order: the
 * LMDB key (slot BE + id), the version (u64 LE), the value; 0 orders give the XXH3 of
 * nothing (0x2d06800538d394c2). Reply statuses: OK, OSTORE_EPROTO, OSTORE_ESTORAGE.
 */
typedef struct os_cksum_entry {
	uint64_t orders, checksum;
} os_cksum_entry;

#define OS_CKSUM_REQ_SIZE 4u
#define OS_CKSUM_ENTRY_SIZE 16u

/** os_cksum_req_put - append a CHECKSUM request body. OSTORE_OK or OSTORE_ENOMEM. */
int os_cksum_req_put(os_buf *b, uint16_t slot_begin, uint16_t slot_end);
/** os_cksum_req_get - decode a CHECKSUM request body. Returns OSTORE_OK or OSTORE_EPROTO
 *  (not 4 bytes, empty range, slot_end > 4096). */
int os_cksum_req_get(const uint8_t *p, size_t len, uint16_t *slot_begin, uint16_t *slot_end);
/** os_cksum_reply_get - decode a CHECKSUM reply body of @count entries into @e (array
 *  of @count). Returns OSTORE_OK or OSTORE_EPROTO (length is not 8 + count x 16). */
int os_cksum_reply_get(const uint8_t *p, size_t len, uint16_t count, uint64_t *lsn,
                       os_cksum_entry *e);

/* ---- Slot migration (rebalance) ----
 *
 * The rebalance tool moves a slot range [slot_begin, slot_end) from the primary of its
 * source shard to the primary of its destination shard:
 *   MIG_PURGE dest (clear leftovers) ─▶ MIG_SNAP pages from source ─▶ MIG_APPLY dest
 *   ─▶ MIG_LOG from the snapshot LSN ─▶ MIG_APPLY ... (catch up) ─▶ MIG_FREEZE source
 *   ─▶ MIG_LOG up to the freeze LSN ─▶ MIG_APPLY ─▶ MAP_SET (source first, then dest,
 *   then everyone) ─▶ MIG_FREEZE unfreeze ─▶ MIG_PURGE source
 * Every MIG request carries the tool's map epoch in the header; a node whose map is
 * older answers OSTORE_ESTALE (push the map, then retry), and the run's id as header
 * client_id: MIG_FREEZE FREEZE / UNFREEZE, MIG_APPLY and MIG_PURGE answer OSTORE_ELOCKED
 * unless it holds the node's migration lease (MIG_LEASE below). Ranges are checked: slot_begin
 * < slot_end <= 4096, else OSTORE_EPROTO.
 *
 * MIG_SNAP request: u64 cluster_id  u64 session (0 = open)  u32 max_bytes
 *   u16 slot_begin  u16 slot_end  u16 after_len  u16 reserved  after[after_len]
 *   (continue after this LMDB key, empty = from slot_begin; 3..258 bytes otherwise)
 * MIG_SNAP reply: exactly the SNAP reply (os_snap_head + entries, os_snap_reply_get),
 *   entries only of slots in the range; snap_lsn is the snapshot's LSN, from which the
 *   source keeps its log (pinned) until a MIG_LOG from at least it, or 30 s idle.
 * Statuses: OK; OSTORE_EMOVED (the node does not own every slot of the range);
 *   OSTORE_ENOTPRIMARY; OSTORE_EINVAL (other cluster); OSTORE_ERESEED (unknown or
 *   expired session); OSTORE_EOVERLOAD (no free session); OSTORE_ESTALE; OSTORE_EUNAVAIL
 *   (the node is behind the newest LSN of its shard it knows of: it never serves a copy).
 */
typedef struct os_mig_snap_req {
	uint64_t cluster_id, session;
	uint32_t max_bytes;
	uint16_t slot_begin, slot_end;
	const uint8_t *after;
	uint16_t after_len;
} os_mig_snap_req;

#define OS_MIG_SNAP_REQ_HDR 28u

/** os_mig_snap_req_put - append a MIG_SNAP request body. OSTORE_OK or OSTORE_ENOMEM. */
int os_mig_snap_req_put(os_buf *b, const os_mig_snap_req *r);
/** os_mig_snap_req_get - decode a MIG_SNAP request body. Returns OSTORE_OK or
 *  OSTORE_EPROTO (truncated, trailing bytes, bad range, after_len not 0 or 3..258). */
int os_mig_snap_req_get(const uint8_t *p, size_t len, os_mig_snap_req *r);

/*
 * MIG_LOG request (32 bytes): u64 cluster_id  u64 from_lsn  u32 max_bytes (reply budget)
 *   u32 max_scan (log records examined at most, 0 = node default)  u16 slot_begin
 *   u16 slot_end  u32 reserved
 * MIG_LOG reply: head (32 bytes) u64 source_lsn (newest committed)  u64 oldest_lsn (oldest
 *   retained record)  u64 scanned_to (every record with LSN <= this was examined: the
 *   next from_lsn)  u64 frozen_lsn (the LSN at which the whole range was frozen, 0 when
 *   any slot of it is not frozen)  then count log entries (os_log_entry layout) of the
 *   range's slots only, PUT or DEL, in LSN order; an entry's lsn is the order's version.
 * Statuses: OK; OSTORE_ERESEED (records after from_lsn are no longer retained: copy
 *   again from a new snapshot); OSTORE_EMOVED; OSTORE_ENOTPRIMARY; OSTORE_EINVAL;
 *   OSTORE_ESTALE.
 */
typedef struct os_mig_log_req {
	uint64_t cluster_id, from_lsn;
	uint32_t max_bytes, max_scan;
	uint16_t slot_begin, slot_end;
} os_mig_log_req;

typedef struct os_mig_log_head {
	uint64_t source_lsn, oldest_lsn, scanned_to, frozen_lsn;
} os_mig_log_head;

#define OS_MIG_LOG_REQ_SIZE 32u
#define OS_MIG_LOG_REPLY_HDR 32u

int os_mig_log_req_put(os_buf *b, const os_mig_log_req *r);
/** Returns OSTORE_OK or OSTORE_EPROTO (not 32 bytes, bad range). */
int os_mig_log_req_get(const uint8_t *p, size_t len, os_mig_log_req *r);
int os_mig_log_head_put(os_buf *b, const os_mig_log_head *h);
/**
 * os_mig_log_reply_get - decode a MIG_LOG reply body with @count entries into @entries
 * (array of @count, may be NULL when 0). Entries point into @p. Returns OSTORE_OK or
 * OSTORE_EPROTO (as os_pull_reply_get; JUMP records are not allowed here).
 */
int os_mig_log_reply_get(const uint8_t *p, size_t len, uint16_t count, os_mig_log_head *h,
                         os_log_entry *entries);

/*
 * MIG_FREEZE request (8 bytes): u8 op (os_mig_freeze_op)  u8 reserved  u16 slot_begin
 *   u16 slot_end  u16 reserved
 * MIG_FREEZE reply (8 + 512 bytes): u64 lsn (after a freeze: the node's LSN once the
 *   freeze is durable; every write of the range has an LSN <= it and none comes after
 *   it; otherwise the node's current LSN)  u8 frozen[512] (bit (s % 8) of byte s / 8 set =
 *   slot s frozen, after the operation)
 * FREEZE needs the node to own every slot of the range (else OSTORE_EMOVED /
 * OSTORE_ENOTPRIMARY); the frozen set is durable (LMDB meta) before the reply and
 * survives a restart. Writes to a frozen slot answer OSTORE_EMIGRATING; reads are served.
 * UNFREEZE clears the bits of the range whoever owns it; QUERY changes nothing.
 * Statuses: OK, OSTORE_EMOVED, OSTORE_ENOTPRIMARY, OSTORE_ESTALE, OSTORE_ESTORAGE.
 */
typedef enum os_mig_freeze_op {
	OS_MIG_QUERY = 0,
	OS_MIG_FREEZE = 1,
	OS_MIG_UNFREEZE = 2,
} os_mig_freeze_op;

#define OS_MIG_FREEZE_REQ_SIZE 8u
#define OS_MIG_BITMAP_SIZE (OSTORE_SLOTS / 8u)
#define OS_MIG_FREEZE_REPLY_SIZE (8u + OS_MIG_BITMAP_SIZE)

int os_mig_freeze_req_put(os_buf *b, uint8_t op, uint16_t slot_begin, uint16_t slot_end);
/** Returns OSTORE_OK or OSTORE_EPROTO (not 8 bytes, unknown op, bad range; QUERY
 *  accepts any valid range). */
int os_mig_freeze_req_get(const uint8_t *p, size_t len, uint8_t *op, uint16_t *slot_begin,
                          uint16_t *slot_end);
/** os_mig_freeze_reply_get - decode (exactly 520 bytes): *lsn and the bitmap copied into
 *  @bitmap (OS_MIG_BITMAP_SIZE bytes). Returns OSTORE_OK or OSTORE_EPROTO. */
int os_mig_freeze_reply_get(const uint8_t *p, size_t len, uint64_t *lsn, uint8_t *bitmap);

/*
 * MIG_APPLY request: head (16 bytes) u64 cluster_id  u16 slot_begin  u16 slot_end
 *   u32 reserved  then count entries in the os_log_entry layout (op PUT or DEL; lsn = the
 *   order's version at the source; epoch ignored), every key's slot inside the range.
 * MIG_APPLY reply: u64 lsn (the node's LSN after the commit).
 * The node must be the primary of a shard and own NO slot of the range. It writes the
 * entries in one transaction through its writer, each as a new write of its own shard
 * (log record, so its replicas receive it by normal replication) whose LSN, and so the
 * order's version, is at least the source version (the LSN jumps forward when needed: a
 * JUMP log record, see OS_LOG_OP_JUMP), so versions only grow across a move and a
 * compare-and-set can never match an older version. A DEL of an absent order is no
 * error. The reply goes out when the commit is durable and, with synchronous
 * replication, acknowledged by K replicas (as a DATA write).
 * Statuses: OK; OSTORE_EINVAL (owns a slot of the range, entry outside the range, other
 *   cluster); OSTORE_ENOTPRIMARY (not a primary); OSTORE_EREPLICAS; OSTORE_EFULL;
 *   OSTORE_ESTORAGE; OSTORE_EPROTO (also a PUT whose version is 0 or above 2^62);
 *   OSTORE_ESTALE; OSTORE_EUNAVAIL (behind its shard, as DATA writes).
 */
#define OS_MIG_APPLY_HDR 16u

int os_mig_apply_head_put(os_buf *b, uint64_t cluster_id, uint16_t slot_begin, uint16_t slot_end);
/**
 * os_mig_apply_get - decode a MIG_APPLY body with @count entries into @entries (array of
 * @count). Returns OSTORE_OK or OSTORE_EPROTO (as os_pull_reply_get, plus bad range, JUMP
 * records, count 0).
 */
int os_mig_apply_get(const uint8_t *p, size_t len, uint16_t count, uint64_t *cluster_id,
                     uint16_t *slot_begin, uint16_t *slot_end, os_log_entry *entries);

/*
 * MIG_PURGE request (16 bytes): u64 cluster_id  u16 slot_begin  u16 slot_end
 *   u32 max_orders (1..65535)
 * MIG_PURGE reply (8 bytes): u32 deleted  u32 more (1 = orders of the range remain)
 * The node must be the primary of a shard and own NO slot of the range under a map at
 * least as new as the request's epoch; it deletes up to max_orders orders of the range
 * in one transaction (DEL log records: its replicas delete them too).
 * The reply goes out as MIG_APPLY's does (durable; K replica acks when synchronous).
 * Statuses: OK; OSTORE_EINVAL (owns a slot of the range, other cluster);
 *   OSTORE_ENOTPRIMARY; OSTORE_ESTALE; OSTORE_EFULL; OSTORE_ESTORAGE; OSTORE_EPROTO;
 *   OSTORE_EREPLICAS; OSTORE_EUNAVAIL (behind its shard).
 */
#define OS_MIG_PURGE_REQ_SIZE 16u
#define OS_MIG_PURGE_REPLY_SIZE 8u

int os_mig_purge_req_put(os_buf *b, uint64_t cluster_id, uint16_t slot_begin,
                         uint16_t slot_end, uint32_t max_orders);
/** Returns OSTORE_OK or OSTORE_EPROTO (not 16 bytes, bad range, max_orders 0 or > 65535). */
int os_mig_purge_req_get(const uint8_t *p, size_t len, uint64_t *cluster_id,
                         uint16_t *slot_begin, uint16_t *slot_end, uint32_t *max_orders);
/** Returns OSTORE_OK or OSTORE_EPROTO (not 8 bytes). */
int os_mig_purge_reply_get(const uint8_t *p, size_t len, uint32_t *deleted, uint32_t *more);

/*
 * MIG_LEASE: the migration lease, one per node, in memory only (a restart drops it). A
 * rebalance run (id = a random non-zero u64) holds it on the primary of every shard it
 * touches; MIG_APPLY, MIG_PURGE and MIG_FREEZE FREEZE / UNFREEZE are accepted only when
 * the header's client_id is the holder of the node's unexpired lease (else
 * OSTORE_ELOCKED), and a MAP_SET that takes slots away from the shard this node is and
 * stays primary of needs those slots frozen and its client_id the holder (docs/protocol.md
 * "Slot migration"). MIG_SNAP, MIG_LOG, MIG_FREEZE QUERY need no lease (reads).
 * MIG_LEASE request (16 bytes): u64 owner (run id, non-zero)  u32 ttl_ms (0 = release,
 *   else OS_MIG_LEASE_TTL_MIN..OS_MIG_LEASE_TTL_MAX)  u32 flags (OS_MIG_LEASE_F_*; other
 *   bits are refused)
 * MIG_LEASE reply (16 bytes): u64 holder (0 = none)  u32 remaining_ms  u32 reserved (0)
 * Rules (one decision under the node's lease lock):
 *   ttl > 0, lease free or expired or held by owner ─▶ OK, holder = owner, expiry =
 *     now + ttl_ms; with OS_MIG_LEASE_F_RENEW only when owner is the unexpired holder
 *     (a run never gets back a lease that lapsed: someone may have cleaned up meanwhile)
 *   ttl > 0, held by another, unexpired ─▶ OSTORE_ELOCKED; this reply carries the body
 *     too (despite the non-OK status): the holder and its remaining time
 *   ttl 0 from the holder ─▶ released, OK (holder 0); ttl 0 from another ─▶ OK, nothing
 *     changes, the body shows the current holder (a query: `rebalance --status`)
 * Statuses: OK, OSTORE_ELOCKED (with body), OSTORE_EPROTO (size, owner 0, ttl out of
 * range, unknown flags).
 */
#define OS_MIG_LEASE_SIZE 16u
#define OS_MIG_LEASE_TTL_MIN 1000u
#define OS_MIG_LEASE_TTL_MAX 600000u
/** MIG_LEASE flag: renew only; a lease that is free, expired or another's is not granted. */
#define OS_MIG_LEASE_F_RENEW 0x1u

/** os_mig_lease_req_put - append a MIG_LEASE request body. OSTORE_OK or OSTORE_ENOMEM. */
int os_mig_lease_req_put(os_buf *b, uint64_t owner, uint32_t ttl_ms, uint32_t flags);
/** os_mig_lease_req_get - decode a MIG_LEASE request body. Returns OSTORE_OK or
 *  OSTORE_EPROTO (not 16 bytes, owner 0, ttl_ms neither 0 nor in range, unknown flags). */
int os_mig_lease_req_get(const uint8_t *p, size_t len, uint64_t *owner, uint32_t *ttl_ms,
                         uint32_t *flags);
/** os_mig_lease_reply_put - append a MIG_LEASE reply body. OSTORE_OK or OSTORE_ENOMEM. */
int os_mig_lease_reply_put(os_buf *b, uint64_t holder, uint32_t remaining_ms);
/** os_mig_lease_reply_get - decode a MIG_LEASE reply body. Returns OSTORE_OK or
 *  OSTORE_EPROTO (not 16 bytes). */
int os_mig_lease_reply_get(const uint8_t *p, size_t len, uint64_t *holder,
                           uint32_t *remaining_ms);

/* ---- TOP (orderstore top) ----
 * request body: empty.
 * reply body: u64 interval_ms (length of the last completed interval; 0 = none yet)
 *   u64 items (DATA items answered in it)  u64 writes (of them PUT/DEL/CAS)
 *   u32 p50_us  u32 p99_us (DATA frame latency in the node, from a log-scale histogram:
 *   the upper bound of the bucket holding the percentile)  then count hot keys, hottest
 *   first: u32 hits (estimated, Space-Saving: never below the true count, at most
 *   err above)  u32 err  u16 id_len (1..256)  u16 reserved  id[id_len]
 * Statuses: OK (an idle node answers zeros), OSTORE_EPROTO (a non-empty request).
 */
typedef struct os_top_head {
	uint64_t interval_ms, items, writes;
	uint32_t p50_us, p99_us;
} os_top_head;

typedef struct os_top_key {
	uint32_t hits, err;
	const uint8_t *id;
	uint16_t id_len;
} os_top_key;

#define OS_TOP_HEAD_SIZE 32u
#define OS_TOP_KEY_HDR 12u
#define OS_TOP_MAX_KEYS 64u

/** os_top_head_put / os_top_key_put - append the parts of a TOP reply body.
 *  OSTORE_OK or OSTORE_ENOMEM. */
int os_top_head_put(os_buf *b, const os_top_head *h);
int os_top_key_put(os_buf *b, const os_top_key *k);
/** os_top_reply_get - decode a TOP reply body with @count keys (<= OS_TOP_MAX_KEYS) into
 *  @keys (pointing into @p). Returns OSTORE_OK or OSTORE_EPROTO. */
int os_top_reply_get(const uint8_t *p, size_t len, uint16_t count, os_top_head *h,
                     os_top_key *keys);

/**
 * OS_LOG_OP_JUMP - a write-log record that only moves the LSN forward (REPL_PULL replies
 * only): key_len 0, value = u64 prev_lsn (LE, 8 bytes); the record's own lsn is the new
 * LSN (> prev_lsn). A replica accepts it when prev_lsn is its LSN, and continues from the
 * record's lsn (the LSNs in between never existed).
 */
#define OS_LOG_OP_JUMP 0x10u

/**
 * os_reply_status - build a reply frame that carries only a status (no body), e.g. to
 * answer a frame that could not be decoded. @kind is the request's kind (0 if unknown).
 * Returns OSTORE_OK or OSTORE_ENOMEM.
 */
int os_reply_status(os_buf *b, uint8_t kind, uint16_t status, uint64_t epoch,
                    uint64_t client_id);

#endif /* OS_WIRE_H */
