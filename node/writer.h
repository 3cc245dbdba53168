/*
 * writer.h - the node's single writer thread: group commit (internal to node/).
 *
 * nng callbacks never touch a write transaction. A frame that writes (DATA with any
 * PUT/DEL/CAS, MAP_SET with a newer map, MIG_FREEZE/APPLY/PURGE) becomes a node_job
 * queued here. The writer
 * takes everything queued (up to NODE_BATCH_ITEMS items / NODE_BATCH_BYTES bytes, at
 * least one job), applies it in one LMDB write transaction, commits once (synced unless
 * --no-sync), and only then builds every reply and calls each job's done().
 *
 * Thread safety: node_writer_submit() from any thread; create/stop/destroy from the main
 * thread. done() callbacks run on the writer thread.
 */
#ifndef NODE_WRITER_H
#define NODE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "map.h"
#include "node.h"
#include "wire.h"

#define NODE_BATCH_ITEMS 2000u
#define NODE_BATCH_BYTES (8u << 20)

typedef enum node_job_kind {
	NODE_JOB_DATA, /* DATA frame with at least one write */
	NODE_JOB_MAP,  /* MAP_SET with a map newer than the node's at submit time */
	NODE_JOB_REPL, /* replica: log entries pulled from the primary (replica.c) */
	NODE_JOB_SNAP, /* replica: one page of a snapshot (replica.c) */
	NODE_JOB_MIG_FREEZE, /* MIG_FREEZE freeze / unfreeze (migrate.h) */
	NODE_JOB_MIG_APPLY,  /* MIG_APPLY: copied entries of slots this node does not own */
	NODE_JOB_MIG_PURGE,  /* MIG_PURGE: delete orders of slots this node does not own */
} node_job_kind;

/**
 * One queued frame. The submitter owns the job and everything it points to; the writer
 * borrows it from submit until done() and then never touches it again.
 */
typedef struct node_job {
	struct node_job *next; /* writer's queue link */
	node_job_kind kind;
	os_hdr hdr;            /* the request header (client_id is echoed) */
	const os_item *items;  /* DATA: decoded items, pointing into the request frame */
	uint16_t nitems;
	size_t bytes;          /* DATA: request size, for batch limits */
	os_map *map;           /* MAP: the new map; the writer takes this reference and
	                          sets the field to NULL */
	os_buf reply;          /* the writer writes the whole reply frame here */
	uint64_t ack_lsn;      /* DATA: highest LSN its writes answered (replica acks) */
	int status;            /* REPL/SNAP/MAP: the outcome, set before done() */
	const os_log_entry *log; /* REPL: entries, consecutive LSNs after the store's LSN
	                            (JUMPs included); MIG_APPLY: the copied entries */
	const os_snap_entry *snap; /* SNAP: entries of the page */
	uint32_t nentries;     /* REPL/SNAP/MIG_APPLY: number of entries */
	uint8_t mig_op;        /* MIG_FREEZE: OS_MIG_FREEZE or OS_MIG_UNFREEZE */
	uint16_t slot_begin, slot_end; /* MIG_*: the slot range [begin, end) */
	uint64_t cluster_id;   /* MIG_APPLY/MIG_PURGE: the request's cluster */
	uint32_t max_orders;   /* MIG_PURGE: orders to delete at most */
	os_snap_head snap_head; /* SNAP: the page's head (done = last page) */
	bool snap_first;       /* SNAP: first page: clear orders and log first */
	void (*done)(struct node_job *job); /* called once on the writer thread */
} node_job;

/**
 * REPL jobs apply the primary's entries with their LSN and epoch (orders + log + "lsn"
 * in one transaction; a JUMP entry only moves the LSN and is kept in the log). SNAP jobs write one snapshot page; the first clears the orders
 * and the log and sets the LSN to 0 (a crash mid-way leaves an empty replica that starts
 * over), the last sets the LSN and epoch to the snapshot's.
 *
 * node_writer_create - start the writer thread for @env (store, maps, id must be set;
 * the LSN is taken from the store).
 * Returns OSTORE_OK (*@out set) or OSTORE_ENOMEM / OSTORE_EINTERNAL (thread start).
 */
int node_writer_create(node_env *env, node_writer **out);
/**
 * node_writer_submit - queue @job. Returns OSTORE_OK (done() will run exactly once) or
 * OSTORE_EUNAVAIL when the writer is stopping (done() will not run).
 */
int node_writer_submit(node_writer *w, node_job *job);
/** node_writer_stop - refuse new jobs, finish every queued one (commit and replies),
 *  then join the thread. Idempotent. */
void node_writer_stop(node_writer *w);
/** node_writer_destroy - stop if needed and free. NULL is ignored. */
void node_writer_destroy(node_writer *w);

#endif /* NODE_WRITER_H */
