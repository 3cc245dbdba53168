/*
 * nng_echo.c - the baseline for orderstore's network figures: a bare nng REQ/REP echo
 * on this machine, with the same async pattern orderstore uses (contexts + aio state
 * machines, no thread per request).
 *
 *   nng-echo serve URL [--contexts N] [--reply-size B]
 *                                             REP server, echoes every message (or answers
 *                                             each with B bytes)
 *   nng-echo load URL [--concurrency C] [--size B] [--seconds S] [--timeout-ms MS]
 *                     [--lanes N]             closed loop, C requests in flight; with
 *                                             --lanes, context i writes lane i % N into
 *                                             its requests' first byte
 *   nng-echo relay LISTEN_URL UPSTREAM_URL[,UPSTREAM_URL...] [--contexts N] [--timeout-ms MS]
 *                                             REP in front of REQs: forwards each request
 *                                             unchanged to upstream (first byte % count)
 *                                             and its reply back
 *   --tls-dir D (serve, load): for tls+tcp:// URLs, the files of tools/make-test-certs in
 *                       D (the server uses server.*, the loader client.*; ca.pem)
 *
 * orderstore's request path is client -> router -> node -> router -> client: two such
 * hops. `load` through a `relay` in front of a `serve` is that path with no orderstore
 * logic (bench/hop-bound): the relay is the router's skeleton (router/server.c: REP
 * contexts; router/nodes.c: REQ socket, RECVMAXSZ set, resend off, nonblocking dial).
 * With three `serve --reply-size` upstreams and `load --lanes 3 --concurrency 3`, it is
 * orderstore's get path at 3 shards: one frame in flight per shard (liborderstore's shard
 * lanes), the router sending each frame to its shard's node, replies of a frame's size.
 * Each relay context owns one REP context and one REQ context per upstream, with one
 * aio for each side:
 *
 *   REP recv ─▶ REQ send ─▶ REQ recv (upstream reply) ─▶ REP send ─▶ REP recv ...
 *                  └── upstream failure or timeout: count it, answer nothing, REP recv
 *
 * so the loader's request fails by its own timeout and `load` reports it (failures=,
 * exit 1). Reporting orderstore's throughput as a ratio of these, measured in the same
 * run, keeps figures comparable on a shared, noisy machine (bench/README.md).
 * Exit: 0 ok, 1 setup failed or (load) requests failed, 2 usage.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netsec.h"
#include "util.h"

#define ECHO_RECV_MAX (2u << 20) /* bytes: --size and --reply-size are at most 1 MiB */
#define ECHO_MAX_UP 16u            /* relay: upstream URLs */

enum { M_SERVE = 1, M_LOAD = 2, M_RELAY = 4 };

/* One end of an exchange: a context with its aio (serve, load, or one side of a relay). */
typedef struct ectx {
	nng_aio *aio;
	nng_ctx ctx;
	int sending;
	nng_msg *proto; /* load: the message to send (duplicated per request) */
	uint8_t lane;   /* load: written into each request's first byte (--lanes) */
} ectx;

/* relay: the REP context facing the loader and one REQ context per upstream; up.ctx is
 * the one of the request being forwarded. */
typedef struct rctx {
	ectx down, up;
	nng_ctx upc[ECHO_MAX_UP];
} rctx;

typedef struct echo_opts {
	int mode;
	const char *url;
	char upstream[ECHO_MAX_UP][256]; /* relay only */
	unsigned nup;
	uint64_t n, size, secs, timeout_ms, reply_size, lanes;
	const char *tls_dir;
} echo_opts;

static uint64_t g_reply_size; /* serve: 0 = echo the request */
static unsigned g_nup;         /* relay: upstreams */
static atomic_uint_fast64_t g_done;   /* load: replies; relay: replies passed back */
static atomic_uint_fast64_t g_failed; /* load: failed requests; relay: upstream failures */
static atomic_uint_fast64_t g_reply_bytes; /* load: body bytes of the replies */
static uint64_t g_deadline;
static atomic_uint g_live;
static atomic_bool g_closing;
static volatile sig_atomic_t g_stop;

