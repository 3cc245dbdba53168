/*
 * retail_testlib.c - helpers of the importer tests (see retail_testlib.h). Plain libc and
 * cmocka; nothing here knows the importer beyond the callback signature.
 */
#include "retail_testlib.h"

#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char *dup_bytes(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	assert_non_null(p);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int rt_collect(void *arg, const char *id, size_t id_len, const char *json, size_t json_len)
{
	rt_docs *d = arg;
	assert_int_equal(strlen(json), json_len); /* NUL-terminated, no NUL inside */
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->ids = realloc(d->ids, d->cap * sizeof *d->ids);
		d->id_lens = realloc(d->id_lens, d->cap * sizeof *d->id_lens);
		d->jsons = realloc(d->jsons, d->cap * sizeof *d->jsons);
		assert_true(d->ids && d->id_lens && d->jsons);
	}
	d->ids[d->n] = dup_bytes(id, id_len);
	d->id_lens[d->n] = id_len;
	d->jsons[d->n] = dup_bytes(json, json_len);
	d->n++;
	if (d->stop_at > 0 && d->n == (size_t)d->stop_at)
		return d->stop_rc;
	return 0;
}

void rt_docs_free(rt_docs *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->ids[i]);
		free(d->jsons[i]);
	}
	free(d->ids);
	free(d->id_lens);
	free(d->jsons);
	memset(d, 0, sizeof *d);
}

char *rt_source_path(const char *rel)
{
	const char *root = getenv("OSTORE_SOURCE_ROOT");
	if (root == NULL || root[0] == '\0')
		root = RT_SOURCE_ROOT; /* set by tests/import/meson.build */
	return rt_join(root, rel);
}

char *rt_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

char *rt_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = rt_join(base && base[0] ? base : "/tmp", "ostore-import.XXXXXX");
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

void rt_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char *p = rt_join(dir, e->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

void rt_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

char *rt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

int rt_run(const char *const argv[])
{
	pid_t pid;
	fflush(NULL);
	if (posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ) != 0)
		return -1;
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}
