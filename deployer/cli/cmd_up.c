/* cmd_up.c - `shoal up`, `shoal status`, `shoal down`: a cluster as a whole. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "converge.h"
#include "monitor.h"
#include "util.h"

/* status --wait-healthy without --timeout: five minutes. */
#define DEFAULT_WAIT_MS (5 * 60 * 1000)

/* Options shared by the three commands; returns the spec path or NULL after
 * printing a usage error (*rc set). */
static const char *parse(const char *cmd, int argc, char **argv,
			 struct converge_opts *o, int *rc)
{
	static const struct option opts[] = {
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{"show-secrets", no_argument, NULL, 'S'},
		{"purge", no_argument, NULL, 'P'},
		{"ready-timeout", required_argument, NULL, 'R'},
		{"ready-timeout-ms", required_argument, NULL, 'R'},
		{"wait-healthy", no_argument, NULL, 'W'},
		{"timeout", required_argument, NULL, 'T'},
		{0},
	};
	bool wait = false;
	int64_t timeout_ms = -1, ms;
	int c;

	o->json = cli_json();
	o->wide = cli_wide();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			o->accept_new_host_keys = true;
			break;
		case 'S':
			if (strcmp(cmd, "status"))
				goto bad;
			o->show_secrets = true;
			break;
		case 'P':
			if (strcmp(cmd, "down"))
				goto bad;
			o->purge = true;
			break;
		case 'R':
			if (strcmp(cmd, "up"))
				goto bad;
			/* One spelling of time everywhere: 90s, 10m, 500ms; a
			 * bare number is milliseconds (--ready-timeout-ms). */
			if (parse_duration_ms(optarg, &ms) < 0 || ms <= 0 || ms > 24 * 3600 * 1000) {
				*rc = cli_usage_error(cmd, "--ready-timeout takes a duration of 1ms..24h "
						      "(90s, 10m), not '%s'", optarg);
				return NULL;
			}
			o->ready_timeout_ms = (int)ms;
			break;
		case 'W':
			if (strcmp(cmd, "status"))
				goto bad;
			wait = true;
			break;
		case 'T':
			if (strcmp(cmd, "status"))
				goto bad;
			if (parse_duration_ms(optarg, &timeout_ms) < 0 || timeout_ms <= 0 ||
			    timeout_ms > 24 * 3600 * 1000) {
				*rc = cli_usage_error(cmd, "--timeout takes a duration of 1ms..24h "
						      "(90s, 10m), not '%s'", optarg);
				return NULL;
			}
			break;
		default:
			goto bad;
		}
	}
	if (timeout_ms > 0 && !wait) {
		*rc = cli_usage_error(cmd, "--timeout goes with --wait-healthy");
		return NULL;
	}
	if (wait)
		o->wait_healthy_ms = timeout_ms > 0 ? (int)timeout_ms : DEFAULT_WAIT_MS;
	if (optind != argc - 1) {
		*rc = cli_usage_error(cmd, "expected exactly one SPEC file");
		return NULL;
	}
	return argv[optind];
bad:
	*rc = cli_bad_option(cmd, opts, argv[optind - 1]);
	return NULL;
}

static int run(int (*fn)(const char *, const struct converge_opts *, struct err *),
	       const char *cmd, int argc, char **argv)
{
	struct converge_opts o = {0};
	struct err e = {0};
	int rc = 0;
	const char *spec = parse(cmd, argc, argv, &o, &rc);

	if (!spec)
		return rc;
	if ((rc = cli_spec_check(spec)))
		return rc;
	rc = fn(spec, &o, &e);
	if (rc < 0)
		return cli_fail(&e);
	/* status: 1 when the cluster is not healthy; the others return 0. */
	return rc;
}

/* up [--monitor] [--auto-approve] SPEC|PLANFILE: converge (after a 'yes' on
 * a terminal, or checking a saved plan still holds), then start the
 * cluster's monitor (detached).  A monitor that runs already is left
 * running (it is named). */
static int up_run(int argc, char **argv)
{
	bool monitor = false, accept = false, approve = false;
	struct converge_opts o = {0};
	_cleanup_free_ char *planned_spec = NULL;
	json_t *saved = NULL;
	struct err e = {0};
	const char *spec;
	int n = 0, rc = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--monitor")) {
			monitor = true;
			continue;
		}
		if (!strcmp(argv[i], "--auto-approve")) {
			approve = true;
			continue;
		}
		accept |= !strcmp(argv[i], "--accept-new-host-keys");
		argv[n++] = argv[i];
	}
	argv[n] = NULL;
	spec = parse("up", n, argv, &o, &rc);
	if (!spec)
		return rc;
	if (cli_planfile_read(spec, &planned_spec, &saved)) {
		/* A saved plan: applied only while it is still what up does. */
		rc = cli_planfile_verify(spec, saved, accept);
		json_decref(saved);
		if (rc)
			return rc;
		spec = planned_spec;
	} else {
		if ((rc = cli_spec_check(spec)))
			return rc;
		/* On a terminal, show the plan and ask; scripts (stdin not a
		 * terminal) and --auto-approve go on at once. */
		if (!approve && !o.json && isatty(STDIN_FILENO) &&
		    (rc = cli_plan_confirm(spec, accept)))
			return rc;
	}
	if (converge_up(spec, &o, &e) < 0)
		return cli_fail(&e);
	if (!monitor)
		return 0;
	struct monitor_opts mo = {.accept_new_host_keys = accept};

	if (monitor_run(spec, &mo, &e) == 0)
		return 0;
	if (e.code == EBUSY) {
		long pid;
		struct err re = {0};

		if (monitor_reload(spec, &pid, &re) == 0) {
			printf("monitor of pid %ld runs already: told to read the state again\n", pid);
			return 0;
		}
		fprintf(stderr, "shoal up: %s; %s: left running (send it SIGHUP to watch a changed placement)\n",
			e.msg, re.msg);
		return 0;
	}
	return cli_fail(&e);
}
static int status_run(int argc, char **argv) { return run(converge_status, "status", argc, argv); }
static int down_run(int argc, char **argv) { return run(converge_down, "down", argc, argv); }

