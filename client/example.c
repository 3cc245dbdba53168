/* example.c - store an order and read it back (the README snippet). */
#include <stdio.h>
#include <string.h>

#include <orderstore.h>

int main(int argc, char **argv)
{
	const char *router = argc > 1 ? argv[1] : "tcp://127.0.0.1:7100";
	ostore_options opts;
	ostore_options_init(&opts);
	opts.routers = &router;
	opts.nrouters = 1;
	ostore_client *c;
	ostore_status st = ostore_open(&opts, &c);
	if (st != OSTORE_OK) {
		fprintf(stderr, "open: %s\n", ostore_strerror(st));
		return 1;
	}
	const char *id = "order-536365", *doc = "{\"customer\":17850,\"total\":139.12}";
	void *val;
	size_t len;
	uint64_t ver;
	if ((st = ostore_put(c, id, strlen(id), doc, strlen(doc), NULL)) == OSTORE_OK &&
	    (st = ostore_get(c, id, strlen(id), &val, &len, &ver)) == OSTORE_OK) {
		printf("%s v%llu: %.*s\n", id, (unsigned long long)ver, (int)len, (char *)val);
		ostore_free(val);
	} else {
		fprintf(stderr, "error: %s\n", ostore_strerror(st));
	}
	ostore_close(c);
	return st == OSTORE_OK ? 0 : 1;
}
