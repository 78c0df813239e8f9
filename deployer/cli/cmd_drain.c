/* cmd_drain.c - `shoal drain SPEC HOST` and `shoal undrain SPEC HOST`: mark
 * a host unschedulable in the cluster's state and `up` (its nodes move to
 * the other hosts with their data, as any move does), or schedulable again
 * (nothing moves back: the planner keeps nodes where they are). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "converge.h"
#include "util.h"

static int drain_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	struct converge_opts o = {.json = cli_json()};
	struct err e = {0};
	bool changed;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'A')
			return cli_usage_error("drain", "unknown option '%s'", argv[optind - 1]);
		o.accept_new_host_keys = true;
	}
	if (optind != argc - 2)
		return cli_usage_error("drain", "expected SPEC HOST");
	if (converge_set_drained(argv[optind], argv[optind + 1], true, &changed, &e) < 0)
		return cli_fail(&e);
	fprintf(stderr, "%s: %s\n", argv[optind + 1],
		changed ? "drained: its nodes move to the other hosts" : "drained already");
	if (converge_up(argv[optind], &o, &e) == 0)
		return 0;
	if (e.exit == ERR_EXIT_USAGE && changed) {
		/* up refused before changing anything: the host takes nodes again */
		struct err e2 = {0};

		if (converge_set_drained(argv[optind], argv[optind + 1], false, &changed, &e2) == 0)
			fprintf(stderr, "%s: not drained (up refused the move)\n", argv[optind + 1]);
	}
	return cli_fail(&e);
}

static int undrain_run(int argc, char **argv)
{
	struct err e = {0};
	bool changed;

	if (argc != 3 || argv[1][0] == '-')
		return cli_usage_error("undrain", "expected SPEC HOST");
	if (converge_set_drained(argv[1], argv[2], false, &changed, &e) < 0)
		return cli_fail(&e);
	printf("%s: %s\n", argv[2],
	       changed ? "schedulable again (no node moves back; new nodes may go there)"
		       : "was not drained");
	return 0;
}

static const struct cli_command cmd_drain = {
	.name = "drain",
	.summary = "move every node off a host and keep it empty",
	.usage =
		"usage: shoal drain [--json] [--accept-new-host-keys] SPEC HOST\n"
		"\n"
		"Mark HOST drained in the cluster's state (no node is placed there) and\n"
		"run `shoal up SPEC`: its nodes move to the other hosts as the planner\n"
		"places them, with their data (a master's data moves to the other\n"
		"masters before it leaves, then back to its new node).  `shoal plan`\n"
		"shows the host as drained until `shoal undrain` or until the spec\n"
		"drops it.  When up refuses the move before changing anything (the\n"
		"other hosts cannot hold the nodes: exit 2), the mark is taken back.\n",
	.run = drain_run,
};
CLI_COMMAND(cmd_drain)

static const struct cli_command cmd_undrain = {
	.name = "undrain",
	.summary = "let a drained host take nodes again",
	.usage =
		"usage: shoal undrain SPEC HOST\n"
		"\n"
		"Take the drained mark off HOST.  Nothing moves back: nodes stay where\n"
		"they run; new nodes may be placed on HOST again.\n",
	.run = undrain_run,
};
CLI_COMMAND(cmd_undrain)
