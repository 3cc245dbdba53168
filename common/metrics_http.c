/*
 * metrics_http.c - GET /metrics over nng's HTTP server (management address only).
 *
 *   scraper ── GET /metrics ──▶ nng http server ──▶ metrics_cb (nng task thread)
 *                                 (other paths: 404 from nng)   │ os_metrics_render
 *                                                               ▼
 *                                      200 text/plain; version=0.0.4 + exposition
 *
 * The callback renders into a heap buffer and hands nng a copy; it never blocks beyond
 * the collectors' short reads (LMDB read transactions, a mutex or two). nng 1.5.2 has
 * HTTP server bugs (#1594, #1611), which is why the endpoint is meant for a loopback /
 * management address and never shares the data port.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include <orderstore.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

struct os_metrics_http {
	os_metrics *reg;
	nng_url *url;
	nng_http_server *srv;
	char display[300];
};

bool os_metrics_check_hostport(const char *s)
{
	if (s == NULL)
		return false;
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || strlen(s) > 255 || strchr(s, '/') != NULL)
		return false;
	uint64_t port;
	return os_parse_u64(colon + 1, 1, 65535, &port) == 0;
}

static void metrics_cb(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	os_metrics *reg = nng_http_handler_get_data(h);
	os_buf b;
	os_buf_init(&b);
	nng_http_res *res = NULL;
	int rv = 0;
	if (os_metrics_render(reg, &b) != OSTORE_OK) {
		rv = nng_http_res_alloc_error(&res, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR);
	} else if ((rv = nng_http_res_alloc(&res)) == 0) {
		if ((rv = nng_http_res_set_header(res, "Content-Type",
		                                  "text/plain; version=0.0.4; charset=utf-8")) == 0)
			rv = nng_http_res_copy_data(res, b.data != NULL ? (void *)b.data : "", b.len);
		if (rv != 0) {
			nng_http_res_free(res);
			res = NULL;
		}
	}
	os_buf_fini(&b);
	if (rv != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int os_metrics_http_start(os_metrics *reg, const char *hostport, os_metrics_http **out)
{
	if (!os_metrics_check_hostport(hostport))
		return OSTORE_EINVAL;
	os_metrics_http *mh = calloc(1, sizeof(*mh));
	if (mh == NULL)
		return OSTORE_ENOMEM;
	mh->reg = reg;
	char url[300];
	snprintf(url, sizeof(url), "http://%s", hostport);
	snprintf(mh->display, sizeof(mh->display), "http://%s/metrics", hostport);
	nng_http_handler *h = NULL;
	int rv = nng_url_parse(&mh->url, url);
	if (rv != 0) {
		free(mh);
		return OSTORE_EINVAL;
	}
	if ((rv = nng_http_server_hold(&mh->srv, mh->url)) != 0)
		goto fail;
	if ((rv = nng_http_handler_alloc(&h, "/metrics", metrics_cb)) != 0 ||
	    (rv = nng_http_handler_set_method(h, "GET")) != 0 ||
	    (rv = nng_http_handler_set_data(h, reg, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(mh->srv, h)) != 0) {
		if (h != NULL)
			nng_http_handler_free(h);
		goto fail;
	}
	if ((rv = nng_http_server_start(mh->srv)) != 0)
		goto fail;
	OS_INFO("msg=\"serving metrics\" url=%s", mh->display);
	*out = mh;
	return OSTORE_OK;
fail:
	OS_ERROR("msg=\"cannot serve metrics\" addr=%s err=\"%s\"", hostport, nng_strerror(rv));
	if (mh->srv != NULL)
		nng_http_server_release(mh->srv);
	nng_url_free(mh->url);
	free(mh);
	return rv == NNG_ENOMEM ? OSTORE_ENOMEM : OSTORE_ECONNECT;
}

const char *os_metrics_http_url(const os_metrics_http *h)
{
	return h->display;
}

void os_metrics_http_stop(os_metrics_http *h)
{
	if (h == NULL)
		return;
	nng_http_server_stop(h->srv);
	nng_http_server_release(h->srv);
	nng_url_free(h->url);
	free(h);
}
