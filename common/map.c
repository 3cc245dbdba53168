/*
 * map.c - the cluster map: building, validation, binary blob and JSON encodings.
 *
 * A map is built (os_map_new + add_node/add_shard + slot table, or a decoder), checked
 * once by os_map_check, and then never changed: threads share it read-only and keep it
 * alive with the atomic refcount. The next epoch is a clone that is edited before it is
 * published. Node and shard arrays stay sorted by id so lookups are binary searches.
 *
 * Both decoders build through the same add_* functions and end with os_map_check, so a
 * blob from the wire and a JSON file are held to exactly the same rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "map.h"
#include "util.h"

#define ADDR_MAX 255u

/* ---- lifetime ---- */

os_map *os_map_new(void)
{
	os_map *m = calloc(1, sizeof *m);
	if (m != NULL)
		m->refs = 1;
	return m;
}

os_map *os_map_ref(os_map *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

static void map_free(os_map *m)
{
	for (uint16_t i = 0; i < m->nnodes; i++)
		free(m->nodes[i].addr);
	free(m->nodes);
	free(m->shards);
	free(m);
}

void os_map_unref(os_map *m)
{
	if (m == NULL)
		return;
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		map_free(m);
}

os_map *os_map_clone(const os_map *m)
{
	os_map *c = os_map_new();
	if (c == NULL)
		return NULL;
	c->epoch = m->epoch;
	c->cluster_id = m->cluster_id;
	memcpy(c->slot_shard, m->slot_shard, sizeof c->slot_shard);
	if (m->nnodes) {
		c->nodes = calloc(m->nnodes, sizeof *c->nodes);
		if (c->nodes == NULL)
			goto oom;
		for (uint16_t i = 0; i < m->nnodes; i++) {
			c->nodes[i].id = m->nodes[i].id;
			c->nodes[i].addr = strdup(m->nodes[i].addr);
			if (c->nodes[i].addr == NULL) {
				c->nnodes = i;
				goto oom;
			}
		}
		c->nnodes = m->nnodes;
	}
	if (m->nshards) {
		c->shards = malloc(m->nshards * sizeof *c->shards);
		if (c->shards == NULL)
			goto oom;
		memcpy(c->shards, m->shards, m->nshards * sizeof *c->shards);
		c->nshards = m->nshards;
	}
	return c;
oom:
	map_free(c);
	return NULL;
}

/* ---- builders ---- */

/* Index of the first node with id >= @id. */
static size_t node_lower(const os_map *m, uint16_t id)
{
	size_t lo = 0, hi = m->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->nodes[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t shard_lower(const os_map *m, uint16_t id)
{
	size_t lo = 0, hi = m->nshards;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->shards[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* An nng URL: 1..ADDR_MAX bytes of printable ASCII. Other bytes are refused here, so
 * every map that decodes from the blob also prints as JSON (jansson refuses strings
 * that are not UTF-8) and parses back (fuzz_map found a blob with such an address). */
static bool addr_ok(const char *addr)
{
	if (addr == NULL)
		return false;
	size_t n = strnlen(addr, ADDR_MAX + 1);
	if (n < 1 || n > ADDR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (addr[i] < 0x20 || addr[i] > 0x7e)
			return false;
	return true;
}

int os_map_add_node(os_map *m, uint16_t id, const char *addr)
{
	if (id >= OS_MAP_MAX_IDS || !addr_ok(addr))
		return OSTORE_EINVAL;
	size_t at = node_lower(m, id);
	if (at < m->nnodes && m->nodes[at].id == id)
		return OSTORE_EINVAL;
	char *copy = strdup(addr);
	if (copy == NULL)
		return OSTORE_ENOMEM;
	os_map_node *n = realloc(m->nodes, ((size_t)m->nnodes + 1) * sizeof *n);
	if (n == NULL) {
		free(copy);
		return OSTORE_ENOMEM;
	}
	m->nodes = n;
	memmove(&n[at + 1], &n[at], (m->nnodes - at) * sizeof *n);
	n[at].id = id;
	n[at].addr = copy;
	m->nnodes++;
	return OSTORE_OK;
}

int os_map_add_shard(os_map *m, uint16_t id, uint16_t primary, const uint16_t *replicas,
                     uint16_t nreplicas)
{
	if (id >= OS_MAP_MAX_IDS || nreplicas > OS_MAP_MAX_REPLICAS)
		return OSTORE_EINVAL;
	if (nreplicas && replicas == NULL)
		return OSTORE_EINVAL;
	for (uint16_t i = 0; i < nreplicas; i++) {
		if (replicas[i] == primary || replicas[i] == OS_NODE_NONE)
			return OSTORE_EINVAL;
		for (uint16_t j = 0; j < i; j++)
			if (replicas[j] == replicas[i])
				return OSTORE_EINVAL;
	}
	size_t at = shard_lower(m, id);
	if (at < m->nshards && m->shards[at].id == id)
		return OSTORE_EINVAL;
	os_map_shard *s = realloc(m->shards, ((size_t)m->nshards + 1) * sizeof *s);
	if (s == NULL)
		return OSTORE_ENOMEM;
	m->shards = s;
	memmove(&s[at + 1], &s[at], (m->nshards - at) * sizeof *s);
	memset(&s[at], 0, sizeof s[at]);
	s[at].id = id;
	s[at].primary = primary;
	s[at].weight = OS_MAP_WEIGHT_DEFAULT;
	s[at].nreplicas = nreplicas;
	if (nreplicas)
		memcpy(s[at].replicas, replicas, nreplicas * sizeof *replicas);
	m->nshards++;
	return OSTORE_OK;
}

int os_map_set_weight(os_map *m, uint16_t id, uint16_t weight)
{
	size_t at = shard_lower(m, id);
	if (at >= m->nshards || m->shards[at].id != id)
		return OSTORE_EINVAL;
	m->shards[at].weight = weight;
	return OSTORE_OK;
}

/* Whether node @node is the primary or a replica of any shard of @m. */
static bool node_in_a_shard(const os_map *m, uint16_t node)
{
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *s = &m->shards[i];
		if (s->primary == node)
			return true;
		for (uint16_t r = 0; r < s->nreplicas; r++)
			if (s->replicas[r] == node)
				return true;
	}
	return false;
}

/* Drop node @id (if present and in no shard), freeing its address. */
static void drop_node_if_unused(os_map *m, uint16_t id)
{
	size_t at = node_lower(m, id);
	if (at >= m->nnodes || m->nodes[at].id != id || node_in_a_shard(m, id))
		return;
	free(m->nodes[at].addr);
	memmove(&m->nodes[at], &m->nodes[at + 1], (m->nnodes - at - 1) * sizeof m->nodes[0]);
	m->nnodes--;
}

int os_map_remove_shard(os_map *m, uint16_t id)
{
	size_t at = shard_lower(m, id);
	if (at >= m->nshards || m->shards[at].id != id || m->nshards == 1)
		return OSTORE_EINVAL;
	for (uint32_t i = 0; i < OSTORE_SLOTS; i++)
		if (m->slot_shard[i] == id)
			return OSTORE_EINVAL;
	os_map_shard gone = m->shards[at];
	memmove(&m->shards[at], &m->shards[at + 1], (m->nshards - at - 1) * sizeof gone);
	m->nshards--;
	if (gone.primary != OS_NODE_NONE)
		drop_node_if_unused(m, gone.primary);
	for (uint16_t r = 0; r < gone.nreplicas; r++)
		drop_node_if_unused(m, gone.replicas[r]);
	return OSTORE_OK;
}

os_map *os_map_build_even(uint16_t nshards, const char *const *addrs, uint64_t cluster_id)
{
	if (nshards == 0 || nshards > OS_MAP_MAX_IDS || addrs == NULL)
		return NULL;
	os_map *m = os_map_new();
	if (m == NULL)
		return NULL;
	m->epoch = 1;
	m->cluster_id = cluster_id ? cluster_id : os_random_u64();
	for (uint16_t i = 0; i < nshards; i++) {
		if (os_map_add_node(m, i, addrs[i]) != OSTORE_OK ||
		    os_map_add_shard(m, i, i, NULL, 0) != OSTORE_OK)
			goto fail;
		uint32_t first = (uint32_t)i * OSTORE_SLOTS / nshards;
		uint32_t end = ((uint32_t)i + 1) * OSTORE_SLOTS / nshards;
		for (uint32_t s = first; s < end; s++)
			m->slot_shard[s] = i;
	}
	if (os_map_check(m) != OSTORE_OK)
		goto fail;
	return m;
fail:
	os_map_unref(m);
	return NULL;
}

/* ---- validation and lookups ---- */

const os_map_node *os_map_node_by_id(const os_map *m, uint16_t id)
{
	size_t at = node_lower(m, id);
	return at < m->nnodes && m->nodes[at].id == id ? &m->nodes[at] : NULL;
}

const os_map_shard *os_map_shard_by_id(const os_map *m, uint16_t id)
{
	size_t at = shard_lower(m, id);
	return at < m->nshards && m->shards[at].id == id ? &m->shards[at] : NULL;
}

int os_map_check(const os_map *m)
{
	if (m == NULL || m->nnodes == 0 || m->nshards == 0)
		return OSTORE_EINVAL;
	if (m->epoch > OS_MAP_EPOCH_MAX) /* would print as a negative JSON integer */
		return OSTORE_EINVAL;
	if (m->nodes == NULL || m->shards == NULL)
		return OSTORE_EINVAL;
	for (uint16_t i = 0; i < m->nnodes; i++) {
		if (m->nodes[i].id >= OS_MAP_MAX_IDS || !addr_ok(m->nodes[i].addr))
			return OSTORE_EINVAL;
		if (i > 0 && m->nodes[i - 1].id >= m->nodes[i].id)
			return OSTORE_EINVAL; /* unsorted or duplicate */
	}
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *s = &m->shards[i];
		if (s->id >= OS_MAP_MAX_IDS || s->nreplicas > OS_MAP_MAX_REPLICAS)
			return OSTORE_EINVAL;
		if (i > 0 && m->shards[i - 1].id >= s->id)
			return OSTORE_EINVAL;
		if (s->primary != OS_NODE_NONE && os_map_node_by_id(m, s->primary) == NULL)
			return OSTORE_EINVAL;
		for (uint16_t r = 0; r < s->nreplicas; r++) {
			if (os_map_node_by_id(m, s->replicas[r]) == NULL ||
			    s->replicas[r] == s->primary)
				return OSTORE_EINVAL;
			for (uint16_t q = 0; q < r; q++)
				if (s->replicas[q] == s->replicas[r])
					return OSTORE_EINVAL;
		}
	}
	/* Slot table: the common case is long runs of one shard, so look up once per run. */
	uint16_t last = 0;
	bool have_last = false;
	for (uint32_t i = 0; i < OSTORE_SLOTS; i++) {
		if (have_last && m->slot_shard[i] == last)
			continue;
		if (os_map_shard_by_id(m, m->slot_shard[i]) == NULL)
			return OSTORE_EINVAL;
		last = m->slot_shard[i];
		have_last = true;
	}
	return OSTORE_OK;
}

uint32_t os_map_slot_count(const os_map *m, uint16_t shard)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < OSTORE_SLOTS; i++)
		n += m->slot_shard[i] == shard;
	return n;
}

const char *os_map_primary_addr(const os_map *m, uint16_t slot)
{
	if (slot >= OSTORE_SLOTS)
		return NULL;
	const os_map_shard *s = os_map_shard_by_id(m, m->slot_shard[slot]);
	if (s == NULL || s->primary == OS_NODE_NONE)
		return NULL;
	const os_map_node *n = os_map_node_by_id(m, s->primary);
	return n ? n->addr : NULL;
}

/* ---- binary blob ---- */

int os_map_encode(const os_map *m, os_buf *b)
{
	os_buf_put_u32(b, OS_MAP_MAGIC);
	os_buf_put_u16(b, OS_MAP_FORMAT);
	os_buf_put_u16(b, m->nnodes);
	os_buf_put_u16(b, m->nshards);
	os_buf_put_u16(b, 0);
	os_buf_put_u64(b, m->epoch);
	os_buf_put_u64(b, m->cluster_id);
	for (uint16_t i = 0; i < m->nnodes; i++) {
		size_t alen = strlen(m->nodes[i].addr);
		os_buf_put_u16(b, m->nodes[i].id);
		os_buf_put_u16(b, (uint16_t)alen);
		os_buf_put(b, m->nodes[i].addr, alen);
	}
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *s = &m->shards[i];
		os_buf_put_u16(b, s->id);
		os_buf_put_u16(b, s->primary);
		os_buf_put_u16(b, s->nreplicas);
		for (uint16_t r = 0; r < s->nreplicas; r++)
			os_buf_put_u16(b, s->replicas[r]);
		os_buf_put_u16(b, s->weight);
	}
	if (os_buf_reserve(b, 2 * OSTORE_SLOTS) == 0) {
		for (uint32_t i = 0; i < OSTORE_SLOTS; i++)
			os_st16(b->data + b->len + 2 * i, m->slot_shard[i]);
		b->len += 2 * OSTORE_SLOTS;
	}
	return b->oom ? OSTORE_ENOMEM : OSTORE_OK;
}

/* Map a builder's status onto the blob decoder's: invalid content is a protocol error. */
static int blob_status(int st)
{
	return st == OSTORE_ENOMEM ? OSTORE_ENOMEM : OSTORE_EPROTO;
}

int os_map_decode(const uint8_t *p, size_t len, os_map **out)
{
	os_rd r;
	os_rd_init(&r, p, len);
	uint32_t magic = 0;
	uint16_t format = 0, nnodes = 0, nshards = 0, pad = 0;
	uint64_t epoch = 0, cluster_id = 0;
	os_rd_u32(&r, &magic);
	os_rd_u16(&r, &format);
	os_rd_u16(&r, &nnodes);
	os_rd_u16(&r, &nshards);
	os_rd_u16(&r, &pad);
	os_rd_u64(&r, &epoch);
	os_rd_u64(&r, &cluster_id);
	if (r.bad || magic != OS_MAP_MAGIC || (format != OS_MAP_FORMAT && format != OS_MAP_FORMAT_V1))
		return OSTORE_EPROTO;
	if (nnodes == 0 || nshards == 0 || nnodes > OS_MAP_MAX_IDS || nshards > OS_MAP_MAX_IDS)
		return OSTORE_EPROTO;
	os_map *m = os_map_new();
	if (m == NULL)
		return OSTORE_ENOMEM;
	m->epoch = epoch;
	m->cluster_id = cluster_id;
	int st = OSTORE_EPROTO;
	char addr[ADDR_MAX + 1];
	for (uint16_t i = 0; i < nnodes; i++) {
		uint16_t id = 0, alen = 0;
		os_rd_u16(&r, &id);
		os_rd_u16(&r, &alen);
		if (r.bad || alen == 0 || alen > ADDR_MAX)
			goto fail;
		const uint8_t *a = os_rd_take(&r, alen);
		if (a == NULL || memchr(a, '\0', alen) != NULL)
			goto fail;
		memcpy(addr, a, alen);
		addr[alen] = '\0';
		int ast = os_map_add_node(m, id, addr);
		if (ast != OSTORE_OK) {
			st = blob_status(ast);
			goto fail;
		}
	}
	for (uint16_t i = 0; i < nshards; i++) {
		uint16_t id = 0, primary = 0, nrep = 0;
		uint16_t reps[OS_MAP_MAX_REPLICAS];
		os_rd_u16(&r, &id);
		os_rd_u16(&r, &primary);
		os_rd_u16(&r, &nrep);
		if (r.bad || nrep > OS_MAP_MAX_REPLICAS)
			goto fail;
		for (uint16_t k = 0; k < nrep; k++)
			os_rd_u16(&r, &reps[k]);
		uint16_t weight = OS_MAP_WEIGHT_DEFAULT;
		if (format >= OS_MAP_FORMAT)
			os_rd_u16(&r, &weight);
		if (r.bad)
			goto fail;
		int ast = os_map_add_shard(m, id, primary, reps, nrep);
		if (ast != OSTORE_OK) {
			st = blob_status(ast);
			goto fail;
		}
		os_map_set_weight(m, id, weight);
	}
	const uint8_t *slots = os_rd_take(&r, 2 * OSTORE_SLOTS);
	if (slots == NULL || r.left != 0)
		goto fail;
	for (uint32_t i = 0; i < OSTORE_SLOTS; i++)
		m->slot_shard[i] = os_ld16(slots + 2 * i);
	if (os_map_check(m) != OSTORE_OK)
		goto fail;
	*out = m;
	return OSTORE_OK;
fail:
	os_map_unref(m);
	return st;
}

/* ---- JSON ---- */

char *os_map_to_json(const os_map *m)
{
	char cid[17];
	snprintf(cid, sizeof cid, "%016" PRIx64, m->cluster_id);
	json_t *root = json_object();
	json_t *nodes = json_array();
	json_t *shards = json_array();
	json_t *slots = json_array();
	char *text = NULL;
	if (root == NULL || nodes == NULL || shards == NULL || slots == NULL)
		goto out;
	int bad = 0;
	bad |= json_object_set_new(root, "cluster_id", json_string(cid));
	bad |= json_object_set_new(root, "epoch", json_integer((json_int_t)m->epoch));
	for (uint16_t i = 0; i < m->nnodes; i++)
		bad |= json_array_append_new(nodes, json_pack("{s:i, s:s}", "id",
		                                              (int)m->nodes[i].id, "addr",
		                                              m->nodes[i].addr));
	for (uint16_t i = 0; i < m->nshards; i++) {
		const os_map_shard *s = &m->shards[i];
		json_t *reps = json_array();
		for (uint16_t r = 0; reps != NULL && r < s->nreplicas; r++)
			bad |= json_array_append_new(reps, json_integer(s->replicas[r]));
		json_t *prim = s->primary == OS_NODE_NONE ? json_null() : json_integer(s->primary);
		bad |= reps == NULL || prim == NULL; /* "o?" would turn a failed allocation into null */
		bad |= json_array_append_new(shards, json_pack("{s:i, s:o?, s:o?, s:i}", "id",
		                                               (int)s->id, "primary", prim,
		                                               "replicas", reps, "weight",
		                                               (int)s->weight));
	}
	for (uint32_t first = 0; first < OSTORE_SLOTS;) {
		uint32_t last = first;
		while (last + 1 < OSTORE_SLOTS && m->slot_shard[last + 1] == m->slot_shard[first])
			last++;
		bad |= json_array_append_new(slots, json_pack("[i, i, i]", (int)first, (int)last,
		                                              (int)m->slot_shard[first]));
		first = last + 1;
	}
	bad |= json_object_set(root, "nodes", nodes);
	bad |= json_object_set(root, "shards", shards);
	bad |= json_object_set(root, "slots", slots);
	if (!bad)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(nodes);
	json_decref(shards);
	json_decref(slots);
	json_decref(root);
	return text;
}

static int jerr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int jerr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return OSTORE_EINVAL;
}

