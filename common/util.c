/*
 * util.c - clocks, randomness, strict number parsing, the nng -> ostore_status
 * translation (nng codes never leave the module that called nng) and the count of nng's
 * task threads (from /proc).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nng/nng.h>
#include <orderstore.h>

#include "util.h"

uint64_t os_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int os_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rv = pthread_condattr_init(&a);
	if (rv != 0)
		return rv;
	rv = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rv == 0)
		rv = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return rv;
}

struct timespec os_timespec_at(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
	                      .tv_nsec = (long)(ns % 1000000000u)};
	return ts;
}

uint64_t os_random_u64(void)
{
	uint64_t v = 0;
	for (;;) {
		uint8_t *p = (uint8_t *)&v;
		size_t got = 0;
		while (got < sizeof v) {
			ssize_t n = getrandom(p + got, sizeof v - got, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				/* getrandom cannot fail on Linux >= 3.17 with a valid buffer;
				 * fall back to the clock rather than return a constant. */
				v ^= os_now_ns() * 0x9E3779B97F4A7C15ull;
				break;
			}
			got += (size_t)n;
		}
		if (v != 0)
			return v;
	}
}

int os_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL || *s == '\0')
		return -1;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int os_from_nng(int nng_err)
{
	switch (nng_err) {
	case 0:
		return OSTORE_OK;
	case NNG_ETIMEDOUT:
		return OSTORE_ETIMEDOUT;
	case NNG_ECLOSED:
		return OSTORE_ECLOSED;
	case NNG_ENOMEM:
		return OSTORE_ENOMEM;
	case NNG_EMSGSIZE:
		return OSTORE_ETOOBIG;
	case NNG_EADDRINVAL:
	case NNG_ECONNREFUSED:
	case NNG_EUNREACHABLE:
	case NNG_ENOTSUP: /* unknown transport scheme */
	case NNG_EADDRINUSE:
		return OSTORE_ECONNECT;
	default:
		return OSTORE_EIO;
	}
}

int os_nng_task_threads(pid_t pid)
{
	char dir[64];
	if (pid == 0)
		snprintf(dir, sizeof(dir), "/proc/self/task");
	else
		snprintf(dir, sizeof(dir), "/proc/%ld/task", (long)pid);
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[sizeof(dir) + sizeof(e->d_name) + 8], comm[32] = "";
		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue; /* the thread has just exited */
		if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, "nng:task\n") == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}
