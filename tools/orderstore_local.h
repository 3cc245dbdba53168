/*
 * orderstore_local.h - the processes of a local cluster directory (tools/ only; prefix
 * cli_lc_), shared by orderstore_local.c (`local up`) and orderstore_local_ops.c
 * (`local down|status|add-shard` and the `local` dispatch).
 *
 * A cluster's processes are the nodes of DIR/map.json (node-I, listening on the node's
 * map address) and the router of DIR/routers; each has DIR/NAME.pid and DIR/NAME.log.
 *
 * Thread safety: none needed (the CLI is single-threaded); nothing here keeps state
 * outside the struct the caller passes.
 */
#ifndef OS_CLI_LOCAL_H
#define OS_CLI_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "orderstore_cli.h"

#define LOCAL_DEFAULT_WAIT_MS 15000u
#define LOCAL_STOP_WAIT_MS 10000u
#define LOCAL_MAX_PROCS (OS_MAP_MAX_IDS + 1)

/* One process of the local cluster. */
typedef struct cli_local_proc {
	char name[32];      /* "node-3", "router" */
	char addr[300];     /* nng URL it listens on */
	char pidfile[PATH_MAX];
	char logfile[PATH_MAX];
	uint16_t node_id;   /* nodes: the map's node id */
	bool is_router;
	pid_t pid;          /* started by this run; 0 = not started by it */
	bool running;       /* already running before this run (its pid file is live) */
	pid_t running_pid;
	bool up;
} cli_local_proc;

typedef struct cli_local_cluster {
	char dir[PATH_MAX]; /* absolute */
	char map_path[PATH_MAX];
	cli_local_proc procs[LOCAL_MAX_PROCS]; /* nodes by map order, then the router last */
	size_t nprocs;
} cli_local_cluster;

/** cli_lc_init - empty @lc for directory @dir (made absolute; must exist).
 *  Returns 0 or an errno value (ENAMETOOLONG for a path too long to hold DIR/names). */
int cli_lc_init(cli_local_cluster *lc, const char *dir);
/** cli_lc_add - append a process named @name listening on @addr (pid and log file under
 *  DIR); node_id 0, not a router. The caller keeps nprocs < LOCAL_MAX_PROCS. Cannot fail. */
cli_local_proc *cli_lc_add(cli_local_cluster *lc, const char *name, const char *addr);
/** cli_lc_router_addr - the first router URL of DIR/routers into @out; false if none. */
bool cli_lc_router_addr(const char *dir, char *out, size_t outlen);
/** cli_lc_from_map - append @m's nodes, then the router at @router_addr. Returns 0. */
int cli_lc_from_map(cli_local_cluster *lc, const os_map *m, const char *router_addr);
/** cli_lc_load - cli_lc_init + DIR/map.json + DIR/routers. Returns 0, or -1 after
 *  printing why (as "@cmd: ..."; silent for a missing DIR when @quiet_absent). */
int cli_lc_load(cli_local_cluster *lc, const char *cmd, const char *dir, bool quiet_absent);
/**
 * cli_lc_spawn - start process @i of @lc detached (a node with DIR/node-I as its data,
 * the options of DIR/local.json and DIR/map.json as its first map; or the router), with
 * its metrics address (DIR/metrics.json), and write its pid file. Sets procs[i].pid.
 * Returns 0, or -1 after printing why.
 */
int cli_lc_spawn(cli_ctx *ctx, cli_local_cluster *lc, size_t i, const char *node_bin,
                 const char *router_bin);
/** cli_lc_wait - wait until every process of @lc answers PING (those marked running
 *  count as up). Returns 0, or -1 after printing why (an early death, a timeout) with
 *  the log tails. */
int cli_lc_wait(cli_local_cluster *lc, uint32_t wait_ms);
/** cli_lc_wait_replicas - wait until the primary of every shard of @m with replicas
 *  reports them all connected; only warns when @wait_ms runs out. Cannot fail. */
void cli_lc_wait_replicas(const os_map *m, uint32_t wait_ms);
/** cli_lc_stop_started - stop the processes of @lc this run started (TERM, wait, KILL)
 *  and remove their pid files. Cannot fail. */
void cli_lc_stop_started(cli_local_cluster *lc);

/** cli_local_up - `local up` (argv[0] is "up"). Returns the exit status. */
int cli_local_up(cli_ctx *ctx, int argc, char **argv);
/** cli_local_add_shard - `local add-shard` (argv[0] is "add-shard"; orderstore_shards.c):
 *  start a new shard's nodes in DIR, then add the shard to the map. Exit status. */
int cli_local_add_shard(cli_ctx *ctx, int argc, char **argv);

#endif /* OS_CLI_LOCAL_H */
