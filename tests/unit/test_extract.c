/* test_extract.c - safe layer extraction (deployer/common/extract.c).
 *
 * Every hostile archive of tests/archives/hostile.h is applied to a fresh
 * root that sits beside a canary tree; each must be rejected with a message
 * naming the entry, and the canary tree (content, modes, owners, times) must
 * hash the same afterwards.  Set SHOAL_HOSTILE_OUT=DIR to also keep the
 * generated archives there (the fuzz seed corpus comes from it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../archives/hostile.h"
#include "extract.h"
#include "util.h"

struct fx {
	char tmp[64];
	char *root, *canary;
	int rootfd;
	char canary_digest[DIGEST_STR_LEN];
};

static void put(const char *path, const char *data, mode_t mode)
{
	struct err e;

	assert_int_equal(write_file_atomic(path, data, strlen(data), mode, &e), 0);
}

static void canary_digest(struct fx *f, char out[DIGEST_STR_LEN])
{
	struct err e;
	int fd = open(f->canary, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(extract_tree_digest(fd, TREE_DIGEST_OWNERS | TREE_DIGEST_MTIME,
					     out, &e), 0);
	close(fd);
}

static void fx_setup(struct fx *f)
{
	_cleanup_free_ char *sub = NULL, *p = NULL, *q = NULL;

	snprintf(f->tmp, sizeof f->tmp, "/tmp/shoal-extract-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	f->root = path_join(f->tmp, "root");
	f->canary = path_join(f->tmp, "canary");
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(mkdir(f->canary, 0755), 0);
	p = path_join(f->canary, "secret");
	put(p, "canary secret\n", 0600);
	sub = path_join(f->canary, "sub");
	assert_int_equal(mkdir(sub, 0750), 0);
	q = path_join(sub, "file");
	put(q, "canary file\n", 0644);
	free(q);
	q = path_join(f->canary, "link");
	assert_int_equal(symlink("secret", q), 0);
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(f->rootfd >= 0);
	canary_digest(f, f->canary_digest);
}

/* The canary hashes as before, and the temp folder holds only root, canary
 * and the layer files the test wrote (names starting with "layer"). */
static void fx_check_outside(struct fx *f)
{
	char now[DIGEST_STR_LEN];
	DIR *d = opendir(f->tmp);
	struct dirent *de;

	canary_digest(f, now);
	assert_string_equal(now, f->canary_digest);
	assert_non_null(d);
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "root") ||
		    !strcmp(n, "canary") || !strncmp(n, "layer", 5))
			continue;
		fail_msg("unexpected '%s' beside the root", n);
	}
	closedir(d);
}

static void fx_teardown(struct fx *f)
{
	struct err e;
	_cleanup_close_ int parent = open("/tmp", O_RDONLY | O_DIRECTORY);

	close(f->rootfd);
	assert_int_equal(extract_remove_tree(parent, f->tmp + 5, &e), 0);
	free(f->root);
	free(f->canary);
}

static int apply(struct fx *f, const char *layer, const struct extract_limits *l,
		 struct err *e)
{
	_cleanup_close_ int fd = open(layer, O_RDONLY);
	struct extract_limits def;

	assert_true(fd >= 0);
	if (!l) {
		extract_limits_default(&def);
		l = &def;
	}
	return extract_layer_fd(f->rootfd, fd, l, e);
}

static void keep_copy(const char *layer, const char *name, enum hfilter filt)
{
	const char *out = getenv("SHOAL_HOSTILE_OUT");
	static const char *const ext[] = {"tar", "tar.gz", "tar.zst"};
	_cleanup_free_ char *data = NULL, *dst = NULL;
	size_t len;
	struct err e;

	if (!out || !*out)
		return;
	assert_int_equal(read_file(layer, 1 << 20, &data, &len, &e), 0);
	dst = xasprintf("%s/%s.%s", out, name, ext[filt]);
	assert_int_equal(write_file_atomic(dst, data, len, 0644, &e), 0);
}

/* ---- hostile corpus ---------------------------------------------------------- */

