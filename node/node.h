/*
 * node.h - the parts of one running orderstore-node, shared by its modules (internal to
 * node/). main.c creates them in order (store, maps, writer, server) and destroys them in
 * reverse; the other modules only borrow them.
 */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include <stdint.h>

#include "netsec.h"
#include "nodemap.h"
#include "store.h"

typedef struct node_writer node_writer;
typedef struct node_repl node_repl;
typedef struct node_replica node_replica;
typedef struct node_lease node_lease;

typedef struct node_env {
	uint16_t id;          /* this node's id in the cluster map */
	uint32_t max_value;   /* largest value accepted, bytes */
	node_store *store;
	node_maps *maps;
	node_writer *writer;
	node_repl *repl;      /* replication state (repl.h) */
	node_replica *replica; /* replicator thread (replica.h) */
	node_lease *lease;     /* the migration lease (lease.h) */
	const os_netsec *sec;  /* TLS and tokens (netsec.h); NULL = plain, no credentials */
} node_env;

#endif /* NODE_NODE_H */
