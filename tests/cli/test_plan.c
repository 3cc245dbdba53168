/*
 * test_plan.c - the rebalance planner (tools/rebalance_plan.c): targets from weights,
 * minimal moves, N -> N + 1 shards, draining a shard, move size, contiguity, and that a
 * plan re-computed after some of its moves were applied is the rest of the plan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "map.h"
#include "rebalance_plan.h"

static const char *const addrs[] = {
	"tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102", "tcp://127.0.0.1:7103",
	"tcp://127.0.0.1:7104", "tcp://127.0.0.1:7105", "tcp://127.0.0.1:7106",
	"tcp://127.0.0.1:7107", "tcp://127.0.0.1:7108", "tcp://127.0.0.1:7109",
};

/* @n even shards plus @extra empty ones (ids n..n+extra-1, weight 1). */
static os_map *even_plus(uint16_t n, uint16_t extra)
{
	os_map *m = os_map_build_even(n, addrs, 7);
	assert_non_null(m);
	for (uint16_t i = n; i < n + extra; i++) {
		assert_int_equal(os_map_add_node(m, i, addrs[i]), OSTORE_OK);
		assert_int_equal(os_map_add_shard(m, i, i, NULL, 0), OSTORE_OK);
	}
	assert_int_equal(os_map_check(m), OSTORE_OK);
	return m;
}

static uint32_t min_moved(const os_map *m)
{
	uint32_t t[OS_MAP_MAX_IDS], n = 0;
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_OK);
	for (uint16_t i = 0; i < m->nshards; i++) {
		uint32_t c = os_map_slot_count(m, m->shards[i].id);
		n += c > t[i] ? c - t[i] : 0;
	}
	return n;
}

/* Checks every move against the map as the moves are applied in order, and that the
 * result meets the targets. Returns the moved map (unref it). */
static os_map *check_and_apply(const os_map *m, const rb_plan *p, uint32_t max_slots)
{
	uint32_t t[OS_MAP_MAX_IDS];
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_OK);
	assert_int_equal(p->slots, min_moved(m));
	os_map *c = os_map_clone(m);
	uint32_t sum = 0;
	for (size_t i = 0; i < p->nmoves; i++) {
		const rb_move *mv = &p->moves[i];
		assert_true(mv->slot_begin < mv->slot_end && mv->slot_end <= OSTORE_SLOTS);
		assert_true((uint32_t)(mv->slot_end - mv->slot_begin) <= max_slots);
		assert_int_not_equal(mv->from, mv->to);
		assert_int_equal(rb_move_apply(c, mv), OSTORE_OK); /* every slot owned by from */
		sum += (uint32_t)(mv->slot_end - mv->slot_begin);
	}
	assert_int_equal(sum, p->slots);
	for (uint16_t i = 0; i < c->nshards; i++)
		assert_int_equal(os_map_slot_count(c, c->shards[i].id), t[i]);
	rb_plan empty;
	assert_int_equal(rb_plan_build(c, max_slots, &empty), OSTORE_OK);
	assert_int_equal(empty.nmoves, 0); /* balanced now */
	rb_plan_free(&empty);
	return c;
}

