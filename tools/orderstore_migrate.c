/*
 * orderstore_migrate.c - the rebalance driver (orderstore_rebalance.h): recovery of a
 * killed run, one slot-range move, publishing maps, progress.
 *
 * One move of range R from shard S (primary A) to shard D (primary B):
 *
 *   MIG_PURGE B R (until more = 0: leftovers of an earlier try)
 *   MIG_SNAP A R pages ──▶ MIG_APPLY B (batches of at most 1 MiB)
 *   MIG_LOG A R from snap_lsn ──▶ MIG_APPLY B, again until A's LSN is close
 *   MIG_FREEZE A R (writes to R answer "migrating"; reads go on) ─▶ freeze lsn F
 *   MIG_LOG A R until scanned_to >= F ──▶ MIG_APPLY B      (B now has all of R)
 *   map' = map, epoch + 1, R owned by D
 *     MAP_SET A (must succeed, else UNFREEZE and stop: nothing changed)
 *     MAP_SET B (must succeed, else stop: the next run pushes map' to B)
 *     MAP_SET every other node and router; DIR/map.json
 *   MIG_FREEZE UNFREEZE A R;  MIG_PURGE A R (until more = 0)
 *
 * A source answering OSTORE_ERESEED (its log no longer reaches back to our position)
 * restarts the move from a new snapshot (after purging B again, so orders deleted
 * meanwhile do not survive on B). OSTORE_ESTALE from any node: it is handed the newest
 * map and the request is sent again. Busy answers (overload, replicas, timeouts) are
 * retried a few times with a pause.
 *
 * Crash safety: between any two steps the cluster is consistent with the map the nodes
 * hold, and everything half done is visible to the next run: frozen bits live in the
 * source's LMDB, copies live in B's slots that B does not own, a map that reached only
 * some nodes is the highest epoch somewhere. cli_rb_sync + cli_rb_recover turn that back
 * into a clean state, and the plan of the resulting map is the rest of the first plan.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_mig.h"
#include "orderstore_rebalance.h"
#include "util.h"

#define MIG_BATCH_BYTES (1u << 20)  /* one MIG_APPLY / snapshot page */
#define MIG_CLOSE_LSN 256u          /* catch-up is "close" within this many records */
#define MIG_CATCHUP_ROUNDS 50       /* then freeze anyway: the final catch-up is bounded */
#define MIG_PURGE_BATCH 4096u
#define MIG_TRIES 6                 /* busy / stale retries of one request */
#define MIG_RESEEDS 3               /* fresh snapshots of one move before giving up */
#define MIG_PRINT_NS (250ull * 1000000u)
#define MIG_STOPPED (-1)            /* SIGINT / SIGTERM before the freeze: stop the move */

/* ---- small helpers ------------------------------------------------------------------ */

const char *cli_rb_primary_addr(const os_map *m, uint16_t shard)
{
	const os_map_shard *sh = os_map_shard_by_id(m, shard);
	if (sh == NULL || sh->primary == OS_NODE_NONE)
		return NULL;
	const os_map_node *n = os_map_node_by_id(m, sh->primary);
	return n != NULL ? n->addr : NULL;
}

static bool is_transport(int st)
{
	return st == OSTORE_ETIMEDOUT || st == OSTORE_ECONNECT || st == OSTORE_EUNAVAIL;
}

/*
 * Whether a request to @url that ended with @st should be sent again (*tries counts):
 * OSTORE_ESTALE hands @url the newest map first; busy statuses and timeouts wait a bit.
 */
static bool again(cli_rb_run *r, const char *url, int st, int *tries)
{
	if (st == OSTORE_ELOCKED) {
		cli_rb_lease_lost(r, url); /* never retried: another run's turn */
		return false;
	}
	if (++*tries >= MIG_TRIES)
		return false;
	if (st == OSTORE_ESTALE) {
		cli_map_set_as(url, r->map, r->run_id, r->timeout_ms);
		return true;
	}
	if (st == OSTORE_EOVERLOAD || st == OSTORE_EREPLICAS || st == OSTORE_ETIMEDOUT ||
	    st == OSTORE_EUNAVAIL) {
		nng_msleep((nng_duration)(100u << *tries));
		return true;
	}
	return false;
}

