/*
 * drv_redis.c - the peer driver of orderstore-bench: the same workloads through hiredis's
 * asynchronous API to a Redis-protocol server (redis-server, or nutcracker in front of
 * several), driven by a hand-written poll loop on the calling thread (hiredis's event
 * hooks only record read/write interest; the loop calls redisAsyncHandleRead/Write).
 *
 *   slots ──(slot i uses connection i mod N)──▶ N connections ──▶ nutcracker ──▶ redis x3
 *     ▲                                                                          │
 *     └───── reply callback (inside redisAsyncHandleRead): ob_slot_end, next ◀───┘
 *
 * Value format, so both systems do the same logical work: every stored value is
 * "%020llu:" (its version, 20 digits) followed by the value bytes. The version is unique
 * per write: a counter that starts at the wall clock in ns, so runs never reuse one.
 *   get  GET key                      -> version parsed from the prefix; nil = ENOTFOUND
 *   put  SET key "VERSION:value"      -> the version written
 *   cas  EVAL <script> 1 key EXPECTED "VERSION:value", EXPECTED = the 20-digit version read,
 *        or "0" for create-only; the script answers 0 = written, 1 = ENOTFOUND (expected a
 *        version, no such key), 2 = ECONFLICT. nutcracker forwards EVAL by its first key.
 * Every wait is bounded: the run stops issuing at the deadline and waits at most
 * --timeout-ms more for answers; what is still out then counts as ETIMEDOUT.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "report.h"
#include "util.h"

static const char cas_script[] =
	"local v = redis.call('GET', KEYS[1]) "
	"if not v then if ARGV[1] ~= '0' then return 1 end "
	"elseif string.sub(v, 1, 20) ~= ARGV[1] then return 2 end "
	"redis.call('SET', KEYS[1], ARGV[2]) return 0";

#define VPREFIX_FMT "%020llu:"

typedef struct rconn {
	struct redis_drv *d;
	redisAsyncContext *ac; /* NULL once hiredis freed it */
	int want_r, want_w;
	int connected;
} rconn;

typedef struct rslot {
	ob_slot *s;
	rconn *c;
	uint64_t version; /* version this request writes */
	int out;          /* a request is in flight */
	int active;       /* closed loop: not finished */
} rslot;

typedef struct redis_drv {
	ob_run *run;
	rconn *conns;
	size_t nconns;
	rslot *rs;
	uint64_t next_version;
	uint64_t inflight, active;
	uint32_t *free; /* open loop: free slot stack */
	uint32_t nfree;
	int closing;
	uint64_t preload_out, preload_err;
	int reported_error;
} redis_drv;

/* hiredis event hooks: only record the interest; the poll loop does the I/O */
static void ev_add_read(void *p) { ((rconn *)p)->want_r = 1; }
static void ev_del_read(void *p) { ((rconn *)p)->want_r = 0; }
static void ev_add_write(void *p) { ((rconn *)p)->want_w = 1; }
static void ev_del_write(void *p) { ((rconn *)p)->want_w = 0; }
static void ev_cleanup(void *p)
{
	rconn *c = p;
	c->ac = NULL;
	c->want_r = c->want_w = 0;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	rconn *c = ac->data;
	c->connected = status == REDIS_OK ? 1 : -1;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	rconn *c = ac->data;
	(void)status;
	c->connected = -1;
}

/* One poll round over the live connections, waiting at most @wait_ns. */
static void pump(redis_drv *d, uint64_t wait_ns)
{
	struct pollfd pf[1024];
	size_t map[1024], n = 0;
	for (size_t i = 0; i < d->nconns; i++) {
		rconn *c = &d->conns[i];
		if (c->ac == NULL || !(c->want_r || c->want_w))
			continue;
		short ev = (short)((c->want_r ? POLLIN : 0) | (c->want_w ? POLLOUT : 0));
		pf[n] = (struct pollfd){.fd = c->ac->c.fd, .events = ev};
		map[n++] = i;
	}
	struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000u),
	                      .tv_nsec = (long)(wait_ns % 1000000000u)};
	if (n == 0) {
		nanosleep(&ts, NULL);
		return;
	}
	if (ppoll(pf, n, &ts, NULL) <= 0)
		return;
	for (size_t j = 0; j < n; j++) {
		rconn *c = &d->conns[map[j]];
		if (pf[j].revents & (POLLIN | POLLERR | POLLHUP)) {
			if (c->ac != NULL)
				redisAsyncHandleRead(c->ac);
		}
		if ((pf[j].revents & POLLOUT) && c->ac != NULL)
			redisAsyncHandleWrite(c->ac);
	}
}

