/*
 * fuzz.h - shared parts of the fuzz harnesses (tests only; docs/fuzzing.md).
 *
 * Every harness file defines LLVMFuzzerTestOneInput() over one family of decoders. The
 * same source builds two ways (tests/fuzz/meson.build):
 *   -Dfuzz=true (clang)  linked with libFuzzer, ASan and UBSan: `./tools/fuzz` mutates.
 *   default (gcc)        linked with replay.c, which feeds every file of the seed corpus
 *                        and of the regression inputs once: a meson test in suite 'fuzz'.
 *
 * Beyond "does not crash", every harness checks that what decodes also round-trips:
 * decode, encode, decode again and encode again give the same bytes, and a decoder that
 * accepts a body consumed all of it. A broken property calls fuzz_fail(), which prints
 * the check and aborts (libFuzzer then saves the input as a crash).
 *
 * Frames: fuzz_frame() decodes the 32-byte header, checks that it round-trips, and hands
 * the body to the handler that the harness's table lists for the frame's kind (reply
 * bit included). Frames of other kinds are ignored.
 */
#ifndef OS_FUZZ_H
#define OS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

/** The libFuzzer entry point each harness defines: run one input. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** fuzz_fail - print "@file:@line: round-trip check failed: @what" and abort(). */
_Noreturn void fuzz_fail(const char *what, const char *file, int line);

/** FUZZ_CHECK - fuzz_fail() unless @cond holds. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

/** fuzz_bytes_eq - whether [@a, @alen) and [@b, @blen) hold the same bytes (a NULL
 *  pointer is fine with a length of 0). Cannot fail. */
bool fuzz_bytes_eq(const void *a, size_t alen, const void *b, size_t blen);

/**
 * fuzz_array - a heap array for a decoder that fills @count entries of @elem bytes, each
 * taking at least @min_wire bytes of the @len-byte body: min(@count, @len / @min_wire + 1)
 * entries, enough for any decoder that never reads past the body, and exact when the
 * body could hold @count entries (so ASan sees a decoder that writes past @count).
 * The caller frees it. Aborts on out of memory (a harness cannot go on).
 */
void *fuzz_array(uint16_t count, size_t len, size_t min_wire, size_t elem);

/** fuzz_dup - an exact-size heap copy of @n bytes (ASan catches a read past its end).
 *  The caller frees it. Aborts on out of memory. */
uint8_t *fuzz_dup(const void *p, size_t n);

/**
 * A body handler: decode the body @p (@len bytes) of a frame with header @h; on success
 * encode what was decoded into @out (the body only) and return OSTORE_OK; otherwise
 * return the decoder's status and leave @out alone. Runs again on its own output.
 */
typedef int (*fuzz_body_fn)(const os_hdr *h, const uint8_t *p, size_t len, os_buf *out);

typedef struct fuzz_kind {
	uint8_t kind;     /* os_kind, | OS_REPLY_BIT for replies */
	fuzz_body_fn fn;
	bool same_len;    /* an accepted body re-encodes to its own length (false: the map
	                     blob, whose format 1 re-encodes as format 2) */
} fuzz_kind;

/**
 * fuzz_frame - run one frame through the table @kinds (@n entries) as described at the
 * top of this file. Returns 0 (the libFuzzer convention); aborts on a broken property.
 */
int fuzz_frame(const uint8_t *data, size_t size, const fuzz_kind *kinds, size_t n);

#endif /* OS_FUZZ_H */
