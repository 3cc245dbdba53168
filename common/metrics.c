/*
 * metrics.c - the metrics registry: families, striped atomic cells, text exposition.
 *
 *   family ─ cells: [stripe 0: series 0 cells | series 1 cells | ...] (64-byte aligned)
 *                   [stripe 1: ...] ... [stripe STRIPES-1: ...]
 *           counter series: 1 cell;  histogram series: nbuckets + 1 (+Inf) + 1 (sum)
 *           gauge series: 1 cell, not striped
 *
 * A thread picks its stripe once (round robin over a global counter, thread-local), so
 * an update is one relaxed atomic add on a line mostly owned by that core. Histogram
 * buckets are stored per bucket (not cumulative); the render sums the stripes and makes
 * them cumulative, and _count is the sum of all buckets, so a scrape never sees
 * _count != the +Inf bucket. Sparse series carry a "touched" byte written only when it
 * changes (a read first), so the hot path does not dirty a shared line.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orderstore.h>

#define MAX_COLLECTORS 8
#define CELLS_PER_LINE 8u /* 64-byte lines of 8-byte cells */

struct os_metric {
	os_metric_def d;
	os_metric *next;
	uint32_t nseries;
	uint32_t per_series;        /* cells per series */
	uint32_t stride;            /* cells per stripe, a multiple of CELLS_PER_LINE */
	uint64_t le_raw[OS_METRIC_MAX_BUCKETS];
	_Atomic uint64_t *cells;    /* aligned */
	_Atomic uint8_t *touched;   /* sparse families */
};

struct os_metrics {
	pthread_mutex_t mu; /* serializes renders (and collectors) */
	os_metric *head, *tail;
	struct {
		os_metrics_collect_fn fn;
		void *arg;
	} coll[MAX_COLLECTORS];
	unsigned ncoll;
};

static _Atomic unsigned next_stripe;
static _Thread_local unsigned my_stripe = UINT32_MAX;

static inline unsigned stripe(void)
{
	if (my_stripe == UINT32_MAX)
		my_stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) %
		            OS_METRICS_STRIPES;
	return my_stripe;
}

int os_metrics_create(os_metrics **out)
{
	os_metrics *reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return OSTORE_ENOMEM;
	pthread_mutex_init(&reg->mu, NULL);
	*out = reg;
	return OSTORE_OK;
}

void os_metrics_destroy(os_metrics *reg)
{
	if (reg == NULL)
		return;
	for (os_metric *m = reg->head, *n; m != NULL; m = n) {
		n = m->next;
		free((void *)m->cells);
		free((void *)m->touched);
		free(m);
	}
	pthread_mutex_destroy(&reg->mu);
	free(reg);
}

/* Prometheus metric and label names: [a-zA-Z_][a-zA-Z0-9_]* (no colons here). */
static bool valid_name(const char *s)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int check_def(const os_metrics *reg, const os_metric_def *d)
{
	if (!valid_name(d->name) || d->help == NULL)
		return OSTORE_EINVAL;
	for (const os_metric *m = reg->head; m != NULL; m = m->next)
		if (strcmp(m->d.name, d->name) == 0)
			return OSTORE_EINVAL;
	for (unsigned i = 0; i < OS_METRIC_MAX_LABELS; i++) {
		const os_metric_label *l = &d->labels[i];
		if (l->name == NULL)
			continue;
		if (!valid_name(l->name) || l->n == 0 || strcmp(l->name, "le") == 0 ||
		    (i == 1 && d->labels[0].name == NULL))
			return OSTORE_EINVAL;
	}
	if (d->type == OS_METRIC_HISTOGRAM) {
		if (d->buckets == NULL || d->nbuckets == 0 || d->nbuckets > OS_METRIC_MAX_BUCKETS)
			return OSTORE_EINVAL;
		for (uint32_t i = 1; i < d->nbuckets; i++)
			if (!(d->buckets[i] > d->buckets[i - 1]))
				return OSTORE_EINVAL;
	}
	return OSTORE_OK;
}

int os_metrics_add(os_metrics *reg, const os_metric_def *def, os_metric **out)
{
	int rc = check_def(reg, def);
	if (rc != OSTORE_OK)
		return rc;
	os_metric *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return OSTORE_ENOMEM;
	m->d = *def;
	if (!(m->d.scale > 0))
		m->d.scale = 1;
	m->nseries = 1;
	for (unsigned i = 0; i < OS_METRIC_MAX_LABELS; i++)
		if (m->d.labels[i].name != NULL)
			m->nseries *= m->d.labels[i].n;
	m->per_series = def->type == OS_METRIC_HISTOGRAM ? def->nbuckets + 2 : 1;
	uint32_t cells = m->nseries * m->per_series;
	m->stride = (cells + CELLS_PER_LINE - 1) / CELLS_PER_LINE * CELLS_PER_LINE;
	uint32_t stripes = def->type == OS_METRIC_GAUGE ? 1 : OS_METRICS_STRIPES;
	size_t bytes = (size_t)m->stride * stripes * sizeof(uint64_t);
	m->cells = aligned_alloc(64, bytes);
	if (def->sparse)
		m->touched = calloc(m->nseries, 1);
	if (m->cells == NULL || (def->sparse && m->touched == NULL)) {
		free((void *)m->cells);
		free((void *)m->touched);
		free(m);
		return OSTORE_ENOMEM;
	}
	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		atomic_init(&m->cells[i], 0);
	for (uint32_t i = 0; i < m->d.nbuckets && def->type == OS_METRIC_HISTOGRAM; i++) {
		/* raw <= le_raw[i]  <=>  raw * scale <= bound (within rounding) */
		double r = floor(def->buckets[i] / m->d.scale * (1 + 1e-12));
		m->le_raw[i] = r >= 1.8e19 ? UINT64_MAX : (uint64_t)r;
	}
	if (reg->tail != NULL)
		reg->tail->next = m;
	else
		reg->head = m;
	reg->tail = m;
	*out = m;
	return OSTORE_OK;
}

