/*
 * replica.c - the replicator thread: pull, apply through the writer, re-seed.
 *
 *   map says "replica of S" ─▶ dial S's primary (own REQ socket, NNG_OPT_RECVMAXSZ)
 *     ┌─▶ PULL(from_lsn = durable applied LSN, from_epoch, wait_ms = heartbeat / 3)
 *     │     no reply within wait_ms + heartbeat timeout ─▶ primary counted dead, retry
 *     │     reply epoch > ours ─▶ MAP_GET from the primary ─▶ install through the writer
 *     │     OK: entries consecutive from from_lsn + 1 (JUMPs: prev_lsn = LSN before)?
 *     │                                                        ─no─▶ drop, log, retry
 *     │         ─▶ writer job (orders + log + lsn, one txn) ─▶ wait ─────────────────┐
 *     │         applied >= reply's primary_lsn ─▶ node_repl_confirm(receive time)   │
 *     │     ERESEED ─▶ SNAP pages ─▶ first page: checks, clear, write ... last: LSN  │
 *     └─────────────────────────────────────────────────────────────────────────────┘
 *
 * The thread blocks only itself (nng_sendmsg/nng_recvmsg with timeouts, condition wait
 * for the writer), never an nng callback. Safety rules of the re-seed: never re-seed
 * from a primary that has less than this replica unless this replica's newest entry is
 * of an older epoch than the primary's map (then its extra entries were never
 * acknowledged: an old primary rejoining); never re-seed twice without progress in
 * between (a second request is logged and retried only after a pause).
 */
#include "replica.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "node_metrics.h"
#include "repl.h"
#include "slot.h"
#include "util.h"
#include "wire.h"
#include "writer.h"

#define PULL_MAX_BYTES (4u << 20)
#define SNAP_MAX_BYTES (4u << 20)
#define RESEED_PAUSE_MS 5000u