/* A JSON integer in [0, max], else -1. */
static long long jint(const json_t *v, long long max)
{
	if (!json_is_integer(v))
		return -1;
	json_int_t x = json_integer_value(v);
	return x < 0 || x > max ? -1 : (long long)x;
}

static int json_nodes(os_map *m, const json_t *nodes, char *err, size_t errlen)
{
	if (!json_is_array(nodes) || json_array_size(nodes) == 0)
		return jerr(err, errlen, "\"nodes\" must be a non-empty array");
	size_t i;
	const json_t *n;
	json_array_foreach(nodes, i, n) {
		long long id = jint(json_object_get(n, "id"), OS_MAP_MAX_IDS - 1);
		const char *addr = json_string_value(json_object_get(n, "addr"));
		if (id < 0)
			return jerr(err, errlen, "nodes[%zu]: \"id\" must be an integer 0..%u", i,
			            OS_MAP_MAX_IDS - 1);
		if (!addr_ok(addr))
			return jerr(err, errlen, "nodes[%zu]: \"addr\" must be a string of 1..%u bytes",
			            i, ADDR_MAX);
		int st = os_map_add_node(m, (uint16_t)id, addr);
		if (st == OSTORE_ENOMEM)
			return st;
		if (st != OSTORE_OK)
			return jerr(err, errlen, "nodes[%zu]: duplicate node id %lld", i, id);
	}
	return OSTORE_OK;
}

