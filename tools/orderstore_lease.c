/*
 * orderstore_lease.c - the rebalance run's migration lease (orderstore_rebalance.h,
 * wire.h "MIG_LEASE", docs/rebalance.md "Crash safety").
 *
 *   take:    run id = random ─▶ MIG_LEASE ttl on every primary of the map
 *            ─▶ one refuses: release the others, "another rebalance (run X) holds ..."
 *   renew:   every third of the ttl (and before each move): our own clock says the lease
 *            is still ours (else it lapsed: stop) ─▶ MIG_LEASE ttl, RENEW only, to every
 *            node we hold it on ─▶ ELOCKED: lost (another run took over, or a node
 *            restarted): stop
 *   release: MIG_LEASE ttl 0 to each (cli_rb_close)
 *
 * The nodes enforce it (MIG_APPLY / PURGE / FREEZE and a switching MAP_SET need the
 * lease), so a run that was paused past its lease and woke up is refused even if it
 * does not notice; the renew-only flag makes sure it can never take the lease back.
 * The clock check is conservative: a round of renewals starts at t0 and each node's
 * lease then lasts until at least t0 + ttl of its own clock.
 *
 * Signals: SIGINT / SIGTERM set a flag (once; a second one kills as usual) that the move
 * loop checks between steps, so the run stops cleanly and releases its leases.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "orderstore_mig.h"
#include "orderstore_rebalance.h"
#include "util.h"

#define LEASE_TRIES 3

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

bool cli_rb_stop_requested(void)
{
	return g_stop != 0;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ORDERSTORE_REBALANCE_LEASE_MS or the default. Returns 0 or CLI_EXIT_USAGE. */
static int lease_ms_of_env(const char *cmd, uint32_t *ms)
{
	const char *v = getenv("ORDERSTORE_REBALANCE_LEASE_MS");
	*ms = CLI_RB_LEASE_MS;
	if (v == NULL || v[0] == '\0')
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || v[0] == '-' || n < OS_MIG_LEASE_TTL_MIN ||
	    n > OS_MIG_LEASE_TTL_MAX)
		return cli_usage_error(cmd, "ORDERSTORE_REBALANCE_LEASE_MS='%s': expected %u..%u", v,
		                       OS_MIG_LEASE_TTL_MIN, OS_MIG_LEASE_TTL_MAX);
	*ms = (uint32_t)n;
	return 0;
}

/* MIG_LEASE with a few tries on transport errors. */
static int lease_call(cli_rb_run *r, const char *url, uint32_t ttl, uint32_t flags,
                      uint64_t *holder, uint32_t *rem)
{
	int st = OSTORE_ETIMEDOUT;
	for (int t = 0; t < LEASE_TRIES; t++) {
		st = cli_mig_lease(url, r->run_id, ttl, flags, r->timeout_ms, holder, rem);
		if (st != OSTORE_ETIMEDOUT && st != OSTORE_ECONNECT && st != OSTORE_EUNAVAIL)
			break;
		nng_msleep(100);
	}
	return st;
}

static int add_lease(cli_rb_run *r, uint16_t node, const char *url)
{
	uint16_t *ids = realloc(r->lease_nodes, (r->nleases + 1) * sizeof(*ids));
	if (ids != NULL)
		r->lease_nodes = ids;
	char **urls = realloc(r->lease_urls, (r->nleases + 1) * sizeof(*urls));
	if (urls != NULL)
		r->lease_urls = urls;
	char *u = ids != NULL && urls != NULL ? strdup(url) : NULL;
	if (u == NULL)
		return OSTORE_ENOMEM;
	r->lease_nodes[r->nleases] = node;
	r->lease_urls[r->nleases++] = u;
	return OSTORE_OK;
}

