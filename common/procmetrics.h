/*
 * procmetrics.h - the metrics every orderstore process has (internal): requests by
 * operation and result code, request latency by operation, open connections, uptime,
 * build version. Node and router register these first, then their own families.
 *
 *   orderstore_requests_total{op,code}            counter (DATA: one per item)
 *   orderstore_request_duration_seconds{op}       histogram (DATA: one per item, each
 *                                                 observing its frame's latency)
 *   orderstore_open_connections                   gauge (nng pipes of the serving socket)
 *   orderstore_connections_total                  counter (accepted)
 *   orderstore_connections_refused_total          counter (over --max-connections)
 *   orderstore_max_connections                    gauge (the limit, 0 = none)
 *   orderstore_uptime_seconds, orderstore_process_start_time_seconds   gauges
 *   orderstore_build_info{version}                gauge, always 1
 *   orderstore_nng_task_threads                   gauge (os_procmetrics_nng_threads)
 *
 * op: get put del cas (DATA items), data (a DATA frame refused as a whole: status-only
 * reply), scan stats map_get map_set ping repl_pull snap checksum, other (unknown kind).
 * code: the ostore status name without "OSTORE_" ("OK", "ENOTFOUND", ...).
 *
 * Thread safety: init from the main thread before the sockets serve; the rest from any
 * thread (a few relaxed atomic adds per frame).
 */
#ifndef OS_PROCMETRICS_H
#define OS_PROCMETRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "metrics.h"
#include "wire.h"

#define OS_MOP_TABLE(X)                                                                    \
	X(GET, "get") X(PUT, "put") X(DEL, "del") X(CAS, "cas") X(DATA, "data")                \
	X(SCAN, "scan") X(STATS, "stats") X(MAP_GET, "map_get") X(MAP_SET, "map_set")          \
	X(PING, "ping") X(REPL_PULL, "repl_pull") X(SNAP, "snap") X(CHECKSUM, "checksum")      \
	X(OTHER, "other")

typedef enum os_mop {
#define OS_MOP_ENUM(e, s) OS_MOP_##e,
	OS_MOP_TABLE(OS_MOP_ENUM)
#undef OS_MOP_ENUM
	OS_MOP_COUNT
} os_mop;

/** The shared families of one process. */
typedef struct os_procmetrics {
	os_metrics *reg;
	os_metric *requests, *duration, *conns, *conns_total, *conns_refused, *max_conns_g,
	    *uptime, *start_time, *build, *nng_threads;
	uint64_t start_ns; /* os_now_ns() at init */
	unsigned max_conns;   /* connection limit of the watched socket, 0 = none */
	_Atomic unsigned live; /* its pipes, refused ones until they are gone */
} os_procmetrics;

/** os_procmetrics_init - register the shared families in @reg (borrowed) and its
 *  collector (uptime). Returns OSTORE_OK or the error of os_metrics_add. */
int os_procmetrics_init(os_procmetrics *pm, os_metrics *reg);

/**
 * os_procmetrics_nng_threads - count nng's task threads in this process (call from the
 * main thread once its first nng socket is open), publish the count as
 * orderstore_nng_task_threads and, when the build knows the count of the nng it was
 * built against (OSTORE_NNG_TASKQ_THREADS from tools/build-nng's stamp, 0 for the
 * system's nng) and the running one differs, log a WARN naming the library loaded: the
 * binary found another libnng (the prefix is gone, or LD_LIBRARY_PATH points elsewhere).
 * Waits until the count is the expected one or has stayed the same for 50 ms (threads
 * name themselves once they first run), at most 1 s. Returns the count, or -1 (also the
 * gauge's value, with a WARN) when /proc cannot be read.
 */
int os_procmetrics_nng_threads(os_procmetrics *pm);

