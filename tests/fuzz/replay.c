/*
 * replay.c - the plain (non-libFuzzer) main of every fuzz harness: runs
 * LLVMFuzzerTestOneInput() once on each file named on the command line and on each file
 * of each directory named (names starting with '.' are skipped, so a .gitkeep can hold
 * an empty regressions directory in git). Files run in name order, each from its own
 * exact-size heap copy, so the gcc and ASan builds of `./tools/check` replay the seed
 * corpus and every saved crash input on every run.
 *
 * Exits 0 after the last input; 1 if a path cannot be read or nothing was run. A broken
 * check aborts inside the harness (fuzz_fail), which meson reports as a failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Run the file @path; 0, or -1 (message printed) when it cannot be read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = -1;
	if (fseek(f, 0, SEEK_END) == 0) {
		long end = ftell(f);
		if (end >= 0 && fseek(f, 0, SEEK_SET) == 0) {
			len = (size_t)end;
			data = malloc(len ? len : 1);
			if (data != NULL && fread(data, 1, len, f) == len)
				rc = 0;
		}
	}
	fclose(f);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot read\n", path);
	} else {
		printf("%s (%zu bytes)\n", path, len);
		fflush(stdout);
		LLVMFuzzerTestOneInput(data, len);
	}
	free(data);
	return rc;
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Run every file of the directory @dir; adds them to *runs. 0 or -1. */
static int run_dir(const char *dir, size_t *runs)
{
	struct dirent **names;
	int n = scandir(dir, &names, skip_dot, alphasort);
	if (n < 0) {
		perror(dir);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		if (rc == 0 && (size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) <
		                   sizeof path) {
			rc = run_file(path);
			(*runs)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t runs = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		int rc = S_ISDIR(st.st_mode) ? run_dir(argv[i], &runs) : run_file(argv[i]);
		if (!S_ISDIR(st.st_mode))
			runs++;
		if (rc != 0)
			return 1;
	}
	printf("%zu inputs replayed\n", runs);
	return runs > 0 ? 0 : 1;
}
