/*
 * test_retail_data.c - the importer on the real data/online-retail.csv.xz, checked
 * against the measured facts of data/README.md and against a second, independent
 * reading of the same file done here:
 *
 *   data/online-retail.csv.xz ──os_retail (module)──▶ JSON ──jansson load──▶ per invoice
 *            │                                                                  │ compare
 *            └──lzma buffer decode + libcsv, own callbacks (this file)──▶ per invoice
 *
 * The independent side shares no code with the module: it decompresses the whole file
 * in memory, parses it with its own libcsv callbacks, sorts the rows by invoice and
 * sums quantity and quantity x unit price per invoice. For every invoice created in
 * March 2011 the line count and both sums must agree with the documents' values.
 * Then tools/verify-export.py is run on a JSON-lines export written from the module's
 * documents (the format `orderstore export` writes), and on tampered copies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <csv.h>
#include <jansson.h>
#include <lzma.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orderstore.h"
#include "retail.h"
#include "retail_testlib.h"

#define DATA "data/online-retail.csv.xz"
#define MONTH "2011-03"

/* Per-invoice totals, from either side. */
typedef struct totals {
	char inv[16];
	char created[20]; /* "YYYY-MM-DD HH:MM:SS" or ISO with 'T' */
	size_t lines;
	long long qty;
	double amount;
} totals;

typedef struct totals_list {
	totals *v;
	size_t n, cap;
} totals_list;

static totals *totals_add(totals_list *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		assert_non_null(l->v);
	}
	totals *t = &l->v[l->n++];
	memset(t, 0, sizeof *t);
	return t;
}

