/*
 * replica.h - the replicator thread of a replica (internal to node/;
 * docs/replication.md "Stream", "Catch-up and re-seed").
 *
 * While the current map makes this node a replica of a shard, the thread dials the
 * shard's primary with its own REQ socket and loops: REPL_PULL from its durable applied
 * LSN, apply the entries through the single writer, pull again (the ack). It re-dials
 * when the map names another primary, re-seeds from a snapshot on OSTORE_ERESEED, and
 * fetches the primary's map when a reply carries a newer epoch. When the node is not a
 * replica it idles.
 *
 * Thread safety: create/destroy from the main thread only.
 */
#ifndef NODE_REPLICA_H
#define NODE_REPLICA_H

#include "node.h"

/**
 * node_replica_create - start the replicator thread for @env (store, maps, writer, repl
 * set; borrowed). Returns OSTORE_OK (*@out set), OSTORE_ENOMEM or OSTORE_EINTERNAL.
 */
int node_replica_create(node_env *env, node_replica **out);
/** node_replica_destroy - stop the thread (it finishes its current step, at most about
 *  one heartbeat timeout), close its socket, free. NULL is ignored. */
void node_replica_destroy(node_replica *rp);

#endif /* NODE_REPLICA_H */
