/*
 * test_retail.c - the Online Retail importer (tools/retail.c) on small hand-written CSVs.
 *
 * small.csv covers what the real file has: quoted descriptions with commas and doubled
 * quotes, spaces kept at both ends, an empty description, an empty CustomerID, a C and
 * an A invoice, a duplicated row, an invoice whose rows carry two dates (the earliest
 * wins), rows of one invoice far apart, whole-number and negative prices. The expected
 * documents are written out byte for byte. malformed.csv has one row per kind of defect
 * (and a good row spanning two lines) to pin down the reject messages and line numbers.
 * Variants made on the fly: xz (detected by magic, not name), corrupt xz, BOM + CRLF,
 * bad headers, unterminated quotes, standard input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orderstore.h"
#include "retail.h"
#include "retail_testlib.h"

#define HEADER "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

static const char *const small_ids[] = {"536365", "536366", "C536379", "A563185", "536367"};

static const char *const small_json[] = {
	"{\"order_id\":\"536365\",\"customer\":\"17850\",\"country\":\"United Kingdom\","
	"\"created_at\":\"2010-12-01T08:26:00\",\"status\":\"placed\",\"lines\":["
	"{\"stock_code\":\"85123A\",\"description\":\"WHITE HANGING HEART T-LIGHT HOLDER\","
	"\"quantity\":6,\"unit_price\":2.55},"
	"{\"stock_code\":\"71053\",\"description\":\"METAL SIGN,CUPCAKE \","
	"\"quantity\":6,\"unit_price\":3.39},"
	"{\"stock_code\":\"21730\",\"description\":\" GLASS STAR FROSTED T-LIGHT HOLDER\","
	"\"quantity\":6,\"unit_price\":4.25}]}",

	"{\"order_id\":\"536366\",\"customer\":null,\"country\":\"United Kingdom\","
	"\"created_at\":\"2010-12-01T08:28:00\",\"status\":\"placed\",\"lines\":["
	"{\"stock_code\":\"22633\",\"description\":\"RECORD FRAME 7\\\" SINGLE SIZE \","
	"\"quantity\":48,\"unit_price\":1.85},"
	"{\"stock_code\":\"22633\",\"description\":\"RECORD FRAME 7\\\" SINGLE SIZE \","
	"\"quantity\":48,\"unit_price\":1.85}]}",

	"{\"order_id\":\"C536379\",\"customer\":\"14527\",\"country\":\"United Kingdom\","
	"\"created_at\":\"2010-12-01T09:41:00\",\"status\":\"cancelled\",\"lines\":["
	"{\"stock_code\":\"D\",\"description\":\"Discount\",\"quantity\":-1,\"unit_price\":27.5}]}",

	"{\"order_id\":\"A563185\",\"customer\":null,\"country\":\"United Kingdom\","
	"\"created_at\":\"2011-08-12T14:50:00\",\"status\":\"adjustment\",\"lines\":["
	"{\"stock_code\":\"B\",\"description\":\"Adjust bad debt\",\"quantity\":1,"
	"\"unit_price\":-11062.06}]}",

	"{\"order_id\":\"536367\",\"customer\":\"13047\",\"country\":\"France\","
	"\"created_at\":\"2010-12-01T08:34:00\",\"status\":\"placed\",\"lines\":["
	"{\"stock_code\":\"84879\",\"description\":\"ASSORTED COLOUR BIRD ORNAMENT\","
	"\"quantity\":32,\"unit_price\":1.69},"
	"{\"stock_code\":\"POST\",\"description\":\"POSTAGE\",\"quantity\":3,\"unit_price\":18.0},"
	"{\"stock_code\":\"22745\",\"description\":\"\",\"quantity\":6,\"unit_price\":0.1}]}",
};

#define NSMALL (sizeof small_ids / sizeof small_ids[0])

static void expect_small(const rt_docs *d)
{
	assert_int_equal(d->n, NSMALL);
	for (size_t i = 0; i < NSMALL; i++) {
		assert_string_equal(d->ids[i], small_ids[i]);
		assert_int_equal(d->id_lens[i], strlen(small_ids[i]));
		assert_string_equal(d->jsons[i], small_json[i]);
	}
}

static size_t small_json_bytes(void)
{
	size_t n = 0;
	for (size_t i = 0; i < NSMALL; i++)
		n += strlen(small_json[i]);
	return n;
}

/* Read @path with os_retail_read; returns the status, documents in @d. */
static int read_all(const char *path, rt_docs *d, os_retail_stats *st, char *err, size_t errlen)
{
	return os_retail_read(path, rt_collect, d, st, err, errlen);
}

