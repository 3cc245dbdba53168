/*
 * fuzz_util.c - helpers shared by the fuzz harnesses (fuzz.h): the round-trip driver
 * for whole frames, exact-size copies and entry arrays.
 *
 *   frame ─▶ os_hdr_get ─▶ header put/get again (same fields, same bytes but reserved)
 *                │ kind in the harness's table?
 *                ▼
 *   body ─▶ fn: decode ─ok─▶ encode ─▶ one ─▶ exact copy ─▶ fn ─▶ two;  one == two
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: round-trip check failed: %s\n", file, line, what);
	fflush(stderr);
	abort();
}

bool fuzz_bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

void *fuzz_array(uint16_t count, size_t len, size_t min_wire, size_t elem)
{
	size_t n = len / min_wire + 1;
	if (n > count)
		n = count;
	void *p = calloc(n ? n : 1, elem);
	if (p == NULL)
		fuzz_fail("out of memory", __FILE__, __LINE__);
	return p;
}

uint8_t *fuzz_dup(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (c == NULL)
		fuzz_fail("out of memory", __FILE__, __LINE__);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* The header (and its credential) re-encodes to the same fields and bytes (bytes 29..31
 * are reserved). */
static void header_round_trip(const uint8_t *data, const os_hdr *h)
{
	os_buf b;
	os_buf_init(&b);
	size_t clen = h->cred_len > 0 ? 1u + h->cred_len : 0;
	FUZZ_CHECK(os_hdr_put(&b, h) == OSTORE_OK && b.len == OS_HDR_SIZE + clen);
	FUZZ_CHECK(memcmp(b.data, data, OS_HDR_SIZE - 3) == 0);
	FUZZ_CHECK(clen == 0 || memcmp(b.data + OS_HDR_SIZE, data + OS_HDR_SIZE, clen) == 0);
	os_hdr g;
	FUZZ_CHECK(os_hdr_get(b.data, b.len, &g, NULL, NULL) == OSTORE_OK);
	FUZZ_CHECK(g.kind == h->kind && g.status == h->status && g.count == h->count &&
	           g.timeout_ms == h->timeout_ms && g.epoch == h->epoch &&
	           g.client_id == h->client_id && g.flags == h->flags &&
	           g.cred_len == h->cred_len);
	os_buf_fini(&b);
}

int fuzz_frame(const uint8_t *data, size_t size, const fuzz_kind *kinds, size_t n)
{
	os_hdr h;
	const uint8_t *body = NULL;
	size_t blen = 0;
	if (os_hdr_get(data, size, &h, &body, &blen) != OSTORE_OK)
		return 0;
	header_round_trip(data, &h);
	const fuzz_kind *k = NULL;
	for (size_t i = 0; i < n && k == NULL; i++)
		if (kinds[i].kind == h.kind)
			k = &kinds[i];
	if (k == NULL)
		return 0;
	os_buf one, two;
	os_buf_init(&one);
	os_buf_init(&two);
	if (k->fn(&h, body, blen, &one) == OSTORE_OK) {
		FUZZ_CHECK(!one.oom);
		FUZZ_CHECK(!k->same_len || one.len == blen);
		uint8_t *copy = fuzz_dup(one.data, one.len);
		FUZZ_CHECK(k->fn(&h, copy, one.len, &two) == OSTORE_OK);
		FUZZ_CHECK(fuzz_bytes_eq(one.data, one.len, two.data, two.len));
		free(copy);
	}
	os_buf_fini(&one);
	os_buf_fini(&two);
	return 0;
}
