/*
 * util.h - small shared helpers (internal): clocks, randomness, number parsing, the
 * nng error translation done at the module boundary, and counting nng's task threads.
 * Thread safety: all functions are reentrant.
 */
#ifndef OS_UTIL_H
#define OS_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/** os_now_ns - CLOCK_MONOTONIC in nanoseconds. */
uint64_t os_now_ns(void);
/**
 * os_cond_init_monotonic - pthread_cond_init(@cv) whose timed waits count on
 * CLOCK_MONOTONIC, the clock of os_now_ns (deadlines from os_timespec_at).
 * Returns 0 or the pthread error; destroy @cv with pthread_cond_destroy.
 */
int os_cond_init_monotonic(pthread_cond_t *cv);
/** os_timespec_at - @ns (an os_now_ns() value) as the absolute timespec that
 *  pthread_cond_timedwait takes on a condition variable of os_cond_init_monotonic. */
struct timespec os_timespec_at(uint64_t ns);
/** os_random_u64 - 64 random bits from getrandom(2) (never 0). */
uint64_t os_random_u64(void);
/**
 * os_parse_u64 - parse a whole decimal string into [min, max].
 * Returns 0, or -1 if @s is empty, has trailing characters, or is out of range.
 */
int os_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/** os_from_nng - translate an nng error code to an ostore_status (NNG_ETIMEDOUT ->
 *  OSTORE_ETIMEDOUT, NNG_ECLOSED -> OSTORE_ECLOSED, NNG_ENOMEM -> OSTORE_ENOMEM,
 *  NNG_EMSGSIZE -> OSTORE_ETOOBIG, NNG_EADDRINVAL/ECONNREFUSED... -> OSTORE_ECONNECT,
 *  others -> OSTORE_EIO). 0 -> OSTORE_OK. */
int os_from_nng(int nng_err);
/**
 * os_nng_task_threads - the threads of process @pid (0: this process) named "nng:task",
 * read from /proc/PID/task/TID/comm: nng's task (callback) threads, whose number is fixed
 * when nng is built (tools/build-nng). nng starts them when it initialises (the first
 * socket opened) and each names itself once it first runs, so a count taken right then
 * can be short by the threads not yet scheduled (os_procmetrics_nng_threads waits for it
 * to settle). Threads that exit while being read are not counted.
 * Returns the count (>= 0), or -1 when /proc/PID/task cannot be opened (errno says why).
 */
int os_nng_task_threads(pid_t pid);

#endif /* OS_UTIL_H */
