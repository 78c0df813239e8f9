/* cmd_check.c - `shoal check SPEC...`: validate cluster specs. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plan.h"
#include "spec.h"
#include "template.h"
#include "util.h"

static json_t *problems_json(const char *file, bool ok, const struct spec_problems *ps,
			     const struct err *e)
{
	return json_pack("{s:s, s:b, s:o}", "file", file, "ok", ok, "problems",
			 cli_problems_json(file, ps, ok ? NULL : e));
}

/* The service a plan line is about: plan problems start with a node id
 * ("cache-5: ..."), warnings with a service name ("cache: ..."). */
static const struct spec_service *service_of(const struct spec *s, const char *msg,
					     size_t *k)
{
	for (size_t i = 0; i < s->nservices; i++) {
		size_t n = strlen(s->services[i].name);

		if (!strncmp(msg, s->services[i].name, n) && (msg[n] == ':' || msg[n] == '-')) {
			*k = i;
			return &s->services[i];
		}
	}
	return NULL;
}

/* A plan line as a spec problem at its service's line. */
static void add_plan_line(struct spec_problems *ps, const struct spec *s, const char *msg)
{
	const struct spec_service *sv;
	struct spec_problem *p;
	size_t k = 0;

	ps->items = xgrow(ps->items, &ps->cap, ps->n + 1, sizeof *ps->items);
	p = &ps->items[ps->n++];
	sv = service_of(s, msg, &k);
	p->file = xstrdup(sv && sv->loc.file ? sv->loc.file : s->path);
	p->line = sv ? sv->loc.line : 0;
	p->path = sv ? xasprintf("services[%zu]", k) : xstrdup("");
	p->msg = xstrdup(msg);
}

/* The rules `plan` applies before it asks any host: templates and their
 * images (spec_load checks them), then placement from nothing recorded -
 * capacity, anti-affinity, spread, max_per_host.  Problems go to ps, relaxed
 * rules to warns.  Returns 0, or -1 with e set. */
static int check_plan(const struct spec *s, struct spec_problems *ps,
		      struct spec_problems *warns, struct err *e)
{
	struct plan_traits *traits = NULL;
	struct plan_problems pp = {0};
	struct plan *p = NULL;
	int rc = 0;

	if (template_traits_for_spec(s, NULL, &traits, NULL, e) < 0)
		return -1;
	if (plan_compute(s, traits, NULL, &p, &pp, e) < 0) {
		for (size_t i = 0; i < pp.n; i++)
			add_plan_line(ps, s, pp.items[i].msg);
		rc = -1;
	} else {
		for (size_t i = 0; i < p->nwarnings; i++)
			add_plan_line(warns, s, p->warnings[i]);
	}
	plan_free(p);
	plan_problems_free(&pp);
	free(traits);
	return rc;
}

/* Check one spec; returns its exit code.  named: print "FILE: ok" rather
 * than "ok" (several files given). */
static int check_one(const char *file, bool named)
{
	struct spec_problems ps = {0}, warns = {0};
	struct spec *s = NULL;
	struct err e = {0};
	int rc = 0;

	if (spec_load(file, &s, &ps, &e) < 0)
		rc = e.exit ? e.exit : ERR_EXIT_USAGE;
	else if (check_plan(s, &ps, &warns, &e) < 0)
		rc = e.exit ? e.exit : ERR_EXIT_USAGE;
	if (cli_json()) {
		json_t *j = problems_json(file, rc == 0, &ps, &e);

		json_object_set_new(j, "warnings", cli_problems_json(file, &warns, NULL));
		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		for (size_t i = 0; i < warns.n; i++) {
			fputs("warning: ", stderr);
			spec_problems_print(&(struct spec_problems){.items = &warns.items[i], .n = 1},
					    stderr);
		}
		if (rc == 0) {
			if (named)
				printf("%s: ok\n", file);
			else
				puts("ok");
		} else {
			spec_problems_print(&ps, stderr);
			fprintf(stderr, "shoal: %s\n", e.msg);
		}
	}
	spec_problems_free(&warns);
	spec_problems_free(&ps);
	spec_free(s);
	return rc;
}

static int cmd_check_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"keys-markdown", no_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	int c, worst = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'K') {
			_cleanup_free_ char *md = spec_keys_markdown();

			fputs(md, stdout);
			return 0;
		}
		return cli_bad_option("check", opts, argv[optind - 1]);
	}
	if (optind == argc)
		return cli_usage_error("check", "no spec file given");
	for (int i = optind; i < argc; i++) {
		int rc = check_one(argv[i], argc - optind > 1);

		/* A bad spec (2) outranks an unreadable one (1). */
		if (rc > worst)
			worst = rc;
	}
	return worst;
}

static const struct cli_command cmd_check = {
	.name = "check",
	.summary = "validate cluster spec files",
	.usage =
		"usage: shoal check [--json] SPEC...\n"
		"\n"
		"Parse and validate each cluster spec (libconfig; see docs/spec.md).\n"
		"Prints 'ok' for a valid spec ('FILE: ok' each when several are given).\n"
		"Otherwise prints every problem on stderr as\n"
		"    FILE:LINE: KEY.PATH: MESSAGE\n"
		"(LINE or KEY.PATH left out when a problem has none), e.g.\n"
		"    lab.cfg:12: services[0].placement.spread: 'rak' is not one of\n"
		"    \"host\", \"rack\", \"zone\"; did you mean 'rack'?\n"
		"\n"
		"Checks: syntax, types, bounds, unknown keys (with suggestions), unsafe\n"
		"names, duplicate host/service names and addresses, unknown templates,\n"
		"Redis shard shape (nodes a multiple of replicas+1, >= 3 masters),\n"
		"replication factor vs nodes, capacity (memory and CPUs after host\n"
		"reserves), port ranges (out of range, colliding on shared hosts, SSH\n"
		"port), @include loops and depth, file size (1 MiB), NUL bytes, UTF-8,\n"
		"image recipes (the service's, or its template's default) exist.\n"
		"Then every rule 'plan' applies before it asks a host, placing the\n"
		"nodes as if none were recorded: capacity per host, anti-affinity\n"
		"(replicas off their master's host), max_per_host, spread.  A spread\n"
		"the hosts cannot give is a warning (\"warning: FILE:LINE: ...\"), as in\n"
		"plan; with spread_strict it is a problem.  What needs the hosts\n"
		"(ports other programs hold, what runs there) is left to 'plan'.\n"
		"\n"
		"Options:\n"
		"  --json           one JSON object per spec on stdout:\n"
		"                   {\"file\":F,\"ok\":B,\"problems\":[{\"file\",\"line\",\"path\",\"message\"}],\n"
		"                    \"warnings\":[the same]}\n"
		"  --keys-markdown  print the table of every spec key (type, default,\n"
		"                   bounds, example) as Markdown; docs/spec.md embeds it\n"
		"\n"
		"Exit: 0 all specs ok; 2 a spec is invalid, missing, a directory or too\n"
		"large; 1 a spec exists but cannot be read (permission, I/O error).\n",
	.run = cmd_check_run,
};
CLI_COMMAND(cmd_check)