static int rd_open(ob_run *run, void **state)
{
	const ob_config *cfg = run->cfg;
	redis_drv *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -1;
	d->run = run;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	d->next_version = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
	d->nconns = cfg->connections ? cfg->connections : cfg->concurrency;
	if (d->nconns > cfg->concurrency)
		d->nconns = cfg->concurrency;
	if (d->nconns > 1024)
		d->nconns = 1024;
	d->conns = calloc(d->nconns, sizeof(*d->conns));
	if (d->conns == NULL) {
		free(d);
		return -1;
	}
	*state = d;
	for (size_t i = 0; i < d->nconns; i++) {
		rconn *c = &d->conns[i];
		c->d = d;
		redisAsyncContext *ac = redisAsyncConnect(cfg->redis_host, cfg->redis_port);
		if (ac == NULL || ac->err) {
			fprintf(stderr, "orderstore-bench: cannot connect to %s: %s\n", cfg->target,
			        ac ? ac->errstr : "out of memory");
			if (ac != NULL)
				redisAsyncFree(ac);
			return -1;
		}
		c->ac = ac;
		ac->data = c;
		ac->ev.data = c;
		ac->ev.addRead = ev_add_read;
		ac->ev.delRead = ev_del_read;
		ac->ev.addWrite = ev_add_write;
		ac->ev.delWrite = ev_del_write;
		ac->ev.cleanup = ev_cleanup;
		redisAsyncSetConnectCallback(ac, on_connect);
		redisAsyncSetDisconnectCallback(ac, on_disconnect);
		c->want_w = 1; /* the connect completes when the socket becomes writable */
	}
	uint64_t until = os_now_ns() + cfg->timeout_ms * 1000000u;
	for (;;) {
		size_t ok = 0, bad = 0;
		for (size_t i = 0; i < d->nconns; i++) {
			ok += d->conns[i].connected == 1;
			bad += d->conns[i].connected == -1;
		}
		if (bad != 0 || (ok < d->nconns && os_now_ns() >= until)) {
			fprintf(stderr, "orderstore-bench: cannot connect to %s\n", cfg->target);
			return -1;
		}
		if (ok == d->nconns)
			return 0;
		pump(d, 10000000u);
	}
}

static void rd_close(void *state)
{
	redis_drv *d = state;
	if (d == NULL)
		return;
	d->closing = 1; /* callbacks run by redisAsyncFree see NULL replies: ignored */
	for (size_t i = 0; i < d->nconns; i++)
		if (d->conns[i].ac != NULL)
			redisAsyncFree(d->conns[i].ac);
	free(d->conns);
	free(d->rs);
	free(d->free);
	free(d);
}

static void note_error(redis_drv *d, const redisReply *r)
{
	if (!d->reported_error && r != NULL && r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "orderstore-bench: first server error: %.*s\n", (int)r->len, r->str);
		d->reported_error = 1;
	}
}

static void on_preload(redisAsyncContext *ac, void *reply, void *priv)
{
	rconn *c = ac->data;
	redisReply *r = reply;
	(void)priv;
	if (c->d->closing)
		return;
	c->d->preload_out--;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		note_error(c->d, r);
		c->d->preload_err++;
	}
}