static int json_shards(os_map *m, const json_t *shards, char *err, size_t errlen)
{
	if (!json_is_array(shards) || json_array_size(shards) == 0)
		return jerr(err, errlen, "\"shards\" must be a non-empty array");
	size_t i;
	const json_t *s;
	json_array_foreach(shards, i, s) {
		long long id = jint(json_object_get(s, "id"), OS_MAP_MAX_IDS - 1);
		if (id < 0)
			return jerr(err, errlen, "shards[%zu]: \"id\" must be an integer 0..%u", i,
			            OS_MAP_MAX_IDS - 1);
		const json_t *pv = json_object_get(s, "primary");
		long long prim = OS_NODE_NONE;
		if (pv != NULL && !json_is_null(pv)) {
			prim = jint(pv, OS_MAP_MAX_IDS - 1);
			if (prim < 0)
				return jerr(err, errlen, "shard %lld: \"primary\" must be a node id or null",
				            id);
			if (os_map_node_by_id(m, (uint16_t)prim) == NULL)
				return jerr(err, errlen, "shard %lld: primary %lld is not a node", id, prim);
		}
		uint16_t reps[OS_MAP_MAX_REPLICAS];
		const json_t *rv = json_object_get(s, "replicas");
		size_t nrep = 0;
		if (rv != NULL && !json_is_null(rv)) {
			if (!json_is_array(rv) || json_array_size(rv) > OS_MAP_MAX_REPLICAS)
				return jerr(err, errlen, "shard %lld: \"replicas\" must be an array of at most %u node ids",
				            id, OS_MAP_MAX_REPLICAS);
			size_t k;
			const json_t *r;
			json_array_foreach(rv, k, r) {
				long long rid = jint(r, OS_MAP_MAX_IDS - 1);
				if (rid < 0 || os_map_node_by_id(m, (uint16_t)rid) == NULL)
					return jerr(err, errlen, "shard %lld: replica %zu is not a node", id, k);
				reps[nrep++] = (uint16_t)rid;
			}
		}
		const json_t *wv = json_object_get(s, "weight");
		long long weight = OS_MAP_WEIGHT_DEFAULT;
		if (wv != NULL && (weight = jint(wv, UINT16_MAX)) < 0)
			return jerr(err, errlen, "shard %lld: \"weight\" must be an integer 0..%u", id,
			            UINT16_MAX);
		int st = os_map_add_shard(m, (uint16_t)id, (uint16_t)prim, reps, (uint16_t)nrep);
		if (st == OSTORE_ENOMEM)
			return st;
		if (st != OSTORE_OK)
			return jerr(err, errlen, "shard %lld: duplicate shard id or a node listed twice",
			            id);
		os_map_set_weight(m, (uint16_t)id, (uint16_t)weight);
	}
	return OSTORE_OK;
}

