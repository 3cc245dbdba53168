/*
 * log.h - one line per event on stderr (internal).
 *
 *   2026-11-29T15:45:45.123Z info node msg="listening" addr=tcp://127.0.0.1:7101
 *
 * Format: UTC time with milliseconds, level, component, then key=value pairs written by
 * the caller (values with spaces are quoted by the caller: use %s for plain tokens and
 * "msg=\"...\"" for prose). Lines below the level set with os_log_set_level() are not
 * formatted at all. One write(2) per line, so lines of several threads never interleave.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef OS_LOG_H
#define OS_LOG_H

typedef enum os_log_level {
	OS_LOG_DEBUG = 0,
	OS_LOG_INFO = 1,
	OS_LOG_WARN = 2,
	OS_LOG_ERROR = 3,
} os_log_level;

/** os_log_set_level - lines below @lvl are dropped (default OS_LOG_INFO). */
void os_log_set_level(os_log_level lvl);
/** os_log_parse_level - "debug|info|warn|error" -> level; returns -1 if unknown. */
int os_log_parse_level(const char *s);
/** os_log_set_component - the component word of every line ("node", "router"...);
 *  @name must stay valid for the process lifetime. Default "orderstore". */
void os_log_set_component(const char *name);
/** os_log_enabled - whether a line at @lvl would be written. */
int os_log_enabled(os_log_level lvl);
/** os_logf - printf-style body after "time level component ". Use the macros. */
void os_logf(os_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define OS_LOG(lvl, ...)                                                                   \
	do {                                                                               \
		if (os_log_enabled(lvl))                                                   \
			os_logf(lvl, __VA_ARGS__);                                         \
	} while (0)
#define OS_DEBUG(...) OS_LOG(OS_LOG_DEBUG, __VA_ARGS__)
#define OS_INFO(...) OS_LOG(OS_LOG_INFO, __VA_ARGS__)
#define OS_WARN(...) OS_LOG(OS_LOG_WARN, __VA_ARGS__)
#define OS_ERROR(...) OS_LOG(OS_LOG_ERROR, __VA_ARGS__)

#endif /* OS_LOG_H */
