/* test_ssh_knownhosts.c - strict host key checking against a real sshd:
 * NOTFOUND refused with the fingerprint (recorded with accept-new, then
 * MATCH), MISMATCH refused even with accept-new naming both fingerprints,
 * a recorded key of another type refused as a changed key (plain and hashed
 * names), FAILURE refused with the reason, and the fingerprint format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "knownhosts.h"
#include "test_ssh_fixture.h"

static int setup(void **state)
{
	static struct sshd_fixture f;

	signal(SIGPIPE, SIG_IGN);
	*state = NULL;
	if (!fx_possible())
		return 0; /* the tests that need it skip, saying why */
	if (fx_start(&f) < 0) {
		fx_stop(&f);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	if (*state)
		fx_stop(*state);
	return 0;
}

static void test_fingerprint_format(void **state)
{
	/* ssh-keygen -lf of this public key blob (the RFC 8709 test vector's
	 * layout does not matter: any blob hashes the same way). */
	const unsigned char blob[] = "abc";
	char fp[SSH_FP_LEN];

	(void)state;
	ssh_fingerprint(blob, 3, fp);
	/* sha256("abc") = ba7816bf... ; base64 without padding */
	assert_string_equal(fp, "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
}

static void test_notfound_refused_then_accept_new(void **state)
{
	struct sshd_fixture *f = *state;
	struct transport_opts o = {0};
	struct transport *t = NULL;
	char fp[64];
	char *data = NULL;
	size_t len;
	struct err e;

	FX_NEED();
	unlink(f->known_hosts);
	fx_host_fp(f, fp);
	assert_true(strncmp(fp, "SHA256:", 7) == 0);
	assert_int_equal(transport_open(&f->spec, &f->host, &o, &t, &e), -1);
	assert_null(t);
	assert_non_null(strstr(e.msg, "host key not known"));
	assert_non_null(strstr(e.msg, fp));
	assert_non_null(strstr(e.msg, "--accept-new-host-keys"));
	assert_int_not_equal(access(f->known_hosts, F_OK), 0);

	o.accept_new_host_keys = true;
	assert_int_equal(transport_open(&f->spec, &f->host, &o, &t, &e), 0);
	assert_string_equal(t->info.hostkey_fp, fp);
	transport_close(t);
	assert_int_equal(read_file(f->known_hosts, 1 << 16, &data, &len, &e), 0);
	assert_non_null(strstr(data, "ssh-ed25519"));
	free(data);

	/* Now known: MATCH without the flag. */
	o.accept_new_host_keys = false;
	assert_int_equal(transport_open(&f->spec, &f->host, &o, &t, &e), 0);
	transport_close(t);
}

static void test_mismatch_refused_even_with_accept_new(void **state)
{
	struct sshd_fixture *f = *state;
	struct transport_opts o = {.accept_new_host_keys = true};
	struct transport *t = NULL;
	char pub[160], line[600], real[64], *data = NULL;
	struct err e;
	size_t len;

	FX_NEED();
	fx_host_fp(f, real);
	/* Claim the host's key is the client key instead. */
	snprintf(pub, sizeof pub, "%s.pub", f->other_id);
	assert_int_equal(read_file(pub, 1 << 16, &data, &len, &e), 0);
	snprintf(line, sizeof line, "[127.0.0.1]:%d %s", f->port, data);
	free(data);
	assert_int_equal(write_file_atomic(f->known_hosts, line, strlen(line), 0600, &e), 0);

	assert_int_equal(transport_open(&f->spec, &f->host, &o, &t, &e), -1);
	assert_null(t);
	assert_non_null(strstr(e.msg, "HOST KEY CHANGED"));
	assert_non_null(strstr(e.msg, real));
	{
		/* the recorded key's fingerprint is named too */
		char other[64];
		const char *argv[] = {"/usr/bin/ssh-keygen", "-l", "-E", "sha256",
				      "-f", pub, NULL};
		struct buf b = {0};

		assert_int_equal(fx_run(argv, &b), 0);
		snprintf(other, sizeof other, "%.50s", strchr(b.data, ' ') + 1);
		other[50] = '\0';
		assert_non_null(strstr(e.msg, other));
		buf_free(&b);
	}
	/* and nothing was written over the recorded key */
	assert_int_equal(read_file(f->known_hosts, 1 << 16, &data, &len, &e), 0);
	assert_int_equal(len, strlen(line));
	free(data);
}

/* The host presents ed25519; known_hosts records only an ECDSA key for it.
 * That key binds the host: refused as a changed key even with
 * accept-new, naming the recorded type, and nothing is appended - also
 * when the names are hashed (ssh-keygen -H). */
static void test_other_type_is_a_changed_key(void **state)
{
	struct sshd_fixture *f = *state;
	struct transport_opts o = {.accept_new_host_keys = true};
	struct transport *t = NULL;
	char key[160], pub[170], line[600], *data = NULL;
	struct err e;
	size_t len, before;

	snprintf(key, sizeof key, "%s/ecdsa_key", f->dir);
	snprintf(pub, sizeof pub, "%s.pub", key);
	unlink(key);
	unlink(pub);
	{
		const char *argv[] = {"/usr/bin/ssh-keygen", "-q", "-t", "ecdsa", "-N", "",
				      "-f", key, NULL};

		assert_int_equal(fx_run(argv, NULL), 0);
	}
	assert_int_equal(read_file(pub, 1 << 16, &data, &len, &e), 0);
	snprintf(line, sizeof line, "[127.0.0.1]:%d %s", f->port, data);
	free(data);
	for (int hashed = 0; hashed < 2; hashed++) {
		assert_int_equal(write_file_atomic(f->known_hosts, line, strlen(line),
						   0600, &e), 0);
		if (hashed) {
			const char *argv[] = {"/usr/bin/ssh-keygen", "-q", "-H", "-f",
					      f->known_hosts, NULL};

			assert_int_equal(fx_run(argv, NULL), 0);
			assert_int_equal(read_file(f->known_hosts, 1 << 16, &data, &len, &e), 0);
			assert_non_null(strstr(data, "|1|"));
			free(data);
		}
		assert_int_equal(read_file(f->known_hosts, 1 << 16, &data, &len, &e), 0);
		free(data);
		before = len;
		assert_int_equal(transport_open(&f->spec, &f->host, &o, &t, &e), -1);
		assert_null(t);
		assert_non_null(strstr(e.msg, "HOST KEY CHANGED"));
		assert_non_null(strstr(e.msg, "ecdsa-sha2-nistp256"));
		assert_non_null(strstr(e.msg, "ssh-keygen -R"));
		assert_int_equal(read_file(f->known_hosts, 1 << 16, &data, &len, &e), 0);
		assert_int_equal(len, before);
		free(data);
	}
	/* Another host's ECDSA key does not bind this one: still "not known". */
	snprintf(line, sizeof line, "[127.0.0.2]:%d ", f->port);
	assert_int_equal(read_file(pub, 1 << 16, &data, &len, &e), 0);
	{
		_cleanup_free_ char *other = xasprintf("%s%s", line, data);

		assert_int_equal(write_file_atomic(f->known_hosts, other, strlen(other),
						   0600, &e), 0);
	}
	free(data);
	o.accept_new_host_keys = false;
	assert_int_equal(transport_open(&f->spec, &f->host, &o, &t, &e), -1);
	assert_non_null(strstr(e.msg, "host key not known"));
	unlink(key);
	unlink(pub);
	unlink(f->known_hosts);
}

static void test_failure_refused(void **state)
{
	struct sshd_fixture *f = *state;
	LIBSSH2_SESSION *s;
	char host[400];
	const unsigned char blob[] = "\0\0\0\x0bssh-ed25519\0\0\0\x20" "0123456789abcdef0123456789abcdef";
	struct hostkey key = {blob, sizeof blob - 1, LIBSSH2_HOSTKEY_TYPE_ED25519};
	bool added;
	struct err e;

	FX_NEED();
	/* libssh2 cannot build "[host]:port" for a name this long: FAILURE. */
	memset(host, 'a', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	assert_int_equal(libssh2_init(0), 0);
	s = libssh2_session_init();
	assert_non_null(s);
	assert_int_equal(knownhosts_verify(s, f->known_hosts, host, 2222, &key,
					   true, "hx", &added, &e), -1);
	assert_false(added);
	assert_non_null(strstr(e.msg, "host key check failed"));

	/* An unreadable known_hosts file is refused, never taken as empty. */
	assert_int_equal(write_file_atomic(f->known_hosts, "garbage line\n", 13, 0600, &e), 0);
	assert_int_equal(knownhosts_verify(s, f->known_hosts, "127.0.0.1", 2222, &key,
					   true, "hx", &added, &e), -1);
	assert_non_null(strstr(e.msg, "unreadable"));
	libssh2_session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_format),
		cmocka_unit_test(test_notfound_refused_then_accept_new),
		cmocka_unit_test(test_mismatch_refused_even_with_accept_new),
		cmocka_unit_test(test_other_type_is_a_changed_key),
		cmocka_unit_test(test_failure_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
