/* test_tcplisten.c - listening sockets from /proc/net/tcp{,6} text and from
 * the kernel's sock_diag (deployer/common/tcplisten.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tcplisten.h"
#include "util.h"

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

static bool listed(const struct tcp_listener *s, size_t n, int port,
		   unsigned long inode)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].port == port && (!inode || s[i].inode == inode))
			return true;
	return false;
}

/* A listener of this process is in the kernel's answer with its inode; the
 * two ends of a connection to it are not listeners. */
static void test_kernel_listeners(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	int a, port, cport;
	struct stat st;
	struct tcp_listener *s = NULL;
	size_t n = 0, cap = 0;
	struct err e = {0};

	(void)state;
	assert_true(l >= 0 && c >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(getsockname(c, (struct sockaddr *)&sa, &len), 0);
	cport = ntohs(sa.sin_port);
	assert_int_equal(fstat(l, &st), 0);

	assert_int_equal(tcp_listeners_kernel(&s, &n, &cap, &e), 0);
	assert_true(listed(s, n, port, st.st_ino));
	assert_false(listed(s, n, cport, 0));
	close(a);
	close(c);
	close(l);
	free(s);
	s = NULL;
	n = cap = 0;
	/* Closed: gone from the next answer. */
	assert_int_equal(tcp_listeners_kernel(&s, &n, &cap, &e), 0);
	assert_false(listed(s, n, port, st.st_ino));
	free(s);
}

/* 100k lines of /proc/net/tcp text: every listener found, in order.  How
 * long it takes (it took 8.2 s when every line re-measured the rest of the
 * text) is bench/ports_bench's to say: tests assert no times. */
static void test_parse_many_lines(void **state)
{
	const size_t lines = 100000;
	char *text = xmalloc(lines * 160 + 1), *p = text;
	struct tcp_listener *s = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	for (size_t i = 0; i < lines; i++)
		p += sprintf(p, "%6zu: 0100007F:%04zX 0100007F:1F90 %s 00000000:00000000 "
			     "00:00000000 00000000     0        0 %zu 1 0 100 0 0 10 0\n",
			     i, 1024 + i % 60000, i % 10 ? "01" : "0A", 100000 + i);
	tcp_listeners_parse(text, &s, &n, &cap);
	assert_int_equal(n, lines / 10);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(s[k].port, 1024 + (k * 10) % 60000);
	free(s);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listeners_only),
		cmocka_unit_test(test_nothing_to_parse),
		cmocka_unit_test(test_kernel_listeners),
		cmocka_unit_test(test_parse_many_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