int os_metrics_add_collector(os_metrics *reg, os_metrics_collect_fn fn, void *arg)
{
	if (reg->ncoll == MAX_COLLECTORS)
		return OSTORE_EINVAL;
	reg->coll[reg->ncoll].fn = fn;
	reg->coll[reg->ncoll].arg = arg;
	reg->ncoll++;
	return OSTORE_OK;
}

uint32_t os_metric_series(const os_metric *m, uint32_t i0, uint32_t i1)
{
	const os_metric_label *l = m->d.labels;
	if (l[0].name == NULL)
		return 0;
	if (i0 >= l[0].n)
		i0 = l[0].n - 1;
	if (l[1].name == NULL)
		return i0;
	if (i1 >= l[1].n)
		i1 = l[1].n - 1;
	return i0 * l[1].n + i1;
}

static inline void touch(os_metric *m, uint32_t series)
{
	if (m->touched != NULL &&
	    atomic_load_explicit(&m->touched[series], memory_order_relaxed) == 0)
		atomic_store_explicit(&m->touched[series], 1, memory_order_relaxed);
}

void os_metric_add(os_metric *m, uint32_t series, uint64_t v)
{
	if (m == NULL || series >= m->nseries)
		return;
	atomic_fetch_add_explicit(&m->cells[stripe() * m->stride + series], v,
	                          memory_order_relaxed);
	touch(m, series);
}

void os_metric_inc(os_metric *m, uint32_t series)
{
	os_metric_add(m, series, 1);
}

void os_metric_set(os_metric *m, uint32_t series, int64_t v)
{
	if (m == NULL || series >= m->nseries)
		return;
	atomic_store_explicit(&m->cells[series], (uint64_t)v, memory_order_relaxed);
	touch(m, series);
}

void os_metric_gauge_add(os_metric *m, uint32_t series, int64_t d)
{
	if (m == NULL || series >= m->nseries)
		return;
	atomic_fetch_add_explicit(&m->cells[series], (uint64_t)d, memory_order_relaxed);
	touch(m, series);
}

void os_metric_observe(os_metric *m, uint32_t series, uint64_t raw, uint64_t n)
{
	if (m == NULL || series >= m->nseries || n == 0)
		return;
	uint32_t b = 0;
	while (b < m->d.nbuckets && raw > m->le_raw[b])
		b++; /* b == nbuckets: the +Inf bucket */
	_Atomic uint64_t *c = &m->cells[stripe() * m->stride + series * m->per_series];
	atomic_fetch_add_explicit(&c[b], n, memory_order_relaxed);
	atomic_fetch_add_explicit(&c[m->d.nbuckets + 1], raw * n, memory_order_relaxed);
	touch(m, series);
}

void os_metric_clear(os_metric *m, uint32_t series)
{
	if (m == NULL || series >= m->nseries || m->touched == NULL)
		return;
	atomic_store_explicit(&m->touched[series], 0, memory_order_relaxed);
	if (m->d.type == OS_METRIC_GAUGE)
		atomic_store_explicit(&m->cells[series], 0, memory_order_relaxed);
}

/* Sum of cell @k of @series over the stripes. */
static uint64_t cell_sum(const os_metric *m, uint32_t series, uint32_t k)
{
	uint32_t stripes = m->d.type == OS_METRIC_GAUGE ? 1 : OS_METRICS_STRIPES;
	uint64_t s = 0;
	for (uint32_t i = 0; i < stripes; i++)
		s += atomic_load_explicit(&m->cells[i * m->stride + series * m->per_series + k],
		                          memory_order_relaxed);
	return s;
}

int64_t os_metric_value(const os_metric *m, uint32_t series)
{
	if (m == NULL || series >= m->nseries)
		return 0;
	if (m->d.type != OS_METRIC_HISTOGRAM)
		return (int64_t)cell_sum(m, series, 0);
	uint64_t n = 0;
	for (uint32_t b = 0; b <= m->d.nbuckets; b++)
		n += cell_sum(m, series, b);
	return (int64_t)n;
}

/* ---- rendering ---- */

