/*
 * orderstore_rebalance.h - the rebalance driver shared by `rebalance`, `add-shard` and
 * `remove-shard` (tools/ only; prefix cli_rb_). The planner is rebalance_plan.h, the
 * frames orderstore_mig.h; this is what runs a plan against a live cluster.
 *
 *   cli_rb_open      newest map (routers, DIR/map.json, nodes)
 *   cli_rb_lease_take  the migration lease on every primary (orderstore_lease.c): one
 *                    run at a time; renewed as the run goes, released by cli_rb_close
 *   cli_rb_sync      (a) nodes and routers holding an older map get the newest one
 *   cli_rb_recover   (b) unfreeze every frozen range, (c) purge every range a primary
 *                    does not own: what a killed run left behind
 *   cli_rb_execute   (d) every move of a plan: copy, catch up, freeze, final catch-up,
 *                    new map (source first, then destination, then everyone), unfreeze,
 *                    purge the source
 *   cli_rb_publish   a new map: epoch + 1, to the nodes and routers, DIR/map.json
 *
 * All migration state lives in the map and in the nodes (frozen bits, copies), never only
 * in the tool, so running the tool again after it was killed at any step finishes (or
 * rolls back) what it was doing: see docs/rebalance.md "Crash safety".
 *
 * Thread safety: one cli_rb_run per thread; the functions block on the network.
 */
#ifndef OS_CLI_REBALANCE_H
#define OS_CLI_REBALANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "orderstore_cli.h"
#include "rebalance_plan.h"

#define CLI_RB_TIMEOUT_MS 5000u
/** The migration lease's time to live (ORDERSTORE_REBALANCE_LEASE_MS overrides it, for
 *  tests): far above the longest single step, renewed every third of it. */
#define CLI_RB_LEASE_MS 30000u

/** One run of the driver: options, the newest map, progress counters. */
typedef struct cli_rb_run {
	cli_ctx *ctx;
	const char *cmd;     /* for messages, e.g. "rebalance" */
	os_map *map;         /* the newest map (owned); replaced by every publish */
	uint32_t timeout_ms; /* per request */
	uint32_t max_slots;  /* slots per move */
	double rate_bps;     /* copy throttle in bytes/s; 0 = unlimited */
	bool tty;            /* stdout is a terminal: one updating progress line */
	bool quiet;          /* no per-step output (tests of the helpers) */
	/* progress of cli_rb_execute */
	uint64_t t0_ns, last_print_ns;
	uint32_t slots_total, slots_done, moves_total, moves_done;
	uint64_t orders, bytes;
	uint64_t freeze_max_ns; /* longest time from a freeze to source and destination
	                           holding the new map (writes to the range refused) */
	/* the migration lease (orderstore_lease.c) */
	uint64_t run_id;          /* random, non-zero; header client_id of every frame */
	uint32_t lease_ms;        /* time to live asked for */
	uint64_t lease_sent_ns;   /* when the last successful round of renewals began */
	uint16_t *lease_nodes;    /* node ids holding our lease */
	char **lease_urls;        /* their addresses (owned) */
	size_t nleases;
	bool lease_lost;          /* a node refused: stop, and say why once */
	bool interrupted;         /* SIGINT / SIGTERM seen: stopped between steps */
} cli_rb_run;

/**
 * cli_rb_open - fill @r for @ctx and find the newest map (cli_find_map).
 * Returns 0, or the exit status after printing why (2 no cluster named, 3 no map).
 * On success release @r with cli_rb_close; on failure @r holds nothing.
 */
int cli_rb_open(cli_rb_run *r, cli_ctx *ctx, const char *cmd);

/** cli_rb_parse_rate - parse a --rate MB/s argument (0.01..1000000) into *@mb_per_s.
 *  Returns 0, or CLI_EXIT_USAGE after printing the problem. */
int cli_rb_parse_rate(const char *cmd, const char *arg, double *mb_per_s);

/** cli_rb_close - release @r's leases (cli_rb_lease_release) and its map. Safe twice.
 *  Cannot fail. */
void cli_rb_close(cli_rb_run *r);

