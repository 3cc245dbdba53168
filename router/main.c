/*
 * main.c - orderstore-router: options, start-up, signals, orderly shutdown.
 *
 *   parse options ─▶ map from --map FILE, or MAP_GET from the --seed nodes (retry with
 *   backoff) ─▶ node connections (nodes.c) + map holder (mapstate.c) ─▶ REP server
 *   (server.c) ─▶ /metrics (--metrics-addr, rt_metrics.c) ─▶ wait for SIGINT/SIGTERM ─▶
 *   close server, nodes; free; exit 0
 *
 * Design: SIGINT and SIGTERM are blocked before any thread exists (nng's threads inherit
 * the mask) and taken synchronously with sigtimedwait() by the main thread, which is the
 * only thread that ever waits: start-up backoff and shutdown happen here, never in a
 * callback. Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or bad input.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "frame.h"
#include "log.h"
#include "map.h"
#include "mapstate.h"
#include "metrics.h"
#include "netsec.h"
#include "nodes.h"
#include "ostore_build.h"
#include "rt_metrics.h"
#include "server.h"
#include "util.h"

#define MAX_SEEDS 64

typedef struct rt_opts {
	const char *listen;
	const char *map_file;
	const char *seeds[MAX_SEEDS];
	unsigned nseeds;
	uint64_t timeout_ms;
	uint64_t contexts;
	uint64_t max_node_calls; /* 0 = 3/4 of contexts */
	uint64_t stall_ms;
	uint64_t max_conns;
	uint64_t max_value;
	int log_level;
	const char *metrics_addr;
	const char *tls_cert, *tls_key, *tls_ca;
	const char *client_token_file, *admin_token_file;
} rt_opts;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: orderstore-router --listen URL (--map FILE | --seed NODE_URL [--seed ...])\n"
	        "                         [--timeout-ms MS] [--contexts N] [--max-node-calls N]\n"
	        "                         [--stall-ms MS] [--max-connections N] [--max-value BYTES]\n"
	        "                         [--log-level debug|info|warn|error] [--metrics-addr HOST:PORT]\n"
	        "                         [--tls-cert F --tls-key F --tls-ca F]\n"
	        "                         [--client-token-file F --admin-token-file F] [--help] [--version]\n"
	        "\n"
	        "  --listen URL        nng URL clients connect to (e.g. tcp://127.0.0.1:7100)\n"
	        "  --map FILE          cluster map (JSON) to start from\n"
	        "  --seed NODE_URL     ask this node for the cluster map (repeatable, up to %d)\n"
	        "  --timeout-ms MS     timeout of each call forwarded to a node (default 2000)\n"
	        "  --contexts N        client requests served at once (default 128, 1..4096)\n"
	        "  --max-node-calls N  calls in flight to one node that has not replied for\n"
	        "                      --stall-ms/4 (any node if --stall-ms 0); beyond, its items\n"
	        "                      answer EOVERLOAD at once (default 3/4 of --contexts)\n"
	        "  --stall-ms MS       a node silent for MS with calls out is pinged; unanswered\n"
	        "                      for max(MS, 1 s) it is stalled: its items answer EUNAVAIL\n"
	        "                      at once until it answers a ping (default 250, 0 = off, ..60000)\n"
	        "  --max-connections N client connections at once; more are closed on arrival\n"
	        "                      (default 1024, 1..65536)\n"
	        "  --max-value BYTES   largest value accepted (default %u, at most %u)\n"
	        "  --log-level L       debug, info, warn or error (default info)\n"
	        "  --metrics-addr H:P  serve Prometheus metrics at http://H:P/metrics (default off)\n"
	        "  --tls-cert FILE     PEM certificate of this router (for tls+tcp:// URLs)\n"
	        "  --tls-key FILE      PEM private key of --tls-cert\n"
	        "  --tls-ca FILE       PEM CA certificate every peer's certificate must be signed by\n"
	        "  --client-token-file FILE  token accepted for data requests; also sent to nodes\n"
	        "  --admin-token-file FILE   token accepted for every request (docs/security.md)\n",
	        MAX_SEEDS, OSTORE_DEFAULT_MAX_VALUE, OSTORE_MAX_VALUE_LIMIT);
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "orderstore-router: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'orderstore-router --help'.\n");
	return 2;
}

static int check_url(const char *what, const char *url)
{
	nng_url *u = NULL;
	if (nng_url_parse(&u, url) != 0) {
		fprintf(stderr, "orderstore-router: %s: not a valid URL: %s\n", what, url);
		return -1;
	}
	nng_url_free(u);
	return 0;
}

