/* test_push.c - push_select_hosts (host lists from the command line) and
 * push_blobs' per-host failure reporting, without any network: hosts that
 * cannot be reached fail each with its own cause. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "push.h"
#include "spec.h"

static struct spec_host hosts[3] = {
	{.name = "h1", .address = "127.0.0.1", .transport = TRANSPORT_SSH},
	{.name = "h2", .address = "127.0.0.1", .transport = TRANSPORT_SSH},
	{.name = "h3", .address = "127.0.0.1", .transport = TRANSPORT_SSH},
};
static struct spec spec = {
	.path = "test.cfg", .name = "t", .hosts = hosts, .nhosts = 3,
	.ssh = {.user = "root", .identity = "/nonexistent/key",
		.known_hosts = "/nonexistent/known_hosts"},
};

static void test_select_all_and_some(void **state)
{
	const struct spec_host **v = NULL;
	struct err e;
	size_t n;

	(void)state;
	assert_int_equal(push_select_hosts(&spec, NULL, &v, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_ptr_equal(v[2], &hosts[2]);
	free(v);
	/* listed order does not matter, duplicates count once */
	assert_int_equal(push_select_hosts(&spec, "h3,h1,h3", &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(v[0], &hosts[2]);
	assert_ptr_equal(v[1], &hosts[0]);
	free(v);
}

static void test_select_unknown_is_usage_error(void **state)
{
	const struct spec_host **v = NULL;
	struct err e;
	size_t n;

	(void)state;
	assert_int_equal(push_select_hosts(&spec, "h1,h9", &v, &n, &e), -1);
	assert_null(v);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	assert_string_equal(e.msg, "test.cfg: no host 'h9' in the spec");
}

static void test_each_host_fails_with_its_cause(void **state)
{
	const struct spec_host *sel[3] = {&hosts[0], &hosts[1], &hosts[2]};
	struct push_host_result res[3];
	struct push_opts o = {.parallel = 2, .transport = {.connect_timeout_ms = 2000}};
	struct push_blob b = {.path = "/nonexistent/blob"};
	struct err e;

	(void)state;
	/* Port 1 on loopback: nothing listens, the connection is refused. */
	hosts[0].port = hosts[1].port = hosts[2].port = 1;
	assert_int_equal(push_blobs(&spec, sel, 3, NULL, 0, &o, res, &e), -1);
	assert_string_equal(e.msg, "3 of 3 hosts failed; first: h1 (127.0.0.1:1): connect: Connection refused");
	for (int i = 0; i < 3; i++) {
		char want[64];

		snprintf(want, sizeof want, "h%d (127.0.0.1:1): connect", i + 1);
		assert_int_equal(res[i].rc, -1);
		assert_ptr_equal(res[i].host, sel[i]);
		assert_non_null(strstr(res[i].err.msg, want));
	}
	/* A local file that cannot be read fails the push with that cause. */
	assert_int_equal(push_blobs(&spec, sel, 1, &b, 1, &o, res, &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/blob"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_all_and_some),
		cmocka_unit_test(test_select_unknown_is_usage_error),
		cmocka_unit_test(test_each_host_fails_with_its_cause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
