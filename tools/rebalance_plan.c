/*
 * rebalance_plan.c - the rebalance planner: slot targets from shard weights, and the
 * moves that reach them with as few slots and as few ranges as possible.
 *
 * Donors (shards above target) are visited in shard-id order; each gives its excess
 * from the top of its slots downwards, so what it gives is a few contiguous runs at the
 * end of its ranges. Receivers (below target) are filled in shard-id order. A move ends
 * where the donor's run ends, where the receiver has enough, or at max_slots.
 *
 * Why a re-run continues the same plan: after a prefix of the moves is applied, every
 * donor's excess and every receiver's deficit shrank by exactly what moved, the slots a
 * donor still gives are again its highest ones, and the targets did not change (see the
 * tie rule in rebalance_plan.h), so the same two-pointer walk resumes where it stopped.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rebalance_plan.h"

/* Append a move to @p; returns OSTORE_OK or OSTORE_ENOMEM. */
static int plan_push(rb_plan *p, size_t *cap, const rb_move *mv)
{
	if (p->nmoves == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		rb_move *n = realloc(p->moves, ncap * sizeof(*n));
		if (n == NULL)
			return OSTORE_ENOMEM;
		p->moves = n;
		*cap = ncap;
	}
	p->moves[p->nmoves++] = *mv;
	p->slots += (uint32_t)(mv->slot_end - mv->slot_begin);
	return OSTORE_OK;
}

int rb_plan_build(const os_map *m, uint32_t max_slots, rb_plan *out)
{
	memset(out, 0, sizeof(*out));
	if (max_slots == 0 || max_slots > OSTORE_SLOTS)
		return OSTORE_EINVAL;
	uint32_t target[OS_MAP_MAX_IDS];
	int64_t delta[OS_MAP_MAX_IDS]; /* current - target: > 0 gives, < 0 takes */
	if (os_map_slot_targets(m, target) != OSTORE_OK)
		return OSTORE_EINVAL;
	for (uint16_t i = 0; i < m->nshards; i++)
		delta[i] = (int64_t)os_map_slot_count(m, m->shards[i].id) - (int64_t)target[i];
	size_t cap = 0;
	uint16_t r = 0; /* current receiver (index) */
	for (uint16_t d = 0; d < m->nshards; d++) {
		uint16_t from = m->shards[d].id;
		rb_move mv = {0};
		bool open = false;
		for (int32_t s = OSTORE_SLOTS - 1; s >= 0 && delta[d] > 0; s--) {
			if (m->slot_shard[s] != from)
				continue;
			while (r < m->nshards && delta[r] >= 0)
				r++; /* the deltas sum to 0: a receiver is left while a donor gives */
			if (r == m->nshards)
				goto broken;
			uint16_t to = m->shards[r].id;
			bool extend = open && mv.to == to && mv.slot_begin == s + 1 &&
			              (uint32_t)(mv.slot_end - mv.slot_begin) < max_slots;
			if (!extend) {
				if (open && plan_push(out, &cap, &mv) != OSTORE_OK)
					goto oom;
				mv = (rb_move){.from = from, .to = to, .slot_begin = (uint16_t)s,
				               .slot_end = (uint16_t)(s + 1)};
				open = true;
			} else {
				mv.slot_begin = (uint16_t)s;
			}
			delta[d]--;
			delta[r]++;
		}
		if (open && plan_push(out, &cap, &mv) != OSTORE_OK)
			goto oom;
	}
	return OSTORE_OK;
oom:
	rb_plan_free(out);
	return OSTORE_ENOMEM;
broken: /* targets that do not sum to 4096: rb_targets is wrong */
	rb_plan_free(out);
	return OSTORE_EINVAL;
}

void rb_plan_free(rb_plan *p)
{
	free(p->moves);
	memset(p, 0, sizeof(*p));
}

int rb_move_apply(os_map *m, const rb_move *mv)
{
	if (mv->slot_begin >= mv->slot_end || mv->slot_end > OSTORE_SLOTS ||
	    os_map_shard_by_id(m, mv->to) == NULL)
		return OSTORE_EINVAL;
	for (uint32_t s = mv->slot_begin; s < mv->slot_end; s++)
		if (m->slot_shard[s] != mv->from)
			return OSTORE_EINVAL;
	for (uint32_t s = mv->slot_begin; s < mv->slot_end; s++)
		m->slot_shard[s] = mv->to;
	return OSTORE_OK;
}
