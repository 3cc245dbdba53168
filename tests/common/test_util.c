/*
 * test_util.c - buffers, number parsing, nng error translation, clocks, randomness and
 * the log line format (stderr is redirected into a pipe to read the lines back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <orderstore.h>

#include "buf.h"
#include "log.h"
#include "util.h"

static void test_buf(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	assert_null(b.data);
	assert_int_equal(os_buf_put_u8(&b, 0x01), 0);
	assert_int_equal(os_buf_put_u16(&b, 0x0302), 0);
	assert_int_equal(os_buf_put_u32(&b, 0x07060504), 0);
	assert_int_equal(os_buf_put_u64(&b, 0x0F0E0D0C0B0A0908ull), 0);
	assert_int_equal(b.len, 15);
	for (int i = 0; i < 15; i++)
		assert_int_equal(b.data[i], i + 1); /* little-endian throughout */
	assert_int_equal(os_buf_put(&b, NULL, 0), 0);
	static uint8_t big[100000];
	assert_int_equal(os_buf_put(&b, big, sizeof big), 0);
	assert_int_equal(b.len, 15 + sizeof big);
	assert_true(b.cap >= b.len);
	assert_false(b.oom);
	os_rd r;
	os_rd_init(&r, b.data, 15);
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	assert_true(os_rd_u8(&r, &v8) && v8 == 1);
	assert_true(os_rd_u16(&r, &v16) && v16 == 0x0302);
	assert_true(os_rd_u32(&r, &v32) && v32 == 0x07060504);
	assert_true(os_rd_u64(&r, &v64) && v64 == 0x0F0E0D0C0B0A0908ull);
	assert_int_equal(r.left, 0);
	assert_false(r.bad);
	assert_false(os_rd_u8(&r, &v8));
	assert_true(r.bad);
	/* sticky: once bad, even a 0-byte take fails */
	assert_null(os_rd_take(&r, 0));
	os_rd_init(&r, b.data, 3);
	assert_false(os_rd_u32(&r, &v32));
	assert_int_equal(r.left, 3); /* a failed read consumes nothing */
	assert_false(os_rd_u8(&r, &v8));
	os_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	os_buf_fini(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
}

static void test_parse_u64(void **state)
{
	(void)state;
	uint64_t v = 7;
	assert_int_equal(os_parse_u64("0", 0, 10, &v), 0);
	assert_true(v == 0);
	assert_int_equal(os_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_int_equal(os_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -1);
	assert_int_equal(os_parse_u64("", 0, 10, &v), -1);
	assert_int_equal(os_parse_u64(NULL, 0, 10, &v), -1);
	assert_int_equal(os_parse_u64("-1", 0, 10, &v), -1);
	assert_int_equal(os_parse_u64("+1", 0, 10, &v), -1);
	assert_int_equal(os_parse_u64(" 1", 0, 10, &v), -1);
	assert_int_equal(os_parse_u64("1 ", 0, 10, &v), -1);
	assert_int_equal(os_parse_u64("12x", 0, 100, &v), -1);
	assert_int_equal(os_parse_u64("11", 0, 10, &v), -1);
	assert_int_equal(os_parse_u64("4", 5, 10, &v), -1);
	assert_true(v == 7); /* untouched on failure */
	assert_int_equal(os_parse_u64("10", 5, 10, &v), 0);
	assert_true(v == 10);
}

static void test_from_nng(void **state)
{
	(void)state;
	assert_int_equal(os_from_nng(0), OSTORE_OK);
	assert_int_equal(os_from_nng(NNG_ETIMEDOUT), OSTORE_ETIMEDOUT);
	assert_int_equal(os_from_nng(NNG_ECLOSED), OSTORE_ECLOSED);
	assert_int_equal(os_from_nng(NNG_ENOMEM), OSTORE_ENOMEM);
	assert_int_equal(os_from_nng(NNG_EMSGSIZE), OSTORE_ETOOBIG);
	assert_int_equal(os_from_nng(NNG_EADDRINVAL), OSTORE_ECONNECT);
	assert_int_equal(os_from_nng(NNG_ECONNREFUSED), OSTORE_ECONNECT);
	assert_int_equal(os_from_nng(NNG_ECONNRESET), OSTORE_EIO);
	assert_int_equal(os_from_nng(NNG_EINTERNAL), OSTORE_EIO);
}

static void test_clock_random(void **state)
{
	(void)state;
	uint64_t a = os_now_ns();
	usleep(2000);
	uint64_t b = os_now_ns();
	assert_true(b >= a + 1000000u);
	uint64_t r1 = os_random_u64(), r2 = os_random_u64();
	assert_true(r1 != 0 && r2 != 0);
	assert_true(r1 != r2);
}

/* Run @fn with stderr captured; returns what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
	static char out[8192];
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = read(p[0], out, sizeof out - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void log_some(void)
{
	os_log_set_component("testcomp");
	os_log_set_level(OS_LOG_INFO);
	OS_DEBUG("msg=\"hidden\"");
	OS_INFO("msg=\"hello world\" n=%d", 42);
	OS_ERROR("msg=\"bad\"");
}

static void log_long(void)
{
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	OS_WARN("v=%s", big);
}

static void test_log(void **state)
{
	(void)state;
	assert_int_equal(os_log_parse_level("debug"), OS_LOG_DEBUG);
	assert_int_equal(os_log_parse_level("info"), OS_LOG_INFO);
	assert_int_equal(os_log_parse_level("warn"), OS_LOG_WARN);
	assert_int_equal(os_log_parse_level("error"), OS_LOG_ERROR);
	assert_int_equal(os_log_parse_level("loud"), -1);
	assert_int_equal(os_log_parse_level(NULL), -1);

	const char *out = capture(log_some);
	assert_null(strstr(out, "hidden"));
	/* 2026-11-29T15:45:45.123Z info testcomp msg="hello world" n=42 */
	const char *l1 = out;
	assert_true(strlen(l1) > 24);
	assert_true(l1[4] == '-' && l1[7] == '-' && l1[10] == 'T' && l1[13] == ':' &&
	            l1[16] == ':' && l1[19] == '.' && l1[23] == 'Z' && l1[24] == ' ');
	assert_int_equal(strncmp(l1 + 25, "info testcomp msg=\"hello world\" n=42\n", 37), 0);
	const char *l2 = strchr(l1, '\n') + 1;
	assert_int_equal(strncmp(l2 + 25, "error testcomp msg=\"bad\"\n", 25), 0);
	assert_int_equal(l2[25 + 25], '\0');

	assert_false(os_log_enabled(OS_LOG_DEBUG));
	assert_true(os_log_enabled(OS_LOG_WARN));
	out = capture(log_long);
	assert_int_equal(strlen(out), 25 + strlen("warn testcomp v=") + 2999 + 1);
	assert_int_equal(out[strlen(out) - 1], '\n');
	os_log_set_level(OS_LOG_ERROR);
	assert_false(os_log_enabled(OS_LOG_WARN));
	os_log_set_level(OS_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),          cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_from_nng),     cmocka_unit_test(test_clock_random),
		cmocka_unit_test(test_log),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
