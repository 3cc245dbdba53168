/*
 * orderstore_rebalance.c - `orderstore rebalance`: move slots between shards, online,
 * until every shard owns its share by weight (docs/rebalance.md).
 *
 *   rebalance [--weights S=W,...] ─▶ newest map ─▶ (weights: map epoch + 1, pushed)
 *     --status   map epoch, slots per shard vs target, remaining moves, frozen slots,
 *                each primary's migration lease
 *     --dry-run  the plan with orders per move (CHECKSUM) and estimated bytes (STATS)
 *     otherwise  lease ─▶ sync maps ─▶ recover ─▶ plan ─▶ run the moves
 *                (orderstore_migrate.c) ─▶ release the lease
 *
 * The planner is tools/rebalance_plan.c; options are parsed and checked here, the work
 * is the driver's (orderstore_rebalance.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orderstore_mig.h"
#include "orderstore_rebalance.h"

static const char kRebalanceHelp[] =
	"usage: orderstore rebalance [--dry-run | --status] [--weights S=W,...]\n"
	"                            [--max-concurrent-slots N] [--rate MB/s] [common options]\n"
	"Move slots between shards, online, until each shard owns its share of the 4096 slots\n"
	"by weight (largest remainder; weight 0 = drain). Only shards above their share give\n"
	"slots and only shards below receive, so the fewest slots move. Per range of slots:\n"
	"copy from the source primary, catch up from its write log, freeze writes to the range\n"
	"for a moment, final catch-up, new map (epoch + 1) to the source first, then the\n"
	"destination, every other node and the routers (and DIR/map.json with --dir), unfreeze,\n"
	"delete the source's copy. Reads and writes go on meanwhile (writes to a frozen range\n"
	"are retried by the routers).\n"
	"Crash safety: killed at any point, run it again: it pushes the newest map to whoever\n"
	"missed it, rolls back frozen ranges not yet moved, deletes half-copied data and\n"
	"continues with the rest of the plan. One run at a time: a run holds a lease on every\n"
	"primary (30 s, renewed as it goes; the nodes refuse migration steps of any other run);\n"
	"a second run exits 1 naming the holder. Ctrl-C / SIGTERM stop after the current step.\n"
	"\nOptions:\n"
	"  --dry-run          print the plan (per move: shards, slots, orders, est. MB) and the\n"
	"                     resulting balance; change nothing\n"
	"  --status           print the map epoch, slots per shard vs target, the moves left,\n"
	"                     the frozen slots and the lease holder of every primary; change\n"
	"                     nothing\n"
	"  --weights S=W,...  set shard weights (0..65535) in the map first (epoch + 1)\n"
	"  --max-concurrent-slots N  slots moved at once, per move (1..4096, default 64)\n"
	"  --rate MB/s        copy at most this fast (default unlimited)\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Progress: on a terminal one updating line (slots done/total, orders/s, MB/s, ETA),\n"
	"otherwise one line per move; totals at the end.\n"
	"Exit status: 0 done (or nothing to do), 1 a move failed or was refused, 2 usage,\n"
	"3 the cluster (or a primary) did not answer.\n";

enum { OPT_DRY = CLI_OPT_FIRST_LOCAL + 300, OPT_STATUS, OPT_WEIGHTS, OPT_MAXSLOTS, OPT_RATE };

/* --weights, parsed. */
typedef struct weight_opt {
	uint16_t shard[OS_MAP_MAX_IDS], weight[OS_MAP_MAX_IDS];
	size_t n;
} weight_opt;

/* Parses "S=W,S=W". Returns 0 or CLI_EXIT_USAGE after printing why. */
static int parse_weights(const char *cmd, const char *arg, weight_opt *w)
{
	const char *p = arg;
	w->n = 0;
	while (*p != '\0') {
		char *end;
		errno = 0;
		unsigned long s = strtoul(p, &end, 10);
		if (end == p || *end != '=' || errno != 0 || s >= OS_MAP_MAX_IDS || *p == '-' || *p == '+')
			return cli_usage_error(cmd, "--weights '%s': expected SHARD=WEIGHT[,...] with "
			                            "SHARD 0..%u", arg, OS_MAP_MAX_IDS - 1);
		p = end + 1;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0') || errno != 0 || v > UINT16_MAX ||
		    *p == '-' || *p == '+')
			return cli_usage_error(cmd, "--weights '%s': the weight of shard %lu must be a "
			                            "whole number 0..%u", arg, s, UINT16_MAX);
		for (size_t i = 0; i < w->n; i++)
			if (w->shard[i] == s)
				return cli_usage_error(cmd, "--weights '%s': shard %lu given twice", arg, s);
		if (w->n == OS_MAP_MAX_IDS)
			return cli_usage_error(cmd, "--weights '%s': too many shards", arg);
		w->shard[w->n] = (uint16_t)s;
		w->weight[w->n++] = (uint16_t)v;
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0')
			return cli_usage_error(cmd, "--weights '%s': nothing after the last ','", arg);
	}
	if (w->n == 0)
		return cli_usage_error(cmd, "--weights needs SHARD=WEIGHT[,...]");
	return 0;
}