/* Write @text to @name in @dir and read it; returns the status. */
static int read_text(const char *dir, const char *name, const char *text, rt_docs *d,
                     os_retail_stats *st, char *err, size_t errlen)
{
	char *path = rt_join(dir, name);
	rt_write_file(path, text, strlen(text));
	int rc = read_all(path, d, st, err, errlen);
	free(path);
	return rc;
}

static int setup_dir(void **state)
{
	*state = rt_tmpdir();
	return 0;
}

static int teardown_dir(void **state)
{
	rt_rmdir(*state);
	free(*state);
	return 0;
}

static void test_small_exact(void **state)
{
	(void)state;
	char *path = rt_source_path("tests/import/small.csv");
	rt_docs d = {0};
	os_retail_stats st;
	char err[256];
	assert_int_equal(read_all(path, &d, &st, err, sizeof err), OSTORE_OK);
	assert_string_equal(err, "");
	expect_small(&d);
	assert_int_equal(st.rows_read, 10);
	assert_int_equal(st.rows_rejected, 0);
	assert_int_equal(st.nmessages, 0);
	assert_int_equal(st.invoices, 5);
	assert_int_equal(st.placed, 3);
	assert_int_equal(st.cancelled, 1);
	assert_int_equal(st.adjustments, 1);
	assert_int_equal(st.json_bytes, small_json_bytes());
	assert_int_equal(st.max_json_bytes, strlen(small_json[0]));
	assert_int_equal(st.xz, 0);
	size_t len;
	free(rt_read_file(path, &len));
	assert_int_equal(st.input_bytes, len);
	assert_int_equal(st.csv_bytes, len);
	rt_docs_free(&d);
	free(path);
}

/* Two phases: the counts are final before any document is built; a second walk
 * delivers the same documents again. */
static void test_two_phase(void **state)
{
	(void)state;
	char *path = rt_source_path("tests/import/small.csv");
	os_retail *r = NULL;
	char err[256];
	assert_int_equal(os_retail_open(path, &r, err, sizeof err), OSTORE_OK);
	os_retail_stats st;
	os_retail_get_stats(r, &st);
	assert_int_equal(st.rows_read, 10);
	assert_int_equal(st.invoices, 5);
	assert_int_equal(st.json_bytes, 0);
	for (int walk = 1; walk <= 2; walk++) {
		rt_docs d = {0};
		assert_int_equal(os_retail_each(r, rt_collect, &d, err, sizeof err), OSTORE_OK);
		expect_small(&d);
		rt_docs_free(&d);
		os_retail_get_stats(r, &st);
		assert_int_equal(st.json_bytes, (uint64_t)walk * small_json_bytes());
	}
	os_retail_close(r);
	os_retail_close(NULL);
	free(path);
}

static void test_callback_stops(void **state)
{
	(void)state;
	char *path = rt_source_path("tests/import/small.csv");
	rt_docs d = {.stop_at = 2, .stop_rc = OSTORE_EUNAVAIL};
	os_retail_stats st;
	assert_int_equal(read_all(path, &d, &st, NULL, 0), OSTORE_EUNAVAIL);
	assert_int_equal(d.n, 2);
	assert_int_equal(st.json_bytes, strlen(small_json[0]) + strlen(small_json[1]));
	rt_docs_free(&d);
	free(path);
}

static void test_stdin(void **state)
{
	(void)state;
	char *path = rt_source_path("tests/import/small.csv");
	assert_non_null(freopen(path, "rb", stdin));
	rt_docs d = {0};
	os_retail_stats st;
	assert_int_equal(read_all("-", &d, &st, NULL, 0), OSTORE_OK);
	expect_small(&d);
	rt_docs_free(&d);
	free(path);
}

