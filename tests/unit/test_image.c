/* test_image.c - recipes, the OCI store, import/export (deployer/lib/image/).
 *
 * Builds use /bin/true (any dynamic host binary works: its libraries are
 * found from its ELF dynamic section).  Every store lives in a temp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "image.h"
#include "image_int.h"
#include "util.h"

struct fx {
	char tmp[64];
	char *store;
};

static void fx_setup(struct fx *f)
{
	snprintf(f->tmp, sizeof f->tmp, "/tmp/shoal-image-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	f->store = path_join(f->tmp, "store");
}

static void fx_teardown(struct fx *f)
{
	struct err e;
	int parent = open("/tmp", O_RDONLY | O_DIRECTORY);

	assert_int_equal(extract_remove_tree(parent, f->tmp + 5, &e), 0);
	close(parent);
	free(f->store);
}

static char *put(struct fx *f, const char *name, const char *text)
{
	char *p = path_join(f->tmp, name);
	struct err e;

	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644, &e), 0);
	return p;
}

/* A copy of /bin/true whose DT_NEEDED "libc.so.6" reads "libq.so.6". */
static char *elf_with_missing_lib(struct fx *f)
{
	_cleanup_free_ char *data = NULL;
	char *p = path_join(f->tmp, "needs-libq");
	size_t len, hits = 0;
	struct err e;

	assert_int_equal(read_file("/bin/true", 16u << 20, &data, &len, &e), 0);
	for (size_t i = 0; i + 10 <= len; i++)
		if (!memcmp(data + i, "libc.so.6", 10)) {
			data[i + 3] = 'q';
			hits++;
		}
	assert_true(hits > 0);
	assert_int_equal(write_file_atomic(p, data, len, 0755, &e), 0);
	return p;
}

static const char good_recipe[] =
	"name = \"tiny\";\n"
	"version = \"1\";\n"
	"binaries = [\"/bin/true\"];\n"
	"files = ( { src = \"hello.txt\"; dest = \"/etc/hello\"; mode = \"0640\"; } );\n"
	"symlinks = ( [\"/bin/yes-true\", \"true\"] );\n"
	"user = { name = \"app\"; uid = 1000; gid = 1000; home = \"/data\"; };\n"
	"dirs = ( { path = \"/data\"; mode = \"0750\"; uid = 1000; gid = 1000; } );\n"
	"entrypoint = [\"/bin/true\"];\n"
	"env = [\"A=1\"];\n"
	"ports = [\"7000/tcp\"];\n"
	"labels = ( [\"org.example.k\", \"v\"] );\n";

