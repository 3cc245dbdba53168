/*
 * test_repl_faults.c - a real replica (orderstore-node) against a fake primary in this
 * process, which answers the replica's REPL_PULL frames with broken batches:
 *
 *   pull 1 ─▶ entries LSN 1 and 3 (a gap)          replica drops the batch, logs it
 *   pull 2 ─▶ a reply cut in the middle of an entry replica drops it, logs it
 *   pull 3 ─▶ entries LSN 1 and 2                   applied
 *   pull 4 ─▶ from_lsn must now be 2                 (acks are cumulative)
 *
 * The fake records every pull's from_lsn: a pull after a refused batch must still ask
 * from LSN 0, so nothing of a broken frame was stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "buf.h"
#include "harness.h"
#include "map.h"
#include "slot.h"
#include "util.h"
#include "wire.h"

#define MAX_PULLS 64

typedef struct fake {
	nng_socket sock;
	nng_thread *thr;
	nng_mtx *mtx;
	int npulls;
	uint64_t from[MAX_PULLS];
} fake;

static void put_entry(os_buf *b, uint64_t lsn, const char *id, const char *val)
{
	uint8_t key[OS_KEY_MAX];
	size_t klen = os_key_make(key, os_slot_of(id, strlen(id)), id, strlen(id));
	os_log_entry e = {.lsn = lsn, .epoch = 1, .op = OSTORE_OP_PUT, .key = key,
	                  .key_len = (uint16_t)klen, .value = (const uint8_t *)val,
	                  .value_len = (uint32_t)strlen(val)};
	assert_int_equal(os_log_entry_put(b, &e), OSTORE_OK);
}

static void fake_loop(void *arg)
{
	fake *f = arg;
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(f->sock, &m, 0) != 0)
			return; /* closed */
		os_hdr h;
		const uint8_t *body;
		size_t blen;
		os_pull_req q;
		os_buf b;
		os_buf_init(&b);
		if (os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &blen) != OSTORE_OK ||
		    h.kind != OS_KIND_REPL_PULL || os_pull_req_get(body, blen, &q) != OSTORE_OK) {
			os_reply_status(&b, h.kind, OSTORE_EBADOP, 1, 0);
		} else {
			nng_mtx_lock(f->mtx);
			int n = f->npulls < MAX_PULLS ? f->npulls++ : MAX_PULLS;
			if (n < MAX_PULLS)
				f->from[n] = q.from_lsn;
			nng_mtx_unlock(f->mtx);
			uint16_t count = n <= 2 ? 2 : 0;
			os_hdr rh = {.kind = OS_KIND_REPL_PULL | OS_REPLY_BIT, .count = count, .epoch = 1,
			             .client_id = h.client_id};
			os_hdr_put(&b, &rh);
			os_pull_reply_head_put(&b, 2, 1);
			if (n == 0) { /* a gap: 1 then 3 */
				put_entry(&b, 1, "gap-1", "one");
				put_entry(&b, 3, "gap-3", "three");
			} else if (n == 1) { /* cut inside the second entry */
				put_entry(&b, 1, "cut-1", "one");
				put_entry(&b, 2, "cut-2", "two-two-two");
				b.len -= 5;
			} else if (n == 2) {
				put_entry(&b, 1, "ok-1", "one");
				put_entry(&b, 2, "ok-2", "two");
			} else {
				nng_msleep(50); /* an empty heartbeat, as a primary's long-poll */
			}
		}
		nng_msg_clear(m);
		nng_msg_append(m, b.data, b.len);
		os_buf_fini(&b);
		if (nng_sendmsg(f->sock, m, 0) != 0)
			nng_msg_free(m);
	}
}

static void test_gap_and_corrupt_frames_refused(void **state)
{
	(void)state;
	fake f = {0};
	char *dir = th_tmpdir("repl-faults");
	char url0[64], url1[64], map_path[600], data[600], log[600];
	snprintf(url0, sizeof(url0), "%s", th_url(th_free_port()));
	snprintf(url1, sizeof(url1), "%s", th_url(th_free_port()));
	snprintf(map_path, sizeof(map_path), "%s/map.json", dir);
	snprintf(data, sizeof(data), "%s/node-1", dir);
	snprintf(log, sizeof(log), "%s/node-1.log", dir);
	os_map *m = os_map_new();
	assert_non_null(m);
	m->epoch = 1;
	m->cluster_id = 0xFA4EFA4EFA4EFA4Eull;
	assert_int_equal(os_map_add_node(m, 0, url0), OSTORE_OK);
	assert_int_equal(os_map_add_node(m, 1, url1), OSTORE_OK);
	uint16_t rep = 1;
	assert_int_equal(os_map_add_shard(m, 0, 0, &rep, 1), OSTORE_OK);
	char err[256];
	assert_int_equal(os_map_save_file(m, map_path, err, sizeof(err)), OSTORE_OK);
	os_map_unref(m);

	assert_int_equal(nng_mtx_alloc(&f.mtx), 0);
	assert_int_equal(nng_rep0_open(&f.sock), 0);
	assert_int_equal(nng_socket_set_size(f.sock, NNG_OPT_RECVMAXSZ, 1u << 20), 0);
	assert_int_equal(nng_listen(f.sock, url0, NULL, 0), 0);
	assert_int_equal(nng_thread_create(&f.thr, fake_loop, &f), 0);

	const char *argv[] = {th_bin("node"), "--id", "1", "--listen", url1, "--data", data,
	                      "--map", map_path, "--no-sync", "--heartbeat-timeout-ms", "600", NULL};
	pid_t pid = th_spawn(argv, log);
	uint64_t t0 = os_now_ns();
	int n = 0;
	while (n < 5 && os_now_ns() - t0 < 20000000000ull) {
		nng_msleep(50);
		nng_mtx_lock(f.mtx);
		n = f.npulls;
		nng_mtx_unlock(f.mtx);
	}
	th_kill(pid, 9);
	th_wait_exit(pid, 5000);
	nng_close(f.sock);
	nng_thread_destroy(f.thr);
	nng_mtx_free(f.mtx);
	assert_true(n >= 5);
	/* after the gap and after the cut frame the replica still asks from LSN 0 */
	assert_int_equal(f.from[0], 0);
	assert_int_equal(f.from[1], 0);
	assert_int_equal(f.from[2], 0);
	/* the good batch was applied and acked */
	assert_int_equal(f.from[3], 2);
	char *text = NULL;
	size_t tlen = 0;
	const char *cat[] = {"/bin/cat", log, NULL};
	assert_int_equal(th_run(cat, NULL, 0, &text, &tlen, NULL, 5000), 0);
	assert_non_null(strstr(text, "LSN gap"));
	assert_non_null(strstr(text, "corrupt pull reply"));
	free(text);
	th_cleanup();
	th_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_gap_and_corrupt_frames_refused),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	th_cleanup();
	return failed ? 1 : 0;
}
