/*
 * orders.c - the pool of order documents (see orders.h). Loading walks the importer
 * twice over one parsed file: os_retail_open() reads and groups the rows, the stats give
 * the invoice count, and os_retail_each() then keeps every k-th placed invoice
 * (k = invoices / max, at least 1) until the pool is full. A document is kept as its
 * text plus the offset of the value of "status", whose text is "placed".
 */
#include "orders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orderstore.h>

#include "retail.h"

#define STATUS_KEY "\"status\":\""
#define PLACED "placed"

typedef struct ob_doc {
	char *text;
	uint32_t len;
	uint32_t status_off; /* offset of "placed" in text */
	char id[32];
} ob_doc;

struct ob_orders {
	ob_doc *docs;
	uint32_t n, max;
	uint64_t seen_invoices, stride;
	size_t max_len;
	double total_len;
};

static int keep_one(void *arg, const char *id, size_t id_len, const char *json, size_t json_len)
{
	ob_orders *o = arg;
	if (o->n >= o->max)
		return 1; /* full: stop the walk */
	uint64_t k = o->seen_invoices++;
	if (k % o->stride != 0 || id_len >= sizeof(o->docs[0].id))
		return 0;
	const char *p = strstr(json, STATUS_KEY PLACED "\"");
	if (p == NULL)
		return 0; /* cancelled or adjustment: not a lifecycle start */
	ob_doc *d = &o->docs[o->n];
	d->text = malloc(json_len + 1);
	if (d->text == NULL)
		return OSTORE_ENOMEM;
	memcpy(d->text, json, json_len + 1);
	d->len = (uint32_t)json_len;
	d->status_off = (uint32_t)(p - json + (ptrdiff_t)strlen(STATUS_KEY));
	memcpy(d->id, id, id_len);
	d->id[id_len] = '\0';
	if (json_len > o->max_len)
		o->max_len = json_len;
	o->total_len += (double)json_len;
	o->n++;
	return 0;
}

int ob_orders_load(const char *path, uint32_t max, ob_orders **out, char *err, size_t errlen)
{
	os_retail *r = NULL;
	int rc = os_retail_open(path, &r, err, errlen);
	if (rc != OSTORE_OK)
		return -1;
	os_retail_stats st;
	os_retail_get_stats(r, &st);
	ob_orders *o = calloc(1, sizeof(*o));
	if (o == NULL || max == 0 || (o->docs = calloc(max, sizeof(*o->docs))) == NULL) {
		snprintf(err, errlen, "out of memory for %u documents", max);
		free(o);
		os_retail_close(r);
		return -1;
	}
	o->max = max;
	/* placed invoices are most of the file; stride over all so the sample is spread */
	o->stride = st.invoices / max > 1 ? st.invoices / max : 1;
	rc = os_retail_each(r, keep_one, o, err, errlen);
	os_retail_close(r);
	if ((rc != OSTORE_OK && rc != 1) || o->n == 0) {
		if (rc == OSTORE_OK || rc == 1)
			snprintf(err, errlen, "%s: no placed invoice found", path);
		else if (rc == OSTORE_ENOMEM)
			snprintf(err, errlen, "out of memory while keeping documents");
		ob_orders_free(o);
		return -1;
	}
	*out = o;
	return 0;
}

void ob_orders_free(ob_orders *o)
{
	if (o == NULL)
		return;
	for (uint32_t i = 0; i < o->n; i++)
		free(o->docs[i].text);
	free(o->docs);
	free(o);
}

uint32_t ob_orders_count(const ob_orders *o) { return o->n; }

size_t ob_orders_max_len(const ob_orders *o)
{
	return o->max_len - strlen(PLACED) + strlen("delivered");
}

double ob_orders_mean_len(const ob_orders *o) { return o->total_len / (double)o->n; }

const char *ob_orders_id(const ob_orders *o, uint32_t i) { return o->docs[i].id; }

size_t ob_orders_build(const ob_orders *o, uint32_t i, const char *status, uint8_t *out, size_t cap)
{
	const ob_doc *d = &o->docs[i];
	size_t sl = strlen(status), head = d->status_off;
	size_t tail = d->len - head - strlen(PLACED);
	size_t len = head + sl + tail;
	if (len > cap)
		return 0;
	memcpy(out, d->text, head);
	memcpy(out + head, status, sl);
	memcpy(out + head + sl, d->text + head + strlen(PLACED), tail);
	return len;
}
