/*
 * frame.c - nng messages from frames: the one place where the router copies an os_buf
 * into an nng_msg, so that every reply and forwarded frame is built the same way.
 */
#include "frame.h"

nng_msg *rt_msg_from_buf(const os_buf *b)
{
	nng_msg *m;
	if (b->oom || nng_msg_alloc(&m, 0) != 0)
		return NULL;
	if (b->len > 0 && nng_msg_append(m, b->data, b->len) != 0) {
		nng_msg_free(m);
		return NULL;
	}
	return m;
}

nng_msg *rt_msg_frame(const os_hdr *h, const void *body, size_t len)
{
	os_buf b;
	os_buf_init(&b);
	nng_msg *m = NULL;
	if (os_hdr_put(&b, h) == OSTORE_OK && (len == 0 || os_buf_put(&b, body, len) == 0))
		m = rt_msg_from_buf(&b);
	os_buf_fini(&b);
	return m;
}
