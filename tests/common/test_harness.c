/*
 * test_harness.c - the process harness itself: ports, running and stopping children,
 * and PING / raw requests against an in-process nng REP responder (a thread that
 * answers every frame with a status-only reply of the request's kind).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "harness.h"
#include "wire.h"

static void test_ports(void **state)
{
	(void)state;
	int seen[50];
	for (int i = 0; i < 50; i++) {
		seen[i] = th_free_port();
		assert_true(seen[i] > 0 && seen[i] < 65536);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(seen[i], seen[j]);
	}
	char want[64];
	snprintf(want, sizeof want, "tcp://127.0.0.1:%d", seen[0]);
	assert_string_equal(th_url(seen[0]), want);
}

static void test_run(void **state)
{
	(void)state;
	const char *cat[] = {"/bin/cat", NULL};
	char *out = NULL;
	size_t len = 0;
	static char data[200000]; /* larger than a pipe: stdin and stdout must interleave */
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(th_run(cat, data, sizeof data, &out, &len, NULL, 10000), 0);
	assert_int_equal(len, sizeof data);
	assert_memory_equal(out, data, sizeof data);
	free(out);

	const char *sh3[] = {"/bin/sh", "-c", "echo hi; exit 3", NULL};
	assert_int_equal(th_run(sh3, NULL, 0, &out, &len, NULL, 10000), 3);
	assert_string_equal(out, "hi\n");
	free(out);

	const char *slow[] = {"/bin/sleep", "10", NULL};
	assert_int_equal(th_run(slow, NULL, 0, &out, &len, NULL, 200), -1);
	assert_null(out);

	/* a child that ignores its stdin must not kill us with SIGPIPE */
	const char *tru[] = {"/bin/true", NULL};
	assert_int_equal(th_run(tru, data, sizeof data, NULL, NULL, NULL, 10000), 0);
}

static void test_spawn_stop(void **state)
{
	(void)state;
	char *dir = th_tmpdir("harness");
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	char log[512];
	snprintf(log, sizeof log, "%s/child.log", dir);
	const char *argv[] = {"/bin/sh", "-c", "echo started; exec sleep 30", NULL};
	pid_t pid = th_spawn(argv, log);
	assert_true(pid > 0);
	assert_int_equal(th_wait_exit(pid, 100), -1); /* still running */
	int ws = th_stop(pid);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	char line[64] = "";
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_string_equal(line, "started\n");

	const char *quick[] = {"/bin/sh", "-c", "exit 7", NULL};
	pid = th_spawn(quick, NULL);
	ws = th_wait_exit(pid, 5000);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 7);
	th_kill(pid, SIGKILL); /* reaped and untracked: a no-op */

	const char *sleeper[] = {"/bin/sleep", "30", NULL};
	pid_t a = th_spawn(sleeper, NULL), b = th_spawn(sleeper, NULL);
	th_cleanup();
	assert_int_equal(kill(a, 0), -1); /* gone and reaped */
	assert_int_equal(kill(b, 0), -1);
	th_cleanup();
	th_rmrf(dir);
	assert_int_equal(stat(dir, &st), -1);
	free(dir);
}

struct responder {
	nng_socket sock;
	pthread_t thr;
	int frames;
};

static void *responder_main(void *arg)
{
	struct responder *r = arg;
	for (;;) {
		nng_msg *m = NULL;
		if (nng_recvmsg(r->sock, &m, 0) != 0)
			return NULL;
		os_hdr h;
		uint8_t kind = 0;
		uint16_t status = OSTORE_OK;
		int st = os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, NULL, NULL);
		if (st == OSTORE_OK)
			kind = h.kind;
		else
			status = (uint16_t)st;
		nng_msg_free(m);
		os_buf b;
		os_buf_init(&b);
		os_reply_status(&b, kind, status, 0, st == OSTORE_OK ? h.client_id : 0);
		r->frames++;
		nng_send(r->sock, b.data, b.len, 0);
		os_buf_fini(&b);
	}
}

static void responder_start(struct responder *r, const char *url)
{
	memset(r, 0, sizeof *r);
	assert_int_equal(nng_rep0_open(&r->sock), 0);
	nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, 65536);
	assert_int_equal(nng_listen(r->sock, url, NULL, 0), 0);
	assert_int_equal(pthread_create(&r->thr, NULL, responder_main, r), 0);
}

static void responder_stop(struct responder *r)
{
	nng_close(r->sock);
	pthread_join(r->thr, NULL);
}

struct late {
	const char *url;
	struct responder r;
};

static void *late_main(void *arg)
{
	struct late *l = arg;
	usleep(300000);
	responder_start(&l->r, l->url);
	return NULL;
}

static void test_ping_request(void **state)
{
	(void)state;
	const char *url = th_url(th_free_port());
	/* nobody listening: fails within the timeout */
	uint64_t t0 = (uint64_t)time(NULL);
	assert_int_equal(th_ping(url, 300), -1);
	assert_true((uint64_t)time(NULL) - t0 < 5);

	struct responder r;
	responder_start(&r, url);
	assert_int_equal(th_ping(url, 5000), 0);

	/* raw request: a broken frame gets a status-only reply */
	const uint8_t junk[] = {1, 2, 3};
	void *reply = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(url, junk, sizeof junk, &reply, &rlen, 5000), 0);
	os_hdr h;
	assert_int_equal(os_hdr_get(reply, rlen, &h, NULL, NULL), OSTORE_OK);
	assert_int_equal(h.status, OSTORE_EPROTO);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.kind, OS_REPLY_BIT);
	free(reply);
	responder_stop(&r);

	/* a listener that comes up after the first ping is still found (a thread, since
	 * nng cannot be used in a forked child) */
	struct late late = {.url = th_url(th_free_port())};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, late_main, &late), 0);
	assert_int_equal(th_ping(late.url, 4000), 0);
	pthread_join(t, NULL);
	responder_stop(&late.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_spawn_stop),
		cmocka_unit_test(test_ping_request),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
