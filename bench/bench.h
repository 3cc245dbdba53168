/*
 * bench.h - internal interfaces of orderstore-bench (bench only, nothing outside bench/
 * includes this).
 *
 *   bench.c      options, the run's life (load, preload, run, report)
 *   workloads.c  what each request slot sends next and what it does with the answer
 *   zipf.c       key choice (uniform, scrambled zipfian)
 *   orders.c     the pool of real order documents (Online Retail, via tools/retail.c)
 *   report.c     per-thread recorders, per-second series, text / JSON / CSV output
 *   drv_ostore.c the orderstore driver (liborderstore's ostore_submit)
 *   drv_redis.c  the peer driver (hiredis async API through a poll loop)
 *
 * A run has --concurrency request slots. A slot holds one request in flight at a time.
 * The driver asks ob_slot_begin() for the slot's next request, sends it, and reports the
 * answer with ob_slot_end(), which records the latency and advances the slot's workload
 * state (F's read-then-CAS, the order lifecycle). Every status is an ostore_status: the
 * redis driver translates its answers to the same codes, so both systems are counted the
 * same way.
 */
#ifndef OB_BENCH_H
#define OB_BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <orderstore.h>

#include "record_key.h"
#include "zipf.h"

/* Kinds of recorded latencies. The first four are requests (one round trip each, summed
 * into the total); the last two are composites spanning several requests. */
#define OB_KIND_TABLE(X)                                                               \
	X(OB_K_GET, "get", 1)                                                          \
	X(OB_K_PUT, "put", 1)                                                          \
	X(OB_K_CREATE, "create", 1)                                                    \
	X(OB_K_CAS, "cas", 1)                                                          \
	X(OB_K_RMW, "rmw", 0)                                                          \
	X(OB_K_ORDER, "order", 0)

typedef enum ob_kind {
#define OB_X(e, name, req) e,
	OB_KIND_TABLE(OB_X)
#undef OB_X
	OB_K_COUNT
} ob_kind;

/** ob_kind_name - "get", "put"... for @k < OB_K_COUNT. */
const char *ob_kind_name(ob_kind k);
/** ob_kind_is_request - 1 for a one-round-trip kind, 0 for a composite. */
int ob_kind_is_request(ob_kind k);

/* Workloads. X(enum, name, read, update, rmw, preload): proportions of a YCSB-style
 * mix; ORDERS is the order lifecycle and ignores the proportions. */
#define OB_WORKLOAD_TABLE(X)                                                           \
	X(OB_W_PUT, "put", 0.0, 1.0, 0.0, 0)                                           \
	X(OB_W_GET, "get", 1.0, 0.0, 0.0, 1)                                           \
	X(OB_W_A, "A", 0.5, 0.5, 0.0, 1)                                               \
	X(OB_W_B, "B", 0.95, 0.05, 0.0, 1)                                             \
	X(OB_W_C, "C", 1.0, 0.0, 0.0, 1)                                               \
	X(OB_W_F, "F", 0.5, 0.0, 0.5, 1)                                               \
	X(OB_W_ORDERS, "orders", 0.0, 0.0, 0.0, 0)

typedef enum ob_wl {
#define OB_X(e, name, r, u, m, p) e,
	OB_WORKLOAD_TABLE(OB_X)
#undef OB_X
	OB_W_COUNT
} ob_wl;

typedef struct ob_workload {
	ob_wl id;
	const char *name;
	double read, update, rmw;
	int preload;
} ob_workload;

/** ob_workload_find - the workload named @name (case-insensitive), or NULL. */
const ob_workload *ob_workload_find(const char *name);

/* Bytes left free before every value in a slot's value buffer: the redis driver writes
 * its version prefix there ("%020llu:", see drv_redis.c) without copying the value. */
#define OB_HEADROOM 21u

