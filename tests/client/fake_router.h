/*
 * fake_router.h - an in-process stand-in for orderstore-router (tests of liborderstore
 * only). One REP socket served by one thread; orders live in a small in-memory table;
 * writes are deduplicated by (client_id, seq) like a node does. Knobs let a test drop
 * requests unanswered (to force client retries), answer every frame with one status, or
 * answer slowly (so that a client coalesces the requests that arrive meanwhile). Every
 * DATA frame received is logged (item count, hash of its bytes, dropped or not, which
 * halves of the slot space its items fall in). MAP_GET is answered once a test sets a
 * map (fake_map): two shards split at a chosen slot; until then it is refused (EBADOP).
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
/** Leave the next @n requests unanswered (MAP_GETs aside: fake_drop_map_gets). */
void fake_drop_next(fake_router *f, int n);
/** Answer every DATA frame with frame status @st (0 = normal service). */
void fake_frame_status(fake_router *f, int st);
/** Leave the next @n DATA frames of more than @items items unanswered. */
void fake_drop_larger(fake_router *f, int n, int items);
/** Sleep @ms before answering each DATA frame (0 = answer at once). */
void fake_delay_ms(fake_router *f, int ms);

/** One DATA frame as received. */
typedef struct fake_frame {
	uint16_t count;   /* items */
	uint16_t nwrites; /* items that are not GETs */
	uint64_t hash;    /* FNV-1a of the frame bytes */
	int dropped;      /* left unanswered */
	int halves;       /* bit 0: an item's slot < 2048; bit 1: an item's slot >= 2048 */
} fake_frame;

/** Answer MAP_GET with a 2-shard map of @epoch (slots < @split: shard 0, the rest:
 *  shard 1), and give DATA replies that epoch; @epoch 0: refuse MAP_GET (the default). */
void fake_map(fake_router *f, uint64_t epoch, uint16_t split);
/** MAP_GET requests received. */
uint64_t fake_map_gets(fake_router *f);
/** Leave the next @n MAP_GET requests unanswered. */
void fake_drop_map_gets(fake_router *f, int n);

/** DATA frames received so far (the log keeps the first FAKE_LOG_MAX). */
#define FAKE_LOG_MAX 4096
size_t fake_frames(fake_router *f);
/** Copy of log entry @i (< fake_frames, < FAKE_LOG_MAX). */
fake_frame fake_frame_at(fake_router *f, size_t i);
/** Forget the log (call while no request is in flight). */
void fake_log_clear(fake_router *f);
/** Writes applied (not counting deduplicated repeats). */
uint64_t fake_applied(fake_router *f);
/** Requests received (answered or dropped), not counting MAP_GETs (fake_map_gets). */
uint64_t fake_received(fake_router *f);

#endif
