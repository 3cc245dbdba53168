/*
 * buf.c - growable byte buffer and bounds-checked reader.
 *
 * os_buf doubles its capacity (at least 256 bytes) so appending a frame item by item is
 * amortised O(1). A failed allocation leaves the old storage in place and sets the
 * sticky oom flag, so builders may append a whole frame and check once at the end.
 * os_rd never reads past `left`; once a read fails the reader stays bad.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void os_buf_init(os_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = false;
}

void os_buf_fini(os_buf *b)
{
	free(b->data);
	os_buf_init(b);
}

void os_buf_reset(os_buf *b)
{
	b->len = 0;
	b->oom = false;
}

int os_buf_reserve(os_buf *b, size_t n)
{
	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return -1;
	}
	size_t need = b->len + n;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL) {
		b->oom = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int os_buf_put(os_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (os_buf_reserve(b, n) != 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int os_buf_put_u8(os_buf *b, uint8_t v)
{
	return os_buf_put(b, &v, 1);
}

int os_buf_put_u16(os_buf *b, uint16_t v)
{
	uint8_t t[2];
	os_st16(t, v);
	return os_buf_put(b, t, sizeof t);
}

int os_buf_put_u32(os_buf *b, uint32_t v)
{
	uint8_t t[4];
	os_st32(t, v);
	return os_buf_put(b, t, sizeof t);
}

int os_buf_put_u64(os_buf *b, uint64_t v)
{
	uint8_t t[8];
	os_st64(t, v);
	return os_buf_put(b, t, sizeof t);
}

const uint8_t *os_rd_take(os_rd *r, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

bool os_rd_u8(os_rd *r, uint8_t *v)
{
	const uint8_t *p = os_rd_take(r, 1);
	if (p == NULL)
		return false;
	*v = p[0];
	return true;
}

bool os_rd_u16(os_rd *r, uint16_t *v)
{
	const uint8_t *p = os_rd_take(r, 2);
	if (p == NULL)
		return false;
	*v = os_ld16(p);
	return true;
}

bool os_rd_u32(os_rd *r, uint32_t *v)
{
	const uint8_t *p = os_rd_take(r, 4);
	if (p == NULL)
		return false;
	*v = os_ld32(p);
	return true;
}

bool os_rd_u64(os_rd *r, uint64_t *v)
{
	const uint8_t *p = os_rd_take(r, 8);
	if (p == NULL)
		return false;
	*v = os_ld64(p);
	return true;
}
