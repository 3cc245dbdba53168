/*
 * test_metrics.c - the metrics registry (common/metrics.c): exposition of each kind,
 * label and help escaping, sparse series, stripes summed, bad definitions refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include <orderstore.h>

#include "metrics.h"

static char *render(os_metrics *reg)
{
	os_buf b;
	os_buf_init(&b);
	assert_int_equal(os_metrics_render(reg, &b), OSTORE_OK);
	char *s = calloc(1, b.len + 1);
	assert_non_null(s);
	if (b.len > 0)
		memcpy(s, b.data, b.len);
	os_buf_fini(&b);
	return s;
}

static void assert_has(const char *text, const char *line)
{
	const char *hit = strstr(text, line);
	if (hit == NULL) {
		fputs("missing:\n", stdout);
		fputs(line, stdout);
		fputs("\nin:\n", stdout);
		fputs(text, stdout);
	}
	assert_non_null(hit);
}

static void test_counter(void **state)
{
	(void)state;
	os_metrics *reg;
	os_metric *c;
	assert_int_equal(os_metrics_create(&reg), OSTORE_OK);
	os_metric_def d = {.name = "orderstore_things_total", .help = "Things.",
	                   .type = OS_METRIC_COUNTER};
	assert_int_equal(os_metrics_add(reg, &d, &c), OSTORE_OK);
	os_metric_inc(c, 0);
	os_metric_add(c, 0, 41);
	char *t = render(reg);
	assert_string_equal(t, "# HELP orderstore_things_total Things.\n"
	                       "# TYPE orderstore_things_total counter\n"
	                       "orderstore_things_total 42\n");
	free(t);
	assert_int_equal(os_metrics_add(reg, &d, &c), OSTORE_EINVAL); /* same name */
	os_metrics_destroy(reg);
}

static void test_gauge_labels_sparse(void **state)
{
	(void)state;
	static const char *const ops[] = {"get", "put"};
	static const char *const codes[] = {"OK", "EMOVED"};
	os_metrics *reg;
	os_metric *g, *c;
	assert_int_equal(os_metrics_create(&reg), OSTORE_OK);
	os_metric_def gd = {.name = "orderstore_lag_seconds", .help = "Lag.", .type = OS_METRIC_GAUGE,
	                    .scale = 1e-3, .labels = {{"replica", NULL, 8}}, .sparse = true};
	os_metric_def cd = {.name = "orderstore_req_total", .help = "Req.", .type = OS_METRIC_COUNTER,
	                    .labels = {{"op", ops, 2}, {"code", codes, 2}}, .sparse = true};
	assert_int_equal(os_metrics_add(reg, &gd, &g), OSTORE_OK);
	assert_int_equal(os_metrics_add(reg, &cd, &c), OSTORE_OK);
	os_metric_set(g, 3, 1500);
	os_metric_set(g, 5, -250);
	os_metric_add(c, os_metric_series(c, 1, 1), 7);
	char *t = render(reg);
	assert_has(t, "# TYPE orderstore_lag_seconds gauge\n");
	assert_has(t, "orderstore_lag_seconds{replica=\"3\"} 1.5\n");
	assert_has(t, "orderstore_lag_seconds{replica=\"5\"} -0.25\n");
	assert_null(strstr(t, "replica=\"0\""));
	assert_has(t, "orderstore_req_total{op=\"put\",code=\"EMOVED\"} 7\n");
	assert_null(strstr(t, "op=\"get\""));
	free(t);
	os_metric_clear(g, 3);
	t = render(reg);
	assert_null(strstr(t, "replica=\"3\""));
	free(t);
	os_metrics_destroy(reg);
}