static int exit_for(int st)
{
	return is_transport(st) ? CLI_EXIT_UNREACHABLE : CLI_EXIT_FAIL;
}

int cli_rb_open(cli_rb_run *r, cli_ctx *ctx, const char *cmd)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->cmd = cmd;
	r->timeout_ms = ctx->timeout_ms ? ctx->timeout_ms : CLI_RB_TIMEOUT_MS;
	r->max_slots = RB_MAX_SLOTS_DEFAULT;
	r->tty = isatty(STDOUT_FILENO) == 1;
	int rc = cli_find_map(ctx, cmd, r->timeout_ms, &r->map);
	if (rc != 0)
		r->map = NULL;
	return rc;
}

void cli_rb_close(cli_rb_run *r)
{
	cli_rb_lease_release(r);
	os_map_unref(r->map);
	r->map = NULL;
}

/* ---- (a) maps, publishing --------------------------------------------------------- */

int cli_rb_sync(cli_rb_run *r)
{
	int updated = 0;
	size_t n = r->map->nnodes + r->ctx->nrouters;
	for (size_t i = 0; i < n; i++) {
		bool router = i >= r->map->nnodes;
		const char *url = router ? r->ctx->routers[i - r->map->nnodes] : r->map->nodes[i].addr;
		os_map *m = NULL;
		int st = cli_map_get(url, r->timeout_ms, &m);
		uint64_t have = st == OSTORE_OK ? m->epoch : 0;
		os_map_unref(m);
		if (st != OSTORE_OK && st != OSTORE_ENOMAP) {
			if (!r->quiet)
				printf("  %s %s does not answer MAP_GET (%s): it gets the newest map when it "
				       "is back\n", router ? "router" : "node", url, ostore_strerror(st));
			continue;
		}
		if (have >= r->map->epoch)
			continue;
		st = cli_map_set_as(url, r->map, r->run_id, r->timeout_ms);
		if (!r->quiet)
			printf("  map epoch %" PRIu64 " -> %s %s (it had %" PRIu64 "): %s\n", r->map->epoch,
			       router ? "router" : "node", url, have,
			       st == OSTORE_OK ? "ok" : ostore_strerror(st));
		updated += st == OSTORE_OK;
	}
	return updated;
}

