/* cmd_scale.c - `shoal scale SPEC SERVICE=N [--dry-run]`: set a service's
 * node count in the spec file, then `up` (the same as editing `nodes` and
 * running up, so the file stays the one truth: a later `shoal up SPEC`
 * keeps the new count). */
#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "converge.h"
#include "spec.h"
#include "util.h"

/* text with the first `nodes = <digits>` at or after line `from` (1-based)
 * and before line `to` (0: the end) set to n; *line gets its line.  NULL
 * (e set) when there is none. */
static char *rewrite_nodes(const char *path, const char *text, int from, int to, int n,
			   int *line, struct err *e)
{
	regex_t re;
	regmatch_t m[3];
	int ln = 1;

	if (regcomp(&re, "(^|[;{[:space:]])nodes[[:space:]]*[=:][[:space:]]*([0-9]+)",
		    REG_EXTENDED | REG_NEWLINE))
		abort();
	for (const char *p = text; *p; ln++) {
		const char *eol = strchr(p, '\n');

		if (ln >= from && (!to || ln < to) && !regexec(&re, p, 3, m, 0) &&
		    (!eol || p + m[2].rm_so < eol)) {
			char *out = xasprintf("%.*s%d%s", (int)(p - text + m[2].rm_so), text, n,
					      p + m[2].rm_eo);
			*line = ln;
			regfree(&re);
			return out;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	regfree(&re);
	err_usage(e, "%s:%d: the service sets no `nodes = N;` to change; add one", path, from);
	return NULL;
}

/* `shoal plan` on another spec file, in a child; its exit code. */
static int run_plan(const char *spec)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return ERR_EXIT_FAIL;
	if (pid == 0) {
		if (cli_json())
			execl("/proc/self/exe", "shoal", "--json", "plan", spec, (char *)NULL);
		else
			execl("/proc/self/exe", "shoal", "plan", spec, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : ERR_EXIT_FAIL;
}

/* The spec's service `name`, the line its group starts on and the line the
 * next service in the same file starts on (0: none). */
static const struct spec_service *find_service(const struct spec *s, const char *name,
					       int *to)
{
	for (size_t k = 0; k < s->nservices; k++)
		if (!strcmp(s->services[k].name, name)) {
			const struct spec_service *sv = &s->services[k];

			*to = 0;
			if (k + 1 < s->nservices && s->services[k + 1].loc.file &&
			    sv->loc.file && !strcmp(s->services[k + 1].loc.file, sv->loc.file))
				*to = s->services[k + 1].loc.line;
			return sv;
		}
	return NULL;
}

/* Returns the exit code (dry run: plan's), or -1 with e set. */
static int scale(const char *path, const char *service, int n, bool dry,
		 const struct converge_opts *o, struct err *e)
{
	_cleanup_free_ char *orig = NULL, *text = NULL, *tmp = NULL;
	struct spec *s = NULL;
	const struct spec_service *sv;
	int to, line, rc, was;
	size_t len;

	if (spec_load(path, &s, NULL, e) < 0)
		return -1;
	sv = find_service(s, service, &to);
	if (!sv || (sv->loc.file && strcmp(sv->loc.file, path))) {
		rc = !sv ? err_usage(e, "%s: no service named %s", path, service)
			 : err_usage(e, "%s: service %s is defined in %s; change nodes there",
				     path, service, sv->loc.file);
		spec_free(s);
		return rc;
	}
	was = sv->nodes;
	line = sv->loc.line;
	spec_free(s);
	if (read_file(path, 16 << 20, &orig, &len, e) < 0 ||
	    !(text = rewrite_nodes(path, orig, line, to, n, &line, e)))
		return -1;
	fprintf(stderr, "%s:%d: %s nodes = %d -> %d%s\n", path, line, service, was, n,
		dry ? " (dry run: the file is not changed)" : "");
	if (dry) {
		_cleanup_free_ char *dir = path_dirname(path);

		tmp = xasprintf("%s/.%s.scale-%d.cfg", dir, service, (int)getpid());
		if (write_file_atomic(tmp, text, strlen(text), 0600, e) < 0)
			return -1;
		rc = run_plan(tmp);
		unlink(tmp);
		return rc;
	}
	if (write_file_atomic(path, text, strlen(text), 0644, e) < 0)
		return -1;
	if (converge_up(path, o, e) == 0)
		return 0;
	if (e->exit == ERR_EXIT_USAGE) {
		struct err e2 = {0};

		if (write_file_atomic(path, orig, len, 0644, &e2) == 0)
			fprintf(stderr, "%s:%d: %s nodes = %d again (up refused %d)\n", path, line,
				service, was, n);
	}
	return -1;
}

static int scale_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	struct converge_opts o = {.json = cli_json()};
	struct err e = {0};
	bool dry = false;
	char *eq, *end;
	long n;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			dry = true;
		else if (c == 'A')
			o.accept_new_host_keys = true;
		else
			return cli_bad_option("scale", opts, argv[optind - 1]);
	}
	if (optind != argc - 2)
		return cli_usage_error("scale", "expected SPEC SERVICE=N");
	if ((c = cli_spec_check(argv[optind])))
		return c;
	eq = strchr(argv[optind + 1], '=');
	if (!eq || eq == argv[optind + 1])
		return cli_usage_error("scale", "expected SERVICE=N, got '%s'", argv[optind + 1]);
	*eq = 0;
	errno = 0;
	n = strtol(eq + 1, &end, 10);
	if (errno || *end || end == eq + 1 || n < 1 || n > 100000)
		return cli_usage_error("scale", "N must be a whole number from 1 to 100000, got '%s'",
				       eq + 1);
	int rc = scale(argv[optind], argv[optind + 1], (int)n, dry, &o, &e);

	return rc < 0 ? cli_fail(&e) : rc;
}

static const struct cli_command cmd_scale = {
	.name = "scale",
	.summary = "set a service's node count in the spec file, then up",
	.usage =
		"usage: shoal scale [--json] [--dry-run] [--accept-new-host-keys] SPEC SERVICE=N\n"
		"\n"
		"Set `nodes = N;` of SERVICE in the SPEC file (that line only, the rest of\n"
		"the file untouched, replaced atomically) and run `shoal up SPEC`: the\n"
		"same as editing the file and running up, so the file stays what runs.\n"
		"A count `up` refuses before changing anything (a shard that still\n"
		"serves slots) puts the file back as it was, exit 2.\n"
		"\n"
		"  --dry-run  change nothing: print the line that would change and\n"
		"             `shoal plan` of the changed spec (its exit code)\n",
	.run = scale_run,
};
CLI_COMMAND(cmd_scale)
