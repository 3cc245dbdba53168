/*
 * fuzz_csv.c - fuzz harness of the Online Retail importer (tools/retail.c, the parser
 * behind `orderstore import`). The input is plain CSV text: it is written to an
 * in-memory file (memfd) and read through the importer's public entry points,
 * os_retail_open() then os_retail_each(), exactly as the CLI does with a file.
 * Inputs that start with the xz magic are skipped: the xz path is liblzma's, and a
 * crafted header there only asks for a large dictionary.
 *
 * Properties of every accepted file: the counters agree (rows_rejected <= rows_read,
 * invoices = placed + cancelled + adjustments, at most OS_RETAIL_MAX_MESSAGES kept,
 * each a NUL-terminated "line N: ..." string); the walk delivers exactly `invoices`
 * documents, each a JSON object that jansson parses back, whose "order_id" is the ID
 * bytes, whose "status" matches the ID's first byte and whose "lines" are non-empty,
 * each with an integer "quantity" and a number "unit_price".
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "retail.h"

static const uint8_t xz_magic[6] = {0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00};

typedef struct walk {
	uint64_t docs;
} walk;

static void check_line(const json_t *l)
{
	FUZZ_CHECK(json_is_object(l));
	FUZZ_CHECK(json_is_string(json_object_get(l, "stock_code")));
	FUZZ_CHECK(json_is_string(json_object_get(l, "description")));
	FUZZ_CHECK(json_is_integer(json_object_get(l, "quantity")));
	FUZZ_CHECK(json_is_number(json_object_get(l, "unit_price")));
}

/* os_retail_order_fn: check one invoice's document (top of the file). */
static int on_order(void *arg, const char *id, size_t id_len, const char *json, size_t json_len)
{
	walk *w = arg;
	w->docs++;
	FUZZ_CHECK(id_len >= 1 && id_len <= OSTORE_MAX_ID_LEN);
	FUZZ_CHECK(json[json_len] == '\0' && strlen(json) == json_len);
	json_error_t je;
	json_t *o = json_loadb(json, json_len, JSON_ALLOW_NUL, &je);
	if (o == NULL)
		fprintf(stderr, "invoice document does not parse: %s\n%s\n", je.text, json);
	FUZZ_CHECK(json_is_object(o));
	const json_t *oid = json_object_get(o, "order_id");
	FUZZ_CHECK(json_is_string(oid));
	FUZZ_CHECK(fuzz_bytes_eq(json_string_value(oid), json_string_length(oid), id, id_len));
	const char *status = json_string_value(json_object_get(o, "status"));
	const char *want = id[0] == 'C' ? "cancelled" : id[0] == 'A' ? "adjustment" : "placed";
	FUZZ_CHECK(status != NULL && strcmp(status, want) == 0);
	const json_t *c = json_object_get(o, "customer");
	FUZZ_CHECK(json_is_null(c) || json_is_string(c));
	FUZZ_CHECK(json_is_string(json_object_get(o, "country")));
	const char *at = json_string_value(json_object_get(o, "created_at"));
	FUZZ_CHECK(at != NULL && strlen(at) == 19 && at[10] == 'T');
	const json_t *lines = json_object_get(o, "lines");
	FUZZ_CHECK(json_is_array(lines) && json_array_size(lines) > 0);
	size_t i;
	const json_t *l;
	json_array_foreach(lines, i, l)
		check_line(l);
	json_decref(o);
	return 0;
}

static void check_stats(const os_retail_stats *st, uint64_t size)
{
	FUZZ_CHECK(st->xz == 0 && st->input_bytes == size && st->csv_bytes == size);
	FUZZ_CHECK(st->rows_rejected <= st->rows_read);
	FUZZ_CHECK(st->invoices == st->placed + st->cancelled + st->adjustments);
	FUZZ_CHECK(st->invoices <= st->rows_read - st->rows_rejected);
	FUZZ_CHECK(st->nmessages <= OS_RETAIL_MAX_MESSAGES && st->nmessages <= st->rows_rejected);
	FUZZ_CHECK(st->nmessages == st->rows_rejected || st->nmessages == OS_RETAIL_MAX_MESSAGES);
	for (size_t i = 0; i < st->nmessages; i++) {
		FUZZ_CHECK(memchr(st->messages[i], '\0', OS_RETAIL_MSG_LEN) != NULL);
		FUZZ_CHECK(strncmp(st->messages[i], "line ", 5) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (size >= sizeof xz_magic && memcmp(data, xz_magic, sizeof xz_magic) == 0)
		return 0;
	if (fd < 0) {
		fd = memfd_create("fuzz_csv", 0);
		if (fd < 0)
			fuzz_fail("memfd_create", __FILE__, __LINE__);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		fuzz_fail("write to the memfd", __FILE__, __LINE__);
	os_retail *r = NULL;
	char err[256];
	if (os_retail_open(path, &r, err, sizeof err) != 0)
		return 0;
	os_retail_stats st;
	os_retail_get_stats(r, &st);
	check_stats(&st, size);
	walk w = {0};
	FUZZ_CHECK(os_retail_each(r, on_order, &w, err, sizeof err) == 0);
	FUZZ_CHECK(w.docs == st.invoices);
	os_retail_close(r);
	return 0;
}
