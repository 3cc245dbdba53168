/*
 * retail.c - Online Retail CSV -> one JSON document per invoice (see retail.h).
 *
 *   file ──fread 64 KiB──▶ [xz? lzma stream decoder] ──64 KiB──▶ split at LF ──▶ libcsv
 *                                                                              │ field, row
 *   os_retail_each ◀── invoices[] (first-seen order) ◀── hash InvoiceNo ◀── check row
 *        │                 rows[] (file order, linked per invoice), text arena
 *        └─ jansson object per invoice ─▶ json_dumpb (reused buffer) ─▶ callback
 *
 * Reading. Decoded bytes are cut at each LF before they go to libcsv, so the importer
 * always knows the physical line being parsed: a row's number is the line on which
 * its first bytes were fed (blank lines, which libcsv skips, do not start a row). libcsv
 * runs in strict mode (RFC 4180); on a quoting error it stops in the middle of a
 * buffer, so the row is rejected, the parser is reset and reading resumes at the next
 * line. The default libcsv space function trims blanks around unquoted fields; it is
 * replaced by one that trims nothing, because descriptions carry meaningful spaces.
 *
 * Storage. A row's fields are copied into a scratch buffer (libcsv's pointers live only
 * during its callback), checked, then only what the JSON needs is kept: per row the
 * stock code and description (in one growing text arena, addressed by offset so the
 * arena can move), quantity, price and the index of the invoice's next row; per invoice
 * its ID, customer, country, earliest date (packed as the decimal YYYYMMDDhhmmss, so
 * integer order = time order) and first/last row. An open-addressing table of invoice
 * indexes finds the invoice of a row. Strings are validated as UTF-8 once, when read,
 * so building JSON later uses jansson's _nocheck constructors.
 *
 * Numbers: UnitPrice goes through strtod_l in a private "C" locale (correctly rounded,
 * and a decimal point whatever the process locale), so the %.15g that jansson prints
 * with JSON_REAL_PRECISION(15) gives back the CSV digits.
 */
#include "retail.h"

#include <csv.h>
#include <errno.h>
#include <jansson.h>
#include <locale.h>
#include <lzma.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orderstore.h"

#define NCOLS 8
#define CHUNK 65536u
#define NONE UINT32_MAX
#define MAX_ROWS (UINT32_MAX - 1u)

enum { C_INVOICE, C_STOCK, C_DESC, C_QTY, C_DATE, C_PRICE, C_CUSTOMER, C_COUNTRY };

static const char *const columns[NCOLS] = {"InvoiceNo", "StockCode", "Description",
                                           "Quantity",  "InvoiceDate", "UnitPrice",
                                           "CustomerID", "Country"};

static const unsigned char xz_magic[6] = {0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00};

typedef struct rrow {
	size_t stock_off, desc_off; /* into os_retail.text */
	uint32_t stock_len, desc_len;
	uint32_t next; /* next row of the same invoice, NONE at the end */
	int64_t qty;
	double price;
} rrow;

typedef struct rinv {
	size_t id_off, cust_off, country_off;
	uint32_t id_len, cust_len, country_len;
	uint8_t has_cust, has_country;
	uint64_t date; /* earliest InvoiceDate, packed YYYYMMDDhhmmss */
	uint32_t first, last;
} rinv;

struct os_retail {
	char *text;
	size_t text_len, text_cap;
	rrow *rows;
	size_t nrows, rows_cap;
	rinv *invs;
	size_t ninvs, invs_cap;
	uint32_t *table; /* invoice index + 1, 0 = free slot; size is a power of two */
	size_t table_cap;
	char *json; /* dump buffer reused by os_retail_each */
	size_t json_cap;
	os_retail_stats st;
};

