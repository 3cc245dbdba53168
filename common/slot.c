/*
 * slot.c - placement function and LMDB key layout.
 *
 * slot = XXH3_64bits(id) mod 4096, computed with the system libxxhash (0.8.x, whose XXH3
 * output is frozen). The key is the slot big-endian (so LMDB's memcmp order visits slots
 * in ascending order) followed by the raw ID bytes.
 */
#include <string.h>

#include <xxhash.h>

#include "slot.h"

uint16_t os_slot_of(const void *id, size_t len)
{
	/* XXH3 accepts NULL only with length 0; pass a valid pointer regardless. */
	static const uint8_t empty[1];
	XXH64_hash_t h = XXH3_64bits(len ? id : empty, len);
	return (uint16_t)(h % OSTORE_SLOTS);
}

size_t os_key_make(uint8_t *out, uint16_t slot, const void *id, size_t len)
{
	out[0] = (uint8_t)(slot >> 8);
	out[1] = (uint8_t)slot;
	if (len > OSTORE_MAX_ID_LEN)
		len = OSTORE_MAX_ID_LEN; /* documented precondition; never overflow @out */
	if (len)
		memcpy(out + 2, id, len);
	return 2 + len;
}
