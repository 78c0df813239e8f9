/* test_ssh_transport.c - both transport backends against real programs:
 * the ssh one against a private sshd on 127.0.0.1 (auth failures, closed
 * port, a server that never speaks, argv fidelity, exit codes and signals,
 * channels, files), the local one against local children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "test_ssh_fixture.h"

static struct sshd_fixture fx;

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	if (!fx_possible())
		return 0; /* each test skips, saying why */
	if (fx_start(&fx) < 0 || fx_trust(&fx) < 0) {
		fx_stop(&fx);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	fx_stop(&fx);
	return 0;
}

static struct transport *open_ssh(void)
{
	struct transport *t = NULL;
	struct err e;

	if (transport_open(&fx.spec, &fx.host, NULL, &t, &e) < 0)
		fail_msg("open: %s", e.msg);
	return t;
}

static struct transport *open_local(void)
{
	struct spec_host h = {.name = "l1", .address = "localhost",
			      .transport = TRANSPORT_LOCAL};
	struct transport *t = NULL;
	struct err e;

	assert_int_equal(transport_open(&fx.spec, &h, NULL, &t, &e), 0);
	return t;
}

/* ---- connection failures ------------------------------------------------ */

static void test_wrong_key(void **state)
{
	struct spec s = fx.spec;
	struct transport *t = NULL;
	struct err e;

	FX_NEED();
	s.ssh.identity = fx.other_id;
	assert_int_equal(transport_open(&s, &fx.host, NULL, &t, &e), -1);
	assert_null(t);
	assert_non_null(strstr(e.msg, "h1 (127.0.0.1:"));
	assert_non_null(strstr(e.msg, "authentication failed for root with"));
	assert_non_null(strstr(e.msg, fx.other_id));

	s.ssh.identity = "/nonexistent/id_ed25519";
	assert_int_equal(transport_open(&s, &fx.host, NULL, &t, &e), -1);
	assert_non_null(strstr(e.msg, "identity /nonexistent/id_ed25519"));
}

static void test_wrong_user(void **state)
{
	struct spec_host h = fx.host;
	struct transport *t = NULL;
	struct err e;

	FX_NEED();
	h.user = "shoal-no-such-user";
	assert_int_equal(transport_open(&fx.spec, &h, NULL, &t, &e), -1);
	assert_non_null(strstr(e.msg, "authentication failed for shoal-no-such-user with"));
}

static void test_closed_port(void **state)
{
	struct spec_host h = fx.host;
	struct transport *t = NULL;
	struct err e;

	FX_NEED();
	h.port = fx_free_port();
	assert_int_equal(transport_open(&fx.spec, &h, NULL, &t, &e), -1);
	assert_non_null(strstr(e.msg, "connect: Connection refused"));
}

static void test_silent_server_times_out(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct transport_opts o = {.connect_timeout_ms = 300};
	struct spec_host h = fx.host;
	struct transport *t = NULL;
	socklen_t l = sizeof a;
	struct err e;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	FX_NEED();
	/* Accepts TCP (the kernel completes the handshake from the backlog)
	 * and never says a word. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	h.port = ntohs(a.sin_port);
	assert_int_equal(transport_open(&fx.spec, &h, &o, &t, &e), -1);
	assert_int_equal(e.code, ETIMEDOUT);
	assert_non_null(strstr(e.msg, "ssh handshake: no answer within 300 ms"));
	close(fd);
}

static void *accept_and_close(void *arg)
{
	int fd = accept(*(int *)arg, NULL, NULL);

	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_server_hangs_up(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct spec_host h = fx.host;
	struct transport *t = NULL;
	socklen_t l = sizeof a;
	struct err e;
	pthread_t th;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	FX_NEED();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	h.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&th, NULL, accept_and_close, &fd), 0);
	assert_int_equal(transport_open(&fx.spec, &h, NULL, &t, &e), -1);
	pthread_join(th, NULL);
	assert_non_null(strstr(e.msg, "the server closed the connection during the SSH handshake"));
	close(fd);
}

/* ---- runs ------------------------------------------------------------------ */

static const char *const hostile[] = {
	"", " ", "it's", "'", "\"q\"", "$(touch /tmp/shoal-pwned-ssh)", "`id`",
	"${HOME}", "a;b", "a|b", "a\nb", "-rf", "--", "*", "~", "\\", "#c",
	"\xff\xfe\x80 not utf-8", "\t",
};

static void roundtrip(struct transport *t)
{
	const char *argv[ARRAY_SIZE(hostile) + 3];
	struct run_output out = {0};
	struct buf want = {0};
	struct err e;
	size_t k = 0;

	argv[k++] = "printf";
	argv[k++] = "%s\\0";
	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		argv[k++] = hostile[i];
		buf_append(&want, hostile[i], strlen(hostile[i]) + 1);
	}
	argv[k] = NULL;
	assert_int_equal(transport_run_ok(t, argv, NULL, &out, &e), 0);
	assert_int_equal(out.out.len, want.len);
	assert_memory_equal(out.out.data, want.data, want.len);
	assert_int_not_equal(access("/tmp/shoal-pwned-ssh", F_OK), 0);
	run_output_free(&out);
	buf_free(&want);
}

