/*
 * procmetrics.c - request, connection and process metrics shared by node and router.
 *
 * Accounting a frame costs one counter add per run of equal (op, code) items and one
 * histogram observation per op present in the frame (os_metric_observe with a count),
 * so a 100-item batch of PUTs is two or three atomic adds, not two hundred.
 */
#include "procmetrics.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <nng/supplemental/util/platform.h>
#include <time.h>

#include <orderstore.h>

#include "log.h"
#include "ostore_build.h"
#include "util.h"

const char *const os_mop_names[OS_MOP_COUNT] = {
#define OS_MOP_NAME(e, s) [OS_MOP_##e] = s,
	OS_MOP_TABLE(OS_MOP_NAME)
#undef OS_MOP_NAME
};

/* Status names without "OSTORE_", then "UNKNOWN" for anything else. */
#define CODE_UNKNOWN OSTORE_STATUS_COUNT
static const char *const code_names[OSTORE_STATUS_COUNT + 1] = {
#define CODE_NAME(name, code, text) [code] = &#name[7],
	OSTORE_STATUS_TABLE(CODE_NAME)
#undef CODE_NAME
	[CODE_UNKNOWN] = "UNKNOWN",
};

/* Request latency buckets, seconds: 50 µs .. 10 s. */
static const double duration_buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                          0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                          0.5,     1,      2.5,     5,      10};
static const char *const version_values[] = {OSTORE_VERSION};

#define NSEC 1e-9

static const os_metric_def defs[] = {
	{.name = "orderstore_requests_total",
	 .help = "Requests answered, by operation and result code (DATA frames: one per item).",
	 .type = OS_METRIC_COUNTER,
	 .labels = {{"op", os_mop_names, OS_MOP_COUNT}, {"code", code_names, OSTORE_STATUS_COUNT + 1}},
	 .sparse = true},
	{.name = "orderstore_request_duration_seconds",
	 .help = "Time from receiving a request frame to handing its reply to the transport, "
	         "by operation (DATA frames: one observation per item).",
	 .type = OS_METRIC_HISTOGRAM,
	 .labels = {{"op", os_mop_names, OS_MOP_COUNT}},
	 .scale = NSEC,
	 .buckets = duration_buckets,
	 .nbuckets = sizeof(duration_buckets) / sizeof(duration_buckets[0]),
	 .sparse = true},
	{.name = "orderstore_open_connections",
	 .help = "Connections (nng pipes) open on the serving socket.",
	 .type = OS_METRIC_GAUGE},
	{.name = "orderstore_connections_total",
	 .help = "Connections (nng pipes) accepted on the serving socket.",
	 .type = OS_METRIC_COUNTER},
	{.name = "orderstore_connections_refused_total",
	 .help = "Connections closed on arrival because --max-connections were open.",
	 .type = OS_METRIC_COUNTER},
	{.name = "orderstore_max_connections",
	 .help = "The --max-connections limit of the serving socket (0 = none).",
	 .type = OS_METRIC_GAUGE},
	{.name = "orderstore_uptime_seconds",
	 .help = "Seconds since the process started.",
	 .type = OS_METRIC_GAUGE,
	 .scale = NSEC},
	{.name = "orderstore_process_start_time_seconds",
	 .help = "Start time of the process since the Unix epoch, seconds.",
	 .type = OS_METRIC_GAUGE},
	{.name = "orderstore_build_info",
	 .help = "Build information: the version label; the value is always 1.",
	 .type = OS_METRIC_GAUGE,
	 .labels = {{"version", version_values, 1}}},
	{.name = "orderstore_nng_task_threads",
	 .help = "nng task (callback) threads running in this process, counted at start "
	         "(-1: /proc unreadable).",
	 .type = OS_METRIC_GAUGE},
};

static void collect(void *arg)
{
	os_procmetrics *pm = arg;
	os_metric_set(pm->uptime, 0, (int64_t)(os_now_ns() - pm->start_ns));
}

int os_procmetrics_init(os_procmetrics *pm, os_metrics *reg)
{
	memset(pm, 0, sizeof(*pm));
	pm->reg = reg;
	pm->start_ns = os_now_ns();
	os_metric **slots[] = {&pm->requests, &pm->duration, &pm->conns, &pm->conns_total,
	                       &pm->conns_refused, &pm->max_conns_g, &pm->uptime, &pm->start_time,
	                       &pm->build, &pm->nng_threads};
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		int rc = os_metrics_add(reg, &defs[i], slots[i]);
		if (rc != OSTORE_OK)
			return rc;
	}
	os_metric_set(pm->start_time, 0, (int64_t)time(NULL));
	os_metric_set(pm->build, 0, 1);
	return os_metrics_add_collector(reg, collect, pm);
}

#define NNG_SETTLE_MS 50
#define NNG_WAIT_MS 1000
#define NNG_POLL_MS 5