static void serve_cb(void *arg)
{
	ectx *e = arg;
	if (nng_aio_result(e->aio) != 0) {
		if (e->sending) {
			nng_msg_free(nng_aio_get_msg(e->aio));
			e->sending = 0;
			nng_ctx_recv(e->ctx, e->aio);
		}
		return; /* closed */
	}
	if (e->sending) {
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	/* The received message goes back as is, or resized to --reply-size (its bytes are
	 * not looked at); without memory for that, the request goes back unchanged. */
	if (g_reply_size != 0)
		(void)nng_msg_realloc(nng_aio_get_msg(e->aio), g_reply_size);
	e->sending = 1;
	nng_ctx_send(e->ctx, e->aio);
}

/* load: the next request on @e, or the end of this context (deadline, no memory). */
static void load_next(ectx *e)
{
	nng_msg *m;
	if (os_now_ns() >= g_deadline || nng_msg_dup(&m, e->proto) != 0) {
		atomic_fetch_sub(&g_live, 1);
		return;
	}
	if (nng_msg_len(m) > 0)
		((uint8_t *)nng_msg_body(m))[0] = e->lane;
	e->sending = 1;
	nng_aio_set_msg(e->aio, m);
	nng_ctx_send(e->ctx, e->aio);
}

static void load_cb(void *arg)
{
	ectx *e = arg;
	int rv = nng_aio_result(e->aio);
	if (rv != 0) {
		if (e->sending)
			nng_msg_free(nng_aio_get_msg(e->aio));
		e->sending = 0;
		atomic_fetch_add(&g_failed, 1);
		if (rv == NNG_ETIMEDOUT)
			load_next(e); /* a lost request: go on with a new one */
		else
			atomic_fetch_sub(&g_live, 1);
		return;
	}
	if (e->sending) {
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	nng_msg *reply = nng_aio_get_msg(e->aio);
	atomic_fetch_add(&g_reply_bytes, nng_msg_len(reply));
	nng_msg_free(reply);
	atomic_fetch_add(&g_done, 1);
	load_next(e);
}

/* relay: move the message just received on @from to @to and send it there (when closing,
 * free it instead). nng keeps the body; each protocol rewrites the header on send. */
static void relay_pass(nng_aio *from, ectx *to, bool closing)
{
	nng_msg *m = nng_aio_get_msg(from);
	nng_aio_set_msg(from, NULL);
	if (closing) {
		nng_msg_free(m);
		return;
	}
	to->sending = 1;
	nng_aio_set_msg(to->aio, m);
	nng_ctx_send(to->ctx, to->aio);
}

/* relay, REP side: a request in -> forward it; our reply out -> receive the next. */
static void relay_down_cb(void *arg)
{
	rctx *r = arg;
	int rv = nng_aio_result(r->down.aio);
	bool closing = atomic_load(&g_closing);
	if (r->down.sending) {
		r->down.sending = 0;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(r->down.aio));
		else
			atomic_fetch_add(&g_done, 1);
		if (!closing && rv != NNG_ECLOSED)
			nng_ctx_recv(r->down.ctx, r->down.aio);
		return;
	}
	if (rv != 0) {
		if (!closing && rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			nng_ctx_recv(r->down.ctx, r->down.aio);
		return;
	}
	/* The upstream: the request's first byte (a lane, like a shard) modulo their count. */
	nng_msg *m = nng_aio_get_msg(r->down.aio);
	uint8_t lane = nng_msg_len(m) > 0 ? ((const uint8_t *)nng_msg_body(m))[0] : 0;
	r->up.ctx = r->upc[lane % g_nup];
	relay_pass(r->down.aio, &r->up, closing); /* REQ puts its own request ID in front */
}

/* relay, REQ side: request sent -> wait for the reply; reply in -> pass it back. */
static void relay_up_cb(void *arg)
{
	rctx *r = arg;
	int rv = nng_aio_result(r->up.aio);
	bool closing = atomic_load(&g_closing);
	if (rv != 0) {
		if (r->up.sending)
			nng_msg_free(nng_aio_get_msg(r->up.aio));
		r->up.sending = 0;
		if (closing || rv == NNG_ECLOSED)
			return;
		atomic_fetch_add(&g_failed, 1);
		nng_ctx_recv(r->down.ctx, r->down.aio); /* answer nothing: the loader times out */
		return;
	}
	if (r->up.sending) {
		r->up.sending = 0;
		if (!closing)
			nng_ctx_recv(r->up.ctx, r->up.aio);
		return;
	}
	relay_pass(r->up.aio, &r->down, closing); /* REP puts the loader's backtrace back */
}

static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void usage(FILE *f)
{
	fprintf(f, "usage: nng-echo serve URL [--contexts N] [--reply-size B] [--tls-dir D]\n"
	           "       nng-echo load URL [--concurrency C] [--size B] [--seconds S] "
	           "[--timeout-ms MS] [--lanes N] [--tls-dir D]\n"
	           "       nng-echo relay LISTEN_URL UPSTREAM_URL[,UPSTREAM_URL...] [--contexts N] "
	           "[--timeout-ms MS]\n"
	           "  --contexts N      serve, relay: REP contexts (1..4096, default 64)\n"
	           "  --reply-size B    serve: answer every request with B bytes (1..1048576;\n"
	           "                    default: echo the request)\n"
	           "  --concurrency C   load: requests in flight (1..4096, default 64)\n"
	           "  --size B          load: request bytes (0..1048576, default 200)\n"
	           "  --lanes N         load: context i writes i %% N into its requests' first\n"
	           "                    byte (1..255, default 1; N > 1 needs --size >= 1); a relay\n"
	           "                    sends a request to upstream (first byte %% upstreams),\n"
	           "                    up to 16 upstreams, comma-separated\n"
	           "  --seconds S       load: duration (1..3600, default 5)\n"
	           "  --timeout-ms MS   load: per request; relay: per upstream call (1..600000,\n"
	           "                    default 5000); a timed-out request counts as failed\n"
	           "  --tls-dir D       serve, load: tls+tcp:// with the files of\n"
	           "                    tools/make-test-certs in D\n"
	           "load prints one line: echo concurrency= size= requests= seconds= req_per_sec=\n"
	           "failures= reply_bytes= (mean reply body bytes); relay prints forwarded=\n"
	           "upstream_failures= on stderr when stopped.\n"
	           "Exit: 0 ok, 1 setup failed or (load) requests failed, 2 usage.\n");
}

static int bad_usage(const char *what, const char *arg)
{
	if (what != NULL)
		fprintf(stderr, "nng-echo: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "",
		        arg ? "'" : "");
	usage(stderr);
	return 2;
}

/* Returns -1 to go on, else the exit status. */
static int parse_opts(int argc, char **argv, echo_opts *o)
{
	static const struct {
		const char *name;
		int modes;
		uint64_t min, max;
		size_t off; /* offsetof the uint64_t in echo_opts; 0: --tls-dir */
	} kOpts[] = {
		{"--contexts", M_SERVE | M_RELAY, 1, 4096, offsetof(echo_opts, n)},
		{"--reply-size", M_SERVE, 1, 1u << 20, offsetof(echo_opts, reply_size)},
		{"--lanes", M_LOAD, 1, 255, offsetof(echo_opts, lanes)},
		{"--concurrency", M_LOAD, 1, 4096, offsetof(echo_opts, n)},
		{"--size", M_LOAD, 0, 1u << 20, offsetof(echo_opts, size)},
		{"--seconds", M_LOAD, 1, 3600, offsetof(echo_opts, secs)},
		{"--timeout-ms", M_LOAD | M_RELAY, 1, 600000, offsetof(echo_opts, timeout_ms)},
		{"--tls-dir", M_SERVE | M_LOAD, 0, 0, 0},
	};
	*o = (echo_opts){.n = 64, .size = 200, .secs = 5, .timeout_ms = 5000, .lanes = 1};
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3)
		return bad_usage(NULL, NULL);
	if (strcmp(argv[1], "serve") == 0)
		o->mode = M_SERVE;
	else if (strcmp(argv[1], "load") == 0)
		o->mode = M_LOAD;
	else if (strcmp(argv[1], "relay") == 0)
		o->mode = M_RELAY;
	else
		return bad_usage("unknown mode", argv[1]);
	o->url = argv[2];
	int first = 3;
	if (o->mode == M_RELAY) {
		if (argc < 4 || strncmp(argv[3], "--", 2) == 0)
			return bad_usage("relay needs LISTEN_URL and UPSTREAM_URL", NULL);
		/* Comma-separated upstream URLs, none empty, at most ECHO_MAX_UP. */
		for (const char *u = argv[3];; u++) {
			size_t l = strcspn(u, ",");
			if (l == 0 || l >= sizeof(o->upstream[0]) || o->nup == ECHO_MAX_UP)
				return bad_usage("bad UPSTREAM_URL list (1 to 16 URLs, comma-separated):",
				                 argv[3]);
			memcpy(o->upstream[o->nup], u, l);
			o->upstream[o->nup++][l] = '\0';
			u += l;
			if (*u == '\0')
				break;
		}
		first = 4;
	}
	for (int i = first; i < argc; i += 2) {
		size_t k = 0;
		while (k < sizeof(kOpts) / sizeof(kOpts[0]) && strcmp(argv[i], kOpts[k].name) != 0)
			k++;
		if (k == sizeof(kOpts) / sizeof(kOpts[0]))
			return bad_usage("unknown argument", argv[i]);
		if (!(kOpts[k].modes & o->mode))
			return bad_usage("option not valid in this mode:", argv[i]);
		if (i + 1 >= argc)
			return bad_usage("missing value for", argv[i]);
		if (kOpts[k].off == 0) {
			o->tls_dir = argv[i + 1];
			continue;
		}
		uint64_t *v = (uint64_t *)((char *)o + kOpts[k].off);
		if (os_parse_u64(argv[i + 1], kOpts[k].min, kOpts[k].max, v) != 0) {
			fprintf(stderr, "nng-echo: bad value '%s' for %s (%llu..%llu)\n", argv[i + 1],
			        argv[i], (unsigned long long)kOpts[k].min,
			        (unsigned long long)kOpts[k].max);
			usage(stderr);
			return 2;
		}
	}
	if (o->lanes > 1 && o->size == 0)
		return bad_usage("--lanes above 1 needs --size of at least 1", NULL);
	return -1;
}

/* A REP (@rep) or REQ socket with RECVMAXSZ set; REQ: resend off (every request has its
 * own timeout instead), as in router/nodes.c. Returns 0 or an nng error. */
static int open_socket(nng_socket *s, bool rep)
{
	int rv = rep ? nng_rep0_open(s) : nng_req0_open(s);
	if (rv != 0)
		return rv;
	rv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, ECHO_RECV_MAX);
	if (rv == 0 && !rep)
		rv = nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv != 0)
		nng_close(*s);
	return rv;
}