/* Returns -1 to go on, or the exit code. */
static int parse_opts(int argc, char **argv, rt_opts *o)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"map", required_argument, NULL, 'm'},
		{"seed", required_argument, NULL, 's'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"contexts", required_argument, NULL, 'c'},
		{"max-node-calls", required_argument, NULL, 'n'},
		{"stall-ms", required_argument, NULL, 'S'},
		{"max-connections", required_argument, NULL, 'C'},
		{"max-value", required_argument, NULL, 'v'},
		{"log-level", required_argument, NULL, 'L'},
		{"metrics-addr", required_argument, NULL, 'M'},
		{"tls-cert", required_argument, NULL, 'E'},
		{"tls-key", required_argument, NULL, 'K'},
		{"tls-ca", required_argument, NULL, 'A'},
		{"client-token-file", required_argument, NULL, 'T'},
		{"admin-token-file", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	*o = (rt_opts){.timeout_ms = 2000, .contexts = 128, .stall_ms = 250, .max_conns = 1024,
	               .max_value = OSTORE_DEFAULT_MAX_VALUE, .log_level = OS_LOG_INFO};
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			o->listen = optarg;
			break;
		case 'm':
			if (o->map_file != NULL)
				return bad_usage("--map given twice%s", "");
			o->map_file = optarg;
			break;
		case 's':
			if (o->nseeds == MAX_SEEDS)
				return bad_usage("too many --seed options (at most 64)%s", "");
			o->seeds[o->nseeds++] = optarg;
			break;
		case 't':
			if (os_parse_u64(optarg, 1, 3600000, &o->timeout_ms) != 0)
				return bad_usage("--timeout-ms: expected 1..3600000, got '%s'", optarg);
			break;
		case 'c':
			if (os_parse_u64(optarg, 1, 4096, &o->contexts) != 0)
				return bad_usage("--contexts: expected 1..4096, got '%s'", optarg);
			break;
		case 'n':
			if (os_parse_u64(optarg, 1, 65536, &o->max_node_calls) != 0)
				return bad_usage("--max-node-calls: expected 1..65536, got '%s'", optarg);
			break;
		case 'S':
			if (os_parse_u64(optarg, 0, 60000, &o->stall_ms) != 0)
				return bad_usage("--stall-ms: expected 0..60000, got '%s'", optarg);
			break;
		case 'C':
			if (os_parse_u64(optarg, 1, 65536, &o->max_conns) != 0)
				return bad_usage("--max-connections: expected 1..65536, got '%s'", optarg);
			break;
		case 'v':
			if (os_parse_u64(optarg, 0, OSTORE_MAX_VALUE_LIMIT, &o->max_value) != 0)
				return bad_usage("--max-value: expected 0..16777216, got '%s'", optarg);
			break;
		case 'L':
			if ((o->log_level = os_log_parse_level(optarg)) < 0)
				return bad_usage("--log-level: expected debug, info, warn or error, got '%s'",
				                 optarg);
			break;
		case 'M':
			if (!os_metrics_check_hostport(optarg))
				return bad_usage("--metrics-addr: expected HOST:PORT, e.g. 127.0.0.1:9100, got '%s'",
				                 optarg);
			o->metrics_addr = optarg;
			break;
		case 'E':
		case 'K':
		case 'A':
		case 'T':
		case 'D': {
			const char **f = ch == 'E' ? &o->tls_cert : ch == 'K' ? &o->tls_key
			               : ch == 'A' ? &o->tls_ca : ch == 'T' ? &o->client_token_file
			                                                    : &o->admin_token_file;
			if (*f != NULL || optarg[0] == '\0')
				return bad_usage("%s given twice or empty", argv[optind - 1]);
			*f = optarg;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("orderstore-router %s\n", OSTORE_VERSION);
			return 0;
		case ':':
			return bad_usage("option %s needs a value", argv[optind - 1]);
		default:
			return bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (o->listen == NULL)
		return bad_usage("--listen URL is required%s", "");
	if ((o->map_file != NULL) == (o->nseeds > 0))
		return bad_usage("give exactly one of --map FILE or --seed NODE_URL%s", "");
	if (o->max_node_calls == 0)
		o->max_node_calls = o->contexts * 3 / 4 > 0 ? o->contexts * 3 / 4 : 1;
	if ((o->client_token_file != NULL) != (o->admin_token_file != NULL))
		return bad_usage("give both --client-token-file and --admin-token-file, or neither%s", "");
	if (check_url("--listen", o->listen) != 0)
		return 2;
	for (unsigned i = 0; i < o->nseeds; i++)
		if (check_url("--seed", o->seeds[i]) != 0)
			return 2;
	return -1;
}

/* Wait @ms for a stop signal; returns the signal, or 0 when the time passed. */
static int wait_signal(const sigset_t *set, long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	for (;;) {
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
		/* EINTR: a signal outside the set; go on waiting (approximately). */
	}
}

/* One synchronous MAP_GET on seed socket @s. Returns the map or NULL. */
static os_map *seed_ask(nng_socket s, const char *url, const os_netsec *sec)
{
	os_hdr h = {.kind = OS_KIND_MAP_GET};
	os_netsec_cred(sec, &h);
	nng_msg *m = rt_msg_frame(&h, NULL, 0);
	if (m == NULL)
		return NULL;
	int rv = nng_sendmsg(s, m, 0);
	if (rv != 0) {
		nng_msg_free(m);
		OS_DEBUG("msg=\"seed send failed\" seed=%s err=\"%s\"", url, nng_strerror(rv));
		return NULL;
	}
	if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
		OS_DEBUG("msg=\"seed did not answer\" seed=%s err=\"%s\"", url, nng_strerror(rv));
		return NULL;
	}
	os_map *map = NULL;
	const uint8_t *body;
	size_t blen;
	int st = os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &blen);
	if (st == OSTORE_OK && h.kind != (OS_KIND_MAP_GET | OS_REPLY_BIT))
		st = OSTORE_EPROTO;
	if (st == OSTORE_OK)
		st = h.status;
	if (st == OSTORE_OK)
		st = os_map_decode(body, blen, &map);
	if (st != OSTORE_OK)
		OS_WARN("msg=\"seed has no usable map\" seed=%s err=%s", url, ostore_status_name(st));
	nng_msg_free(m);
	return map;
}

