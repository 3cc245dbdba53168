/*
 * repl_int.h - the layout of node_repl, shared by primary_repl.c, snapshot.c and
 * replica_read.c only (internal to those files; everyone else uses repl.h).
 */
#ifndef NODE_REPL_INT_H
#define NODE_REPL_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "repl.h"

#define NODE_SNAP_SESSIONS 8u

/* Per replica node (indexed by node id): ack and liveness, guarded by node_repl.mu. */
typedef struct repl_peer {
	uint64_t acked;     /* durable applied LSN reported by its last valid pull */
	uint64_t last_seen; /* os_now_ns() of its last valid pull, 0 = never */
} repl_peer;

/* A write job waiting for replica acks, guarded by node_repl.mu. */
typedef struct parked_job {
	struct parked_job *next;
	node_job *job;
	uint32_t shard;
	uint64_t deadline_ns;
} parked_job;

/* One snapshot session (snapshot.c), guarded by node_repl.mu. */
typedef struct snap_session {
	uint64_t id;       /* 0 = free */
	uint16_t node;     /* the replica; OS_NODE_NONE for a migration session (MIG_SNAP) */
	uint16_t slot_begin, slot_end; /* the slots it copies ([0, 4096) for a replica) */
	MDB_txn *txn;      /* NULL once the last page went out (only the pin remains) */
	uint64_t lsn, epoch;
	uint64_t last_ns;  /* last use */
	bool busy;         /* a request is using txn right now */
} snap_session;

struct node_repl {
	node_env *env;
	node_repl_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	repl_peer peers[OS_MAP_MAX_IDS];
	parked_job *parked;
	struct pull_park *pulls; /* parked pulls (primary_repl.c) */
	snap_session snaps[NODE_SNAP_SESSIONS];
	_Atomic uint64_t known_lsn;
	_Atomic bool empty_unconfirmed; /* started with no data: no replica has said it has none either */
	_Atomic uint64_t pin; /* min LSN pinned by snapshot sessions, UINT64_MAX = none */
	/* replica reads (replica_read.c) */
	_Atomic uint64_t confirmed_ns;  /* os_now_ns() of the last caught-up pull reply, 0 = unknown */
	_Atomic uint64_t replica_reads; /* GET items served as a replica */
	_Atomic uint64_t stale_reads;   /* bounded frames refused OSTORE_ESTALEREAD */
	bool stopping;
	bool ticker_started;
	pthread_t ticker;
};

/** snap_recompute_pin_locked - recompute r->pin from the sessions (r->mu held). */
void snap_recompute_pin_locked(node_repl *r);
/** snap_end_all - end every session (destroy). */
void snap_end_all(node_repl *r);

#endif /* NODE_REPL_INT_H */
