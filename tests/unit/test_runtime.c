/* test_runtime.c - the pure parts of the runtime: user resolution inside an
 * image, paths resolved inside a node root (symlinks cannot lead out), the
 * node description validator, and the seccomp allow list (loaded in a
 * child). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/vm_sockets.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node.h"
#include "sandbox.h"
#include "util.h"

static const char passwd[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"redis:x:999:998:redis:/data:/bin/false\n"
	"app:x:1000:1000::/home/app:/bin/sh\n";
static const char group[] = "root:x:0:\nredis:x:998:\napp:x:1000:\nstaff:x:50:\n";

static void test_resolve_user(void **state)
{
	FILE *pw = fmemopen((void *)passwd, strlen(passwd), "r");
	FILE *gr = fmemopen((void *)group, strlen(group), "r");
	const struct { const char *spec; uid_t uid; gid_t gid; const char *home; } ok[] = {
		{"", 0, 0, "/"},
		{"redis", 999, 998, "/data"},
		{"999", 999, 998, "/data"},
		{"app:staff", 1000, 50, "/home/app"},
		{"1000:50", 1000, 50, "/home/app"},
		{"4242", 4242, 0, "/"},
		{"4242:4243", 4242, 4243, "/"},
	};
	const char *bad[] = {"nobody", "app:nogroup", "r00t"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		uid_t u;
		gid_t g;
		char *home = NULL;
		struct err e;

		assert_int_equal(sandbox_resolve_user(ok[i].spec, pw, gr, &u, &g, &home, &e), 0);
		assert_int_equal(u, ok[i].uid);
		assert_int_equal(g, ok[i].gid);
		assert_string_equal(home, ok[i].home);
		free(home);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uid_t u;
		gid_t g;
		char *home = NULL;
		struct err e;

		assert_int_equal(sandbox_resolve_user(bad[i], pw, gr, &u, &g, &home, &e), -1);
		assert_int_equal(e.code, ENOENT);
		free(home);
	}
	fclose(pw);
	fclose(gr);
}

/* A fake node root with hostile symlinks next to a folder "outside". */
struct roots {
	char base[64];
	char *root, *outside;
	int rootfd;
};

static int roots_setup(void **state)
{
	struct roots *r = xcalloc(1, sizeof *r);
	struct err e;

	snprintf(r->base, sizeof r->base, "/tmp/shoal-test-runtime.XXXXXX");
	assert_non_null(mkdtemp(r->base));
	r->root = path_join(r->base, "root");
	r->outside = path_join(r->base, "outside");
	assert_int_equal(mkdir_p(r->root, 0755, &e), 0);
	assert_int_equal(mkdir_p(r->outside, 0755, &e), 0);
	_cleanup_free_ char *secret = path_join(r->outside, "secret");
	_cleanup_free_ char *l1 = path_join(r->root, "abs");
	_cleanup_free_ char *l2 = path_join(r->root, "rel");
	_cleanup_free_ char *l3 = path_join(r->root, "data");

	assert_int_equal(write_file_atomic(secret, "host", 4, 0600, &e), 0);
	assert_int_equal(symlink(r->outside, l1), 0);          /* absolute, out */
	assert_int_equal(symlink("../outside", l2), 0);        /* relative, out */
	assert_int_equal(symlink(r->outside, l3), 0);          /* a mount target */
	r->rootfd = open(r->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(r->rootfd >= 0);
	*state = r;
	return 0;
}

static int roots_teardown(void **state)
{
	struct roots *r = *state;
	_cleanup_free_ char *x = path_join(r->outside, "x");
	_cleanup_free_ char *s = path_join(r->outside, "secret");
	const char *links[] = {"abs", "rel", "data"};

	close(r->rootfd);
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		_cleanup_free_ char *p = path_join(r->root, links[i]);

		unlink(p);
	}
	rmdir(x);
	unlink(s);
	rmdir(r->outside);
	_cleanup_free_ char *tmp = path_join(r->root, "tmp");
	_cleanup_free_ char *tmpx = path_join(tmp, "ok");

	rmdir(tmpx);
	rmdir(tmp);
	rmdir(r->root);
	rmdir(r->base);
	free(r->root);
	free(r->outside);
	free(r);
	return 0;
}

