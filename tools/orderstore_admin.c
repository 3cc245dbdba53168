/*
 * orderstore_admin.c - replication administration: `failover`, `verify` (`status` is
 * orderstore_status.c).
 *
 * All three start from the newest cluster map (cli_find_map: routers, DIR/map.json, then
 * the nodes) and talk to the nodes directly over nng (orderstore_rpc.c):
 *
 *   failover --shard S [--to N]
 *     STATS to every node of S ─▶ reachable replica with the highest applied LSN (or N,
 *     which must have it) ─▶ map' = map, epoch + 1, S.primary = new, old primary moved to
 *     S.replicas ─▶ MAP_SET to the new primary FIRST (it must accept: from then on it
 *     serves writes and fences nobody else's) ─▶ MAP_SET to every other node (the old
 *     primary, once it sees map', refuses writes with OSTORE_ENOTPRIMARY) and router
 *     ─▶ DIR/map.json (with --dir)
 *
 *   verify   CHECKSUM pages of 512 slots from every node of a shard; a page is compared
 *            when all nodes answered it at the same applied LSN (retried while writes
 *            move the LSNs, up to --wait-ms); slots whose (orders, checksum) differ from
 *            the reference (the primary, else the first reachable replica) are listed.
 *
 * Safety of the choice (docs/replication.md): a replica with less data than a peer is
 * never promoted, so --to NODE is refused unless NODE has the highest applied LSN. A
 * primary that still answers and is ahead of every replica holds writes no replica has;
 * in synchronous mode those were never acknowledged, but failing over would discard
 * them, so that case needs --force.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_cli.h"
#include "util.h"

#define ADMIN_PROBE_MS 2000u
#define VERIFY_PAGE 512u
#define VERIFY_WAIT_MS 10000u
#define VERIFY_LIST_MAX 20

/* One node of a shard as seen by STATS. */
typedef struct probe {
	uint16_t id;
	const char *addr;
	bool is_primary; /* in the map */
	int st;          /* OSTORE_OK = reachable */
	os_stats_entry e;
	uint64_t epoch; /* the node's map epoch */
} probe;

static uint32_t probe_ms(const cli_ctx *ctx)
{
	return ctx->timeout_ms ? ctx->timeout_ms : ADMIN_PROBE_MS;
}

static const char *role_name(uint32_t role)
{
	switch (role) {
	case OS_ROLE_PRIMARY:
		return "primary";
	case OS_ROLE_REPLICA:
		return "replica";
	default:
		return "none";
	}
}

/* Nodes of shard @sh: primary first, then replicas; STATS each. Returns the count. */
static size_t probe_shard(const os_map *m, const os_map_shard *sh, uint32_t timeout_ms,
                          probe *out)
{
	size_t n = 0;
	uint16_t ids[1 + OS_MAP_MAX_REPLICAS];
	if (sh->primary != OS_NODE_NONE)
		ids[n++] = sh->primary;
	for (uint16_t r = 0; r < sh->nreplicas; r++)
		ids[n++] = sh->replicas[r];
	for (size_t i = 0; i < n; i++) {
		const os_map_node *mn = os_map_node_by_id(m, ids[i]);
		out[i] = (probe){.id = ids[i], .addr = mn != NULL ? mn->addr : "?",
		                 .is_primary = ids[i] == sh->primary, .st = OSTORE_EUNAVAIL};
		if (mn != NULL)
			out[i].st = cli_node_stats(mn->addr, timeout_ms, &out[i].e, &out[i].epoch);
	}
	return n;
}

/* ---- failover --------------------------------------------------------------------- */

/*
 * Whose log is newer: the epoch of the newest entry first, then the LSN (as Raft compares
 * logs). The LSN alone is not enough: an old primary that rejoined as a replica keeps,
 * until it re-seeds, entries of the old epoch that no replica acknowledged, possibly more
 * of them than the new primary has written since; promoting it on its higher LSN would
 * drop writes acknowledged in the newer epoch.
 */
