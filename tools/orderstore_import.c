/*
 * orderstore_import.c - `orderstore import FILE` and `orderstore export`.
 *
 * import: tools/retail.h reads and checks the whole CSV first (so bad rows are refused
 * before anything is written), then calls back once per invoice. The callback copies
 * (ID, JSON) into the current batch; a full batch (--batch orders or 1 MiB) goes out
 * with ostore_submit and the next one fills while it is in flight:
 *
 *   os_retail_each ──▶ add_order ──▶ batch (arena + items) ──ostore_submit──▶ router
 *                                        ▲                                    │
 *                                        └── at most --concurrency in flight ◀┘ done_cb
 *
 * done_cb runs on a library thread: it tallies item statuses under the importer's
 * lock, frees the batch and wakes the producer. A batch that fails as a whole (the
 * cluster did not answer) stops the import: there is no point in queueing more.
 *
 * export: ostore_scan over every order, one JSON document per line. A stored document
 * that is one line of JSON naming its own order_id (what import stores) is written as
 * is; any other value is wrapped as {"order_id", "version", "value"} (see wrap()).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "orderstore_cli.h"
#include "retail.h"
#include "util.h"

#define IMPORT_DEFAULT_BATCH 64u
#define IMPORT_DEFAULT_CONCURRENCY 8u
#define IMPORT_BATCH_BYTES (1u << 20)
#define IMPORT_MAX_ERRORS 5

typedef struct importer importer;

/* One batch being filled or in flight. Items point into @arena once submitted. */
typedef struct imp_batch {
	importer *imp;
	size_t n;
	char *arena;
	size_t arena_len, arena_cap;
	size_t *id_off, *val_off; /* per item, offsets into the arena (it may move) */
	ostore_item *items;
} imp_batch;

struct importer {
	ostore_client *cl;
	uint32_t batch_max, concurrency;
	imp_batch *cur;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	uint32_t inflight;
	uint64_t ok, failed;
	ostore_status fatal; /* a whole batch failed: stop */
	ostore_status first_err;
	int nerrors;
	char errors[IMPORT_MAX_ERRORS][400];
};

static imp_batch *batch_new(importer *imp)
{
	imp_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->imp = imp;
	b->id_off = calloc(imp->batch_max, sizeof(*b->id_off));
	b->val_off = calloc(imp->batch_max, sizeof(*b->val_off));
	b->items = calloc(imp->batch_max, sizeof(*b->items));
	if (b->id_off == NULL || b->val_off == NULL || b->items == NULL) {
		free(b->id_off);
		free(b->val_off);
		free(b->items);
		free(b);
		return NULL;
	}
	return b;
}

static void batch_free(imp_batch *b)
{
	if (b == NULL)
		return;
	free(b->arena);
	free(b->id_off);
	free(b->val_off);
	free(b->items);
	free(b);
}

static int arena_put(imp_batch *b, const void *p, size_t n, size_t *off)
{
	if (b->arena_len + n > b->arena_cap) {
		size_t cap = b->arena_cap ? b->arena_cap : 64 * 1024;
		while (cap < b->arena_len + n)
			cap *= 2;
		char *na = realloc(b->arena, cap);
		if (na == NULL)
			return -1;
		b->arena = na;
		b->arena_cap = cap;
	}
	memcpy(b->arena + b->arena_len, p, n);
	*off = b->arena_len;
	b->arena_len += n;
	return 0;
}

/* Record an item's error message (caller holds imp->lock). */
static void note_error_locked(importer *imp, const ostore_item *it, ostore_status st)
{
	if (imp->first_err == OSTORE_OK)
		imp->first_err = st;
	if (imp->nerrors < IMPORT_MAX_ERRORS)
		snprintf(imp->errors[imp->nerrors++], sizeof(imp->errors[0]), "order '%s': %s",
		         cli_quote_id(it->id, it->id_len), ostore_strerror(st));
}

static void done_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	imp_batch *b = arg;
	importer *imp = b->imp;
	pthread_mutex_lock(&imp->lock);
	if (st != OSTORE_OK) {
		imp->failed += n;
		note_error_locked(imp, &items[0], st);
		if (imp->fatal == OSTORE_OK)
			imp->fatal = st;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (items[i].status == OSTORE_OK) {
				imp->ok++;
			} else {
				imp->failed++;
				note_error_locked(imp, &items[i], items[i].status);
				/* a shard that is down or silent fails every later batch too:
				 * stop instead of waiting out one timeout per batch */
				if ((items[i].status == OSTORE_EUNAVAIL ||
				     items[i].status == OSTORE_ETIMEDOUT) &&
				    imp->fatal == OSTORE_OK)
					imp->fatal = items[i].status;
			}
		}
	}
	imp->inflight--;
	pthread_cond_broadcast(&imp->cond);
	pthread_mutex_unlock(&imp->lock);
	batch_free(b);
}

