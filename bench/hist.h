/*
 * hist.h - a log-linear latency histogram (bench only).
 *
 * Values are nanoseconds. Buckets: for each power of two 2^k (k = 0..47), 32 linear
 * sub-buckets, so any recorded value is reported within 1/32 (about 3%) of its true
 * value, the same scheme as HdrHistogram with 2 significant binary digits of precision
 * (Gil Tene, "HdrHistogram: A High Dynamic Range Histogram"). Fixed size, no allocation
 * after init; merge adds counts.
 *
 * Thread safety: none; keep one histogram per thread or per request slot and merge.
 */
#ifndef OB_HIST_H
#define OB_HIST_H

#include <stdint.h>

#define OB_HIST_SUB 32u
#define OB_HIST_POW 48u

typedef struct ob_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t buckets[OB_HIST_POW * OB_HIST_SUB];
} ob_hist;

/** ob_hist_init - zero the histogram. */
void ob_hist_init(ob_hist *h);
/** ob_hist_add - record one value in nanoseconds. */
void ob_hist_add(ob_hist *h, uint64_t ns);
/** ob_hist_merge - add every count of @src into @dst. */
void ob_hist_merge(ob_hist *dst, const ob_hist *src);
/** ob_hist_quantile - the value at quantile @q (0..1), in nanoseconds (upper bound of its
 *  bucket, capped at the maximum seen). 0 when empty. */
uint64_t ob_hist_quantile(const ob_hist *h, double q);

#endif /* OB_HIST_H */
