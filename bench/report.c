/*
 * report.c - per-thread recorders, the per-second series, and the text / JSON / CSV
 * output of a run (see report.h for the recording scheme).
 *
 *   completion thread ──▶ its recorder (TLS): hist[kind], errors[kind][code], sec hist
 *                                   │ second changed (mutex, ~1/s per thread)
 *                                   ▼
 *                          series[second] (histogram + failures)
 *   after the run: recorders ──merge──▶ totals ──▶ text, JSON, CSV
 */
#include "report.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orders.h"

typedef struct ob_rec {
	struct ob_rec *next;
	const ob_report *owner;
	ob_hist hist[OB_K_COUNT];
	uint64_t errors[OB_K_COUNT][OSTORE_STATUS_COUNT];
	uint64_t sec;       /* second of sec_hist */
	ob_hist sec_hist;   /* requests answered in that second */
	uint64_t sec_fail;  /* requests failed in that second */
} ob_rec;

typedef struct ob_row {
	ob_hist *hist; /* NULL until a second has completions */
	uint64_t failures;
} ob_row;

struct ob_report {
	pthread_mutex_t mtx;
	ob_rec *recs;
	uint64_t start_ns;
	uint64_t nrows;
	ob_row *rows;
	/* after ob_report_finish */
	double elapsed_s;
	ob_hist hist[OB_K_COUNT];
	ob_hist total;
	uint64_t errors[OB_K_COUNT][OSTORE_STATUS_COUNT];
	uint64_t total_errors[OSTORE_STATUS_COUNT];
};

static _Thread_local ob_rec *tls_rec;

ob_report *ob_report_create(uint64_t max_seconds)
{
	ob_report *rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return NULL;
	rp->nrows = max_seconds + 1;
	rp->rows = calloc(rp->nrows, sizeof(*rp->rows));
	if (rp->rows == NULL) {
		free(rp);
		return NULL;
	}
	pthread_mutex_init(&rp->mtx, NULL);
	return rp;
}

void ob_report_destroy(ob_report *rp)
{
	if (rp == NULL)
		return;
	for (ob_rec *r = rp->recs, *next; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	for (uint64_t i = 0; i < rp->nrows; i++)
		free(rp->rows[i].hist);
	free(rp->rows);
	pthread_mutex_destroy(&rp->mtx);
	free(rp);
}

void ob_report_start(ob_report *rp, uint64_t start_ns) { rp->start_ns = start_ns; }

static void flush_second_locked(ob_report *rp, ob_rec *r)
{
	uint64_t row = r->sec < rp->nrows ? r->sec : rp->nrows - 1;
	if (r->sec_hist.count != 0) {
		if (rp->rows[row].hist == NULL)
			rp->rows[row].hist = calloc(1, sizeof(ob_hist));
		if (rp->rows[row].hist != NULL)
			ob_hist_merge(rp->rows[row].hist, &r->sec_hist);
	}
	rp->rows[row].failures += r->sec_fail;
	ob_hist_init(&r->sec_hist);
	r->sec_fail = 0;
}

static ob_rec *recorder(ob_report *rp)
{
	ob_rec *r = tls_rec;
	if (r != NULL && r->owner == rp)
		return r;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		fprintf(stderr, "orderstore-bench: out of memory for a recorder\n");
		abort();
	}
	r->owner = rp;
	pthread_mutex_lock(&rp->mtx);
	r->next = rp->recs;
	rp->recs = r;
	pthread_mutex_unlock(&rp->mtx);
	tls_rec = r;
	return r;
}

void ob_report_record(ob_report *rp, ob_kind k, ostore_status st, int served, uint64_t lat_ns,
                      uint64_t now_ns)
{
	ob_rec *r = recorder(rp);
	uint64_t sec = now_ns > rp->start_ns ? (now_ns - rp->start_ns) / 1000000000u : 0;
	if (sec != r->sec && ob_kind_is_request(k)) {
		pthread_mutex_lock(&rp->mtx);
		flush_second_locked(rp, r);
		pthread_mutex_unlock(&rp->mtx);
		r->sec = sec;
	}
	if ((unsigned)st >= OSTORE_STATUS_COUNT)
		st = OSTORE_EINTERNAL;
	if (st != OSTORE_OK)
		r->errors[k][st]++;
	if (served)
		ob_hist_add(&r->hist[k], lat_ns);
	if (!ob_kind_is_request(k))
		return;
	if (served)
		ob_hist_add(&r->sec_hist, lat_ns);
	else
		r->sec_fail++;
}

