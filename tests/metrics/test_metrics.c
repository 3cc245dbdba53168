/*
 * test_metrics.c - /metrics of a real node and router (suite 'metrics').
 *
 *   map.json ─▶ node (--metrics-addr) ─▶ router (--metrics-addr) ─▶ liborderstore
 *   scrape both (plain HTTP/1.0 GET over a socket) ─▶ N puts + N gets ─▶ scrape again
 *   ─▶ counters grew by N per op, histogram _count grew by N, _count == +Inf bucket
 *
 * orderstore_nng_task_threads and the "started" lines carry the count of nng:task threads
 * the processes run (the build's, OSTORE_NNG_TASKQ_THREADS from tools/build-nng); a node
 * and a router started with LD_LIBRARY_PATH on the system's libnng (another count) log a
 * WARN naming it.
 *
 * The exposition is parsed line by line ("name{labels} value"); a sample is looked up
 * by its full series text, so the checks also pin the label layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include <orderstore.h>

#include "harness.h"
#include "map.h"
#include "ostore_build.h"
#include "util.h"

#define N 200

/* A node (one shard, --no-sync) and a router in front of it, each serving /metrics. */
typedef struct pair {
	char node_url[64], router_url[64];
	int node_mport, router_mport;
	pid_t node_pid, router_pid;
	char node_log[512], router_log[512];
} pair;

static struct {
	char *dir;
	pair p;
	ostore_client *c;
} K;

/* GET http://127.0.0.1:@port@path; returns the malloc'ed body (NULL on failure) and
 * the HTTP status in *@status. */
static char *http_get(int port, const char *path, int *status)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf != NULL && (r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (buf == NULL)
		return NULL;
	buf[len] = '\0';
	*status = 0;
	sscanf(buf, "HTTP/1.%*d %d", status);
	char *body = strstr(buf, "\r\n\r\n");
	char *out = strdup(body != NULL ? body + 4 : "");
	free(buf);
	return out;
}

/* The value of the sample whose series text (name{labels}) is exactly @series; -1 if
 * absent. */
static double sample(const char *text, const char *series)
{
	size_t sl = strlen(series);
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (*p == '#')
			continue;
		if (strncmp(p, series, sl) == 0 && p[sl] == ' ')
			return strtod(p + sl + 1, NULL);
	}
	return -1;
}

static double sample_or0(const char *text, const char *series)
{
	double v = sample(text, series);
	return v < 0 ? 0 : v;
}

/* Start a pair under K.dir/@tag; returns when both answer PING, 0 (or -1). */
static int start_pair(const char *tag, pair *p)
{
	snprintf(p->node_url, sizeof(p->node_url), "%s", th_url(th_free_port()));
	snprintf(p->router_url, sizeof(p->router_url), "%s", th_url(th_free_port()));
	p->node_mport = th_free_port();
	p->router_mport = th_free_port();
	const char *addrs[1] = {p->node_url};
	os_map *m = os_map_build_even(1, addrs, 0);
	char path[512], err[256], data[512], maddr[64], rmaddr[64];
	snprintf(path, sizeof(path), "%s/%s-map.json", K.dir, tag);
	if (m == NULL || os_map_save_file(m, path, err, sizeof(err)) != OSTORE_OK)
		return -1;
	os_map_unref(m);
	snprintf(data, sizeof(data), "%s/%s-node-0", K.dir, tag);
	snprintf(p->node_log, sizeof(p->node_log), "%s/%s-node-0.log", K.dir, tag);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", p->node_mport);
	const char *nargv[] = {th_bin("node"), "--id", "0", "--listen", p->node_url, "--data", data,
	                       "--map", path, "--no-sync", "--metrics-addr", maddr, NULL};
	p->node_pid = th_spawn(nargv, p->node_log);
	if (th_ping(p->node_url, 15000) != 0)
		return -1;
	snprintf(rmaddr, sizeof(rmaddr), "127.0.0.1:%d", p->router_mport);
	snprintf(p->router_log, sizeof(p->router_log), "%s/%s-router.log", K.dir, tag);
	const char *rargv[] = {th_bin("router"), "--listen", p->router_url, "--map", path,
	                       "--metrics-addr", rmaddr, NULL};
	p->router_pid = th_spawn(rargv, p->router_log);
	return th_ping(p->router_url, 15000);
}

static int setup(void **state)
{
	(void)state;
	K.dir = th_tmpdir("metrics");
	if (start_pair("main", &K.p) != 0)
		return -1;
	ostore_options o;
	ostore_options_init(&o);
	const char *r = K.p.router_url;
	o.routers = &r;
	o.nrouters = 1;
	o.timeout_ms = 5000;
	return ostore_open(&o, &K.c) == OSTORE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ostore_close(K.c);
	th_cleanup();
	th_rmrf(K.dir);
	free(K.dir);
	return 0;
}

