/*
 * netsec.c - TLS set-up and credential checks shared by every part (netsec.h).
 *
 * The TLS configurations are built once per process and handed to each dialer and
 * listener before it starts (nng_dialer_create / set NNG_OPT_TLS_CONFIG / start), the
 * only way to give a tls+tcp:// endpoint its own configuration in nng 1.5.2. Both sides
 * authenticate: a listener requires a client certificate signed by the CA
 * (NNG_TLS_AUTH_MODE_REQUIRED), a dialer verifies the server's certificate against the CA
 * and the host name of the URL. nng 1.5.2 cannot check a peer's name beyond that, so
 * "signed by the cluster's CA" is what a TLS peer proves; the tokens say what it may do.
 *
 * Tokens are kept zero-padded in fixed OS_TOKEN_MAX-byte arrays and compared over the
 * whole array, so a comparison takes the same time whatever bytes differ.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "netsec.h"
#include "util.h"

typedef struct os_token {
	uint8_t b[OS_TOKEN_MAX];
	size_t len; /* 0 = none */
} os_token;

struct os_netsec {
	nng_tls_config *server; /* NULL without TLS */
	nng_tls_config *client;
	os_token client_tok, admin_tok, send_tok;
};

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, fmt, a, b);
}

static int token_check(const char *what, const char *t, size_t n, char *err, size_t errlen)
{
	if (n == 0) {
		set_err(err, errlen, "%s: the token is empty%s", what, "");
		return OSTORE_EINVAL;
	}
	if (n > OS_TOKEN_MAX) {
		char max[16];
		snprintf(max, sizeof(max), "%u", (unsigned)OS_TOKEN_MAX);
		set_err(err, errlen, "%s: the token is longer than %s bytes", what, max);
		return OSTORE_EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e) {
			set_err(err, errlen, "%s: the token may hold printable ASCII only, without "
			                     "spaces%s", what, "");
			return OSTORE_EINVAL;
		}
	return OSTORE_OK;
}

int os_token_read(const char *path, char *buf, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		set_err(err, errlen, "token file %s: %s", path, strerror(errno));
		return OSTORE_EINVAL;
	}
	char tmp[OS_TOKEN_MAX + 3];
	size_t n = fread(tmp, 1, sizeof(tmp), f);
	bool bad = ferror(f) != 0;
	fclose(f);
	if (bad) {
		set_err(err, errlen, "token file %s: %s", path, "read error");
		return OSTORE_EINVAL;
	}
	if (n > 0 && tmp[n - 1] == '\n')
		n--;
	if (n > 0 && tmp[n - 1] == '\r')
		n--;
	char what[300];
	snprintf(what, sizeof(what), "token file %s", path);
	int st = token_check(what, tmp, n, err, errlen);
	if (st != OSTORE_OK)
		return st;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	*len = n;
	return OSTORE_OK;
}

static int token_load(const char *path, os_token *t, char *err, size_t errlen)
{
	char buf[OS_TOKEN_MAX + 1];
	size_t n = 0;
	if (path == NULL)
		return OSTORE_OK;
	int st = os_token_read(path, buf, &n, err, errlen);
	if (st == OSTORE_OK) {
		memcpy(t->b, buf, n);
		t->len = n;
	}
	return st;
}