static const struct cli_command cmd_up = {
	.name = "up",
	.summary = "bring a cluster to what its spec says",
	.usage =
		"usage: shoal up [--json] [--accept-new-host-keys] [--ready-timeout T]\n"
		"                [--monitor] [--auto-approve] SPEC|PLANFILE\n"
		"\n"
		"Plan the nodes of SPEC, build or resolve their images, bootstrap the\n"
		"agent on every host, push the image blobs the hosts lack, create and\n"
		"start the missing nodes, wait until each answers its readiness probe,\n"
		"form the cluster exactly as planned and record the result in\n"
		".shoal/<cluster>/state.json ($SHOAL_STATE_DIR overrides .shoal).\n"
		"\n"
		"Running it again changes nothing when nothing changed (\"0 changes\").\n"
		"An interrupted run is safe to repeat: what the hosts report is compared\n"
		"with the record, so no node is created twice and none is left orphaned.\n"
		"\n"
		"A planned master that a failover made a replica is made master again\n"
		"(CLUSTER FAILOVER, coordinated: no acknowledged write is lost).\n"
		"A changed setting, resource or image restarts the nodes where they are,\n"
		"one at a time, replicas first, each back in its cluster before the next.\n"
		"A higher node count adds shards or replicas (a new Redis master joins\n"
		"without slots).  Nodes that leave (a lower count, another host) leave\n"
		"the cluster first and go with their data; a node that still serves\n"
		"slots is refused before anything changes.\n"
		"\n"
		"  --accept-new-host-keys  record unknown SSH host keys (a changed key is\n"
		"                          always refused)\n"
		"  --ready-timeout T       readiness deadline per node: 90s, 10m, 500ms\n"
		"                          (default: the template's; --ready-timeout-ms N\n"
		"                          is the same, a bare N being milliseconds)\n"
		"  --json                  print the executed actions as JSON\n"
		"  --auto-approve          do not ask: on a terminal (stdin a tty) up\n"
		"                          prints the plan and goes on only after 'yes';\n"
		"                          without a terminal (scripts) it never asks\n"
		"  PLANFILE                a plan saved by 'shoal plan --out': applied\n"
		"                          without asking, and refused when the spec, the\n"
		"                          record or what the hosts run changed since\n"
		"  --monitor               then start `shoal monitor SPEC` (detached; one\n"
		"                          that runs already reads the state again)\n",
	.run = up_run,
};
CLI_COMMAND(cmd_up)

static const struct cli_command cmd_status = {
	.name = "status",
	.summary = "show every node and the cluster's health",
	.usage =
		"usage: shoal status [--json] [--show-secrets] [--wait-healthy [--timeout T]] SPEC\n"
		"\n"
		"Per node: host, address:port, container state (from the host's agent),\n"
		"health, role and master and slot ranges (as the database reports them,\n"
		"not as shoal recorded them), uptime and restarts.  Per service: the\n"
		"cluster state, slots served, whether roles are as planned and whether\n"
		"every replica is on another host than its master.\n"
		"\n"
		"The last line says whether the cluster is healthy: every recorded node\n"
		"running and answering, every service's cluster state ok.\n"
		"\n"
		"  --json          one JSON document (schema in docs/status.md)\n"
		"  -o wide         text with SERVICE, BUS (port) and DETAIL (why a node\n"
		"                  does not answer) columns too\n"
		"  --show-secrets  also print the cluster's generated secrets\n"
		"  --wait-healthy  look again every second until the cluster is healthy\n"
		"                  (what is awaited goes to stderr), then print it once\n"
		"  --timeout T     give up waiting after T (90s, 10m; default 5m)\n"
		"\n"
		"Exit: 0 healthy; 1 not healthy (degraded, failed, a node not running\n"
		"or not answering, no recorded node; with --wait-healthy: still so at\n"
		"the deadline) or the state unreadable; 2 bad usage or a bad spec.\n",
	.run = status_run,
};
CLI_COMMAND(cmd_status)

static const struct cli_command cmd_down = {
	.name = "down",
	.summary = "stop and remove a cluster's nodes",
	.usage =
		"usage: shoal down [--json] [--purge] SPEC\n"
		"\n"
		"Stop and remove every node of the cluster on every host of SPEC (also\n"
		"nodes an interrupted run left unrecorded).  Data directories stay on the\n"
		"hosts, and the cluster's secrets stay in the state, unless --purge, which\n"
		"also removes what an earlier `down` kept.  A host that cannot be reached\n"
		"is left out: its nodes stay recorded, the command fails naming them, and\n"
		"running it again once the host is back finishes the job.\n",
	.run = down_run,
};
CLI_COMMAND(cmd_down)
