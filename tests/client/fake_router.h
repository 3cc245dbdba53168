/*
 * fake_router.h - an in-process stand-in for orderstore-router (tests of liborderstore
 * only). One REP socket served by one thread; orders live in a small in-memory table;
 * writes are deduplicated by (client_id, seq) like a node does. Knobs let a test drop
 * requests unanswered (to force client retries) or answer every frame with one status.
 */
#ifndef FAKE_ROUTER_H
#define FAKE_ROUTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct fake_router fake_router;

/** fake_start - listen on @url and serve until fake_stop. NULL on failure. */
fake_router *fake_start(const char *url);
/** fake_stop - stop serving, close, free. */
void fake_stop(fake_router *f);
/** Leave the next @n requests unanswered. */
void fake_drop_next(fake_router *f, int n);
/** Answer every DATA frame with frame status @st (0 = normal service). */
void fake_frame_status(fake_router *f, int st);
/** Writes applied (not counting deduplicated repeats). */
uint64_t fake_applied(fake_router *f);
/** Requests received (answered or dropped). */
uint64_t fake_received(fake_router *f);

#endif
