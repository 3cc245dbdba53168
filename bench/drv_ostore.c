/*
 * drv_ostore.c - the orderstore driver of orderstore-bench: every request is one
 * ostore_submit() of a one-item batch; its completion callback (on a liborderstore / nng
 * thread) reports the answer and, in the closed loop, submits the slot's next request.
 *
 *   closed loop:  slot ──submit──▶ liborderstore ──▶ router ──▶ nodes
 *                   ▲                                          │
 *                   └──── done: ob_slot_end, ob_slot_begin ◀────┘
 *
 *   open loop:    pacer (the calling thread) sleeps to each intended time, takes a free
 *                 slot (waits if none: the wait counts in the latency) and submits;
 *                 done callbacks put their slot back on the free list.
 *
 *   --batch N:    groups of N slots share one ostore_submit() of N items (closed loop):
 *                 what client-side coalescing of concurrent callers into one frame would
 *                 do; every item is still one caller's request with its own latency.
 *
 * The callbacks never block; the pacer and the drain wait on a condition variable. The
 * drain is bounded: liborderstore ends every request within timeout x (retries + 1).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "report.h"
#include "slot.h"
#include "util.h"

typedef struct dslot {
	ob_slot *s;
	struct ostore_drv *d;
	ostore_item item;
} dslot;

typedef struct dgroup {
	struct ostore_drv *d;
	uint32_t first, n;  /* slots first .. first + n - 1 */
	ostore_item *items; /* n items */
	uint32_t *which;    /* item i belongs to slot which[i] */
} dgroup;

typedef struct ostore_drv {
	ob_run *run;
	ostore_client *c;
	dslot *ds;
	dgroup *groups;
	uint64_t ngroups;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	unsigned inflight; /* slots not finished (closed) or requests out (open); under mtx */
	uint32_t *free;    /* open loop: stack of free slot indexes, under mtx */
	uint32_t nfree;
} ostore_drv;

static int od_open(ob_run *run, void **state)
{
	const ob_config *cfg = run->cfg;
	ostore_drv *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -1;
	ostore_options o;
	ostore_options_init(&o);
	o.routers = (const char *const *)cfg->routers;
	o.nrouters = cfg->nrouters;
	o.timeout_ms = (uint32_t)cfg->timeout_ms;
	o.max_inflight = (uint32_t)cfg->concurrency + 16;
	o.coalesce_max_items = (uint32_t)cfg->coalesce;
	o.tls_cert_file = cfg->tls_cert;
	o.tls_key_file = cfg->tls_key;
	o.tls_ca_file = cfg->tls_ca;
	o.token = cfg->token[0] != '\0' ? cfg->token : NULL;
	ostore_status st = ostore_open(&o, &d->c);
	if (st != OSTORE_OK) {
		fprintf(stderr, "orderstore-bench: open: %s\n", ostore_strerror(st));
		free(d);
		return -1;
	}
	d->run = run;
	pthread_mutex_init(&d->mtx, NULL);
	pthread_cond_init(&d->cv, NULL);
	*state = d;
	/* Connecting is asynchronous, so ask once before the run: with no router answering,
	 * a workload without a preload would otherwise run to its end and report every
	 * request as failed (exit 1) instead of "target unreachable" (exit 3, --help). Any
	 * answer of a router, even a shard's OSTORE_EUNAVAIL, lets the run go on. */
	char key[OB_KEY_MAX];
	size_t klen = ob_record_key(key, 0);
	st = ostore_get(d->c, key, klen, NULL, NULL, NULL);
	if (st == OSTORE_ECONNECT || st == OSTORE_ETIMEDOUT || st == OSTORE_ECLOSED) {
		fprintf(stderr, "orderstore-bench: no router answered (%s%s): %s\n",
		        cfg->routers[0], cfg->nrouters > 1 ? " and the others given" : "",
		        ostore_strerror(st));
		return -1;
	}
	if (st == OSTORE_EAUTH) { /* every request would fail the same way */
		fprintf(stderr, "orderstore-bench: %s refused the credential (--token, or the "
		                "--dir cluster's token file): %s\n",
		        cfg->routers[0], ostore_strerror(st));
		return -1;
	}
	return 0;
}

