/* daemon.c - the agent daemon and the stdio bridge to it (see daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "daemon.h"
#include "log.h"
#include "version.h"

#define START_WAIT_MS 10000

static int sock_addr(const char *run_dir, struct sockaddr_un *sa, struct err *e)
{
	_cleanup_free_ char *path = path_join(run_dir, "agent.sock");

	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path)
		return err_usage(e, "socket path %s is too long", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Take the host-wide agent lock; EEXIST (naming the holder) when held. */
static int take_lock(const char *run_dir, struct err *e)
{
	_cleanup_free_ char *path = path_join(run_dir, "agent.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char pid[32];
	int n;

	if (fd < 0)
		return err_sys(e, errno, "open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;

		n = (int)read(fd, pid, sizeof pid - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (saved == EWOULDBLOCK)
			return err_set(e, EEXIST, "another agent runs (pid %s, lock %s)",
				       pid[0] ? pid : "?", path);
		return err_sys(e, saved, "flock %s", path);
	}
	n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		close(fd);
		return err_sys(e, errno, "write %s", path);
	}
	return fd;
}

static int listen_socket(const char *run_dir, struct err *e)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, r;

	if (sock_addr(run_dir, &sa, e) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_sys(e, errno, "socket");
	/* We hold the lock, so a socket file left here is a dead daemon's. */
	unlink(sa.sun_path);
	old = umask(077);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || chmod(sa.sun_path, 0600) < 0 || listen(fd, 16) < 0) {
		int saved = errno;

		close(fd);
		return err_sys(e, saved, "listen on %s", sa.sun_path);
	}
	return fd;
}

int daemon_peer_check(int fd, struct err *e)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return err_sys(e, errno, "agent socket: SO_PEERCRED");
	if (cred.uid != 0 && cred.uid != geteuid())
		return err_set(e, EACCES, "agent socket: uid %u (pid %d) is neither "
			       "root nor the agent's uid %u: refused",
			       (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
	return 0;
}

static void on_accept(void *arg, int fd, short revents)
{
	struct agent *a = arg;
	struct err e = {0};
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("accept: %s", strerror(errno));
		return;
	}
	if (daemon_peer_check(c, &e) < 0) {
		log_warn("%s", e.msg);
		close(c);
		return;
	}
	agent_add_session(a, c, c);
}

static void on_signal(void *arg, int fd, short revents)
{
	struct agent *a = arg;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof si) == sizeof si) {
		log_warn("signal %u: daemon stops; nodes keep running", si.ssi_signo);
		a->quit = true;
	}
}

int daemon_run(const struct agent_config *cfg, struct err *e)
{
	const char *run_dir = cfg->run_dir;
	_cleanup_close_ int lock = -1, lfd = -1, sfd = -1;
	struct agent a;
	sigset_t set;
	int rc;

	if (mkdir_p(run_dir, 0700, e) < 0 || chmod(run_dir, 0700) < 0)
		return e->msg[0] ? -1 : err_sys(e, errno, "chmod %s", run_dir);
	lock = take_lock(run_dir, e);
	if (lock < 0)
		return -1;
	if (agent_init(&a, cfg, e) < 0) {
		agent_fini(&a);
		return -1;
	}
	lfd = listen_socket(run_dir, e);
	if (lfd < 0) {
		agent_fini(&a);
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd >= 0)
		loop_watch(a.loop, sfd, POLLIN, on_signal, &a);
	loop_watch(a.loop, lfd, POLLIN, on_accept, &a);
	log_info("agent daemon pid %d serving %s", (int)getpid(), cfg->root);
	rc = agent_run(&a, e);
	agent_fini(&a);
	return rc;
}

/* ---- connect --------------------------------------------------------------- */