/* Send the current batch (waits for a free in-flight slot). Returns 0 or a status that
 * stops the import. */
static int flush_batch(importer *imp)
{
	imp_batch *b = imp->cur;
	if (b == NULL || b->n == 0)
		return OSTORE_OK;
	imp->cur = NULL;
	for (size_t i = 0; i < b->n; i++) {
		b->items[i].id = b->arena + b->id_off[i];
		b->items[i].value = b->arena + b->val_off[i];
	}
	pthread_mutex_lock(&imp->lock);
	while (imp->inflight >= imp->concurrency && imp->fatal == OSTORE_OK)
		pthread_cond_wait(&imp->cond, &imp->lock);
	ostore_status fatal = imp->fatal;
	if (fatal == OSTORE_OK)
		imp->inflight++;
	pthread_mutex_unlock(&imp->lock);
	if (fatal != OSTORE_OK) {
		batch_free(b);
		return fatal;
	}
	for (;;) {
		ostore_status st = ostore_submit(imp->cl, b->items, b->n, done_cb, b);
		if (st == OSTORE_OK)
			return OSTORE_OK;
		if (st == OSTORE_EOVERLOAD) {
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		pthread_mutex_lock(&imp->lock);
		imp->inflight--;
		imp->failed += b->n;
		note_error_locked(imp, &b->items[0], st);
		imp->fatal = st;
		pthread_mutex_unlock(&imp->lock);
		batch_free(b);
		return st;
	}
}

/* os_retail_each callback: copy one invoice into the current batch. */
static int add_order(void *arg, const char *id, size_t id_len, const char *json, size_t json_len)
{
	importer *imp = arg;
	int st;
	if (imp->cur != NULL && imp->cur->n > 0 &&
	    imp->cur->arena_len + id_len + json_len > IMPORT_BATCH_BYTES &&
	    (st = flush_batch(imp)) != OSTORE_OK)
		return st;
	if (imp->cur == NULL && (imp->cur = batch_new(imp)) == NULL)
		return OSTORE_ENOMEM;
	imp_batch *b = imp->cur;
	if (arena_put(b, id, id_len, &b->id_off[b->n]) != 0 ||
	    arena_put(b, json, json_len, &b->val_off[b->n]) != 0)
		return OSTORE_ENOMEM;
	ostore_item *it = &b->items[b->n++];
	it->op = OSTORE_OP_PUT;
	it->id_len = id_len;
	it->value_len = json_len;
	if (b->n >= imp->batch_max)
		return flush_batch(imp);
	return OSTORE_OK;
}

static const char kImportHelp[] =
	"usage: orderstore import FILE [--batch N] [--concurrency C] [--skip-bad] [common options]\n"
	"Load the Online Retail CSV (plain or .xz; '-' = stdin): one JSON document per\n"
	"invoice, stored under the InvoiceNo. The file is read and checked first; a malformed\n"
	"row stops the import before anything is written unless --skip-bad is given.\n"
	"Prints orders, rows, bytes, elapsed time and orders/s at the end.\n"
	"\nOptions:\n"
	"  --batch N          orders per batch (default 64; a batch also ends at 1 MiB)\n"
	"  --concurrency C    batches in flight at once (default 8)\n"
	"  --skip-bad         import the valid rows of a file with malformed rows\n"
	"\nCommon options:\n" CLI_COMMON_HELP;

enum { OPT_BATCH = CLI_OPT_FIRST_LOCAL, OPT_CONC, OPT_SKIP };

static void print_rejects(const os_retail_stats *rs, const char *path)
{
	for (size_t i = 0; i < rs->nmessages; i++)
		fprintf(stderr, "  %s: %s\n", path, rs->messages[i]);
	if (rs->rows_rejected > rs->nmessages)
		fprintf(stderr, "  ... and %llu more\n",
		        (unsigned long long)(rs->rows_rejected - rs->nmessages));
}

int cli_cmd_import(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"batch", required_argument, NULL, OPT_BATCH},
		{"concurrency", required_argument, NULL, OPT_CONC},
		{"skip-bad", no_argument, NULL, OPT_SKIP},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	uint32_t batch = IMPORT_DEFAULT_BATCH, conc = IMPORT_DEFAULT_CONCURRENCY;
	bool skip_bad = false;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BATCH:
			if ((rc = cli_parse_u32("import", "--batch", optarg, 1, OSTORE_MAX_BATCH, &batch)))
				return rc;
			break;
		case OPT_CONC:
			if ((rc = cli_parse_u32("import", "--concurrency", optarg, 1, 256, &conc)))
				return rc;
			break;
		case OPT_SKIP:
			skip_bad = true;
			break;
		default: {
			int orc = cli_opt_rest(ctx, "import", c, argv, kImportHelp);
			if (orc != CLI_OPT_NEXT)
				return orc;
		}
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("import", "expected one FILE argument, got %d", argc - optind);
	const char *path = argv[optind];

	uint64_t t0 = os_now_ns();
	char err[512];
	os_retail *r = NULL;
	int st = os_retail_open(path, &r, err, sizeof(err));
	if (st != OSTORE_OK) {
		cli_err("import: %s", err);
		return CLI_EXIT_FAIL;
	}
	os_retail_stats rs;
	os_retail_get_stats(r, &rs);
	if (rs.rows_rejected > 0) {
		cli_err("import: %s: %llu of %llu rows are malformed%s:", path,
		        (unsigned long long)rs.rows_rejected, (unsigned long long)rs.rows_read,
		        skip_bad ? " and are skipped" : "; nothing was imported (--skip-bad imports "
		                                        "the valid rows)");
		print_rejects(&rs, path);
		if (!skip_bad) {
			os_retail_close(r);
			return CLI_EXIT_FAIL;
		}
	}

	importer imp = {.batch_max = batch, .concurrency = conc};
	pthread_mutex_init(&imp.lock, NULL);
	pthread_cond_init(&imp.cond, NULL);
	if ((rc = cli_open(ctx, "import", &imp.cl)) != 0) {
		os_retail_close(r);
		return rc;
	}
	st = os_retail_each(r, add_order, &imp, err, sizeof(err));
	if (st == OSTORE_OK)
		st = flush_batch(&imp);
	else if (st == OSTORE_ENOMEM && imp.fatal == OSTORE_OK)
		cli_err("import: %s", err[0] ? err : ostore_strerror(st));
	batch_free(imp.cur);
	imp.cur = NULL;
	pthread_mutex_lock(&imp.lock);
	while (imp.inflight > 0)
		pthread_cond_wait(&imp.cond, &imp.lock);
	pthread_mutex_unlock(&imp.lock);
	ostore_close(imp.cl);
	os_retail_get_stats(r, &rs);
	os_retail_close(r);
	double secs = (double)(os_now_ns() - t0) / 1e9;

	for (int i = 0; i < imp.nerrors; i++)
		cli_err("import: %s", imp.errors[i]);
	if (imp.failed > (uint64_t)imp.nerrors)
		cli_err("import: ... %llu orders failed in all",
		        (unsigned long long)imp.failed);
	printf("imported %llu of %llu orders from %llu rows (%llu rejected), %.1f MB of JSON, "
	       "in %.2f s: %.0f orders/s\n",
	       (unsigned long long)imp.ok, (unsigned long long)rs.invoices,
	       (unsigned long long)rs.rows_read, (unsigned long long)rs.rows_rejected,
	       (double)rs.json_bytes / 1e6, secs, secs > 0 ? (double)imp.ok / secs : 0.0);
	fflush(stdout);
	pthread_cond_destroy(&imp.cond);
	pthread_mutex_destroy(&imp.lock);
	if (imp.fatal != OSTORE_OK) {
		cli_err("import: stopped: %s", ostore_strerror(imp.fatal));
		return cli_exit_for(imp.fatal);
	}
	if (st != OSTORE_OK && imp.failed == 0)
		return CLI_EXIT_FAIL;
	if (imp.failed > 0 || imp.ok != rs.invoices)
		return imp.first_err != OSTORE_OK ? cli_exit_for(imp.first_err) : CLI_EXIT_FAIL;
	return CLI_EXIT_OK;
}