static bool log_newer(const os_stats_entry *a, const os_stats_entry *b)
{
	return a->lsn_epoch != b->lsn_epoch ? a->lsn_epoch > b->lsn_epoch : a->lsn > b->lsn;
}

static const char kFailoverHelp[] =
	"usage: orderstore failover --shard S [--to NODE] [--force] [common options]\n"
	"Promote a replica of shard S to primary. Every node of the shard is asked for its\n"
	"applied LSN and that entry's epoch (STATS); the reachable replica with the newest log\n"
	"(highest epoch, then highest LSN) is chosen (--to NODE is accepted only if NODE has\n"
	"it). The next cluster map (epoch + 1, the new\n"
	"primary, the old primary moved to the replicas) goes with MAP_SET to the new primary\n"
	"first, then to every other reachable node and router, and to DIR/map.json with\n"
	"--dir. The old primary refuses writes once it learns the new map and rejoins as a\n"
	"replica when restarted ('orderstore local start').\n"
	"Fencing: every replica of the shard must answer and take the new map, so that the old\n"
	"primary (maybe only paused) cannot gather acks any more; a replica that does not\n"
	"answer must be stopped for sure, then --force. With asynchronous replication\n"
	"(--sync-replicas 0) writes acknowledged by the old primary after the promoted\n"
	"replica's LSN are lost by a failover.\n"
	"The cluster map is asked from the routers (--router, $ORDERSTORE_ROUTER or\n"
	"DIR/routers), DIR/map.json and the nodes; the newest wins.\n"
	"\nOptions:\n"
	"  --shard S          the shard to fail over\n"
	"  --to NODE          promote this replica (must have the highest applied LSN)\n"
	"  --force            fail over although the old primary answers and is ahead of every\n"
	"                     replica (its writes beyond the replicas' LSN are discarded), or a\n"
	"                     replica does not answer (you have made sure it is stopped)\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 done, 1 refused or failed, 2 usage, 3 no replica (or no map) reachable.\n";

enum { OPT_SHARD = CLI_OPT_FIRST_LOCAL + 200, OPT_TO, OPT_FORCE, OPT_VWAIT };

/* The next map: epoch + 1, @to primary of @shard, the old primary a replica. */
static os_map *next_map(const os_map *m, uint16_t shard, uint16_t to)
{
	os_map *n = os_map_clone(m);
	if (n == NULL)
		return NULL;
	n->epoch = m->epoch + 1;
	for (uint16_t i = 0; i < n->nshards; i++) {
		os_map_shard *sh = &n->shards[i];
		if (sh->id != shard)
			continue;
		uint16_t reps[OS_MAP_MAX_REPLICAS], nr = 0;
		for (uint16_t r = 0; r < sh->nreplicas; r++)
			if (sh->replicas[r] != to)
				reps[nr++] = sh->replicas[r];
		if (sh->primary != OS_NODE_NONE && sh->primary != to && nr < OS_MAP_MAX_REPLICAS)
			reps[nr++] = sh->primary;
		sh->primary = to;
		memcpy(sh->replicas, reps, sizeof(reps[0]) * nr);
		sh->nreplicas = nr;
	}
	if (os_map_check(n) != OSTORE_OK) {
		os_map_unref(n);
		return NULL;
	}
	return n;
}