int os_procmetrics_nng_threads(os_procmetrics *pm)
{
	int n = os_nng_task_threads(0), same_ms = 0;
	for (int waited = 0; n >= 0 && n != OSTORE_NNG_TASKQ_THREADS && same_ms < NNG_SETTLE_MS &&
	                     waited < NNG_WAIT_MS;
	     waited += NNG_POLL_MS) {
		nng_msleep(NNG_POLL_MS);
		int m = os_nng_task_threads(0);
		same_ms = m == n ? same_ms + NNG_POLL_MS : 0;
		n = m;
	}
	os_metric_set(pm->nng_threads, 0, n);
	if (n < 0) {
		OS_WARN("msg=\"cannot count nng task threads\" err=\"%s\"", strerror(errno));
		return n;
	}
	if (OSTORE_NNG_TASKQ_THREADS != 0 && n != OSTORE_NNG_TASKQ_THREADS) {
		Dl_info info = {0};
		const char *lib = dladdr((void *)nng_version, &info) != 0 && info.dli_fname != NULL
		                      ? info.dli_fname
		                      : "unknown";
		OS_WARN("msg=\"running nng has %d task threads, built for %d: check the nng in %s/lib "
		        "(tools/build-nng)\" nng_task_threads=%d loaded=%s",
		        n, OSTORE_NNG_TASKQ_THREADS, OSTORE_NNG_PREFIX, n, lib);
	}
	return n;
}

os_mop os_mop_of_kind(uint8_t kind)
{
	switch (kind & (uint8_t)~OS_REPLY_BIT) {
	case OS_KIND_DATA: return OS_MOP_DATA;
	case OS_KIND_SCAN: return OS_MOP_SCAN;
	case OS_KIND_STATS: return OS_MOP_STATS;
	case OS_KIND_MAP_GET: return OS_MOP_MAP_GET;
	case OS_KIND_MAP_SET: return OS_MOP_MAP_SET;
	case OS_KIND_PING: return OS_MOP_PING;
	case OS_KIND_REPL_PULL: return OS_MOP_REPL_PULL;
	case OS_KIND_SNAP: return OS_MOP_SNAP;
	case OS_KIND_CHECKSUM: return OS_MOP_CHECKSUM;
	default: return OS_MOP_OTHER;
	}
}

os_mop os_mop_of_item(uint8_t op)
{
	switch (op) {
	case OSTORE_OP_GET: return OS_MOP_GET;
	case OSTORE_OP_PUT: return OS_MOP_PUT;
	case OSTORE_OP_DEL: return OS_MOP_DEL;
	case OSTORE_OP_CAS: return OS_MOP_CAS;
	default: return OS_MOP_OTHER;
	}
}

static uint32_t code_of(uint16_t status)
{
	return status < OSTORE_STATUS_COUNT ? status : CODE_UNKNOWN;
}

void os_procmetrics_frame(os_procmetrics *pm, os_mop op, uint16_t status, uint64_t dur_ns)
{
	os_metric_inc(pm->requests, os_metric_series(pm->requests, op, code_of(status)));
	os_metric_observe(pm->duration, op, dur_ns, 1);
}

/* Per-item accounting; @status_at gives item i's status. */
typedef struct item_acc {
	uint64_t per_op[OS_MOP_COUNT];
	uint32_t run_series;
	uint64_t run_len;
} item_acc;

static void acc_item(os_procmetrics *pm, item_acc *a, os_mop op, uint16_t status)
{
	uint32_t s = os_metric_series(pm->requests, op, code_of(status));
	if (a->run_len > 0 && s != a->run_series) {
		os_metric_add(pm->requests, a->run_series, a->run_len);
		a->run_len = 0;
	}
	a->run_series = s;
	a->run_len++;
	a->per_op[op]++;
}

static void acc_end(os_procmetrics *pm, item_acc *a, uint64_t dur_ns)
{
	if (a->run_len > 0)
		os_metric_add(pm->requests, a->run_series, a->run_len);
	for (unsigned op = 0; op < OS_MOP_COUNT; op++)
		if (a->per_op[op] > 0)
			os_metric_observe(pm->duration, op, dur_ns, a->per_op[op]);
}

void os_procmetrics_items(os_procmetrics *pm, const os_item *items, const os_result *res,
                          uint16_t n, uint64_t dur_ns)
{
	item_acc a = {0};
	for (uint16_t i = 0; i < n; i++)
		acc_item(pm, &a, os_mop_of_item(items[i].op), res[i].status);
	acc_end(pm, &a, dur_ns);
}

