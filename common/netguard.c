/*
 * netguard.c - a listener that keeps accepting: the workaround for nng 1.5.2 bug #1518
 * (netsec.h, os_net_serve).
 *
 * Measured here (tests/security, part B2): TLS clients that give up in the middle of
 * their handshake (a short timeout, a crash) leave a tls+tcp:// listener of nng 1.5.2
 * accepting TCP connections whose handshakes never progress; the process stays up and
 * idle but no new client is ever served. Existing connections keep working, so only a
 * fresh connection shows it. A tcp:// listener is not affected and gets no guard.
 *
 *   os_net_serve ─▶ listener ─▶ guard thread: every OS_GUARD_PERIOD_MS
 *                                 new REQ socket ─▶ dial URL (TLS) ─▶ PING ─▶ reply?
 *                                 two misses in a row ─▶ WARN, close listener, listen again
 *   os_net_unserve ─▶ stop the thread ─▶ close the listener
 *
 * The probe waits OS_GUARD_TIMEOUT_MS for its answer, far longer than a handshake takes,
 * so that the probe itself never abandons a handshake. It sends the process's own
 * credential (PING is allowed for every role).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "log.h"
#include "netsec.h"
#include "util.h"

#define OS_GUARD_PERIOD_MS 2000
#define OS_GUARD_TIMEOUT_MS 5000

struct os_net_listener {
	nng_socket sock;
	char *url;
	const os_netsec *sec;
	nng_listener l;
	bool guarded;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

/* One PING over a fresh TLS connection. Returns true when the listener answered. */
static bool probe(const os_net_listener *g)
{
	nng_socket s;
	if (nng_req0_open(&s) != 0)
		return true; /* out of resources here: no verdict on the listener */
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, OS_GUARD_TIMEOUT_MS);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, OS_GUARD_TIMEOUT_MS);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u * 1024);
	bool ok = false;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_PING};
	os_netsec_cred(g->sec, &h);
	if (os_net_dial(s, g->url, g->sec, NNG_FLAG_NONBLOCK) == OSTORE_OK &&
	    os_hdr_put(&b, &h) == OSTORE_OK && nng_send(s, b.data, b.len, 0) == 0) {
		void *reply;
		size_t len;
		if (nng_recv(s, &reply, &len, NNG_FLAG_ALLOC) == 0) {
			ok = true; /* any answer, even a refusal, shows the listener serves */
			nng_free(reply, len);
		}
	}
	os_buf_fini(&b);
	nng_close(s);
	return ok;
}

/* Sleeps @ms unless stopped. Returns true when os_net_unserve asked the thread to end. */
static bool wait_stop(os_net_listener *g, int ms)
{
	struct timespec ts = os_timespec_at(os_now_ns() + (uint64_t)ms * 1000000u);
	pthread_mutex_lock(&g->mu);
	while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
		;
	bool stop = g->stop;
	pthread_mutex_unlock(&g->mu);
	return stop;
}

static void *guard_main(void *arg)
{
	os_net_listener *g = arg;
	unsigned misses = 0;
	while (!wait_stop(g, OS_GUARD_PERIOD_MS)) {
		if (probe(g)) {
			misses = 0;
			continue;
		}
		if (++misses < 2)
			continue;
		misses = 0;
		pthread_mutex_lock(&g->mu);
		if (!g->stop) {
			OS_WARN("msg=\"TLS listener stopped serving new connections (nng bug #1518); "
			        "restarting it\" addr=%s", g->url);
			nng_listener_close(g->l);
			int st = os_net_listen(g->sock, g->url, g->sec, &g->l);
			if (st != OSTORE_OK)
				OS_ERROR("msg=\"cannot listen again\" addr=%s err=\"%s\"", g->url,
				         ostore_strerror(st));
		}
		pthread_mutex_unlock(&g->mu);
	}
	return NULL;
}

int os_net_serve(nng_socket sock, const char *url, const os_netsec *s, os_net_listener **out)
{
	os_net_listener *g = calloc(1, sizeof(*g));
	if (g == NULL || (g->url = strdup(url)) == NULL) {
		free(g);
		return OSTORE_ENOMEM;
	}
	g->sock = sock;
	g->sec = s;
	int st = os_net_listen(sock, url, s, &g->l);
	if (st != OSTORE_OK) {
		free(g->url);
		free(g);
		return st;
	}
	pthread_mutex_init(&g->mu, NULL);
	os_cond_init_monotonic(&g->cv); /* glibc's pthread_cond_init does not fail */
	if (strncmp(url, "tls+", 4) == 0) {
		if (pthread_create(&g->thread, NULL, guard_main, g) != 0)
			OS_WARN("msg=\"cannot start the TLS listener guard\" addr=%s", url);
		else
			g->guarded = true;
	}
	*out = g;
	return OSTORE_OK;
}

void os_net_unserve(os_net_listener *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	if (g->guarded)
		pthread_join(g->thread, NULL);
	nng_listener_close(g->l);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g->url);
	free(g);
}
