/*
 * test_e2e.c - the core's end-to-end guarantees, driven through real processes on
 * loopback: two orderstore-node processes and one orderstore-router (th_cluster), with
 * liborderstore as the client and hand-made frames where a test must control the bytes
 * (a retried request ID, broken input).
 *
 *   write, read back, overwrite, delete, compare-and-set conflict;
 *   a retried write (same request ID, sent twice through the router) is applied once and
 *   answers with its first result, also when the retry carries other bytes;
 *   bad input (empty / 257-byte ID, value over the limit, garbage, truncated frame,
 *   unknown kind and op) gets its error code, and nothing stored earlier changes;
 *   a node that is down is answered "unavailable" within the router's timeout, the other
 *   shard keeps working, and the node's acknowledged data is there after its restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <orderstore.h>

#include "harness.h"
#include "map.h"
#include "ostore_build.h"
#include "slot.h"
#include "util.h"
#include "wire.h"

#define ROUTER_TIMEOUT_MS 500u
#define CLIENT_TIMEOUT_MS 3000u

static th_cluster K;
static ostore_client *C;
static os_map *M;

static int setup(void **state)
{
	(void)state;
	th_cluster_start(&K, 2, "e2e", ROUTER_TIMEOUT_MS);
	char err[256];
	if (os_map_load_file(K.map_path, &M, err, sizeof(err)) != OSTORE_OK)
		return -1;
	ostore_options o;
	ostore_options_init(&o);
	const char *r = K.router_url;
	o.routers = &r;
	o.nrouters = 1;
	o.timeout_ms = CLIENT_TIMEOUT_MS;
	o.retries = 0;
	return ostore_open(&o, &C) == OSTORE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ostore_close(C);
	os_map_unref(M);
	th_cluster_stop(&K);
	return 0;
}

static int shard_of(const char *id)
{
	return M->slot_shard[os_slot_of(id, strlen(id))];
}

/* An ID of the form "<prefix>-N" that lands on @shard. */
static void id_on_shard(char *out, size_t outlen, const char *prefix, int shard)
{
	for (int i = 0;; i++) {
		snprintf(out, outlen, "%s-%d", prefix, i);
		if (shard_of(out) == shard)
			return;
	}
}