static void test_recipe_errors(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *text = NULL, *elf = NULL;
	struct {
		const char *body;
		const char *expect;
	} cases[] = {
		{"name = \"x\";\nversion = \"1\";\nbinaries = [\"/nonexistent/redis\"];\n",
		 "r.cfg:3: binary /nonexistent/redis: No such file"},
		{"name = \"x\";\nversion = \"1\";\n\nbinaries = [\"@DIR@/hello.txt\"];\n",
		 "r.cfg:4: binary @DIR@/hello.txt: @DIR@/hello.txt is not an ELF file"},
		{"name = \"x\";\nversion = \"1\";\nbinaries = [\"@DIR@/needs-libq\"];\n",
		 "r.cfg:3: binary @DIR@/needs-libq: @DIR@/needs-libq needs libq.so.6, which is in none"},
		{"name = \"x\";\nversion = \"1\";\nuser = { name = \"redis\"; gid = 9; };\n",
		 "r.cfg:3: user 'redis' has no uid"},
		{"name = \"x\";\nversion = \"1\";\nbinarys = [];\n", "r.cfg:3: unknown key 'binarys'"},
		{"version = \"1\";\n", "r.cfg:1: 'name' is required"},
		{"name = \"x\";\nversion = \"1\";\nports = [\"http\"];\n",
		 "r.cfg:3: port 'http' is not PORT"},
		{"name = \"x\";\nversion = \"1\";\nfiles = ( { src = \"a\"; dest = \"rel\"; } );\n",
		 "r.cfg:3: dest 'rel' must be absolute"},
		{"name = \"x\";\nversion = \"1\";\nfrom = \"http://x\";\n", "r.cfg:3: from 'http://x'"},
		{"name = \"../x\";\nversion = \"1\";\n", "r.cfg:1: image name '../x'"},
		{"name = \"x\";\nversion = ;\n", "r.cfg:2: syntax error"},
		{"name = \"x\";\nversion = \"1\";\ncompression_level = 12;\n",
		 "r.cfg:3: compression_level 12 is out of range: gzip takes 1..9"},
		{"name = \"x\";\nversion = \"1\";\ncompression = \"zstd\";\ncompression_level = \"9\";\n",
		 "r.cfg:4: 'compression_level' must be a whole number"},
	};

	(void)state;
	fx_setup(&f);
	free(put(&f, "hello.txt", "hello\n"));
	elf = elf_with_missing_lib(&f);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf body = {0}, want = {0};
		_cleanup_free_ char *recipe = NULL;
		struct err e;
		const char *p;

		for (p = cases[i].body; *p; p++)
			if (!strncmp(p, "@DIR@", 5)) {
				buf_puts(&body, f.tmp);
				p += 4;
			} else {
				buf_append(&body, p, 1);
			}
		for (p = cases[i].expect; *p; p++)
			if (!strncmp(p, "@DIR@", 5)) {
				buf_puts(&want, f.tmp);
				p += 4;
			} else {
				buf_append(&want, p, 1);
			}
		recipe = put(&f, "r.cfg", body.data);
		err_clear(&e);
		if (image_build(f.store, recipe, NULL, &e) == 0)
			fail_msg("case %zu was accepted", i);
		if (!strstr(e.msg, want.data))
			fail_msg("case %zu: got '%s', want '%s'", i, e.msg, want.data);
		assert_int_equal(e.exit, ERR_EXIT_USAGE);
		buf_free(&body);
		buf_free(&want);
	}
	fx_teardown(&f);
}

