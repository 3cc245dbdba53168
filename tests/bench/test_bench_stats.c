/*
 * test_bench_stats.c - the bench's statistics: the log-linear histogram reports every
 * quantile within its 1/32 bucket width of the exact value, and the zipfian generator
 * draws ranks with the frequencies of the zipf law it claims (Gray et al., theta 0.99),
 * stays inside the key space, and refuses bad parameters. Fixed seeds, a few hundred
 * thousand draws: well under a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hist.h"
#include "zipf.h"

static void test_hist_quantiles(void **state)
{
	(void)state;
	ob_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	ob_hist_init(h);
	assert_int_equal(ob_hist_quantile(h, 0.99), 0);
	/* 1..100000 us in ns, each once: the exact q-quantile is q * 100000 us */
	for (uint64_t v = 1; v <= 100000; v++)
		ob_hist_add(h, v * 1000);
	assert_int_equal(h->count, 100000);
	assert_int_equal(h->max_ns, 100000000);
	const double qs[] = {0.5, 0.9, 0.95, 0.99, 0.999};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double exact = qs[i] * 1e8;
		double got = (double)ob_hist_quantile(h, qs[i]);
		assert_true(got >= exact * (1.0 - 1.0 / 32) && got <= exact * (1.0 + 1.0 / 32));
	}
	assert_int_equal(ob_hist_quantile(h, 1.0), 100000000);
	free(h);
}

static void test_hist_small_and_merge(void **state)
{
	(void)state;
	ob_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	ob_hist_init(a);
	ob_hist_init(b);
	for (uint64_t v = 0; v < 32; v++) /* below 32 every value has its own bucket */
		ob_hist_add(a, v);
	assert_int_equal(ob_hist_quantile(a, 0.5), 15);
	ob_hist_add(b, 1u << 30);
	ob_hist_merge(a, b);
	assert_int_equal(a->count, 33);
	assert_int_equal(a->max_ns, 1u << 30);
	assert_int_equal(ob_hist_quantile(a, 1.0), 1u << 30);
	ob_hist_add(a, UINT64_MAX); /* beyond the top row: clamped, max still exact */
	assert_int_equal(ob_hist_quantile(a, 1.0), UINT64_MAX);
	free(a);
	free(b);
}

static void test_zipf_frequencies(void **state)
{
	(void)state;
	ob_keygen g;
	const uint64_t n = 1000, draws = 400000;
	assert_int_equal(ob_keygen_init(&g, OB_DIST_ZIPFIAN, n, OB_ZIPF_THETA), 0);
	uint64_t rng = 0x9E3779B97F4A7C15ULL, hits[4] = {0}, tail = 0;
	for (uint64_t i = 0; i < draws; i++) {
		uint64_t r = ob_zipf_rank(&g, ob_rng_unit(&rng));
		assert_true(r < n);
		if (r < 4)
			hits[r]++;
		if (r >= n / 2)
			tail++;
	}
	/* P(rank r) = (r+1)^-theta / zeta(n): within 5% for the first ranks (rank 2 and 3
	 * come from the closed-form inversion, an approximation of the law) */
	for (int r = 0; r < 2; r++) {
		double want = pow(r + 1.0, -OB_ZIPF_THETA) / g.zetan * (double)draws;
		assert_true(fabs((double)hits[r] - want) < 0.05 * want);
	}
	assert_true(hits[0] > hits[1] && hits[1] > hits[2] && hits[2] > hits[3]);
	/* the upper half of the ranks gets little: sum_{n/2..n} i^-theta / zeta(n) ~ 9% */
	assert_true((double)tail < 0.15 * (double)draws && tail > 0);
}

static void test_keys_in_range(void **state)
{
	(void)state;
	ob_keygen z, u;
	const uint64_t n = 777;
	assert_int_equal(ob_keygen_init(&z, OB_DIST_ZIPFIAN, n, OB_ZIPF_THETA), 0);
	assert_int_equal(ob_keygen_init(&u, OB_DIST_UNIFORM, n, 0.0), 0);
	uint64_t rng = 12345, sum = 0, distinct_hot = 0;
	static uint8_t seen[777];
	for (int i = 0; i < 100000; i++) {
		uint64_t k = ob_keygen_next(&z, &rng);
		assert_true(k < n);
		if (!seen[k]++)
			distinct_hot++;
		uint64_t v = ob_keygen_next(&u, &rng);
		assert_true(v < n);
		sum += v;
	}
	double mean = (double)sum / 100000.0;
	assert_true(fabs(mean - (double)(n - 1) / 2) < 0.02 * (double)n);
	assert_true(distinct_hot > n / 2); /* scrambled: the draws reach most keys */
	ob_keygen one;
	assert_int_equal(ob_keygen_init(&one, OB_DIST_ZIPFIAN, 1, OB_ZIPF_THETA), 0);
	assert_int_equal(ob_keygen_next(&one, &rng), 0);
}

static void test_bad_parameters(void **state)
{
	(void)state;
	ob_keygen g;
	assert_int_equal(ob_keygen_init(&g, OB_DIST_UNIFORM, 0, 0.0), -1);
	assert_int_equal(ob_keygen_init(&g, OB_DIST_ZIPFIAN, 10, 1.0), -1);
	assert_int_equal(ob_keygen_init(&g, OB_DIST_ZIPFIAN, 10, 0.0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_quantiles),   cmocka_unit_test(test_hist_small_and_merge),
		cmocka_unit_test(test_zipf_frequencies), cmocka_unit_test(test_keys_in_range),
		cmocka_unit_test(test_bad_parameters),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
