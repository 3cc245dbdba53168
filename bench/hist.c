/*
 * hist.c - log-linear histogram (see hist.h). Bucket of v: the power p = floor(log2 v)
 * picks a row, the next 5 bits below the top bit pick the column; values below 32 land
 * in row 0 exactly.
 */
#include "hist.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
	if (v < OB_HIST_SUB)
		return (unsigned)v;
	unsigned p = 63u - (unsigned)__builtin_clzll(v); /* >= 5 */
	unsigned row = p - 4u;                              /* 1.. */
	if (row >= OB_HIST_POW)
		return OB_HIST_POW * OB_HIST_SUB - 1u;
	unsigned col = (unsigned)(v >> (p - 5u)) & (OB_HIST_SUB - 1u);
	return row * OB_HIST_SUB + col;
}

static uint64_t bucket_top(unsigned b)
{
	unsigned row = b / OB_HIST_SUB, col = b % OB_HIST_SUB;
	if (row == 0)
		return col;
	unsigned p = row + 4u;
	uint64_t base = (uint64_t)1 << p;
	uint64_t step = (uint64_t)1 << (p - 5u);
	return base + (uint64_t)(col + 1u) * step - 1u;
}

void ob_hist_init(ob_hist *h) { memset(h, 0, sizeof(*h)); }

void ob_hist_add(ob_hist *h, uint64_t ns)
{
	h->buckets[bucket_of(ns)]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void ob_hist_merge(ob_hist *dst, const ob_hist *src)
{
	for (unsigned i = 0; i < OB_HIST_POW * OB_HIST_SUB; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t ob_hist_quantile(const ob_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->count + 0.5);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < OB_HIST_POW * OB_HIST_SUB; i++) {
		seen += h->buckets[i];
		if (seen >= want) {
			if (i == OB_HIST_POW * OB_HIST_SUB - 1u)
				return h->max_ns; /* the overflow bucket has no upper bound of its own */
			uint64_t top = bucket_top(i);
			return top < h->max_ns ? top : h->max_ns;
		}
	}
	return h->max_ns;
}