static void test_histogram(void **state)
{
	(void)state;
	static const double b[] = {0.001, 0.01, 0.1};
	static const char *const ops[] = {"get"};
	os_metrics *reg;
	os_metric *h;
	assert_int_equal(os_metrics_create(&reg), OSTORE_OK);
	os_metric_def d = {.name = "orderstore_d_seconds", .help = "D.", .type = OS_METRIC_HISTOGRAM,
	                   .scale = 1e-9, .buckets = b, .nbuckets = 3, .labels = {{"op", ops, 1}}};
	assert_int_equal(os_metrics_add(reg, &d, &h), OSTORE_OK);
	os_metric_observe(h, 0, 1000000, 1);   /* 1 ms: exactly on the first bound */
	os_metric_observe(h, 0, 5000000, 2);   /* 5 ms twice */
	os_metric_observe(h, 0, 2000000000, 1); /* 2 s: +Inf only */
	char *t = render(reg);
	assert_has(t, "# TYPE orderstore_d_seconds histogram\n"
	              "orderstore_d_seconds_bucket{op=\"get\",le=\"0.001\"} 1\n"
	              "orderstore_d_seconds_bucket{op=\"get\",le=\"0.01\"} 3\n"
	              "orderstore_d_seconds_bucket{op=\"get\",le=\"0.1\"} 3\n"
	              "orderstore_d_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
	              "orderstore_d_seconds_sum{op=\"get\"} 2.011\n"
	              "orderstore_d_seconds_count{op=\"get\"} 4\n");
	assert_int_equal(os_metric_value(h, 0), 4);
	free(t);
	/* unlabelled histogram: le is the only label */
	static const double nb[] = {1, 2};
	os_metric_def d2 = {.name = "orderstore_n", .help = "N.", .type = OS_METRIC_HISTOGRAM,
	                    .buckets = nb, .nbuckets = 2};
	assert_int_equal(os_metrics_add(reg, &d2, &h), OSTORE_OK);
	os_metric_observe(h, 0, 2, 1);
	t = render(reg);
	assert_has(t, "orderstore_n_bucket{le=\"1\"} 0\norderstore_n_bucket{le=\"2\"} 1\n"
	              "orderstore_n_bucket{le=\"+Inf\"} 1\norderstore_n_sum 2\norderstore_n_count 1\n");
	free(t);
	os_metrics_destroy(reg);
}

static void test_escaping(void **state)
{
	(void)state;
	static const char *const v[] = {"a\"b\\c\nd"};
	os_metrics *reg;
	os_metric *g;
	assert_int_equal(os_metrics_create(&reg), OSTORE_OK);
	os_metric_def d = {.name = "orderstore_x", .help = "Line 1\nback\\slash \"q\"",
	                   .type = OS_METRIC_GAUGE, .labels = {{"v", v, 1}}};
	assert_int_equal(os_metrics_add(reg, &d, &g), OSTORE_OK);
	os_metric_set(g, 0, 1);
	char *t = render(reg);
	assert_has(t, "# HELP orderstore_x Line 1\\nback\\\\slash \"q\"\n");
	assert_has(t, "orderstore_x{v=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(t);
	os_metrics_destroy(reg);
}

static void test_bad_definitions(void **state)
{
	(void)state;
	static const double desc[] = {2, 1};
	os_metrics *reg;
	os_metric *m;
	assert_int_equal(os_metrics_create(&reg), OSTORE_OK);
	os_metric_def bad_name = {.name = "9lives", .help = "x", .type = OS_METRIC_GAUGE};
	os_metric_def bad_label = {.name = "ok_name", .help = "x", .type = OS_METRIC_GAUGE,
	                           .labels = {{"le", NULL, 2}}};
	os_metric_def bad_buckets = {.name = "ok_h", .help = "x", .type = OS_METRIC_HISTOGRAM,
	                             .buckets = desc, .nbuckets = 2};
	assert_int_equal(os_metrics_add(reg, &bad_name, &m), OSTORE_EINVAL);
	assert_int_equal(os_metrics_add(reg, &bad_label, &m), OSTORE_EINVAL);
	assert_int_equal(os_metrics_add(reg, &bad_buckets, &m), OSTORE_EINVAL);
	assert_false(os_metrics_check_hostport("127.0.0.1"));
	assert_false(os_metrics_check_hostport("127.0.0.1:0"));
	assert_false(os_metrics_check_hostport("http://127.0.0.1:80"));
	assert_true(os_metrics_check_hostport("127.0.0.1:9100"));
	os_metrics_destroy(reg);
}

/* Threads adding to one counter land on different stripes; the render sums them. */
static os_metric *shared;
static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		os_metric_inc(shared, 0);
	return NULL;
}

static void test_stripes_sum(void **state)
{
	(void)state;
	os_metrics *reg;
	assert_int_equal(os_metrics_create(&reg), OSTORE_OK);
	os_metric_def d = {.name = "orderstore_c_total", .help = "C.", .type = OS_METRIC_COUNTER};
	assert_int_equal(os_metrics_add(reg, &d, &shared), OSTORE_OK);
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, adder, NULL);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(os_metric_value(shared, 0), 600000);
	char *s = render(reg);
	assert_has(s, "orderstore_c_total 600000\n");
	free(s);
	os_metrics_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter),   cmocka_unit_test(test_gauge_labels_sparse),
		cmocka_unit_test(test_histogram), cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_bad_definitions), cmocka_unit_test(test_stripes_sum),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