static char *scrape(int port)
{
	int status = 0;
	char *t = http_get(port, "/metrics", &status);
	assert_non_null(t);
	assert_int_equal(status, 200);
	return t;
}

/* Checks, for one process, that op @op grew by N with code OK (or ENOTFOUND-free) and
 * its histogram by N. */
static void check_grew(const char *before, const char *after, const char *op)
{
	char s[160];
	snprintf(s, sizeof(s), "orderstore_requests_total{op=\"%s\",code=\"OK\"}", op);
	assert_int_equal((long)(sample_or0(after, s) - sample_or0(before, s)), N);
	snprintf(s, sizeof(s), "orderstore_request_duration_seconds_count{op=\"%s\"}", op);
	assert_int_equal((long)(sample_or0(after, s) - sample_or0(before, s)), N);
	double count = sample(after, s);
	snprintf(s, sizeof(s), "orderstore_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"}", op);
	assert_true(sample(after, s) == count);
	snprintf(s, sizeof(s), "orderstore_request_duration_seconds_sum{op=\"%s\"}", op);
	assert_true(sample(after, s) > 0);
}

static void test_counters_follow_traffic(void **state)
{
	(void)state;
	char *n0 = scrape(K.p.node_mport), *r0 = scrape(K.p.router_mport);
	for (int i = 0; i < N; i++) {
		char id[32], val[32];
		int il = snprintf(id, sizeof(id), "order-%d", i);
		int vl = snprintf(val, sizeof(val), "{\"n\":%d}", i);
		assert_int_equal(ostore_put(K.c, id, (size_t)il, val, (size_t)vl, NULL), OSTORE_OK);
	}
	for (int i = 0; i < N; i++) {
		char id[32];
		int il = snprintf(id, sizeof(id), "order-%d", i);
		void *v = NULL;
		size_t vl;
		assert_int_equal(ostore_get(K.c, id, (size_t)il, &v, &vl, NULL), OSTORE_OK);
		free(v);
	}
	char *n1 = scrape(K.p.node_mport), *r1 = scrape(K.p.router_mport);
	check_grew(n0, n1, "put");
	check_grew(n0, n1, "get");
	check_grew(r0, r1, "put");
	check_grew(r0, r1, "get");
	/* node: every put went through a group commit; the store holds N orders */
	assert_true(sample(n1, "orderstore_commit_batch_items_sum") -
	                    sample_or0(n0, "orderstore_commit_batch_items_sum") >= N);
	assert_true(sample(n1, "orderstore_commit_duration_seconds_count") >= 1);
	assert_int_equal((long)sample(n1, "orderstore_orders{shard=\"0\"}"), N);
	assert_true(sample(n1, "orderstore_lsn{shard=\"0\"}") >= N);
	assert_true(sample(n1, "orderstore_lmdb_used_bytes") > 0);
	assert_true(sample(n1, "orderstore_lmdb_map_size_bytes") > 0);
	assert_true(sample(n1, "orderstore_lmdb_readers_max") >= 126);
	assert_true(sample(n1, "orderstore_open_connections") >= 1); /* the router */
	assert_int_equal((long)sample(n1, "orderstore_node_role{shard=\"0\",role=\"primary\"}"), 1);
	assert_int_equal((long)sample(n1, "orderstore_build_info{version=\"" OSTORE_VERSION_FOR_TEST "\"}"), 1);
	/* router: calls to node 0, none in flight now, the map epoch */
	assert_true(sample(r1, "orderstore_router_node_calls_total{node=\"0\"}") >= 2 * N);
	assert_int_equal((long)sample(r1, "orderstore_router_node_inflight{node=\"0\"}"), 0);
	assert_int_equal((long)sample(r1, "orderstore_map_epoch"), 1);
	assert_true(sample(r1, "orderstore_uptime_seconds") > 0);
	free(n0);
	free(n1);
	free(r0);
	free(r1);
}

static void test_other_paths_404(void **state)
{
	(void)state;
	int status = 0;
	free(http_get(K.p.node_mport, "/", &status));
	assert_int_equal(status, 404);
	free(http_get(K.p.router_mport, "/metricsx", &status));
	assert_int_equal(status, 404);
}

/* The first line of @path holding @needle (malloc'ed), waiting up to @timeout_ms for it
 * to be written; NULL if it never is. */
static char *log_line(const char *path, const char *needle, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		FILE *f = fopen(path, "r");
		char line[2048];
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			if (strstr(line, needle) != NULL) {
				fclose(f);
				return strdup(line);
			}
		}
		if (f != NULL)
			fclose(f);
		if (waited >= timeout_ms)
			return NULL;
		usleep(50000);
	}
}

/* Whether log line @line has the key @key with the value @n. */
static bool has_key(const char *line, const char *key, int n)
{
	char want[64];
	int len = snprintf(want, sizeof(want), " %s=%d", key, n);
	const char *p = strstr(line, want);
	return p != NULL && (p[len] == ' ' || p[len] == '\n' || p[len] == '\0');
}