void os_procmetrics_data_reply(os_procmetrics *pm, const os_item *items, uint16_t n,
                               const uint8_t *reply, size_t len, uint64_t dur_ns)
{
	os_hdr h;
	const uint8_t *p;
	size_t left;
	if (os_hdr_get(reply, len, &h, &p, &left) != OSTORE_OK) {
		os_procmetrics_frame(pm, OS_MOP_DATA, OSTORE_EPROTO, dur_ns);
		return;
	}
	if (h.status != OSTORE_OK || h.count != n || n == 0) {
		os_procmetrics_frame(pm, OS_MOP_DATA, h.status != OSTORE_OK ? h.status : OSTORE_EPROTO,
		                     dur_ns);
		return;
	}
	/* Result: u16 status, u16 reserved, u32 value_len, u64 version, value. */
	item_acc a = {0};
	for (uint16_t i = 0; i < n; i++) {
		uint16_t st = OSTORE_EPROTO;
		if (left >= 16) {
			st = os_ld16(p);
			uint32_t vlen = os_ld32(p + 4);
			size_t step = 16 + (size_t)vlen;
			if (step > left)
				step = left;
			p += step;
			left -= step;
		}
		acc_item(pm, &a, os_mop_of_item(items[i].op), st);
	}
	acc_end(pm, &a, dur_ns);
}

/*
 * Connection limit. nng runs ADD_PRE for every new pipe and, once ADD_PRE ran, REM_POST
 * exactly once when it goes (also for a pipe closed inside ADD_PRE, which never gets
 * ADD_POST). So ADD_PRE counts every pipe in pm->live and REM_POST uncounts it; a pipe
 * that finds max_conns already counted is closed on the spot (nng_pipe_close is the one
 * call allowed there, library-facts) and only lives until its REM_POST. The gauge shows
 * pm->live, so for a moment it includes pipes being refused.
 */
static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)ev;
	os_procmetrics *pm = arg;
	unsigned live = atomic_fetch_add(&pm->live, 1) + 1;
	os_metric_gauge_add(pm->conns, 0, 1);
	if (pm->max_conns != 0 && live > pm->max_conns) {
		os_metric_inc(pm->conns_refused, 0);
		OS_DEBUG("msg=\"connection refused: limit reached\" max_connections=%u", pm->max_conns);
		nng_pipe_close(p);
		return;
	}
	os_metric_inc(pm->conns_total, 0);
}

static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	os_procmetrics *pm = arg;
	atomic_fetch_sub(&pm->live, 1);
	os_metric_gauge_add(pm->conns, 0, -1);
}

int os_procmetrics_watch_socket(os_procmetrics *pm, nng_socket s, unsigned max_conns)
{
	pm->max_conns = max_conns;
	os_metric_set(pm->max_conns_g, 0, max_conns);
	int rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, pipe_added, pm);
	if (rv == 0)
		rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_removed, pm);
	return rv == 0 ? OSTORE_OK : os_from_nng(rv);
}

int os_procservice_init(os_procservice *ps, const os_metric_slot *slots, size_t n,
                        os_metrics_collect_fn fn, void *arg)
{
	int rc = os_metrics_create(&ps->reg);
	if (rc != OSTORE_OK)
		return rc;
	if ((rc = os_procmetrics_init(&ps->pm, ps->reg)) != OSTORE_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = os_metrics_add(ps->reg, &slots[i].d, slots[i].out)) != OSTORE_OK)
			return rc;
	return fn != NULL ? os_metrics_add_collector(ps->reg, fn, arg) : OSTORE_OK;
}

static void serve_retry(void *arg)
{
	os_procservice *ps = arg;
	for (unsigned wait_ms = 1000; !atomic_load(&ps->stopping); wait_ms = wait_ms < 16000 ? wait_ms * 2 : 16000) {
		for (unsigned t = 0; t < wait_ms && !atomic_load(&ps->stopping); t += 100)
			nng_msleep(100);
		if (atomic_load(&ps->stopping))
			return;
		os_metrics_http *h = NULL;
		if (os_metrics_http_start(ps->reg, ps->addr, &h) == OSTORE_OK) {
			ps->http = h; /* read only after this thread is joined, or by nobody */
			return;
		}
	}
}

int os_procservice_serve(os_procservice *ps, const char *hostport)
{
	int rc = os_metrics_http_start(ps->reg, hostport, &ps->http);
	if (rc != OSTORE_ECONNECT)
		return rc;
	if (strlen(hostport) >= sizeof(ps->addr))
		return OSTORE_EINVAL;
	strcpy(ps->addr, hostport);
	atomic_store(&ps->stopping, false);
	OS_WARN("msg=\"metrics address busy, retrying in the background\" addr=%s", hostport);
	return nng_thread_create(&ps->retry, serve_retry, ps) == 0 ? OSTORE_OK : OSTORE_ENOMEM;
}

void os_procservice_stop(os_procservice *ps)
{
	atomic_store(&ps->stopping, true);
	if (ps->retry != NULL) {
		nng_thread_destroy(ps->retry); /* joins */
		ps->retry = NULL;
	}
	os_metrics_http_stop(ps->http);
	ps->http = NULL;
}

void os_procservice_fini(os_procservice *ps)
{
	os_procservice_stop(ps);
	os_metrics_destroy(ps->reg);
	memset(ps, 0, sizeof(*ps));
}
