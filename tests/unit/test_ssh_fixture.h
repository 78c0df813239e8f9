/* test_ssh_fixture.h - a private sshd on 127.0.0.1 for the ssh unit tests:
 * its own host key, client keys and authorized_keys in a temp folder, root
 * login by key only.  Included by tests/unit/test_ssh_*.c. */
#ifndef SHOAL_TEST_SSH_FIXTURE_H
#define SHOAL_TEST_SSH_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spec.h"
#include "test_wait.h"
#include "transport.h"
#include "util.h"

struct sshd_fixture {
	char dir[64];
	char hostkey[128], hostpub[128];
	char id[128], other_id[128];  /* authorized, and not authorized */
	char known_hosts[128];
	int port;
	pid_t pid;
	struct spec spec;
	struct spec_host host;
};

/* A private sshd needs root (privilege separation) and OpenSSH installed;
 * without them the tests that need it are skipped (FX_NEED), and counted. */
static inline bool fx_possible(void)
{
	return geteuid() == 0 && access("/usr/sbin/sshd", X_OK) == 0 &&
	       access("/usr/bin/ssh-keygen", X_OK) == 0;
}

/* First statement of a test that needs the private sshd: a counted skip
 * naming its reason when the fixture cannot run here. */
#define FX_NEED()                                                                          \
	do {                                                                               \
		if (!fx_possible()) {                                                      \
			print_message("# skip reason: %s: a private sshd needs root, "     \
				      "/usr/sbin/sshd and /usr/bin/ssh-keygen\n", __func__); \
			skip();                                                            \
		}                                                                          \
	} while (0)
/* Run argv locally, require exit 0; stdout into out (may be NULL). */
static int fx_run(const char *const argv[], struct buf *out)
{
	struct tchan *c;
	struct run_result res;
	struct err e;
	char tmp[4096];
	ssize_t n;

	if (tchan_spawn_local(argv[0], argv, &c, &e) < 0)
		return -1;
	while ((n = tchan_read(c, tmp, sizeof tmp, 30000, &e)) > 0)
		if (out)
			buf_append(out, tmp, (size_t)n);
	if (tchan_close(c, &res, &e) < 0 || res.exit_code || res.exit_signal)
		return -1;
	return n < 0 ? -1 : 0;
}

static int fx_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int fx_keygen(const char *path)
{
	const char *argv[] = {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "",
			      "-C", "shoal-test", "-f", path, NULL};

	return fx_run(argv, NULL);
}

/* Accepting connections on 127.0.0.1:port? */
static bool fx_port_open(void *arg)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*(int *)arg)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* In the forked child before sshd runs: say which step failed, and why, in
 * sshd.log (its stderr), then exit with status. */
__attribute__((noreturn)) static void fx_child_fail(const char *step, int status)
{
	fprintf(stderr, "test_ssh_fixture: %s: %s\n", step, strerror(errno));
	_exit(status);
}

/* Copy dir/sshd.log to stderr: why sshd did not come up. */
static void fx_show_log(const char *dir)
{
	char log[160], line[512];
	FILE *fp;

	snprintf(log, sizeof log, "%s/sshd.log", dir);
	fp = fopen(log, "r");
	if (!fp)
		return;
	while (fgets(line, sizeof line, fp))
		fprintf(stderr, "  sshd.log: %s", line);
	fclose(fp);
}

/* sshd (pid) accepting on 127.0.0.1:port, waited for as test_wait.h says. */
static int fx_wait_port(pid_t pid, int port, const char *dir)
{
	char what[128], why[200];

	snprintf(what, sizeof what, "sshd on port %d (log %s/sshd.log)", port, dir);
	if (test_wait_started(pid, what, fx_port_open, &port, why, sizeof why) == 0)
		return 0;
	fprintf(stderr, "test_ssh_fixture: %s\n", why);
	fx_show_log(dir);
	return -1;
}

