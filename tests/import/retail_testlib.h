/*
 * retail_testlib.h - helpers shared by the importer tests (tests/import only): a callback
 * that collects the documents os_retail_each() delivers, paths into the source tree,
 * scratch directories and files, and running a child process.
 * Every helper fails the running cmocka test instead of returning an error.
 */
#ifndef RT_TESTLIB_H
#define RT_TESTLIB_H

#include <stddef.h>

/** Documents collected by rt_collect(), in delivery order; all strings malloc'ed. */
typedef struct rt_docs {
	size_t n, cap;
	char **ids;     /**< order IDs, NUL-terminated copies */
	size_t *id_lens;
	char **jsons;   /**< documents, NUL-terminated copies */
	int stop_at;    /**< if > 0: return stop_rc when the stop_at-th document arrives */
	int stop_rc;
} rt_docs;

/** os_retail_order_fn that appends to the rt_docs @arg. */
int rt_collect(void *arg, const char *id, size_t id_len, const char *json, size_t json_len);
/** rt_docs_free - free every copy and reset @d to empty. */
void rt_docs_free(rt_docs *d);
/** rt_source_path - malloc'ed "$OSTORE_SOURCE_ROOT/@rel" (or the configured tree). */
char *rt_source_path(const char *rel);
/** rt_tmpdir - a new empty directory under $TMPDIR or /tmp (malloc'ed path). */
char *rt_tmpdir(void);
/** rt_rmdir - remove the files directly in @dir, then @dir (best effort). */
void rt_rmdir(const char *dir);
/** rt_join - malloc'ed "@dir/@name". */
char *rt_join(const char *dir, const char *name);
/** rt_write_file - create @path with @len bytes of @data. */
void rt_write_file(const char *path, const void *data, size_t len);
/** rt_read_file - malloc'ed whole contents (NUL added, not counted) of @path. */
char *rt_read_file(const char *path, size_t *len);
/** rt_run - run argv[0] (searched in PATH) to completion; returns its exit code, or -1
 *  if it could not be started or died by a signal. stdout/stderr are inherited. */
int rt_run(const char *const argv[]);

#endif /* RT_TESTLIB_H */