int cli_rb_lease_take(cli_rb_run *r)
{
	int rc = lease_ms_of_env(r->cmd, &r->lease_ms);
	if (rc != 0)
		return rc;
	r->run_id = os_random_u64();
	r->lease_lost = false;
	uint64_t t0 = os_now_ns();
	for (uint16_t i = 0; i < r->map->nshards; i++) {
		uint16_t node = r->map->shards[i].primary;
		const char *url = cli_rb_primary_addr(r->map, r->map->shards[i].id);
		bool have = false;
		for (size_t k = 0; k < r->nleases; k++)
			have |= r->lease_nodes[k] == node;
		if (url == NULL || have)
			continue;
		uint64_t holder = 0;
		uint32_t rem = 0;
		int st = lease_call(r, url, r->lease_ms, 0, &holder, &rem);
		if (st == OSTORE_OK)
			st = add_lease(r, node, url);
		if (st == OSTORE_OK)
			continue;
		cli_rb_lease_release(r);
		if (st == OSTORE_ELOCKED) {
			cli_err("%s: another rebalance (run %016" PRIx64 ") holds the lease on node %u for "
			        "%.0f more seconds; if it was killed, run again after that", r->cmd, holder,
			        node, (double)rem / 1000.0 + 0.4999);
			return CLI_EXIT_FAIL;
		}
		cli_err("%s: cannot take the migration lease on node %u (%s): %s; nothing changed",
		        r->cmd, node, url, ostore_strerror(st));
		return st == OSTORE_ETIMEDOUT || st == OSTORE_ECONNECT || st == OSTORE_EUNAVAIL
		       ? CLI_EXIT_UNREACHABLE : CLI_EXIT_FAIL;
	}
	r->lease_sent_ns = t0;
	install_signals();
	return 0;
}

void cli_rb_lease_lost(cli_rb_run *r, const char *url)
{
	if (r->lease_lost)
		return;
	r->lease_lost = true;
	uint64_t holder = 0;
	uint32_t rem = 0;
	/* a query with a throwaway id: ttl 0 from a non-holder changes nothing */
	int st = url != NULL ? cli_mig_lease(url, os_random_u64(), 0, 0, r->timeout_ms, &holder, &rem)
	                     : OSTORE_EINVAL;
	if (st == OSTORE_OK && holder != 0 && holder != r->run_id)
		cli_err("%s: another rebalance (run %016" PRIx64 ") took over the migration lease on "
		        "%s: this run (%016" PRIx64 ") stops here; nothing is lost, the other run "
		        "finishes the job", r->cmd, holder, url, r->run_id);
	else
		cli_err("%s: this run (%016" PRIx64 ") lost the migration lease%s%s (it was paused "
		        "or stalled longer than the lease's %u ms, or the node restarted): it stops "
		        "here; nothing is lost; run the command again to finish", r->cmd, r->run_id,
		        url != NULL ? " on " : "", url != NULL ? url : "", r->lease_ms);
}

int cli_rb_lease_renew(cli_rb_run *r, bool force)
{
	if (r->nleases == 0)
		return OSTORE_OK;
	if (r->lease_lost)
		return OSTORE_ELOCKED;
	uint64_t now = os_now_ns(), ttl_ns = (uint64_t)r->lease_ms * 1000000u;
	if (now >= r->lease_sent_ns + ttl_ns) {
		cli_rb_lease_lost(r, NULL); /* lapsed by our own clock: never take it back */
		return OSTORE_ELOCKED;
	}
	if (!force && now - r->lease_sent_ns < ttl_ns / 3)
		return OSTORE_OK;
	for (size_t k = 0; k < r->nleases; k++) {
		int st = lease_call(r, r->lease_urls[k], r->lease_ms, OS_MIG_LEASE_F_RENEW, NULL, NULL);
		if (st == OSTORE_ELOCKED) {
			cli_rb_lease_lost(r, r->lease_urls[k]);
			return st;
		}
		if (st != OSTORE_OK) {
			cli_err("%s: cannot renew the migration lease on node %u (%s): %s", r->cmd,
			        r->lease_nodes[k], r->lease_urls[k], ostore_strerror(st));
			return st;
		}
	}
	r->lease_sent_ns = now;
	return OSTORE_OK;
}

void cli_rb_lease_release(cli_rb_run *r)
{
	for (size_t k = 0; k < r->nleases; k++) {
		/* ttl 0 releases only a lease we hold: another run's stays */
		cli_mig_lease(r->lease_urls[k], r->run_id, 0, 0, r->timeout_ms, NULL, NULL);
		free(r->lease_urls[k]);
	}
	free(r->lease_urls);
	free(r->lease_nodes);
	r->lease_urls = NULL;
	r->lease_nodes = NULL;
	r->nleases = 0;
}

int cli_rb_lease_describe(const char *url, uint32_t timeout_ms, char *out, size_t cap)
{
	uint64_t holder = 0;
	uint32_t rem = 0;
	/* ttl 0 from a run that holds nothing: a query (wire.h "MIG_LEASE") */
	int st = cli_mig_lease(url, os_random_u64(), 0, 0, timeout_ms, &holder, &rem);
	if (st != OSTORE_OK)
		cli_fmt(out, cap, "unknown (%s)", ostore_strerror(st));
	else if (holder == 0)
		cli_fmt(out, cap, "free");
	else
		cli_fmt(out, cap, "run %016" PRIx64 ", %.1f s left", holder, (double)rem / 1000.0);
	return st;
}