static int json_slots(os_map *m, const json_t *slots, char *err, size_t errlen)
{
	static const uint8_t zero[OSTORE_SLOTS / 8];
	uint8_t seen[OSTORE_SLOTS / 8];
	memcpy(seen, zero, sizeof seen);
	if (!json_is_array(slots))
		return jerr(err, errlen, "\"slots\" must be an array of [first, last, shard]");
	size_t i;
	const json_t *r;
	json_array_foreach(slots, i, r) {
		long long first = jint(json_array_get(r, 0), OSTORE_SLOTS - 1);
		long long last = jint(json_array_get(r, 1), OSTORE_SLOTS - 1);
		long long shard = jint(json_array_get(r, 2), OS_MAP_MAX_IDS - 1);
		if (!json_is_array(r) || json_array_size(r) != 3 || first < 0 || last < first ||
		    shard < 0)
			return jerr(err, errlen, "slots[%zu]: must be [first, last, shard] with 0 <= first <= last <= %u",
			            i, OSTORE_SLOTS - 1);
		if (os_map_shard_by_id(m, (uint16_t)shard) == NULL)
			return jerr(err, errlen, "slots[%zu]: shard %lld is not in \"shards\"", i, shard);
		for (long long s = first; s <= last; s++) {
			if (seen[s / 8] & (1u << (s % 8)))
				return jerr(err, errlen, "slots[%zu]: slot %lld is assigned twice", i, s);
			seen[s / 8] |= (uint8_t)(1u << (s % 8));
			m->slot_shard[s] = (uint16_t)shard;
		}
	}
	for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
		if (!(seen[s / 8] & (1u << (s % 8))))
			return jerr(err, errlen, "slot %u has no shard", s);
	return OSTORE_OK;
}

