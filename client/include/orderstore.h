/*
 * orderstore.h - the public API of liborderstore, the orderstore client library.
 *
 * A backend opens one client with a list of router addresses and then stores and
 * reads orders by order ID. Shards, slots, nodes and the cluster map are hidden: the
 * routers place every order by consistent hashing (slot = XXH3_64bits(id) mod 4096,
 * see docs/architecture.md) and follow the cluster map when it changes.
 *
 * Conventions for every function below:
 *  - Order IDs are byte strings of 1..OSTORE_MAX_ID_LEN (256) bytes. Any byte value is
 *    legal, NUL and non-UTF-8 bytes included; IDs are never treated as C strings.
 *  - Values are byte strings of 0..max_value bytes (default OSTORE_DEFAULT_MAX_VALUE,
 *    1 MiB; at most OSTORE_MAX_VALUE_LIMIT, 16 MiB).
 *  - A version is the shard's log sequence number (LSN) of the order's last write. It
 *    only grows. Version 0 means "no such order" in compare-and-set.
 *  - Every function returns an ostore_status: OSTORE_OK (0) on success, otherwise one of
 *    the codes below; ostore_strerror() gives its text.
 *  - Memory the library returns (values, stats) is owned by the caller and released with
 *    ostore_free() / ostore_stats_free(). Memory the caller passes in stays the caller's.
 *  - A client handle is thread-safe: any number of threads may call any function on
 *    the same handle at once, except ostore_close(), which must be the last call.
 *
 * Writes are acknowledged only after the shard's LMDB transaction that holds them has
 * been synced to disk (unless the cluster runs with --no-sync). Every write carries a
 * request ID (client ID + sequence number) so a retried write is applied at most once
 * and answers with its first result.
 */
#ifndef ORDERSTORE_H
#define ORDERSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * OSTORE_API marks the exported functions. liborderstore is built with hidden symbol
 * visibility (and a linker version script exporting only ostore_*), so everything not
 * marked stays internal to the shared library.
 */
#if defined(__GNUC__) && __GNUC__ >= 4
#define OSTORE_API __attribute__((visibility("default")))
#else
#define OSTORE_API
#endif

/** Largest order ID in bytes. */
#define OSTORE_MAX_ID_LEN 256u
/** Default largest value in bytes (1 MiB). */
#define OSTORE_DEFAULT_MAX_VALUE (1u << 20)
/** Upper bound for any configured value limit (16 MiB). */
#define OSTORE_MAX_VALUE_LIMIT (16u << 20)
/** Number of slots in the placement function. */
#define OSTORE_SLOTS 4096u

/*
 * The one error enum of orderstore. X(name, code, text). Codes are stable: they travel
 * on the wire (docs/protocol.md) and are used as process exit statuses by tools.
 */
#define OSTORE_STATUS_TABLE(X)                                                          \
	X(OSTORE_OK, 0, "success")                                                        \
	X(OSTORE_ENOTFOUND, 1, "order not found")                                         \
	X(OSTORE_ECONFLICT, 2, "version conflict: the order changed (compare-and-set)")   \
	X(OSTORE_EINVAL, 3, "invalid argument")                                           \
	X(OSTORE_EBADID, 4, "invalid order ID: must be 1 to 256 bytes")                   \
	X(OSTORE_ETOOBIG, 5, "value or message larger than the configured limit")         \
	X(OSTORE_EPROTO, 6, "malformed or truncated protocol frame")                      \
	X(OSTORE_EBADOP, 7, "unknown operation code")                                     \
	X(OSTORE_EVERSION, 8, "unsupported protocol version")                             \
	X(OSTORE_EMOVED, 9, "slot is owned by another shard (newer cluster map)")         \
	X(OSTORE_EUNAVAIL, 10, "shard unavailable: its node did not answer in time")      \
	X(OSTORE_ETIMEDOUT, 11, "request timed out")                                      \
	X(OSTORE_ENOMEM, 12, "out of memory")                                             \
	X(OSTORE_ESTORAGE, 13, "storage error on the node")                               \
	X(OSTORE_EFULL, 14, "storage full")                                               \
	X(OSTORE_ENOTPRIMARY, 15, "node is not the primary of this shard")                \
	X(OSTORE_EREPLICAS, 16, "not enough replicas acked: not acknowledged, may still be applied") \
	X(OSTORE_EOVERLOAD, 17, "overloaded: request refused, retry later")               \
	X(OSTORE_ESTALE, 18, "cluster map is older than the one already held")            \
	X(OSTORE_ECLOSED, 19, "client or connection closed")                              \
	X(OSTORE_ENOMAP, 20, "no cluster map: the node or router has not been given one") \
	X(OSTORE_ECONNECT, 21, "cannot connect: bad or unreachable address")              \
	X(OSTORE_EIO, 22, "input/output error")                                           \
	X(OSTORE_EAUTH, 23, "authentication failed: no credential, or not a valid one")   \
	X(OSTORE_EINTERNAL, 24, "internal error")                                        \
	X(OSTORE_ERESEED, 25, "replica must re-seed: behind the retained log or diverged") \
	X(OSTORE_ESTALEREAD, 26, "replica too stale for the read's staleness bound")       \
	X(OSTORE_EMIGRATING, 27, "slot is frozen while it moves to another shard: retry shortly") \
	X(OSTORE_ELOCKED, 28, "another rebalance holds the migration lease: wait for it or for the lease to expire") \
	X(OSTORE_EFORBIDDEN, 29, "credential does not permit this operation (needs the admin credential)")