/* State of one os_retail_open() call. */
typedef struct parse_ctx {
	os_retail *r;
	struct csv_parser csv;
	char *row; /* scratch copy of the current row's first NCOLS fields, NUL after each */
	size_t row_len, row_cap;
	size_t off[NCOLS], len[NCOLS];
	size_t nfields;
	int too_long;
	uint64_t line;     /* physical line being fed, 1-based */
	uint64_t row_line; /* line on which the current row started */
	int at_row_start;
	int skip_line;   /* drop input up to the next LF (after a quoting error) */
	int header_done;
	int status; /* first fatal error, OSTORE_OK while none */
	locale_t c_locale;
	const char *name;
	char *err;
	size_t errlen;
} parse_ctx;

__attribute__((format(printf, 3, 4))) static void fatal(parse_ctx *p, int status, const char *fmt, ...)
{
	if (p->status != OSTORE_OK)
		return;
	p->status = status;
	if (p->err == NULL || p->errlen == 0)
		return;
	int n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void reject(parse_ctx *p, const char *fmt, ...)
{
	os_retail_stats *st = &p->r->st;
	st->rows_rejected++;
	if (st->nmessages >= OS_RETAIL_MAX_MESSAGES)
		return;
	char *m = st->messages[st->nmessages++];
	int n = snprintf(m, OS_RETAIL_MSG_LEN, "line %llu: ", (unsigned long long)p->row_line);
	if (n < 0 || n >= OS_RETAIL_MSG_LEN)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m + n, OS_RETAIL_MSG_LEN - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A field for a message: at most 40 bytes, control bytes shown as '?'. */
static const char *show(const char *s, size_t len, char buf[48])
{
	size_t n = len > 40 ? 40 : len, i;
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (len > n)
		memcpy(buf + i, "...", 3), i += 3;
	buf[i] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------------------- */
/* Field checks                                                                        */
/* ---------------------------------------------------------------------------------- */

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF)
			n = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

/* Optional sign and 1..18 decimal digits (so the value fits an int64_t). */
static int parse_qty(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == len || len - i > 18)
		return -1;
	int64_t v = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

/* [+-]digits[.digits][(e|E)[+-]digits] with at least one mantissa digit; finite.
 * Converted in the "C" locale @c whatever the process locale is. */
static int parse_price(const char *s, size_t len, locale_t c, double *out)
{
	size_t i = 0, digits = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	if (digits == 0)
		return -1;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		if (++i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			e++;
		if (e == 0)
			return -1;
	}
	if (i != len)
		return -1;
	char *end;
	double v = strtod_l(s, &end, c); /* s is NUL-terminated right after len */
	if (end != s + len || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD HH:MM:SS", a real calendar time -> packed YYYYMMDDhhmmss. */
static int parse_date(const char *s, size_t len, uint64_t *out)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (len != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
	int h = num(s + 11, 2), mi = num(s + 14, 2), sec = num(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return -1;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -1;
	*out = ((((((uint64_t)y * 100 + (uint64_t)mo) * 100 + (uint64_t)d) * 100 + (uint64_t)h) *
	             100 +
	         (uint64_t)mi) *
	        100) +
	       (uint64_t)sec;
	return 0;
}

/* CustomerID: "17850.0" (digits, '.', zeros) loses the fraction; anything else is kept. */
static size_t customer_len(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i == len || s[i] != '.')
		return len;
	for (size_t k = i + 1; k < len; k++)
		if (s[k] != '0')
			return len;
	return i;
}

/* ---------------------------------------------------------------------------------- */
/* Storage                                                                             */
/* ---------------------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 1024;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return -1;
		n *= 2;
	}
	void *q = realloc(*p, n * elem);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Append @len bytes to the text arena; *off receives their offset. */
static int text_add(os_retail *r, const char *s, size_t len, size_t *off)
{
	if (grow((void **)&r->text, &r->text_cap, r->text_len + len, 1) != 0)
		return -1;
	memcpy(r->text + r->text_len, s, len);
	*off = r->text_len;
	r->text_len += len;
	return 0;
}

static uint64_t hash_id(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

/* Slot of @id in the table: its invoice's slot, or the free slot where it belongs. */
static size_t table_find(const os_retail *r, const char *id, size_t len)
{
	size_t mask = r->table_cap - 1, i = (size_t)hash_id(id, len) & mask;
	for (;; i = (i + 1) & mask) {
		uint32_t e = r->table[i];
		if (e == 0)
			return i;
		const rinv *v = &r->invs[e - 1];
		if (v->id_len == len && memcmp(r->text + v->id_off, id, len) == 0)
			return i;
	}
}

/* Keep the table at most half full. */
static int table_reserve(os_retail *r)
{
	if (r->table_cap != 0 && (r->ninvs + 1) * 2 <= r->table_cap)
		return 0;
	size_t cap = r->table_cap ? r->table_cap * 2 : 4096;
	uint32_t *t = calloc(cap, sizeof *t);
	if (t == NULL)
		return -1;
	free(r->table);
	r->table = t;
	r->table_cap = cap;
	for (size_t k = 0; k < r->ninvs; k++) {
		const rinv *v = &r->invs[k];
		r->table[table_find(r, r->text + v->id_off, v->id_len)] = (uint32_t)(k + 1);
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Rows                                                                                */
/* ---------------------------------------------------------------------------------- */

#define F(c) (p->row + p->off[c])
#define L(c) (p->len[c])

static void check_header(parse_ctx *p)
{
	p->header_done = 1;
	if (p->nfields != NCOLS) {
		fatal(p, OSTORE_EINVAL,
		      "line %llu: bad header: %zu columns, expected the 8 columns "
		      "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
		      "CustomerID,Country",
		      (unsigned long long)p->row_line, p->nfields);
		return;
	}
	if (L(0) >= 3 && memcmp(F(0), "\xEF\xBB\xBF", 3) == 0) /* UTF-8 byte order mark */
		p->off[0] += 3, p->len[0] -= 3;
	for (int c = 0; c < NCOLS; c++) {
		if (L(c) == strlen(columns[c]) && memcmp(F(c), columns[c], L(c)) == 0)
			continue;
		char b[48];
		fatal(p, OSTORE_EINVAL, "line %llu: bad header: column %d is \"%s\", expected \"%s\"",
		      (unsigned long long)p->row_line, c + 1, show(F(c), L(c), b), columns[c]);
		return;
	}
}

static int store_row(parse_ctx *p, int64_t qty, uint64_t date, double price)
{
	os_retail *r = p->r;
	size_t cust = customer_len(F(C_CUSTOMER), L(C_CUSTOMER));
	if (table_reserve(r) != 0)
		return -1;
	size_t slot = table_find(r, F(C_INVOICE), L(C_INVOICE));
	rinv *v;
	if (r->table[slot] == 0) {
		if (grow((void **)&r->invs, &r->invs_cap, r->ninvs + 1, sizeof *r->invs) != 0)
			return -1;
		v = &r->invs[r->ninvs];
		memset(v, 0, sizeof *v);
		if (text_add(r, F(C_INVOICE), L(C_INVOICE), &v->id_off) != 0)
			return -1;
		v->id_len = (uint32_t)L(C_INVOICE);
		v->date = date;
		v->first = v->last = NONE;
		r->table[slot] = (uint32_t)++r->ninvs;
		char c0 = F(C_INVOICE)[0];
		if (c0 == 'C')
			r->st.cancelled++;
		else if (c0 == 'A')
			r->st.adjustments++;
		else
			r->st.placed++;
	} else {
		v = &r->invs[r->table[slot] - 1];
		if (date < v->date)
			v->date = date;
	}
	if (!v->has_cust && cust > 0) {
		if (text_add(r, F(C_CUSTOMER), cust, &v->cust_off) != 0)
			return -1;
		v->cust_len = (uint32_t)cust;
		v->has_cust = 1;
	}
	if (!v->has_country && L(C_COUNTRY) > 0) {
		if (text_add(r, F(C_COUNTRY), L(C_COUNTRY), &v->country_off) != 0)
			return -1;
		v->country_len = (uint32_t)L(C_COUNTRY);
		v->has_country = 1;
	}
	if (grow((void **)&r->rows, &r->rows_cap, r->nrows + 1, sizeof *r->rows) != 0)
		return -1;
	rrow *w = &r->rows[r->nrows];
	if (text_add(r, F(C_STOCK), L(C_STOCK), &w->stock_off) != 0 ||
	    text_add(r, F(C_DESC), L(C_DESC), &w->desc_off) != 0)
		return -1;
	w->stock_len = (uint32_t)L(C_STOCK);
	w->desc_len = (uint32_t)L(C_DESC);
	w->qty = qty;
	w->price = price;
	w->next = NONE;
	uint32_t idx = (uint32_t)r->nrows++;
	if (v->last == NONE)
		v->first = idx;
	else
		r->rows[v->last].next = idx;
	v->last = idx;
	return 0;
}

static void data_row(parse_ctx *p)
{
	os_retail *r = p->r;
	char b[48];
	r->st.rows_read++;
	if (p->nfields != NCOLS) {
		reject(p, "%zu columns, expected 8", p->nfields);
		return;
	}
	if (p->too_long) {
		reject(p, "a field is longer than %u bytes", OS_RETAIL_MAX_FIELD);
		return;
	}
	if (L(C_INVOICE) == 0) {
		reject(p, "empty InvoiceNo");
		return;
	}
	if (L(C_INVOICE) > OSTORE_MAX_ID_LEN) {
		reject(p, "InvoiceNo is %zu bytes, at most %u", L(C_INVOICE), OSTORE_MAX_ID_LEN);
		return;
	}
	static const int texts[] = {C_INVOICE, C_STOCK, C_DESC, C_CUSTOMER, C_COUNTRY};
	for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
		int c = texts[k];
		if (!utf8_valid((const unsigned char *)F(c), L(c))) {
			reject(p, "%s is not valid UTF-8", columns[c]);
			return;
		}
	}
	int64_t qty;
	if (parse_qty(F(C_QTY), L(C_QTY), &qty) != 0) {
		reject(p, "Quantity is not an integer: \"%s\"", show(F(C_QTY), L(C_QTY), b));
		return;
	}
	uint64_t date;
	if (parse_date(F(C_DATE), L(C_DATE), &date) != 0) {
		reject(p, "InvoiceDate is not a time YYYY-MM-DD HH:MM:SS: \"%s\"",
		       show(F(C_DATE), L(C_DATE), b));
		return;
	}
	double price;
	if (parse_price(F(C_PRICE), L(C_PRICE), p->c_locale, &price) != 0) {
		reject(p, "UnitPrice is not a decimal number: \"%s\"",
		       show(F(C_PRICE), L(C_PRICE), b));
		return;
	}
	if (r->nrows >= MAX_ROWS) {
		fatal(p, OSTORE_ETOOBIG, "line %llu: more than %u rows",
		      (unsigned long long)p->row_line, MAX_ROWS);
		return;
	}
	if (store_row(p, qty, date, price) != 0)
		fatal(p, OSTORE_ENOMEM, "out of memory at line %llu",
		      (unsigned long long)p->row_line);
}

static void row_reset(parse_ctx *p)
{
	p->nfields = 0;
	p->row_len = 0;
	p->too_long = 0;
	p->at_row_start = 1;
}

/* libcsv callback: one field. */
static void on_field(void *data, size_t len, void *arg)
{
	parse_ctx *p = arg;
	if (p->status != OSTORE_OK)
		return;
	size_t i = p->nfields++;
	if (i >= NCOLS)
		return;
	if (len > OS_RETAIL_MAX_FIELD) {
		p->too_long = 1;
		len = 0;
	}
	if (grow((void **)&p->row, &p->row_cap, p->row_len + len + 1, 1) != 0) {
		fatal(p, OSTORE_ENOMEM, "out of memory at line %llu",
		      (unsigned long long)p->row_line);
		return;
	}
	if (len > 0)
		memcpy(p->row + p->row_len, data, len);
	p->off[i] = p->row_len;
	p->len[i] = len;
	p->row[p->row_len + len] = '\0';
	p->row_len += len + 1;
}

/* libcsv callback: end of a row. */
static void on_row(int term, void *arg)
{
	parse_ctx *p = arg;
	(void)term;
	if (p->status != OSTORE_OK)
		return;
	if (!p->header_done)
		check_header(p);
	else
		data_row(p);
	row_reset(p);
}

static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static void parser_start(parse_ctx *p)
{
	csv_init(&p->csv, CSV_STRICT | CSV_STRICT_FINI);
	csv_set_space_func(&p->csv, no_space);
	csv_set_blk_size(&p->csv, 1024);
}

/* libcsv stopped in the middle of a buffer: a quoting error, or out of memory. */
static void parse_error(parse_ctx *p, const char *what)
{
	int e = csv_error(&p->csv);
	if (e != CSV_EPARSE) {
		fatal(p, e == CSV_ENOMEM ? OSTORE_ENOMEM : OSTORE_EINTERNAL,
		      "line %llu: CSV parser: %s", (unsigned long long)p->row_line,
		      csv_strerror(e));
		return;
	}
	if (!p->header_done) {
		fatal(p, OSTORE_EINVAL, "line %llu: bad header: %s", (unsigned long long)p->row_line,
		      what);
		return;
	}
	p->r->st.rows_read++;
	reject(p, "%s", what);
	csv_free(&p->csv);
	parser_start(p);
	row_reset(p);
}

/* Feed decoded CSV bytes to libcsv one physical line at a time. */
static void feed(parse_ctx *p, const char *buf, size_t len)
{
	p->r->st.csv_bytes += len;
	while (len > 0 && p->status == OSTORE_OK) {
		const char *nl = memchr(buf, '\n', len);
		size_t seg = nl ? (size_t)(nl - buf) + 1 : len;
		if (p->skip_line) {
			p->skip_line = nl == NULL;
		} else {
			if (p->at_row_start) {
				size_t k = 0;
				while (k < seg && (buf[k] == '\r' || buf[k] == '\n'))
					k++;
				if (k < seg) {
					p->row_line = p->line;
					p->at_row_start = 0;
				}
			}
			if (csv_parse(&p->csv, buf, seg, on_field, on_row, p) < seg &&
			    p->status == OSTORE_OK) {
				parse_error(p, "malformed quoting (RFC 4180)");
				p->skip_line = nl == NULL;
			}
		}
		if (nl)
			p->line++;
		buf += seg;
		len -= seg;
	}
}

static const char *lzma_text(lzma_ret ret)
{
	switch (ret) {
	case LZMA_FORMAT_ERROR: return "not xz data";
	case LZMA_OPTIONS_ERROR: return "unsupported xz options";
	case LZMA_DATA_ERROR: return "corrupt xz data";
	case LZMA_BUF_ERROR: return "truncated xz data";
	case LZMA_MEM_ERROR: return "out of memory in the xz decoder";
	default: return "xz decoder error";
	}
}

/* Read everything from @f, decompressing if it starts with the xz magic. */
static void read_input(parse_ctx *p, FILE *f, unsigned char *in, unsigned char *out)
{
	size_t n = fread(in, 1, CHUNK, f);
	p->r->st.input_bytes += n;
	if (n < CHUNK && ferror(f)) {
		fatal(p, OSTORE_EIO, "read error: %s", strerror(errno));
		return;
	}
	if (n < sizeof xz_magic || memcmp(in, xz_magic, sizeof xz_magic) != 0) {
		while (n > 0 && p->status == OSTORE_OK) {
			feed(p, (const char *)in, n);
			n = fread(in, 1, CHUNK, f);
			p->r->st.input_bytes += n;
			if (n < CHUNK && ferror(f))
				fatal(p, OSTORE_EIO, "read error: %s", strerror(errno));
		}
		return;
	}
	p->r->st.xz = 1;
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret ret = lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED);
	if (ret != LZMA_OK) {
		fatal(p, ret == LZMA_MEM_ERROR ? OSTORE_ENOMEM : OSTORE_EINTERNAL, "%s",
		      lzma_text(ret));
		return;
	}
	lzma_action action = LZMA_RUN;
	s.next_in = in;
	s.avail_in = n;
	while (p->status == OSTORE_OK) {
		if (s.avail_in == 0 && action == LZMA_RUN) {
			n = fread(in, 1, CHUNK, f);
			p->r->st.input_bytes += n;
			if (n < CHUNK && ferror(f)) {
				fatal(p, OSTORE_EIO, "read error: %s", strerror(errno));
				break;
			}
			if (n == 0)
				action = LZMA_FINISH;
			s.next_in = in;
			s.avail_in = n;
		}
		s.next_out = out;
		s.avail_out = CHUNK;
		ret = lzma_code(&s, action);
		feed(p, (const char *)out, CHUNK - s.avail_out);
		if (ret == LZMA_STREAM_END)
			break;
		if (ret != LZMA_OK)
			fatal(p, ret == LZMA_MEM_ERROR ? OSTORE_ENOMEM : OSTORE_EIO, "%s",
			      lzma_text(ret));
	}
	lzma_end(&s);
}

int os_retail_open(const char *path, os_retail **out, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || out == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "os_retail_open: NULL argument");
		return OSTORE_EINVAL;
	}
	parse_ctx ctx = {.line = 1, .row_line = 1, .at_row_start = 1, .status = OSTORE_OK,
	                 .err = err, .errlen = errlen};
	parse_ctx *p = &ctx;
	int is_stdin = strcmp(path, "-") == 0;
	p->name = is_stdin ? "<stdin>" : path;
	p->r = calloc(1, sizeof *p->r);
	unsigned char *in = malloc(CHUNK), *outb = malloc(CHUNK);
	FILE *f = NULL;
	p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (p->r == NULL || in == NULL || outb == NULL || p->c_locale == (locale_t)0) {
		fatal(p, OSTORE_ENOMEM, "out of memory");
		goto done;
	}
	f = is_stdin ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fatal(p, OSTORE_EIO, "cannot open: %s", strerror(errno));
		goto done;
	}
	parser_start(p);
	read_input(p, f, in, outb);
	if (p->status == OSTORE_OK &&
	    csv_fini(&p->csv, on_field, on_row, p) != 0 && p->status == OSTORE_OK) {
		if (csv_error(&p->csv) != CSV_EPARSE)
			fatal(p, OSTORE_ENOMEM, "CSV parser: %s", csv_strerror(csv_error(&p->csv)));
		else if (!p->header_done)
			fatal(p, OSTORE_EINVAL, "line %llu: bad header: unterminated quoted field",
			      (unsigned long long)p->row_line);
		else {
			p->r->st.rows_read++;
			reject(p, "unterminated quoted field at end of input");
		}
	}
	if (p->status == OSTORE_OK && !p->header_done)
		fatal(p, OSTORE_EINVAL, "empty input: no header line");
	csv_free(&p->csv);
	if (!is_stdin)
		fclose(f);
done:
	if (p->c_locale != (locale_t)0)
		freelocale(p->c_locale);
	free(in);
	free(outb);
	free(p->row);
	if (p->status != OSTORE_OK) {
		os_retail_close(p->r);
		return p->status;
	}
	p->r->st.invoices = p->r->ninvs;
	*out = p->r;
	return OSTORE_OK;
}

/* ---------------------------------------------------------------------------------- */
/* JSON                                                                                */
/* ---------------------------------------------------------------------------------- */

/* Every constructor result is checked once: set_new/append_new fail on NULL values. */
static json_t *build_invoice(const os_retail *r, const rinv *v)
{
	const char *t = r->text;
	json_t *o = json_object(), *lines = json_array();
	char when[32];
	uint64_t d = v->date;
	snprintf(when, sizeof when, "%04u-%02u-%02uT%02u:%02u:%02u",
	         (unsigned)(d / 10000000000ull), (unsigned)(d / 100000000ull % 100),
	         (unsigned)(d / 1000000ull % 100), (unsigned)(d / 10000ull % 100),
	         (unsigned)(d / 100ull % 100), (unsigned)(d % 100));
	const char *status = t[v->id_off] == 'C'   ? "cancelled"
	                     : t[v->id_off] == 'A' ? "adjustment"
	                                           : "placed";
	int bad = o == NULL || lines == NULL;
	if (bad) {
		json_decref(lines);
		json_decref(o);
		return NULL;
	}
	bad |= json_object_set_new_nocheck(o, "order_id",
	                                   json_stringn_nocheck(t + v->id_off, v->id_len));
	bad |= json_object_set_new_nocheck(
		o, "customer",
		v->has_cust ? json_stringn_nocheck(t + v->cust_off, v->cust_len) : json_null());
	bad |= json_object_set_new_nocheck(
		o, "country", json_stringn_nocheck(v->has_country ? t + v->country_off : "",
	                                            v->country_len));
	bad |= json_object_set_new_nocheck(o, "created_at", json_string_nocheck(when));
	bad |= json_object_set_new_nocheck(o, "status", json_string_nocheck(status));
	bad |= json_object_set_new_nocheck(o, "lines", lines);
	for (uint32_t i = v->first; i != NONE && !bad; i = r->rows[i].next) {
		const rrow *w = &r->rows[i];
		json_t *l = json_object();
		bad |= json_array_append_new(lines, l);
		if (bad)
			break;
		bad |= json_object_set_new_nocheck(
			l, "stock_code", json_stringn_nocheck(t + w->stock_off, w->stock_len));
		bad |= json_object_set_new_nocheck(
			l, "description", json_stringn_nocheck(t + w->desc_off, w->desc_len));
		bad |= json_object_set_new_nocheck(l, "quantity", json_integer(w->qty));
		bad |= json_object_set_new_nocheck(l, "unit_price", json_real(w->price));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int os_retail_each(os_retail *r, os_retail_order_fn fn, void *arg, char *err, size_t errlen)
{
	const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(15);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (r == NULL || fn == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "os_retail_each: NULL argument");
		return OSTORE_EINVAL;
	}
	for (size_t k = 0; k < r->ninvs; k++) {
		const rinv *v = &r->invs[k];
		json_t *o = build_invoice(r, v);
		size_t n = 0;
		if (o != NULL) {
			n = json_dumpb(o, r->json, r->json_cap, flags);
			if (n != 0 && n + 1 > r->json_cap) {
				if (grow((void **)&r->json, &r->json_cap, n + 1, 1) == 0)
					n = json_dumpb(o, r->json, r->json_cap, flags);
				else
					n = 0;
			}
			json_decref(o);
		}
		if (n == 0) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "invoice %.*s: out of memory building its JSON",
				         (int)(v->id_len > 64 ? 64 : v->id_len), r->text + v->id_off);
			return OSTORE_ENOMEM;
		}
		r->json[n] = '\0';
		r->st.json_bytes += n;
		if (n > r->st.max_json_bytes)
			r->st.max_json_bytes = n;
		int rc = fn(arg, r->text + v->id_off, v->id_len, r->json, n);
		if (rc != 0)
			return rc;
	}
	return OSTORE_OK;
}

void os_retail_get_stats(const os_retail *r, os_retail_stats *st)
{
	*st = r->st;
}

void os_retail_close(os_retail *r)
{
	if (r == NULL)
		return;
	free(r->text);
	free(r->rows);
	free(r->invs);
	free(r->table);
	free(r->json);
	free(r);
}

int os_retail_read(const char *path, os_retail_order_fn fn, void *arg, os_retail_stats *stats,
                   char *err, size_t errlen)
{
	os_retail *r = NULL;
	if (stats != NULL)
		memset(stats, 0, sizeof *stats);
	int rc = os_retail_open(path, &r, err, errlen);
	if (rc != OSTORE_OK)
		return rc;
	rc = os_retail_each(r, fn, arg, err, errlen);
	if (stats != NULL)
		os_retail_get_stats(r, stats);
	os_retail_close(r);
	return rc;
}