static void test_hostile_corpus(void **state)
{
	(void)state;
	assert_true(ARRAY_SIZE(hostile_cases) >= 15);
	for (size_t i = 0; i < ARRAY_SIZE(hostile_cases); i++) {
		const struct hcase *c = &hostile_cases[i];
		struct fx f = {0};
		struct err e;
		_cleanup_free_ char *pre = NULL, *layer = NULL, *dest = NULL;
		const char *layers[2];
		size_t n = 0;
		struct stat st;

		fx_setup(&f);
		pre = path_join(f.tmp, "layer-pre.tar");
		layer = path_join(f.tmp, "layer.tar");
		dest = path_join(f.tmp, "layer-rootfs");
		if (c->pre[0].type) {
			assert_int_equal(hostile_write(pre, HF_TAR, c->pre, f.canary), 0);
			if (apply(&f, pre, NULL, &e) < 0)
				fail_msg("%s: lower layer: %s", c->name, e.msg);
			layers[n++] = pre;
		}
		assert_int_equal(hostile_write(layer, c->filter, c->ents, f.canary), 0);
		keep_copy(layer, c->name, c->filter);
		layers[n++] = layer;
		err_clear(&e);
		if (apply(&f, layer, NULL, &e) == 0)
			fail_msg("%s: hostile layer was accepted", c->name);
		if (!strstr(e.msg, c->expect) || e.exit != ERR_EXIT_USAGE)
			fail_msg("%s: got '%s' (exit %d), want '%s'", c->name, e.msg, e.exit,
				 c->expect);
		fx_check_outside(&f);

		/* The same layers through extract_rootfs: nothing appears. */
		{
			struct extract_limits l;

			extract_limits_default(&l);
			assert_int_equal(extract_rootfs(dest, layers, n, &l, &e), -1);
			assert_non_null(strstr(e.msg, c->expect));
		}
		assert_int_equal(lstat(dest, &st), -1);
		fx_check_outside(&f);
		fx_teardown(&f);
	}
}

/* ---- limits -------------------------------------------------------------------- */

/* A zstd layer of ~10 KB that expands to 256 MiB of zeros, against a 64 MiB
 * limit: rejected by the decompressed count, not the compressed size. */
static void test_decompression_bomb(void **state)
{
	static char zeros[1 << 16];
	struct fx f = {0};
	struct err e;
	struct extract_limits l;
	_cleanup_free_ char *layer = NULL;
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	struct stat st;

	(void)state;
	fx_setup(&f);
	layer = path_join(f.tmp, "layer-bomb.tar.zst");
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_filename(a, layer), ARCHIVE_OK);
	archive_entry_copy_pathname(ae, "zeros");
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, 256 << 20);
	assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
	for (int i = 0; i < (256 << 20) / (int)sizeof zeros; i++)
		assert_int_equal(archive_write_data(a, zeros, sizeof zeros), sizeof zeros);
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(ae);
	assert_int_equal(stat(layer, &st), 0);
	assert_true(st.st_size < 1 << 20);

	extract_limits_default(&l);
	l.max_bytes = 64 << 20;
	assert_int_equal(apply(&f, layer, &l, &e), -1);
	assert_non_null(strstr(e.msg, "entry 'zeros'"));
	assert_non_null(strstr(e.msg, "layer limit"));
	fx_check_outside(&f);
	fx_teardown(&f);
}

/* The entry limit: one million by default.  Checked here at 20,000, which
 * runs the same count as the default without spending a minute of system
 * time creating a million entries: 20,001 tiny entries are rejected, naming
 * the entry past the limit.  The entries are repeated directory entries
 * over 1000 folders; the count is checked before an entry is applied,
 * whatever its type. */
static void test_entry_limit(void **state)
{
	struct fx f = {0};
	struct err e;
	struct extract_limits l;
	_cleanup_free_ char *layer = NULL;
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	char name[32];

	(void)state;
	extract_limits_default(&l);
	assert_int_equal(l.max_entries, 1000000);
	l.max_entries = 20000;
	fx_setup(&f);
	layer = path_join(f.tmp, "layer-many.tar.zst");
	archive_write_set_format_ustar(a);
	archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_filename(a, layer), ARCHIVE_OK);
	for (unsigned i = 0; i <= 20000; i++) {
		archive_entry_clear(ae);
		snprintf(name, sizeof name, "d%03u/", i % 1000);
		archive_entry_copy_pathname(ae, name);
		archive_entry_set_filetype(ae, AE_IFDIR);
		archive_entry_set_perm(ae, 0755);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(ae);

	assert_int_equal(apply(&f, layer, &l, &e), -1);
	if (!strstr(e.msg, "entry 'd000/': more than 20000 entries"))
		fail_msg("got '%s'", e.msg);
	fx_check_outside(&f);
	fx_teardown(&f);
}