typedef enum ostore_status {
#define OSTORE_X_ENUM(name, code, text) name = code,
	OSTORE_STATUS_TABLE(OSTORE_X_ENUM)
#undef OSTORE_X_ENUM
	OSTORE_STATUS_COUNT /**< number of codes; not a status */
} ostore_status;

/**
 * ostore_strerror - text of a status code.
 * @st: any value; codes outside the enum give "unknown error".
 * Returns a static NUL-terminated string (never NULL). Thread-safe.
 */
OSTORE_API const char *ostore_strerror(int st);

/**
 * ostore_status_name - symbolic name of a status code ("OSTORE_ENOTFOUND").
 * Returns a static string, "OSTORE_UNKNOWN" for codes outside the enum. Thread-safe.
 */
OSTORE_API const char *ostore_status_name(int st);

/** ostore_version_string - the library's version ("0.1.0"), static. Thread-safe. */
OSTORE_API const char *ostore_version_string(void);

/* ---------------------------------------------------------------------------------- */
/* Client                                                                              */
/* ---------------------------------------------------------------------------------- */

typedef struct ostore_client ostore_client;

/**
 * Options for ostore_open(). Fill with ostore_options_init() first, then set fields;
 * the library reads the struct only during ostore_open() and keeps no pointer to it.
 */
