/*
 * stats.c - ostore_stats: one STATS frame to a router, which fans it out to every
 * shard's primary and answers one 48-byte entry per shard. The result is a single
 * malloc'ed block (header + flexible array), freed with ostore_stats_free.
 * total_orders sums the shards that answered OSTORE_OK; epoch is the router's map
 * epoch from the reply header.
 */
#include <stdlib.h>

#include "client_impl.h"

ostore_status ostore_stats(ostore_client *c, ostore_cluster_stats **out)
{
	if (c == NULL || out == NULL)
		return OSTORE_EINVAL;
	os_buf frame;
	os_buf_init(&frame);
	int st = oc_frame_begin(c, &frame, OS_KIND_STATS, 0, 0);
	if (st != OSTORE_OK) {
		os_buf_fini(&frame);
		return (ostore_status)st;
	}
	nng_msg *reply = NULL;
	st = oc_call(c, &frame, &reply); /* takes the frame */
	if (st != OSTORE_OK)
		return (ostore_status)st;

	os_hdr h;
	const uint8_t *body;
	size_t body_len;
	os_stats_entry *ents = NULL;
	ostore_cluster_stats *s = NULL;
	st = oc_reply_check(reply, OS_KIND_STATS, &h, &body, &body_len);
	if (st == OSTORE_OK && h.status != OSTORE_OK)
		st = h.status;
	if (st != OSTORE_OK)
		goto out;
	ents = malloc((h.count ? h.count : 1) * sizeof(*ents));
	s = malloc(sizeof(*s) + h.count * sizeof(s->shards[0]));
	if (ents == NULL || s == NULL) {
		st = OSTORE_ENOMEM;
		goto out;
	}
	st = os_stats_entries_get(body, body_len, h.count, ents);
	if (st != OSTORE_OK)
		goto out;
	s->epoch = h.epoch;
	s->total_orders = 0;
	s->nshards = h.count;
	for (size_t i = 0; i < h.count; i++) {
		ostore_shard_stats *d = &s->shards[i];
		d->shard = ents[i].shard;
		d->slots = ents[i].slots;
		d->node = ents[i].node;
		d->status = (ostore_status)ents[i].status;
		d->orders = ents[i].orders;
		d->lsn = ents[i].lsn;
		d->bytes_used = ents[i].bytes_used;
		if (d->status == OSTORE_OK)
			s->total_orders += d->orders;
	}
	*out = s;
	s = NULL;
out:
	free(ents);
	free(s);
	nng_msg_free(reply);
	return (ostore_status)st;
}

void ostore_stats_free(ostore_cluster_stats *s)
{
	free(s);
}
