/*
 * fake_node.c - in-process stand-in for orderstore-node (see fake_node.h).
 *
 *   router ──REQ──▶ REP socket ──▶ serve thread ──▶ PING / MAP_GET / DATA (by mode)
 *
 * The serve thread owns the dedup table; the knobs (mode and its end) and counters are
 * atomics, and the map is swapped under a mutex, so tests change them while it runs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "fake_node.h"
#include "util.h"
#include "wire.h"

typedef struct fake_seen {
	uint64_t client_id, seq, version;
} fake_seen;

struct fake_node {
	nng_socket sock;
	pthread_t thr;
	pthread_mutex_t mu; /* map */
	os_map *map;
	_Atomic int mode;
	_Atomic uint64_t until_ns; /* mode until then, FAKE_SERVE after */
	_Atomic uint64_t frames, applied, map_gets;
	fake_seen *seen; /* serve thread only */
	size_t nseen, capseen;
	uint64_t lsn;
};

static uint64_t map_epoch(fake_node *f)
{
	pthread_mutex_lock(&f->mu);
	uint64_t e = f->map->epoch;
	pthread_mutex_unlock(&f->mu);
	return e;
}

/* A write's result: the first one for a (client, seq) already answered OK. */
static uint64_t apply(fake_node *f, uint64_t client_id, uint64_t seq)
{
	for (size_t i = 0; i < f->nseen; i++)
		if (f->seen[i].client_id == client_id && f->seen[i].seq == seq)
			return f->seen[i].version;
	if (f->nseen == f->capseen) {
		size_t cap = f->capseen ? 2 * f->capseen : 64;
		fake_seen *s = realloc(f->seen, cap * sizeof(*s));
		if (s == NULL)
			return ++f->lsn; /* not remembered: a test would see the double apply */
		f->seen = s;
		f->capseen = cap;
	}
	atomic_fetch_add(&f->applied, 1);
	f->seen[f->nseen++] = (fake_seen){client_id, seq, ++f->lsn};
	return f->lsn;
}

static void serve_data(fake_node *f, const os_hdr *h, const uint8_t *body, size_t len,
                       os_buf *out)
{
	atomic_fetch_add(&f->frames, 1);
	uint64_t epoch = map_epoch(f);
	os_item *items = calloc(h->count ? h->count : 1, sizeof(*items));
	os_read_bound rb;
	const uint8_t *ip;
	size_t ilen;
	int st = items == NULL ? OSTORE_ENOMEM : os_data_body(h, body, len, &rb, &ip, &ilen);
	if (st == OSTORE_OK)
		st = os_items_get(ip, ilen, h->count, OSTORE_MAX_VALUE_LIMIT, items, NULL);
	if (st != OSTORE_OK) {
		os_reply_status(out, OS_KIND_DATA, (uint16_t)st, epoch, h->client_id);
		free(items);
		return;
	}
	int mode = atomic_load(&f->mode);
	if (os_now_ns() >= atomic_load(&f->until_ns))
		mode = FAKE_SERVE;
	os_hdr rh = {.kind = OS_KIND_DATA | OS_REPLY_BIT, .count = h->count, .epoch = epoch,
	             .client_id = h->client_id};
	os_hdr_put(out, &rh);
	for (uint16_t i = 0; i < h->count; i++) {
		const os_item *it = &items[i];
		if (mode == FAKE_MOVED)
			os_result_put(out, OSTORE_EMOVED, 0, NULL, 0);
		else if (it->op == OSTORE_OP_GET)
			os_result_put(out, OSTORE_ENOTFOUND, 0, NULL, 0);
		else if (mode == FAKE_FROZEN)
			os_result_put(out, OSTORE_EMIGRATING, 0, NULL, 0);
		else
			os_result_put(out, OSTORE_OK, apply(f, h->client_id, it->seq), NULL, 0);
	}
	free(items);
}

static void serve_map(fake_node *f, const os_hdr *h, os_buf *out)
{
	atomic_fetch_add(&f->map_gets, 1);
	pthread_mutex_lock(&f->mu);
	os_hdr rh = {.kind = OS_KIND_MAP_GET | OS_REPLY_BIT, .epoch = f->map->epoch,
	             .client_id = h->client_id};
	os_hdr_put(out, &rh);
	os_map_encode(f->map, out);
	pthread_mutex_unlock(&f->mu);
}

static void *serve(void *arg)
{
	fake_node *f = arg;
	os_buf out;
	os_buf_init(&out);
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(f->sock, &m, 0) != 0)
			break;
		os_buf_reset(&out);
		os_hdr h;
		const uint8_t *body;
		size_t len;
		if (os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &len) != OSTORE_OK)
			os_reply_status(&out, 0, OSTORE_EPROTO, 0, 0);
		else if (h.kind == OS_KIND_DATA)
			serve_data(f, &h, body, len, &out);
		else if (h.kind == OS_KIND_MAP_GET)
			serve_map(f, &h, &out);
		else if (h.kind == OS_KIND_PING)
			os_reply_status(&out, OS_KIND_PING, OSTORE_OK, map_epoch(f), h.client_id);
		else
			os_reply_status(&out, h.kind, OSTORE_EBADOP, map_epoch(f), h.client_id);
		nng_msg_free(m);
		nng_send(f->sock, out.data, out.len, 0);
	}
	os_buf_fini(&out);
	return NULL;
}

fake_node *fake_node_start(const char *url, os_map *m)
{
	fake_node *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	if (pthread_mutex_init(&f->mu, NULL) != 0) {
		free(f);
		return NULL;
	}
	f->map = os_map_ref(m);
	if (nng_rep0_open(&f->sock) != 0) {
		os_map_unref(f->map);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	nng_socket_set_size(f->sock, NNG_OPT_RECVMAXSZ, OS_FRAME_MAX_DEFAULT);
	if (nng_listen(f->sock, url, NULL, 0) != 0 ||
	    pthread_create(&f->thr, NULL, serve, f) != 0) {
		nng_close(f->sock);
		os_map_unref(f->map);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	return f;
}

void fake_node_stop(fake_node *f)
{
	if (f == NULL)
		return;
	nng_close(f->sock);
	pthread_join(f->thr, NULL);
	os_map_unref(f->map);
	pthread_mutex_destroy(&f->mu);
	free(f->seen);
	free(f);
}

void fake_node_set_map(fake_node *f, os_map *m)
{
	os_map *ref = os_map_ref(m);
	pthread_mutex_lock(&f->mu);
	os_map *old = f->map;
	f->map = ref;
	pthread_mutex_unlock(&f->mu);
	os_map_unref(old);
}

void fake_node_mode(fake_node *f, fake_mode mode, uint32_t ms)
{
	uint64_t until = ms == UINT32_MAX ? UINT64_MAX : os_now_ns() + (uint64_t)ms * 1000000u;
	atomic_store(&f->until_ns, until);
	atomic_store(&f->mode, (int)mode);
}

uint64_t fake_node_frames(fake_node *f)
{
	return atomic_load(&f->frames);
}

uint64_t fake_node_applied(fake_node *f)
{
	return atomic_load(&f->applied);
}

uint64_t fake_node_map_gets(fake_node *f)
{
	return atomic_load(&f->map_gets);
}
