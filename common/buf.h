/*
 * buf.h - a growable byte buffer and little-endian integer helpers (internal).
 *
 * os_buf is the one way frames are built: append with os_buf_put_*, then hand the bytes
 * to nng (nng_msg_append or nng_send with the pointer). os_rd is the matching bounds-
 * checked reader: every os_rd_* fails (returns false) instead of reading past the end,
 * and keeps failing once it has failed, so decoders check once at the end.
 *
 * Thread safety: none; a buffer belongs to one thread at a time.
 */
#ifndef OS_BUF_H
#define OS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct os_buf {
	uint8_t *data; /* owned; NULL until the first append */
	size_t len;    /* bytes used */
	size_t cap;    /* bytes allocated */
	bool oom;      /* an append failed: the buffer content is incomplete */
} os_buf;

/** os_buf_init - empty buffer (no allocation). Cannot fail. */
void os_buf_init(os_buf *b);
/** os_buf_fini - free the storage; the buffer is empty and reusable after. */
void os_buf_fini(os_buf *b);
/** os_buf_reset - len = 0, keeps the storage and clears oom. */
void os_buf_reset(os_buf *b);
/** os_buf_reserve - make room for @n more bytes. Returns 0, or -1 (oom set). */
int os_buf_reserve(os_buf *b, size_t n);
/** Appends. Each returns 0, or -1 on allocation failure (and sets b->oom). */
int os_buf_put(os_buf *b, const void *p, size_t n);
int os_buf_put_u8(os_buf *b, uint8_t v);
int os_buf_put_u16(os_buf *b, uint16_t v);
int os_buf_put_u32(os_buf *b, uint32_t v);
int os_buf_put_u64(os_buf *b, uint64_t v);

/** Little-endian loads/stores on raw memory (no alignment needed). */
static inline uint16_t os_ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t os_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t os_ld64(const uint8_t *p)
{
	return (uint64_t)os_ld32(p) | ((uint64_t)os_ld32(p + 4) << 32);
}
static inline void os_st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void os_st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void os_st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/** Bounds-checked reader over borrowed memory. */
typedef struct os_rd {
	const uint8_t *p;
	size_t left;
	bool bad; /* a read went past the end */
} os_rd;

static inline void os_rd_init(os_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->left = len;
	r->bad = false;
}
/** os_rd_take - borrow @n bytes; NULL (and bad) if fewer remain. */
const uint8_t *os_rd_take(os_rd *r, size_t n);
bool os_rd_u8(os_rd *r, uint8_t *v);
bool os_rd_u16(os_rd *r, uint16_t *v);
bool os_rd_u32(os_rd *r, uint32_t *v);
bool os_rd_u64(os_rd *r, uint64_t *v);

#endif /* OS_BUF_H */
