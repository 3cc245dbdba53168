/*
 * frame.h - building nng messages that hold orderstore frames (router-internal).
 */
#ifndef RT_FRAME_H
#define RT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "buf.h"
#include "wire.h"

/**
 * rt_msg_from_buf - a new nng message holding a copy of @b's bytes.
 * Returns the message (caller owns it) or NULL when @b is incomplete (b->oom) or nng is
 * out of memory. @b stays the caller's. Thread-safe.
 */
nng_msg *rt_msg_from_buf(const os_buf *b);

/**
 * rt_msg_frame - a frame of header @h followed by @body (@len bytes, may be 0/NULL) as a
 * new nng message owned by the caller; NULL when out of memory. Thread-safe.
 */
nng_msg *rt_msg_frame(const os_hdr *h, const void *body, size_t len);

#endif /* RT_FRAME_H */
