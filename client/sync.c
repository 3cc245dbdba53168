/*
 * sync.c - the blocking calls, built on the same engine as ostore_submit.
 *
 * Each call puts a waiter (mutex + condvar + result) on its own stack, submits with a
 * callback that fills the waiter and signals it, and sleeps until then:
 *
 *   caller thread                         nng thread
 *   ostore_put ─▶ ostore_submit ────────▶ engine ... reply
 *       wait(w.cv) ◀──────── signal ───── oc_wait_batch_cb: w.done = true
 *
 * The callback touches the waiter only under its mutex, and the caller destroys it only
 * after seeing done under the same mutex, so the stack frame outlives every access.
 * Blocking calls must not run inside a library callback: they would block an nng
 * thread that the reply may need, and a request of the callback's own lane would wait
 * for the slot the running frame gives back only after its callbacks. They answer
 * OSTORE_EINVAL there at once (oc_in_callback).
 */
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"

typedef struct oc_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int st;
	nng_msg *reply; /* oc_call only */
} oc_waiter;

static void oc_waiter_init(oc_waiter *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = false;
	w->st = OSTORE_EINTERNAL;
	w->reply = NULL;
}

static void oc_waiter_signal(oc_waiter *w, int st, nng_msg *reply)
{
	pthread_mutex_lock(&w->mu);
	w->st = st;
	w->reply = reply;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Wait for the callback, then release the waiter. Returns its status. */
static int oc_waiter_wait(oc_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	return w->st;
}

static void oc_waiter_release(oc_waiter *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

static void oc_wait_batch_cb(void *arg, ostore_item *items, size_t n, ostore_status st)
{
	(void)items;
	(void)n;
	oc_waiter_signal(arg, st, NULL);
}

ostore_status ostore_batch(ostore_client *c, ostore_item *items, size_t n)
{
	if (c == NULL || oc_in_callback())
		return OSTORE_EINVAL;
	oc_waiter w;
	oc_waiter_init(&w);
	int st = ostore_submit(c, items, n, oc_wait_batch_cb, &w);
	if (st != OSTORE_OK) {
		oc_waiter_release(&w);
		if (items != NULL && n <= OSTORE_MAX_BATCH)
			for (size_t i = 0; i < n; i++)
				items[i].status = (ostore_status)st;
		return (ostore_status)st;
	}
	return (ostore_status)oc_waiter_wait(&w);
}

/* One item through ostore_batch; the item's own status is the answer. */
static ostore_status oc_one(ostore_client *c, ostore_item *it)
{
	ostore_status st = ostore_batch(c, it, 1);
	return st != OSTORE_OK ? st : it->status;
}

ostore_status ostore_put(ostore_client *c, const void *id, size_t id_len, const void *value,
                         size_t value_len, uint64_t *version_out)
{
	ostore_item it = {.op = OSTORE_OP_PUT, .id = id, .id_len = id_len, .value = value,
	                  .value_len = value_len};
	ostore_status st = oc_one(c, &it);
	if (st == OSTORE_OK && version_out != NULL)
		*version_out = it.version;
	return st;
}

ostore_status ostore_get(ostore_client *c, const void *id, size_t id_len, void **value_out,
                         size_t *len_out, uint64_t *version_out)
{
	ostore_item it = {.op = OSTORE_OP_GET, .id = id, .id_len = id_len};
	ostore_status st = oc_one(c, &it);
	if (st != OSTORE_OK) {
		free(it.out_value);
		return st;
	}
	if (value_out != NULL)
		*value_out = it.out_value;
	else
		free(it.out_value);
	if (len_out != NULL)
		*len_out = it.out_len;
	if (version_out != NULL)
		*version_out = it.version;
	return OSTORE_OK;
}

ostore_status ostore_del(ostore_client *c, const void *id, size_t id_len)
{
	ostore_item it = {.op = OSTORE_OP_DEL, .id = id, .id_len = id_len};
	return oc_one(c, &it);
}

ostore_status ostore_cas(ostore_client *c, const void *id, size_t id_len, uint64_t expected,
                         const void *value, size_t value_len, uint64_t *version_out)
{
	ostore_item it = {.op = OSTORE_OP_CAS, .id = id, .id_len = id_len, .value = value,
	                  .value_len = value_len, .expected = expected};
	ostore_status st = oc_one(c, &it);
	if (st == OSTORE_OK && version_out != NULL)
		*version_out = it.version;
	return st;
}

static void oc_wait_req_cb(void *arg, int st, nng_msg *reply)
{
	oc_waiter_signal(arg, st, reply);
}

int oc_call(ostore_client *c, os_buf *frame, nng_msg **reply)
{
	if (oc_in_callback()) {
		os_buf_fini(frame); /* taken over in every case */
		return OSTORE_EINVAL;
	}
	oc_waiter w;
	oc_waiter_init(&w);
	int st = oc_req_start(c, frame, oc_wait_req_cb, &w);
	if (st != OSTORE_OK) {
		oc_waiter_release(&w);
		return st;
	}
	st = oc_waiter_wait(&w);
	*reply = w.reply;
	return st;
}