/** os_mop_names - the op label values, indexed by os_mop. */
extern const char *const os_mop_names[OS_MOP_COUNT];
/** os_mop_of_kind - the op of a frame kind (DATA gives OS_MOP_DATA). Cannot fail. */
os_mop os_mop_of_kind(uint8_t kind);
/** os_mop_of_item - the op of a DATA item op code (OSTORE_OP_*). Cannot fail. */
os_mop os_mop_of_item(uint8_t op);

/** os_procmetrics_frame - one frame of op @op answered @status after @dur_ns. */
void os_procmetrics_frame(os_procmetrics *pm, os_mop op, uint16_t status, uint64_t dur_ns);
/** os_procmetrics_items - a DATA frame of @n items answered per item: item i has op
 *  @items[i].op and status @status_of(i). @dur_ns is the frame's latency. */
void os_procmetrics_items(os_procmetrics *pm, const os_item *items, const os_result *res,
                          uint16_t n, uint64_t dur_ns);
/**
 * os_procmetrics_data_reply - a DATA frame of @n items (@items) answered with the reply
 * frame @reply/@len: per item when the reply has @n results, else one "data" frame with
 * the reply's status. Cannot fail (an undecodable reply counts as op "data", EPROTO).
 */
void os_procmetrics_data_reply(os_procmetrics *pm, const os_item *items, uint16_t n,
                               const uint8_t *reply, size_t len, uint64_t dur_ns);

/**
 * os_procmetrics_watch_socket - count the pipes of @s in orderstore_open_connections and
 * enforce @max_conns (0 = no limit): a connection arriving while @max_conns are open is
 * closed at once and counted in orderstore_connections_refused_total (pipe notify
 * callbacks: atomics and nng_pipe_close only). The peer sees the connection drop; an
 * nng dialer retries later. Call once per process, before @s listens.
 * Returns OSTORE_OK or an nng error translated.
 */
int os_procmetrics_watch_socket(os_procmetrics *pm, nng_socket s, unsigned max_conns);

/** One family of a process's own table: its definition and where its handle goes. */
typedef struct os_metric_slot {
	os_metric_def d;
	os_metric **out;
} os_metric_slot;

/**
 * The metrics of one serving process: registry, shared families, its own table, its
 * collector and the /metrics HTTP server. Node and router each keep one (node_metrics.c,
 * rt_metrics.c), so the lifecycle lives here once.
 */
typedef struct os_procservice {
	os_metrics *reg;
	os_metrics_http *http; /* NULL until the server is up (the retry thread sets it) */
	os_procmetrics pm;
	struct nng_thread *retry; /* retries the bind when the port was busy at start */
	char addr[256];
	_Atomic bool stopping;
} os_procservice;

/**
 * os_procservice_init - create the registry, register the shared families, then @n
 * families of @slots (each handle written to its .out) and the collector @fn(@arg) (NULL:
 * none). Returns OSTORE_OK, OSTORE_ENOMEM or the error of os_metrics_add; on error call
 * os_procservice_fini.
 */
int os_procservice_init(os_procservice *ps, const os_metric_slot *slots, size_t n,
                        os_metrics_collect_fn fn, void *arg);
/**
 * os_procservice_serve - serve GET /metrics on @hostport (at most 255 bytes). When the
 * address is valid but cannot be bound now (e.g. the port of a process killed a moment
 * ago is still held), a background thread retries with backoff (1 s doubling to 16 s)
 * until it binds or os_procservice_stop: metrics must never keep a node or router from
 * serving orders. Returns OSTORE_OK (serving, or retrying), OSTORE_EINVAL (not a
 * HOST:PORT nng can parse), OSTORE_ENOMEM.
 */
int os_procservice_serve(os_procservice *ps, const char *hostport);
/** os_procservice_stop - stop the HTTP server (if any); the registry stays. */
void os_procservice_stop(os_procservice *ps);
/** os_procservice_fini - stop serving, free the registry, zero @ps (later updates through
 *  handles taken from it must not happen; the process is shutting down). */
void os_procservice_fini(os_procservice *ps);

#endif /* OS_PROCMETRICS_H */