/* Whether node @id is in @ids[0..n). */
static bool in_list(const uint16_t *ids, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

int cli_rb_publish(cli_rb_run *r, os_map *next, const uint16_t *first, size_t nfirst)
{
	next->epoch = r->map->epoch + 1;
	if (os_map_check(next) != OSTORE_OK) {
		cli_err("%s: the next map would be invalid; nothing changed", r->cmd);
		os_map_unref(next);
		return CLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < nfirst; i++) {
		const os_map_node *n = os_map_node_by_id(next, first[i]);
		if (n == NULL)
			n = os_map_node_by_id(r->map, first[i]);
		int st = n == NULL ? OSTORE_EINVAL : OSTORE_ETIMEDOUT;
		for (int tries = 0; n != NULL; tries++) {
			st = cli_map_set_as(n->addr, next, r->run_id, r->timeout_ms);
			if (st == OSTORE_OK || tries >= 2 || !is_transport(st))
				break;
		}
		if (st != OSTORE_OK) {
			cli_err("%s: node %u (%s) did not take map epoch %" PRIu64 ": %s", r->cmd, first[i],
			        n != NULL ? n->addr : "?", next->epoch, ostore_strerror(st));
			if (st == OSTORE_ELOCKED)
				cli_rb_lease_lost(r, n->addr);
			os_map_unref(next);
			return exit_for(st);
		}
	}
	/* Every other node of the old and the new map (a removed shard's nodes learn that
	 * they own nothing now), then the routers. */
	const os_map *maps[2] = {r->map, next};
	for (int k = 0; k < 2; k++) {
		for (uint16_t i = 0; i < maps[k]->nnodes; i++) {
			const os_map_node *n = &maps[k]->nodes[i];
			if (in_list(first, nfirst, n->id) || (k == 1 && os_map_node_by_id(r->map, n->id)))
				continue;
			int st = cli_map_set_as(n->addr, next, r->run_id, r->timeout_ms);
			if (st != OSTORE_OK && !r->quiet)
				printf("  warning: node %u (%s) did not take map epoch %" PRIu64 ": %s (it "
				       "gets it from a router or the next run)\n", n->id, n->addr,
				       next->epoch, ostore_strerror(st));
		}
	}
	for (size_t i = 0; i < r->ctx->nrouters; i++) {
		int st = cli_map_set_as(r->ctx->routers[i], next, r->run_id, r->timeout_ms);
		if (st != OSTORE_OK && !r->quiet)
			printf("  warning: router %s did not take map epoch %" PRIu64 ": %s\n",
			       r->ctx->routers[i], next->epoch, ostore_strerror(st));
	}
	if (r->ctx->dir != NULL) {
		char path[PATH_MAX], err[256];
		cli_fmt(path, sizeof(path), "%s/map.json", r->ctx->dir);
		if (os_map_save_file(next, path, err, sizeof(err)) != OSTORE_OK)
			cli_err("%s: warning: the cluster uses map epoch %" PRIu64 " but %s was not "
			        "updated: %s", r->cmd, next->epoch, path, err);
	}
	os_map_unref(r->map);
	r->map = next;
	return 0;
}

/* ---- (b), (c) recovery ------------------------------------------------------------- */

/* MIG_PURGE @url [b, e) until nothing is left. Returns OSTORE_OK or the failure. */
static int purge_range(cli_rb_run *r, const char *url, uint16_t b, uint16_t e, uint64_t *deleted)
{
	uint32_t more = 1, del = 0;
	int tries = 0;
	while (more) {
		int st = cli_rb_lease_renew(r, false);
		if (st != OSTORE_OK)
			return st;
		st = cli_mig_purge(url, r->run_id, r->map->epoch, r->map->cluster_id, b, e, MIG_PURGE_BATCH,
		                       r->timeout_ms, &del, &more);
		if (st != OSTORE_OK) {
			if (again(r, url, st, &tries))
				continue;
			return st;
		}
		tries = 0;
		if (deleted != NULL)
			*deleted += del;
	}
	return OSTORE_OK;
}

/* Unfreeze the frozen ranges of shard @sh's primary @url. Returns OSTORE_OK or why not. */
static int recover_frozen(cli_rb_run *r, uint16_t shard, const char *url)
{
	uint8_t bits[OS_MIG_BITMAP_SIZE];
	uint64_t lsn;
	int st, tries = 0;
	while ((st = cli_mig_freeze(url, r->run_id, r->map->epoch, OS_MIG_QUERY, 0, OSTORE_SLOTS,
	                            r->timeout_ms, &lsn, bits)) != OSTORE_OK &&
	       again(r, url, st, &tries))
		;
	if (st != OSTORE_OK)
		return st;
	for (uint32_t s = 0; s < OSTORE_SLOTS;) {
		if (!(bits[s / 8] & (1u << (s % 8)))) {
			s++;
			continue;
		}
		uint32_t e = s;
		uint32_t owned = 0;
		while (e < OSTORE_SLOTS && (bits[e / 8] & (1u << (e % 8)))) {
			owned += r->map->slot_shard[e] == shard;
			e++;
		}
		tries = 0;
		while ((st = cli_mig_freeze(url, r->run_id, r->map->epoch, OS_MIG_UNFREEZE, (uint16_t)s,
		                            (uint16_t)e, r->timeout_ms, &lsn, NULL)) != OSTORE_OK &&
		       again(r, url, st, &tries))
			;
		if (st != OSTORE_OK)
			return st;
		if (!r->quiet)
			printf("  shard %u: slots %u-%u were frozen by an interrupted run: %s\n", shard, s,
			       e - 1, owned ? "rolled back (still owned here)" : "cleared (moved already)");
		s = e;
	}
	return OSTORE_OK;
}

int cli_rb_recover(cli_rb_run *r)
{
	for (uint16_t i = 0; i < r->map->nshards; i++) {
		uint16_t shard = r->map->shards[i].id;
		const char *url = cli_rb_primary_addr(r->map, shard);
		if (url == NULL)
			continue;
		int st = cli_rb_lease_renew(r, false);
		if (st == OSTORE_OK)
			st = recover_frozen(r, shard, url);
		uint64_t deleted = 0;
		for (uint32_t s = 0; st == OSTORE_OK && s < OSTORE_SLOTS;) {
			if (r->map->slot_shard[s] == shard) {
				s++;
				continue;
			}
			uint32_t e = s;
			while (e < OSTORE_SLOTS && r->map->slot_shard[e] != shard)
				e++;
			st = purge_range(r, url, (uint16_t)s, (uint16_t)e, &deleted);
			s = e;
		}
		if (st != OSTORE_OK) {
			if (!r->lease_lost)
				cli_err("%s: cannot clean up shard %u's primary %s: %s", r->cmd, shard, url,
				        ostore_strerror(st));
			return exit_for(st);
		}
		if (deleted && !r->quiet)
			printf("  shard %u: removed %" PRIu64 " orders of slots it does not own (left by "
			       "an interrupted run)\n", shard, deleted);
	}
	return 0;
}

/* ---- one move ----------------------------------------------------------------------- */

static double secs_since(uint64_t t0)
{
	return (double)(os_now_ns() - t0) / 1e9;
}

static void progress(cli_rb_run *r, bool force)
{
	if (!r->tty || r->quiet)
		return;
	uint64_t now = os_now_ns();
	if (!force && now - r->last_print_ns < MIG_PRINT_NS)
		return;
	r->last_print_ns = now;
	double t = secs_since(r->t0_ns);
	double frac = r->slots_total ? (double)r->slots_done / r->slots_total : 1.0;
	char eta[32] = "?";
	if (frac > 0.0 && frac < 1.0)
		cli_fmt(eta, sizeof(eta), "%.0fs", t / frac - t);
	else if (frac >= 1.0)
		cli_fmt(eta, sizeof(eta), "0s");
	printf("\r  slots %u/%u, %.0f orders/s, %.2f MB/s, ETA %s   ", r->slots_done,
	       r->slots_total, t > 0 ? (double)r->orders / t : 0.0,
	       t > 0 ? (double)r->bytes / 1e6 / t : 0.0, eta);
	fflush(stdout);
}

/* Sleeps as long as --rate needs after @r->bytes were copied, in short slices that
 * renew the lease and end early on SIGINT / SIGTERM. Returns OSTORE_OK or the renewal's
 * failure. */
static int throttle(cli_rb_run *r)
{
	int st = cli_rb_lease_renew(r, false);
	if (r->rate_bps <= 0 || st != OSTORE_OK)
		return st;
	double ahead;
	while (st == OSTORE_OK && !cli_rb_stop_requested() &&
	       (ahead = (double)r->bytes / r->rate_bps - secs_since(r->t0_ns)) > 0.001) {
		nng_msleep((nng_duration)(ahead > 0.1 ? 100.0 : ahead * 1000.0));
		st = cli_rb_lease_renew(r, false);
	}
	return st;
}

/* MIG_APPLY @n entries to @url in batches of at most MIG_BATCH_BYTES. */
static int apply_all(cli_rb_run *r, const char *url, const rb_move *mv, const os_log_entry *e,
                     size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i, bytes = 0;
		while (j < n && j - i < UINT16_MAX &&
		       (j == i || bytes + os_log_entry_size(&e[j]) <= MIG_BATCH_BYTES))
			bytes += os_log_entry_size(&e[j++]);
		int st, tries = 0;
		while ((st = cli_mig_apply(url, r->run_id, r->map->epoch, r->map->cluster_id, mv->slot_begin,
		                           mv->slot_end, &e[i], (uint16_t)(j - i), r->timeout_ms,
		                           NULL)) != OSTORE_OK &&
		       again(r, url, st, &tries))
			;
		if (st != OSTORE_OK)
			return st;
		r->bytes += bytes;
		i = j;
		if ((st = throttle(r)) != OSTORE_OK)
			return st;
		progress(r, false);
	}
	return OSTORE_OK;
}