static void wait_for_signal(void)
{
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!g_stop)
		pause();
}

static int run_relay(const echo_opts *o)
{
	nng_socket rep, req[ECHO_MAX_UP];
	unsigned nreq = 0;
	int rv = open_socket(&rep, true);
	if (rv != 0) {
		fprintf(stderr, "nng-echo: %s: %s\n", o->url, nng_strerror(rv));
		return 1;
	}
	for (; nreq < o->nup; nreq++) {
		if ((rv = open_socket(&req[nreq], false)) != 0) {
			fprintf(stderr, "nng-echo: %s: %s\n", o->upstream[nreq], nng_strerror(rv));
			break;
		}
	}
	rctx *rs = nreq == o->nup ? calloc(o->n, sizeof(*rs)) : NULL;
	int st = OSTORE_ENOMEM;
	uint64_t ready = 0;
	for (; rs != NULL && ready < o->n; ready++) {
		rctx *r = &rs[ready];
		if (nng_aio_alloc(&r->down.aio, relay_down_cb, r) != 0)
			break;
		if (nng_aio_alloc(&r->up.aio, relay_up_cb, r) != 0) {
			nng_aio_free(r->down.aio);
			break;
		}
		nng_aio_set_timeout(r->up.aio, (nng_duration)o->timeout_ms);
		bool opened = nng_ctx_open(&r->down.ctx, rep) == 0;
		for (unsigned k = 0; k < nreq && opened; k++)
			opened = nng_ctx_open(&r->upc[k], req[k]) == 0;
		if (!opened) { /* contexts die with their sockets */
			nng_aio_free(r->down.aio);
			nng_aio_free(r->up.aio);
			break;
		}
		r->up.ctx = r->upc[0];
	}
	if (rs != NULL && ready == o->n) {
		/* Upstreams first, nonblocking (they may start later; nng redials). */
		st = OSTORE_OK;
		for (unsigned k = 0; k < nreq && st == OSTORE_OK; k++)
			if ((st = os_net_dial(req[k], o->upstream[k], NULL, NNG_FLAG_NONBLOCK)) !=
			    OSTORE_OK)
				fprintf(stderr, "nng-echo: %s: %s\n", o->upstream[k], ostore_strerror(st));
		if (st == OSTORE_OK && (st = os_net_listen(rep, o->url, NULL, NULL)) != OSTORE_OK)
			fprintf(stderr, "nng-echo: %s: %s\n", o->url, ostore_strerror(st));
	} else if (nreq == o->nup) {
		fprintf(stderr, "nng-echo: out of resources\n");
	}
	if (st == OSTORE_OK) {
		for (uint64_t i = 0; i < o->n; i++)
			nng_ctx_recv(rs[i].down.ctx, rs[i].down.aio);
		wait_for_signal();
	}
	/* Closing sockets first fails every pending operation; the callbacks see g_closing
	 * and start nothing new, so the stops below wait only for callbacks in progress. */
	atomic_store(&g_closing, true);
	nng_close(rep);
	for (unsigned k = 0; k < nreq; k++)
		nng_close(req[k]);
	for (uint64_t i = 0; i < ready; i++) {
		nng_aio_stop(rs[i].down.aio);
		nng_aio_stop(rs[i].up.aio);
	}
	for (uint64_t i = 0; i < ready; i++) {
		nng_aio_free(rs[i].down.aio);
		nng_aio_free(rs[i].up.aio);
	}
	free(rs);
	if (st != OSTORE_OK)
		return 1;
	fprintf(stderr, "nng-echo relay: forwarded=%llu upstream_failures=%llu\n",
	        (unsigned long long)atomic_load(&g_done), (unsigned long long)atomic_load(&g_failed));
	return 0;
}