/* ---- export ---------------------------------------------------------------------- */

typedef struct exporter {
	uint64_t n, wrapped;
	int err; /* errno of a failed write, or ENOMEM */
} exporter;

/* A JSON string of @p (valid UTF-8), else NULL. */
static json_t *utf8_string(const void *p, size_t n)
{
	return json_stringn(p, n);
}

static json_t *hex_string(const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *h = malloc(2 * n + 1);
	if (h == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		h[2 * i] = digits[((const uint8_t *)p)[i] >> 4];
		h[2 * i + 1] = digits[((const uint8_t *)p)[i] & 15];
	}
	json_t *s = json_stringn(h, 2 * n);
	free(h);
	return s;
}

/* Whether @value is one line of JSON: an object whose "order_id" is the ID itself (what
 * import stores). Such a document is written unchanged. */
static bool is_own_document(const void *id, size_t id_len, const void *value, size_t value_len)
{
	if (value_len == 0 || memchr(value, '\n', value_len) != NULL)
		return false;
	json_t *doc = json_loadb(value, value_len, 0, NULL);
	json_t *oid = json_is_object(doc) ? json_object_get(doc, "order_id") : NULL;
	bool own = json_is_string(oid) && json_string_length(oid) == id_len &&
	           memcmp(json_string_value(oid), id, id_len) == 0;
	json_decref(doc);
	return own;
}