static int try_connect(const char *run_dir, struct err *e)
{
	struct sockaddr_un sa;
	int fd;

	if (sock_addr(run_dir, &sa, e) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(e, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int saved = errno;

		close(fd);
		return err_sys(e, saved, "connect %s", sa.sun_path);
	}
	return fd;
}

/* Start `shoal-agent daemon` fully detached: it must not be our child, share
 * our session, or hold our stdio (the SSH channel). */
static int spawn_daemon(const struct agent_config *cfg, struct err *e)
{
	_cleanup_free_ char *log_path = path_join(cfg->root, "agent.log");
	int status;
	pid_t pid;

	if (mkdir_p(cfg->root, 0700, e) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return err_sys(e, errno, "fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (setsid() < 0 || null < 0 || logfd < 0)
			_exit(127);
		if (fork() != 0)
			_exit(0);
		dup2(null, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close_range(3, ~0U, 0);
		if (chdir("/") < 0)
			_exit(127);
		execl("/proc/self/exe", "shoal-agent", "daemon", "--root", cfg->root,
		      "--run-dir", cfg->run_dir,
		      cfg->no_overlay ? "--no-overlay" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(e, EIO, "could not start the agent daemon");
	return 0;
}

/* Is the daemon at the other end of fd running this very binary?  Its pid
 * comes from the socket (SO_PEERCRED); the binaries are compared by the
 * path of their executables, which for a pushed agent names its digest
 * (/var/lib/shoal/agent/<sha256>/shoal-agent) and reads "... (deleted)"
 * once a binary was replaced in place.  *pid gets the daemon's pid. */
static bool same_binary(int fd, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	char self[PATH_MAX], peer[PATH_MAX], link[64];
	ssize_t a, b;

	*pid = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0)
		return true;   /* cannot tell: keep the running daemon */
	*pid = cred.pid;
	snprintf(link, sizeof link, "/proc/%d/exe", (int)cred.pid);
	a = readlink("/proc/self/exe", self, sizeof self - 1);
	b = readlink(link, peer, sizeof peer - 1);
	if (a <= 0 || b <= 0)
		return true;
	self[a] = peer[b] = '\0';
	return !strcmp(self, peer);
}

/* Stop a daemon of another build so this one can take over.  Its nodes keep
 * running (they never depend on the daemon) and the new daemon adopts them
 * (node.c).  Waits until the old one released its lock. */
static int retire_daemon(const struct agent_config *cfg, pid_t pid, struct err *e)
{
	int64_t deadline = now_ms() + START_WAIT_MS;

	log_info("agent daemon pid %d runs another build; replacing it", (int)pid);
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		return err_sys(e, errno, "stop the old agent daemon (pid %d)", (int)pid);
	while (now_ms() < deadline) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 0;
		poll(NULL, 0, 20);
	}
	return err_set(e, ETIMEDOUT, "the old agent daemon (pid %d) did not stop within %d ms "
		       "(see %s/agent.log)", (int)pid, START_WAIT_MS, cfg->root);
}

static int connect_or_start(const struct agent_config *cfg, struct err *e)
{
	int64_t deadline;
	int fd = try_connect(cfg->run_dir, e);
	pid_t old;

	/* Look, change nothing: whatever daemon runs, or none. */
	if (cfg->no_start) {
		if (fd < 0) {
			err_wrap(e, "no agent daemon runs (--no-start)");
			e->exit = AGENT_EXIT_NOT_RUNNING;
		}
		return fd;
	}
	if (fd >= 0 && same_binary(fd, &old))
		return fd;
	if (fd >= 0) {
		close(fd);
		if (retire_daemon(cfg, old, e) < 0)
			return -1;
	}
	if (spawn_daemon(cfg, e) < 0)
		return -1;
	deadline = now_ms() + START_WAIT_MS;
	while (now_ms() < deadline) {
		fd = try_connect(cfg->run_dir, e);
		if (fd >= 0)
			return fd;
		poll(NULL, 0, 20);
	}
	return err_wrap(e, "agent daemon did not come up within %d ms (see %s/agent.log)",
			START_WAIT_MS, cfg->root);
}

/* Write all of p to fd (blocking). */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int daemon_connect(const struct agent_config *cfg, struct err *e)
{
	_cleanup_close_ int sock = connect_or_start(cfg, e);
	bool in_open = true;
	char tmp[65536];

	if (sock < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct pollfd p[2] = {{sock, POLLIN, 0}, {0, POLLIN, 0}};
		ssize_t n;

		if (poll(p, in_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, errno, "poll");
		}
		if (p[0].revents) {
			n = read(sock, tmp, sizeof tmp);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;   /* the agent ended the session */
			if (write_all(1, tmp, (size_t)n) < 0)
				return 0;   /* our peer is gone */
		}
		if (in_open && p[1].revents) {
			n = read(0, tmp, sizeof tmp);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				in_open = false;
				shutdown(sock, SHUT_WR);
				continue;
			}
			if (write_all(sock, tmp, (size_t)n) < 0)
				return err_sys(e, errno, "write to agent");
		}
	}
}