/* small.csv xz-compressed into files whose names say nothing (or lie). */
static void test_xz(void **state)
{
	const char *dir = *state;
	char *src = rt_source_path("tests/import/small.csv");
	size_t len, xz_len = 0;
	char *plain = rt_read_file(src, &len);
	size_t cap = len + 1024;
	uint8_t *xz = malloc(cap);
	assert_non_null(xz);
	assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, (const uint8_t *)plain,
	                                         len, xz, &xz_len, cap),
	                 LZMA_OK);
	char *path = rt_join(dir, "orders.data");
	rt_write_file(path, xz, xz_len);
	rt_docs d = {0};
	os_retail_stats st;
	char err[256];
	assert_int_equal(read_all(path, &d, &st, err, sizeof err), OSTORE_OK);
	expect_small(&d);
	assert_int_equal(st.xz, 1);
	assert_int_equal(st.input_bytes, xz_len);
	assert_int_equal(st.csv_bytes, len);
	rt_docs_free(&d);

	/* A plain CSV named .xz is read as plain. */
	char *liar = rt_join(dir, "plain.csv.xz");
	rt_write_file(liar, plain, len);
	assert_int_equal(read_all(liar, &d, &st, err, sizeof err), OSTORE_OK);
	expect_small(&d);
	assert_int_equal(st.xz, 0);
	rt_docs_free(&d);

	/* Truncated: the decoder runs out of input. */
	rt_write_file(path, xz, xz_len - 20);
	assert_int_equal(read_all(path, &d, &st, err, sizeof err), OSTORE_EIO);
	assert_non_null(strstr(err, "truncated xz data"));
	assert_non_null(strstr(err, path));
	rt_docs_free(&d);

	/* Stream header CRC32 damaged. */
	xz[8] ^= 0x55;
	rt_write_file(path, xz, xz_len);
	assert_int_equal(read_all(path, &d, &st, err, sizeof err), OSTORE_EIO);
	assert_non_null(strstr(err, "corrupt xz data"));
	assert_int_equal(d.n, 0);
	rt_docs_free(&d);

	free(liar);
	free(path);
	free(xz);
	free(plain);
	free(src);
}

static const char *const malformed_msgs[] = {
	"line 3: 7 columns, expected 8",
	"line 4: Quantity is not an integer: \"six\"",
	"line 5: UnitPrice is not a decimal number: \"1.5x\"",
	"line 6: InvoiceDate is not a time YYYY-MM-DD HH:MM:SS: \"2010-02-30 10:00:00\"",
	"line 7: empty InvoiceNo",
	"line 8: InvoiceNo is 257 bytes, at most 256",
	"line 9: malformed quoting (RFC 4180)",
	"line 13: 9 columns, expected 8",
};

static void test_malformed_rows(void **state)
{
	(void)state;
	char *path = rt_source_path("tests/import/malformed.csv");
	rt_docs d = {0};
	os_retail_stats st;
	char err[256];
	assert_int_equal(read_all(path, &d, &st, err, sizeof err), OSTORE_OK);
	assert_int_equal(st.rows_read, 11);
	assert_int_equal(st.rows_rejected, 8);
	assert_int_equal(st.nmessages, 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(st.messages[i], malformed_msgs[i]);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.ids[0], "537001");
	assert_string_equal(d.jsons[0],
	                    "{\"order_id\":\"537001\",\"customer\":\"12345\",\"country\":\"Norway\","
	                    "\"created_at\":\"2010-12-02T09:59:00\",\"status\":\"placed\",\"lines\":["
	                    "{\"stock_code\":\"22001\",\"description\":\"GOOD ROW\",\"quantity\":1,"
	                    "\"unit_price\":1.5},"
	                    "{\"stock_code\":\"22011\",\"description\":\"LAST GOOD\",\"quantity\":2,"
	                    "\"unit_price\":2.0}]}");
	assert_string_equal(d.jsons[1],
	                    "{\"order_id\":\"537002\",\"customer\":null,\"country\":\"Norway\","
	                    "\"created_at\":\"2010-12-02T11:00:00\",\"status\":\"placed\",\"lines\":["
	                    "{\"stock_code\":\"22009\",\"description\":\"TWO\\nLINES\",\"quantity\":2,"
	                    "\"unit_price\":0.5}]}");
	rt_docs_free(&d);
	free(path);
}

/* Only the first OS_RETAIL_MAX_MESSAGES messages are kept; all rejects are counted. */
static void test_message_cap(void **state)
{
	char text[4096] = HEADER;
	for (int i = 0; i < 15; i++)
		strcat(text, "540000,1,X,1,2011-01-01 10:00:00,oops,,Spain\n");
	strcat(text, "540000,1,X,1,2011-01-01 10:00:00,1,,Spain\n");
	rt_docs d = {0};
	os_retail_stats st;
	assert_int_equal(read_text(*state, "cap.csv", text, &d, &st, NULL, 0), OSTORE_OK);
	assert_int_equal(st.rows_read, 16);
	assert_int_equal(st.rows_rejected, 15);
	assert_int_equal(st.nmessages, OS_RETAIL_MAX_MESSAGES);
	assert_string_equal(st.messages[9], "line 11: UnitPrice is not a decimal number: \"oops\"");
	assert_int_equal(d.n, 1);
	rt_docs_free(&d);
}

