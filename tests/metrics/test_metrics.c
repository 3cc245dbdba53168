/*
 * test_metrics.c - /metrics of a real node and router (suite 'metrics').
 *
 *   map.json ─▶ node (--metrics-addr) ─▶ router (--metrics-addr) ─▶ liborderstore
 *   scrape both (plain HTTP/1.0 GET over a socket) ─▶ N puts + N gets ─▶ scrape again
 *   ─▶ counters grew by N per op, histogram _count grew by N, _count == +Inf bucket
 *
 * The exposition is parsed line by line ("name{labels} value"); a sample is looked up
 * by its full series text, so the checks also pin the label layout.
 */
#include <setjmp.h>
#include <stdarg.h>
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

#define N 200

static struct {
	char *dir;
	char node_url[64], router_url[64];
	int node_mport, router_mport;
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

static int setup(void **state)
{
	(void)state;
	K.dir = th_tmpdir("metrics");
	snprintf(K.node_url, sizeof(K.node_url), "%s", th_url(th_free_port()));
	snprintf(K.router_url, sizeof(K.router_url), "%s", th_url(th_free_port()));
	K.node_mport = th_free_port();
	K.router_mport = th_free_port();
	const char *addrs[1] = {K.node_url};
	os_map *m = os_map_build_even(1, addrs, 0);
	char path[512], err[256], data[512], log[512], maddr[64];
	snprintf(path, sizeof(path), "%s/map.json", K.dir);
	if (m == NULL || os_map_save_file(m, path, err, sizeof(err)) != OSTORE_OK)
		return -1;
	os_map_unref(m);
	snprintf(data, sizeof(data), "%s/node-0", K.dir);
	snprintf(log, sizeof(log), "%s/node-0.log", K.dir);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", K.node_mport);
	const char *nargv[] = {th_bin("node"), "--id", "0", "--listen", K.node_url, "--data", data,
	                       "--map", path, "--no-sync", "--metrics-addr", maddr, NULL};
	th_spawn(nargv, log);
	if (th_ping(K.node_url, 15000) != 0)
		return -1;
	char rmaddr[64];
	snprintf(rmaddr, sizeof(rmaddr), "127.0.0.1:%d", K.router_mport);
	snprintf(log, sizeof(log), "%s/router.log", K.dir);
	const char *rargv[] = {th_bin("router"), "--listen", K.router_url, "--map", path,
	                       "--metrics-addr", rmaddr, NULL};
	th_spawn(rargv, log);
	if (th_ping(K.router_url, 15000) != 0)
		return -1;
	ostore_options o;
	ostore_options_init(&o);
	const char *r = K.router_url;
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
	char *n0 = scrape(K.node_mport), *r0 = scrape(K.router_mport);
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
	char *n1 = scrape(K.node_mport), *r1 = scrape(K.router_mport);
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
	free(http_get(K.node_mport, "/", &status));
	assert_int_equal(status, 404);
	free(http_get(K.router_mport, "/metricsx", &status));
	assert_int_equal(status, 404);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_follow_traffic),
		cmocka_unit_test(test_other_paths_404),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	return failed ? 1 : 0;
}