/* Copies a fresh snapshot of the range from @a to @b; *snap_lsn is its LSN. */
static int copy_snapshot(cli_rb_run *r, const char *a, const char *b, const rb_move *mv,
                         uint64_t *snap_lsn, uint64_t *orders)
{
	os_mig_snap_req q = {.cluster_id = r->map->cluster_id, .max_bytes = MIG_BATCH_BYTES,
	                     .slot_begin = mv->slot_begin, .slot_end = mv->slot_end};
	uint8_t after[OSTORE_MAX_ID_LEN + 2];
	for (int tries = 0;;) {
		cli_mig_page pg;
		if (cli_rb_stop_requested())
			return MIG_STOPPED;
		int st = cli_mig_snap(a, r->run_id, r->map->epoch, &q, r->timeout_ms, &pg);
		if (st != OSTORE_OK) {
			if (st == OSTORE_ERESEED && q.session != 0)
				return st; /* the session expired: the caller starts over */
			if (again(r, a, st, &tries))
				continue;
			return st;
		}
		tries = 0;
		q.session = pg.snap.session;
		*snap_lsn = pg.snap.snap_lsn;
		st = apply_all(r, b, mv, pg.entries, pg.count);
		*orders += pg.count;
		r->orders += pg.count;
		bool done = pg.snap.done != 0;
		if (st == OSTORE_OK && pg.count > 0) {
			const os_log_entry *last = &pg.entries[pg.count - 1];
			memcpy(after, last->key, last->key_len);
			q.after = after;
			q.after_len = last->key_len;
		}
		cli_mig_page_free(&pg);
		if (st != OSTORE_OK || done)
			return st;
	}
}

