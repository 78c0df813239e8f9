/* cmd_check.c - `shoal check SPEC...`: validate cluster specs. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spec.h"
#include "util.h"

static json_t *problems_json(const char *file, bool ok, const struct spec_problems *ps,
			     const struct err *e)
{
	return json_pack("{s:s, s:b, s:o}", "file", file, "ok", ok, "problems",
			 cli_problems_json(file, ps, ok ? NULL : e));
}

/* Check one spec; returns its exit code. */
static int check_one(const char *file)
{
	struct spec_problems ps = {0};
	struct spec *s = NULL;
	struct err e = {0};
	int rc = 0;

	if (spec_load(file, &s, &ps, &e) < 0)
		rc = e.exit ? e.exit : ERR_EXIT_USAGE;
	if (cli_json()) {
		json_t *j = problems_json(file, rc == 0, &ps, &e);

		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	} else if (rc == 0) {
		puts("ok");
	} else {
		spec_problems_print(&ps, stderr);
		fprintf(stderr, "shoal: %s\n", e.msg);
	}
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
		int rc = check_one(argv[i]);

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
		"Prints 'ok' for each valid spec.  Otherwise prints every problem on\n"
		"stderr as\n"
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
		"port), @include loops and depth, file size (1 MiB), NUL bytes, UTF-8.\n"
		"\n"
		"Options:\n"
		"  --json           one JSON object per spec on stdout:\n"
		"                   {\"file\":F,\"ok\":B,\"problems\":[{\"file\",\"line\",\"path\",\"message\"}]}\n"
		"  --keys-markdown  print the table of every spec key (type, default,\n"
		"                   bounds, example) as Markdown; docs/spec.md embeds it\n"
		"\n"
		"Exit: 0 all specs ok; 2 a spec is invalid, missing, a directory or too\n"
		"large; 1 a spec exists but cannot be read (permission, I/O error).\n",
	.run = cmd_check_run,
};
CLI_COMMAND(cmd_check)