static void exits(struct transport *t)
{
	const char *code3[] = {"sh", "-c", "echo oops >&2; exit 3", NULL};
	const char *term[] = {"sh", "-c", "kill -TERM $$", NULL};
	const char *cat[] = {"cat", NULL};
	struct run_io io = {.in = "hello\0world", .in_len = 11};
	struct run_output out = {0};
	struct err e;

	assert_int_equal(transport_run(t, code3, NULL, &out, &e), 0);
	assert_int_equal(out.res.exit_code, 3);
	assert_int_equal(out.res.exit_signal, 0);
	assert_string_equal(out.err.data, "oops\n");
	run_output_free(&out);
	memset(&out, 0, sizeof out);
	assert_int_equal(transport_run_ok(t, code3, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "sh exited with 3: oops"));

	assert_int_equal(transport_run(t, term, NULL, &out, &e), 0);
	assert_int_equal(out.res.exit_signal, SIGTERM);
	run_output_free(&out);
	memset(&out, 0, sizeof out);

	assert_int_equal(transport_run_ok(t, cat, &io, &out, &e), 0);
	assert_int_equal(out.out.len, 11);
	assert_memory_equal(out.out.data, "hello\0world", 11);
	run_output_free(&out);
	memset(&out, 0, sizeof out);

	io.out_max = 3;
	assert_int_equal(transport_run_ok(t, cat, &io, &out, &e), 0);
	assert_int_equal(out.out.len, 3);
	assert_true(out.out_truncated);
	run_output_free(&out);

	/* A hostile host: output that never ends is cut at out_max and the
	 * run ends at its wall-clock timeout, naming the host. */
	const char *yes[] = {"yes", NULL};
	struct run_io endless = {.out_max = 4096, .timeout_ms = 1500};

	memset(&out, 0, sizeof out);
	memset(&e, 0, sizeof e);
	assert_int_equal(transport_run(t, yes, &endless, &out, &e), -1);
	assert_int_equal(e.code, ETIMEDOUT);
	assert_non_null(strstr(e.msg, t->label));
	/* "no result" once the run reads; "no answer" when the deadline
	 * passes while it waits on the socket (a loaded machine can spend the
	 * 1.5 s opening the channel) */
	if (!strstr(e.msg, "yes: no result within 1500 ms") &&
	    !strstr(e.msg, "yes: no answer within 1500 ms"))
		fail_msg("got '%s'", e.msg);
	assert_true(out.out.len <= 4096);
	assert_true(!out.out_truncated || out.out.len == 4096);
	run_output_free(&out);
}

static void chan(struct transport *t)
{
	const char *cat[] = {"cat", NULL};
	const char *sleeper[] = {"sleep", "1", NULL};
	struct run_result res;
	struct tchan *c;
	struct err e;
	char buf[64];
	size_t got = 0;
	ssize_t n;

	assert_int_equal(transport_open_chan(t, cat, &c, &e), 0);
	assert_true(tchan_pollfd(c) >= 0);
	assert_int_equal(tchan_write(c, "ping\n", 5, &e), 0);
	while (got < 5 && (n = tchan_read(c, buf + got, sizeof buf - got, 5000, &e)) > 0)
		got += (size_t)n;
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "ping\n", 5);
	assert_int_equal(tchan_close_write(c, &e), 0);
	assert_int_equal(tchan_read(c, buf, sizeof buf, 5000, &e), 0);
	assert_int_equal(tchan_close(c, &res, &e), 0);
	assert_int_equal(res.exit_code, 0);

	/* A read timeout is the caller's choice: the transport stays usable. */
	assert_int_equal(transport_open_chan(t, sleeper, &c, &e), 0);
	assert_int_equal(tchan_read(c, buf, sizeof buf, 100, &e), -1);
	assert_int_equal(e.code, ETIMEDOUT);
	tchan_close(c, NULL, &e);
	roundtrip(t);
}

