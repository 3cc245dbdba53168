/*
 * orderstore_metrics.c - where the processes of a local cluster serve /metrics.
 *
 *   local up --metrics-offset K (default 100, 0 = off)
 *     process listening on tcp://HOST:P  ─▶  --metrics-addr HOST:(P + K)
 *     DIR/metrics.json = {"offset": K}   ─▶  read by `local start` (same rule) and by
 *                                           `status --dir DIR` (the "metrics" URLs)
 *
 * A rule instead of a table: every process's metrics address follows from its data
 * address, so a node restarted by `local start`, or one the map moved, needs nothing
 * else recorded. Without DIR/metrics.json (clusters started before metrics, or not local)
 * the URLs are unknown and `status` reports null.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "orderstore_cli.h"

uint32_t cli_metrics_offset(const char *dir)
{
	char path[PATH_MAX];
	if (dir == NULL || cli_fmt(path, sizeof(path), "%s/metrics.json", dir) != 0 ||
	    !cli_file_exists(path))
		return 0;
	json_error_t jerr;
	json_t *o = json_load_file(path, 0, &jerr);
	json_t *k = json_object_get(o, "offset");
	uint32_t off = 0;
	if (json_is_integer(k) && json_integer_value(k) > 0 && json_integer_value(k) < 65535)
		off = (uint32_t)json_integer_value(k);
	json_decref(o);
	return off;
}

int cli_metrics_save(const char *dir, uint32_t offset)
{
	char path[PATH_MAX];
	cli_fmt(path, sizeof(path), "%s/metrics.json", dir);
	json_t *o = json_pack("{s:i}", "offset", (int)offset);
	if (o == NULL)
		return ENOMEM;
	int rc = json_dump_file(o, path, JSON_INDENT(2)) == 0 ? 0 : EIO;
	json_decref(o);
	return rc;
}

int cli_metrics_hostport(const char *url, uint32_t offset, char *out, size_t len)
{
	char host[256];
	int port = cli_url_port(url, host, sizeof(host));
	if (offset == 0 || port <= 0 || (uint32_t)port + offset > 65535)
		return -1;
	return cli_fmt(out, len, "%s:%u", host, (unsigned)port + offset);
}

int cli_metrics_url(const char *url, uint32_t offset, char *out, size_t len)
{
	char hp[300];
	if (cli_metrics_hostport(url, offset, hp, sizeof(hp)) != 0)
		return -1;
	return cli_fmt(out, len, "http://%s/metrics", hp);
}