void ob_report_finish(ob_report *rp, double elapsed_s)
{
	pthread_mutex_lock(&rp->mtx);
	rp->elapsed_s = elapsed_s;
	for (ob_rec *r = rp->recs; r != NULL; r = r->next) {
		flush_second_locked(rp, r);
		for (int k = 0; k < OB_K_COUNT; k++) {
			ob_hist_merge(&rp->hist[k], &r->hist[k]);
			for (int e = 0; e < OSTORE_STATUS_COUNT; e++)
				rp->errors[k][e] += r->errors[k][e];
		}
	}
	for (int k = 0; k < OB_K_COUNT; k++) {
		if (!ob_kind_is_request((ob_kind)k))
			continue;
		ob_hist_merge(&rp->total, &rp->hist[k]);
		for (int e = 0; e < OSTORE_STATUS_COUNT; e++)
			rp->total_errors[e] += rp->errors[k][e];
	}
	pthread_mutex_unlock(&rp->mtx);
}

uint64_t ob_report_failures(const ob_report *rp)
{
	uint64_t n = 0;
	for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
		if (e != OSTORE_ENOTFOUND && e != OSTORE_ECONFLICT)
			n += rp->total_errors[e];
	return n;
}

static double us(uint64_t ns) { return (double)ns / 1e3; }

static void print_line(FILE *out, const char *name, const ob_hist *h, double secs)
{
	fprintf(out, "%-8s %10llu %10.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n", name,
	        (unsigned long long)h->count, secs > 0 ? (double)h->count / secs : 0.0,
	        us(ob_hist_quantile(h, 0.50)), us(ob_hist_quantile(h, 0.95)),
	        us(ob_hist_quantile(h, 0.99)), us(ob_hist_quantile(h, 0.999)), us(h->max_ns));
}

void ob_report_print(const ob_report *rp, const ob_run *run, FILE *out)
{
	const ob_config *c = run->cfg;
	const ob_hist *t = &rp->total;
	double s = rp->elapsed_s;
	uint64_t nerr = 0;
	for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
		nerr += rp->total_errors[e];
	/* the first line keeps the key=value form scripts parse (bench/core) */
	fprintf(out,
	        "target=%s workload=%s keys=%s concurrency=%llu value_size=%llu ops=%llu "
	        "errors=%llu seconds=%.2f ops_per_sec=%.0f p50_us=%.0f p95_us=%.0f p99_us=%.0f "
	        "p999_us=%.0f max_us=%.0f\n",
	        c->target ? c->target : "orderstore", c->wl->name,
	        c->dist == OB_DIST_ZIPFIAN ? "zipfian" : "uniform", (unsigned long long)c->concurrency,
	        (unsigned long long)c->value_size, (unsigned long long)t->count,
	        (unsigned long long)nerr, s, s > 0 ? (double)t->count / s : 0.0,
	        us(ob_hist_quantile(t, 0.50)), us(ob_hist_quantile(t, 0.95)),
	        us(ob_hist_quantile(t, 0.99)), us(ob_hist_quantile(t, 0.999)), us(t->max_ns));
	fprintf(out, "%-8s %10s %10s %9s %9s %9s %9s %9s\n", "op", "count", "per_sec", "p50_us",
	        "p95_us", "p99_us", "p999_us", "max_us");
	for (int k = 0; k < OB_K_COUNT; k++)
		if (rp->hist[k].count != 0)
			print_line(out, ob_kind_name((ob_kind)k), &rp->hist[k], s);
	print_line(out, "total", t, s);
	for (int k = 0; k < OB_K_COUNT; k++)
		for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
			if (rp->errors[k][e] != 0)
				fprintf(out, "  %s %s: %llu\n", ob_kind_name((ob_kind)k),
				        ostore_status_name(e), (unsigned long long)rp->errors[k][e]);
}