static void od_close(void *state)
{
	ostore_drv *d = state;
	if (d == NULL)
		return;
	ostore_close(d->c);
	pthread_mutex_destroy(&d->mtx);
	pthread_cond_destroy(&d->cv);
	for (uint64_t i = 0; i < d->ngroups; i++) {
		free(d->groups[i].items);
		free(d->groups[i].which);
	}
	free(d->groups);
	free(d->ds);
	free(d->free);
	free(d);
}

static int od_preload(ob_run *run, void *state)
{
	ostore_drv *d = state;
	enum { BATCH = 256 };
	ostore_item items[BATCH];
	char ids[BATCH][OB_KEY_MAX];
	for (uint64_t k = 0; k < run->cfg->records;) {
		size_t n = 0;
		for (; n < BATCH && k < run->cfg->records; k++) {
			size_t l = ob_record_key(ids[n], k);
			if (run->skip_slot != NULL && run->skip_slot[os_slot_of(ids[n], l)])
				continue; /* --avoid-shard: never drawn, so not loaded either */
			items[n] = (ostore_item){.op = OSTORE_OP_PUT, .id = ids[n], .id_len = l,
			                         .value = run->value, .value_len = run->cfg->value_size};
			n++;
		}
		if (n == 0)
			break;
		ostore_status st = ostore_batch(d->c, items, n);
		for (size_t i = 0; st == OSTORE_OK && i < n; i++)
			st = items[i].status;
		if (st != OSTORE_OK) {
			fprintf(stderr, "orderstore-bench: preload failed: %s\n", ostore_strerror(st));
			return -1;
		}
	}
	return 0;
}

static void on_done(void *arg, ostore_item *items, size_t n, ostore_status st);

static void fill_item(ostore_item *it, const ob_slot *s)
{
	*it = (ostore_item){.op = s->op, .id = s->key, .id_len = s->key_len, .expected = s->expected};
	if (s->op == OSTORE_OP_PUT || s->op == OSTORE_OP_CAS) {
		it->value = s->vbuf + OB_HEADROOM;
		it->value_len = s->value_len;
	}
}

/* Fill the item from the slot's request and submit it. Returns the submit status. */
static ostore_status submit(dslot *x)
{
	fill_item(&x->item, x->s);
	return ostore_submit(x->d->c, &x->item, 1, on_done, x);
}

static void slot_finished(ostore_drv *d)
{
	pthread_mutex_lock(&d->mtx);
	if (--d->inflight == 0)
		pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mtx);
}

/* Closed loop: issue the slot's next request, or finish the slot at the bound. */
static void closed_next(dslot *x)
{
	for (;;) {
		if (!ob_slot_begin(x->s, os_now_ns())) {
			slot_finished(x->d);
			return;
		}
		ostore_status st = submit(x);
		if (st == OSTORE_OK)
			return;
		ob_slot_end(x->s, st, 0); /* refused before sending: counted, next one */
	}
}

static void on_done(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	dslot *x = arg;
	ostore_drv *d = x->d;
	(void)n;
	ob_slot_end(x->s, st != OSTORE_OK ? st : items[0].status, items[0].version);
	ostore_free(items[0].out_value);
	items[0].out_value = NULL;
	if (d->run->cfg->rate == 0) {
		closed_next(x);
		return;
	}
	pthread_mutex_lock(&d->mtx);
	d->free[d->nfree++] = x->s->index;
	d->inflight--;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mtx);
}

static void on_group_done(void *arg, ostore_item *items, size_t n, ostore_status st);

/* --batch: begin every slot of the group and submit them as one frame; the group ends
 * when no slot may begin (the bound is global, so all reach it together). */
static void group_next(dgroup *g)
{
	ostore_drv *d = g->d;
	for (;;) {
		uint32_t m = 0;
		for (uint32_t i = 0; i < g->n; i++) {
			ob_slot *s = &d->run->slots[g->first + i];
			if (!ob_slot_begin(s, os_now_ns()))
				continue;
			fill_item(&g->items[m], s);
			g->which[m++] = g->first + i;
		}
		if (m == 0) {
			slot_finished(d);
			return;
		}
		ostore_status st = ostore_submit(d->c, g->items, m, on_group_done, g);
		if (st == OSTORE_OK)
			return;
		for (uint32_t i = 0; i < m; i++)
			ob_slot_end(&d->run->slots[g->which[i]], st, 0);
	}
}