static void test_garbage_is_an_error(void **state)
{
	struct fx f = {0};
	struct err e;
	_cleanup_free_ char *layer = NULL;

	(void)state;
	fx_setup(&f);
	layer = path_join(f.tmp, "layer-garbage");
	put(layer, "this is not a tar stream, not gzip and not zstd either\n", 0644);
	assert_int_equal(apply(&f, layer, NULL, &e), -1);
	if (!strstr(e.msg, "read layer"))
		fail_msg("got '%s'", e.msg);
	fx_check_outside(&f);
	fx_teardown(&f);
}

/* ---- benign layers ------------------------------------------------------------- */

static const struct hentry lower[] = {
	{'d', "./", NULL, 0755},
	{'d', "etc", NULL, 0},
	{'f', "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0},
	{'d', "var/lib", NULL, 0},
	{'f', "var/lib/a", "a", 0},
	{'f', "var/lib/b", "b", 0},
	{0},
};
static const struct hentry lower2[] = {
	{'d', "usr/bin", NULL, 0},
	{'f', "usr/bin/tool", "#!tool", 04755},
	{'h', "usr/bin/tool2", "usr/bin/tool", 0},
	{'l', "bin", "usr/bin", 0},
	{'f', "opq/old", "old", 0},
	{'l', "victim", "@C@/secret", 0},
	{0},
};
static const struct hentry upper[] = {
	{'f', "var/lib/.wh.a", "", 0},
	{'f', "opq/new", "new", 0},
	{'f', "opq/.wh..wh..opq", "", 0},
	{'f', "etc/passwd", "root:x:0:0::/root:/bin/sh\nredis:x:999:999::/:/bin/false\n", 0},
	{'d', "victim", NULL, 0777},
	{'f', ".wh.nothing-there", "", 0},
	{0},
};

static char *read_at(int dirfd, const char *path)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW);
	char buf[256];
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof buf - 1);
	assert_true(n >= 0);
	return xstrndup(buf, (size_t)n);
}

static void apply_benign(struct fx *f, enum hfilter filt)
{
	_cleanup_free_ char *l1 = path_join(f->tmp, "layer1"), *l2 = path_join(f->tmp, "layer2"),
			    *l3 = path_join(f->tmp, "layer3");
	struct err e;

	assert_int_equal(hostile_write(l1, filt, lower, f->canary), 0);
	assert_int_equal(hostile_write(l2, HF_GZIP, lower2, f->canary), 0);
	assert_int_equal(hostile_write(l3, HF_ZSTD, upper, f->canary), 0);
	if (apply(f, l1, NULL, &e) < 0 || apply(f, l2, NULL, &e) < 0 ||
	    apply(f, l3, NULL, &e) < 0)
		fail_msg("benign layers: %s", e.msg);
}

