/*
 * record_key.h - the IDs of the records orderstore-bench preloads and its YCSB workloads
 * read and update ("bench-%08llu"), shared with lmdb-commit (bench/put-bound), which
 * writes the same keys straight into LMDB so both measure the same key layout.
 */
#ifndef OB_RECORD_KEY_H
#define OB_RECORD_KEY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest key the workloads produce, NUL included. */
#define OB_KEY_MAX 96u

/** ob_record_key - the key of preloaded record @k into @buf (OB_KEY_MAX bytes); returns
 *  its length. */
static inline size_t ob_record_key(char *buf, uint64_t k)
{
	return (size_t)snprintf(buf, OB_KEY_MAX, "bench-%08llu", (unsigned long long)k);
}

#endif
