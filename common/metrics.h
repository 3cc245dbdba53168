/*
 * metrics.h - a small Prometheus metrics registry and its HTTP endpoint (internal).
 *
 *   hot path:  os_metric_inc / os_metric_observe ─▶ relaxed atomic adds on this thread's
 *              stripe (no lock, no allocation)
 *   scrape:    GET /metrics ─▶ collectors refresh gauges ─▶ sum the stripes ─▶ text 0.0.4
 *
 * A registry holds families (os_metric): a name following Prometheus conventions
 * (orderstore_ prefix, base units, _total for counters), a help text, a type, and up to
 * two label dimensions with a fixed set of values each (e.g. op x code). A family's
 * series are numbered: series = value index of label 0 * (values of label 1) + value
 * index of label 1 (os_metric_series). Raw values are integers; the rendered value is
 * raw * scale (e.g. nanoseconds with scale 1e-9 are rendered in seconds).
 *
 * Counters and histograms are striped: each thread adds to one of OS_METRICS_STRIPES
 * cache-line-aligned copies, summed at render time, so threads on different cores do
 * not bounce one cache line per request. Gauges are single cells (set or add).
 *
 * Thread safety: updates and os_metrics_render may run on any thread at any time.
 * Families are added before the registry is shared (start-up); they live until
 * os_metrics_destroy.
 */
#ifndef OS_METRICS_H
#define OS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define OS_METRICS_STRIPES 4u
#define OS_METRIC_MAX_LABELS 2u
#define OS_METRIC_MAX_BUCKETS 24u

typedef enum os_metric_type {
	OS_METRIC_COUNTER,
	OS_METRIC_GAUGE,
	OS_METRIC_HISTOGRAM,
} os_metric_type;

/** One label dimension: its name and its fixed values. */
typedef struct os_metric_label {
	const char *name;          /* NULL = dimension unused */
	const char *const *values; /* n values; NULL: the values are the numbers 0..n-1 */
	uint32_t n;
} os_metric_label;

/** What a family is. Strings are borrowed and must outlive the registry (literals). */
typedef struct os_metric_def {
	const char *name;
	const char *help;
	os_metric_type type;
	os_metric_label labels[OS_METRIC_MAX_LABELS];
	double scale;          /* rendered = raw * scale; 0 means 1 */
	const double *buckets; /* histograms: ascending upper bounds in base units (no +Inf) */
	uint32_t nbuckets;     /* 1..OS_METRIC_MAX_BUCKETS */
	bool sparse;           /* render only series updated since creation or last clear */
} os_metric_def;

typedef struct os_metric os_metric;
typedef struct os_metrics os_metrics;

/** Refreshes gauges just before a render (runs on the scraping thread). */
typedef void (*os_metrics_collect_fn)(void *arg);

/** os_metrics_create - an empty registry. Returns OSTORE_OK (*@out set) or OSTORE_ENOMEM. */
int os_metrics_create(os_metrics **out);
/** os_metrics_destroy - free the registry and its families. NULL is ignored. The HTTP
 *  endpoint using it must be stopped first. */
void os_metrics_destroy(os_metrics *reg);

/**
 * os_metrics_add - add the family @def (copied; its strings borrowed). *@out is the
 * handle for updates. Returns OSTORE_OK, OSTORE_EINVAL (bad name, labels or buckets,
 * or a name already registered) or OSTORE_ENOMEM.
 */
int os_metrics_add(os_metrics *reg, const os_metric_def *def, os_metric **out);

/** os_metrics_add_collector - run @fn(@arg) before every render (at most 8 collectors).
 *  Returns OSTORE_OK or OSTORE_EINVAL (table full). */
int os_metrics_add_collector(os_metrics *reg, os_metrics_collect_fn fn, void *arg);

/**
 * os_metrics_render - run the collectors and append the text exposition (format 0.0.4:
 * "# HELP", "# TYPE", one line per series; histograms as cumulative _bucket{le=...},
 * _sum and _count) of every family, in registration order, to @out.
 * Returns OSTORE_OK or OSTORE_ENOMEM (@out's oom flag set). Renders are serialized.
 */
int os_metrics_render(os_metrics *reg, os_buf *out);

/** os_metric_series - the series index of label value indices @i0 and @i1 (0 when the
 *  dimension is unused). Out-of-range indices give the last series of that label. */
uint32_t os_metric_series(const os_metric *m, uint32_t i0, uint32_t i1);

/* ---- updates (any thread, lock-free; a NULL family or bad series is ignored) ---- */

/** os_metric_add - counter: add @v raw units to @series. */
void os_metric_add(os_metric *m, uint32_t series, uint64_t v);
/** os_metric_inc - counter: add 1. */
void os_metric_inc(os_metric *m, uint32_t series);
/** os_metric_set - gauge: set @series to @v raw units. */
void os_metric_set(os_metric *m, uint32_t series, int64_t v);
/** os_metric_gauge_add - gauge: add @d (may be negative). */
void os_metric_gauge_add(os_metric *m, uint32_t series, int64_t d);
/** os_metric_observe - histogram: @n observations of raw value @raw each. */
void os_metric_observe(os_metric *m, uint32_t series, uint64_t raw, uint64_t n);
/** os_metric_clear - sparse families: stop rendering @series (and zero a gauge). */
void os_metric_clear(os_metric *m, uint32_t series);

/** os_metric_value - counter or gauge: current raw value of @series (summed over the
 *  stripes); histograms: the observation count. For tests and collectors. */
int64_t os_metric_value(const os_metric *m, uint32_t series);

/* ---- HTTP endpoint (metrics_http.c) ---- */

typedef struct os_metrics_http os_metrics_http;

/**
 * os_metrics_http_start - serve GET /metrics of @reg (borrowed, must outlive the server)
 * over HTTP on @hostport ("HOST:PORT", e.g. "127.0.0.1:9100"); every other path answers
 * 404. Uses nng's HTTP server; bind it to a management address only (nng 1.5.2 HTTP bugs
 * #1594, #1611). Returns OSTORE_OK (*@out set), OSTORE_EINVAL (not HOST:PORT with a
 * port 1..65535), OSTORE_ECONNECT (cannot listen: logged with the cause), OSTORE_ENOMEM.
 */
int os_metrics_http_start(os_metrics *reg, const char *hostport, os_metrics_http **out);
/** os_metrics_http_url - "http://HOST:PORT/metrics" of a running endpoint. */
const char *os_metrics_http_url(const os_metrics_http *h);
/** os_metrics_http_stop - stop serving and free. NULL is ignored. */
void os_metrics_http_stop(os_metrics_http *h);

/** os_metrics_check_hostport - whether @s is "HOST:PORT" with a port 1..65535 (for
 *  option parsing). */
bool os_metrics_check_hostport(const char *s);

#endif /* OS_METRICS_H */
