/*
 * fake_node.h - an in-process stand-in for orderstore-node that a real router can be
 * pointed at (tests of the router's retries only). One REP socket served by one thread.
 * It answers PING, MAP_GET (with the map it was given) and DATA: GETs answer
 * OSTORE_ENOTFOUND, writes answer per the node's mode (below), deduplicated by
 * (client_id, seq) like a node once executed. Everything else answers OSTORE_EBADOP.
 */
#ifndef FAKE_NODE_H
#define FAKE_NODE_H

#include <stdint.h>

#include "map.h"

typedef struct fake_node fake_node;

/** How a fake node answers DATA items. */
typedef enum fake_mode {
	FAKE_SERVE = 0,  /* writes OK (new version), GETs ENOTFOUND */
	FAKE_FROZEN,     /* writes EMIGRATING, GETs ENOTFOUND */
	FAKE_MOVED,      /* every item EMOVED */
} fake_mode;

/**
 * fake_node_start - listen on @url with map @m (a reference is taken; reply headers
 * carry its epoch) and serve until fake_node_stop. Returns NULL on failure.
 */
fake_node *fake_node_start(const char *url, os_map *m);
/** fake_node_stop - stop serving, close, free. NULL is ignored. */
void fake_node_stop(fake_node *f);
/** fake_node_set_map - answer MAP_GET with @m from now on (a reference is taken). */
void fake_node_set_map(fake_node *f, os_map *m);
/** fake_node_mode - answer DATA items as @mode for @ms milliseconds from now
 *  (UINT32_MAX: until changed again), then as FAKE_SERVE. */
void fake_node_mode(fake_node *f, fake_mode mode, uint32_t ms);
/** fake_node_frames - DATA frames received so far. */
uint64_t fake_node_frames(fake_node *f);
/** fake_node_applied - writes answered OK and not deduplicated. */
uint64_t fake_node_applied(fake_node *f);
/** fake_node_map_gets - MAP_GET frames answered so far. */
uint64_t fake_node_map_gets(fake_node *f);

#endif /* FAKE_NODE_H */