/* serve and load: one socket, o->n contexts. */
static int run_echo(const echo_opts *o)
{
	bool serve = o->mode == M_SERVE;
	nng_socket s;
	int rv = open_socket(&s, serve);
	if (rv != 0) {
		fprintf(stderr, "nng-echo: %s: %s\n", o->url, nng_strerror(rv));
		return 1;
	}
	char cert[4096], key[4096], ca[4096], err[600];
	os_netsec *sec = NULL;
	if (o->tls_dir != NULL) {
		const char *who = serve ? "server" : "client";
		snprintf(cert, sizeof(cert), "%s/%s.pem", o->tls_dir, who);
		snprintf(key, sizeof(key), "%s/%s.key", o->tls_dir, who);
		snprintf(ca, sizeof(ca), "%s/ca.pem", o->tls_dir);
		os_netsec_opts so = {.tls_cert = cert, .tls_key = key, .tls_ca = ca};
		if (os_netsec_create(&so, &sec, err, sizeof(err)) != OSTORE_OK) {
			fprintf(stderr, "nng-echo: %s\n", err);
			nng_close(s);
			return 2;
		}
	}
	int st = serve ? os_net_listen(s, o->url, sec, NULL) : os_net_dial(s, o->url, sec, 0);
	if (st != OSTORE_OK) {
		fprintf(stderr, "nng-echo: %s: %s\n", o->url, ostore_strerror(st));
		nng_close(s);
		os_netsec_destroy(sec);
		return 1;
	}
	ectx *es = calloc(o->n, sizeof(*es));
	nng_msg *proto = NULL;
	if (es == NULL || (!serve && nng_msg_alloc(&proto, o->size) != 0)) {
		fprintf(stderr, "nng-echo: out of memory\n");
		free(es);
		nng_close(s);
		os_netsec_destroy(sec);
		return 1;
	}
	if (proto != NULL)
		memset(nng_msg_body(proto), 'x', o->size);
	g_deadline = os_now_ns() + o->secs * 1000000000ull;
	uint64_t start = os_now_ns();
	atomic_store(&g_live, (unsigned)o->n);
	uint64_t ready = 0;
	for (; ready < o->n; ready++) {
		ectx *e = &es[ready];
		e->proto = proto;
		e->lane = (uint8_t)(ready % o->lanes);
		if (nng_aio_alloc(&e->aio, serve ? serve_cb : load_cb, e) != 0)
			break;
		if (nng_ctx_open(&e->ctx, s) != 0) {
			nng_aio_free(e->aio);
			break;
		}
		if (serve) {
			nng_ctx_recv(e->ctx, e->aio);
		} else {
			nng_aio_set_timeout(e->aio, (nng_duration)o->timeout_ms);
			load_next(e);
		}
	}
	int status = 0;
	if (ready < o->n) {
		fprintf(stderr, "nng-echo: out of resources\n");
		status = 1;
	} else if (serve) {
		wait_for_signal();
	} else {
		while (atomic_load(&g_live) != 0)
			nng_msleep(10);
		double el = (double)(os_now_ns() - start) / 1e9;
		uint64_t done = atomic_load(&g_done), failed = atomic_load(&g_failed);
		uint64_t rbytes = atomic_load(&g_reply_bytes);
		printf("echo concurrency=%llu size=%llu requests=%llu seconds=%.2f req_per_sec=%.0f "
		       "failures=%llu reply_bytes=%.0f\n",
		       (unsigned long long)o->n, (unsigned long long)o->size, (unsigned long long)done,
		       el, (double)done / el, (unsigned long long)failed,
		       done != 0 ? (double)rbytes / (double)done : 0.0);
		status = failed != 0 ? 1 : 0;
	}
	for (uint64_t i = 0; i < ready; i++)
		nng_aio_stop(es[i].aio);
	nng_close(s);
	for (uint64_t i = 0; i < ready; i++)
		nng_aio_free(es[i].aio);
	if (proto)
		nng_msg_free(proto);
	free(es);
	os_netsec_destroy(sec);
	return status;
}

int main(int argc, char **argv)
{
	echo_opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	g_reply_size = o.reply_size;
	g_nup = o.nup;
	return o.mode == M_RELAY ? run_relay(&o) : run_echo(&o);
}