int cli_cmd_failover(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"shard", required_argument, NULL, OPT_SHARD},
		{"to", required_argument, NULL, OPT_TO},
		{"force", no_argument, NULL, OPT_FORCE},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "failover";
	uint32_t shard = 0, to = 0;
	bool have_shard = false, have_to = false, force = false;
	int c, rc;
	int orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_SHARD) {
			if ((rc = cli_parse_u32(cmd, "--shard", optarg, 0, OS_MAP_MAX_IDS - 1, &shard)) != 0)
				return rc;
			have_shard = true;
		} else if (c == OPT_TO) {
			if ((rc = cli_parse_u32(cmd, "--to", optarg, 0, OS_MAP_MAX_IDS - 1, &to)) != 0)
				return rc;
			have_to = true;
		} else if (c == OPT_FORCE) {
			force = true;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kFailoverHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!have_shard)
		return cli_usage_error(cmd, "--shard S is required");
	uint32_t tmo = probe_ms(ctx);
	os_map *m = NULL;
	if ((rc = cli_find_map(ctx, cmd, tmo, &m)) != 0)
		return rc;
	int result = CLI_EXIT_FAIL;
	os_map *n = NULL;
	const os_map_shard *sh = os_map_shard_by_id(m, (uint16_t)shard);
	if (sh == NULL) {
		cli_err("%s: the cluster map (epoch %" PRIu64 ") has no shard %u", cmd, m->epoch, shard);
		goto out;
	}
	if (sh->nreplicas == 0) {
		cli_err("%s: shard %u has no replica to promote", cmd, shard);
		goto out;
	}
	probe pr[1 + OS_MAP_MAX_REPLICAS];
	size_t np = probe_shard(m, sh, tmo, pr);
	printf("shard %u, map epoch %" PRIu64 ":\n", shard, m->epoch);
	const probe *best = NULL, *old = NULL, *want = NULL;
	for (size_t i = 0; i < np; i++) {
		const probe *p = &pr[i];
		if (p->st == OSTORE_OK)
			printf("  node %-4u %-26s %-8s applied lsn %" PRIu64 " of epoch %" PRIu64
			       " (reports role %s)\n", p->id, p->addr, p->is_primary ? "primary" : "replica",
			       p->e.lsn, p->e.lsn_epoch, role_name(p->e.role));
		else
			printf("  node %-4u %-26s %-8s unreachable (%s)\n", p->id, p->addr,
			       p->is_primary ? "primary" : "replica", ostore_strerror(p->st));
		if (p->is_primary) {
			old = p;
			continue;
		}
		if (have_to && p->id == to)
			want = p;
		if (p->st == OSTORE_OK && (best == NULL || log_newer(&p->e, &best->e)))
			best = p;
	}
	if (have_to && want == NULL) {
		cli_err("%s: node %u is not a replica of shard %u", cmd, to, shard);
		goto out;
	}
	if (best == NULL) {
		cli_err("%s: no replica of shard %u answers; nothing can be promoted safely", cmd,
		        shard);
		result = CLI_EXIT_UNREACHABLE;
		goto out;
	}
	if (want != NULL) {
		if (want->st != OSTORE_OK) {
			cli_err("%s: node %u does not answer (%s)", cmd, to, ostore_strerror(want->st));
			result = CLI_EXIT_UNREACHABLE;
			goto out;
		}
		if (log_newer(&best->e, &want->e)) {
			cli_err("%s: refusing to promote node %u: it has applied LSN %" PRIu64 " of epoch %"
			        PRIu64 ", node %u has %" PRIu64 " of epoch %" PRIu64 "; promoting it would "
			        "lose writes (use --to %u or leave --to out)",
			        cmd, to, want->e.lsn, want->e.lsn_epoch, best->id, best->e.lsn,
			        best->e.lsn_epoch, best->id);
			goto out;
		}
		best = want;
	}
	if (old != NULL && old->st == OSTORE_OK && log_newer(&old->e, &best->e) && !force) {
		cli_err("%s: the primary node %u still answers and has applied LSN %" PRIu64
		        ", ahead of every replica (best: node %u at %" PRIu64 "); failing over would "
		        "discard its writes after that. Stop the writers and retry, or use --force",
		        cmd, old->id, old->e.lsn, best->id, best->e.lsn);
		goto out;
	}
	/*
	 * Fencing: a replica that does not answer may be paused, not dead. Resumed, it still
	 * holds the old map and would go on acknowledging the old primary's writes (if that one
	 * is paused too), which the new primary never sees: split brain, acknowledged writes
	 * lost. Every replica must take the new map, so the old primary cannot gather a single
	 * ack; one that cannot be reached must be stopped for sure first (then --force).
	 */
	for (size_t i = 0; i < np; i++) {
		const probe *p = &pr[i];
		if (p->is_primary || p->id == best->id || p->st == OSTORE_OK)
			continue;
		if (!force) {
			cli_err("%s: replica node %u (%s) does not answer: it may be paused rather than "
			        "dead, and after the failover it could still acknowledge writes of the old "
			        "primary. Make sure it is stopped (orderstore local kill, or kill -9 its "
			        "process) and retry with --force, or bring it back first",
			        cmd, p->id, p->addr);
			goto out;
		}
		printf("warning: replica node %u does not answer; --force: trusting that it is stopped\n",
		       p->id);
	}
	if (best->e.primary_lsn > best->e.lsn)
		printf("note: node %u knew of LSN %" PRIu64 " on the old primary; the %" PRIu64
		       " writes after its LSN %" PRIu64 " reached no replica and are dropped (in "
		       "synchronous mode none of them was acknowledged)\n",
		       best->id, best->e.primary_lsn, best->e.primary_lsn - best->e.lsn, best->e.lsn);
	uint16_t newp = best->id;
	if ((n = next_map(m, (uint16_t)shard, newp)) == NULL) {
		cli_err("%s: cannot build the next map: %s", cmd, ostore_strerror(OSTORE_ENOMEM));
		goto out;
	}
	/* The new primary first: if it does not take the map, nothing has changed. */
	int st = cli_map_set(best->addr, n, tmo);
	if (st != OSTORE_OK) {
		cli_err("%s: node %u refused the new map (epoch %" PRIu64 "): %s; nothing changed", cmd,
		        newp, n->epoch, ostore_strerror(st));
		result = cli_exit_for((ostore_status)st);
		goto out;
	}
	printf("promoted node %u (applied lsn %" PRIu64 ") to primary of shard %u: map epoch %" PRIu64
	       " -> %" PRIu64 "\n", newp, best->e.lsn, shard, m->epoch, n->epoch);
	/* The shard's other replicas next (fencing, see above), then the routers: they carry
	 * the traffic that waits for the new primary. */
	uint32_t live_replicas = 0;
	for (size_t i = 0; i < np; i++) {
		const probe *p = &pr[i];
		if (p->is_primary || p->id == newp || p->st != OSTORE_OK)
			continue;
		st = cli_map_set(p->addr, n, tmo);
		printf("  map -> node %-4u %-26s %s\n", p->id, p->addr,
		       st == OSTORE_OK ? "ok" : ostore_strerror(st));
		if (st == OSTORE_OK)
			live_replicas++;
		else
			cli_err("%s: warning: replica node %u did not take the new map: stop it, or it "
			        "may acknowledge writes of the old primary", cmd, p->id);
	}
	for (size_t i = 0; i < ctx->nrouters; i++) {
		st = cli_map_set(ctx->routers[i], n, tmo);
		printf("  map -> router    %-26s %s\n", ctx->routers[i],
		       st == OSTORE_OK ? "ok" : ostore_strerror(st));
	}
	for (uint16_t i = 0; i < n->nnodes; i++) {
		const os_map_node *mn = &n->nodes[i];
		if (mn->id == newp)
			continue;
		/* A node of this shard that did not answer the probe is down: it is handed the
		 * newest map when it is started again (local start), so waiting out another
		 * timeout on it here only delays the failover. */
		bool down = false, done = false;
		for (size_t k = 0; k < np; k++) {
			down |= pr[k].id == mn->id && pr[k].st != OSTORE_OK;
			done |= pr[k].id == mn->id && !pr[k].is_primary && pr[k].st == OSTORE_OK;
		}
		if (done)
			continue; /* a replica of this shard: already handed the map above */
		st = down ? OSTORE_EUNAVAIL : cli_map_set(mn->addr, n, tmo);
		printf("  map -> node %-4u %-26s %s\n", mn->id, mn->addr,
		       down ? "skipped: did not answer the probe" : st == OSTORE_OK ? "ok" : ostore_strerror(st));
	}
	if (live_replicas == 0 && (old == NULL || old->st != OSTORE_OK))
		printf("note: shard %u has no live replica now: with --sync-replicas >= 1 its writes "
		       "answer 'not enough replicas' until one is back (e.g. orderstore local start "
		       "%u)\n", shard, old != NULL ? old->id : newp);
	if (old != NULL)
		printf("old primary node %u is now a replica of shard %u%s\n", old->id, shard,
		       old->st == OSTORE_OK ? " (fenced: it refuses writes)"
		                            : " (down: it rejoins as a replica when restarted)");
	if (ctx->dir != NULL) {
		char path[PATH_MAX], err[256];
		cli_fmt(path, sizeof(path), "%s/map.json", ctx->dir);
		if (os_map_save_file(n, path, err, sizeof(err)) != OSTORE_OK)
			cli_err("%s: the cluster uses the new map, but %s was not updated: %s", cmd, path,
			        err);
		else
			printf("updated %s\n", path);
	}
	result = CLI_EXIT_OK;
