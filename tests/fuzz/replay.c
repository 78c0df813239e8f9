/* replay.c - run a libFuzzer entry point over files, without libFuzzer.
 *
 * `make test` links every tests/fuzz/fuzz_*.c with this driver and replays
 * tests/fuzz/corpus/<target>/ under ASan+UBSan, so a crash found once by
 * `make fuzz` stays fixed.  Arguments are files or folders (one level). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	struct err e;
	char *data = NULL;
	size_t len = 0;

	if (read_file(path, 64u << 20, &data, &len, &e) < 0) {
		fprintf(stderr, "replay: %s\n", e.msg);
		return -1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: no corpus at %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			n++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d)
			return 1;
		while ((de = readdir(d))) {
			char *p;

			if (de->d_name[0] == '.')
				continue;
			p = path_join(argv[i], de->d_name);
			if (run_file(p) < 0) {
				free(p);
				closedir(d);
				return 1;
			}
			free(p);
			n++;
		}
		closedir(d);
	}
	/* An empty input is always worth a run too. */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	printf("replayed %d inputs\n", n);
	return 0;
}