static void test_targets(void **state)
{
	(void)state;
	uint32_t t[OS_MAP_MAX_IDS];
	os_map *m = even_plus(3, 0);
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_OK);
	/* build_even gives 1365, 1365, 1366: the leftover slot stays where it is */
	assert_int_equal(t[0], 1365);
	assert_int_equal(t[1], 1365);
	assert_int_equal(t[2], 1366);
	os_map_set_weight(m, 0, 2);
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_OK);
	assert_int_equal(t[0], 2048);
	assert_int_equal(t[1] + t[2], 2048);
	os_map_set_weight(m, 0, 0);
	os_map_set_weight(m, 1, 0);
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_OK);
	assert_int_equal(t[0], 0);
	assert_int_equal(t[2], 4096);
	os_map_set_weight(m, 2, 0);
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_EINVAL);
	rb_plan p;
	assert_int_equal(rb_plan_build(m, 64, &p), OSTORE_EINVAL);
	assert_null(p.moves);
	os_map_unref(m);
	/* unequal weights: 3:2:2 of 4096 -> 1755.4, 1170.3, 1170.3: one leftover, to shard 0 */
	m = even_plus(3, 0);
	os_map_set_weight(m, 0, 3);
	os_map_set_weight(m, 1, 2);
	os_map_set_weight(m, 2, 2);
	assert_int_equal(os_map_slot_targets(m, t), OSTORE_OK);
	assert_int_equal(t[0] + t[1] + t[2], OSTORE_SLOTS);
	assert_int_equal(t[0], 1756);
	assert_int_equal(t[1], 1170);
	assert_int_equal(t[2], 1170);
	os_map_unref(m);
}

static void test_balanced_plans_nothing(void **state)
{
	(void)state;
	for (uint16_t n = 1; n <= 7; n++) {
		os_map *m = even_plus(n, 0);
		rb_plan p;
		assert_int_equal(rb_plan_build(m, 64, &p), OSTORE_OK);
		assert_int_equal(p.nmoves, 0);
		assert_int_equal(p.slots, 0);
		rb_plan_free(&p);
		os_map_unref(m);
	}
}

/* N -> N + 1 equal shards: ~1/(N+1) moves, all to the new shard, from the end of each
 * old shard's range, in moves of at most 64 slots. */
static void test_add_one_shard(void **state)
{
	(void)state;
	for (uint16_t n = 1; n <= 7; n++) {
		os_map *m = even_plus(n, 1);
		rb_plan p;
		assert_int_equal(rb_plan_build(m, RB_MAX_SLOTS_DEFAULT, &p), OSTORE_OK);
		uint32_t want = OSTORE_SLOTS / (n + 1u);
		assert_true(p.slots >= want && p.slots <= want + 1);
		for (size_t i = 0; i < p.nmoves; i++) {
			assert_int_equal(p.moves[i].to, n);
			/* a donor gives the top of its range: everything above the move is gone too */
			uint16_t from = p.moves[i].from;
			uint32_t end = ((uint32_t)from + 1) * OSTORE_SLOTS / n;
			assert_true(p.moves[i].slot_end <= end);
		}
		/* few ranges: each donor needs ceil(excess / 64) moves */
		size_t most = 0;
		for (uint16_t s = 0; s < n; s++)
			most += (os_map_slot_count(m, s) - OSTORE_SLOTS / (n + 1u) + 63) / 64;
		assert_true(p.nmoves <= most);
		os_map *c = check_and_apply(m, &p, RB_MAX_SLOTS_DEFAULT);
		rb_plan q; /* deterministic */
		assert_int_equal(rb_plan_build(m, RB_MAX_SLOTS_DEFAULT, &q), OSTORE_OK);
		assert_int_equal(q.nmoves, p.nmoves);
		assert_memory_equal(q.moves, p.moves, p.nmoves * sizeof(rb_move));
		rb_plan_free(&q);
		rb_plan_free(&p);
		os_map_unref(c);
		os_map_unref(m);
	}
	/* 3 -> 4: exactly 1024 per shard afterwards, 1024 moved */
	os_map *m = even_plus(3, 1);
	rb_plan p;
	assert_int_equal(rb_plan_build(m, RB_MAX_SLOTS_DEFAULT, &p), OSTORE_OK);
	assert_int_equal(p.slots, 1024);
	os_map *c = check_and_apply(m, &p, RB_MAX_SLOTS_DEFAULT);
	for (uint16_t s = 0; s < 4; s++)
		assert_int_equal(os_map_slot_count(c, s), 1024);
	rb_plan_free(&p);
	os_map_unref(c);
	os_map_unref(m);
}