/* Orders of @sh now (STATS of its primary), or -1 when it does not answer. */
static int64_t shard_orders(const os_map *m, uint16_t sh, uint32_t tmo, uint64_t *bytes_used)
{
	const char *url = cli_rb_primary_addr(m, sh);
	os_stats_entry e;
	if (url == NULL || cli_node_stats(url, tmo, &e, NULL) != OSTORE_OK)
		return -1;
	if (bytes_used != NULL)
		*bytes_used = e.bytes_used;
	return (int64_t)e.orders;
}

/* Orders in [b, e) on shard @sh's primary (CHECKSUM), or -1. */
static int64_t range_orders(const os_map *m, uint16_t sh, uint16_t b, uint16_t e, uint32_t tmo)
{
	const char *url = cli_rb_primary_addr(m, sh);
	os_cksum_entry ck[OSTORE_SLOTS];
	uint64_t lsn;
	if (url == NULL || cli_node_checksum(url, b, e, tmo, &lsn, ck) != OSTORE_OK)
		return -1;
	int64_t n = 0;
	for (uint32_t i = 0; i < (uint32_t)(e - b); i++)
		n += (int64_t)ck[i].orders;
	return n;
}

static int dry_run(cli_rb_run *r, const rb_plan *p)
{
	const os_map *m = r->map;
	uint32_t target[OS_MAP_MAX_IDS];
	os_map_slot_targets(m, target);
	int64_t now[OS_MAP_MAX_IDS], after[OS_MAP_MAX_IDS];
	uint64_t used[OS_MAP_MAX_IDS] = {0};
	bool unknown = false;
	for (uint16_t i = 0; i < m->nshards; i++) {
		now[i] = after[i] = shard_orders(m, m->shards[i].id, r->timeout_ms, &used[i]);
		unknown |= now[i] < 0;
	}
	printf("map epoch %" PRIu64 ": plan of %u slots in %zu moves of at most %u slots\n",
	       m->epoch, p->slots, p->nmoves, r->max_slots);
	if (p->nmoves > 0)
		printf("  %5s %5s %4s %-11s %6s %10s %10s\n", "move", "from", "to", "slots", "count",
		       "orders", "est. MB");
	int64_t total_orders = 0;
	double total_mb = 0;
	for (size_t k = 0; k < p->nmoves; k++) {
		const rb_move *mv = &p->moves[k];
		int64_t n = range_orders(m, mv->from, mv->slot_begin, mv->slot_end, r->timeout_ms);
		size_t fi = 0, ti = 0;
		for (uint16_t i = 0; i < m->nshards; i++) {
			fi = m->shards[i].id == mv->from ? i : fi;
			ti = m->shards[i].id == mv->to ? i : ti;
		}
		double mb = n >= 0 && now[fi] > 0 ? (double)n * ((double)used[fi] / (double)now[fi]) / 1e6 : 0;
		char slots[16], orders[24], est[24];
		snprintf(slots, sizeof(slots), "%u-%u", mv->slot_begin, mv->slot_end - 1);
		snprintf(orders, sizeof(orders), n >= 0 ? "%" PRId64 : "?", n);
		snprintf(est, sizeof(est), n >= 0 && now[fi] >= 0 ? "%.2f" : "?", mb);
		printf("  %5zu %5u %4u %-11s %6u %10s %10s\n", k + 1, mv->from, mv->to, slots,
		       mv->slot_end - mv->slot_begin, orders, est);
		if (n >= 0) {
			total_orders += n;
			total_mb += mb;
			if (after[fi] >= 0)
				after[fi] -= n;
			if (after[ti] >= 0)
				after[ti] += n;
		} else {
			unknown = true;
		}
	}
	printf("total: %u slots, %" PRId64 " orders, %.2f MB (est.: bytes per order from each "
	       "source's STATS bytes_used / orders)\n", p->slots, total_orders, total_mb);
	printf("resulting balance:\n  %5s %6s %11s %11s %11s %12s\n", "shard", "weight",
	       "slots now", "slots after", "orders now", "orders after");
	for (uint16_t i = 0; i < m->nshards; i++) {
		uint32_t have = os_map_slot_count(m, m->shards[i].id);
		char o1[24], o2[24];
		snprintf(o1, sizeof(o1), now[i] >= 0 ? "%" PRId64 : "?", now[i]);
		snprintf(o2, sizeof(o2), after[i] >= 0 ? "%" PRId64 : "?", after[i]);
		printf("  %5u %6u %11u %11u %11s %12s\n", m->shards[i].id, m->shards[i].weight, have,
		       target[i], o1, o2);
	}
	if (unknown)
		printf("(? = a primary did not answer; its orders are unknown)\n");
	fflush(stdout);
	return 0;
}

