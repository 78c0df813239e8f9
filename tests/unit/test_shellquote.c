/* test_shellquote.c - shell_quote_word/shell_quote_argv: exact forms, and a
 * corpus of hostile words that must come back byte for byte from real POSIX
 * shells (dash as /bin/sh, and bash, the usual login shells of root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shellquote.h"
#include "transport.h"

/* Shared with the ssh scenario test (tests/scenarios/ssh_quoting.bats uses
 * the same kinds of words). */
static const char *const hostile[] = {
	"",
	" ",
	"two words",
	"'",
	"''",
	"it's",
	"\"double\"",
	"$(touch /tmp/shoal-pwned)",
	"`id`",
	"${HOME}",
	"$HOME",
	"a;b",
	"a|b",
	"a&&b",
	"a\nb",
	"\n",
	"-rf",
	"--",
	"-",
	"*",
	"~",
	"\\",
	"\\'",
	"'\\''",
	"\t tab",
	"#comment",
	"!bang",
	"a>b<c",
	"\xff\xfe non-utf8 \x80",
	"\xe2\x82\xac euro",
	"\x01\x1b[31mesc",
};

static void test_exact_forms(void **state)
{
	const char *argv[] = {"printf", "%s\\n", "", "it's", "-n", NULL};
	char *s;

	(void)state;
	s = shell_quote_argv(argv);
	assert_string_equal(s, "'printf' '%s\\n' '' 'it'\\''s' '-n'");
	free(s);
}

static void test_single_word(void **state)
{
	struct buf b = {0};

	(void)state;
	shell_quote_word(&b, "'");
	assert_string_equal(b.data, "''\\'''");
	buf_reset(&b);
	shell_quote_word(&b, "");
	assert_string_equal(b.data, "''");
	buf_free(&b);
}

/* Run `SHELL -c "<quoted printf argv>"` and collect its stdout. */
static void roundtrip(const char *shell)
{
	const char *argv[ARRAY_SIZE(hostile) + 3];
	struct buf want = {0}, got = {0};
	struct run_result res;
	struct tchan *c;
	struct err e;
	char *cmd, tmp[4096];
	ssize_t n;
	size_t k = 0;

	if (access(shell, X_OK) != 0) {
		print_message("# skip reason: roundtrip %s: not installed\n", shell);
		skip();
	}
	argv[k++] = "printf";
	argv[k++] = "%s\\0";
	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		argv[k++] = hostile[i];
		buf_append(&want, hostile[i], strlen(hostile[i]) + 1);
	}
	argv[k] = NULL;
	cmd = shell_quote_argv(argv);
	{
		const char *sh[] = {shell, "-c", cmd, NULL};

		assert_int_equal(tchan_spawn_local(shell, sh, &c, &e), 0);
	}
	while ((n = tchan_read(c, tmp, sizeof tmp, 10000, &e)) > 0)
		buf_append(&got, tmp, (size_t)n);
	assert_int_equal(n, 0);
	assert_int_equal(tchan_close(c, &res, &e), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	assert_int_not_equal(access("/tmp/shoal-pwned", F_OK), 0);
	free(cmd);
	buf_free(&want);
	buf_free(&got);
}

static void test_roundtrip_dash(void **state)
{
	(void)state;
	roundtrip("/bin/sh");
}

static void test_roundtrip_bash(void **state)
{
	(void)state;
	roundtrip("/bin/bash");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_forms),
		cmocka_unit_test(test_single_word),
		cmocka_unit_test(test_roundtrip_dash),
		cmocka_unit_test(test_roundtrip_bash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