static void test_layers_and_whiteouts(void **state)
{
	struct fx f = {0};
	struct stat st, st2;
	char target[64];
	ssize_t n;
	_cleanup_free_ char *passwd = NULL, *newf = NULL;

	(void)state;
	fx_setup(&f);
	apply_benign(&f, HF_TAR);
	/* whiteout removed the lower file, left its sibling */
	assert_int_equal(fstatat(f.rootfd, "var/lib/a", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(f.rootfd, "var/lib/b", &st, AT_SYMLINK_NOFOLLOW), 0);
	/* the opaque marker hid the lower entry, not the one of its own layer */
	assert_int_equal(fstatat(f.rootfd, "opq/old", &st, AT_SYMLINK_NOFOLLOW), -1);
	newf = read_at(f.rootfd, "opq/new");
	assert_string_equal(newf, "new");
	/* an upper file replaced the lower one */
	passwd = read_at(f.rootfd, "etc/passwd");
	assert_non_null(strstr(passwd, "redis:x:999"));
	/* setuid stripped by default, the hard link shares the inode */
	assert_int_equal(fstatat(f.rootfd, "usr/bin/tool", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(fstatat(f.rootfd, "usr/bin/tool2", &st2, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(st.st_ino == st2.st_ino);
	/* a symlink is kept as content */
	n = readlinkat(f.rootfd, "bin", target, sizeof target);
	assert_int_equal(n, 7);
	assert_memory_equal(target, "usr/bin", 7);
	/* a later layer turned the symlink to the canary into a directory,
	 * without touching the canary */
	assert_int_equal(fstatat(f.rootfd, "victim", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	fx_check_outside(&f);
	fx_teardown(&f);
}

static void test_rootfs_digest_reproducible(void **state)
{
	struct fx f = {0};
	struct err e;
	struct extract_limits l;
	_cleanup_free_ char *l1 = NULL, *l2 = NULL, *d1 = NULL, *d2 = NULL;
	char h1[DIGEST_STR_LEN], h2[DIGEST_STR_LEN], partial[64];
	const char *layers[2];
	int fd;
	DIR *d;
	struct dirent *de;

	(void)state;
	fx_setup(&f);
	l1 = path_join(f.tmp, "layer1");
	l2 = path_join(f.tmp, "layer2");
	d1 = path_join(f.tmp, "layer-a");
	d2 = path_join(f.tmp, "layer-b");
	assert_int_equal(hostile_write(l1, HF_GZIP, lower, f.canary), 0);
	assert_int_equal(hostile_write(l2, HF_ZSTD, upper, f.canary), 0);
	layers[0] = l1;
	layers[1] = l2;
	extract_limits_default(&l);
	assert_int_equal(extract_rootfs(d1, layers, 2, &l, &e), 0);
	assert_int_equal(extract_rootfs(d2, layers, 2, &l, &e), 0);
	assert_int_equal(extract_rootfs(d2, layers, 2, &l, &e), -1);
	assert_int_equal(e.code, EEXIST);
	fd = open(d1, O_RDONLY | O_DIRECTORY);
	assert_int_equal(extract_tree_digest(fd, TREE_DIGEST_OWNERS, h1, &e), 0);
	close(fd);
	fd = open(d2, O_RDONLY | O_DIRECTORY);
	assert_int_equal(extract_tree_digest(fd, TREE_DIGEST_OWNERS, h2, &e), 0);
	close(fd);
	assert_string_equal(h1, h2);
	/* no ".layer-a.partial-*" left behind */
	d = opendir(f.tmp);
	assert_non_null(d);
	snprintf(partial, sizeof partial, ".layer-");
	while ((de = readdir(d)))
		assert_true(strncmp(de->d_name, partial, strlen(partial)) != 0);
	closedir(d);
	fx_check_outside(&f);
	fx_teardown(&f);
}

static void test_devices_when_allowed(void **state)
{
	static const struct hentry devs[] = {
		{'d', "dev", NULL, 0}, {'c', "dev/null", NULL, 0}, {'p', "run-fifo", NULL, 0}, {0},
	};
	struct fx f = {0};
	struct err e;
	struct extract_limits l;
	struct stat st;
	_cleanup_free_ char *layer = NULL;

	(void)state;
	if (geteuid() != 0) {
		print_message("# skip reason: %s: device nodes need root\n", __func__);
		skip();
	}
	fx_setup(&f);
	layer = path_join(f.tmp, "layer-dev");
	assert_int_equal(hostile_write(layer, HF_TAR, devs, f.canary), 0);
	extract_limits_default(&l);
	l.allow_devices = true;
	if (apply(&f, layer, &l, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(fstatat(f.rootfd, "dev/null", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(fstatat(f.rootfd, "run-fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISFIFO(st.st_mode));
	fx_check_outside(&f);
	fx_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_corpus),
		cmocka_unit_test(test_decompression_bomb),
		cmocka_unit_test(test_entry_limit),
		cmocka_unit_test(test_garbage_is_an_error),
		cmocka_unit_test(test_layers_and_whiteouts),
		cmocka_unit_test(test_rootfs_digest_reproducible),
		cmocka_unit_test(test_devices_when_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