static void test_symlinks_stay_inside_root(void **state)
{
	struct roots *r = *state;
	const char *paths[] = {"abs/secret", "rel/secret", "/abs/secret",
			       "../outside/secret", "../../../../tmp"};
	struct err e;

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		int fd = sandbox_open_in_root(r->rootfd, paths[i], O_RDONLY, 0, &e);

		/* Either not found inside the root, or (for "..") the root
		 * itself - never the host's file. */
		if (fd >= 0) {
			char buf[8] = {0};
			ssize_t n = read(fd, buf, sizeof buf - 1);

			assert_true(n < 0 || strcmp(buf, "host") != 0);
			close(fd);
		}
	}
	/* A mount point below a symlink leading out is created inside, or
	 * refused - never outside. */
	int fd = sandbox_mkdir_in_root(r->rootfd, "data/x", 0755, &e);

	if (fd >= 0)
		close(fd);
	_cleanup_free_ char *x = path_join(r->outside, "x");
	assert_int_equal(access(x, F_OK), -1);
	fd = sandbox_mkdir_in_root(r->rootfd, "tmp/ok", 0755, &e);
	assert_true(fd >= 0);
	close(fd);
}

static void test_node_spec_defaults_and_refusals(void **state)
{
	const char *img = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	json_t *j = json_pack("{s:s,s:s,s:s}", "cluster", "c1", "node", "cache-0", "image", img);
	struct node_spec s;
	struct err e;

	(void)state;
	assert_int_equal(node_spec_from_json(j, &s, &e), 0);
	assert_string_equal(s.data_path, "/data");
	assert_string_equal(s.workdir, "/");
	assert_string_equal(s.hostname, "cache-0");
	assert_string_equal(s.runtime, "auto");
	assert_int_equal(s.restart, RESTART_ALWAYS);
	assert_int_equal(s.stop_signal, 15);
	assert_null(s.caps[0]);
	assert_int_equal(s.limits.pids, NODE_DEFAULT_PIDS);
	node_spec_free(&s);

	const struct { const char *key; json_t *v; } bad[] = {
		{"memory", json_string("lots")}, {"memory", json_integer(1024)},
		{"cpu_millis", json_integer(-1)}, {"stop_signal", json_string("SIGNOPE")},
		{"stop_signal", json_integer(99)}, {"runtime", json_string("docker")},
		{"env", json_pack("[s]", "NOEQUALS")}, {"argv", json_array()},
		{"workdir", json_string("relative")}, {"data_path", json_string("/sys/x")},
		{"hostname", json_string("a/b")}, {"caps", json_pack("[s]", "CAP_NOPE")},
		{"user", json_integer(0)}, {"syscalls", json_pack("[s]", "no_such_call")},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *c = json_deep_copy(j);

		json_object_set_new(c, bad[i].key, bad[i].v);
		assert_int_equal(node_spec_from_json(c, &s, &e), -1);
		assert_int_equal(e.code, EINVAL);
		node_spec_free(&s);
		json_decref(c);
	}
	json_object_set_new(j, "syscalls", json_pack("[s]", "mount"));
	assert_int_equal(node_spec_from_json(j, &s, &e), -1);
	assert_int_equal(e.code, EPERM);
	assert_non_null(strstr(e.msg, "node cache-0: syscall 'mount' cannot be granted"));
	node_spec_free(&s);
	json_object_set_new(j, "syscalls", json_pack("[s]", "io_uring_setup"));
	json_object_set_new(j, "memory", json_string("64M"));
	json_object_set_new(j, "stop_signal", json_string("SIGINT"));
	json_object_set_new(j, "caps", json_pack("[s]", "net_bind_service"));
	assert_int_equal(node_spec_from_json(j, &s, &e), 0);
	assert_int_equal(s.limits.memory, 64u << 20);
	assert_int_equal(s.stop_signal, 2);
	/* The stored form reads back the same. */
	json_t *round = node_spec_to_json(&s);
	struct node_spec s2;

	assert_int_equal(node_spec_from_json(round, &s2, &e), 0);
	assert_int_equal(s2.limits.memory, s.limits.memory);
	assert_string_equal(s2.caps[0], "net_bind_service");
	assert_string_equal(s2.syscalls[0], "io_uring_setup");
	node_spec_free(&s2);
	json_decref(round);
	node_spec_free(&s);
	json_decref(j);
}

/* Each check runs in the child after the filter is loaded; the child exits
 * with the number of the first one that failed (0: all held). */