static int rd_preload(ob_run *run, void *state)
{
	redis_drv *d = state;
	size_t vlen = OB_HEADROOM + run->cfg->value_size;
	uint8_t *buf = malloc(vlen);
	if (buf == NULL)
		return -1;
	memcpy(buf + OB_HEADROOM, run->value, run->cfg->value_size);
	uint64_t until = os_now_ns() + 600ull * 1000000000u;
	for (uint64_t k = 0; k < run->cfg->records || d->preload_out != 0;) {
		while (k < run->cfg->records && d->preload_out < 1024) {
			char key[OB_KEY_MAX], pre[32];
			size_t klen = ob_record_key(key, k);
			snprintf(pre, sizeof(pre), VPREFIX_FMT, (unsigned long long)d->next_version++);
			memcpy(buf, pre, OB_HEADROOM);
			const char *argv[] = {"SET", key, (const char *)buf};
			size_t lens[] = {3, klen, vlen};
			rconn *c = &d->conns[k % d->nconns];
			if (c->ac == NULL ||
			    redisAsyncCommandArgv(c->ac, on_preload, NULL, 3, argv, lens) != REDIS_OK) {
				d->preload_err++;
				break;
			}
			d->preload_out++;
			k++;
		}
		if (d->preload_err != 0 || os_now_ns() >= until)
			break;
		pump(d, 10000000u);
	}
	free(buf);
	if (d->preload_err != 0 || d->preload_out != 0) {
		fprintf(stderr, "orderstore-bench: preload failed (%llu errors)\n",
		        (unsigned long long)d->preload_err);
		return -1;
	}
	return 0;
}

static uint64_t parse_version(const redisReply *r)
{
	char digits[21];
	memcpy(digits, r->str, 20);
	digits[20] = '\0';
	return strtoull(digits, NULL, 10);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv);

/* Send the slot's prepared request. Returns 0, or an ostore_status if it cannot be sent. */
static ostore_status send_req(redis_drv *d, rslot *x)
{
	ob_slot *s = x->s;
	if (x->c->ac == NULL || x->c->connected != 1)
		return OSTORE_ECLOSED;
	const char *argv[6];
	size_t lens[6];
	int argc;
	char *val = (char *)s->vbuf;
	char expected[32];
	if (s->op == OSTORE_OP_PUT || s->op == OSTORE_OP_CAS) {
		char pre[32];
		x->version = d->next_version++;
		snprintf(pre, sizeof(pre), VPREFIX_FMT, (unsigned long long)x->version);
		memcpy(val, pre, OB_HEADROOM);
	}
	if (s->op == OSTORE_OP_GET) {
		argv[0] = "GET", lens[0] = 3;
		argv[1] = s->key, lens[1] = s->key_len;
		argc = 2;
	} else if (s->op == OSTORE_OP_PUT) {
		argv[0] = "SET", lens[0] = 3;
		argv[1] = s->key, lens[1] = s->key_len;
		argv[2] = val, lens[2] = OB_HEADROOM + s->value_len;
		argc = 3;
	} else {
		if (s->expected == 0)
			snprintf(expected, sizeof(expected), "0");
		else
			snprintf(expected, sizeof(expected), "%020llu", (unsigned long long)s->expected);
		argv[0] = "EVAL", lens[0] = 4;
		argv[1] = cas_script, lens[1] = sizeof(cas_script) - 1;
		argv[2] = "1", lens[2] = 1;
		argv[3] = s->key, lens[3] = s->key_len;
		argv[4] = expected, lens[4] = strlen(expected);
		argv[5] = val, lens[5] = OB_HEADROOM + s->value_len;
		argc = 6;
	}
	if (redisAsyncCommandArgv(x->c->ac, on_reply, x, argc, argv, lens) != REDIS_OK)
		return OSTORE_ECLOSED;
	x->out = 1;
	d->inflight++;
	return OSTORE_OK;
}

/* Closed loop: issue the slot's next request, or finish it (bound reached or its
 * connection is gone). */