static int status(cli_rb_run *r, const rb_plan *p)
{
	const os_map *m = r->map;
	uint32_t target[OS_MAP_MAX_IDS];
	os_map_slot_targets(m, target);
	printf("map epoch %" PRIu64 ", cluster %016" PRIx64 "\n", m->epoch, m->cluster_id);
	printf("  %5s %6s %7s %6s %6s  %s\n", "shard", "weight", "primary", "slots", "target",
	       "frozen slots on the primary");
	int rc = 0;
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *sh = &m->shards[i];
		char frozen[160] = "-";
		const char *url = cli_rb_primary_addr(m, sh->id);
		uint8_t bits[OS_MIG_BITMAP_SIZE];
		uint64_t lsn;
		int st = url == NULL ? OSTORE_EUNAVAIL
		         : cli_mig_freeze(url, 0, m->epoch, OS_MIG_QUERY, 0, OSTORE_SLOTS, r->timeout_ms,
		                          &lsn, bits);
		if (st != OSTORE_OK) {
			cli_fmt(frozen, sizeof(frozen), "unknown (%s)", ostore_strerror(st));
			rc = CLI_EXIT_UNREACHABLE;
		} else {
			size_t o = 0, nfrozen = 0;
			for (uint32_t s = 0; s < OSTORE_SLOTS; s++) {
				if (!(bits[s / 8] & (1u << (s % 8))))
					continue;
				uint32_t e = s;
				while (e + 1 < OSTORE_SLOTS && (bits[(e + 1) / 8] & (1u << ((e + 1) % 8))))
					e++;
				nfrozen += e - s + 1;
				if (o < sizeof(frozen) - 24)
					o += (size_t)snprintf(frozen + o, sizeof(frozen) - o, "%s%u-%u",
					                      o ? ", " : "", s, e);
				s = e;
			}
			if (nfrozen == 0)
				cli_fmt(frozen, sizeof(frozen), "none");
		}
		char prim[16] = "-";
		if (sh->primary != OS_NODE_NONE)
			snprintf(prim, sizeof(prim), "%u", sh->primary);
		printf("  %5u %6u %7s %6u %6u  %s\n", sh->id, sh->weight, prim,
		       os_map_slot_count(m, sh->id), target[i], frozen);
	}
	printf("migration lease (one rebalance at a time):\n");
	for (uint16_t i = 0; i < m->nshards; i++) {
		const char *url = cli_rb_primary_addr(m, m->shards[i].id);
		char what[96] = "no primary";
		if (url != NULL && cli_rb_lease_describe(url, r->timeout_ms, what, sizeof(what)) !=
		                   OSTORE_OK)
			rc = CLI_EXIT_UNREACHABLE;
		printf("  shard %u primary %u: %s\n", m->shards[i].id, m->shards[i].primary, what);
	}
	if (p->nmoves == 0)
		printf("balanced: no move left\n");
	else
		printf("remaining: %u slots in %zu moves (of at most %u slots)\n", p->slots, p->nmoves,
		       r->max_slots);
	fflush(stdout);
	return rc;
}

