/*
 * rebalance_plan.h - the rebalance planner (tools/ only; prefix rb_): which slot ranges
 * move from which shard to which, computed from a cluster map alone.
 *
 *   weights ─▶ targets (os_map_slot_targets: slots per shard, largest remainder)
 *           ─▶ donors (current > target) give their highest slots, in contiguous runs
 *           ─▶ receivers (current < target) take them, in shard-id order
 *           ─▶ moves {from, to, [slot_begin, slot_end)} of at most max_slots slots
 *
 * Properties (tests/cli/test_plan.c):
 *  - only shards above their target give and only shards below receive, so the number of
 *    slots moved is the minimum, sum(max(0, current - target));
 *  - from N equal shards to N + 1 about 1/(N + 1) of the slots move, all to the new
 *    shard, none between old shards; a shard of weight 0 gives all its slots and only
 *    its slots move;
 *  - deterministic: the same map gives the same plan, and the plan of a map in which a
 *    prefix of the moves has been applied is the rest of the plan (a re-run after a
 *    crash continues where the first run stopped).
 *
 * Thread safety: pure functions of their arguments; no state.
 */
#ifndef OS_REBALANCE_PLAN_H
#define OS_REBALANCE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "map.h"

#define RB_MAX_SLOTS_DEFAULT 64u /* slots per move (--max-concurrent-slots) */

/** One move: slots [slot_begin, slot_end) go from shard @from to shard @to. */
typedef struct rb_move {
	uint16_t from, to;
	uint16_t slot_begin, slot_end; /* slot_begin < slot_end <= OSTORE_SLOTS */
} rb_move;

/** A plan: @nmoves moves in execution order (owned by the plan). */
typedef struct rb_plan {
	rb_move *moves;
	size_t nmoves;
	uint32_t slots; /* slots moved in total */
} rb_plan;

/**
 * rb_plan_build - the moves that bring @m's slot table to os_map_slot_targets (map.h).
 * @max_slots: largest move, 1..OSTORE_SLOTS. On OSTORE_OK *out holds the plan (free it
 * with rb_plan_free; nmoves 0 when the map is balanced already). Returns OSTORE_OK,
 * OSTORE_EINVAL (every weight 0, bad @max_slots), OSTORE_ENOMEM; *out is empty on error.
 */
int rb_plan_build(const os_map *m, uint32_t max_slots, rb_plan *out);

/** rb_plan_free - release a plan's moves (zeroed; safe twice). Cannot fail. */
void rb_plan_free(rb_plan *p);

/**
 * rb_move_apply - give @mv's slots to @mv->to in @m's slot table (a map under
 * construction: the caller bumps the epoch). Returns OSTORE_OK, or OSTORE_EINVAL (a slot
 * of the range is not owned by @mv->from, or @mv->to is not a shard; @m unchanged).
 */
int rb_move_apply(os_map *m, const rb_move *mv);

#endif /* OS_REBALANCE_PLAN_H */
