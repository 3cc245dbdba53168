/*
 * fake_router.c - in-process stand-in for orderstore-router (see fake_router.h).
 *
 * Storage is a sorted array of LMDB-style keys (slot big-endian + ID), so SCAN pages
 * come out in the same order as from real nodes. Shards for STATS: slots < 2048 are
 * shard 0, the rest shard 1. Everything runs on the one serving thread except the
 * knobs, which are atomics, and the DATA frame log, which a mutex guards (tests read it
 * while the server runs).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "fake_router.h"
#include "map.h"
#include "slot.h"
#include "wire.h"

typedef struct fake_entry {
	uint8_t key[OS_KEY_MAX];
	size_t klen;
	uint8_t *val;
	uint32_t vlen;
	uint64_t ver;
} fake_entry;

typedef struct fake_seen {
	uint64_t client_id, seq, version;
	uint16_t status;
} fake_seen;

struct fake_router {
	nng_socket sock;
	pthread_t thr;
	_Atomic int drop;
	_Atomic int frame_status;
	_Atomic uint64_t applied;
	_Atomic uint64_t received;
	_Atomic int drop_larger;   /* frames to drop ... */
	_Atomic int drop_above;    /* ... with more items than this */
	_Atomic int delay_ms;
	_Atomic uint64_t map_epoch; /* 0: no map */
	_Atomic int map_split;
	_Atomic uint64_t map_gets;
	_Atomic int drop_map;
	pthread_mutex_t log_mu;
	fake_frame *log; /* FAKE_LOG_MAX entries */
	size_t nlog;
	fake_entry *ents;
	size_t nents, capents;
	fake_seen *seen;
	size_t nseen, capseen;
	uint64_t lsn;
};

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Index of the first entry >= key; *found if equal. */
static size_t find(fake_router *f, const uint8_t *key, size_t klen, bool *found)
{
	size_t lo = 0, hi = f->nents;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (key_cmp(f->ents[mid].key, f->ents[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < f->nents && key_cmp(f->ents[lo].key, f->ents[lo].klen, key, klen) == 0;
	return lo;
}

static void apply(fake_router *f, uint64_t client_id, const os_item *it, uint16_t *st,
                  uint64_t *ver)
{
	for (size_t i = 0; i < f->nseen; i++) {
		if (f->seen[i].client_id == client_id && f->seen[i].seq == it->seq) {
			*st = f->seen[i].status;
			*ver = f->seen[i].version;
			return;
		}
	}
	uint8_t key[OS_KEY_MAX];
	size_t klen = os_key_make(key, os_slot_of(it->id, it->id_len), it->id, it->id_len);
	bool found;
	size_t at = find(f, key, klen, &found);
	*ver = 0;
	*st = OSTORE_OK;
	if (it->op == OSTORE_OP_CAS) {
		uint64_t cur = found ? f->ents[at].ver : 0;
		if (it->expected != cur)
			*st = (it->expected != 0 && !found) ? OSTORE_ENOTFOUND : OSTORE_ECONFLICT;
	}
	if (*st == OSTORE_OK && it->op == OSTORE_OP_DEL) {
		if (!found) {
			*st = OSTORE_ENOTFOUND;
		} else {
			free(f->ents[at].val);
			memmove(&f->ents[at], &f->ents[at + 1], (f->nents - at - 1) * sizeof(*f->ents));
			f->nents--;
			*ver = ++f->lsn;
		}
	} else if (*st == OSTORE_OK) {
		if (!found) {
			if (f->nents == f->capents) {
				f->capents = f->capents ? 2 * f->capents : 64;
				f->ents = realloc(f->ents, f->capents * sizeof(*f->ents));
			}
			memmove(&f->ents[at + 1], &f->ents[at], (f->nents - at) * sizeof(*f->ents));
			f->nents++;
			memcpy(f->ents[at].key, key, klen);
			f->ents[at].klen = klen;
		} else {
			free(f->ents[at].val);
		}
		f->ents[at].val = malloc(it->value_len ? it->value_len : 1);
		if (it->value_len > 0)
			memcpy(f->ents[at].val, it->value, it->value_len);
		f->ents[at].vlen = it->value_len;
		f->ents[at].ver = *ver = ++f->lsn;
	}
	if (*st == OSTORE_OK)
		atomic_fetch_add(&f->applied, 1);
	if (f->nseen == f->capseen) {
		f->capseen = f->capseen ? 2 * f->capseen : 64;
		f->seen = realloc(f->seen, f->capseen * sizeof(*f->seen));
	}
	f->seen[f->nseen++] = (fake_seen){client_id, it->seq, *ver, *st};
}

static void serve_data(fake_router *f, const os_hdr *h, const uint8_t *body, size_t len,
                       os_buf *out)
{
	os_item *items = calloc(h->count ? h->count : 1, sizeof(*items));
	int st = os_items_get(body, len, h->count, OSTORE_MAX_VALUE_LIMIT, items, NULL);
	int fst = atomic_load(&f->frame_status);
	if (st != OSTORE_OK || fst != 0) {
		os_reply_status(out, OS_KIND_DATA, (uint16_t)(st != OSTORE_OK ? st : fst), 0,
		                h->client_id);
		free(items);
		return;
	}
	uint64_t epoch = atomic_load(&f->map_epoch);
	os_hdr rh = {.kind = OS_KIND_DATA | OS_REPLY_BIT, .count = h->count,
	             .epoch = epoch ? epoch : 1, .client_id = h->client_id};
	os_hdr_put(out, &rh);
	for (size_t i = 0; i < h->count; i++) {
		const os_item *it = &items[i];
		if (it->op == OSTORE_OP_GET) {
			uint8_t key[OS_KEY_MAX];
			size_t klen = os_key_make(key, os_slot_of(it->id, it->id_len), it->id,
			                          it->id_len);
			bool found;
			size_t at = find(f, key, klen, &found);
			if (found)
				os_result_put(out, OSTORE_OK, f->ents[at].ver, f->ents[at].val,
				              f->ents[at].vlen);
			else
				os_result_put(out, OSTORE_ENOTFOUND, 0, NULL, 0);
			continue;
		}
		uint16_t ist;
		uint64_t ver;
		apply(f, h->client_id, it, &ist, &ver);
		os_result_put(out, ist, ver, NULL, 0);
	}
	free(items);
}

static void serve_scan(fake_router *f, const os_hdr *h, const uint8_t *body, size_t len,
                       os_buf *out)
{
	os_scan_req rq;
	if (os_scan_req_get(body, len, &rq) != OSTORE_OK) {
		os_reply_status(out, OS_KIND_SCAN, OSTORE_EPROTO, 0, h->client_id);
		return;
	}
	uint8_t from[OS_KEY_MAX];
	size_t flen = os_key_make(from, rq.slot_begin, rq.after, rq.after_len);
	bool found;
	size_t at = find(f, from, flen, &found);
	if (found && rq.after_len > 0)
		at++;
	size_t end = at;
	while (end < f->nents && end - at < rq.limit && os_key_slot(f->ents[end].key) < rq.slot_end)
		end++;
	os_hdr rh = {.kind = OS_KIND_SCAN | OS_REPLY_BIT, .count = (uint16_t)(end - at),
	             .epoch = 1, .client_id = h->client_id};
	os_hdr_put(out, &rh);
	bool more = end < f->nents && os_key_slot(f->ents[end].key) < rq.slot_end;
	if (more && end > at)
		os_scan_next_put(out, os_key_slot(f->ents[end - 1].key), f->ents[end - 1].key + 2,
		                 (uint16_t)(f->ents[end - 1].klen - 2));
	else
		os_scan_next_put(out, rq.slot_end, NULL, 0);
	for (size_t i = at; i < end; i++) {
		os_scan_entry e = {.id = f->ents[i].key + 2, .id_len = (uint16_t)(f->ents[i].klen - 2),
		                   .value = f->ents[i].val, .value_len = f->ents[i].vlen,
		                   .version = f->ents[i].ver};
		os_scan_entry_put(out, &e);
	}
}

static void serve_stats(fake_router *f, const os_hdr *h, os_buf *out)
{
	os_hdr rh = {.kind = OS_KIND_STATS | OS_REPLY_BIT, .count = 2, .epoch = 7,
	             .client_id = h->client_id};
	os_hdr_put(out, &rh);
	uint64_t n0 = 0;
	for (size_t i = 0; i < f->nents; i++)
		n0 += os_key_slot(f->ents[i].key) < 2048;
	os_stats_entry e0 = {.shard = 0, .slots = 2048, .node = 0, .orders = n0, .lsn = f->lsn};
	os_stats_entry e1 = {.shard = 1, .slots = 2048, .node = 1, .orders = f->nents - n0,
	                     .lsn = f->lsn};
	os_stats_entry_put(out, &e0);
	os_stats_entry_put(out, &e1);
}

static void serve_map_get(fake_router *f, const os_hdr *h, os_buf *out)
{
	atomic_fetch_add(&f->map_gets, 1);
	uint64_t epoch = atomic_load(&f->map_epoch);
	os_map *m = epoch ? os_map_new() : NULL;
	int st = OSTORE_OK;
	if (m != NULL) {
		m->epoch = epoch;
		m->cluster_id = 42;
		st = os_map_add_node(m, 0, "tcp://127.0.0.1:1");
		if (st == OSTORE_OK)
			st = os_map_add_node(m, 1, "tcp://127.0.0.1:2");
		for (uint16_t i = 0; i < 2 && st == OSTORE_OK; i++)
			st = os_map_add_shard(m, i, i, NULL, 0);
		int split = atomic_load(&f->map_split);
		for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
			m->slot_shard[s] = (int)s < split ? 0 : 1;
	}
	if (m == NULL || st != OSTORE_OK) {
		os_reply_status(out, OS_KIND_MAP_GET, OSTORE_EBADOP, 0, h->client_id);
	} else {
		os_hdr rh = {.kind = OS_KIND_MAP_GET | OS_REPLY_BIT, .epoch = epoch,
		             .client_id = h->client_id};
		os_hdr_put(out, &rh);
		os_map_encode(m, out);
	}
	os_map_unref(m);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

/* Log a DATA frame and decide whether to drop it (drop_larger). */
static bool log_data(fake_router *f, const os_hdr *h, const uint8_t *body, size_t len,
                     nng_msg *m, bool dropped)
{
	if (!dropped && h->count > atomic_load(&f->drop_above) && atomic_load(&f->drop_larger) > 0) {
		atomic_fetch_sub(&f->drop_larger, 1);
		dropped = true;
	}
	fake_frame e = {.count = h->count, .hash = fnv1a(nng_msg_body(m), nng_msg_len(m)),
	                .dropped = dropped};
	os_item *items = calloc(h->count ? h->count : 1, sizeof(*items));
	if (items != NULL &&
	    os_items_get(body, len, h->count, OSTORE_MAX_VALUE_LIMIT, items, NULL) == OSTORE_OK)
		for (size_t i = 0; i < h->count; i++) {
			e.nwrites += items[i].op != OSTORE_OP_GET;
			e.halves |= os_slot_of(items[i].id, items[i].id_len) < 2048 ? 1 : 2;
		}
	free(items);
	pthread_mutex_lock(&f->log_mu);
	if (f->nlog < FAKE_LOG_MAX)
		f->log[f->nlog] = e;
	f->nlog++;
	pthread_mutex_unlock(&f->log_mu);
	return dropped;
}

static void *serve(void *arg)
{
	fake_router *f = arg;
	os_buf out;
	os_buf_init(&out);
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(f->sock, &m, 0) != 0)
			break;
		os_hdr h;
		const uint8_t *body;
		size_t len;
		int hst = os_hdr_get(nng_msg_body(m), nng_msg_len(m), &h, &body, &len);
		/* The client's map fetches (shard lanes) run in the background: they are
		 * counted and dropped apart, so tests that count requests see only theirs. */
		bool map_get = hst == OSTORE_OK && h.kind == OS_KIND_MAP_GET;
		bool dropped = false;
		if (map_get) {
			if (atomic_load(&f->drop_map) > 0) {
				atomic_fetch_sub(&f->drop_map, 1);
				atomic_fetch_add(&f->map_gets, 1);
				dropped = true;
			}
		} else {
			atomic_fetch_add(&f->received, 1);
			if (atomic_load(&f->drop) > 0) {
				atomic_fetch_sub(&f->drop, 1);
				dropped = true;
			}
		}
		if (hst == OSTORE_OK && h.kind == OS_KIND_DATA) {
			const uint8_t *items = body;
			size_t ilen = len;
			os_read_bound rb;
			if (os_data_body(&h, body, len, &rb, &items, &ilen) == OSTORE_OK)
				dropped = log_data(f, &h, items, ilen, m, dropped);
			int ms = atomic_load(&f->delay_ms);
			if (ms > 0 && !dropped)
				nanosleep(&(struct timespec){.tv_sec = ms / 1000,
				                             .tv_nsec = (long)(ms % 1000) * 1000000L},
				          NULL);
		}
		if (dropped) {
			nng_msg_free(m);
			continue;
		}
		os_buf_reset(&out);
		if (hst != OSTORE_OK)
			os_reply_status(&out, 0, OSTORE_EPROTO, 0, 0);
		else if (h.kind == OS_KIND_DATA)
			serve_data(f, &h, body, len, &out);
		else if (h.kind == OS_KIND_SCAN)
			serve_scan(f, &h, body, len, &out);
		else if (h.kind == OS_KIND_STATS)
			serve_stats(f, &h, &out);
		else if (h.kind == OS_KIND_MAP_GET)
			serve_map_get(f, &h, &out);
		else
			os_reply_status(&out, h.kind, OSTORE_EBADOP, 0, h.client_id);
		nng_msg_free(m);
		if (nng_send(f->sock, out.data, out.len, 0) != 0)
			continue;
	}
	os_buf_fini(&out);
	return NULL;
}

fake_router *fake_start(const char *url)
{
	fake_router *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	if (nng_rep0_open(&f->sock) != 0) {
		free(f);
		return NULL;
	}
	f->log = calloc(FAKE_LOG_MAX, sizeof(*f->log));
	if (f->log == NULL || pthread_mutex_init(&f->log_mu, NULL) != 0) {
		nng_close(f->sock);
		free(f->log);
		free(f);
		return NULL;
	}
	nng_socket_set_size(f->sock, NNG_OPT_RECVMAXSZ, OS_FRAME_MAX_DEFAULT);
	if (nng_listen(f->sock, url, NULL, 0) != 0 ||
	    pthread_create(&f->thr, NULL, serve, f) != 0) {
		nng_close(f->sock);
		pthread_mutex_destroy(&f->log_mu);
		free(f->log);
		free(f);
		return NULL;
	}
	return f;
}

void fake_stop(fake_router *f)
{
	nng_close(f->sock);
	pthread_join(f->thr, NULL);
	for (size_t i = 0; i < f->nents; i++)
		free(f->ents[i].val);
	free(f->ents);
	free(f->seen);
	pthread_mutex_destroy(&f->log_mu);
	free(f->log);
	free(f);
}

void fake_drop_larger(fake_router *f, int n, int items)
{
	atomic_store(&f->drop_above, items);
	atomic_store(&f->drop_larger, n);
}
void fake_delay_ms(fake_router *f, int ms) { atomic_store(&f->delay_ms, ms); }

size_t fake_frames(fake_router *f)
{
	pthread_mutex_lock(&f->log_mu);
	size_t n = f->nlog;
	pthread_mutex_unlock(&f->log_mu);
	return n;
}

fake_frame fake_frame_at(fake_router *f, size_t i)
{
	pthread_mutex_lock(&f->log_mu);
	fake_frame e = i < f->nlog && i < FAKE_LOG_MAX ? f->log[i] : (fake_frame){0};
	pthread_mutex_unlock(&f->log_mu);
	return e;
}

void fake_log_clear(fake_router *f)
{
	pthread_mutex_lock(&f->log_mu);
	f->nlog = 0;
	pthread_mutex_unlock(&f->log_mu);
}

void fake_drop_next(fake_router *f, int n) { atomic_store(&f->drop, n); }
void fake_frame_status(fake_router *f, int st) { atomic_store(&f->frame_status, st); }
uint64_t fake_applied(fake_router *f) { return atomic_load(&f->applied); }
uint64_t fake_received(fake_router *f) { return atomic_load(&f->received); }
void fake_map(fake_router *f, uint64_t epoch, uint16_t split)
{
	atomic_store(&f->map_split, split);
	atomic_store(&f->map_epoch, epoch);
}
uint64_t fake_map_gets(fake_router *f) { return atomic_load(&f->map_gets); }
void fake_drop_map_gets(fake_router *f, int n) { atomic_store(&f->drop_map, n); }