typedef struct ostore_options {
	/** Router URLs ("tcp://127.0.0.1:7000"), 1..64 of them. The client spreads
	 *  requests over every connected router and moves to another when one fails. */
	const char *const *routers;
	size_t nrouters;
	/** Time one attempt may take before it is abandoned, in milliseconds (default 5000). */
	uint32_t timeout_ms;
	/** Extra attempts after a timeout or an unavailable router (default 2). Retried
	 *  writes keep their request ID, so they are applied at most once. */
	uint32_t retries;
	/** Largest value the client will send, bytes (default 1 MiB, at most 16 MiB). */
	uint32_t max_value;
	/** Largest number of requests in flight on this handle at once (default 256). */
	uint32_t max_inflight;
	/**
	 * Replica reads (default 0 and 0: off). When either bound is non-zero, a request
	 * whose items are all GETs (ostore_get, or a batch of only GETs) may be answered by a
	 * replica of each shard instead of its primary, as long as that replica's lag is
	 * within every non-zero bound; otherwise the router asks the primary (one fallback).
	 * Requests with any write, and scans, always go to the primaries.
	 *
	 * The lag is measured by the replica (docs/replication.md, "Reads"):
	 *  - in LSN: the newest LSN of the shard the replica has heard of from its primary
	 *    minus the LSN it has applied (writes it knows it is missing). This counts only
	 *    what the replica has heard: while its primary is unreachable that number stops
	 *    growing, so combine it with a time bound to limit that too;
	 *  - in milliseconds: the time since the replica last received a reply from its
	 *    primary after which it had applied everything that primary had committed. On a
	 *    healthy idle shard this stays below the nodes' --heartbeat-timeout-ms / 3 plus a
	 *    round trip, so a time bound should be at least the heartbeat timeout. It keeps
	 *    growing while the primary is down, so a replica goes on serving for up to this
	 *    long after its primary died.
	 * A replica that has not heard from its primary since it started (or that is
	 * re-seeding) refuses every bounded read.
	 *
	 * What a caller gives up: read-your-writes. A GET may not see this handle's own
	 * acknowledged writes (in asynchronous replication, or on a replica that was not
	 * among the synchronous acks), and two GETs may go to different replicas and see
	 * the order go back in time. Use it for reads that tolerate that (listings,
	 * dashboards, order-history pages), not for a read-modify-write with ostore_cas.
	 * A router splits the request timeout between the replica attempt and the fallback,
	 * so a silent replica costs at most about 3/8 of timeout_ms before the primary is
	 * asked.
	 */
	/** Largest accepted lag in LSNs (writes); 0 = no LSN bound. */
	uint32_t replica_reads_max_lag_lsn;
	/** Largest accepted lag in milliseconds; 0 = no time bound. */
	uint32_t replica_reads_max_lag_ms;
	/**
	 * Request coalescing (default 0: on, at most 64 items per merged frame; 1: off;
	 * N > 1: on, at most N items, N capped at OSTORE_MAX_BATCH).
	 *
	 * When on, requests travel in lanes: the handle fetches the cluster map from a
	 * router (one MAP_GET on its first request, and again when a reply shows a newer
	 * epoch) and puts each request in the lane of the shard all its items belong to, per
	 * class (only GETs; replica-bounded GETs; with a write); requests spanning shards,
	 * and all requests while no map is known, use the class's mixed lane. A shard lane
	 * keeps at most 1 DATA frame in flight per connected router, a mixed lane 4 (counting
	 * 1 router while none is connected). A request (ostore_submit, ostore_batch,
	 * ostore_put...) that finds room in its lane goes out at once, alone: there is no
	 * timer and no added latency at low load. Requests arriving while the lane is full
	 * wait in a queue, and when its frame is answered the queued requests of that lane
	 * go out together in one frame of up to N items and 256 KiB (a request larger than
	 * that goes alone, never split). The router answers the merged frame once, with one
	 * call to one node for a shard lane's frame; each request gets back exactly its own
	 * items and its callback runs once. Under load this cuts the per-message cost of nng
	 * and the kernel that bounds throughput (bench/README.md). The map is a hint only:
	 * the router routes every item by its own map, so a stale copy costs only batching.
	 *
	 * What stays the same: every write item keeps its own request ID and a retry re-sends
	 * the same merged frame, so retried writes are still applied at most once; a
	 * frame-level error (OSTORE_ETIMEDOUT, OSTORE_ENOMAP...) reaches every item of every
	 * request in the frame; timeout_ms applies per attempt of the frame; max_inflight
	 * counts requests, not frames. What differs: a queued request also waits for a
	 * window slot, which a frame frees when it is answered or when its first attempt
	 * fails, so at most about one timeout_ms more. Requests of only GETs are merged only
	 * with each other (so that a read never waits for a write's disk sync; replica-bounded
	 * reads only with bounded reads), and requests with a write with each other; at most
	 * (17 MiB / (max_value + 16)) GET items (16 with the default max_value), so that no
	 * node's reply to a merged frame can exceed the frame limit.
	 */
	uint32_t coalesce_max_items;
	/**
	 * TLS (docs/security.md; default NULL: none). Paths of PEM files: this client's
	 * certificate, its unencrypted private key, and the CA certificate the routers'
	 * certificates must be signed by. All three or none; they are required for
	 * tls+tcp:// router URLs, and a router serving tls+tcp:// requires the certificate to
	 * be signed by its CA. The files are read during ostore_open only.
	 */
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *tls_ca_file;
	/**
	 * Credential put on every request (default NULL: none), a NUL-terminated string of
	 * 1..128 printable ASCII bytes without spaces, copied during ostore_open. A cluster
	 * started with tokens answers requests without one, or with a wrong one,
	 * OSTORE_EAUTH; a client token may run data requests (put, get, delete, CAS, scan,
	 * stats), other requests need the admin token (OSTORE_EFORBIDDEN).
	 */
	const char *token;
} ostore_options;

/**
 * ostore_options_init - fill @opts with the defaults above (no routers).
 * Cannot fail. Thread-safe.
 */
OSTORE_API void ostore_options_init(ostore_options *opts);

/**
 * ostore_open - create a client connected (asynchronously) to the given routers.
 * @opts: options, read only during the call.
 * @out:  receives the handle on success; untouched on failure.
 * Returns OSTORE_OK, OSTORE_EINVAL (no routers, bad limits; only some of the TLS files,
 * a file that cannot be read or that mbedTLS refuses, a malformed token, a tls+tcp://
 * URL without TLS files), OSTORE_ECONNECT (a URL nng cannot parse or dial), OSTORE_ENOMEM. Connecting itself is asynchronous: a router
 * that is down makes requests fail with OSTORE_ECONNECT (no router connected when the
 * attempts ran out) or OSTORE_ETIMEDOUT (a router is connected but did not answer), not open.
 */
OSTORE_API ostore_status ostore_open(const ostore_options *opts, ostore_client **out);

