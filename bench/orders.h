/*
 * orders.h - a pool of real order documents for the `orders` workload (bench only).
 *
 * The documents are the JSON invoices of the Online Retail data set as the importer
 * builds them (tools/retail.h, compiled into the bench). Only invoices with status
 * "placed" are kept, sampled evenly over the file, so sizes follow the data set's
 * distribution. Each document remembers where its status value sits, so the lifecycle's
 * updates (placed -> paid -> shipped -> delivered) are the same document with only the
 * status changed.
 *
 * Thread safety: read-only after ob_orders_load(); any thread may build from it.
 */
#ifndef OB_ORDERS_H
#define OB_ORDERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ob_orders ob_orders;

/**
 * ob_orders_load - read @path (CSV or .csv.xz) and keep up to @max documents.
 * @out: receives the pool (free with ob_orders_free); untouched on failure.
 * Returns 0, or -1 with a message in @err (file unreadable, no placed invoice, no memory).
 */
int ob_orders_load(const char *path, uint32_t max, ob_orders **out, char *err, size_t errlen);

/** ob_orders_free - free the pool; NULL is ignored. */
void ob_orders_free(ob_orders *o);

/** ob_orders_count - number of documents (>= 1). */
uint32_t ob_orders_count(const ob_orders *o);

/** ob_orders_max_len - length of the largest document with the longest status. */
size_t ob_orders_max_len(const ob_orders *o);

/** ob_orders_mean_len - mean document length in bytes (status "placed"). */
double ob_orders_mean_len(const ob_orders *o);

/** ob_orders_id - the invoice number of document @i (NUL-terminated, static in the pool). */
const char *ob_orders_id(const ob_orders *o, uint32_t i);

/**
 * ob_orders_build - write document @i with status @status into @out (@cap bytes).
 * Returns the length, or 0 if @cap is too small.
 */
size_t ob_orders_build(const ob_orders *o, uint32_t i, const char *status, uint8_t *out, size_t cap);

#endif /* OB_ORDERS_H */
