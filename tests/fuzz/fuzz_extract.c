/* fuzz_extract.c - arbitrary bytes as an image layer.
 *
 * Each input is applied as a layer to a fresh root inside a private temp
 * folder that also holds a canary tree.  Whatever the bytes, the extractor
 * must return (success or a clean error), the folder must hold nothing but
 * the root and the canary afterwards, and the canary must hash the same.
 * A violation aborts, which libFuzzer and the corpus replay both report. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "util.h"

static char top[64];
static int topfd = -1;
static char canary_digest[DIGEST_STR_LEN];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_extract: %s\n", what);
	abort();
}

static void digest_canary(char out[DIGEST_STR_LEN])
{
	struct err e;
	_cleanup_close_ int fd = openat(topfd, "canary", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

	if (fd < 0 || extract_tree_digest(fd, TREE_DIGEST_OWNERS | TREE_DIGEST_MTIME, out, &e) < 0)
		die("cannot hash the canary");
}

static void remove_top(void)
{
	struct err e;
	_cleanup_close_ int tmp = open("/tmp", O_RDONLY | O_DIRECTORY);

	if (tmp >= 0)
		extract_remove_tree(tmp, top + strlen("/tmp/"), &e);
}

static void setup_once(void)
{
	struct err e;
	_cleanup_close_ int cfd = -1;
	int fd;

	snprintf(top, sizeof top, "/tmp/shoal-fuzz-extract-XXXXXX");
	if (!mkdtemp(top))
		die("mkdtemp");
	topfd = open(top, O_RDONLY | O_DIRECTORY);
	if (topfd < 0 || mkdirat(topfd, "canary", 0755) < 0)
		die("canary folder");
	cfd = openat(topfd, "canary", O_RDONLY | O_DIRECTORY);
	fd = openat(cfd, "secret", O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, "canary\n", 7) != 7)
		die("canary file");
	close(fd);
	if (symlinkat("secret", cfd, "link") < 0 || mkdirat(cfd, "sub", 0700) < 0)
		die("canary tree");
	digest_canary(canary_digest);
	atexit(remove_top);
	(void)e;
}

static void check_outside(void)
{
	char now[DIGEST_STR_LEN];
	int dfd = openat(topfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (!d)
		die("reopen temp folder");
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "root") && strcmp(de->d_name, "canary")) {
			fprintf(stderr, "fuzz_extract: '%s' appeared outside the root\n", de->d_name);
			abort();
		}
	closedir(d);
	digest_canary(now);
	if (strcmp(now, canary_digest))
		die("the canary tree changed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct extract_limits l;
	struct err e;
	_cleanup_close_ int mfd = -1, rootfd = -1;

	if (topfd < 0)
		setup_once();
	mfd = memfd_create("layer", MFD_CLOEXEC);
	if (mfd < 0 || (size && write(mfd, data, size) != (ssize_t)size) ||
	    lseek(mfd, 0, SEEK_SET) != 0)
		die("memfd");
	if (mkdirat(topfd, "root", 0755) < 0)
		die("mkdir root");
	rootfd = openat(topfd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (rootfd < 0)
		die("open root");
	extract_limits_default(&l);
	l.max_bytes = 64 << 20;
	l.max_entries = 10000;
	l.allow_devices = false;
	if (extract_layer_fd(rootfd, mfd, &l, &e) < 0 && !e.msg[0])
		die("failure without a message");
	check_outside();
	if (extract_remove_tree(topfd, "root", &e) < 0) {
		fprintf(stderr, "fuzz_extract: remove root: %s\n", e.msg);
		abort();
	}
	return 0;
}
