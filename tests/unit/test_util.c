/* test_util.c - err, util and digest (deployer/common). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "err.h"
#include "util.h"

static void test_err_wrap_chain(void **state)
{
	struct err e;

	(void)state;
	err_sys(&e, ENOSPC, "sftp write blobs/sha256/ab12");
	err_wrap(&e, "push h2");
	assert_string_equal(e.msg, "push h2: sftp write blobs/sha256/ab12: No space left on device");
	assert_int_equal(e.code, ENOSPC);
	assert_int_equal(e.exit, ERR_EXIT_FAIL);
	err_usage(&e, "bad %s", "spec");
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	err_clear(&e);
	assert_string_equal(e.msg, "");
}

static void test_name_check(void **state)
{
	const char *bad[] = {"", "..", ".", "a/b", "-rf", "a b", "a;b", "$(x)", "a`b`",
			     "é", "a\nb", "a|b", "~root"};
	const char *good[] = {"cache-0", "h1", "redis_7.0", "A"};
	struct err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(name_check(bad[i], 63, "node", &e), -1);
		assert_int_equal(e.exit, ERR_EXIT_USAGE);
		assert_non_null(strstr(e.msg, "node"));
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(name_check(good[i], 63, "node", &e), 0);
	assert_false(name_is_safe("aaaaaaaaaa", 5));
}

static void test_sizes_durations(void **state)
{
	uint64_t v;
	int64_t ms;

	(void)state;
	assert_int_equal(parse_size("512M", &v), 0);
	assert_true(v == 512ULL << 20);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(parse_size("2GiB", &v), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(parse_size("1024", &v), 0);
	assert_true(v == 1024);
	assert_int_equal(parse_size("99999999999999999999", &v), -1);
	assert_int_equal(parse_size("16777216T", &v), -1);
	assert_int_equal(parse_size("1X", &v), -1);
	assert_int_equal(parse_size("-1", &v), -1);
	assert_int_equal(parse_size("", &v), -1);
	assert_int_equal(parse_duration_ms("250ms", &ms), 0);
	assert_true(ms == 250);
	assert_int_equal(parse_duration_ms("10s", &ms), 0);
	assert_true(ms == 10000);
	assert_int_equal(parse_duration_ms("2m", &ms), 0);
	assert_true(ms == 120000);
	assert_int_equal(parse_duration_ms("10 s", &ms), -1);
	assert_int_equal(parse_duration_ms("s", &ms), -1);
}

static void test_digest(void **state)
{
	char d[DIGEST_STR_LEN];

	(void)state;
	digest_buf("abc", 3, d);
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(digest_valid(d));
	assert_false(digest_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(digest_valid("sha256:ba78"));
	assert_false(digest_valid("md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(digest_valid("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/.."));
}

static void test_atomic_write_and_read(void **state)
{
	char dir[] = "/tmp/shoal-util-XXXXXX";
	struct err e;
	char *data = NULL;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	char *sub = path_join(dir, "a/b/c");
	assert_int_equal(mkdir_p(sub, 0700, &e), 0);
	char *f = path_join(sub, "state.json");
	assert_int_equal(write_file_atomic(f, "{}\n", 3, 0600, &e), 0);
	assert_int_equal(read_file(f, 100, &data, &len, &e), 0);
	assert_int_equal(len, 3);
	assert_string_equal(data, "{}\n");
	free(data);
	assert_int_equal(read_file(f, 2, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, "larger than"));
	assert_int_equal(read_file(sub, 100, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, "directory"));
	unlink(f);
	free(f);
	free(sub);
	char *rm = xasprintf("rm -r -- '%s'", dir);
	assert_int_equal(system(rm), 0);
	free(rm);
}

static void test_buf_and_paths(void **state)
{
	struct buf b = {0};

	(void)state;
	buf_printf(&b, "%d-%s", 7, "x");
	buf_puts(&b, "y");
	assert_string_equal(b.data, "7-xy");
	buf_free(&b);
	char *p = path_join("/a/", "b");
	assert_string_equal(p, "/a/b");
	free(p);
	p = path_dirname("x");
	assert_string_equal(p, ".");
	free(p);
	p = path_dirname("/x");
	assert_string_equal(p, "/");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_wrap_chain),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_sizes_durations),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_atomic_write_and_read),
		cmocka_unit_test(test_buf_and_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