static void on_group_done(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	dgroup *g = arg;
	for (size_t i = 0; i < n; i++) {
		ob_slot_end(&g->d->run->slots[g->which[i]], st != OSTORE_OK ? st : items[i].status,
		            items[i].version);
		ostore_free(items[i].out_value);
		items[i].out_value = NULL;
	}
	group_next(g);
}

static int start_groups(ostore_drv *d)
{
	uint64_t n = d->run->cfg->concurrency, b = d->run->cfg->batch;
	d->ngroups = (n + b - 1) / b;
	d->groups = calloc(d->ngroups, sizeof(*d->groups));
	if (d->groups == NULL)
		return -1;
	for (uint64_t i = 0; i < d->ngroups; i++) {
		dgroup *g = &d->groups[i];
		g->d = d;
		g->first = (uint32_t)(i * b);
		g->n = (uint32_t)(i * b + b <= n ? b : n - i * b);
		g->items = calloc(g->n, sizeof(*g->items));
		g->which = calloc(g->n, sizeof(*g->which));
		if (g->items == NULL || g->which == NULL)
			return -1;
	}
	d->inflight = (unsigned)d->ngroups;
	for (uint64_t i = 0; i < d->ngroups; i++)
		group_next(&d->groups[i]);
	return 0;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
	}
}

static void wait_ns(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	pthread_cond_timedwait(cv, m, &ts);
}

/* Open loop: the calling thread paces the requests over the free slots. */
static void open_loop(ostore_drv *d)
{
	ob_run *run = d->run;
	uint64_t t;
	while ((t = ob_pace_next(run)) != UINT64_MAX) {
		/* never send early; a late wake-up is charged to the latency (the intended time
		 * stays exact), and requests already due go out back to back */
		if (t > os_now_ns())
			sleep_until(t);
		pthread_mutex_lock(&d->mtx);
		while (d->nfree == 0 && os_now_ns() < run->deadline_ns)
			wait_ns(&d->cv, &d->mtx, 10000000u);
		if (d->nfree == 0) {
			pthread_mutex_unlock(&d->mtx);
			break;
		}
		dslot *x = &d->ds[d->free[--d->nfree]];
		d->inflight++;
		pthread_mutex_unlock(&d->mtx);
		if (!ob_slot_begin(x->s, t)) {
			pthread_mutex_lock(&d->mtx);
			d->free[d->nfree++] = x->s->index;
			d->inflight--;
			pthread_mutex_unlock(&d->mtx);
			break;
		}
		ostore_status st = submit(x);
		if (st != OSTORE_OK) {
			ob_slot_end(x->s, st, 0);
			pthread_mutex_lock(&d->mtx);
			d->free[d->nfree++] = x->s->index;
			d->inflight--;
			pthread_mutex_unlock(&d->mtx);
		}
	}
}

static int od_run(ob_run *run, void *state)
{
	ostore_drv *d = state;
	uint64_t n = run->cfg->concurrency;
	d->ds = calloc(n, sizeof(*d->ds));
	d->free = calloc(n, sizeof(*d->free));
	if (d->ds == NULL || d->free == NULL)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		d->ds[i] = (dslot){.s = &run->slots[i], .d = d};
		d->free[i] = (uint32_t)(n - 1 - i);
	}
	if (run->cfg->batch > 1) {
		if (start_groups(d) != 0)
			return -1;
	} else if (run->cfg->rate == 0) {
		d->inflight = (unsigned)n;
		for (uint64_t i = 0; i < n; i++)
			closed_next(&d->ds[i]);
	} else {
		d->nfree = (uint32_t)n;
		open_loop(d);
	}
	pthread_mutex_lock(&d->mtx);
	while (d->inflight != 0)
		pthread_cond_wait(&d->cv, &d->mtx);
	pthread_mutex_unlock(&d->mtx);
	return 0;
}

const ob_driver ob_driver_ostore = {
	.name = "orderstore",
	.open = od_open,
	.preload = od_preload,
	.run = od_run,
	.close = od_close,
};
