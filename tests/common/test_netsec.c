/*
 * test_netsec.c - credentials in the frame header (encode, decode, refusal of broken
 * credential fields, exact-size copies so ASan sees any overread), token files, the role
 * check of common/netsec.c, and TLS option checks (tls+tcp:// without TLS files).
 * TLS links themselves are tested end to end by tests/security.
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
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "netsec.h"
#include "wire.h"

static const char kAdmin[] = "admin-0123456789abcdef";
static const char kClient[] = "client-0123456789abcdef";

static void test_cred_roundtrip(void **state)
{
	(void)state;
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_DATA, .count = 1, .client_id = 7,
	            .flags = OS_HDR_F_BOUNDED_READ, .cred = (const uint8_t *)kAdmin,
	            .cred_len = (uint8_t)strlen(kAdmin)};
	assert_int_equal(os_hdr_put(&b, &h), OSTORE_OK);
	os_buf_put(&b, "body", 4);
	assert_int_equal(b.len, OS_HDR_SIZE + 1 + strlen(kAdmin) + 4);
	assert_int_equal(b.data[28], OS_HDR_F_BOUNDED_READ | OS_HDR_F_AUTH);
	os_hdr g;
	const uint8_t *rest;
	size_t rest_len;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, &rest, &rest_len), OSTORE_OK);
	assert_int_equal(g.cred_len, strlen(kAdmin));
	assert_memory_equal(g.cred, kAdmin, strlen(kAdmin));
	assert_int_equal(rest_len, 4);
	assert_memory_equal(rest, "body", 4);
	/* Every prefix that cuts the credential is refused, without reading past it. */
	for (size_t n = OS_HDR_SIZE; n < OS_HDR_SIZE + 1 + strlen(kAdmin); n++) {
		uint8_t *c = malloc(n);
		assert_non_null(c);
		memcpy(c, b.data, n);
		assert_int_equal(os_hdr_get(c, n, &g, &rest, &rest_len), OSTORE_EPROTO);
		free(c);
	}
	/* Length 0 and lengths over OS_CRED_MAX are refused. */
	b.data[OS_HDR_SIZE] = 0;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, NULL), OSTORE_EPROTO);
	b.data[OS_HDR_SIZE] = OS_CRED_MAX + 1;
	assert_int_equal(os_hdr_get(b.data, b.len, &g, NULL, NULL), OSTORE_EPROTO);
	os_buf_fini(&b);
	/* Without a credential the flag is cleared, even if the caller's flags had it. */
	os_buf_init(&b);
	os_hdr p = {.kind = OS_KIND_PING, .flags = OS_HDR_F_AUTH};
	assert_int_equal(os_hdr_put(&b, &p), OSTORE_OK);
	assert_int_equal(b.len, OS_HDR_SIZE);
	assert_int_equal(b.data[28], 0);
	os_buf_fini(&b);
}