/* Weight 0: the shard gives every slot, and only its slots move. */
static void test_drain(void **state)
{
	(void)state;
	os_map *m = even_plus(4, 0);
	os_map_set_weight(m, 1, 0);
	rb_plan p;
	assert_int_equal(rb_plan_build(m, 100, &p), OSTORE_OK);
	assert_int_equal(p.slots, 1024);
	for (size_t i = 0; i < p.nmoves; i++)
		assert_int_equal(p.moves[i].from, 1);
	os_map *c = check_and_apply(m, &p, 100);
	assert_int_equal(os_map_slot_count(c, 1), 0);
	assert_int_equal(os_map_remove_shard(c, 1), OSTORE_OK);
	rb_plan_free(&p);
	os_map_unref(c);
	os_map_unref(m);
}

/* Interleaved ownership, odd weights, several donors and receivers, move size 1..4096. */
static void test_mixed(void **state)
{
	(void)state;
	const uint32_t sizes[] = {1, 7, 64, 4096};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		os_map *m = even_plus(5, 2);
		for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
			m->slot_shard[s] = (uint16_t)((s / 37) % 5);
		os_map_set_weight(m, 0, 4);
		os_map_set_weight(m, 2, 0);
		os_map_set_weight(m, 5, 3);
		rb_plan p;
		assert_int_equal(rb_plan_build(m, sizes[k], &p), OSTORE_OK);
		assert_true(p.nmoves > 0);
		os_map *c = check_and_apply(m, &p, sizes[k]);
		rb_plan_free(&p);
		os_map_unref(c);
		os_map_unref(m);
	}
	rb_plan p;
	os_map *m = even_plus(2, 1);
	assert_int_equal(rb_plan_build(m, 0, &p), OSTORE_EINVAL);
	assert_int_equal(rb_plan_build(m, OSTORE_SLOTS + 1, &p), OSTORE_EINVAL);
	rb_move bad = {.from = 1, .to = 2, .slot_begin = 0, .slot_end = 10}; /* 0..9 are shard 0's */
	assert_int_equal(rb_move_apply(m, &bad), OSTORE_EINVAL);
	bad = (rb_move){.from = 0, .to = 9, .slot_begin = 0, .slot_end = 10};
	assert_int_equal(rb_move_apply(m, &bad), OSTORE_EINVAL);
	os_map_unref(m);
}

/* After any prefix of the moves is applied (a crash between moves), the plan of the new
 * map is exactly the rest of the first plan. */
static void test_resume(void **state)
{
	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		os_map *m = variant == 0 ? even_plus(3, 1) : even_plus(4, 2);
		if (variant == 2) {
			for (uint32_t s = 0; s < OSTORE_SLOTS; s++)
				m->slot_shard[s] = (uint16_t)((s * 7 / 13) % 4);
			os_map_set_weight(m, 3, 0);
			os_map_set_weight(m, 0, 2);
		}
		rb_plan p;
		assert_int_equal(rb_plan_build(m, 50, &p), OSTORE_OK);
		os_map *c = os_map_clone(m);
		for (size_t done = 0; done <= p.nmoves; done++) {
			rb_plan rest;
			assert_int_equal(rb_plan_build(c, 50, &rest), OSTORE_OK);
			assert_int_equal(rest.nmoves, p.nmoves - done);
			if (rest.nmoves)
				assert_memory_equal(rest.moves, p.moves + done, rest.nmoves * sizeof(rb_move));
			rb_plan_free(&rest);
			if (done < p.nmoves)
				assert_int_equal(rb_move_apply(c, &p.moves[done]), OSTORE_OK);
		}
		rb_plan_free(&p);
		os_map_unref(c);
		os_map_unref(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets),       cmocka_unit_test(test_balanced_plans_nothing),
		cmocka_unit_test(test_add_one_shard), cmocka_unit_test(test_drain),
		cmocka_unit_test(test_mixed),         cmocka_unit_test(test_resume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