int os_map_from_json(const char *text, os_map **out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	json_error_t je;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return jerr(err, errlen, "JSON syntax error at line %d column %d: %s", je.line,
		            je.column, je.text);
	int st = OSTORE_EINVAL;
	os_map *m = os_map_new();
	if (m == NULL) {
		st = OSTORE_ENOMEM;
		goto out;
	}
	if (!json_is_object(root)) {
		jerr(err, errlen, "the map must be a JSON object");
		goto out;
	}
	const char *cid = json_string_value(json_object_get(root, "cluster_id"));
	char *end = NULL;
	if (cid == NULL || strlen(cid) != 16 || cid[0] == '-' || cid[0] == '+')
		goto bad_cid;
	errno = 0;
	m->cluster_id = strtoull(cid, &end, 16);
	if (errno != 0 || end != cid + 16)
		goto bad_cid;
	const json_t *ep = json_object_get(root, "epoch");
	if (!json_is_integer(ep) || json_integer_value(ep) < 0) {
		jerr(err, errlen, "\"epoch\" must be a non-negative integer");
		goto out;
	}
	m->epoch = (uint64_t)json_integer_value(ep);
	if ((st = json_nodes(m, json_object_get(root, "nodes"), err, errlen)) != OSTORE_OK ||
	    (st = json_shards(m, json_object_get(root, "shards"), err, errlen)) != OSTORE_OK ||
	    (st = json_slots(m, json_object_get(root, "slots"), err, errlen)) != OSTORE_OK)
		goto out;
	if (os_map_check(m) != OSTORE_OK) {
		st = jerr(err, errlen, "the map is inconsistent");
		goto out;
	}
	*out = m;
	m = NULL;
	st = OSTORE_OK;
	goto out;
bad_cid:
	st = jerr(err, errlen, "\"cluster_id\" must be a string of 16 hex digits");
out:
	os_map_unref(m);
	json_decref(root);
	return st;
}