static void put_str(os_buf *b, const char *s)
{
	os_buf_put(b, s, strlen(s));
}

/* HELP text: backslash and newline escaped. Label values also escape '"'. */
static void put_escaped(os_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put_str(b, "\\\\");
		else if (*s == '\n')
			put_str(b, "\\n");
		else if (*s == '"' && quote)
			put_str(b, "\\\"");
		else
			os_buf_put(b, s, 1);
	}
}

static void put_fmt(os_buf *b, const char *fmt, double v)
{
	char tmp[64];
	if (isinf(v))
		snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		snprintf(tmp, sizeof(tmp), "NaN");
	else
		snprintf(tmp, sizeof(tmp), fmt, v);
	put_str(b, tmp);
}

/* A raw value times the family's scale: integers stay exact when the scale is 1. */
static void put_value(os_buf *b, const os_metric *m, uint64_t raw, bool is_signed)
{
	char tmp[32];
	if (m->d.scale == 1) {
		if (is_signed)
			snprintf(tmp, sizeof(tmp), "%lld", (long long)(int64_t)raw);
		else
			snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)raw);
		put_str(b, tmp);
		return;
	}
	double v = is_signed ? (double)(int64_t)raw : (double)raw;
	put_fmt(b, "%.12g", v * m->d.scale);
}

static void put_label_value(os_buf *b, const os_metric_label *l, uint32_t i)
{
	if (l->values == NULL) {
		char tmp[16];
		snprintf(tmp, sizeof(tmp), "%u", i);
		put_str(b, tmp);
	} else {
		put_escaped(b, l->values[i] != NULL ? l->values[i] : "", true);
	}
}

/* "{a="x",b="y"" without the closing brace (so "le" can follow); nothing if no labels. */
static bool put_labels_open(os_buf *b, const os_metric *m, uint32_t series)
{
	const os_metric_label *l = m->d.labels;
	if (l[0].name == NULL)
		return false;
	uint32_t n1 = l[1].name != NULL ? l[1].n : 1;
	uint32_t idx[2] = {series / n1, series % n1};
	put_str(b, "{");
	for (unsigned i = 0; i < OS_METRIC_MAX_LABELS && l[i].name != NULL; i++) {
		if (i > 0)
			put_str(b, ",");
		put_str(b, l[i].name);
		put_str(b, "=\"");
		put_label_value(b, &l[i], idx[i]);
		put_str(b, "\"");
	}
	return true;
}

static void put_series_name(os_buf *b, const os_metric *m, const char *suffix, uint32_t series)
{
	put_str(b, m->d.name);
	put_str(b, suffix);
	if (put_labels_open(b, m, series))
		put_str(b, "}");
	put_str(b, " ");
}

static void render_histogram(os_buf *b, const os_metric *m, uint32_t s)
{
	uint64_t cum = 0;
	for (uint32_t k = 0; k <= m->d.nbuckets; k++) {
		cum += cell_sum(m, s, k);
		put_str(b, m->d.name);
		put_str(b, "_bucket");
		put_str(b, put_labels_open(b, m, s) ? ",le=\"" : "{le=\"");
		if (k == m->d.nbuckets)
			put_str(b, "+Inf");
		else
			put_fmt(b, "%.12g", m->d.buckets[k]);
		put_str(b, "\"} ");
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%llu\n", (unsigned long long)cum);
		put_str(b, tmp);
	}
	put_series_name(b, m, "_sum", s);
	put_value(b, m, cell_sum(m, s, m->d.nbuckets + 1), false);
	put_str(b, "\n");
	put_series_name(b, m, "_count", s);
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%llu\n", (unsigned long long)cum);
	put_str(b, tmp);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static void render_family(os_buf *b, const os_metric *m)
{
	put_str(b, "# HELP ");
	put_str(b, m->d.name);
	put_str(b, " ");
	put_escaped(b, m->d.help, false);
	put_str(b, "\n# TYPE ");
	put_str(b, m->d.name);
	put_str(b, " ");
	put_str(b, type_names[m->d.type]);
	put_str(b, "\n");
	for (uint32_t s = 0; s < m->nseries; s++) {
		if (m->touched != NULL && atomic_load_explicit(&m->touched[s], memory_order_relaxed) == 0)
			continue;
		if (m->d.type == OS_METRIC_HISTOGRAM) {
			render_histogram(b, m, s);
			continue;
		}
		put_series_name(b, m, "", s);
		put_value(b, m, cell_sum(m, s, 0), m->d.type == OS_METRIC_GAUGE);
		put_str(b, "\n");
	}
}

int os_metrics_render(os_metrics *reg, os_buf *out)
{
	pthread_mutex_lock(&reg->mu);
	for (unsigned i = 0; i < reg->ncoll; i++)
		reg->coll[i].fn(reg->coll[i].arg);
	for (const os_metric *m = reg->head; m != NULL; m = m->next)
		render_family(out, m);
	pthread_mutex_unlock(&reg->mu);
	return out->oom ? OSTORE_ENOMEM : OSTORE_OK;
}
