/*
 * slot.h - placement: order ID -> slot, and the LMDB key layout (internal).
 *
 * slot = XXH3_64bits(id bytes) mod 4096 (design brief, "Placement"). XXH3's output is
 * stable across xxHash versions and platforms since 0.8.0, so placement never changes
 * once data exists; tests/common/test_slot.c pins golden vectors.
 * The LMDB key of an order is its slot as 2 bytes big-endian followed by the ID bytes,
 * so one slot is one contiguous key range and a scan visits slots in order.
 *
 * Thread safety: pure functions.
 */
#ifndef OS_SLOT_H
#define OS_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include <orderstore.h>

/** Largest LMDB key: 2-byte slot + 256-byte ID. */
#define OS_KEY_MAX (2u + OSTORE_MAX_ID_LEN)

/** os_slot_of - slot (0..4095) of the ID @id of @len bytes (any bytes; len may be 0). */
uint16_t os_slot_of(const void *id, size_t len);

/**
 * os_key_make - write the LMDB key of (@slot, @id) into @out (OS_KEY_MAX bytes).
 * @len must be <= 256. Returns the key length (2 + len).
 */
size_t os_key_make(uint8_t *out, uint16_t slot, const void *id, size_t len);

/** os_key_slot - slot of an LMDB key of >= 2 bytes. */
static inline uint16_t os_key_slot(const uint8_t *key) { return (uint16_t)((key[0] << 8) | key[1]); }

#endif /* OS_SLOT_H */
