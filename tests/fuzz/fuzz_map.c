/*
 * fuzz_map.c - fuzz harness of the cluster map decoders (common/map.c): the binary blob
 * (MAP_SET / MAP_GET bodies, the node's stored map) and the JSON text (DIR/map.json,
 * `orderstore map`). An input that starts with the blob magic ("OMAP" little-endian) is
 * a blob, any other is JSON text (up to its first NUL byte).
 *
 * Every map that decodes, from either side, must: pass os_map_check; re-encode to a
 * blob that decodes to an equal map and re-encodes to the same bytes; print as JSON that
 * parses back to an equal map; clone to an equal map; and give slot targets that add up
 * to the 4096 slots (0 for a draining shard) unless every weight is 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "map.h"

static void check_equal(const os_map *a, const os_map *b)
{
	FUZZ_CHECK(a->epoch == b->epoch && a->cluster_id == b->cluster_id);
	FUZZ_CHECK(a->nnodes == b->nnodes && a->nshards == b->nshards);
	for (uint16_t i = 0; i < a->nnodes; i++) {
		FUZZ_CHECK(a->nodes[i].id == b->nodes[i].id);
		FUZZ_CHECK(strcmp(a->nodes[i].addr, b->nodes[i].addr) == 0);
	}
	for (uint16_t i = 0; i < a->nshards; i++) {
		const os_map_shard *x = &a->shards[i], *y = &b->shards[i];
		FUZZ_CHECK(x->id == y->id && x->primary == y->primary && x->weight == y->weight);
		FUZZ_CHECK(x->nreplicas == y->nreplicas);
		FUZZ_CHECK(memcmp(x->replicas, y->replicas, x->nreplicas * sizeof x->replicas[0]) == 0);
	}
	FUZZ_CHECK(memcmp(a->slot_shard, b->slot_shard, sizeof a->slot_shard) == 0);
}

static void check_blob(const os_map *m)
{
	os_buf one, two;
	os_buf_init(&one);
	os_buf_init(&two);
	FUZZ_CHECK(os_map_encode(m, &one) == OSTORE_OK);
	uint8_t *copy = fuzz_dup(one.data, one.len);
	os_map *d = NULL;
	FUZZ_CHECK(os_map_decode(copy, one.len, &d) == OSTORE_OK);
	check_equal(m, d);
	FUZZ_CHECK(os_map_encode(d, &two) == OSTORE_OK);
	FUZZ_CHECK(fuzz_bytes_eq(one.data, one.len, two.data, two.len));
	os_map_unref(d);
	free(copy);
	os_buf_fini(&one);
	os_buf_fini(&two);
}

static void check_json(const os_map *m)
{
	char *text = os_map_to_json(m);
	FUZZ_CHECK(text != NULL);
	os_map *d = NULL;
	char err[256];
	int st = os_map_from_json(text, &d, err, sizeof err);
	if (st != OSTORE_OK)
		fprintf(stderr, "os_map_from_json: %s\n", err);
	FUZZ_CHECK(st == OSTORE_OK);
	check_equal(m, d);
	os_map_unref(d);
	free(text);
}

static void check_targets(const os_map *m)
{
	uint32_t *t = calloc(m->nshards, sizeof *t);
	FUZZ_CHECK(t != NULL);
	uint64_t weights = 0, sum = 0;
	for (uint16_t i = 0; i < m->nshards; i++)
		weights += m->shards[i].weight;
	int st = os_map_slot_targets(m, t);
	FUZZ_CHECK(st == (weights ? OSTORE_OK : OSTORE_EINVAL));
	for (uint16_t i = 0; st == OSTORE_OK && i < m->nshards; i++) {
		FUZZ_CHECK(m->shards[i].weight != 0 || t[i] == 0);
		sum += t[i];
	}
	FUZZ_CHECK(st != OSTORE_OK || sum == OSTORE_SLOTS);
	free(t);
}

/* Every property of a decoded map (top of the file); takes the reference @m. */
static void check_map(os_map *m)
{
	FUZZ_CHECK(os_map_check(m) == OSTORE_OK);
	check_blob(m);
	check_json(m);
	os_map *c = os_map_clone(m);
	FUZZ_CHECK(c != NULL);
	check_equal(m, c);
	os_map_unref(c);
	check_targets(m);
	os_map_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	os_map *m = NULL;
	if (size >= 4 && os_ld32(data) == OS_MAP_MAGIC) {
		if (os_map_decode(data, size, &m) == OSTORE_OK)
			check_map(m);
		return 0;
	}
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char err[256];
	if (os_map_from_json(text, &m, err, sizeof err) == OSTORE_OK)
		check_map(m);
	free(text);
	return 0;
}