/**
 * cli_rb_lease_take - pick a random run id and take the migration lease (r->lease_ms,
 * default CLI_RB_LEASE_MS) on the primary of every shard of r->map; SIGINT and SIGTERM
 * then stop the run between steps (cli_rb_stop_requested). If a primary refuses (another
 * run holds it) or does not answer, the leases taken are released and the exit status
 * is returned after printing why (1 refused, 3 no answer, 2 a bad
 * ORDERSTORE_REBALANCE_LEASE_MS); 0 on success.
 */
int cli_rb_lease_take(cli_rb_run *r);

/**
 * cli_rb_lease_renew - renew every lease of @r when a third of its time has passed (or
 * always with @force), renew-only (OS_MIG_LEASE_F_RENEW): a lease that lapsed is never
 * taken back, since another run may have cleaned up meanwhile. Returns OSTORE_OK,
 * OSTORE_ELOCKED (lost or lapsed: r->lease_lost set, why printed) or a transport error.
 * Does nothing without leases (OSTORE_OK).
 */
int cli_rb_lease_renew(cli_rb_run *r, bool force);

/** cli_rb_lease_lost - note a refusal (OSTORE_ELOCKED) of a migration frame on @url:
 *  print once that this run lost the lease and stops. Cannot fail. */
void cli_rb_lease_lost(cli_rb_run *r, const char *url);

/** cli_rb_lease_release - give the leases back (ttl 0; errors ignored: they expire).
 *  Safe twice. Cannot fail. */
void cli_rb_lease_release(cli_rb_run *r);

/**
 * cli_rb_lease_describe - the lease on @url in words ("free", "run 0123...: 12 s left",
 * "unknown (...)") into @out (@cap bytes), read with a throwaway run id. Returns the
 * MIG_LEASE status (OSTORE_OK or a transport error).
 */
int cli_rb_lease_describe(const char *url, uint32_t timeout_ms, char *out, size_t cap);

/** cli_rb_stop_requested - whether SIGINT / SIGTERM arrived since cli_rb_lease_take. */
bool cli_rb_stop_requested(void);

/**
 * cli_rb_sync - (a): MAP_GET every node of the map and every router; hand those with an
 * older epoch the newest map. Unreachable ones are reported, not fatal (a node that is
 * down gets the newest map when it starts). Returns how many were updated. Cannot fail.
 */
int cli_rb_sync(cli_rb_run *r);

/**
 * cli_rb_recover - (b) and (c) on every shard's primary: MIG_FREEZE QUERY, UNFREEZE of
 * each frozen range (a range still owned is rolled back, one no longer owned just
 * cleared), then MIG_PURGE of each range of slots the shard does not own until nothing
 * is left. Returns 0, or the exit status after printing why (a primary that does not
 * answer: 3; one that refuses: 1).
 */
int cli_rb_recover(cli_rb_run *r);

/**
 * cli_rb_execute - run @p's moves in order against the cluster, with progress on stdout
 * and totals at the end. Stops at the first move that fails (what it changed is undone
 * or finished by the next run's cli_rb_recover). Returns 0, or the exit status after
 * printing why (1 failed, 3 a node did not answer).
 */
int cli_rb_execute(cli_rb_run *r, const rb_plan *p);

/**
 * cli_rb_publish - make @next (an edited clone of r->map; its epoch is set here to
 * r->map->epoch + 1) the cluster's map: MAP_SET to the nodes @first[0..nfirst) in that
 * order, each of which must take it, then to every other node of the old and the new map
 * and to every router (a failure there is reported, not fatal), then DIR/map.json with
 * --dir. Takes ownership of @next in every case; on success r->map is @next.
 * Returns 0, or the exit status after printing why (a @first node refused or did not
 * answer; the map may then be on some nodes: a re-run's cli_rb_sync finishes it).
 */
int cli_rb_publish(cli_rb_run *r, os_map *next, const uint16_t *first, size_t nfirst);

/** cli_rb_primary_addr - address of shard @shard's primary in @m, NULL if none. */
const char *cli_rb_primary_addr(const os_map *m, uint16_t shard);

/**
 * cli_rb_rebalance - the whole of `rebalance` after its options: cli_rb_sync,
 * cli_rb_recover, plan (r->max_slots), cli_rb_execute. Prints "nothing to move" for a
 * balanced map. Returns 0 or the exit status as the functions above.
 */
int cli_rb_rebalance(cli_rb_run *r);

#endif /* OS_CLI_REBALANCE_H */
