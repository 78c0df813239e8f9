/* test_tcplisten.c - listening sockets from /proc/net/tcp{,6} text
 * (deployer/common/tcplisten.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tcplisten.h"

static const char tcp4[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 0B0CD50A:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 41001 1 0000000000000000 100 0 0 10 0\n"
	"   1: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41002 1 0000000000000000 100 0 0 10 0\n"
	/* an established connection, not a listener */
	"   2: 0B0CD50A:1B58 0C0CD50A:C67A 01 00000000:00000000 00:00000000 00000000   999        0 41003 1 0000000000000000 20 4 30 10 -1\n"
	/* truncated line */
	"   3: 0B0CD50A:1B59 00000000:0000\n";

static const char tcp6[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:4E20 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52001 1 0000000000000000 100 0 0 10 0";

static void test_listeners_only(void **state)
{
	struct tcp_listener *s = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	tcp_listeners_parse(tcp4, &s, &n, &cap);
	assert_int_equal(n, 2);
	assert_int_equal(s[0].port, 7000);
	assert_int_equal(s[0].inode, 41001);
	assert_int_equal(s[1].port, 22);
	assert_int_equal(s[1].inode, 41002);
	/* IPv6 appends; the last line has no newline */
	tcp_listeners_parse(tcp6, &s, &n, &cap);
	assert_int_equal(n, 3);
	assert_int_equal(s[2].port, 20000);
	assert_int_equal(s[2].inode, 52001);
	free(s);
}

static void test_nothing_to_parse(void **state)
{
	struct tcp_listener *s = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	tcp_listeners_parse("", &s, &n, &cap);
	tcp_listeners_parse("garbage\n\n  0: zz\n", &s, &n, &cap);
	/* port 0 is not a port */
	tcp_listeners_parse("   0: 00000000:0000 00000000:0000 0A 0:0 0:0 0 0 0 7 1\n", &s, &n, &cap);
	assert_int_equal(n, 0);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listeners_only),
		cmocka_unit_test(test_nothing_to_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