/*
 * Copies the range's log records after *from from @a to @b until scanned_to reaches
 * @until (0: until A's LSN is within MIG_CLOSE_LSN, or MIG_CATCHUP_ROUNDS pages).
 */
static int catch_up(cli_rb_run *r, const char *a, const char *b, const rb_move *mv,
                    uint64_t *from, uint64_t until)
{
	for (int round = 0, tries = 0;;) {
		os_mig_log_req q = {.cluster_id = r->map->cluster_id, .from_lsn = *from,
		                    .max_bytes = MIG_BATCH_BYTES, .slot_begin = mv->slot_begin,
		                    .slot_end = mv->slot_end};
		if (until == 0 && cli_rb_stop_requested())
			return MIG_STOPPED; /* before the freeze only: a frozen range finishes */
		cli_mig_page pg;
		int st = cli_rb_lease_renew(r, false);
		if (st != OSTORE_OK)
			return st;
		st = cli_mig_log(a, r->run_id, r->map->epoch, &q, r->timeout_ms, &pg);
		if (st != OSTORE_OK) {
			if (st != OSTORE_ERESEED && again(r, a, st, &tries))
				continue;
			return st;
		}
		tries = 0;
		st = apply_all(r, b, mv, pg.entries, pg.count);
		if (pg.log.scanned_to > *from)
			*from = pg.log.scanned_to;
		uint64_t source = pg.log.source_lsn;
		cli_mig_page_free(&pg);
		if (st != OSTORE_OK)
			return st;
		round++;
		if (until != 0 ? *from >= until
		               : source <= *from + MIG_CLOSE_LSN || round >= MIG_CATCHUP_ROUNDS)
			return OSTORE_OK;
	}
}

static int freeze_op(cli_rb_run *r, const char *a, uint8_t op, const rb_move *mv, uint64_t *lsn)
{
	int st, tries = 0;
	while ((st = cli_mig_freeze(a, r->run_id, r->map->epoch, op, mv->slot_begin, mv->slot_end,
	                            r->timeout_ms, lsn, NULL)) != OSTORE_OK &&
	       again(r, a, st, &tries))
		;
	return st;
}