int cli_cmd_rebalance(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, OPT_DRY},
		{"status", no_argument, NULL, OPT_STATUS},
		{"weights", required_argument, NULL, OPT_WEIGHTS},
		{"max-concurrent-slots", required_argument, NULL, OPT_MAXSLOTS},
		{"rate", required_argument, NULL, OPT_RATE},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "rebalance";
	bool dry = false, stat = false;
	uint32_t max_slots = RB_MAX_SLOTS_DEFAULT;
	double rate = 0;
	static weight_opt w;
	w.n = 0;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_DRY) {
			dry = true;
		} else if (c == OPT_STATUS) {
			stat = true;
		} else if (c == OPT_WEIGHTS) {
			if ((rc = parse_weights(cmd, optarg, &w)) != 0)
				return rc;
		} else if (c == OPT_MAXSLOTS) {
			if ((rc = cli_parse_u32(cmd, "--max-concurrent-slots", optarg, 1, OSTORE_SLOTS,
			                        &max_slots)) != 0)
				return rc;
		} else if (c == OPT_RATE) {
			if ((rc = cli_rb_parse_rate(cmd, optarg, &rate)) != 0)
				return rc;
		} else if ((rc = cli_opt_rest(ctx, cmd, c, argv, kRebalanceHelp)) != CLI_OPT_NEXT) {
			return rc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (dry && stat)
		return cli_usage_error(cmd, "--dry-run and --status exclude each other");
	cli_rb_run r;
	if ((rc = cli_rb_open(&r, ctx, cmd)) != 0)
		return rc;
	r.max_slots = max_slots;
	r.rate_bps = rate * 1e6;
	uint32_t wsum = 0;
	for (uint16_t i = 0; i < r.map->nshards; i++) {
		uint16_t wt = r.map->shards[i].weight;
		for (size_t k = 0; k < w.n; k++)
			wt = w.shard[k] == r.map->shards[i].id ? w.weight[k] : wt;
		wsum += wt;
	}
	for (size_t k = 0; k < w.n; k++) {
		if (os_map_shard_by_id(r.map, w.shard[k]) == NULL) {
			rc = cli_usage_error(cmd, "--weights: the cluster map (epoch %" PRIu64 ") has no "
			                          "shard %u", r.map->epoch, w.shard[k]);
			goto out;
		}
	}
	if (w.n > 0 && wsum == 0) {
		rc = cli_usage_error(cmd, "--weights: every shard would have weight 0");
		goto out;
	}
	/* One run at a time: the lease before anything changes (also before the weights). */
	if (!dry && !stat && (rc = cli_rb_lease_take(&r)) != 0)
		goto out;
	bool changed = false;
	for (size_t k = 0; k < w.n; k++)
		changed |= os_map_shard_by_id(r.map, w.shard[k])->weight != w.weight[k];
	if (changed) {
		os_map *next = os_map_clone(r.map);
		for (size_t k = 0; next != NULL && k < w.n; k++)
			os_map_set_weight(next, w.shard[k], w.weight[k]);
		if (next == NULL) {
			cli_err("%s: %s", cmd, ostore_strerror(OSTORE_ENOMEM));
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		if (dry || stat) { /* change nothing: plan as if the weights were set */
			next->epoch = r.map->epoch;
			os_map_unref(r.map);
			r.map = next;
		} else {
			cli_rb_sync(&r);
			if ((rc = cli_rb_publish(&r, next, NULL, 0)) != 0)
				goto out;
			printf("weights set: map epoch %" PRIu64 "\n", r.map->epoch);
		}
	}
	if (dry || stat) {
		rb_plan p;
		int st = rb_plan_build(r.map, r.max_slots, &p);
		if (st != OSTORE_OK) {
			cli_err("%s: cannot plan: %s", cmd, st == OSTORE_EINVAL ? "every shard has weight 0"
			                                                        : ostore_strerror(st));
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		rc = dry ? dry_run(&r, &p) : status(&r, &p);
		rb_plan_free(&p);
		goto out;
	}
	rc = cli_rb_rebalance(&r);
out:
	cli_rb_close(&r);
	return rc;
}

int cli_rb_parse_rate(const char *cmd, const char *arg, double *mb_per_s)
{
	char *end;
	errno = 0;
	double rate = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !isfinite(rate) || rate < 0.01 || rate > 1e6)
		return cli_usage_error(cmd, "--rate '%s': expected MB/s, 0.01 to 1000000 (e.g. 50 or "
		                            "0.5)", arg);
	*mb_per_s = rate;
	return 0;
}