/* Reads a whole PEM file into a NUL-terminated heap string (mbedTLS wants the NUL). */
static char *pem_read(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		char w[300];
		snprintf(w, sizeof(w), "%s %s", what, path);
		set_err(err, errlen, "%s: %s", w, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	if (buf != NULL) {
		n = fread(buf, 1, cap, f);
		buf[n] = '\0';
	}
	bool bad = buf == NULL || ferror(f) || n == 0 || n == cap;
	fclose(f);
	if (bad) {
		set_err(err, errlen, "%s %s: unreadable, empty or over 64 KiB", what, path);
		free(buf);
		return NULL;
	}
	return buf;
}

static int tls_config(const os_netsec_opts *o, nng_tls_mode mode, nng_tls_config **out,
                      char *err, size_t errlen)
{
	char *cert = pem_read(o->tls_cert, "--tls-cert", err, errlen);
	char *key = cert != NULL ? pem_read(o->tls_key, "--tls-key", err, errlen) : NULL;
	if (cert == NULL || key == NULL) {
		free(cert);
		return OSTORE_EINVAL;
	}
	nng_tls_config *c = NULL;
	int rv = nng_tls_config_alloc(&c, mode);
	const char *step = "allocate";
	if (rv == 0 && (rv = nng_tls_config_own_cert(c, cert, key, NULL)) != 0)
		step = "load --tls-cert/--tls-key (PEM certificate and its unencrypted key)";
	else if (rv == 0 && (rv = nng_tls_config_ca_file(c, o->tls_ca)) != 0)
		step = "load --tls-ca (PEM CA certificate)";
	else if (rv == 0 &&
	         (rv = nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
		step = "require peer certificates";
	/* Keys stay in mbedTLS's copy only. */
	memset(key, 0, strlen(key));
	free(key);
	free(cert);
	if (rv != 0) {
		set_err(err, errlen, "TLS: cannot %s: %s", step, nng_strerror(rv));
		if (c != NULL)
			nng_tls_config_free(c);
		return rv == NNG_ENOMEM ? OSTORE_ENOMEM : OSTORE_EINVAL;
	}
	*out = c;
	return OSTORE_OK;
}

int os_netsec_create(const os_netsec_opts *o, os_netsec **out, char *err, size_t errlen)
{
	*out = NULL;
	int ntls = (o->tls_cert != NULL) + (o->tls_key != NULL) + (o->tls_ca != NULL);
	if (ntls != 0 && ntls != 3) {
		set_err(err, errlen, "TLS needs all of --tls-cert, --tls-key and --tls-ca%s%s", "", "");
		return OSTORE_EINVAL;
	}
	if (o->send_token_file != NULL && o->send_token != NULL) {
		set_err(err, errlen, "a token file and a token string were both given%s%s", "", "");
		return OSTORE_EINVAL;
	}
	if (ntls == 0 && o->client_token_file == NULL && o->admin_token_file == NULL &&
	    o->send_token_file == NULL && o->send_token == NULL)
		return OSTORE_OK;
	os_netsec *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return OSTORE_ENOMEM;
	int st = token_load(o->client_token_file, &s->client_tok, err, errlen);
	if (st == OSTORE_OK)
		st = token_load(o->admin_token_file, &s->admin_tok, err, errlen);
	if (st == OSTORE_OK)
		st = token_load(o->send_token_file, &s->send_tok, err, errlen);
	if (st == OSTORE_OK && o->send_token != NULL) {
		size_t n = strlen(o->send_token);
		st = token_check("token", o->send_token, n, err, errlen);
		if (st == OSTORE_OK) {
			memcpy(s->send_tok.b, o->send_token, n);
			s->send_tok.len = n;
		}
	}
	if (st == OSTORE_OK && ntls == 3) {
		st = tls_config(o, NNG_TLS_MODE_SERVER, &s->server, err, errlen);
		if (st == OSTORE_OK)
			st = tls_config(o, NNG_TLS_MODE_CLIENT, &s->client, err, errlen);
	}
	if (st != OSTORE_OK) {
		os_netsec_destroy(s);
		return st;
	}
	*out = s;
	return OSTORE_OK;
}

void os_netsec_destroy(os_netsec *s)
{
	if (s == NULL)
		return;
	if (s->server != NULL)
		nng_tls_config_free(s->server);
	if (s->client != NULL)
		nng_tls_config_free(s->client);
	memset(s, 0, sizeof(*s));
	free(s);
}

bool os_netsec_tls(const os_netsec *s)
{
	return s != NULL && s->server != NULL;
}

bool os_netsec_auth(const os_netsec *s)
{
	return s != NULL && (s->client_tok.len > 0 || s->admin_tok.len > 0);
}

static bool url_is_tls(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

static int net_err(int rv)
{
	if (rv == NNG_ENOMEM)
		return OSTORE_ENOMEM;
	return OSTORE_ECONNECT;
}

int os_net_dial(nng_socket sock, const char *url, const os_netsec *s, int flags)
{
	bool tls = url_is_tls(url);
	if (tls && !os_netsec_tls(s))
		return OSTORE_EINVAL;
	nng_dialer d;
	int rv = nng_dialer_create(&d, sock, url);
	if (rv != 0)
		return net_err(rv);
	if (tls && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, s->client)) != 0) {
		nng_dialer_close(d);
		return net_err(rv);
	}
	if ((rv = nng_dialer_start(d, flags)) != 0) {
		nng_dialer_close(d);
		return net_err(rv);
	}
	return OSTORE_OK;
}

int os_net_listen(nng_socket sock, const char *url, const os_netsec *s, nng_listener *l)
{
	bool tls = url_is_tls(url);
	if (tls && !os_netsec_tls(s))
		return OSTORE_EINVAL;
	nng_listener lst;
	int rv = nng_listener_create(&lst, sock, url);
	if (rv != 0)
		return net_err(rv);
	if (tls && (rv = nng_listener_set_ptr(lst, NNG_OPT_TLS_CONFIG, s->server)) != 0) {
		nng_listener_close(lst);
		return net_err(rv);
	}
	if ((rv = nng_listener_start(lst, 0)) != 0) {
		nng_listener_close(lst);
		return net_err(rv);
	}
	if (l != NULL)
		*l = lst;
	return OSTORE_OK;
}

void os_netsec_cred(const os_netsec *s, os_hdr *h)
{
	if (s == NULL || s->send_tok.len == 0) {
		h->cred = NULL;
		h->cred_len = 0;
		return;
	}
	h->cred = s->send_tok.b;
	h->cred_len = (uint8_t)s->send_tok.len;
}

int os_netsec_stamp(const os_netsec *s, nng_msg *m)
{
	if (s == NULL || s->send_tok.len == 0)
		return OSTORE_OK;
	os_hdr h;
	const uint8_t *rest;
	size_t rest_len;
	size_t len = nng_msg_len(m);
	int st = os_hdr_get(nng_msg_body(m), len, &h, &rest, &rest_len);
	if (st != OSTORE_OK)
		return st;
	os_netsec_cred(s, &h);
	os_buf b;
	os_buf_init(&b);
	st = os_hdr_put(&b, &h);
	if (st == OSTORE_OK && (nng_msg_trim(m, len - rest_len) != 0 ||
	                        nng_msg_insert(m, b.data, b.len) != 0))
		st = OSTORE_ENOMEM;
	os_buf_fini(&b);
	return st;
}

bool os_kind_is_admin(uint8_t kind)
{
	switch (kind) {
	case OS_KIND_DATA:
	case OS_KIND_SCAN:
	case OS_KIND_STATS:
	case OS_KIND_MAP_GET:
	case OS_KIND_PING:
	case OS_KIND_TOP:
		return false;
	default:
		return true;
	}
}

/* Constant time over the whole array: the running time does not depend on the bytes. */
static bool token_equal(const os_token *t, const uint8_t *cred, size_t len)
{
	uint8_t pad[OS_TOKEN_MAX] = {0};
	memcpy(pad, cred, len <= OS_TOKEN_MAX ? len : OS_TOKEN_MAX);
	volatile uint8_t diff = (uint8_t)(t->len != len);
	for (size_t i = 0; i < OS_TOKEN_MAX; i++)
		diff |= (uint8_t)(pad[i] ^ t->b[i]);
	return t->len > 0 && diff == 0;
}

int os_netsec_check(const os_netsec *s, const os_hdr *h)
{
	if (!os_netsec_auth(s))
		return OSTORE_OK;
	if ((h->flags & OS_HDR_F_AUTH) == 0 || h->cred == NULL || h->cred_len == 0)
		return OSTORE_EAUTH;
	bool admin = token_equal(&s->admin_tok, h->cred, h->cred_len);
	bool client = token_equal(&s->client_tok, h->cred, h->cred_len);
	if (admin)
		return OSTORE_OK;
	if (!client)
		return OSTORE_EAUTH;
	return os_kind_is_admin(h->kind) ? OSTORE_EFORBIDDEN : OSTORE_OK;
}