/**
 * ostore_close - wait for the handle's requests in flight to end, then free it.
 * @c: the handle (NULL is ignored). No call on @c may start or run after this one.
 * The library's own background fetch of the cluster map (with coalescing on), if still
 * unanswered, gets up to 1 s (at most timeout_ms) before it is abandoned, so closing
 * takes at most that much longer than the caller's own requests.
 */
OSTORE_API void ostore_close(ostore_client *c);

/** ostore_free - release memory returned by this library (values). NULL is ignored. */
OSTORE_API void ostore_free(void *p);

/**
 * ostore_put - store @value under @id, replacing any previous value (upsert).
 * @id, @id_len:       the order ID (1..256 bytes).
 * @value, @value_len: the value (0..max_value bytes); @value may be NULL when 0.
 * @version_out:       if not NULL, receives the new version.
 * Returns OSTORE_OK once the write is durable, or OSTORE_EBADID, OSTORE_ETOOBIG,
 * OSTORE_EUNAVAIL (the shard's node did not answer the router), OSTORE_ETIMEDOUT (the
 * router did not answer), OSTORE_ECONNECT (no router connected), OSTORE_ESTORAGE,
 * OSTORE_EFULL, OSTORE_ENOMEM. Timeouts apply per attempt: a call may take up to
 * (retries + 1) x timeout_ms.
 * After OSTORE_ETIMEDOUT / OSTORE_EUNAVAIL the write may or may not have been applied.
 * OSTORE_EMIGRATING: the order's slot was frozen (a rebalance moving it to another
 * shard) for the whole timeout, as the router retries it until then; the write was not
 * applied and may be retried (the same holds for every write op and batch item).
 */
OSTORE_API ostore_status ostore_put(ostore_client *c, const void *id, size_t id_len, const void *value,
                                    size_t value_len, uint64_t *version_out);

/**
 * ostore_get - read the order @id.
 * @value_out:   receives a malloc'ed copy of the value (free with ostore_free), or NULL
 *               for an empty value; may be NULL itself to test existence only.
 * @len_out:     receives the value length in bytes (may be NULL).
 * @version_out: receives the version (may be NULL).
 * Returns OSTORE_OK, OSTORE_ENOTFOUND, or a transport/storage error as ostore_put.
 * Reads go to the shard's primary, so a client reads its own acknowledged writes,
 * unless replica reads are on (ostore_options.replica_reads_max_lag_*): then a replica
 * within the staleness bound may answer, and read-your-writes is given up.
 * OSTORE_ESTALEREAD is not normally returned: a router falls back to the primary.
 */
OSTORE_API ostore_status ostore_get(ostore_client *c, const void *id, size_t id_len, void **value_out,
                                    size_t *len_out, uint64_t *version_out);

/**
 * ostore_del - delete the order @id.
 * Returns OSTORE_OK (it existed and is gone), OSTORE_ENOTFOUND (it did not exist), or
 * an error as ostore_put.
 */
OSTORE_API ostore_status ostore_del(ostore_client *c, const void *id, size_t id_len);

/**
 * ostore_cas - compare-and-set: store @value only if the order's version is @expected.
 * @expected: the version last read; 0 means "only if the order does not exist" (create).
 * @version_out: receives the new version on success (may be NULL).
 * Returns OSTORE_OK, OSTORE_ECONFLICT (current version differs; nothing written),
 * OSTORE_ENOTFOUND (@expected != 0 and the order does not exist), or as ostore_put.
 */
OSTORE_API ostore_status ostore_cas(ostore_client *c, const void *id, size_t id_len, uint64_t expected,
                                    const void *value, size_t value_len, uint64_t *version_out);

/* ---------------------------------------------------------------------------------- */
/* Batches and asynchronous calls                                                      */
/* ---------------------------------------------------------------------------------- */

/** Operation of one batch item. Values are the wire op codes (docs/protocol.md). */
typedef enum ostore_op {
	OSTORE_OP_GET = 1,
	OSTORE_OP_PUT = 2,
	OSTORE_OP_DEL = 3,
	OSTORE_OP_CAS = 4,
} ostore_op;

/**
 * One operation of a batch. The caller fills the inputs; the library fills the outputs.
 * Inputs are only read until the call (or, for ostore_submit, the callback) returns.
 */
typedef struct ostore_item {
	/* inputs */
	ostore_op op;
	const void *id;
	size_t id_len;
	const void *value; /**< PUT / CAS */
	size_t value_len;
	uint64_t expected; /**< CAS: expected version (0 = must not exist) */
	/* outputs */
	ostore_status status; /**< result of this item */
	uint64_t version;     /**< version after the write, or of the value read */
	void *out_value;      /**< GET: malloc'ed copy (ostore_free), NULL if empty/absent */
	size_t out_len;       /**< GET: value length in bytes */
} ostore_item;