static int fx_start(struct sshd_fixture *f)
{
	char cfg[160], pub[160], conf[1024];
	struct err e;
	char *data;
	size_t len;

	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/shoal-sshd.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->hostkey, sizeof f->hostkey, "%s/hostkey", f->dir);
	snprintf(f->hostpub, sizeof f->hostpub, "%s/hostkey.pub", f->dir);
	snprintf(f->id, sizeof f->id, "%s/id_ed25519", f->dir);
	snprintf(f->other_id, sizeof f->other_id, "%s/other_ed25519", f->dir);
	snprintf(f->known_hosts, sizeof f->known_hosts, "%s/known_hosts", f->dir);
	if (fx_keygen(f->hostkey) < 0 || fx_keygen(f->id) < 0 ||
	    fx_keygen(f->other_id) < 0)
		return -1;
	snprintf(pub, sizeof pub, "%s.pub", f->id);
	if (read_file(pub, 1 << 16, &data, &len, &e) < 0)
		return -1;
	snprintf(cfg, sizeof cfg, "%s/authorized_keys", f->dir);
	if (write_file_atomic(cfg, data, len, 0600, &e) < 0)
		return -1;
	free(data);
	f->port = fx_free_port();
	snprintf(conf, sizeof conf,
		 "ListenAddress 127.0.0.1\nPort %d\nHostKey %s\n"
		 "AuthorizedKeysFile %s\nStrictModes no\n"
		 "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\nUsePAM no\nPidFile none\n"
		 "Subsystem sftp internal-sftp\n",
		 f->port, f->hostkey, cfg);
	snprintf(cfg, sizeof cfg, "%s/sshd_config", f->dir);
	if (write_file_atomic(cfg, conf, strlen(conf), 0600, &e) < 0 ||
	    mkdir_p("/run/sshd", 0755, &e) < 0)
		return -1;
	f->pid = fork();
	if (f->pid == 0) {
		char log[160];
		int fd;

		snprintf(log, sizeof log, "%s/sshd.log", f->dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* Sessions get an empty home: sshd makes bash read ~/.bashrc even
		 * for `ssh host cmd`, and the machine's own shell setup (pyenv
		 * rehash waiting on a stale lock, for one) must not stall tests. */
		/* Making "/" private needs "/" to be a mount point: it is on a
		 * machine, and tests/fresh/run.sh makes its chroot one. */
		if (unshare(CLONE_NEWNS) < 0)
			fx_child_fail("unshare(CLONE_NEWNS)", 126);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			fx_child_fail("mount --make-rprivate / (is / a mount point?)", 126);
		if (mount("shoal-test-home", "/root", "tmpfs", MS_NOSUID | MS_NODEV,
			  "mode=0700,size=4m") < 0)
			fx_child_fail("mount tmpfs on /root", 126);
		execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", cfg, (char *)NULL);
		fx_child_fail("exec /usr/sbin/sshd", 127);
	}
	if (f->pid < 0 || fx_wait_port(f->pid, f->port, f->dir) < 0)
		return -1;

	f->spec.name = "test";
	f->spec.ssh.user = "root";
	f->spec.ssh.identity = f->id;
	f->spec.ssh.known_hosts = f->known_hosts;
	f->spec.ssh.port = f->port;
	f->spec.ssh.connect_timeout_ms = 5000;
	f->host.name = "h1";
	f->host.address = "127.0.0.1";
	f->host.port = f->port;
	f->host.transport = TRANSPORT_SSH;
	f->spec.hosts = &f->host;
	f->spec.nhosts = 1;
	return 0;
}

/* Record the fixture's real host key in its known_hosts. */
static inline int fx_trust(struct sshd_fixture *f)
{
	struct transport_opts o = {.accept_new_host_keys = true};
	struct transport *t;
	struct err e;

	if (transport_open(&f->spec, &f->host, &o, &t, &e) < 0) {
		fprintf(stderr, "fx_trust: %s\n", e.msg);
		return -1;
	}
	transport_close(t);
	return 0;
}

/* "SHA256:..." of the fixture's host key, as ssh-keygen -lf prints it. */
static inline void fx_host_fp(struct sshd_fixture *f, char out[64])
{
	const char *argv[] = {"/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f",
			      f->hostpub, NULL};
	struct buf b = {0};
	char *sp, *sp2;

	out[0] = '\0';
	if (fx_run(argv, &b) < 0 || !b.data)
		return;
	sp = strchr(b.data, ' ');
	sp2 = sp ? strchr(sp + 1, ' ') : NULL;
	if (sp && sp2)
		snprintf(out, 64, "%.*s", (int)(sp2 - sp - 1), sp + 1);
	buf_free(&b);
}

static void fx_stop(struct sshd_fixture *f)
{
	const char *argv[] = {"/bin/rm", "-rf", "--", f->dir, NULL};

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
	}
	if (f->dir[0])
		fx_run(argv, NULL);
}

#endif
