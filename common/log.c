/*
 * log.c - one line per event on stderr.
 *
 *   2026-11-29T15:45:45.123Z info node msg="listening" addr=tcp://127.0.0.1:7101
 *
 * The line is formatted into a stack buffer (heap when longer) and written with one
 * write(2), so concurrent lines never interleave (pipes and regular files opened with
 * O_APPEND keep a single write together). The level and component are atomics: no lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = OS_LOG_INFO;
static const char *log_component = "orderstore";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void os_log_set_level(os_log_level lvl)
{
	__atomic_store_n(&log_level, (int)lvl, __ATOMIC_RELAXED);
}

int os_log_parse_level(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return OS_LOG_WARN;
	return -1;
}

void os_log_set_component(const char *name)
{
	__atomic_store_n(&log_component, name, __ATOMIC_RELEASE);
}

int os_log_enabled(os_log_level lvl)
{
	return (int)lvl >= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere to report a failing stderr */
		}
		p += w;
		n -= (size_t)w;
	}
}

void os_logf(os_log_level lvl, const char *fmt, ...)
{
	if (!os_log_enabled(lvl))
		return;
	int li = (int)lvl;
	if (li < 0 || li > 3)
		li = 3;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char prefix[128];
	int plen = snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
	                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                    tm.tm_sec, ts.tv_nsec / 1000000, level_names[li],
	                    __atomic_load_n(&log_component, __ATOMIC_ACQUIRE));
	if (plen < 0)
		return;
	if ((size_t)plen >= sizeof prefix)
		plen = (int)sizeof prefix - 1;

	char stack[1024];
	va_list ap;
	va_start(ap, fmt);
	int blen = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (blen < 0)
		return;
	size_t total = (size_t)plen + (size_t)blen + 1; /* + '\n' */
	char *line = total + 1 <= sizeof stack ? stack : malloc(total + 1);
	if (line == NULL) {
		/* Out of memory: keep the prefix and as much of the body as fits. */
		line = stack;
		total = sizeof stack - 1;
	}
	memcpy(line, prefix, (size_t)plen);
	va_start(ap, fmt);
	vsnprintf(line + plen, total - (size_t)plen, fmt, ap);
	va_end(ap);
	line[total - 1] = '\n';
	write_all(line, total);
	if (line != stack)
		free(line);
}