/**
 * ostore_batch - run @n operations in one round trip per router; the router splits them
 * by shard and runs the shards in parallel. Items are independent (no transaction across
 * items); each gets its own status.
 * @items: array of @n items (1..OSTORE_MAX_BATCH); outputs are written in place.
 * Returns OSTORE_OK when every item got an answer (check each item's status), or the
 * error that prevented an answer for all (OSTORE_EINVAL, OSTORE_ETOOBIG for a batch over
 * the frame limit, OSTORE_ETIMEDOUT, OSTORE_EUNAVAIL...), in which case every item's
 * status is set to that error too.
 */
OSTORE_API ostore_status ostore_batch(ostore_client *c, ostore_item *items, size_t n);

/** Most items in one batch. */
#define OSTORE_MAX_BATCH 4096u

/**
 * Completion callback of ostore_submit(): @items is the caller's array with outputs
 * filled, @st as the return value of ostore_batch(). Runs on a library thread: it must not
 * block for long, and it must not call ostore_close(). It may submit further requests
 * (ostore_submit); those leave with the requests already queued for the same shard. The
 * blocking calls (ostore_put, ostore_get, ostore_del, ostore_cas, ostore_batch,
 * ostore_scan, ostore_stats) return OSTORE_EINVAL when called from a callback.
 */
typedef void (*ostore_done_fn)(void *arg, ostore_item *items, size_t n, ostore_status st);

/**
 * ostore_submit - asynchronous ostore_batch(): returns at once, @done runs later exactly
 * once (unless this returns an error, in which case it never runs).
 * @items must stay valid until @done runs.
 * Returns OSTORE_OK (submitted), OSTORE_EINVAL, OSTORE_ETOOBIG, OSTORE_EOVERLOAD (more
 * than max_inflight requests already in flight), OSTORE_ECLOSED, OSTORE_ENOMEM.
 */
OSTORE_API ostore_status ostore_submit(ostore_client *c, ostore_item *items, size_t n, ostore_done_fn done,
                                       void *arg);

/* ---------------------------------------------------------------------------------- */
/* Whole-cluster calls                                                                 */
/* ---------------------------------------------------------------------------------- */

/**
 * Callback of ostore_scan(): one stored order. Pointers are valid only during the call.
 * Return 0 to continue, non-zero to stop the scan (ostore_scan then returns OSTORE_OK).
 */
typedef int (*ostore_scan_fn)(void *arg, const void *id, size_t id_len, const void *value,
                              size_t value_len, uint64_t version);

/**
 * ostore_scan - visit every stored order, slot by slot (slot 0..4095, then by ID bytes
 * within a slot), in pages. Not a snapshot: orders written during the scan may or may
 * not be seen; an order present throughout is seen exactly once.
 * Returns OSTORE_OK or the first transport/storage error.
 */
OSTORE_API ostore_status ostore_scan(ostore_client *c, ostore_scan_fn fn, void *arg);

/** One shard in ostore_stats(). */
typedef struct ostore_shard_stats {
	uint32_t shard;      /**< shard ID */
	uint32_t slots;      /**< slots the cluster map gives it */
	uint32_t node;       /**< node ID of the primary that answered */
	ostore_status status;/**< OSTORE_OK, or why the shard could not be asked */
	uint64_t orders;     /**< orders stored on the primary */
	uint64_t lsn;        /**< primary's last LSN */
	uint64_t bytes_used; /**< bytes of the LMDB data file in use */
} ostore_shard_stats;

/** Result of ostore_stats(). */
typedef struct ostore_cluster_stats {
	uint64_t epoch;       /**< epoch of the router's cluster map */
	uint64_t total_orders;/**< sum over shards that answered */
	size_t nshards;
	ostore_shard_stats shards[]; /**< nshards entries, by shard ID */
} ostore_cluster_stats;

/**
 * ostore_stats - ask a router for per-shard counts.
 * @out: receives a malloc'ed result; free with ostore_stats_free().
 * Returns OSTORE_OK (shards that did not answer carry their own status), or a transport
 * error.
 */
OSTORE_API ostore_status ostore_stats(ostore_client *c, ostore_cluster_stats **out);

/** ostore_stats_free - free a result of ostore_stats(); NULL is ignored. */
OSTORE_API void ostore_stats_free(ostore_cluster_stats *s);

#ifdef __cplusplus
}
#endif
#endif /* ORDERSTORE_H */
