/* cli_spec.c - loading a spec for a command, and reporting bad options, the
 * same way in every command (cli.h). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"
#include "util.h"

json_t *cli_problems_json(const char *file, const struct spec_problems *ps,
			  const struct err *e)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < ps->n; i++) {
		const struct spec_problem *p = &ps->items[i];

		json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s}", "file", p->file,
						     "line", p->line, "path", p->path,
						     "message", p->msg));
	}
	/* A failure with no problem of its own (an unreadable file) is still
	 * one problem: the caller's error. */
	if (ps->n == 0 && e && e->msg[0])
		json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s}", "file", file,
						     "line", 0, "path", "", "message",
						     e->msg));
	return arr;
}

int cli_spec_report(const char *path, const struct spec_problems *ps, const struct err *e)
{
	if (cli_json()) {
		json_t *j = json_pack("{s:b, s:s, s:s, s:o}", "ok", 0, "file", path, "error",
				      e->msg, "problems", cli_problems_json(path, ps, e));

		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		fflush(stdout);
		json_decref(j);
	}
	/* On a terminal (and on stderr with --json too) every problem, then the
	 * count: one problem is printed as surely as nine. */
	spec_problems_print(ps, stderr);
	fprintf(stderr, "shoal: %s\n", e->msg[0] ? e->msg : "bad spec");
	return e->exit ? e->exit : ERR_EXIT_USAGE;
}

void cli_find_state_root(const struct spec *s)
{
	const char *env = getenv("SHOAL_STATE_DIR");
	_cleanup_free_ char *here = NULL, *near_root = NULL, *near = NULL;
	struct stat st;

	if ((env && *env) || s->state.backend != STATE_FILE || !s->dir)
		return;
	here = path_join(".shoal", s->name);
	if (stat(here, &st) == 0)
		return;
	near_root = path_join(s->dir, ".shoal");
	near = path_join(near_root, s->name);
	if (stat(near, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	if (setenv("SHOAL_STATE_DIR", near_root, 1) < 0)
		return;
	log_info("state of cluster %s: %s (the spec's folder; none in ./.shoal)", s->name,
		 near);
}

int cli_spec_load(const char *path, struct spec **out)
{
	struct spec_problems ps = {0};
	struct err e = {0};
	int rc = 0;

	if (spec_load(path, out, &ps, &e) < 0)
		rc = cli_spec_report(path, &ps, &e);
	else
		cli_find_state_root(*out);
	spec_problems_free(&ps);
	return rc;
}

int cli_spec_check(const char *path)
{
	struct spec *s = NULL;
	int rc = cli_spec_load(path, &s);

	spec_free(s);
	return rc;
}

/* ---- options ------------------------------------------------------------- */

const char *cli_closest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, wl = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);
		/* Edit distance where swapping two neighbours costs 1, as in
		 * the typo "stauts" (optimal string alignment: three rows;
		 * names are short). */
		size_t pp[64] = {0}, prev[64], cur[64];

		if (nl >= ARRAY_SIZE(prev) || wl >= 64)
			continue;
		for (size_t j = 0; j <= nl; j++)
			prev[j] = j;
		for (size_t a = 1; a <= wl; a++) {
			cur[0] = a;
			for (size_t j = 1; j <= nl; j++) {
				size_t sub = prev[j - 1] + (word[a - 1] != names[i][j - 1]);
				size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

				cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
				if (a > 1 && j > 1 && word[a - 1] == names[i][j - 2] &&
				    word[a - 2] == names[i][j - 1] && pp[j - 2] + 1 < cur[j])
					cur[j] = pp[j - 2] + 1;
			}
			memcpy(pp, prev, (nl + 1) * sizeof *prev);
			memcpy(prev, cur, (nl + 1) * sizeof *prev);
		}
		if (prev[nl] < best_d) {
			best_d = prev[nl];
			best = names[i];
		}
	}
	/* Close means at most a third of the word wrong (at least 1, at most 3). */
	size_t limit = wl / 3 ? (wl / 3 > 3 ? 3 : wl / 3) : 1;

	return best && best_d <= limit ? best : NULL;
}

int cli_bad_option(const char *cmd, const struct option *opts, const char *arg)
{
	const char *names[64];
	char dashed[64][40];
	size_t n = 0;
	const char *eq;
	size_t len;

	if (!arg)
		return cli_usage_error(cmd, "bad option");
	eq = strchr(arg, '=');
	len = eq ? (size_t)(eq - arg) : strlen(arg);
	for (const struct option *o = opts; o && o->name && n < ARRAY_SIZE(names); o++) {
		snprintf(dashed[n], sizeof dashed[n], "--%s", o->name);
		/* A known option that getopt refused lacks its value. */
		if (strlen(dashed[n]) == len && !strncmp(arg, dashed[n], len) &&
		    o->has_arg == required_argument)
			return cli_usage_error(cmd, "option '%s' needs a value", dashed[n]);
		names[n] = dashed[n];
		n++;
	}
	if (!strncmp(arg, "--", 2)) {
		char word[128];
		const char *sug;

		snprintf(word, sizeof word, "%.*s", (int)len, arg);
		sug = cli_closest(word, names, n);
		if (sug)
			return cli_usage_error(cmd, "unknown option '%s'; did you mean '%s'?", word,
					       sug);
	}
	return cli_usage_error(cmd, "unknown option '%s'", arg);
}