int os_map_load_file(const char *path, os_map **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return OSTORE_EIO;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	int st = OSTORE_OK;
	for (;;) {
		if (cap - len < 4096) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *t = realloc(text, ncap + 1);
			if (t == NULL) {
				st = OSTORE_ENOMEM;
				break;
			}
			text = t;
			cap = ncap;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "%s: read error", path);
				st = OSTORE_EIO;
			}
			break;
		}
	}
	fclose(f);
	if (st == OSTORE_OK) {
		text[len] = '\0';
		char msg[256];
		st = os_map_from_json(text, out, msg, sizeof msg);
		if (st != OSTORE_OK)
			snprintf(err, errlen, "%s: %s", path, msg);
	}
	free(text);
	return st;
}

int os_map_save_file(const os_map *m, const char *path, char *err, size_t errlen)
{
	if (os_map_check(m) != OSTORE_OK) {
		snprintf(err, errlen, "%s: refusing to save an invalid map", path);
		return OSTORE_EINVAL;
	}
	char *text = os_map_to_json(m);
	if (text == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return OSTORE_ENOMEM;
	}
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 32);
	if (tmp == NULL) {
		free(text);
		snprintf(err, errlen, "%s: out of memory", path);
		return OSTORE_ENOMEM;
	}
	snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
	int st = OSTORE_EIO;
	FILE *f = fopen(tmp, "wb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t tlen = strlen(text);
	bool ok = fwrite(text, 1, tlen, f) == tlen && fputc('\n', f) != EOF && fflush(f) == 0 &&
	          fsync(fileno(f)) == 0;
	int saved = errno;
	if (fclose(f) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (!ok) {
		snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(saved));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: rename failed: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	st = OSTORE_OK;
out:
	free(tmp);
	free(text);
	return st;
}

int os_map_slot_targets(const os_map *m, uint32_t *targets)
{
	uint64_t total = 0;
	for (uint16_t i = 0; i < m->nshards; i++)
		total += m->shards[i].weight;
	if (total == 0)
		return OSTORE_EINVAL;
	uint32_t given = 0;
	uint64_t rem[OS_MAP_MAX_IDS];
	bool above[OS_MAP_MAX_IDS]; /* owns more than its rounded-down share now */
	for (uint16_t i = 0; i < m->nshards; i++) {
		uint64_t share = (uint64_t)OSTORE_SLOTS * m->shards[i].weight;
		targets[i] = (uint32_t)(share / total);
		rem[i] = share % total;
		above[i] = os_map_slot_count(m, m->shards[i].id) > targets[i];
		given += targets[i];
	}
	/* Fewer slots are left over than shards with a remainder, so one pass each. */
	for (uint32_t left = OSTORE_SLOTS - given; left > 0; left--) {
		int best = -1;
		for (uint16_t i = 0; i < m->nshards; i++) {
			if (rem[i] == 0)
				continue;
			if (best < 0 || rem[i] > rem[best] || (rem[i] == rem[best] && above[i] && !above[best]))
				best = i; /* shards are sorted by id: the first of equals wins */
		}
		targets[best]++;
		rem[best] = 0;
	}
	return OSTORE_OK;
}