static void test_field_rules(void **state)
{
	const char *text = HEADER
		"1,a,b,+3,2012-02-29 23:59:59,1e2,12346.00,X\n"   /* leap day, exponent, .00 */
		"2,a,b,1,2011-01-01 00:00:00,.5,ABC.0,X\n"        /* non-numeric id kept */
		"3,a,\xE2\x82\xAC \xC3\xA9,1,2011-01-01 00:00:00,5.,12347,X\n" /* UTF-8 */
		"4,a,b,1,2011-02-29 10:00:00,1,,X\n"              /* not a leap year */
		"5,a,b,1,2011-01-01 24:00:00,1,,X\n"              /* hour 24 */
		"6,a,b,1,2011-01-01T10:00:00,1,,X\n"              /* ISO 'T' not accepted */
		"7,a,\xFF,1,2011-01-01 10:00:00,1,,X\n"           /* not UTF-8 */
		"8,a,b,1.0,2011-01-01 10:00:00,1,,X\n"            /* quantity not integer */
		"9,a,b,1,2011-01-01 10:00:00,inf,,X\n"            /* no inf / nan */
		"10,a,b,1234567890123456789,2011-01-01 10:00:00,1,,X\n" /* over 18 digits */
		"11,a,b,1,2011-01-01 10:00:00,,,X\n";             /* empty price */
	static const char *const msgs[] = {
		"line 5: InvoiceDate is not a time YYYY-MM-DD HH:MM:SS: \"2011-02-29 10:00:00\"",
		"line 6: InvoiceDate is not a time YYYY-MM-DD HH:MM:SS: \"2011-01-01 24:00:00\"",
		"line 7: InvoiceDate is not a time YYYY-MM-DD HH:MM:SS: \"2011-01-01T10:00:00\"",
		"line 8: Description is not valid UTF-8",
		"line 9: Quantity is not an integer: \"1.0\"",
		"line 10: UnitPrice is not a decimal number: \"inf\"",
		"line 11: Quantity is not an integer: \"1234567890123456789\"",
		"line 12: UnitPrice is not a decimal number: \"\"",
	};
	rt_docs d = {0};
	os_retail_stats st;
	assert_int_equal(read_text(*state, "rules.csv", text, &d, &st, NULL, 0), OSTORE_OK);
	assert_int_equal(st.rows_rejected, 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(st.messages[i], msgs[i]);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.jsons[0],
	                    "{\"order_id\":\"1\",\"customer\":\"12346\",\"country\":\"X\","
	                    "\"created_at\":\"2012-02-29T23:59:59\",\"status\":\"placed\",\"lines\":["
	                    "{\"stock_code\":\"a\",\"description\":\"b\",\"quantity\":3,"
	                    "\"unit_price\":100.0}]}");
	assert_non_null(strstr(d.jsons[1], "\"customer\":\"ABC.0\""));
	assert_non_null(strstr(d.jsons[1], "\"unit_price\":0.5}"));
	assert_non_null(strstr(d.jsons[2], "\"description\":\"\xE2\x82\xAC \xC3\xA9\""));
	assert_non_null(strstr(d.jsons[2], "\"customer\":\"12347\""));
	assert_non_null(strstr(d.jsons[2], "\"unit_price\":5.0}"));
	rt_docs_free(&d);
}

/* A UTF-8 BOM and CRLF line ends (and no final line end) change nothing. */
static void test_bom_crlf(void **state)
{
	char *src = rt_source_path("tests/import/small.csv");
	size_t len;
	char *plain = rt_read_file(src, &len);
	char *crlf = malloc(2 * len + 4);
	assert_non_null(crlf);
	size_t n = 0;
	memcpy(crlf, "\xEF\xBB\xBF", 3), n = 3;
	for (size_t i = 0; i < len; i++) {
		if (plain[i] == '\n' && i + 1 < len)
			crlf[n++] = '\r';
		if (plain[i] != '\n' || i + 1 < len)
			crlf[n++] = plain[i];
	}
	crlf[n] = '\0';
	rt_docs d = {0};
	os_retail_stats st;
	assert_int_equal(read_text(*state, "crlf.csv", crlf, &d, &st, NULL, 0), OSTORE_OK);
	expect_small(&d);
	rt_docs_free(&d);
	free(crlf);
	free(plain);
	free(src);
}