static void check_value(const char *id, const char *want, uint64_t want_version)
{
	void *val = NULL;
	size_t len = 0;
	uint64_t ver = 0;
	assert_int_equal(ostore_get(C, id, strlen(id), &val, &len, &ver), OSTORE_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(val, want, len);
	if (want_version != 0)
		assert_int_equal(ver, want_version);
	ostore_free(val);
}

static uint64_t total_lsn(void)
{
	ostore_cluster_stats *s = NULL;
	assert_int_equal(ostore_stats(C, &s), OSTORE_OK);
	uint64_t sum = 0;
	for (size_t i = 0; i < s->nshards; i++) {
		assert_int_equal(s->shards[i].status, OSTORE_OK);
		sum += s->shards[i].lsn;
	}
	ostore_stats_free(s);
	return sum;
}

/* Send one hand-made frame to the router; returns the reply header (and frees it). */
static os_hdr raw(const void *frame, size_t len, os_result *res, size_t nres)
{
	void *reply = NULL;
	size_t rlen = 0;
	assert_int_equal(th_request(K.router_url, frame, len, &reply, &rlen, 5000), 0);
	os_hdr h;
	const uint8_t *body;
	size_t blen;
	assert_int_equal(os_hdr_get(reply, rlen, &h, &body, &blen), OSTORE_OK);
	assert_true(h.kind & OS_REPLY_BIT);
	if (res != NULL && h.status == OSTORE_OK) {
		assert_int_equal(h.count, nres);
		assert_int_equal(os_results_get(body, blen, h.count, res), OSTORE_OK);
		res[0].value = NULL; /* points into the freed reply */
	}
	free(reply);
	return h;
}

static void frame_one(os_buf *b, uint64_t client_id, const os_item *it)
{
	os_buf_reset(b);
	os_hdr h = {.kind = OS_KIND_DATA, .count = 1, .client_id = client_id};
	assert_int_equal(os_hdr_put(b, &h), OSTORE_OK);
	assert_int_equal(os_item_put(b, it), OSTORE_OK);
}

static void test_write_read_overwrite_delete_cas(void **state)
{
	(void)state;
	uint64_t v1, v2, v3;
	assert_int_equal(ostore_put(C, "o-100", 5, "placed", 6, &v1), OSTORE_OK);
	check_value("o-100", "placed", v1);
	assert_int_equal(ostore_put(C, "o-100", 5, "paid", 4, &v2), OSTORE_OK);
	assert_true(v2 > v1);
	check_value("o-100", "paid", v2);
	/* compare-and-set: a stale version conflicts and changes nothing */
	assert_int_equal(ostore_cas(C, "o-100", 5, v1, "shipped", 7, NULL), OSTORE_ECONFLICT);
	check_value("o-100", "paid", v2);
	assert_int_equal(ostore_cas(C, "o-100", 5, v2, "shipped", 7, &v3), OSTORE_OK);
	assert_true(v3 > v2);
	check_value("o-100", "shipped", v3);
	/* create-only CAS on an existing order conflicts */
	assert_int_equal(ostore_cas(C, "o-100", 5, 0, "x", 1, NULL), OSTORE_ECONFLICT);
	assert_int_equal(ostore_del(C, "o-100", 5), OSTORE_OK);
	assert_int_equal(ostore_get(C, "o-100", 5, NULL, NULL, NULL), OSTORE_ENOTFOUND);
	/* IDs are bytes: NUL and 0xFF are legal and come back exactly */
	const char odd[] = {'\0', 'o', (char)0xff, '\x01'};
	void *val;
	size_t len;
	assert_int_equal(ostore_put(C, odd, sizeof(odd), "odd", 3, NULL), OSTORE_OK);
	assert_int_equal(ostore_get(C, odd, sizeof(odd), &val, &len, NULL), OSTORE_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(val, "odd", 3);
	ostore_free(val);
}

static void test_retried_write_applied_once(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	const uint64_t client_id = os_random_u64();
	os_item put = {.op = OSTORE_OP_PUT, .seq = 42, .id = (const uint8_t *)"retry-1",
	               .id_len = 7, .value = (const uint8_t *)"first", .value_len = 5};
	uint64_t lsn0 = total_lsn();
	os_result r1, r2, r3;
	frame_one(&b, client_id, &put);
	assert_int_equal(raw(b.data, b.len, &r1, 1).status, OSTORE_OK);
	assert_int_equal(r1.status, OSTORE_OK);
	/* the same request again (as a REQ socket resends it): same answer, not applied */
	assert_int_equal(raw(b.data, b.len, &r2, 1).status, OSTORE_OK);
	assert_int_equal(r2.status, OSTORE_OK);
	assert_int_equal(r2.version, r1.version);
	assert_int_equal(total_lsn(), lsn0 + 1);
	/* a retry that carries other bytes under the same request ID answers the first result */
	put.value = (const uint8_t *)"second";
	put.value_len = 6;
	frame_one(&b, client_id, &put);
	assert_int_equal(raw(b.data, b.len, &r3, 1).status, OSTORE_OK);
	assert_int_equal(r3.version, r1.version);
	check_value("retry-1", "first", r1.version);
	assert_int_equal(total_lsn(), lsn0 + 1);
	/* a retried compare-and-set succeeds once and does not turn into a conflict */
	os_item cas = {.op = OSTORE_OP_CAS, .seq = 43, .expected = r1.version,
	               .id = (const uint8_t *)"retry-1", .id_len = 7,
	               .value = (const uint8_t *)"cas", .value_len = 3};
	frame_one(&b, client_id, &cas);
	assert_int_equal(raw(b.data, b.len, &r1, 1).status, OSTORE_OK);
	assert_int_equal(r1.status, OSTORE_OK);
	assert_int_equal(raw(b.data, b.len, &r2, 1).status, OSTORE_OK);
	assert_int_equal(r2.status, OSTORE_OK);
	assert_int_equal(r2.version, r1.version);
	check_value("retry-1", "cas", r1.version);
	assert_int_equal(total_lsn(), lsn0 + 2);
	os_buf_fini(&b);
}

static void test_bad_input_keeps_data(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(ostore_put(C, "keep-me", 7, "precious", 8, &v), OSTORE_OK);
	os_buf b;
	os_buf_init(&b);
	uint8_t long_id[257];
	memset(long_id, 'x', sizeof(long_id));
	size_t big_len = OSTORE_DEFAULT_MAX_VALUE + 1;
	uint8_t *big = calloc(1, big_len);
	assert_non_null(big);
	struct {
		os_item it;
		uint16_t want;
	} cases[] = {
	        {{.op = OSTORE_OP_PUT, .seq = 1, .id = long_id, .id_len = 0}, OSTORE_EBADID},
	        {{.op = OSTORE_OP_PUT, .seq = 2, .id = long_id, .id_len = 257}, OSTORE_EBADID},
	        {{.op = OSTORE_OP_PUT, .seq = 3, .id = (const uint8_t *)"keep-me", .id_len = 7,
	          .value = big, .value_len = (uint32_t)big_len},
	         OSTORE_ETOOBIG},
	        {{.op = 9, .seq = 4, .id = (const uint8_t *)"keep-me", .id_len = 7}, OSTORE_EBADOP},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		frame_one(&b, 7, &cases[i].it);
		os_hdr h = raw(b.data, b.len, NULL, 0);
		assert_int_equal(h.status, cases[i].want);
		assert_int_equal(h.count, 0);
	}
	/* a valid frame cut short at every length of its item part */
	os_item ok = {.op = OSTORE_OP_PUT, .seq = 5, .id = (const uint8_t *)"keep-me", .id_len = 7,
	              .value = (const uint8_t *)"garbage!", .value_len = 8};
	frame_one(&b, 7, &ok);
	for (size_t cut = OS_HDR_SIZE; cut < b.len; cut += 3)
		assert_int_equal(raw(b.data, cut, NULL, 0).status, OSTORE_EPROTO);
	/* an unknown frame kind */
	b.data[3] = 0x3F;
	assert_int_equal(raw(b.data, b.len, NULL, 0).status, OSTORE_EBADOP);
	/* random bytes */
	uint8_t junk[300];
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		junk[i] = (uint8_t)x;
	}
	assert_int_not_equal(raw(junk, sizeof(junk), NULL, 0).status, OSTORE_OK);
	/* the processes are up and the order is untouched */
	assert_int_equal(th_ping(K.router_url, 2000), 0);
	for (int i = 0; i < K.nshards; i++)
		assert_int_equal(th_ping(K.node_url[i], 2000), 0);
	check_value("keep-me", "precious", v);
	free(big);
	os_buf_fini(&b);
}

static void test_node_down_is_unavailable(void **state)
{
	(void)state;
	char on0[32], on1[32];
	id_on_shard(on0, sizeof(on0), "down", 0);
	id_on_shard(on1, sizeof(on1), "down", 1);
	uint64_t v1;
	assert_int_equal(ostore_put(C, on1, strlen(on1), "acked", 5, &v1), OSTORE_OK);
	th_kill(K.node_pid[1], 9);
	assert_true(th_wait_exit(K.node_pid[1], 5000) != -1);
	uint64_t t0 = os_now_ns();
	assert_int_equal(ostore_put(C, on1, strlen(on1), "lost?", 5, NULL), OSTORE_EUNAVAIL);
	assert_int_equal(ostore_get(C, on1, strlen(on1), NULL, NULL, NULL), OSTORE_EUNAVAIL);
	uint64_t ms = (os_now_ns() - t0) / 1000000u;
	assert_true(ms < 2 * (ROUTER_TIMEOUT_MS + 500u)); /* two calls, each bounded */
	/* the other shard is not affected */
	assert_int_equal(ostore_put(C, on0, strlen(on0), "fine", 4, NULL), OSTORE_OK);
	check_value(on0, "fine", 0);
	/* the restarted node still has what it acknowledged; the router redials the node
	 * on nng's reconnect timer and, having found it stalled, answers EUNAVAIL at once
	 * until it answers a PING again (docs/overload.md): allow it a few seconds */
	th_cluster_start_node(&K, 1);
	ostore_status st = OSTORE_EUNAVAIL;
	for (int i = 0; i < 100 && st == OSTORE_EUNAVAIL; i++) {
		st = ostore_get(C, on1, strlen(on1), NULL, NULL, NULL);
		if (st == OSTORE_EUNAVAIL)
			usleep(100000);
	}
	assert_int_equal(st, OSTORE_OK);
	check_value(on1, "acked", v1);
}

/* Every process (node, router, and this one through liborderstore) runs the nng of
 * tools/build-nng: its task thread count, not nng's default of twice the CPU count
 * (bench/README: with more task threads than cores the get path spent its CPU waking
 * them). */
static void test_nng_task_threads(void **state)
{
	(void)state;
	if (OSTORE_NNG_TASKQ_THREADS == 0)
		skip(); /* built against the system's nng (-Dnng_prefix=) */
	assert_int_equal(os_nng_task_threads(0), OSTORE_NNG_TASKQ_THREADS);
	assert_int_equal(os_nng_task_threads(K.router_pid), OSTORE_NNG_TASKQ_THREADS);
	for (int i = 0; i < 2; i++)
		assert_int_equal(os_nng_task_threads(K.node_pid[i]), OSTORE_NNG_TASKQ_THREADS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_write_read_overwrite_delete_cas),
	        cmocka_unit_test(test_retried_write_applied_once),
	        cmocka_unit_test(test_bad_input_keeps_data),
	        cmocka_unit_test(test_nng_task_threads),
	        cmocka_unit_test(test_node_down_is_unavailable),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	return failed ? 1 : 0;
}