/* Runs one move. Returns 0 or the exit status after printing why. */
static int run_move(cli_rb_run *r, const rb_move *mv)
{
	const os_map_shard *src = os_map_shard_by_id(r->map, mv->from);
	const os_map_shard *dst = os_map_shard_by_id(r->map, mv->to);
	const char *a = cli_rb_primary_addr(r->map, mv->from);
	const char *b = cli_rb_primary_addr(r->map, mv->to);
	if (src == NULL || dst == NULL || a == NULL || b == NULL) {
		cli_err("%s: shard %u or %u has no primary in map epoch %" PRIu64, r->cmd, mv->from,
		        mv->to, r->map->epoch);
		return CLI_EXIT_FAIL;
	}
	uint64_t t0 = os_now_ns(), bytes0 = r->bytes, orders = 0, from = 0, flsn = 0;
	const char *step = "purge the destination";
	/* Before each move: our lease still holds on every primary (renewed now). */
	int st = cli_rb_lease_renew(r, true);
	if (st != OSTORE_OK)
		return exit_for(st);
	st = OSTORE_ERESEED;
	bool frozen = false;
	uint64_t t_frozen = 0;
	for (int reseeds = 0; st == OSTORE_ERESEED && reseeds < MIG_RESEEDS; reseeds++) {
		if (frozen) {
			freeze_op(r, a, OS_MIG_UNFREEZE, mv, &flsn);
			frozen = false;
		}
		orders = 0;
		step = "purge the destination";
		if ((st = purge_range(r, b, mv->slot_begin, mv->slot_end, NULL)) != OSTORE_OK)
			break;
		step = "copy the snapshot";
		if ((st = copy_snapshot(r, a, b, mv, &from, &orders)) != OSTORE_OK)
			continue;
		step = "catch up from the source's log";
		if ((st = catch_up(r, a, b, mv, &from, 0)) != OSTORE_OK)
			continue;
		step = "freeze the range on the source";
		if ((st = freeze_op(r, a, OS_MIG_FREEZE, mv, &flsn)) != OSTORE_OK)
			break;
		frozen = true;
		t_frozen = os_now_ns();
		step = "final catch-up";
		st = from >= flsn ? OSTORE_OK : catch_up(r, a, b, mv, &from, flsn);
	}
	if (st == OSTORE_OK)
		st = cli_rb_lease_renew(r, false); /* the switch needs it: stop now if it lapsed */
	if (st != OSTORE_OK) {
		if (frozen)
			freeze_op(r, a, OS_MIG_UNFREEZE, mv, &flsn);
		if (st == MIG_STOPPED) {
			r->interrupted = true;
			return CLI_EXIT_FAIL;
		}
		if (st == OSTORE_ELOCKED)
			cli_rb_lease_lost(r, a); /* says why, once */
		else
			cli_err("%s: move of slots %u-%u from shard %u to %u failed (%s): %s", r->cmd,
			        mv->slot_begin, mv->slot_end - 1, mv->from, mv->to, step,
			        ostore_strerror(st));
		return exit_for(st);
	}
	/* B has everything of R up to the freeze: R becomes D's. */
	os_map *next = os_map_clone(r->map);
	if (next == NULL || rb_move_apply(next, mv) != OSTORE_OK) {
		os_map_unref(next);
		freeze_op(r, a, OS_MIG_UNFREEZE, mv, &flsn);
		cli_err("%s: cannot build the next map: %s", r->cmd, ostore_strerror(OSTORE_ENOMEM));
		return CLI_EXIT_FAIL;
	}
	uint16_t ids[2] = {src->primary, dst->primary};
	/* The source first: once it holds the new map it answers "moved" for R. If it refuses
	 * (or does not answer), the old map stands: roll the freeze back. The destination
	 * right after it, before anyone else: from then on R is served again. (If only the
	 * source took it, R answers "moved" on both until the next run pushes the newest
	 * map; the freeze is moot then.) */
	int rc = cli_rb_publish(r, next, ids, 2);
	if (rc != 0) {
		freeze_op(r, a, OS_MIG_UNFREEZE, mv, &flsn);
		return rc;
	}
	uint64_t frozen_ns = os_now_ns() - t_frozen;
	if (frozen_ns > r->freeze_max_ns)
		r->freeze_max_ns = frozen_ns;
	/* r->map is the new map now (the old one, which @a and @b pointed into, is gone);
	 * the destination must take it too: publish pushed it to everyone, make sure B has it,
	 * as it serves R from now on. */
	a = cli_rb_primary_addr(r->map, mv->from);
	b = cli_rb_primary_addr(r->map, mv->to);
	if ((st = cli_map_set_as(b, r->map, r->run_id, r->timeout_ms)) != OSTORE_OK &&
	    st != OSTORE_ESTALE) {
		cli_err("%s: the destination primary %s did not take map epoch %" PRIu64 ": %s; run "
		        "the command again to finish the move", r->cmd, b, r->map->epoch,
		        ostore_strerror(st));
		return exit_for(st);
	}
	if ((st = freeze_op(r, a, OS_MIG_UNFREEZE, mv, &flsn)) == OSTORE_OK)
		st = purge_range(r, a, mv->slot_begin, mv->slot_end, NULL);
	if (st != OSTORE_OK && !r->quiet)
		printf("  warning: cleanup of slots %u-%u on shard %u's primary failed (%s); the "
		       "next run cleans up\n", mv->slot_begin, mv->slot_end - 1, mv->from,
		       ostore_strerror(st));
	r->slots_done += (uint32_t)(mv->slot_end - mv->slot_begin);
	r->moves_done++;
	if (r->quiet)
		return 0;
	if (r->tty) {
		progress(r, true);
	} else {
		printf("move %u/%u: slots %u-%u shard %u -> %u: %" PRIu64 " orders, %.2f MB, %.2f s "
		       "(writes frozen %.1f ms), map epoch %" PRIu64 "\n", r->moves_done, r->moves_total,
		       mv->slot_begin, mv->slot_end - 1, mv->from, mv->to, orders,
		       (double)(r->bytes - bytes0) / 1e6, secs_since(t0), (double)frozen_ns / 1e6,
		       r->map->epoch);
		fflush(stdout);
	}
	return 0;
}