/* Ask the seeds until one answers with a map; NULL when a stop signal came first. */
static os_map *map_from_seeds(const rt_opts *o, const os_netsec *sec, const sigset_t *stop,
                              int *exit_code)
{
	nng_socket socks[MAX_SEEDS];
	unsigned n = 0;
	os_map *map = NULL;
	*exit_code = 1;
	for (; n < o->nseeds; n++) {
		int rv = nng_req0_open(&socks[n]);
		if (rv == 0) {
			nng_socket_set_size(socks[n], NNG_OPT_RECVMAXSZ, OS_FRAME_MAX_DEFAULT);
			nng_socket_set_ms(socks[n], NNG_OPT_SENDTIMEO, (nng_duration)o->timeout_ms);
			nng_socket_set_ms(socks[n], NNG_OPT_RECVTIMEO, (nng_duration)o->timeout_ms);
			nng_socket_set_ms(socks[n], NNG_OPT_RECONNMINT, 50);
			nng_socket_set_ms(socks[n], NNG_OPT_RECONNMAXT, 1000);
			int st = os_net_dial(socks[n], o->seeds[n], sec, NNG_FLAG_NONBLOCK);
			if (st != OSTORE_OK) {
				nng_close(socks[n]);
				fprintf(stderr, "orderstore-router: --seed %s: %s\n", o->seeds[n],
				        st == OSTORE_EINVAL ? "tls+tcp:// needs --tls-cert, --tls-key and --tls-ca"
				                            : ostore_strerror(st));
				*exit_code = 2;
				goto out;
			}
		}
		if (rv != 0) {
			fprintf(stderr, "orderstore-router: --seed %s: %s\n", o->seeds[n], nng_strerror(rv));
			*exit_code = 2;
			goto out;
		}
	}
	long backoff = 100;
	for (unsigned attempt = 1;; attempt++) {
		for (unsigned i = 0; i < n && map == NULL; i++)
			map = seed_ask(socks[i], o->seeds[i], sec);
		if (map != NULL)
			break;
		OS_WARN("msg=\"waiting for a cluster map from the seeds\" attempt=%u retry_ms=%ld",
		        attempt, backoff);
		int sig = wait_signal(stop, backoff);
		if (sig != 0) {
			OS_INFO("msg=\"stopping before start\" signal=%d", sig);
			*exit_code = 0;
			goto out;
		}
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
out:
	for (unsigned i = 0; i < n; i++)
		nng_close(socks[i]);
	return map;
}

int main(int argc, char **argv)
{
	rt_opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	os_log_set_component("router");
	os_log_set_level((os_log_level)o.log_level);
	os_netsec *sec = NULL;
	os_netsec_opts so = {.tls_cert = o.tls_cert, .tls_key = o.tls_key, .tls_ca = o.tls_ca,
	                     .client_token_file = o.client_token_file,
	                     .admin_token_file = o.admin_token_file,
	                     .send_token_file = o.client_token_file /* nodes: data kinds only */};
	char serr[512] = "";
	if (os_netsec_create(&so, &sec, serr, sizeof(serr)) != OSTORE_OK)
		return bad_usage("%s", serr);
	if (strncmp(o.listen, "tls+", 4) == 0 && !os_netsec_tls(sec)) {
		os_netsec_destroy(sec);
		return bad_usage("--listen %s needs --tls-cert, --tls-key and --tls-ca", o.listen);
	}

	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	os_map *map = NULL;
	if (o.map_file != NULL) {
		char err[256] = "";
		int st = os_map_load_file(o.map_file, &map, err, sizeof(err));
		if (st != OSTORE_OK) {
			fprintf(stderr, "orderstore-router: --map %s: %s\n", o.map_file,
			        err[0] ? err : ostore_strerror(st));
			os_netsec_destroy(sec);
			return 2;
		}
	}

	rt_nodes *nodes = NULL;
	rt_maps *maps = NULL;
	rt_server *srv = NULL;
	rt_readsel *reads = NULL;
	rt_nodes_opts nopts = {.timeout_ms = (uint32_t)o.timeout_ms,
	                       .recv_max = OS_FRAME_MAX_DEFAULT,
	                       .max_calls = (unsigned)o.max_node_calls,
	                       .stall_ms = (uint32_t)o.stall_ms,
	                       .sec = sec};
	if (rt_nodes_create(&nopts, &nodes) != OSTORE_OK || rt_maps_create(nodes, &maps) != OSTORE_OK ||
	    rt_readsel_create(&reads) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot start: out of resources\"");
		rc = 1;
		goto out;
	}
	if (rt_metrics_init(maps) != OSTORE_OK) {
		OS_ERROR("msg=\"cannot set up metrics: out of memory\"");
		rc = 1;
		goto out;
	}
	if (map == NULL) {
		map = map_from_seeds(&o, sec, &stop, &rc);
		if (map == NULL)
			goto out;
	}
	rt_maps_install(maps, map);
	os_map_unref(map);
	map = NULL;

	rt_env env = {.maps = maps, .nodes = nodes, .reads = reads,
	              .max_value = (uint32_t)o.max_value, .sec = sec};
	rt_server_opts sopts = {.listen = o.listen, .contexts = (unsigned)o.contexts,
	                        .recv_max = OS_FRAME_MAX_DEFAULT,
	                        .max_conns = (unsigned)o.max_conns};
	int st = rt_server_create(&sopts, &env, &srv);
	if (st != OSTORE_OK) {
		fprintf(stderr, "orderstore-router: cannot serve on %s: %s\n", o.listen,
		        ostore_strerror(st));
		rc = 1;
		goto out;
	}
	if (o.metrics_addr != NULL && rt_metrics_serve(o.metrics_addr) != OSTORE_OK) {
		fprintf(stderr, "orderstore-router: cannot serve metrics on %s\n", o.metrics_addr);
		rc = 1;
		goto out;
	}
	int nng_threads = os_procmetrics_nng_threads(rt_metrics_proc()); /* sockets are open */
	OS_INFO("msg=\"router started\" version=%s epoch=%llu timeout_ms=%u max_node_calls=%u "
	        "stall_ms=%u max_connections=%u tls=%s auth=%s nng_task_threads=%d",
	        OSTORE_VERSION, (unsigned long long)rt_maps_epoch(maps), (unsigned)o.timeout_ms,
	        (unsigned)o.max_node_calls, (unsigned)o.stall_ms, (unsigned)o.max_conns,
	        os_netsec_tls(sec) ? "on" : "off", os_netsec_auth(sec) ? "on" : "off", nng_threads);
	int sig;
	while ((sig = wait_signal(&stop, 3600 * 1000L)) == 0)
		;
	OS_INFO("msg=\"stopping\" signal=%d", sig);
	rc = 0;
out:
	rt_metrics_stop(); /* its collector reads the map holder */
	if (srv != NULL)
		rt_server_close(srv);
	if (nodes != NULL)
		rt_nodes_close(nodes);
	rt_server_destroy(srv);
	rt_maps_destroy(maps);
	rt_nodes_destroy(nodes);
	rt_readsel_destroy(reads);
	os_map_unref(map);
	rt_metrics_fini();
	os_netsec_destroy(sec);
	if (rc == 0)
		OS_INFO("msg=\"stopped\"");
	return rc;
}