struct node_replica {
	node_env *env;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	nng_socket sock;
	bool open;
	char addr[256];
	uint64_t client_id;
	/* writer job hand-over */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool job_finished;
	node_job job;
	/* decode scratch */
	os_log_entry *ents;
	size_t ents_cap;
	os_snap_entry *snaps;
	size_t snaps_cap;
	/* state */
	bool dead_logged;
	bool reseeded;          /* a re-seed happened and no entry was applied since */
	uint64_t reseed_lsn;
	uint32_t last_err;      /* last refusal status logged, to log each once */
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void rp_job_done(node_job *job)
{
	node_replica *rp = (node_replica *)((char *)job - offsetof(node_replica, job));
	pthread_mutex_lock(&rp->mu);
	rp->job_finished = true;
	pthread_cond_signal(&rp->cv);
	pthread_mutex_unlock(&rp->mu);
}

/* Runs rp->job on the writer and waits for it. Returns its status. */
static int run_job(node_replica *rp)
{
	rp->job.done = rp_job_done;
	rp->job.status = OSTORE_OK;
	rp->job_finished = false;
	if (node_writer_submit(rp->env->writer, &rp->job) != OSTORE_OK)
		return OSTORE_EUNAVAIL;
	pthread_mutex_lock(&rp->mu);
	while (!rp->job_finished)
		pthread_cond_wait(&rp->cv, &rp->mu);
	pthread_mutex_unlock(&rp->mu);
	return rp->job.status;
}

static void sock_close(node_replica *rp)
{
	if (rp->open) {
		nng_close(rp->sock);
		rp->open = false;
		rp->addr[0] = '\0';
	}
}

static int sock_dial(node_replica *rp, const char *addr)
{
	int rv = nng_req0_open(&rp->sock);
	if (rv != 0) {
		OS_ERROR("msg=\"replica cannot open socket\" err=\"%s\"", nng_strerror(rv));
		return os_from_nng(rv);
	}
	rp->open = true;
	nng_socket_set_size(rp->sock, NNG_OPT_RECVMAXSZ, OS_FRAME_MAX_DEFAULT);
	nng_socket_set_ms(rp->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(rp->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(rp->sock, NNG_OPT_RECONNMAXT, 500);
	nng_socket_set_ms(rp->sock, NNG_OPT_SENDTIMEO, 1000);
	int st = os_net_dial(rp->sock, addr, rp->env->sec, NNG_FLAG_NONBLOCK);
	if (st != OSTORE_OK) {
		OS_ERROR("msg=\"replica cannot dial primary\" addr=%s err=\"%s\"", addr,
		         st == OSTORE_EINVAL ? "tls+tcp:// address but this node has no --tls-* files"
		                             : ostore_strerror(st));
		sock_close(rp);
		return st;
	}
	snprintf(rp->addr, sizeof(rp->addr), "%s", addr);
	OS_INFO("msg=\"replica dialing primary\" addr=%s", addr);
	return OSTORE_OK;
}

/* One request/reply on the socket. On OSTORE_OK *@reply is the reply message. */
static int request(node_replica *rp, const os_buf *b, unsigned timeout_ms, nng_msg **reply)
{
	if (b->oom)
		return OSTORE_ENOMEM;
	nng_msg *m;
	int rv = nng_msg_alloc(&m, 0);
	if (rv == 0 && (rv = nng_msg_append(m, b->data, b->len)) != 0)
		nng_msg_free(m);
	if (rv != 0)
		return OSTORE_ENOMEM;
	nng_socket_set_ms(rp->sock, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
	if ((rv = nng_sendmsg(rp->sock, m, 0)) != 0) {
		nng_msg_free(m);
		return os_from_nng(rv);
	}
	rv = nng_recvmsg(rp->sock, reply, 0);
	return rv != 0 ? os_from_nng(rv) : OSTORE_OK;
}

static void put_req_header(node_replica *rp, os_buf *b, uint8_t kind, uint32_t timeout_ms)
{
	os_hdr h = {.kind = kind,
	            .timeout_ms = timeout_ms,
	            .epoch = node_maps_epoch(rp->env->maps),
	            .client_id = rp->client_id};
	os_netsec_cred(rp->env->sec, &h);
	os_buf_reset(b);
	os_hdr_put(b, &h);
}

static unsigned long_timeout(node_replica *rp)
{
	unsigned hb = node_repl_opts_get(rp->env->repl)->heartbeat_ms;
	return hb * 5 > 5000 ? hb * 5 : 5000;
}

/* Fetches the primary's map and installs it when newer. */
static void fetch_map(node_replica *rp)
{
	os_buf b;
	os_buf_init(&b);
	put_req_header(rp, &b, OS_KIND_MAP_GET, 0);
	nng_msg *m = NULL;
	int rc = request(rp, &b, long_timeout(rp), &m);
	os_buf_fini(&b);
	if (rc != OSTORE_OK)
		return;
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	os_map *map = NULL;
	if (os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &blen) == OSTORE_OK &&
	    h.status == OSTORE_OK && os_map_decode(body, blen, &map) == OSTORE_OK &&
	    map->epoch > node_maps_epoch(rp->env->maps)) {
		memset(&rp->job, 0, sizeof(rp->job));
		os_buf_init(&rp->job.reply);
		rp->job.kind = NODE_JOB_MAP;
		rp->job.hdr.kind = OS_KIND_MAP_SET;
		rp->job.map = map;
		map = NULL;
		rc = run_job(rp);
		OS_INFO("msg=\"fetched newer map from primary\" status=%s", ostore_status_name(rc));
		os_map_unref(rp->job.map);
		rp->job.map = NULL;
		os_buf_fini(&rp->job.reply);
	}
	os_map_unref(map);
	nng_msg_free(m);
}

static bool grow_arrays(node_replica *rp, size_t n, bool snap)
{
	size_t *cap = snap ? &rp->snaps_cap : &rp->ents_cap;
	if (n <= *cap)
		return true;
	void *p = snap ? realloc(rp->snaps, n * sizeof(*rp->snaps)) : realloc(rp->ents, n * sizeof(*rp->ents));
	if (p == NULL)
		return false;
	if (snap)
		rp->snaps = p;
	else
		rp->ents = p;
	*cap = n;
	return true;
}

static void log_refusal(node_replica *rp, int st, const char *what)
{
	if (rp->last_err == (uint32_t)st)
		return;
	rp->last_err = (uint32_t)st;
	OS_ERROR("msg=\"%s\" status=%s", what, ostore_status_name(st));
}

/* Re-seeds from a snapshot. Returns true when done. */
static bool reseed(node_replica *rp, uint16_t shard, uint64_t cluster_id)
{
	node_store *st = rp->env->store;
	if (rp->reseeded && node_store_lsn(st) == rp->reseed_lsn) {
		OS_ERROR("msg=\"primary asks for a second re-seed without progress: pausing\" lsn=%llu "
		         "pause_ms=%u",
		         (unsigned long long)rp->reseed_lsn, RESEED_PAUSE_MS);
		rp->reseeded = false;
		sleep_ms(RESEED_PAUSE_MS);
		return false;
	}
	uint8_t after[OS_KEY_MAX];
	uint16_t after_len = 0;
	uint64_t session = 0;
	bool first = true, ok = false;
	os_buf b;
	os_buf_init(&b);
	OS_INFO("msg=\"re-seeding from the primary\" lsn=%llu", (unsigned long long)node_store_lsn(st));
	node_repl_confirm(rp->env->repl, 0); /* no bounded reads until caught up again */
	while (!atomic_load(&rp->stop)) {
		put_req_header(rp, &b, OS_KIND_SNAP, long_timeout(rp));
		os_snap_req q = {.shard = shard, .node_id = rp->env->id, .max_bytes = SNAP_MAX_BYTES,
		                 .cluster_id = cluster_id, .session = session, .after = after,
		                 .after_len = after_len};
		os_snap_req_put(&b, &q);
		nng_msg *m = NULL;
		int rc = request(rp, &b, long_timeout(rp), &m);
		if (rc != OSTORE_OK) {
			OS_WARN("msg=\"snapshot request failed\" err=\"%s\"", ostore_strerror(rc));
			break;
		}
		os_hdr h;
		const uint8_t *body;
		size_t blen;
		os_snap_head hd;
		rc = os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &blen);
		if (rc == OSTORE_OK && h.status != OSTORE_OK)
			rc = h.status;
		if (rc == OSTORE_OK && !grow_arrays(rp, h.count, true))
			rc = OSTORE_ENOMEM;
		if (rc == OSTORE_OK)
			rc = os_snap_reply_get(body, blen, h.count, &hd, rp->snaps);
		uint64_t mine = node_store_lsn(st), my_epoch = node_store_epoch(st);
		if (rc == OSTORE_OK && first && mine > hd.snap_lsn &&
		    (hd.snap_lsn == 0 || my_epoch >= h.epoch)) {
			OS_ERROR("msg=\"primary has less data than this replica: not re-seeding, keeping "
			         "the data\" lsn=%llu primary_lsn=%llu",
			         (unsigned long long)mine, (unsigned long long)hd.snap_lsn);
			node_repl_note_lsn(rp->env->repl, mine);
			nng_msg_free(m);
			sleep_ms(RESEED_PAUSE_MS);
			break;
		}
		if (rc == OSTORE_OK) {
			memset(&rp->job, 0, sizeof(rp->job));
			rp->job.kind = NODE_JOB_SNAP;
			rp->job.snap = rp->snaps;
			rp->job.nentries = h.count;
			rp->job.snap_head = hd;
			rp->job.snap_first = first;
			rc = run_job(rp);
		}
		if (rc == OSTORE_OK && h.count > 0) {
			const os_snap_entry *last = &rp->snaps[h.count - 1];
			memcpy(after, last->key, last->key_len);
			after_len = last->key_len;
		}
		nng_msg_free(m);
		if (rc != OSTORE_OK) {
			OS_WARN("msg=\"re-seed page failed\" err=\"%s\"", ostore_strerror(rc));
			break;
		}
		first = false;
		session = hd.session;
		if (hd.done) {
			ok = true;
			node_repl_reset_known(rp->env->repl, hd.snap_lsn);
			rp->reseeded = true;
			rp->reseed_lsn = hd.snap_lsn;
			node_metrics_reseeded();
			OS_INFO("msg=\"re-seeded\" lsn=%llu epoch=%llu", (unsigned long long)hd.snap_lsn,
			        (unsigned long long)hd.snap_epoch);
			break;
		}
		if (h.count == 0)
			break; /* a page without entries that is not the last: protocol error */
	}
	os_buf_fini(&b);
	return ok;
}

/* Applies the entries of an OK pull reply received at @t_recv; confirms the replica
 * caught up (replica_read.c) when it then holds everything the reply said exists. */
static void apply_pull(node_replica *rp, const os_hdr *h, const uint8_t *body, size_t blen,
                       uint64_t from_lsn, uint64_t t_recv)
{
	uint64_t plsn = 0, oldest = 0;
	if (!grow_arrays(rp, h->count ? h->count : 1, false))
		return;
	int rc = os_pull_reply_get(body, blen, h->count, &plsn, &oldest, rp->ents);
	if (rc != OSTORE_OK) {
		OS_ERROR("msg=\"corrupt pull reply dropped\" err=\"%s\" len=%zu", ostore_strerror(rc), blen);
		sleep_ms(100);
		return;
	}
	node_repl_note_lsn(rp->env->repl, plsn);
	/* Consecutive LSNs from from_lsn + 1; a JUMP record continues from its own lsn when
	 * its prev_lsn is the LSN before it (os_pull_reply_get checked prev_lsn < lsn). */
	uint64_t at = from_lsn;
	for (uint32_t i = 0; i < h->count; i++) {
		const os_log_entry *e = &rp->ents[i];
		bool jump = e->op == OS_LOG_OP_JUMP;
		if (jump ? os_ld64(e->value) != at : e->lsn != at + 1) {
			OS_ERROR("msg=\"LSN gap in pull reply: batch dropped\" expected=%llu got=%llu "
			         "jump=%d",
			         (unsigned long long)(at + 1), (unsigned long long)e->lsn, jump);
			sleep_ms(100);
			return;
		}
		at = e->lsn;
	}
	if (h->count == 0) {
		if (node_store_lsn(rp->env->store) >= plsn)
			node_repl_confirm(rp->env->repl, t_recv);
		return;
	}
	/* Storage full: the primary may have committed these entries one transaction at a
	 * time, reusing between them the pages its log trims freed; one transaction for all
	 * of them can need more. So a batch answered OSTORE_EFULL is applied in halves, down
	 * to one entry per transaction (each commit frees pages for the next). */
	uint32_t done = 0, chunk = h->count;
	rc = OSTORE_OK;
	while (done < h->count) {
		memset(&rp->job, 0, sizeof(rp->job));
		rp->job.kind = NODE_JOB_REPL;
		rp->job.log = rp->ents + done;
		rp->job.nentries = h->count - done < chunk ? h->count - done : chunk;
		rc = run_job(rp);
		if (rc == OSTORE_EFULL && chunk > 1) {
			chunk = (chunk + 1) / 2;
			continue;
		}
		if (rc != OSTORE_OK)
			break;
		done += rp->job.nentries;
	}
	if (rc != OSTORE_OK) {
		OS_ERROR("msg=\"applying replicated entries failed\" err=\"%s\"", ostore_strerror(rc));
		sleep_ms(100);
		return;
	}
	rp->reseeded = false;
	if (node_store_lsn(rp->env->store) >= plsn)
		node_repl_confirm(rp->env->repl, t_recv);
}

static void pull_once(node_replica *rp, uint16_t shard, uint64_t cluster_id, uint64_t map_epoch)
{
	node_store *st = rp->env->store;
	unsigned hb = node_repl_opts_get(rp->env->repl)->heartbeat_ms;
	uint64_t from = node_store_lsn(st);
	os_buf b;
	os_buf_init(&b);
	put_req_header(rp, &b, OS_KIND_REPL_PULL, hb);
	os_pull_req q = {.shard = shard, .node_id = rp->env->id, .wait_ms = hb / 3,
	                 .cluster_id = cluster_id, .from_lsn = from,
	                 .from_epoch = node_store_epoch(st), .max_bytes = PULL_MAX_BYTES};
	os_pull_req_put(&b, &q);
	nng_msg *m = NULL;
	int rc = request(rp, &b, hb / 3 + hb, &m);
	uint64_t t_recv = os_now_ns();
	os_buf_fini(&b);
	if (rc != OSTORE_OK) {
		if (!rp->dead_logged)
			OS_WARN("msg=\"primary not answering: counted dead, retrying\" addr=%s err=\"%s\"",
			        rp->addr, ostore_strerror(rc));
		rp->dead_logged = true;
		sleep_ms(50);
		return;
	}
	if (rp->dead_logged)
		OS_INFO("msg=\"primary answering again\" addr=%s", rp->addr);
	rp->dead_logged = false;
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	rc = os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &blen);
	if (rc != OSTORE_OK || h.kind != (OS_KIND_REPL_PULL | OS_REPLY_BIT)) {
		OS_ERROR("msg=\"corrupt pull reply dropped\" len=%zu", nng_msg_len(m));
		nng_msg_free(m);
		sleep_ms(100);
		return;
	}
	bool newer = h.epoch > map_epoch;
	switch (h.status) {
	case OSTORE_OK:
		rp->last_err = 0;
		apply_pull(rp, &h, body, blen, from, t_recv);
		break;
	case OSTORE_ERESEED:
		rp->last_err = 0;
		reseed(rp, shard, cluster_id);
		break;
	case OSTORE_ENOTPRIMARY:
		log_refusal(rp, h.status, "primary in our map says it is not primary");
		sleep_ms(200);
		break;
	case OSTORE_EINVAL:
		log_refusal(rp, h.status, "primary refused this replica (cluster, shard or membership)");
		sleep_ms(1000);
		break;
	default:
		log_refusal(rp, h.status, "pull refused");
		sleep_ms(h.status == OSTORE_EUNAVAIL ? 1000 : 200);
		break;
	}
	nng_msg_free(m);
	if (newer)
		fetch_map(rp);
}

static void *replica_main(void *arg)
{
	node_replica *rp = arg;
	while (!atomic_load(&rp->stop)) {
		os_map *map = node_maps_get(rp->env->maps);
		uint32_t shard;
		os_role role = node_role_of(map, rp->env->id, &shard);
		const os_map_shard *s = role == OS_ROLE_REPLICA ? os_map_shard_by_id(map, (uint16_t)shard) : NULL;
		const os_map_node *pn = s != NULL && s->primary != OS_NODE_NONE ? os_map_node_by_id(map, s->primary) : NULL;
		if (pn == NULL) {
			if (rp->open)
				node_repl_confirm(rp->env->repl, 0);
			sock_close(rp);
			os_map_unref(map);
			sleep_ms(100);
			continue;
		}
		if (rp->open && strcmp(rp->addr, pn->addr) != 0) {
			OS_INFO("msg=\"primary changed\" addr=%s", pn->addr);
			node_repl_confirm(rp->env->repl, 0);
			sock_close(rp);
		}
		if (!rp->open && sock_dial(rp, pn->addr) != OSTORE_OK) {
			os_map_unref(map);
			sleep_ms(500);
			continue;
		}
		uint64_t cluster_id = map->cluster_id, epoch = map->epoch;
		os_map_unref(map);
		pull_once(rp, (uint16_t)shard, cluster_id, epoch);
	}
	sock_close(rp);
	return NULL;
}

int node_replica_create(node_env *env, node_replica **out)
{
	node_replica *rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return OSTORE_ENOMEM;
	rp->env = env;
	rp->client_id = os_random_u64();
	atomic_init(&rp->stop, false);
	pthread_mutex_init(&rp->mu, NULL);
	pthread_cond_init(&rp->cv, NULL);
	if (pthread_create(&rp->thread, NULL, replica_main, rp) != 0) {
		node_replica_destroy(rp);
		return OSTORE_EINTERNAL;
	}
	rp->started = true;
	*out = rp;
	return OSTORE_OK;
}

void node_replica_destroy(node_replica *rp)
{
	if (rp == NULL)
		return;
	atomic_store(&rp->stop, true);
	if (rp->started)
		pthread_join(rp->thread, NULL);
	sock_close(rp);
	pthread_cond_destroy(&rp->cv);
	pthread_mutex_destroy(&rp->mu);
	free(rp->ents);
	free(rp->snaps);
	free(rp);
}