static int totals_cmp(const void *a, const void *b)
{
	return strcmp(((const totals *)a)->inv, ((const totals *)b)->inv);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------------- */
/* The independent reading                                                             */
/* ---------------------------------------------------------------------------------- */

typedef struct raw_row {
	char inv[16];
	char date[20];
	long long qty;
	double price;
	uint32_t seq;
} raw_row;

typedef struct raw_ctx {
	raw_row *rows;
	size_t n, cap;
	raw_row cur;
	int field;
	int header_seen;
	int bad;
} raw_ctx;

static void raw_field(void *s, size_t len, void *arg)
{
	raw_ctx *c = arg;
	char buf[64];
	int f = c->field++;
	if (!c->header_seen)
		return;
	switch (f) {
	case 0:
		if (len >= sizeof c->cur.inv)
			c->bad++;
		else
			memcpy(c->cur.inv, s, len), c->cur.inv[len] = '\0';
		break;
	case 3:
	case 5:
		if (len >= sizeof buf) {
			c->bad++;
			break;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (f == 3)
			c->cur.qty = strtoll(buf, NULL, 10);
		else
			c->cur.price = strtod(buf, NULL);
		break;
	case 4:
		if (len != 19)
			c->bad++;
		else
			memcpy(c->cur.date, s, len), c->cur.date[len] = '\0';
		break;
	default:
		break;
	}
}

static void raw_row_end(int term, void *arg)
{
	raw_ctx *c = arg;
	(void)term;
	if (c->field != 8)
		c->bad++;
	c->field = 0;
	if (!c->header_seen) {
		c->header_seen = 1;
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1 << 16;
		c->rows = realloc(c->rows, c->cap * sizeof *c->rows);
		assert_non_null(c->rows);
	}
	c->cur.seq = (uint32_t)c->n;
	c->rows[c->n++] = c->cur;
}

static int raw_cmp(const void *a, const void *b)
{
	const raw_row *x = a, *y = b;
	int k = strcmp(x->inv, y->inv);
	return k ? k : (x->seq > y->seq) - (x->seq < y->seq);
}

static int keep_spaces(unsigned char ch)
{
	(void)ch;
	return 0;
}

/* Whole file -> per-invoice totals (all invoices), sorted by invoice. */
static void independent_totals(const char *path, totals_list *out, size_t *nrows)
{
	size_t xz_len;
	char *xz = rt_read_file(path, &xz_len);
	size_t cap = 64u << 20, len = 0;
	char *csv = malloc(cap);
	assert_non_null(csv);
	lzma_stream s = LZMA_STREAM_INIT;
	assert_int_equal(lzma_stream_decoder(&s, UINT64_MAX, 0), LZMA_OK);
	s.next_in = (const uint8_t *)xz;
	s.avail_in = xz_len;
	lzma_ret ret;
	do {
		if (len == cap) {
			cap *= 2;
			csv = realloc(csv, cap);
			assert_non_null(csv);
		}
		s.next_out = (uint8_t *)csv + len;
		s.avail_out = cap - len;
		ret = lzma_code(&s, LZMA_FINISH);
		len = cap - s.avail_out;
	} while (ret == LZMA_OK);
	assert_int_equal(ret, LZMA_STREAM_END);
	lzma_end(&s);
	free(xz);

	raw_ctx c = {0};
	struct csv_parser p;
	assert_int_equal(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
	csv_set_space_func(&p, keep_spaces);
	assert_int_equal(csv_parse(&p, csv, len, raw_field, raw_row_end, &c), len);
	assert_int_equal(csv_fini(&p, raw_field, raw_row_end, &c), 0);
	csv_free(&p);
	free(csv);
	assert_int_equal(c.bad, 0);
	*nrows = c.n;

	qsort(c.rows, c.n, sizeof *c.rows, raw_cmp);
	totals *t = NULL;
	for (size_t i = 0; i < c.n; i++) {
		const raw_row *r = &c.rows[i];
		if (t == NULL || strcmp(t->inv, r->inv) != 0) {
			t = totals_add(out);
			strcpy(t->inv, r->inv);
			strcpy(t->created, r->date);
		}
		if (strcmp(r->date, t->created) < 0)
			strcpy(t->created, r->date);
		t->lines++;
		t->qty += r->qty;
		t->amount += (double)r->qty * r->price; /* file order within the invoice */
	}
	free(c.rows);
}

/* ---------------------------------------------------------------------------------- */
/* The module's side                                                                   */
/* ---------------------------------------------------------------------------------- */

typedef struct doc_ctx {
	totals_list month;
	uint64_t docs, lines, no_customer, placed, cancelled, adjustments;
	size_t max_lines;
	FILE *export; /* if not NULL: write the documents as JSON lines */
} doc_ctx;

static int check_doc(void *arg, const char *id, size_t id_len, const char *json, size_t json_len)
{
	doc_ctx *c = arg;
	json_error_t e;
	json_t *o = json_loadb(json, json_len, 0, &e);
	if (o == NULL)
		fail_msg("document %.*s does not parse: %s", (int)id_len, id, e.text);
	const char *oid = json_string_value(json_object_get(o, "order_id"));
	assert_non_null(oid);
	assert_int_equal(strlen(oid), id_len);
	assert_memory_equal(oid, id, id_len);
	const char *status = json_string_value(json_object_get(o, "status"));
	assert_non_null(status);
	assert_string_equal(status, id[0] == 'C' ? "cancelled" : id[0] == 'A' ? "adjustment"
	                                                                      : "placed");
	c->placed += id[0] != 'C' && id[0] != 'A';
	c->cancelled += id[0] == 'C';
	c->adjustments += id[0] == 'A';
	json_t *cust = json_object_get(o, "customer");
	assert_true(json_is_null(cust) || json_is_string(cust));
	c->no_customer += json_is_null(cust);
	const char *created = json_string_value(json_object_get(o, "created_at"));
	assert_non_null(created);
	assert_int_equal(strlen(created), 19);
	json_t *lines = json_object_get(o, "lines");
	assert_true(json_is_array(lines));
	size_t n = json_array_size(lines);
	c->docs++;
	c->lines += n;
	if (n > c->max_lines)
		c->max_lines = n;
	if (strncmp(created, MONTH, strlen(MONTH)) == 0) {
		totals *t = totals_add(&c->month);
		assert_true(id_len < sizeof t->inv);
		memcpy(t->inv, id, id_len);
		memcpy(t->created, created, 19);
		t->lines = n;
		for (size_t i = 0; i < n; i++) {
			json_t *l = json_array_get(lines, i);
			json_t *q = json_object_get(l, "quantity"), *p = json_object_get(l, "unit_price");
			assert_true(json_is_integer(q));
			assert_true(json_is_real(p));
			t->qty += json_integer_value(q);
			t->amount += (double)json_integer_value(q) * json_real_value(p);
		}
	}
	json_decref(o);
	if (c->export != NULL) {
		assert_int_equal(fwrite(json, 1, json_len, c->export), json_len);
		assert_int_equal(fputc('\n', c->export), '\n');
	}
	return 0;
}

static void test_full_file(void **state)
{
	(void)state;
	char *path = rt_source_path(DATA);
	char err[512];
	os_retail *r = NULL;
	double t0 = now_s();
	assert_int_equal(os_retail_open(path, &r, err, sizeof err), OSTORE_OK);
	double t1 = now_s();
	doc_ctx c = {0};
	assert_int_equal(os_retail_each(r, check_doc, &c, err, sizeof err), OSTORE_OK);
	double t2 = now_s();
	os_retail_stats st;
	os_retail_get_stats(r, &st);
	os_retail_close(r);
	print_message("read+check %.2f s, JSON build+parse %.2f s: %llu rows, %llu invoices, "
	              "%.1f MB of JSON, largest %llu bytes\n",
	              t1 - t0, t2 - t1, (unsigned long long)st.rows_read,
	              (unsigned long long)st.invoices, (double)st.json_bytes / 1e6,
	              (unsigned long long)st.max_json_bytes);

	/* Counts of data/README.md. */
	assert_int_equal(st.rows_read, 541909);
	assert_int_equal(st.rows_rejected, 0);
	assert_int_equal(st.invoices, 25900);
	assert_int_equal(st.placed, 22061);
	assert_int_equal(st.cancelled, 3836);
	assert_int_equal(st.adjustments, 3);
	assert_int_equal(st.xz, 1);
	assert_int_equal(c.docs, 25900);
	assert_int_equal(c.lines, 541909);
	assert_int_equal(c.placed, 22061);
	assert_int_equal(c.cancelled, 3836);
	assert_int_equal(c.adjustments, 3);
	assert_int_equal(c.no_customer, 3710);
	assert_int_equal(c.max_lines, 1114);

	/* One month, invoice by invoice, against the independent reading. */
	totals_list all = {0};
	size_t nrows = 0;
	independent_totals(path, &all, &nrows);
	assert_int_equal(nrows, 541909);
	assert_int_equal(all.n, 25900);
	size_t k = 0, checked = 0;
	qsort(c.month.v, c.month.n, sizeof *c.month.v, totals_cmp);
	for (size_t i = 0; i < all.n; i++) {
		const totals *a = &all.v[i];
		if (strncmp(a->created, MONTH, strlen(MONTH)) != 0)
			continue;
		if (k == c.month.n || strcmp(c.month.v[k].inv, a->inv) != 0)
			fail_msg("invoice %s (created %s) has no document created in " MONTH, a->inv,
			         a->created);
		const totals *b = &c.month.v[k++];
		assert_int_equal(b->created[10], 'T');
		assert_memory_equal(b->created, a->created, 10);
		assert_string_equal(b->created + 11, a->created + 11);
		assert_int_equal(b->lines, a->lines);
		assert_int_equal(b->qty, a->qty);
		if (fabs(b->amount - a->amount) > 1e-9 * fmax(fabs(a->amount), 1.0))
			fail_msg("invoice %s: amount %.6f in JSON, %.6f in the CSV", a->inv, b->amount,
			         a->amount);
		checked++;
	}
	assert_int_equal(k, c.month.n);
	assert_true(checked > 1000);
	print_message("%s: %zu invoices match the independent reading\n", MONTH, checked);
	free(all.v);
	free(c.month.v);
	free(path);
}

/* ---------------------------------------------------------------------------------- */
/* tools/verify-export.py                                                              */
/* ---------------------------------------------------------------------------------- */

static int cb_export(void *arg, const char *id, size_t id_len, const char *json, size_t json_len)
{
	(void)id;
	(void)id_len;
	FILE *f = arg;
	return fwrite(json, 1, json_len, f) == json_len && fputc('\n', f) == '\n' ? 0 : OSTORE_EIO;
}

static void export_jsonl(const char *csv, const char *out)
{
	FILE *f = fopen(out, "w");
	assert_non_null(f);
	char err[512];
	os_retail_stats st;
	int rc = os_retail_read(csv, cb_export, f, &st, err, sizeof err);
	if (rc != OSTORE_OK)
		fail_msg("%s: %s", csv, err);
	assert_int_equal(st.rows_rejected, 0);
	assert_int_equal(fclose(f), 0);
}

static int verify(const char *csv, const char *jsonl, const char *month)
{
	char *script = rt_source_path("tools/verify-export.py");
	const char *argv[] = {"python3", script, csv, jsonl, month ? "--month" : NULL, month, NULL};
	int rc = rt_run(argv);
	free(script);
	return rc;
}

/* Copy @in to @out replacing the first @from by @to (or dropping line @drop, 1-based). */
static void tamper(const char *in, const char *out, const char *from, const char *to, int drop)
{
	size_t len;
	char *text = rt_read_file(in, &len);
	FILE *f = fopen(out, "w");
	assert_non_null(f);
	char *hit = from ? strstr(text, from) : NULL;
	if (from)
		assert_non_null(hit);
	int line = 1;
	for (char *p = text; p < text + len; p++) {
		if (p == hit) {
			fputs(to, f);
			p += strlen(from) - 1;
			continue;
		}
		if (line != drop)
			fputc(*p, f);
		line += *p == '\n';
	}
	assert_int_equal(fclose(f), 0);
	free(text);
}

static void test_verify_export(void **state)
{
	(void)state;
	char *dir = rt_tmpdir();
	char *data = rt_source_path(DATA), *small = rt_source_path("tests/import/small.csv");
	char *out = rt_join(dir, "export.jsonl"), *bad = rt_join(dir, "bad.jsonl");

	export_jsonl(data, out);
	assert_int_equal(verify(data, out, NULL), 0);
	assert_int_equal(verify(data, out, MONTH), 0);

	export_jsonl(small, out);
	assert_int_equal(verify(small, out, NULL), 0);
	assert_int_equal(verify(small, out, "2010-12"), 0);
	assert_int_equal(verify(small, out, "2011-08"), 0);
	tamper(out, bad, "\"quantity\":32", "\"quantity\":33", 0);
	assert_int_equal(verify(small, bad, NULL), 1);
	tamper(out, bad, "\"unit_price\":1.69", "\"unit_price\":1.70", 0);
	assert_int_equal(verify(small, bad, NULL), 1);
	tamper(out, bad, /* one line fewer */
	       "{\"stock_code\":\"71053\",\"description\":\"METAL SIGN,CUPCAKE \",\"quantity\":6,"
	       "\"unit_price\":3.39},", "", 0);
	assert_int_equal(verify(small, bad, NULL), 1);
	tamper(out, bad, NULL, NULL, 3); /* C536379 missing */
	assert_int_equal(verify(small, bad, NULL), 1);
	assert_int_equal(verify(small, bad, "2011-08"), 0); /* not in that month */
	tamper(out, bad, "\"created_at\":\"2011-08-12", "\"created_at\":\"2011-09-12", 0);
	assert_int_equal(verify(small, bad, "2011-08"), 1);
	assert_int_equal(verify(small, "/nonexistent/export.jsonl", NULL), 2);

	free(bad);
	free(out);
	free(small);
	free(data);
	rt_rmdir(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_verify_export),
	};
	return cmocka_run_group_tests_name("import-data", tests, NULL, NULL);
}
