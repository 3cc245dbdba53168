/*
 * netsec.h - transport security and credentials of one process (internal; prefix os_).
 *
 * Every dial and listen of node, router, client library, CLI and bench goes through
 * os_net_dial / os_net_listen with the process's os_netsec, so TLS is set up in one place:
 *
 *   os_netsec_create(opts) ─▶ read token files ─▶ read cert + key + CA ─▶ two nng_tls_configs
 *        │                      (server: own cert, client certs REQUIRED and verified
 *        │                       against the CA; client: own cert, server verified)
 *        ├─▶ os_net_listen(sock, "tls+tcp://...")  listener with the server config
 *        ├─▶ os_net_dial(sock, "tls+tcp://...")    dialer with the client config
 *        ├─▶ os_netsec_cred(sec, &hdr)             the credential this process sends
 *        └─▶ os_netsec_check(sec, &hdr)            who may run this request (server side)
 *
 * Credentials (docs/security.md): a server holds up to two tokens. The admin token
 * permits every frame kind; the client token permits the data kinds (DATA, SCAN,
 * MAP_GET, PING, STATS, TOP) and is answered OSTORE_EFORBIDDEN on the others (MAP_SET,
 * REPL_PULL, SNAP, CHECKSUM, MIG_*). A server with no token accepts every request, as
 * before credentials existed. Tokens are compared in constant time.
 *
 * Thread safety: an os_netsec is immutable after os_netsec_create; every function may
 * be called from any thread, including nng callbacks (none blocks or allocates sockets).
 */
#ifndef OS_NETSEC_H
#define OS_NETSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "wire.h"

/** Longest token accepted from a file or an option, bytes (printable ASCII, no spaces). */
#define OS_TOKEN_MAX OS_CRED_MAX

typedef struct os_netsec os_netsec;

typedef struct os_netsec_opts {
	/* TLS (all three or none): PEM files of this process's certificate, its private key
	 * (unencrypted) and the CA that signed every peer's certificate. */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
	/* Server side: files holding the tokens accepted with the client role and with the
	 * admin role (NULL: that role has no token). */
	const char *client_token_file;
	const char *admin_token_file;
	/* Sending side: the credential put on every request, as a file or as a NUL-terminated
	 * string (at most one of the two; NULL and NULL: requests carry none). */
	const char *send_token_file;
	const char *send_token;
} os_netsec_opts;

/**
 * os_netsec_create - read and check every file of @o and build the TLS configurations.
 * @err/@errlen: on failure, one line naming the file or option and the cause.
 * *out is NULL when @o asks for nothing (no TLS, no token): every other function accepts a
 * NULL os_netsec and then behaves as plain tcp without credentials.
 * Returns OSTORE_OK, OSTORE_EINVAL (only part of the TLS files, unreadable, empty or too
 * long token file, token with spaces or control bytes, a certificate or key nng/mbedTLS
 * refuses), OSTORE_ENOMEM.
 */
int os_netsec_create(const os_netsec_opts *o, os_netsec **out, char *err, size_t errlen);

/** os_netsec_destroy - free @s (NULL is fine). Sockets keep their own hold on the TLS
 *  configurations, so this may run before they close. */
void os_netsec_destroy(os_netsec *s);

/** os_netsec_tls - true when @s carries TLS files. */
bool os_netsec_tls(const os_netsec *s);

/** os_netsec_auth - true when @s is a server that requires credentials. */
bool os_netsec_auth(const os_netsec *s);

/**
 * os_net_dial - dial @url from @sock with nng flags @flags (e.g. NNG_FLAG_NONBLOCK).
 * A tls+tcp:// URL gets the client TLS configuration of @s.
 * Returns OSTORE_OK, OSTORE_EINVAL (a tls+tcp:// URL but @s has no TLS files),
 * OSTORE_ECONNECT (URL nng cannot parse or dial), OSTORE_ENOMEM.
 */
int os_net_dial(nng_socket sock, const char *url, const os_netsec *s, int flags);

/**
 * os_net_listen - listen on @url with @sock; *l (if not NULL) receives the listener.
 * A tls+tcp:// URL gets the server TLS configuration of @s (peers must present a
 * certificate signed by the CA). Returns OSTORE_OK, OSTORE_EINVAL (tls+tcp:// without TLS
 * files), OSTORE_ECONNECT (bad URL, address in use), OSTORE_ENOMEM.
 */
int os_net_listen(nng_socket sock, const char *url, const os_netsec *s, nng_listener *l);

/**
 * os_net_serve - os_net_listen, plus for a tls+tcp:// URL a guard thread that works around
 * nng 1.5.2 bug #1518 (common/netguard.c): every 2 s it sends a PING over a new TLS
 * connection to @url, and after two unanswered probes (5 s each) it logs a warning and
 * replaces the listener. @s and @sock must outlive the result. *out is owned by the
 * caller: free it with os_net_unserve. Returns as os_net_listen.
 */
typedef struct os_net_listener os_net_listener;
int os_net_serve(nng_socket sock, const char *url, const os_netsec *s, os_net_listener **out);

/** os_net_unserve - stop the guard (waits for a probe in progress, at most ~10 s) and close
 *  the listener; frees @l (NULL is fine). Not from an nng callback. */
void os_net_unserve(os_net_listener *l);

/** os_netsec_cred - point h->cred / h->cred_len at the credential @s sends (none when @s
 *  is NULL or sends none). The bytes live as long as @s. Cannot fail. */
void os_netsec_cred(const os_netsec *s, os_hdr *h);

/**
 * os_netsec_stamp - put the credential of @s on the request frame in @m (replacing any
 * credential the frame had). Returns OSTORE_OK (also when @s sends none: @m unchanged),
 * OSTORE_EPROTO (@m is no frame), OSTORE_ENOMEM.
 */
int os_netsec_stamp(const os_netsec *s, nng_msg *m);

/**
 * os_netsec_check - may the request with header @h run here?
 * Returns OSTORE_OK (no tokens configured, admin token, or client token on a data kind),
 * OSTORE_EAUTH (no credential, or one that matches no token), OSTORE_EFORBIDDEN (client
 * token on an admin kind).
 */
int os_netsec_check(const os_netsec *s, const os_hdr *h);

/** os_kind_is_admin - true for the frame kinds that need the admin role. */
bool os_kind_is_admin(uint8_t kind);

/**
 * os_token_read - read a token file into @buf (OS_TOKEN_MAX + 1 bytes), without the
 * trailing newline. Returns OSTORE_OK (*len 1..OS_TOKEN_MAX), or OSTORE_EINVAL with a
 * message in @err (unreadable, empty, too long, spaces or control bytes in the token).
 */
int os_token_read(const char *path, char *buf, size_t *len, char *err, size_t errlen);

#endif /* OS_NETSEC_H */
