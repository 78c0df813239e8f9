/* cmd_drill.c - `shoal drill SPEC --scenario S ...`: failure drills under
 * load with a report (deployer/lib/drill/drill.h, docs/drills.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli.h"
#include "drill.h"
#include "util.h"

#define SCENARIOS "kill-node, kill-master, pause-node, kill-host, partition, slow-network, mixed"

/* A duration option into *out, within [min, max] ms. */
static int duration_opt(const char *name, const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (parse_duration_ms(s, out) < 0 || *out < min || *out > max)
		return cli_usage_error("drill", "%s: '%s' is not a duration from %lldms to %llds (e.g. 5s, 500ms)",
				       name, s, (long long)min, (long long)max / 1000);
	return 0;
}

static int cmd_drill_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"scenario", required_argument, NULL, 's'},
		{"rounds", required_argument, NULL, 'r'},
		{"interval", required_argument, NULL, 'i'},
		{"pause", required_argument, NULL, 'p'},
		{"loss", required_argument, NULL, 'L'},
		{"delay", required_argument, NULL, 'D'},
		{"recover-timeout", required_argument, NULL, 't'},
		{"seed", required_argument, NULL, 'S'},
		{"load", required_argument, NULL, 'l'},
		{"service", required_argument, NULL, 'v'},
		{"report", required_argument, NULL, 'R'},
		{"dry-run", no_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	struct drill_opts o = {.rounds = 3, .interval_ms = 5000, .pause_ms = 5000,
			       .recover_ms = 60000, .load = {.writers = 4, .rate = 2000},
			       .loss_pct = 10, .delay_ms = 100,
			       .json = cli_json()};
	struct err e = {0};
	bool seeded = false, scenario = false;
	char *end;
	long v;
	int c, sc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if ((sc = drill_scenario_parse(optarg)) < 0)
				return cli_usage_error("drill", "unknown scenario '%s' (" SCENARIOS ")",
						       optarg);
			o.scenario = (enum drill_scenario)sc;
			scenario = true;
			break;
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > 10000)
				return cli_usage_error("drill", "--rounds: a whole number from 1 to 10000, not '%s'",
						       optarg);
			o.rounds = (int)v;
			break;
		case 'i':
			if (duration_opt("--interval", optarg, 100, 86400000, &o.interval_ms))
				return 2;
			break;
		case 'p':
			if (duration_opt("--pause", optarg, 1, 3600000, &o.pause_ms))
				return 2;
			break;
		case 'L':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || (*end && strcmp(end, "%")) || v < 0 || v > 100)
				return cli_usage_error("drill", "--loss: a per cent from 0 to 100, not '%s'",
						       optarg);
			o.loss_pct = (int)v;
			break;
		case 'D':
			if (duration_opt("--delay", optarg, 0, 60000, &o.delay_ms))
				return 2;
			break;
		case 't':
			if (duration_opt("--recover-timeout", optarg, 1000, 3600000, &o.recover_ms))
				return 2;
			break;
		case 'S':
			errno = 0;
			o.seed = strtoull(optarg, &end, 0);
			if (errno || *end || end == optarg || *optarg == '-')
				return cli_usage_error("drill", "--seed: a whole number, not '%s'", optarg);
			seeded = true;
			break;
		case 'l':
			if (drill_load_parse(optarg, &o.load, &e) < 0)
				return cli_fail(&e);
			break;
		case 'v':
			o.service = optarg;
			break;
		case 'R':
			o.report_dir = optarg;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 'A':
			o.accept_new_host_keys = true;
			break;
		default:
			return cli_usage_error("drill", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("drill", "expected exactly one SPEC file");
	if (!scenario)
		return cli_usage_error("drill", "--scenario is required (" SCENARIOS ")");
	if (!seeded && getrandom(&o.seed, sizeof o.seed, 0) != (ssize_t)sizeof o.seed)
		o.seed = (uint64_t)now_ms();
	if (!seeded)
		o.seed %= 1000000000; /* short enough to type again */
	if (drill_run(argv[optind], &o, &e) < 0)
		return cli_fail(&e);
	return 0;
}

static const struct cli_command cmd_drill = {
	.name = "drill",
	.summary = "failure drills under load, checked, with a report",
	.usage =
		"usage: shoal drill SPEC --scenario kill-node|kill-master|pause-node|\n"
		"                      kill-host|partition|slow-network|mixed\n"
		"         [--rounds N] [--interval D] [--pause D] [--seed X]\n"
		"         [--loss P%] [--delay D]\n"
		"         [--load writers=W,rate=R,wait=K] [--service NAME]\n"
		"         [--report DIR] [--recover-timeout D] [--dry-run] [--force]\n"
		"\n"
		"Loads the cluster with W writers (R writes/s in all, 0: as fast as\n"
		"they go; a write counts as acknowledged once K replicas have it),\n"
		"then per round injects one fault through the victim's agent:\n"
		"  kill-node    kill -9 of a node (its agent restarts it)\n"
		"  kill-master  kill -9 of a node the database reports as master\n"
		"  pause-node   SIGSTOP of a node for --pause (default 5s), then SIGCONT\n"
		"  kill-host    every node of a host and its agent killed; --pause later\n"
		"               shoal connects again, which starts the agent and its nodes\n"
		"  partition    a minority of the hosts cut from the others for --pause\n"
		"               (an nftables table the agent installs; its dead-man timer\n"
		"               removes it even if shoal dies)\n"
		"  slow-network --loss (default 10%) of a host's incoming packets dropped and\n"
		"               --delay (default 100ms; tc netem, where the kernel has it)\n"
		"               added for --pause, with the same dead-man timer\n"
		"  mixed        each round one of the above, chosen by the seed\n"
		"and waits until the cluster is healthy again (every node answers, the\n"
		"database says ok).  At the end every key tried is read back: lost\n"
		"(acknowledged, absent), unexpected (present, never acknowledged).\n"
		"\n"
		"Prints a table per round (injected, detected and by whom, recovered,\n"
		"writes acknowledged and lost, longest unavailable); --report DIR also\n"
		"writes DIR/report.json and DIR/report.html (an SVG timeline).\n"
		"\n"
		"  --rounds N       default 3; --interval D between faults, default 5s\n"
		"  --seed X         the same seed picks the same victims at the same\n"
		"                   times (printed when not given)\n"
		"  --dry-run        print the schedule, touch nothing\n"
		"  --force          drill an unhealthy cluster (refused otherwise)\n"
		"  --json           the report as JSON on stdout\n"
		"\n"
		"Every fault is healed on exit, on error and on Ctrl-C.  Exit 0 when\n"
		"every round recovered, no acknowledged write was lost and the cluster\n"
		"is healthy at the end; 1 otherwise (the report says which).\n"
		"See docs/drills.md.\n",
	.run = cmd_drill_run,
};
CLI_COMMAND(cmd_drill)