/* Node and router of @p report @n nng task threads: in orderstore_nng_task_threads and
 * in their "started" lines (logged after the count, so the WARN, if any, is written). */
static void check_reported(const pair *p, int n)
{
	char *line = log_line(p->node_log, "msg=\"started\"", 10000);
	assert_non_null(line);
	assert_true(has_key(line, "nng_task_threads", n));
	free(line);
	line = log_line(p->router_log, "msg=\"router started\"", 10000);
	assert_non_null(line);
	assert_true(has_key(line, "nng_task_threads", n));
	free(line);
	char *text = scrape(p->node_mport);
	assert_int_equal((long)sample(text, "orderstore_nng_task_threads"), n);
	free(text);
	text = scrape(p->router_mport);
	assert_int_equal((long)sample(text, "orderstore_nng_task_threads"), n);
	free(text);
}

/* Built against tools/build-nng's nng: both processes run its count, and say so. */
static void test_nng_task_threads_reported(void **state)
{
	(void)state;
	int n = os_nng_task_threads(K.p.node_pid);
	assert_true(n > 0);
	if (OSTORE_NNG_TASKQ_THREADS != 0)
		assert_int_equal(n, OSTORE_NNG_TASKQ_THREADS);
	assert_int_equal(os_nng_task_threads(K.p.router_pid), n);
	check_reported(&K.p, n);
	char *warn = log_line(K.p.node_log, "running nng has", 0);
	assert_null(warn);
	warn = log_line(K.p.router_log, "running nng has", 0);
	assert_null(warn);
}

#define SYSTEM_LIBDIR "/usr/lib/x86_64-linux-gnu"

/* Whether process @pid has mapped @lib. */
static bool maps_lib(pid_t pid, const char *lib)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, lib) != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

/* Started with LD_LIBRARY_PATH on the system's libnng (Debian's libnng1: twice the CPUs
 * in task threads), node and router load it over their run path and warn about it. */
static void test_system_nng_warns(void **state)
{
	(void)state;
	if (OSTORE_NNG_TASKQ_THREADS == 0 || access(SYSTEM_LIBDIR "/libnng.so.1", R_OK) != 0)
		skip(); /* built against the system's nng, or it is not installed */
	const char *old = getenv("LD_LIBRARY_PATH");
	char *saved = old != NULL ? strdup(old) : NULL;
	setenv("LD_LIBRARY_PATH", SYSTEM_LIBDIR, 1);
	pair p;
	int rc = start_pair("sysnng", &p);
	if (saved != NULL)
		setenv("LD_LIBRARY_PATH", saved, 1);
	else
		unsetenv("LD_LIBRARY_PATH");
	free(saved);
	assert_int_equal(rc, 0);
	assert_true(maps_lib(p.node_pid, SYSTEM_LIBDIR "/libnng.so"));
	assert_true(maps_lib(p.router_pid, SYSTEM_LIBDIR "/libnng.so"));
	/* both counted their threads once settled: count them now too */
	char *line = log_line(p.node_log, "msg=\"started\"", 10000);
	assert_non_null(line);
	free(line);
	line = log_line(p.router_log, "msg=\"router started\"", 10000);
	assert_non_null(line);
	free(line);
	int n = os_nng_task_threads(p.node_pid);
	assert_true(n > 0);
	assert_int_equal(os_nng_task_threads(p.router_pid), n);
	if (n == OSTORE_NNG_TASKQ_THREADS) {
		th_stop(p.router_pid);
		th_stop(p.node_pid);
		skip(); /* the system's nng runs the same count on this machine (one CPU) */
	}
	check_reported(&p, n);
	char want[160];
	snprintf(want, sizeof(want), "warn node msg=\"running nng has %d task threads, built for %d:",
	         n, OSTORE_NNG_TASKQ_THREADS);
	line = log_line(p.node_log, want, 0);
	assert_non_null(line);
	assert_non_null(strstr(line, "loaded=" SYSTEM_LIBDIR "/libnng.so"));
	free(line);
	snprintf(want, sizeof(want), "warn router msg=\"running nng has %d task threads, built for %d:",
	         n, OSTORE_NNG_TASKQ_THREADS);
	line = log_line(p.router_log, want, 0);
	assert_non_null(line);
	free(line);
	/* still serving, and stops cleanly */
	assert_int_equal(th_ping(p.router_url, 5000), 0);
	assert_int_equal(th_stop(p.router_pid), 0);
	assert_int_equal(th_stop(p.node_pid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_follow_traffic),
		cmocka_unit_test(test_other_paths_404),
		cmocka_unit_test(test_nng_task_threads_reported),
		cmocka_unit_test(test_system_nng_warns),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	return failed ? 1 : 0;
}
