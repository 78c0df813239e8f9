/* main.c - shoal-agent entry point: dispatch on the first argument.
 *
 *   shoal-agent version
 *   shoal-agent install DIGEST PATH          (run from a fresh upload) check
 *                                            this file's digest, rename it to
 *                                            PATH, print the version
 *   shoal-agent serve --stdio [--root DIR]   one session on stdin/stdout
 *   shoal-agent connect [--root DIR]         start the daemon if needed, then
 *                                            bridge stdio to its socket
 *                                            (--no-start: exit 3 when none runs)
 *   shoal-agent daemon [--root DIR]          run the daemon in the foreground
 * (--run-dir DIR moves /run/shoal; --no-overlay forces copied node roots)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "daemon.h"
#include "digest.h"
#include "util.h"
#include "log.h"
#include "version.h"

struct agent_opts {
	struct agent_config cfg;
	bool stdio;
};

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{"root", required_argument, NULL, 'r'},
		{"run-dir", required_argument, NULL, 'R'},
		{"stdio", no_argument, NULL, 's'},
		{"no-overlay", no_argument, NULL, 'O'},
		{"no-start", no_argument, NULL, 'N'},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->cfg.root = AGENT_DEFAULT_ROOT;
	o->cfg.run_dir = NULL;   /* per command, below */
	optind = 1;
	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->cfg.root = optarg; break;
		case 'R': o->cfg.run_dir = optarg; break;
		case 's': o->stdio = true; break;
		case 'O': o->cfg.no_overlay = true; break;
		case 'N': o->cfg.no_start = true; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "shoal-agent %s: unexpected argument '%s'\n", argv[0],
			argv[optind]);
		return -1;
	}
	if (!o->cfg.run_dir && strcmp(argv[0], "serve"))
		o->cfg.run_dir = AGENT_RUN_DIR;
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	printf("shoal-agent %s (protocol %d)\n", SHOAL_VERSION,
	       AGENT_PROTOCOL_VERSION);
	return 0;
}

/* `shoal-agent install DIGEST PATH`, run from the file shoal has just
 * uploaded next to PATH: hash this very file (/proc/self/exe), and only
 * when it is DIGEST rename it to PATH (same directory: rename(2) is atomic)
 * and fsync the directory, then print the version line like `version`.  A
 * mismatch removes the upload.  One remote command instead of three
 * (sha256sum, mv, version). */
static int cmd_install(int argc, char **argv)
{
	char self[4096], got[DIGEST_STR_LEN];
	_cleanup_free_ char *dir = NULL, *want_dir = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	struct err e = {0};
	ssize_t n;

	if (argc != 3 || !digest_valid(argv[1]) || argv[2][0] != '/') {
		fprintf(stderr, "usage: shoal-agent install sha256:<hex> /ABSOLUTE/PATH\n");
		return 2;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) {
		fprintf(stderr, "shoal-agent install: readlink /proc/self/exe: %s\n",
			strerror(errno));
		return 1;
	}
	self[n] = '\0';
	dir = path_dirname(self);
	want_dir = path_dirname(argv[2]);
	if (strcmp(dir, want_dir)) {
		fprintf(stderr, "shoal-agent install: %s is not in %s\n", argv[2], dir);
		return 2;
	}
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || digest_fd(fd, got, NULL, &e) < 0) {
		fprintf(stderr, "shoal-agent install: hash %s: %s\n", self,
			fd < 0 ? strerror(errno) : e.msg);
		return 1;
	}
	if (strcmp(got, argv[1])) {
		unlink(self);
		fprintf(stderr, "shoal-agent install: %s arrived corrupted (%s, expected %s); removed\n",
			self, got, argv[1]);
		return 1;
	}
	if (rename(self, argv[2]) < 0) {
		fprintf(stderr, "shoal-agent install: rename %s to %s: %s\n", self,
			argv[2], strerror(errno));
		return 1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return cmd_version(0, NULL);
}

static int cmd_serve(int argc, char **argv)
{
	struct agent_opts o = {0};
	struct agent a;
	struct err e = {0};
	int rc;

	if (parse_opts(argc, argv, &o) < 0 || !o.stdio) {
		fprintf(stderr, "usage: shoal-agent serve --stdio [--root DIR] [--run-dir DIR] "
			"[--no-overlay]\n");
		return 2;
	}
	/* No daemon here: keep this boot's state beside the root unless told. */
	_cleanup_free_ char *run_dir = o.cfg.run_dir ? NULL : path_join(o.cfg.root, "run");

	if (run_dir)
		o.cfg.run_dir = run_dir;
	if (agent_init(&a, &o.cfg, &e) < 0) {
		fprintf(stderr, "shoal-agent: %s\n", e.msg);
		agent_fini(&a);
		return e.exit ? e.exit : 1;
	}
	a.one_session = true;
	agent_add_session(&a, 0, 1);
	rc = agent_run(&a, &e);
	if (rc < 0)
		fprintf(stderr, "shoal-agent: %s\n", e.msg);
	agent_fini(&a);
	return rc < 0 ? 1 : 0;
}

/* connect and daemon take the same options and differ in what they run. */
static int run_daemon_cmd(int argc, char **argv,
			  int (*fn)(const struct agent_config *cfg, struct err *e))
{
	struct agent_opts o = {0};
	struct err e = {0};

	if (parse_opts(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: shoal-agent %s [--root DIR] [--run-dir DIR] "
			"[--no-overlay]\n", argv[0]);
		return 2;
	}
	if (fn(&o.cfg, &e) < 0) {
		fprintf(stderr, "shoal-agent %s: %s\n", argv[0], e.msg);
		return e.exit ? e.exit : 1;
	}
	return 0;
}

static int cmd_connect(int argc, char **argv)
{
	return run_daemon_cmd(argc, argv, daemon_connect);
}

static int cmd_daemon(int argc, char **argv)
{
	return run_daemon_cmd(argc, argv, daemon_run);
}

static int usage(FILE *f)
{
	fprintf(f, "usage: shoal-agent version\n"
		   "       shoal-agent install sha256:<hex> PATH\n"
		   "       shoal-agent serve --stdio [--root DIR] [--no-overlay]\n"
		   "       shoal-agent connect [--root DIR] [--run-dir DIR] [--no-overlay] [--no-start]\n"
		   "       shoal-agent daemon [--root DIR] [--run-dir DIR] [--no-overlay]\n"
		   "\n--no-overlay gives nodes a private copy of their image instead of an\n"
		   "overlayfs root (what the agent does by itself where overlayfs fails).\n");
	return f == stdout ? 0 : 2;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"version", cmd_version},
	{"--version", cmd_version},
	{"install", cmd_install},
	{"serve", cmd_serve},
	{"connect", cmd_connect},
	{"daemon", cmd_daemon},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return usage(stdout);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "shoal-agent: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