typedef struct ob_config {
	const char *target; /* NULL = orderstore; else "redis://HOST:PORT" */
	char redis_host[256]; /* HOST and PORT of target, checked when the options are read */
	int redis_port;
	char *routers[64];
	size_t nrouters;
	const ob_workload *wl;
	ob_dist dist;
	uint64_t records, value_size, concurrency, ops_limit, seconds, rate, timeout_ms;
	uint64_t connections; /* redis: TCP connections (default = concurrency, max 1024) */
	uint64_t batch;       /* orderstore, closed loop: slots per ostore_submit frame */
	const char *orders_file;
	uint64_t orders_pool;
	const char *json_path, *csv_path;
	int quiet;
	uint64_t coalesce;    /* orderstore: ostore_options.coalesce_max_items (0 = default) */
	int no_preload;       /* the records are there already (an earlier run loaded them) */
	int64_t avoid_shard;  /* -1, or keys of this shard are never drawn (YCSB workloads) */
	const char *map_path; /* cluster map JSON for avoid_shard */
	/* orderstore security (docs/security.md): TLS files (all or none) and the token
	 * ("" = none); with --dir the defaults are DIR/tls/client.* and DIR/client.token */
	const char *tls_cert, *tls_key, *tls_ca;
	char token[129];
} ob_config;

typedef struct ob_orders ob_orders;
typedef struct ob_report ob_report;
typedef struct ob_run ob_run;

/** One request slot: one caller with at most one request in flight. */
typedef struct ob_slot {
	ob_run *run;
	uint32_t index;
	uint64_t rng;
	/* the request in flight (valid from ob_slot_begin to ob_slot_end) */
	ostore_op op;
	ob_kind kind;
	char key[OB_KEY_MAX];
	size_t key_len;
	uint8_t *vbuf; /* OB_HEADROOM free bytes, then the value */
	size_t vcap;   /* bytes usable after the headroom */
	size_t value_len;
	uint64_t expected; /* CAS */
	uint64_t t0;       /* intended send time (open loop) or actual send time, ns */
	/* workload state */
	int phase;
	uint64_t version; /* last version the slot saw of its current key */
	uint64_t composite_t0;
	uint32_t doc;    /* orders: pool index of the current order */
	uint64_t serial; /* orders: orders this slot created */
} ob_slot;

struct ob_run {
	const ob_config *cfg;
	ob_keygen keys;
	uint8_t *skip_slot; /* NULL, or OSTORE_SLOTS flags: 1 = draw another key */
	ob_orders *orders; /* NULL unless the workload is orders */
	uint8_t *value;    /* value_size random letters */
	char tag[12];      /* random run tag in order IDs, so reruns never collide */
	uint64_t start_ns, deadline_ns, end_ns;
	atomic_uint_fast64_t issued; /* requests begun (the --ops bound) */
	atomic_uint_fast64_t paced;  /* open loop: intended send times handed out */
	ob_slot *slots;
	ob_report *report;
};

/**
 * ob_slot_begin - prepare @s's next request, intended to be sent at @intended_ns.
 * Returns 1 when a request is ready in @s (op, key, value, expected), 0 when the run's
 * bound (--ops or --seconds) is reached: the slot must then stop.
 */
int ob_slot_begin(ob_slot *s, uint64_t intended_ns);

/**
 * ob_slot_end - the answer to @s's request: record its latency (now - t0) under its kind
 * and status, and advance the workload state with @version (of the value read or written).
 * Thread-safe for distinct slots.
 */
void ob_slot_end(ob_slot *s, ostore_status st, uint64_t version);

/**
 * ob_pace_next - open loop: the intended send time of the next request (start + k/rate),
 * or UINT64_MAX once it would fall past the deadline. Thread-safe.
 */
uint64_t ob_pace_next(ob_run *run);

/** ob_workload_init_slot - reset @s's workload state (called once before the run). */
void ob_workload_init_slot(ob_slot *s);


/* A driver: one target system. Every function returns 0 or -1 after printing why. */
typedef struct ob_driver {
	const char *name;
	int (*open)(ob_run *run, void **state);
	/* write keys 0..records-1 with the run's value */
	int (*preload)(ob_run *run, void *state);
	/* drive every slot until the bound, then wait for all answers (bounded in time) */
	int (*run)(ob_run *run, void *state);
	void (*close)(void *state);
} ob_driver;

extern const ob_driver ob_driver_ostore;
extern const ob_driver ob_driver_redis;

#endif /* OB_BENCH_H */
