/*
 * test_status.c - every status code has a non-empty, distinct text and name, and codes
 * outside the table get the documented fallbacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <orderstore.h>

static void test_every_code(void **state)
{
	(void)state;
	static const struct {
		int code;
		const char *name;
	} table[] = {
#define X(name, code, text) {code, #name},
		OSTORE_STATUS_TABLE(X)
#undef X
	};
	assert_int_equal(sizeof table / sizeof table[0], OSTORE_STATUS_COUNT);
	for (int i = 0; i < OSTORE_STATUS_COUNT; i++) {
		assert_int_equal(table[i].code, i); /* codes are dense from 0 */
		const char *t = ostore_strerror(i);
		const char *n = ostore_status_name(i);
		assert_non_null(t);
		assert_non_null(n);
		assert_true(strlen(t) > 0);
		assert_string_equal(n, table[i].name);
		assert_int_equal(strncmp(n, "OSTORE_", 7), 0);
		assert_string_not_equal(t, "unknown error");
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(t, ostore_strerror(j));
			assert_string_not_equal(n, ostore_status_name(j));
		}
	}
	assert_string_equal(ostore_status_name(OSTORE_OK), "OSTORE_OK");
	assert_string_equal(ostore_status_name(OSTORE_EMOVED), "OSTORE_EMOVED");
	/* Rebalance: a write to a frozen slot (wire code 27, docs/protocol.md). */
	assert_int_equal(OSTORE_EMIGRATING, 27);
	assert_string_equal(ostore_status_name(OSTORE_EMIGRATING), "OSTORE_EMIGRATING");
	assert_non_null(strstr(ostore_strerror(OSTORE_EMIGRATING), "retry"));
	/* Rebalance: the migration lease is another run's (wire code 28). */
	assert_int_equal(OSTORE_ELOCKED, 28);
	assert_string_equal(ostore_status_name(OSTORE_ELOCKED), "OSTORE_ELOCKED");
	assert_non_null(strstr(ostore_strerror(OSTORE_ELOCKED), "lease"));
}

static void test_out_of_range(void **state)
{
	(void)state;
	const int bad[] = {-1, OSTORE_STATUS_COUNT, 1000, -2147483647 - 1};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_string_equal(ostore_strerror(bad[i]), "unknown error");
		assert_string_equal(ostore_status_name(bad[i]), "OSTORE_UNKNOWN");
	}
}

static void test_version(void **state)
{
	(void)state;
	const char *v = ostore_version_string();
	assert_non_null(v);
	assert_true(strlen(v) >= 5);
	assert_true(strspn(v, "0123456789.") == strlen(v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_version),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