#define CHECK(n, cond) do { if (!(cond)) _exit(n); } while (0)

static void blocked_and_allowed(void)
{
	int fd;
	pid_t pid;

	/* Blocked: EPERM. */
	errno = 0;
	CHECK(10, syscall(__NR_io_uring_setup, 1, NULL) == -1 && errno == EPERM);
	CHECK(11, syscall(__NR_keyctl, 0, 0, 0, 0, 0) == -1 && errno == EPERM);
	CHECK(12, unshare(CLONE_NEWUTS) == -1 && errno == EPERM);
	CHECK(13, mount("none", "/tmp", "tmpfs", 0, NULL) == -1 && errno == EPERM);
	CHECK(14, ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1 && errno == EPERM);
	CHECK(15, syscall(__NR_bpf, 0, NULL, 0) == -1 && errno == EPERM);
	CHECK(16, socket(AF_VSOCK, SOCK_STREAM, 0) == -1 && errno == EPERM);
	CHECK(17, syscall(__NR_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) == -1 &&
		  errno == EPERM);
	CHECK(18, syscall(__NR_modify_ldt, 0, NULL, 0) == -1 && errno == EPERM);
	CHECK(19, syscall(__NR_fanotify_init, 0, 0) == -1 && errno == EPERM);
	CHECK(20, syscall(__NR_pidfd_getfd, 0, 0, 0) == -1 && errno == EPERM);
	CHECK(21, syscall(__NR_setns, 0, 0) == -1 && errno == EPERM);
	CHECK(22, syscall(__NR_personality, 0x0400000) == -1 && errno == EPERM);
	CHECK(23, syscall(__NR_clone3, NULL, 0) == -1 && errno == ENOSYS);
	/* Allowed: they work. */
	CHECK(30, syscall(__NR_getpid) == getpid());
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(31, fd >= 0);
	close(fd);
	CHECK(32, personality(0xffffffff) != -1);
	pid = fork();   /* clone without namespace flags */
	if (pid == 0)
		_exit(0);
	CHECK(33, pid > 0 && waitpid(pid, NULL, 0) == pid);
	CHECK(34, write(STDERR_FILENO, "", 0) == 0);
	_exit(0);
}

/* Fork, load the filter (with extra) in the child, run fn there; the
 * child's wait status. */
static int in_filtered_child(const char *const *extra, void (*fn)(void))
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct err e = {0};

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    sandbox_load_seccomp(extra, &e) < 0)
			_exit(99);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void call_init_module(void)
{
	syscall(__NR_init_module, NULL, 0, "");
	_exit(50);   /* reached only if the call returned */
}

static void io_uring_granted(void)
{
	/* Allowed now: the kernel itself answers (EFAULT for the NULL params),
	 * not the filter. */
	errno = 0;
	CHECK(40, syscall(__NR_io_uring_setup, 1, NULL) == -1 && errno != EPERM);
	_exit(0);
}

/* The allow list loaded in a child: a blocked call gets EPERM, an allowed
 * one works, module loading ends the process, a template's addition is
 * allowed and dangerous additions are refused. */
static void test_seccomp_allow_list(void **state)
{
	const char *const uring[] = {"io_uring_setup", NULL};
	const char *const bad[][2] = {{"mount", NULL}, {"unshare", NULL},
				      {"init_module", NULL}, {"ptrace", NULL},
				      {"bpf", NULL}, {"clone", NULL}};
	const char *const unknown[] = {"no_such_call", NULL};
	struct err e = {0};
	int st;

	(void)state;
	st = in_filtered_child(NULL, blocked_and_allowed);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("filtered child: status %#x (exit %d = failed check)", st,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	st = in_filtered_child(NULL, call_init_module);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	st = in_filtered_child(uring, io_uring_granted);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(sandbox_syscalls_valid(bad[i], &e), -1);
		assert_int_equal(e.code, EPERM);
		assert_non_null(strstr(e.msg, bad[i][0]));
	}
	assert_int_equal(sandbox_syscalls_valid(unknown, &e), -1);
	assert_int_equal(e.code, EINVAL);
	assert_int_equal(sandbox_syscalls_valid(uring, &e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_user),
		cmocka_unit_test_setup_teardown(test_symlinks_stay_inside_root,
						roots_setup, roots_teardown),
		cmocka_unit_test(test_node_spec_defaults_and_refusals),
		cmocka_unit_test(test_seccomp_allow_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