/*
 * Any other value is wrapped so that every line is still one JSON document that names
 * its order: {"order_id": ID, "version": V, "value": ...}, where value is the parsed JSON
 * when the bytes are JSON, else a string when they are UTF-8; IDs and values that are
 * not UTF-8 go as "order_id_hex" / "value_hex".
 */
static json_t *wrap(const void *id, size_t id_len, const void *value, size_t value_len,
                    uint64_t version)
{
	json_t *o = json_object();
	json_t *jid = utf8_string(id, id_len);
	json_object_set_new(o, jid ? "order_id" : "order_id_hex", jid ? jid : hex_string(id, id_len));
	json_object_set_new(o, "version", json_integer((json_int_t)version));
	json_t *v = value_len ? json_loadb(value, value_len, JSON_DECODE_ANY, NULL) : NULL;
	const char *key = "value";
	if (v == NULL)
		v = utf8_string(value, value_len);
	if (v == NULL) {
		key = "value_hex";
		v = hex_string(value, value_len);
	}
	json_object_set_new(o, key, v);
	return o;
}

static int export_one(void *arg, const void *id, size_t id_len, const void *value,
                      size_t value_len, uint64_t version)
{
	exporter *ex = arg;
	int ok;
	if (is_own_document(id, id_len, value, value_len)) {
		ok = fwrite(value, 1, value_len, stdout) == value_len && putchar('\n') != EOF;
	} else {
		json_t *o = wrap(id, id_len, value, value_len, version);
		char *line = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
		json_decref(o);
		if (line == NULL) {
			ex->err = ENOMEM;
			return 1;
		}
		ok = fputs(line, stdout) != EOF && putchar('\n') != EOF;
		free(line);
		ex->wrapped++;
	}
	if (!ok) {
		ex->err = errno ? errno : EIO;
		return 1;
	}
	ex->n++;
	return 0;
}

static const char kExportHelp[] =
	"usage: orderstore export [common options]\n"
	"Write every stored order to stdout as one JSON document per line, slot by slot.\n"
	"An order stored by 'import' (a one-line JSON object whose order_id is its ID) is\n"
	"written as stored; any other value is wrapped as\n"
	"  {\"order_id\": ID, \"version\": V, \"value\": VALUE}\n"
	"with VALUE the parsed JSON, else a string; IDs or values that are not UTF-8 are\n"
	"given as \"order_id_hex\" / \"value_hex\". The count goes to stderr.\n"
	"\nCommon options:\n" CLI_COMMON_HELP;

int cli_cmd_export(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		int orc = cli_opt_rest(ctx, "export", c, argv, kExportHelp);
		if (orc != CLI_OPT_NEXT)
			return orc;
	}
	if (optind < argc)
		return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
	ostore_client *cl;
	if ((rc = cli_open(ctx, "export", &cl)) != 0)
		return rc;
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	exporter ex = {0};
	ostore_status st = ostore_scan(cl, export_one, &ex);
	ostore_close(cl);
	if (fflush(stdout) != 0 && ex.err == 0)
		ex.err = errno ? errno : EIO;
	if (ex.err) {
		cli_err("export: cannot write to stdout: %s", strerror(ex.err));
		return CLI_EXIT_FAIL;
	}
	if (st != OSTORE_OK) {
		cli_err("export: stopped after %llu orders: %s", (unsigned long long)ex.n,
		        ostore_strerror(st));
		return cli_exit_for(st);
	}
	fprintf(stderr, "orderstore: exported %llu orders (%llu wrapped as {order_id, version, value})\n",
	        (unsigned long long)ex.n, (unsigned long long)ex.wrapped);
	return CLI_EXIT_OK;
}
