/*
 * retail.h - importer of the Online Retail data set (UCI 352, data/README.md) for the
 * `orderstore import` command (internal to tools/ and its tests).
 *
 * The CSV (plain or xz-compressed, told apart by the xz magic bytes, not by the name)
 * has one row per invoice line. The importer groups the rows by InvoiceNo and turns
 * every invoice into one JSON document, the value stored under the order ID = the
 * InvoiceNo bytes:
 *
 *   {"order_id":"536365","customer":"17850","country":"United Kingdom",
 *    "created_at":"2010-12-01T08:26:00","status":"placed",
 *    "lines":[{"stock_code":"85123A","description":"WHITE HANGING HEART T-LIGHT HOLDER",
 *              "quantity":6,"unit_price":2.55}, ...]}
 *
 *  - customer:   CustomerID without its ".0" ("17850.0" -> "17850"), null when empty.
 *  - country:    Country as written.
 *  - created_at: the earliest InvoiceDate of the invoice, ISO 8601 without zone (UK time).
 *  - status:     "cancelled" if InvoiceNo starts with 'C', "adjustment" if with 'A',
 *                otherwise "placed".
 *  - lines:      every accepted row of the invoice in file order (duplicates kept);
 *                description byte-exact (leading/trailing spaces kept), quantity an
 *                integer, unit_price a number printed with up to 15 significant digits.
 *  Keys come in the order above; the text is compact (no spaces), UTF-8.
 *  customer / country come from the invoice's first row that has them (the data set
 *  never has two different values in one invoice).
 *
 * Usage, two phases so a caller can refuse bad input before it writes anything:
 *
 *   os_retail *r;
 *   if (os_retail_open(path, &r, err, sizeof err) != OSTORE_OK) ...fatal: print err
 *   os_retail_get_stats(r, &st);         rows read / rejected + first messages
 *   if (st.rows_rejected && !skip_bad) ...print st.messages, os_retail_close, exit 1
 *   os_retail_each(r, put_one, ctx, err, sizeof err);  one call per invoice
 *   os_retail_close(r);
 *
 * or os_retail_read() for all of it in one call.
 *
 * Error policy. Fatal errors end the read and return a status with a message in @err:
 * the file cannot be opened or read (OSTORE_EIO), the xz data is corrupt or truncated
 * (OSTORE_EIO), the header line is not exactly the 8 expected columns, or there is no
 * header (OSTORE_EINVAL), out of memory (OSTORE_ENOMEM), more than 2^32-2 rows
 * (OSTORE_ETOOBIG). A malformed data row is NOT fatal: it is dropped, counted in
 * rows_rejected, and the first OS_RETAIL_MAX_MESSAGES messages are kept as
 * "line N: problem". Malformed means: not 8 columns, broken quoting, empty InvoiceNo or
 * one over 256 bytes, Quantity not a decimal integer of at most 18 digits, UnitPrice not a finite decimal
 * number, InvoiceDate not "YYYY-MM-DD HH:MM:SS" (a real calendar time), a text field
 * that is not UTF-8 or over 65536 bytes. Other rows of the same invoice are kept.
 * Blank lines are skipped and are not rows. Line numbers are 1-based physical lines
 * (the header is line 1; counted by LF), the line where the row starts.
 *
 * CSV dialect: RFC 4180 (comma, double quotes, "" inside quotes, quoted fields may
 * span lines), LF or CRLF line ends, an optional UTF-8 BOM before the header. Spaces
 * around fields are data, never trimmed.
 *
 * Memory: the input is streamed (64 KiB reads, xz decoded in 64 KiB pieces); the
 * accepted rows are held compactly in memory until os_retail_close() (peak RSS 91 MB for
 * the 541,909-row file). JSON is built one invoice at a time.
 *
 * Thread safety: no global state; one os_retail handle must not be used by two threads
 * at once, different handles may be used in parallel.
 */
#ifndef OS_RETAIL_H
#define OS_RETAIL_H

#include <stddef.h>
#include <stdint.h>

/** Number of reject messages kept in os_retail_stats. */
#define OS_RETAIL_MAX_MESSAGES 10
/** Size of one kept message, NUL included (longer ones are cut). */
#define OS_RETAIL_MSG_LEN 200
/** Largest text field accepted, in bytes. */
#define OS_RETAIL_MAX_FIELD 65536u