static void closed_next(redis_drv *d, rslot *x)
{
	for (;;) {
		if (!ob_slot_begin(x->s, os_now_ns()))
			break;
		ostore_status st = send_req(d, x);
		if (st == OSTORE_OK)
			return;
		ob_slot_end(x->s, st, 0);
		if (st == OSTORE_ECLOSED)
			break;
	}
	x->active = 0;
	d->active--;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	rconn *c = ac->data;
	redis_drv *d = c->d;
	rslot *x = priv;
	redisReply *r = reply;
	if (d->closing || !x->out)
		return;
	x->out = 0;
	d->inflight--;
	ostore_status st = OSTORE_EPROTO;
	uint64_t version = 0;
	if (r == NULL) {
		st = OSTORE_ECLOSED;
	} else if (r->type == REDIS_REPLY_ERROR) {
		note_error(d, r);
		st = OSTORE_EIO;
	} else if (x->s->op == OSTORE_OP_GET) {
		if (r->type == REDIS_REPLY_NIL)
			st = OSTORE_ENOTFOUND;
		else if (r->type == REDIS_REPLY_STRING && r->len >= OB_HEADROOM) {
			st = OSTORE_OK;
			version = parse_version(r);
		}
	} else if (x->s->op == OSTORE_OP_PUT) {
		if (r->type == REDIS_REPLY_STATUS)
			st = OSTORE_OK, version = x->version;
	} else if (r->type == REDIS_REPLY_INTEGER) {
		st = r->integer == 0   ? OSTORE_OK
		     : r->integer == 1 ? OSTORE_ENOTFOUND
		                       : OSTORE_ECONFLICT;
		version = st == OSTORE_OK ? x->version : 0;
	}
	ob_slot_end(x->s, st, version);
	if (d->run->cfg->rate == 0) {
		if (x->active)
			closed_next(d, x);
	} else {
		d->free[d->nfree++] = x->s->index;
	}
}

/* Open loop: hand intended send times to free slots, polling in between. */
static void open_loop(redis_drv *d)
{
	ob_run *run = d->run;
	uint64_t t = ob_pace_next(run);
	while (t != UINT64_MAX) {
		uint64_t now = os_now_ns();
		if (now >= run->deadline_ns)
			break;
		while (t != UINT64_MAX && t <= now && d->nfree != 0) {
			rslot *x = &d->rs[d->free[--d->nfree]];
			if (!ob_slot_begin(x->s, t)) {
				d->free[d->nfree++] = x->s->index;
				return;
			}
			ostore_status st = send_req(d, x);
			if (st != OSTORE_OK) {
				ob_slot_end(x->s, st, 0);
				d->free[d->nfree++] = x->s->index;
			}
			t = ob_pace_next(run);
		}
		uint64_t wait = 10000000u;
		if (t != UINT64_MAX && d->nfree != 0 && t > now)
			wait = t - now < wait ? t - now : wait;
		else if (t != UINT64_MAX && d->nfree != 0)
			wait = 0;
		pump(d, wait);
	}
}

static int rd_run(ob_run *run, void *state)
{
	redis_drv *d = state;
	uint64_t n = run->cfg->concurrency;
	d->rs = calloc(n, sizeof(*d->rs));
	d->free = calloc(n, sizeof(*d->free));
	if (d->rs == NULL || d->free == NULL)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		d->rs[i] = (rslot){.s = &run->slots[i], .c = &d->conns[i % d->nconns], .active = 1};
		d->free[i] = (uint32_t)(n - 1 - i);
	}
	if (run->cfg->rate == 0) {
		d->active = n;
		for (uint64_t i = 0; i < n; i++)
			closed_next(d, &d->rs[i]);
		while (d->active != 0 && os_now_ns() < run->deadline_ns)
			pump(d, 10000000u);
	} else {
		d->nfree = (uint32_t)n;
		open_loop(d);
	}
	/* drain: no new requests past the deadline; wait at most the timeout for answers */
	uint64_t until = os_now_ns() + run->cfg->timeout_ms * 1000000u;
	for (uint64_t i = 0; i < n; i++)
		d->rs[i].active = 0;
	while (d->inflight != 0 && os_now_ns() < until)
		pump(d, 10000000u);
	for (uint64_t i = 0; i < n; i++)
		if (d->rs[i].out) {
			d->rs[i].out = 0;
			ob_slot_end(d->rs[i].s, OSTORE_ETIMEDOUT, 0);
		}
	d->inflight = 0;
	return 0;
}

const ob_driver ob_driver_redis = {
	.name = "redis",
	.open = rd_open,
	.preload = rd_preload,
	.run = rd_run,
	.close = rd_close,
};
