/* cmd_monitor.c - `shoal monitor SPEC [--once] [--foreground]`: watch a
 * cluster and heal it (deployer/lib/monitor/monitor.h, docs/monitor.md). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "monitor.h"

static int cmd_monitor_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"once", no_argument, NULL, 'o'},
		{"foreground", no_argument, NULL, 'f'},
		{"listen", required_argument, NULL, 'l'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	struct monitor_opts mo = {0};
	struct err e = {0};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			mo.once = true;
			break;
		case 'f':
			mo.foreground = true;
			break;
		case 'l':
			mo.listen = optarg;
			break;
		case 'A':
			mo.accept_new_host_keys = true;
			break;
		default:
			return cli_bad_option("monitor", opts, argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("monitor", "expected exactly one SPEC file");
	if ((c = cli_spec_check(argv[optind])))
		return c;
	if (monitor_run(argv[optind], &mo, &e) < 0)
		return cli_fail(&e);
	return 0;
}

static const struct cli_command cmd_monitor = {
	.name = "monitor",
	.summary = "watch a cluster: respawn hung nodes, alert, serve /status and /metrics",
	.usage =
		"usage: shoal monitor [--once] [--foreground] [--listen ADDR:PORT] SPEC\n"
		"\n"
		"One process per cluster (a second one is refused, naming the first).\n"
		"It keeps one agent connection per host (node exits arrive at once),\n"
		"probes every node each monitor.interval_ms with monitor.timeout_ms,\n"
		"kills a running node that failed monitor.fail_after probes in a row\n"
		"(its agent restarts it), raises an alert for a node that does not\n"
		"answer again within 15 s, reconnects to unreachable hosts with\n"
		"backoff, and holds (no repair, an alert) while more than half of\n"
		"the hosts are unreachable.  Every decision is a line in the\n"
		"cluster's events log (`shoal events SPEC`).\n"
		"\n"
		"HTTP on monitor.listen (default 127.0.0.1:7900; --listen overrides,\n"
		"\"\" turns it off): /status (JSON), /metrics (Prometheus), /events.\n"
		"\n"
		"  --foreground   stay attached (systemd: Type=simple); without it the\n"
		"                 monitor detaches once it holds its lock and listens,\n"
		"                 logging to <state dir>/monitor.log\n"
		"  --once         connect, probe every node once, print, exit (0 when\n"
		"                 every host and node answers); decides nothing\n"
		"\n"
		"SIGHUP makes it read SPEC and the state again (after an `up` that\n"
		"moved, added or removed nodes; `shoal up --monitor` sends it);\n"
		"SIGTERM stops it.\n"
		"\n"
		"See docs/monitor.md for the state machines and every timeout.\n",
	.run = cmd_monitor_run,
};
CLI_COMMAND(cmd_monitor)
