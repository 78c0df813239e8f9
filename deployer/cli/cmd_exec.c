/* cmd_exec.c - `shoal exec` and `shoal logs`: one node of a cluster. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "converge.h"
#include "util.h"

static int exec_run(int argc, char **argv)
{
	struct converge_opts o = {.json = cli_json()};
	char **args = NULL, **env = NULL;
	const char **full;
	struct err e = {0};
	int i = 1, code = 0, rc;
	size_t k = 0;

	if (i < argc && !strcmp(argv[i], "--accept-new-host-keys")) {
		o.accept_new_host_keys = true;
		i++;
	}
	if (argc - i < 4 || strcmp(argv[i + 2], "--"))
		return cli_usage_error("exec", "expected SPEC NODE -- ARGV...");
	if ((code = cli_spec_check(argv[i])))
		return code;
	/* The node's own client reaches the node as `shoal cli` does: its
	 * address and port from the state, its password in the request's
	 * environment. */
	if (cli_client_context(argv[i], argv[i + 1], argv[i + 3], &argv[i + 4], &args, &env,
			       &e) < 0)
		return cli_fail(&e);
	full = xcalloc((size_t)(argc - i) + 8, sizeof *full);
	full[k++] = argv[i + 3];
	for (size_t a = 0; args && args[a]; a++)
		full[k++] = args[a];
	for (int a = i + 4; a < argc; a++)
		full[k++] = argv[a];
	rc = converge_exec(argv[i], argv[i + 1], full, (const char *const *)env, &o, &code, &e);
	free(full);
	strv_free(args);
	if (env)
		explicit_bzero(env[0], strlen(env[0]));
	strv_free(env);
	if (rc < 0)
		return cli_fail(&e);
	return code;
}

static int logs_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"tail", required_argument, NULL, 'n'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{0},
	};
	struct converge_opts o = {.json = cli_json()};
	struct err e = {0};
	bool follow = false;
	int tail = 100, c;
	char *end;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "fn:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'n':
			tail = (int)strtol(optarg, &end, 10);
			if (*end || tail < 0)
				return cli_usage_error("logs", "--tail needs a number >= 0");
			break;
		case 'A':
			o.accept_new_host_keys = true;
			break;
		default:
			return cli_bad_option("logs", opts, argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("logs", "expected SPEC NODE");
	if ((c = cli_spec_check(argv[optind])))
		return c;
	if (converge_logs(argv[optind], argv[optind + 1], tail, follow, &o, &e) < 0)
		return cli_fail(&e);
	return 0;
}

static const struct cli_command cmd_exec = {
	.name = "exec",
	.summary = "run a command inside a node's container",
	.usage =
		"usage: shoal exec SPEC NODE -- ARGV...\n"
		"\n"
		"Run ARGV inside NODE's container (same namespaces, user, cgroups and\n"
		"restrictions as the node) through its host's agent.  Output is streamed;\n"
		"the exit status is the command's (128+N when killed by signal N).\n"
		"Example: shoal exec cluster-specs/lab-redis.cfg cache-0 -- redis-server --version\n"
		"The node's own database client (redis-cli for a Redis node) gets the\n"
		"node's address and port (-h ADDR -p PORT, unless ARGV gives -h, -p or\n"
		"-u) and its password in REDISCLI_AUTH, from the state, as 'shoal cli'\n"
		"does: 'shoal exec SPEC cache-0 -- redis-cli ping' needs no flags.\n",
	.run = exec_run,
};
CLI_COMMAND(cmd_exec)

static const struct cli_command cmd_logs = {
	.name = "logs",
	.summary = "print a node's log",
	.usage =
		"usage: shoal logs [-f|--follow] [-n|--tail N] SPEC NODE\n"
		"\n"
		"Print the last N lines (default 100) of NODE's stdout and stderr, kept\n"
		"by its host's agent; with --follow keep printing new lines.\n",
	.run = logs_run,
};
CLI_COMMAND(cmd_logs)
