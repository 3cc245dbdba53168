/*
 * nng_echo.c - the baseline for orderstore's network figures: a bare nng REQ/REP echo
 * on this machine, with the same async pattern orderstore uses (contexts + aio state
 * machines, no thread per request).
 *
 *   nng-echo serve URL [--contexts N]         REP server, echoes every message
 *   nng-echo load URL [--concurrency C] [--size B] [--seconds S]
 *                                             closed loop, C requests in flight
 *   --tls-dir D (both): for tls+tcp:// URLs, the files of tools/make-test-certs in D
 *                       (the server uses server.*, the loader client.*; ca.pem)
 *
 * orderstore's request path is client -> router -> node -> router -> client: two such
 * hops. Reporting orderstore's throughput as a ratio of this echo's, measured in the same
 * run, keeps figures comparable on a shared, noisy machine (bench/README.md).
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netsec.h"
#include "util.h"

typedef struct ectx {
	nng_aio *aio;
	nng_ctx ctx;
	int sending;
	nng_msg *proto; /* load: the message to send (duplicated per request) */
	uint64_t t0;
} ectx;

static atomic_uint_fast64_t g_done;
static uint64_t g_deadline;
static atomic_uint g_live;
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
	} else {
		e->sending = 1;
		nng_ctx_send(e->ctx, e->aio); /* the received message goes back as is */
	}
}

static void load_cb(void *arg)
{
	ectx *e = arg;
	int rv = nng_aio_result(e->aio);
	if (rv != 0) {
		if (e->sending)
			nng_msg_free(nng_aio_get_msg(e->aio));
		atomic_fetch_sub(&g_live, 1);
		return;
	}
	if (e->sending) {
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	nng_msg_free(nng_aio_get_msg(e->aio));
	atomic_fetch_add(&g_done, 1);
	if (os_now_ns() >= g_deadline) {
		atomic_fetch_sub(&g_live, 1);
		return;
	}
	nng_msg *m;
	if (nng_msg_dup(&m, e->proto) != 0) {
		atomic_fetch_sub(&g_live, 1);
		return;
	}
	e->sending = 1;
	nng_aio_set_msg(e->aio, m);
	nng_ctx_send(e->ctx, e->aio);
}

static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int usage(void)
{
	fprintf(stderr, "usage: nng-echo serve URL [--contexts N] [--tls-dir D]\n"
	                "       nng-echo load URL [--concurrency C] [--size B] [--seconds S] "
	                "[--tls-dir D]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	int serve = strcmp(argv[1], "serve") == 0;
	if (!serve && strcmp(argv[1], "load") != 0)
		return usage();
	const char *url = argv[2];
	uint64_t n = 64, size = 200, secs = 5;
	const char *tls_dir = NULL;
	for (int i = 3; i + 1 < argc; i += 2) {
		int bad = 1;
		if (strcmp(argv[i], "--tls-dir") == 0) {
			tls_dir = argv[i + 1];
			bad = 0;
		} else if (strcmp(argv[i], "--contexts") == 0 || strcmp(argv[i], "--concurrency") == 0)
			bad = os_parse_u64(argv[i + 1], 1, 4096, &n);
		else if (strcmp(argv[i], "--size") == 0)
			bad = os_parse_u64(argv[i + 1], 0, 1 << 20, &size);
		else if (strcmp(argv[i], "--seconds") == 0)
			bad = os_parse_u64(argv[i + 1], 1, 3600, &secs);
		if (bad)
			return usage();
	}
	if ((argc - 3) % 2 != 0)
		return usage();
	nng_socket s;
	int rv = serve ? nng_rep0_open(&s) : nng_req0_open(&s);
	if (rv == 0)
		rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 2u << 20);
	if (rv == 0 && !serve)
		rv = nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv != 0) {
		fprintf(stderr, "nng-echo: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	char cert[4096], key[4096], ca[4096], err[600];
	os_netsec *sec = NULL;
	if (tls_dir != NULL) {
		const char *who = serve ? "server" : "client";
		snprintf(cert, sizeof(cert), "%s/%s.pem", tls_dir, who);
		snprintf(key, sizeof(key), "%s/%s.key", tls_dir, who);
		snprintf(ca, sizeof(ca), "%s/ca.pem", tls_dir);
		os_netsec_opts so = {.tls_cert = cert, .tls_key = key, .tls_ca = ca};
		if (os_netsec_create(&so, &sec, err, sizeof(err)) != OSTORE_OK) {
			fprintf(stderr, "nng-echo: %s\n", err);
			return 2;
		}
	}
	int st = serve ? os_net_listen(s, url, sec, NULL) : os_net_dial(s, url, sec, 0);
	if (st != OSTORE_OK) {
		fprintf(stderr, "nng-echo: %s: %s\n", url, ostore_strerror(st));
		return 1;
	}
	ectx *es = calloc(n, sizeof(*es));
	nng_msg *proto = NULL;
	if (!serve) {
		nng_msg_alloc(&proto, size);
		memset(nng_msg_body(proto), 'x', size);
	}
	g_deadline = os_now_ns() + secs * 1000000000ull;
	uint64_t start = os_now_ns();
	atomic_store(&g_live, (unsigned)n);
	for (uint64_t i = 0; i < n; i++) {
		ectx *e = &es[i];
		e->proto = proto;
		if (nng_aio_alloc(&e->aio, serve ? serve_cb : load_cb, e) != 0 ||
		    nng_ctx_open(&e->ctx, s) != 0) {
			fprintf(stderr, "nng-echo: out of resources\n");
			return 1;
		}
		if (serve) {
			nng_ctx_recv(e->ctx, e->aio);
		} else {
			nng_msg *m;
			nng_msg_dup(&m, proto);
			e->sending = 1;
			nng_aio_set_msg(e->aio, m);
			nng_ctx_send(e->ctx, e->aio);
		}
	}
	if (serve) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!g_stop)
			pause();
	} else {
		while (atomic_load(&g_live) != 0)
			nng_msleep(10);
		double el = (double)(os_now_ns() - start) / 1e9;
		printf("echo concurrency=%llu size=%llu requests=%llu seconds=%.2f req_per_sec=%.0f\n",
		       (unsigned long long)n, (unsigned long long)size,
		       (unsigned long long)atomic_load(&g_done), el, (double)atomic_load(&g_done) / el);
	}
	for (uint64_t i = 0; i < n; i++)
		nng_aio_stop(es[i].aio);
	nng_close(s);
	for (uint64_t i = 0; i < n; i++) {
		nng_ctx_close(es[i].ctx);
		nng_aio_free(es[i].aio);
	}
	if (proto)
		nng_msg_free(proto);
	free(es);
	os_netsec_destroy(sec);
	return 0;
}
