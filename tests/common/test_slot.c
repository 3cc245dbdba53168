/*
 * test_slot.c - golden vectors of the placement function and the LMDB key layout.
 *
 * The first two hashes are xxHash's published XXH3_64bits values; the others were
 * computed once with libxxhash 0.8.1 and are pinned here: if any of them changes,
 * every stored order would move to another slot, so the test must fail loudly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "slot.h"

struct golden {
	const char *name;
	const uint8_t *id;
	size_t len;
	uint64_t hash;
	uint16_t slot;
};

static uint8_t seq256[256], ff256[256];
static const uint8_t nul_mix[] = {'a', 0, 'b', 0};
static const uint8_t ff_mix[] = {0xff, 0x00, 0xff, 0xfe, 0x80};
static const uint8_t one_nul[] = {0};

static void test_golden(void **state)
{
	(void)state;
	for (int i = 0; i < 256; i++) {
		seq256[i] = (uint8_t)i;
		ff256[i] = 0xff;
	}
	const struct golden g[] = {
		{"empty", (const uint8_t *)"", 0, 0x2d06800538d394c2ull, 1218},
		{"abc", (const uint8_t *)"abc", 3, 0x78af5f94892f3950ull, 2384},
		{"order-1", (const uint8_t *)"order-1", 7, 0x5fc46503368e2876ull, 2166},
		{"581475", (const uint8_t *)"581475", 6, 0xb2f84788a6b86449ull, 1097},
		{"a\\0b\\0", nul_mix, sizeof nul_mix, 0x50e9fe6f7fb8a296ull, 662},
		{"ff 00 ff fe 80", ff_mix, sizeof ff_mix, 0x265e5dd3226610dbull, 219},
		{"\\0", one_nul, sizeof one_nul, 0xc44bdff4074eecdbull, 3291},
		{"bytes 0..255", seq256, 256, 0x9408a4433b952d71ull, 3441},
		{"256 x ff", ff256, 256, 0x2164293a60d148acull, 2220},
	};
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
		uint64_t h = XXH3_64bits(g[i].id, g[i].len);
		if (h != g[i].hash)
			fail_msg("%s: XXH3_64bits = 0x%016llx, want 0x%016llx", g[i].name,
			         (unsigned long long)h, (unsigned long long)g[i].hash);
		assert_int_equal(g[i].hash % OSTORE_SLOTS, g[i].slot);
		assert_int_equal(os_slot_of(g[i].id, g[i].len), g[i].slot);
	}
	/* len 0 with a NULL pointer is the empty ID too. */
	assert_int_equal(os_slot_of(NULL, 0), 1218);
}

static void test_slot_range(void **state)
{
	(void)state;
	unsigned hits[OSTORE_SLOTS] = {0};
	char id[32];
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(id, sizeof id, "order-%d", i);
		uint16_t s = os_slot_of(id, (size_t)n);
		assert_true(s < OSTORE_SLOTS);
		hits[s]++;
	}
	/* 100000 / 4096 ~ 24.4 per slot: every slot is hit, none absurdly often. */
	for (unsigned s = 0; s < OSTORE_SLOTS; s++) {
		assert_true(hits[s] > 0);
		assert_true(hits[s] < 80);
	}
}

static void test_key_layout(void **state)
{
	(void)state;
	uint8_t key[OS_KEY_MAX];
	size_t n = os_key_make(key, 0x0A0B, "xyz", 3);
	assert_int_equal(n, 5);
	assert_int_equal(key[0], 0x0A); /* big-endian slot */
	assert_int_equal(key[1], 0x0B);
	assert_memory_equal(key + 2, "xyz", 3);
	assert_int_equal(os_key_slot(key), 0x0A0B);

	for (int i = 0; i < 256; i++)
		seq256[i] = (uint8_t)i;
	n = os_key_make(key, 4095, seq256, 256);
	assert_int_equal(n, OS_KEY_MAX);
	assert_int_equal(os_key_slot(key), 4095);
	assert_memory_equal(key + 2, seq256, 256);

	/* memcmp order = slot order, whatever the ID: a slot is one contiguous range. */
	uint8_t a[OS_KEY_MAX], b[OS_KEY_MAX];
	uint8_t hi[256];
	memset(hi, 0xff, sizeof hi);
	size_t na = os_key_make(a, 255, hi, 256);
	size_t nb = os_key_make(b, 256, "\0", 1);
	assert_true(memcmp(a, b, na < nb ? na : nb) < 0);
	for (uint16_t s = 0; s + 1u < OSTORE_SLOTS; s++) {
		os_key_make(a, s, hi, 1);
		os_key_make(b, (uint16_t)(s + 1), "", 0);
		assert_true(memcmp(a, b, 2) < 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_slot_range),
		cmocka_unit_test(test_key_layout),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed ? 1 : 0;
}