int cli_rb_execute(cli_rb_run *r, const rb_plan *p)
{
	r->t0_ns = os_now_ns();
	r->slots_total = p->slots;
	r->moves_total = (uint32_t)p->nmoves;
	int rc = 0;
	for (size_t i = 0; i < p->nmoves && rc == 0; i++) {
		if (cli_rb_stop_requested()) {
			r->interrupted = true;
			rc = CLI_EXIT_FAIL;
			break;
		}
		rc = run_move(r, &p->moves[i]);
	}
	if (r->tty && !r->quiet)
		printf("\n");
	double t = secs_since(r->t0_ns);
	if (!r->quiet)
		printf("%s: %u slots in %u moves, %" PRIu64 " orders, %.2f MB in %.1f s (%.0f orders/s, "
		       "%.2f MB/s); longest write freeze %.1f ms; map epoch %" PRIu64 "\n",
		       rc == 0 ? "moved" : "stopped after", r->slots_done, r->moves_done, r->orders,
		       (double)r->bytes / 1e6, t, t > 0 ? (double)r->orders / t : 0.0,
		       t > 0 ? (double)r->bytes / 1e6 / t : 0.0, (double)r->freeze_max_ns / 1e6,
		       r->map->epoch);
	if (r->interrupted)
		printf("interrupted: run the command again to finish\n");
	else if (rc != 0 && r->lease_lost)
		printf("this run lost the migration lease: it published nothing after that\n");
	fflush(stdout);
	return rc;
}

int cli_rb_rebalance(cli_rb_run *r)
{
	cli_rb_sync(r);
	int rc = cli_rb_recover(r);
	if (rc != 0)
		return rc;
	rb_plan p;
	int st = rb_plan_build(r->map, r->max_slots, &p);
	if (st != OSTORE_OK) {
		cli_err("%s: cannot plan: %s", r->cmd, st == OSTORE_EINVAL
		        ? "every shard has weight 0" : ostore_strerror(st));
		return CLI_EXIT_FAIL;
	}
	if (p.nmoves == 0) {
		if (!r->quiet)
			printf("nothing to move: every shard owns its target (map epoch %" PRIu64 ")\n",
			       r->map->epoch);
		rb_plan_free(&p);
		return 0;
	}
	if (!r->quiet) {
		printf("plan: %u slots in %zu moves of at most %u slots (map epoch %" PRIu64 ")\n",
		       p.slots, p.nmoves, r->max_slots, r->map->epoch);
		fflush(stdout);
	}
	rc = cli_rb_execute(r, &p);
	rb_plan_free(&p);
	return rc;
}
