/*
 * workloads.c - what a request slot sends next, and what it does with the answer.
 *
 * YCSB mixes (Cooper et al., "Benchmarking Cloud Serving Systems with YCSB", 2010) over
 * --records preloaded keys "bench-%08u" chosen by the run's key chooser:
 *   put  100% update (upsert)          A  50% read / 50% update
 *   get  100% read                     B  95% read /  5% update
 *   C    100% read                     F  50% read / 50% read-modify-write
 * An update is a PUT of the whole value. F's read-modify-write is a GET, then a CAS of
 * the new value with the version the GET returned (ECONFLICT if someone wrote between);
 * its whole span is also recorded as "rmw".
 *
 * orders, per slot, one order after the other (each a fresh ID, never reused):
 *
 *   create ──▶ get ──▶ cas paid ──▶ get ──▶ cas shipped ──▶ get ──▶ cas delivered ─┐
 *   (CAS, expected 0,  (tracking    (expected = version of the read before)        │
 *    status placed)     read)                                                      │
 *   ▲───────────────────────────── next order ◀────────────────────────────────────┘
 *
 * Seven requests per order; the span from create to delivered is recorded as "order".
 * Any failure abandons the order and starts the next one. Values are real documents
 * (orders.c) with only the status changed.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "orders.h"
#include "report.h"
#include "slot.h"
#include "util.h"

static const ob_workload workloads[] = {
#define OB_X(e, n, r, u, m, p) {e, n, r, u, m, p},
	OB_WORKLOAD_TABLE(OB_X)
#undef OB_X
};

static const struct {
	const char *name;
	int request;
} kinds[] = {
#define OB_X(e, n, req) {n, req},
	OB_KIND_TABLE(OB_X)
#undef OB_X
};

const char *ob_kind_name(ob_kind k) { return kinds[k].name; }
int ob_kind_is_request(ob_kind k) { return kinds[k].request; }

const ob_workload *ob_workload_find(const char *name)
{
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (strcasecmp(workloads[i].name, name) == 0)
			return &workloads[i];
	return NULL;
}

/* The order lifecycle: phase -> (op, status written). Even phases after 0 are reads. */
static const char *const lifecycle_status[] = {"placed", NULL, "paid", NULL, "shipped", NULL,
                                                "delivered"};
enum { LIFECYCLE_PHASES = 7 };

static void set_value_run(ob_slot *s)
{
	ob_run *r = s->run;
	memcpy(s->vbuf + OB_HEADROOM, r->value, r->cfg->value_size);
	s->value_len = r->cfg->value_size;
}

static void begin_ycsb(ob_slot *s)
{
	ob_run *r = s->run;
	const ob_workload *w = r->cfg->wl;
	if (s->phase == 1) { /* F: the write half of a read-modify-write */
		s->op = OSTORE_OP_CAS;
		s->kind = OB_K_CAS;
		s->expected = s->version;
		set_value_run(s);
		return;
	}
	/* --avoid-shard: redraw while the key lands on that shard (it owns a part of the
	 * slots, so a few draws do; the bound only guards a degenerate key space). */
	for (int tries = 0;; tries++) {
		s->key_len = ob_record_key(s->key, ob_keygen_next(&r->keys, &s->rng));
		if (r->skip_slot == NULL || tries == 1000 ||
		    !r->skip_slot[os_slot_of(s->key, s->key_len)])
			break;
	}
	double u = ob_rng_unit(&s->rng);
	if (u < w->read || (u < w->read + w->rmw)) {
		s->op = OSTORE_OP_GET;
		s->kind = OB_K_GET;
		if (u >= w->read) {
			s->phase = 2; /* a read that starts a read-modify-write */
			s->composite_t0 = s->t0;
		}
	} else {
		s->op = OSTORE_OP_PUT;
		s->kind = OB_K_PUT;
		set_value_run(s);
	}
}

static void begin_order(ob_slot *s)
{
	ob_run *r = s->run;
	if (s->phase == 0) {
		uint32_t n = ob_orders_count(r->orders);
		s->doc = (uint32_t)(ob_rng_next(&s->rng) % n);
		/* the invoice number, then run tag, slot and serial: unique, never reused */
		s->key_len = (size_t)snprintf(s->key, OB_KEY_MAX, "%s-%s-%u-%llu",
		                              ob_orders_id(r->orders, s->doc), r->tag, s->index,
		                              (unsigned long long)s->serial++);
		s->composite_t0 = s->t0;
		s->version = 0;
	}
	const char *status = lifecycle_status[s->phase];
	if (status == NULL) {
		s->op = OSTORE_OP_GET;
		s->kind = OB_K_GET;
		return;
	}
	s->op = OSTORE_OP_CAS;
	s->kind = s->phase == 0 ? OB_K_CREATE : OB_K_CAS;
	s->expected = s->version;
	s->value_len = ob_orders_build(r->orders, s->doc, status, s->vbuf + OB_HEADROOM, s->vcap);
}

int ob_slot_begin(ob_slot *s, uint64_t intended_ns)
{
	ob_run *r = s->run;
	if (intended_ns >= r->deadline_ns || os_now_ns() >= r->deadline_ns)
		return 0;
	if (atomic_fetch_add(&r->issued, 1) >= r->cfg->ops_limit)
		return 0;
	s->t0 = intended_ns;
	s->value_len = 0;
	s->expected = 0;
	if (r->cfg->wl->id == OB_W_ORDERS)
		begin_order(s);
	else
		begin_ycsb(s);
	return 1;
}

/* A definite answer of the system (the request was served), as opposed to a failure. */
static int answered(ostore_status st)
{
	return st == OSTORE_OK || st == OSTORE_ENOTFOUND || st == OSTORE_ECONFLICT;
}

void ob_slot_end(ob_slot *s, ostore_status st, uint64_t version)
{
	ob_run *r = s->run;
	uint64_t now = os_now_ns();
	uint64_t lat = now > s->t0 ? now - s->t0 : 0;
	ob_report_record(r->report, s->kind, st, answered(st), lat, now);
	if (r->cfg->wl->id == OB_W_ORDERS) {
		if (st != OSTORE_OK) {
			s->phase = 0; /* abandon this order, start the next one */
			return;
		}
		s->version = version;
		if (++s->phase == LIFECYCLE_PHASES) {
			uint64_t span = now - s->composite_t0;
			ob_report_record(r->report, OB_K_ORDER, OSTORE_OK, 1, span, now);
			s->phase = 0;
		}
		return;
	}
	if (s->phase == 2) { /* F: the read of a read-modify-write came back */
		s->phase = st == OSTORE_OK ? 1 : 0;
		s->version = version;
		return;
	}
	if (s->phase == 1) {
		ob_report_record(r->report, OB_K_RMW, st, answered(st), now - s->composite_t0, now);
		s->phase = 0;
	}
}

uint64_t ob_pace_next(ob_run *run)
{
	uint64_t k = atomic_fetch_add(&run->paced, 1);
	uint64_t t = run->start_ns + (uint64_t)((double)k * 1e9 / (double)run->cfg->rate);
	return t < run->deadline_ns ? t : UINT64_MAX;
}

void ob_workload_init_slot(ob_slot *s)
{
	s->phase = 0;
	s->version = 0;
	s->serial = 0;
}