out:
	fflush(stdout);
	os_map_unref(n);
	os_map_unref(m);
	return result;
}

/* ---- verify ------------------------------------------------------------------------ */

static const char kVerifyHelp[] =
	"usage: orderstore verify [--shard S] [--wait-ms MS] [common options]\n"
	"Compare the primary and the replicas of every shard (or shard S) slot by slot: each\n"
	"node gives (orders, checksum) per slot with CHECKSUM, in pages of 512 slots over all\n"
	"4096. A page is compared when every node answered it at the same applied LSN; while\n"
	"writes move the LSNs it is asked again, up to --wait-ms (default 10000), then\n"
	"compared as it is. Slots that differ are listed with the nodes involved.\n"
	"\nOptions:\n"
	"  --shard S          only this shard\n"
	"  --wait-ms MS       how long to retry pages whose LSNs differ (default 10000)\n"
	"\nCommon options:\n" CLI_COMMON_HELP
	"Exit status: 0 in sync, 1 some slots differ, 2 usage, 3 a node (or the map) is\n"
	"unreachable.\n";

/* Compare one shard; returns differing slots (+ unreachable nodes through *down). */
static size_t verify_shard(const os_map *m, const os_map_shard *sh, uint32_t tmo,
                           uint32_t wait_ms, size_t *down)
{
	size_t n = 0, diffs = 0;
	uint16_t ids[1 + OS_MAP_MAX_REPLICAS];
	const char *addrs[1 + OS_MAP_MAX_REPLICAS];
	bool reach[1 + OS_MAP_MAX_REPLICAS];
	if (sh->primary != OS_NODE_NONE)
		ids[n++] = sh->primary;
	for (uint16_t r = 0; r < sh->nreplicas; r++)
		ids[n++] = sh->replicas[r];
	for (size_t i = 0; i < n; i++) {
		const os_map_node *mn = os_map_node_by_id(m, ids[i]);
		addrs[i] = mn != NULL ? mn->addr : NULL;
		reach[i] = addrs[i] != NULL;
	}
	static os_cksum_entry ck[1 + OS_MAP_MAX_REPLICAS][VERIFY_PAGE];
	uint64_t lsn[1 + OS_MAP_MAX_REPLICAS] = {0}, maxlsn = 0;
	size_t listed = 0, moving_pages = 0;
	uint64_t deadline = os_now_ns() + (uint64_t)wait_ms * 1000000u;
	for (uint32_t b = 0; b < OSTORE_SLOTS; b += VERIFY_PAGE) {
		uint16_t e = (uint16_t)(b + VERIFY_PAGE);
		bool same = false;
		while (!same) {
			uint64_t first = 0;
			bool have = false;
			same = true;
			for (size_t i = 0; i < n; i++) {
				if (!reach[i])
					continue;
				int st = cli_node_checksum(addrs[i], (uint16_t)b, e, tmo, &lsn[i], ck[i]);
				if (st != OSTORE_OK) {
					printf("  shard %u: node %u (%s) cannot be compared: %s\n", sh->id, ids[i],
					       addrs[i], ostore_strerror(st));
					reach[i] = false;
					(*down)++;
					continue;
				}
				if (lsn[i] > maxlsn)
					maxlsn = lsn[i];
				if (have && lsn[i] != first)
					same = false;
				first = have ? first : lsn[i];
				have = true;
			}
			if (same || os_now_ns() >= deadline) {
				moving_pages += !same;
				break;
			}
			nng_msleep(100);
		}
		size_t ref = n;
		for (size_t i = 0; i < n && ref == n; i++)
			if (reach[i])
				ref = i;
		for (size_t i = 0; ref < n && i < n; i++) {
			if (i == ref || !reach[i])
				continue;
			for (uint32_t k = 0; k < e - b; k++) {
				if (ck[i][k].orders == ck[ref][k].orders &&
				    ck[i][k].checksum == ck[ref][k].checksum)
					continue;
				diffs++;
				if (listed++ < VERIFY_LIST_MAX)
					printf("  shard %u slot %u differs: node %u has %" PRIu64
					       " orders (checksum %016" PRIx64 "), node %u has %" PRIu64
					       " (checksum %016" PRIx64 ")\n",
					       sh->id, b + k, ids[ref], ck[ref][k].orders, ck[ref][k].checksum,
					       ids[i], ck[i][k].orders, ck[i][k].checksum);
			}
		}
	}
	if (listed > VERIFY_LIST_MAX)
		printf("  shard %u: ... and %zu more differing slots\n", sh->id, listed - VERIFY_LIST_MAX);
	size_t live = 0;
	for (size_t i = 0; i < n; i++)
		live += reach[i];
	printf("shard %u: %zu node%s compared, lsn %" PRIu64 ": %s", sh->id, live,
	       live == 1 ? "" : "s", maxlsn,
	       diffs == 0 ? (live < 2 ? "nothing to compare" : "in sync") : "DIFFERENT");
	if (diffs)
		printf(" (%zu slot%s)", diffs, diffs == 1 ? "" : "s");
	if (moving_pages)
		printf(" (%zu page%s compared at different LSNs: writes in flight)", moving_pages,
		       moving_pages == 1 ? "" : "s");
	printf("\n");
	return diffs;
}