static void test_unterminated_quote(void **state)
{
	const char *text = HEADER "540001,1,X,1,2011-01-01 10:00:00,1,,Spain\n"
	                          "540001,2,\"OPEN,1,2011-01-01 10:00:00,1,,Spain\n"
	                          "540001,3,Y,1,2011-01-01 10:00:00,1,,Spain\n";
	rt_docs d = {0};
	os_retail_stats st;
	assert_int_equal(read_text(*state, "open.csv", text, &d, &st, NULL, 0), OSTORE_OK);
	assert_int_equal(st.rows_read, 2);
	assert_int_equal(st.rows_rejected, 1);
	assert_string_equal(st.messages[0], "line 3: unterminated quoted field at end of input");
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.jsons[0], "\"lines\":[{\"stock_code\":\"1\""));
	rt_docs_free(&d);
}

static void expect_header_error(const char *dir, const char *text, const char *want)
{
	rt_docs d = {0};
	os_retail_stats st;
	char err[512];
	assert_int_equal(read_text(dir, "hdr.csv", text, &d, &st, err, sizeof err), OSTORE_EINVAL);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	assert_int_equal(d.n, 0);
	assert_int_equal(st.rows_read, 0);
	assert_int_equal(st.invoices, 0);
	rt_docs_free(&d);
}

static void test_bad_header(void **state)
{
	char *path = rt_source_path("tests/import/bad_header.csv");
	rt_docs d = {0};
	char err[512];
	assert_int_equal(read_all(path, &d, NULL, err, sizeof err), OSTORE_EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 1: bad header: 7 columns, expected the 8 columns "
	                            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,"
	                            "UnitPrice,CustomerID,Country"));
	assert_int_equal(d.n, 0);
	free(path);

	expect_header_error(*state, "", "empty input: no header line");
	expect_header_error(*state, "\n\n", "empty input: no header line");
	expect_header_error(*state,
	                    "Invoice,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
	                    "CustomerID,Country\n1,a,b,1,2011-01-01 10:00:00,1,,X\n",
	                    "line 1: bad header: column 1 is \"Invoice\", expected \"InvoiceNo\"");
	expect_header_error(*state,
	                    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
	                    "CustomerID,Country,Extra\n",
	                    "9 columns");
	expect_header_error(*state, " InvoiceNo,StockCode,Description,Quantity,InvoiceDate,"
	                            "UnitPrice,CustomerID,Country\n",
	                    "column 1 is \" InvoiceNo\"");
	expect_header_error(*state, "\"InvoiceNo,StockCode\n", "unterminated quoted field");
	expect_header_error(*state, "In\"voiceNo,StockCode\n", "malformed quoting");
	/* Blank lines before the header: the header's line number is reported. */
	expect_header_error(*state, "\n\nfoo\n", "line 3: bad header: 1 columns");

	/* A header alone is a valid, empty import. */
	rt_docs e = {0};
	os_retail_stats st;
	assert_int_equal(read_text(*state, "only.csv", HEADER, &e, &st, NULL, 0), OSTORE_OK);
	assert_int_equal(e.n, 0);
	assert_int_equal(st.rows_read, 0);
}

static void test_bad_arguments(void **state)
{
	char err[512];
	char *path = rt_join(*state, "no-such-file.csv");
	rt_docs d = {0};
	os_retail_stats st;
	memset(&st, 0xff, sizeof st);
	assert_int_equal(read_all(path, &d, &st, err, sizeof err), OSTORE_EIO);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(st.rows_read, 0);
	assert_int_equal(st.nmessages, 0);
	os_retail *r = (os_retail *)&d; /* must stay untouched */
	assert_int_equal(os_retail_open(path, &r, NULL, 0), OSTORE_EIO);
	assert_ptr_equal(r, (os_retail *)&d);
	assert_int_equal(os_retail_open(NULL, &r, err, sizeof err), OSTORE_EINVAL);
	assert_int_equal(os_retail_each(NULL, rt_collect, &d, err, sizeof err), OSTORE_EINVAL);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_two_phase),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test_setup_teardown(test_xz, setup_dir, teardown_dir),
		cmocka_unit_test(test_malformed_rows),
		cmocka_unit_test_setup_teardown(test_message_cap, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_field_rules, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_bom_crlf, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_unterminated_quote, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_header, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