static void files(struct transport *t)
{
	char local[160], remote[256], moved[256], dir[160];
	struct remote_stat st;
	char *data = NULL;
	size_t len;
	struct err e;
	struct buf big = {0};

	for (int i = 0; i < 300000; i++)
		buf_printf(&big, "%d\n", i);
	snprintf(local, sizeof local, "%s/local.bin", fx.dir);
	snprintf(dir, sizeof dir, "%s/%s/a/b", fx.dir, t->ops->kind);
	snprintf(remote, sizeof remote, "%s/remote.bin", dir);
	snprintf(moved, sizeof moved, "%s/moved.bin", dir);
	assert_int_equal(write_file_atomic(local, big.data, big.len, 0600, &e), 0);
	assert_int_equal(transport_mkdirs(t, dir, 0755, &e), 0);
	assert_int_equal(transport_stat(t, remote, &st, &e), 0);
	assert_false(st.exists);
	assert_int_equal(transport_write_file(t, local, remote, 0640, NULL, NULL, &e), 0);
	assert_int_equal(transport_stat(t, remote, &st, &e), 0);
	assert_true(st.exists && st.regular);
	assert_int_equal(st.size, big.len);
	assert_int_equal(st.mode, 0640);
	assert_int_equal(transport_rename(t, remote, moved, &e), 0);
	assert_int_equal(read_file(moved, 1 << 24, &data, &len, &e), 0);
	assert_int_equal(len, big.len);
	assert_memory_equal(data, big.data, len);
	free(data);
	/* put_file replaces atomically an existing file */
	assert_int_equal(transport_put_file(t, local, moved, 0644, &e), 0);
	assert_int_equal(transport_remove(t, moved, &e), 0);
	assert_int_equal(transport_remove(t, moved, &e), 0);
	assert_int_equal(transport_stat(t, moved, &st, &e), 0);
	assert_false(st.exists);
	buf_free(&big);
}

static void test_ssh_runs(void **state)
{
	struct transport *t;

	FX_NEED();
	t = open_ssh();
	assert_string_equal(t->ops->kind, "ssh");
	assert_true(strncmp(t->info.hostkey_fp, "SHA256:", 7) == 0);
	assert_true(t->info.cipher[0] != '\0');
	roundtrip(t);
	exits(t);
	transport_close(t);
}

static void test_ssh_chan(void **state)
{
	struct transport *t;

	FX_NEED();
	t = open_ssh();
	chan(t);
	transport_close(t);
}

static void test_ssh_files(void **state)
{
	struct transport *t;

	FX_NEED();
	t = open_ssh();
	files(t);
	transport_close(t);
}

static void test_local_backend(void **state)
{
	struct transport *t;

	FX_NEED();
	t = open_local();
	assert_string_equal(t->ops->kind, "local");
	roundtrip(t);
	exits(t);
	chan(t);
	files(t);
	transport_close(t);
}

/* Sessions in several threads at once (push does this). */
static void *thread_run(void *arg)
{
	struct transport *t = NULL;
	struct err e;
	const char *argv[] = {"true", NULL};
	intptr_t ok = 0;

	(void)arg;
	if (transport_open(&fx.spec, &fx.host, NULL, &t, &e) == 0 &&
	    transport_run_ok(t, argv, NULL, NULL, &e) == 0)
		ok = 1;
	transport_close(t);
	return (void *)ok;
}

static void test_parallel_sessions(void **state)
{
	pthread_t th[4];
	void *r;

	FX_NEED();
	for (size_t i = 0; i < ARRAY_SIZE(th); i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_run, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(th); i++) {
		assert_int_equal(pthread_join(th[i], &r), 0);
		assert_true((intptr_t)r == 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_wrong_user),
		cmocka_unit_test(test_closed_port),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_server_hangs_up),
		cmocka_unit_test(test_ssh_runs),
		cmocka_unit_test(test_ssh_chan),
		cmocka_unit_test(test_ssh_files),
		cmocka_unit_test(test_local_backend),
		cmocka_unit_test(test_parallel_sessions),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