int cli_cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"shard", required_argument, NULL, OPT_SHARD},
		{"wait-ms", required_argument, NULL, OPT_VWAIT},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "verify";
	uint32_t shard = 0, wait_ms = VERIFY_WAIT_MS;
	bool one = false;
	int c, rc;
	int orc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (c == OPT_SHARD) {
			if ((rc = cli_parse_u32(cmd, "--shard", optarg, 0, OS_MAP_MAX_IDS - 1, &shard)) != 0)
				return rc;
			one = true;
		} else if (c == OPT_VWAIT) {
			if ((rc = cli_parse_u32(cmd, "--wait-ms", optarg, 0, 3600000, &wait_ms)) != 0)
				return rc;
		} else if ((orc = cli_opt_rest(ctx, cmd, c, argv, kVerifyHelp)) != CLI_OPT_NEXT) {
			return orc;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	uint32_t tmo = probe_ms(ctx);
	os_map *m = NULL;
	if ((rc = cli_find_map(ctx, cmd, tmo, &m)) != 0)
		return rc;
	if (one && os_map_shard_by_id(m, (uint16_t)shard) == NULL) {
		cli_err("%s: the cluster map (epoch %" PRIu64 ") has no shard %u", cmd, m->epoch, shard);
		os_map_unref(m);
		return CLI_EXIT_FAIL;
	}
	size_t diffs = 0, down = 0;
	for (uint16_t s = 0; s < m->nshards; s++)
		if (!one || m->shards[s].id == shard)
			diffs += verify_shard(m, &m->shards[s], tmo, wait_ms, &down);
	os_map_unref(m);
	fflush(stdout);
	if (diffs) {
		cli_err("verify: %zu slot%s differ between primary and replicas", diffs,
		        diffs == 1 ? "" : "s");
		return CLI_EXIT_FAIL;
	}
	if (down) {
		cli_err("verify: %zu node%s could not be compared", down, down == 1 ? "" : "s");
		return CLI_EXIT_UNREACHABLE;
	}
	return CLI_EXIT_OK;
}