static char *write_file(const char *text)
{
	char *path = strdup("/tmp/ostore-test-token-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_token_files(void **state)
{
	(void)state;
	char buf[OS_TOKEN_MAX + 1], err[512];
	size_t len = 0;
	char *ok = write_file("abc-123\n");
	assert_int_equal(os_token_read(ok, buf, &len, err, sizeof(err)), OSTORE_OK);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "abc-123");
	char long_tok[OS_TOKEN_MAX + 3];
	memset(long_tok, 'x', OS_TOKEN_MAX + 1);
	long_tok[OS_TOKEN_MAX + 1] = '\0';
	const char *bad[] = {"", "\n", "two words\n", long_tok, "tab\there"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *p = write_file(bad[i]);
		err[0] = '\0';
		assert_int_equal(os_token_read(p, buf, &len, err, sizeof(err)), OSTORE_EINVAL);
		assert_non_null(strstr(err, p)); /* the message names the file */
		unlink(p);
		free(p);
	}
	assert_int_equal(os_token_read("/nonexistent/token", buf, &len, err, sizeof(err)),
	                 OSTORE_EINVAL);
	assert_non_null(strstr(err, "/nonexistent/token"));
	unlink(ok);
	free(ok);
}

static int check_with(const os_netsec *s, uint8_t kind, const char *cred)
{
	os_hdr h = {.kind = kind};
	if (cred != NULL) {
		h.flags = OS_HDR_F_AUTH;
		h.cred = (const uint8_t *)cred;
		h.cred_len = (uint8_t)strlen(cred);
	}
	return os_netsec_check(s, &h);
}

static void test_roles(void **state)
{
	(void)state;
	char *cf = write_file(kClient), *af = write_file(kAdmin);
	os_netsec_opts o = {.client_token_file = cf, .admin_token_file = af};
	os_netsec *s = NULL;
	char err[256];
	assert_int_equal(os_netsec_create(&o, &s, err, sizeof(err)), OSTORE_OK);
	assert_non_null(s);
	assert_true(os_netsec_auth(s));
	assert_false(os_netsec_tls(s));
	static const uint8_t data_kinds[] = {OS_KIND_DATA, OS_KIND_SCAN, OS_KIND_STATS,
	                                     OS_KIND_MAP_GET, OS_KIND_PING, OS_KIND_TOP};
	static const uint8_t admin_kinds[] = {OS_KIND_MAP_SET, OS_KIND_REPL_PULL, OS_KIND_SNAP,
	                                      OS_KIND_CHECKSUM, OS_KIND_MIG_SNAP, OS_KIND_MIG_LOG,
	                                      OS_KIND_MIG_FREEZE, OS_KIND_MIG_APPLY,
	                                      OS_KIND_MIG_PURGE, OS_KIND_MIG_LEASE};
	for (size_t i = 0; i < sizeof(data_kinds); i++) {
		assert_int_equal(check_with(s, data_kinds[i], NULL), OSTORE_EAUTH);
		assert_int_equal(check_with(s, data_kinds[i], "wrong"), OSTORE_EAUTH);
		assert_int_equal(check_with(s, data_kinds[i], kClient), OSTORE_OK);
		assert_int_equal(check_with(s, data_kinds[i], kAdmin), OSTORE_OK);
	}
	for (size_t i = 0; i < sizeof(admin_kinds); i++) {
		assert_true(os_kind_is_admin(admin_kinds[i]));
		assert_int_equal(check_with(s, admin_kinds[i], NULL), OSTORE_EAUTH);
		assert_int_equal(check_with(s, admin_kinds[i], "client-0123456789abcdeX"), OSTORE_EAUTH);
		assert_int_equal(check_with(s, admin_kinds[i], kClient), OSTORE_EFORBIDDEN);
		assert_int_equal(check_with(s, admin_kinds[i], kAdmin), OSTORE_OK);
	}
	/* A prefix or an extension of a token is not the token. */
	assert_int_equal(check_with(s, OS_KIND_DATA, "admin-0123456789abcde"), OSTORE_EAUTH);
	assert_int_equal(check_with(s, OS_KIND_DATA, "admin-0123456789abcdef0"), OSTORE_EAUTH);
	assert_string_equal(ostore_status_name(OSTORE_EFORBIDDEN), "OSTORE_EFORBIDDEN");
	os_netsec_destroy(s);
	/* No tokens: everything passes, with or without a credential (as before auth). */
	assert_int_equal(check_with(NULL, OS_KIND_MAP_SET, NULL), OSTORE_OK);
	assert_int_equal(check_with(NULL, OS_KIND_DATA, "anything"), OSTORE_OK);
	unlink(cf);
	unlink(af);
	free(cf);
	free(af);
}

static void test_stamp(void **state)
{
	(void)state;
	os_netsec_opts o = {.send_token = kAdmin};
	os_netsec *s = NULL;
	assert_int_equal(os_netsec_create(&o, &s, NULL, 0), OSTORE_OK);
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_DATA, .count = 2, .epoch = 9, .cred = (const uint8_t *)"old",
	            .cred_len = 3};
	os_hdr_put(&b, &h);
	os_buf_put(&b, "items", 5);
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, b.data, b.len), 0);
	assert_int_equal(os_netsec_stamp(s, m), OSTORE_OK);
	os_hdr g;
	const uint8_t *rest;
	size_t rest_len;
	assert_int_equal(os_hdr_get(nng_msg_body(m), nng_msg_len(m), &g, &rest, &rest_len),
	                 OSTORE_OK);
	assert_int_equal(g.count, 2);
	assert_int_equal(g.epoch, 9);
	assert_int_equal(g.cred_len, strlen(kAdmin));
	assert_memory_equal(g.cred, kAdmin, strlen(kAdmin));
	assert_int_equal(rest_len, 5);
	assert_memory_equal(rest, "items", 5);
	nng_msg_free(m);
	os_buf_fini(&b);
	os_netsec_destroy(s);
}

static void test_tls_usage(void **state)
{
	(void)state;
	os_netsec *s = NULL;
	char err[256] = "";
	os_netsec_opts partial = {.tls_cert = "/x/cert.pem"};
	assert_int_equal(os_netsec_create(&partial, &s, err, sizeof(err)), OSTORE_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "--tls-key"));
	os_netsec_opts missing = {.tls_cert = "/nonexistent/c.pem", .tls_key = "/nonexistent/k.pem",
	                          .tls_ca = "/nonexistent/ca.pem"};
	assert_int_equal(os_netsec_create(&missing, &s, err, sizeof(err)), OSTORE_EINVAL);
	assert_non_null(strstr(err, "/nonexistent/c.pem"));
	os_netsec_opts none = {0};
	assert_int_equal(os_netsec_create(&none, &s, err, sizeof(err)), OSTORE_OK);
	assert_null(s);
	nng_socket sock;
	assert_int_equal(nng_rep0_open(&sock), 0);
	assert_int_equal(os_net_listen(sock, "tls+tcp://127.0.0.1:1", NULL, NULL), OSTORE_EINVAL);
	assert_int_equal(os_net_dial(sock, "tls+tcp://127.0.0.1:1", NULL, NNG_FLAG_NONBLOCK),
	                 OSTORE_EINVAL);
	assert_int_equal(os_net_dial(sock, "bogus://x", NULL, NNG_FLAG_NONBLOCK), OSTORE_ECONNECT);
	nng_close(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cred_roundtrip),
		cmocka_unit_test(test_token_files),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_stamp),
		cmocka_unit_test(test_tls_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