static void test_build_reproducible(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *recipe = NULL, *other = NULL, *rootfs = NULL, *hello = NULL;
	struct image_info *a = NULL, *b = NULL;
	struct err e;
	struct stat st;
	char target[16];

	(void)state;
	fx_setup(&f);
	free(put(&f, "hello.txt", "hello\n"));
	recipe = put(&f, "tiny.cfg", good_recipe);
	other = path_join(f.tmp, "store2");
	if (image_build(f.store, recipe, &a, &e) < 0 || image_build(other, recipe, &b, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(a->manifest_digest, b->manifest_digest);
	assert_string_equal(a->name, "tiny");
	assert_string_equal(a->tag, "1");
	assert_int_equal(a->nblobs, 3);
	assert_non_null(strstr(a->blobs[2].media_type, "tar+gzip"));
	/* a rebuild in the same store gives the same digest too */
	image_info_free(b);
	assert_int_equal(image_build(f.store, recipe, &b, &e), 0);
	assert_string_equal(a->manifest_digest, b->manifest_digest);

	rootfs = path_join(f.tmp, "rootfs");
	if (image_unpack(f.store, "tiny", rootfs, &e) < 0)
		fail_msg("%s", e.msg);
	hello = path_join(rootfs, "etc/hello");
	assert_int_equal(stat(hello, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(hello);
	hello = path_join(rootfs, "etc/passwd");
	{
		_cleanup_free_ char *pw = NULL;

		assert_int_equal(read_file(hello, 4096, &pw, NULL, &e), 0);
		assert_non_null(strstr(pw, "app:x:1000:1000::/data:"));
	}
	free(hello);
	/* "/bin/yes-true" landed beside true, under the real folder */
	hello = path_join(rootfs, "usr/bin/yes-true");
	assert_int_equal(readlink(hello, target, sizeof target), 4);
	image_info_free(a);
	image_info_free(b);
	fx_teardown(&f);
}

/* The layer cache makes a rebuild of an unchanged recipe cheap, but a
 * changed input (here the same size, new content) must give a new layer. */
static void test_build_cache_sees_changes(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *recipe = NULL, *hello = NULL;
	struct image_info *a = NULL, *b = NULL, *c = NULL;
	struct err e;

	(void)state;
	fx_setup(&f);
	hello = put(&f, "hello.txt", "hello\n");
	recipe = put(&f, "tiny.cfg", good_recipe);
	if (image_build(f.store, recipe, &a, &e) < 0)
		fail_msg("%s", e.msg);
	free(put(&f, "hello.txt", "HELLO\n"));
	if (image_build(f.store, recipe, &b, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_not_equal(a->manifest_digest, b->manifest_digest);
	free(put(&f, "hello.txt", "hello\n"));
	if (image_build(f.store, recipe, &c, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(a->manifest_digest, c->manifest_digest);
	image_info_free(a);
	image_info_free(b);
	image_info_free(c);
	fx_teardown(&f);
}

static void flip_byte(const char *path)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 100), 1);
	c ^= 0xff;
	assert_int_equal(pwrite(fd, &c, 1, 100), 1);
	close(fd);
}

static void test_corrupt_blob_detected(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *recipe = NULL, *out = NULL, *rootfs = NULL;
	struct image_info *a = NULL, *b = NULL;
	struct err e;
	struct stat st;

	(void)state;
	fx_setup(&f);
	free(put(&f, "hello.txt", "hello\n"));
	recipe = put(&f, "tiny.cfg", good_recipe);
	assert_int_equal(image_build(f.store, recipe, &a, &e), 0);
	flip_byte(a->blobs[2].path);
	assert_int_equal(image_resolve(f.store, "tiny:1", &b, &e), -1);
	assert_non_null(strstr(e.msg, "is corrupt"));
	assert_non_null(strstr(e.msg, a->blobs[2].digest));
	out = path_join(f.tmp, "out.tar");
	assert_int_equal(image_export(f.store, "tiny:1", out, &e), -1);
	assert_int_equal(stat(out, &st), -1);
	rootfs = path_join(f.tmp, "rootfs");
	assert_int_equal(image_unpack(f.store, "tiny:1", rootfs, &e), -1);
	assert_int_equal(stat(rootfs, &st), -1);
	image_info_free(a);
	fx_teardown(&f);
}

static void tree_hash(const char *dir, char out[DIGEST_STR_LEN])
{
	struct err e;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(extract_tree_digest(fd, 0, out, &e), 0);
	close(fd);
}

static void test_export_import_rm(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *recipe = NULL, *out = NULL, *r1 = NULL, *r2 = NULL;
	struct image_info *a = NULL, *b = NULL;
	struct image_entry *v = NULL;
	size_t n = 0;
	struct err e;
	char h1[DIGEST_STR_LEN], h2[DIGEST_STR_LEN];

	(void)state;
	fx_setup(&f);
	free(put(&f, "hello.txt", "hello\n"));
	recipe = put(&f, "tiny.cfg", good_recipe);
	assert_int_equal(image_build(f.store, recipe, &a, &e), 0);
	out = path_join(f.tmp, "tiny.tar");
	if (image_export(f.store, "tiny:1", out, &e) < 0)
		fail_msg("%s", e.msg);
	if (image_import(f.store, out, NULL, "copy:2", &b, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(a->manifest_digest, b->manifest_digest);
	r1 = path_join(f.tmp, "r1");
	r2 = path_join(f.tmp, "r2");
	assert_int_equal(image_unpack(f.store, "tiny:1", r1, &e), 0);
	assert_int_equal(image_unpack(f.store, "copy:2", r2, &e), 0);
	tree_hash(r1, h1);
	tree_hash(r2, h2);
	assert_string_equal(h1, h2);

	assert_int_equal(image_list(f.store, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "copy");
	assert_string_equal(v[1].name, "tiny");
	image_entries_free(v, n);
	/* removing one tag keeps the shared blobs; removing both deletes them */
	assert_int_equal(image_remove(f.store, "tiny:1", &e), 0);
	assert_int_equal(access(a->blobs[2].path, F_OK), 0);
	assert_int_equal(image_remove(f.store, "copy", &e), 0);
	assert_int_equal(access(a->blobs[2].path, F_OK), -1);
	{
		struct image_info *gone = NULL;

		assert_int_equal(image_resolve(f.store, "copy:2", &gone, &e), -1);
		assert_null(gone);
	}
	assert_non_null(strstr(e.msg, "no image copy:2"));
	image_info_free(a);
	image_info_free(b);
	fx_teardown(&f);
}

/* from = "oci:ARCHIVE:TAG": the base's layers, then one layer of the recipe's
 * files; the config's env is merged (a recipe KEY replaces the base's). */
static void test_from_base_image(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *recipe = NULL, *out = NULL, *upper = NULL, *rootfs = NULL;
	_cleanup_free_ char *p = NULL, *cfg = NULL;
	struct image_info *a = NULL, *b = NULL;
	struct err e;

	(void)state;
	fx_setup(&f);
	free(put(&f, "hello.txt", "hello\n"));
	free(put(&f, "extra.txt", "extra\n"));
	recipe = put(&f, "tiny.cfg", good_recipe);
	assert_int_equal(image_build(f.store, recipe, &a, &e), 0);
	out = path_join(f.tmp, "tiny.tar");
	assert_int_equal(image_export(f.store, "tiny:1", out, &e), 0);
	{
		_cleanup_free_ char *text = xasprintf(
			"name = \"upper\";\nversion = \"2\";\nfrom = \"oci:%s:1\";\n"
			"files = ( { src = \"extra.txt\"; dest = \"/bin/extra\"; } );\n"
			"env = [\"A=2\"];\n", out);

		upper = put(&f, "upper.cfg", text);
	}
	if (image_build(f.store, upper, &b, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(b->nblobs, 4);
	assert_string_equal(a->blobs[2].digest, b->blobs[2].digest);
	rootfs = path_join(f.tmp, "rootfs");
	assert_int_equal(image_unpack(f.store, "upper:2", rootfs, &e), 0);
	p = path_join(rootfs, "etc/hello");
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	/* "/bin/extra" went through the base's bin -> usr/bin symlink */
	p = path_join(rootfs, "usr/bin/extra");
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(read_file(b->blobs[1].path, 1 << 20, &cfg, NULL, &e), 0);
	assert_non_null(strstr(cfg, "\"A=2\""));
	assert_null(strstr(cfg, "\"A=1\""));
	assert_non_null(strstr(cfg, "\"Entrypoint\":[\"/bin/true\"]"));
	image_info_free(a);
	image_info_free(b);
	fx_teardown(&f);
}

/* The closure of a dynamic binary holds its interpreter and libc, found from
 * the ELF headers alone; a static binary needs nothing. */
static void test_elf_closure(void **state)
{
	const char *bins[] = {"/bin/true"};
	char **libs = NULL;
	size_t n = 0;
	bool interp = false, libc = false;
	struct err e;

	(void)state;
	if (elf_closure(bins, 1, &libs, &n, &e) < 0)
		fail_msg("%s", e.msg);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(libs[i]);

		interp |= strstr(libs[i], "ld-linux") != NULL && libs[i][0] == '/';
		libc |= len >= 10 && !strcmp(libs[i] + len - 10, "/libc.so.6");
		free(libs[i]);
	}
	free(libs);
	assert_true(interp);
	assert_true(libc);
	bins[0] = "/bin/busybox";
	if (access(bins[0], F_OK) == 0) {
		assert_int_equal(elf_closure(bins, 1, &libs, &n, &e), 0);
		assert_int_equal(n, 0);
		free(libs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recipe_errors),
		cmocka_unit_test(test_build_reproducible),
		cmocka_unit_test(test_build_cache_sees_changes),
		cmocka_unit_test(test_corrupt_blob_detected),
		cmocka_unit_test(test_export_import_rm),
		cmocka_unit_test(test_from_base_image),
		cmocka_unit_test(test_elf_closure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
