/*
 * dedup.c - recent write request IDs -> first result (see dedup.h for the window).
 *
 * Open addressing with a bounded neighbourhood instead of unbounded linear probing: a key
 * lives in one of NODE_DEDUP_PROBE entries starting at hash(key) & mask, so lookups touch
 * at most that many entries (two cache lines of keys) and no deletion logic is needed.
 * Every insert stamps the entry with a growing counter; a full neighbourhood gives up its
 * smallest stamp (the oldest). seq 0 marks an empty entry, since seq 0 is never a
 * request ID.
 */
#include "dedup.h"

#include <stdlib.h>

typedef struct dedup_entry {
	uint64_t client_id;
	uint64_t seq; /* 0 = empty */
	uint64_t stamp;
	uint64_t version;
	uint16_t status;
} dedup_entry;

struct node_dedup {
	dedup_entry *e;
	uint64_t next_stamp;
};

static uint32_t dedup_hash(uint64_t client_id, uint64_t seq)
{
	/* splitmix64 finaliser over both halves: cheap and well mixed. */
	uint64_t x = client_id ^ (seq * 0x9E3779B97F4A7C15ull);
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 31;
	return (uint32_t)x;
}

node_dedup *node_dedup_create(void)
{
	node_dedup *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->e = calloc(NODE_DEDUP_ENTRIES, sizeof(dedup_entry));
	if (d->e == NULL) {
		free(d);
		return NULL;
	}
	d->next_stamp = 1;
	return d;
}

void node_dedup_destroy(node_dedup *d)
{
	if (d == NULL)
		return;
	free(d->e);
	free(d);
}

bool node_dedup_lookup(const node_dedup *d, uint64_t client_id, uint64_t seq,
                       node_dedup_result *out)
{
	if (seq == 0)
		return false;
	uint32_t h = dedup_hash(client_id, seq);
	for (uint32_t i = 0; i < NODE_DEDUP_PROBE; i++) {
		const dedup_entry *e = &d->e[(h + i) & (NODE_DEDUP_ENTRIES - 1)];
		if (e->seq == seq && e->client_id == client_id) {
			out->status = e->status;
			out->version = e->version;
			return true;
		}
	}
	return false;
}

void node_dedup_insert(node_dedup *d, uint64_t client_id, uint64_t seq,
                       const node_dedup_result *res)
{
	if (seq == 0)
		return;
	uint32_t h = dedup_hash(client_id, seq);
	dedup_entry *victim = NULL;
	for (uint32_t i = 0; i < NODE_DEDUP_PROBE; i++) {
		dedup_entry *e = &d->e[(h + i) & (NODE_DEDUP_ENTRIES - 1)];
		if (e->seq == 0 || (e->seq == seq && e->client_id == client_id)) {
			victim = e;
			break;
		}
		if (victim == NULL || e->stamp < victim->stamp)
			victim = e;
	}
	victim->client_id = client_id;
	victim->seq = seq;
	victim->stamp = d->next_stamp++;
	victim->status = res->status;
	victim->version = res->version;
}