static json_t *latency_json(const ob_hist *h)
{
	return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "p50", us(ob_hist_quantile(h, 0.50)), "p95",
	                 us(ob_hist_quantile(h, 0.95)), "p99", us(ob_hist_quantile(h, 0.99)), "p999",
	                 us(ob_hist_quantile(h, 0.999)), "max", us(h->max_ns), "mean",
	                 h->count ? (double)h->sum_ns / (double)h->count / 1e3 : 0.0);
}

static json_t *errors_json(const uint64_t *errors)
{
	json_t *o = json_object();
	for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
		if (errors[e] != 0)
			json_object_set_new(o, ostore_status_name(e), json_integer((json_int_t)errors[e]));
	return o;
}

int ob_report_write_json(const ob_report *rp, const ob_run *run, const char *path)
{
	const ob_config *c = run->cfg;
	double s = rp->elapsed_s;
	json_t *by_op = json_object();
	for (int k = 0; k < OB_K_COUNT; k++) {
		const ob_hist *h = &rp->hist[k];
		if (h->count == 0 && !ob_kind_is_request((ob_kind)k))
			continue;
		uint64_t any = h->count;
		for (int e = 1; e < OSTORE_STATUS_COUNT; e++)
			any += rp->errors[k][e];
		if (any == 0)
			continue;
		json_object_set_new(by_op, ob_kind_name((ob_kind)k),
		                    json_pack("{s:I,s:f,s:b,s:o,s:o}", "ops", (json_int_t)h->count,
		                              "ops_per_sec", s > 0 ? (double)h->count / s : 0.0,
		                              "request", ob_kind_is_request((ob_kind)k), "latency_us",
		                              latency_json(h), "errors", errors_json(rp->errors[k])));
	}
	json_t *o = json_pack(
	        "{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:f,s:I,s:f,s:o,s:o,s:I,s:o}", "target",
	        c->target ? c->target : "orderstore", "workload", c->wl->name, "keys",
	        c->dist == OB_DIST_ZIPFIAN ? "zipfian" : "uniform", "concurrency",
	        (json_int_t)c->concurrency, "value_size", (json_int_t)c->value_size, "records",
	        (json_int_t)c->records, "rate", (json_int_t)c->rate, "loop",
	        c->rate ? "open" : "closed", "seconds", s, "ops", (json_int_t)rp->total.count,
	        "ops_per_sec", s > 0 ? (double)rp->total.count / s : 0.0, "latency_us",
	        latency_json(&rp->total), "errors", errors_json(rp->total_errors), "failures",
	        (json_int_t)ob_report_failures(rp), "by_op", by_op);
	if (o == NULL)
		return -1;
	if (run->orders != NULL)
		json_object_set_new(o, "documents",
		                    json_pack("{s:I,s:f,s:I}", "count",
		                              (json_int_t)ob_orders_count(run->orders), "mean_bytes",
		                              ob_orders_mean_len(run->orders), "max_bytes",
		                              (json_int_t)ob_orders_max_len(run->orders)));
	int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(o);
	return rc;
}

int ob_report_write_csv(const ob_report *rp, const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "second,ops,errors,p50_us,p99_us,max_us\n");
	uint64_t last = 0;
	for (uint64_t i = 0; i < rp->nrows; i++)
		if (rp->rows[i].hist != NULL || rp->rows[i].failures != 0)
			last = i + 1;
	for (uint64_t i = 0; i < last; i++) {
		const ob_hist *h = rp->rows[i].hist;
		ob_hist empty;
		if (h == NULL) {
			ob_hist_init(&empty);
			h = &empty;
		}
		fprintf(f, "%llu,%llu,%llu,%.0f,%.0f,%.0f\n", (unsigned long long)i,
		        (unsigned long long)h->count, (unsigned long long)rp->rows[i].failures,
		        us(ob_hist_quantile(h, 0.50)), us(ob_hist_quantile(h, 0.99)), us(h->max_ns));
	}
	return fclose(f) == 0 ? 0 : -1;
}