/** Counters of one import. All are final after os_retail_open(), except json_bytes and
 *  max_json_bytes, which grow during os_retail_each(). */
typedef struct os_retail_stats {
	uint64_t input_bytes;    /**< bytes read from the file (compressed if xz) */
	uint64_t csv_bytes;      /**< bytes of CSV text (after decompression) */
	uint64_t rows_read;      /**< data rows seen, rejected ones included, header not */
	uint64_t rows_rejected;  /**< malformed rows dropped */
	uint64_t invoices;       /**< distinct InvoiceNo among accepted rows */
	uint64_t placed;         /**< invoices with status "placed" */
	uint64_t cancelled;      /**< ... "cancelled" (InvoiceNo starts with C) */
	uint64_t adjustments;    /**< ... "adjustment" (InvoiceNo starts with A) */
	uint64_t json_bytes;     /**< sum of the JSON lengths handed to the callback */
	uint64_t max_json_bytes; /**< largest JSON document handed to the callback */
	int xz;                  /**< 1 if the input was xz-compressed */
	size_t nmessages;        /**< messages kept below, <= OS_RETAIL_MAX_MESSAGES */
	char messages[OS_RETAIL_MAX_MESSAGES][OS_RETAIL_MSG_LEN]; /**< "line N: problem" */
} os_retail_stats;

/**
 * Called once per invoice, in the order invoices first appear in the file.
 * @id, @id_len:     the order ID (the InvoiceNo bytes, 1..256, not NUL-terminated).
 * @json, @json_len: the document (NUL-terminated as a convenience; not counted).
 * Both are owned by the importer and valid only during the call: copy what you keep.
 * Return 0 to continue; any other value stops the walk and is returned as is by
 * os_retail_each() / os_retail_read() (so an ostore_status can be passed through).
 */
typedef int (*os_retail_order_fn)(void *arg, const char *id, size_t id_len,
                                  const char *json, size_t json_len);

/** Opaque: the rows of one file, grouped by invoice. */
typedef struct os_retail os_retail;

/**
 * os_retail_open - read and check the whole file @path ("-" = standard input).
 * @out: receives the handle on OSTORE_OK (free with os_retail_close); untouched on error.
 * @err, @errlen: receive a message on error ("PATH: line 1: ..."); may be NULL / 0.
 * Rejected rows do not make this fail: see rows_rejected in os_retail_get_stats().
 * Returns OSTORE_OK, OSTORE_EINVAL (NULL argument, bad or missing header),
 * OSTORE_EIO (open/read error, corrupt or truncated xz), OSTORE_ENOMEM,
 * OSTORE_ETOOBIG (more than 2^32-2 rows). Nothing is left allocated on error.
 */
int os_retail_open(const char *path, os_retail **out, char *err, size_t errlen);

/** os_retail_get_stats - copy the current counters of @r (not NULL) into @st. Cannot fail. */
void os_retail_get_stats(const os_retail *r, os_retail_stats *st);

/**
 * os_retail_each - build every invoice's JSON and call @fn with it. May be called
 * again to walk once more (json_bytes then keeps counting).
 * Returns OSTORE_OK after the last invoice, the non-zero value @fn returned (the walk
 * stops there), or OSTORE_ENOMEM (jansson could not build a document; @err says which
 * invoice).
 */
int os_retail_each(os_retail *r, os_retail_order_fn fn, void *arg, char *err, size_t errlen);

/** os_retail_close - free @r and everything it holds. NULL is ignored. */
void os_retail_close(os_retail *r);

/**
 * os_retail_read - os_retail_open + os_retail_each + os_retail_close in one call.
 * Rejected rows are dropped and the valid ones delivered; the caller checks
 * @stats->rows_rejected afterwards (the walk has already happened then: use the
 * two-phase calls to decide before anything is delivered).
 * @stats: if not NULL, receives the counters (also when an error is returned after the
 *         file was read; zeroed when the file could not be read).
 * Returns as os_retail_open() and os_retail_each().
 */
int os_retail_read(const char *path, os_retail_order_fn fn, void *arg, os_retail_stats *stats,
                   char *err, size_t errlen);

#endif /* OS_RETAIL_H */
