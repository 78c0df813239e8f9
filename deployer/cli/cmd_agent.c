/* cmd_agent.c - `shoal agent status|stop SPEC [--host H,...] [--force]`: the
 * host agent daemons themselves, which outlive `down --purge` by design (a
 * daemon keeps supervising whatever nodes a host has). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "push.h"
#include "spec.h"
#include "transport.h"
#include "util.h"

#define STOP_WAIT_MS 10000

/* What runs on one host: the daemon's pid (0: none) and how many node
 * folders its root holds. */
struct agent_seen {
	long pid;
	char exe[256];
	size_t nodes;
	struct buf node_list; /* "cluster/node, ..." */
};

/* Run argv; stdout (trimmed) into out.  -1 when it failed to run or
 * exited non-zero (e set). */
static int run_out(struct transport *t, const char *const argv[], struct buf *out,
		   struct err *e)
{
	struct run_output o = {0};
	int rc = transport_run_ok(t, argv, NULL, &o, e);

	if (rc == 0 && o.out.data) {
		while (o.out.len && (o.out.data[o.out.len - 1] == '\n'))
			o.out.data[--o.out.len] = '\0';
		buf_puts(out, o.out.data);
	}
	run_output_free(&o);
	return rc;
}

/* The daemon's pid from its lock, if that process is alive. */
static long daemon_pid(struct transport *t, char *exe, size_t exe_len)
{
	struct buf b = {0}, x = {0};
	struct err e = {0};
	long pid = 0;
	char proc[64];

	if (run_out(t, (const char *const[]){"cat", AGENT_REMOTE_RUN_DIR "/agent.lock", NULL},
		    &b, &e) == 0 && b.data)
		pid = strtol(b.data, NULL, 10);
	buf_free(&b);
	if (pid <= 0)
		return 0;
	snprintf(proc, sizeof proc, "/proc/%ld/exe", pid);
	/* A dead daemon's lock file keeps its pid: alive means /proc has it. */
	if (run_out(t, (const char *const[]){"readlink", proc, NULL}, &x, &e) < 0 || !x.data)
		pid = 0;
	else
		snprintf(exe, exe_len, "%s", x.data);
	buf_free(&x);
	return pid;
}

static int look(struct transport *t, struct agent_seen *s, struct err *e)
{
	struct buf b = {0};

	s->pid = daemon_pid(t, s->exe, sizeof s->exe);
	/* node folders: /var/lib/shoal/nodes/<cluster>/<node> */
	if (run_out(t, (const char *const[]){"find", "/var/lib/shoal/nodes", "-mindepth", "2",
					     "-maxdepth", "2", "-type", "d", NULL},
		    &b, e) == 0 && b.data) {
		char *save = NULL;

		for (char *line = strtok_r(b.data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			const char *rel = line + strlen("/var/lib/shoal/nodes/");

			if (strlen(line) <= strlen("/var/lib/shoal/nodes/"))
				continue;
			buf_printf(&s->node_list, "%s%s", s->nodes ? ", " : "", rel);
			s->nodes++;
		}
	}
	err_clear(e);
	buf_free(&b);
	return 0;
}

static int stop_daemon(struct transport *t, struct agent_seen *s, struct err *e)
{
	char pid[32], exe[256];
	int64_t deadline = now_ms() + STOP_WAIT_MS;

	snprintf(pid, sizeof pid, "%ld", s->pid);
	/* SIGTERM: the daemon closes its sessions and exits; nodes never
	 * depend on it (docs/agent-protocol.md). */
	if (transport_run_ok(t, (const char *const[]){"kill", "-TERM", pid, NULL}, NULL, NULL,
			     e) < 0)
		return -1;
	while (now_ms() < deadline) {
		if (daemon_pid(t, exe, sizeof exe) != s->pid)
			return 0;
		poll(NULL, 0, 100);
	}
	return err_set(e, ETIMEDOUT, "agent daemon pid %ld did not stop within %d ms", s->pid,
		       STOP_WAIT_MS);
}

static int cmd_agent_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'},
		{"force", no_argument, NULL, 'f'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	const struct spec_host **hosts = NULL;
	struct transport_opts to = {0};
	const char *only = NULL, *sub;
	struct spec *s = NULL;
	struct err e = {0};
	bool force = false, stop;
	json_t *arr = NULL;
	size_t n = 0;
	int c, rc = 0;

	if (argc < 2 || (strcmp(argv[1], "status") && strcmp(argv[1], "stop")))
		return cli_usage_error("agent", "expected status or stop");
	sub = argv[1];
	stop = !strcmp(sub, "stop");
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'H')
			only = optarg;
		else if (c == 'f' && stop)
			force = true;
		else if (c == 'A')
			to.accept_new_host_keys = true;
		else
			return cli_bad_option("agent", opts, argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("agent", "expected one SPEC file");
	if ((rc = cli_spec_load(argv[optind], &s)))
		return rc;
	if (push_select_hosts(s, only, &hosts, &n, &e) < 0) {
		rc = cli_fail(&e);
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct spec_host *h = hosts[i];
		struct agent_seen seen = {0};
		struct transport *t = NULL;
		const char *did = "";
		struct err he = {0};

		if (transport_open(s, h, &to, &t, &he) < 0) {
			fprintf(stderr, "shoal agent: %s: %s\n", h->name, he.msg);
			json_array_append_new(arr, json_pack("{s:s, s:s}", "host", h->name,
							     "error", he.msg));
			rc = ERR_EXIT_FAIL;
			continue;
		}
		look(t, &seen, &he);
		if (stop && seen.pid && seen.nodes && !force) {
			fprintf(stderr,
				"shoal agent: %s: %zu node(s) on this host (%s): their agent "
				"supervises them; 'shoal down' first, or --force (they keep "
				"running, unsupervised)\n",
				h->name, seen.nodes, seen.node_list.data);
			rc = ERR_EXIT_FAIL;
			did = "refused";
		} else if (stop && seen.pid) {
			if (stop_daemon(t, &seen, &he) < 0) {
				fprintf(stderr, "shoal agent: %s: %s\n", h->name, he.msg);
				rc = ERR_EXIT_FAIL;
				did = "failed";
			} else {
				did = "stopped";
			}
		}
		if (cli_json()) {
			json_t *o = json_pack("{s:s, s:b, s:I, s:I}", "host", h->name, "running",
					      seen.pid > 0, "pid", (json_int_t)seen.pid, "nodes",
					      (json_int_t)seen.nodes);

			if (*did)
				json_object_set_new(o, "stop", json_string(did));
			json_array_append_new(arr, o);
		} else if (!strcmp(did, "stopped")) {
			printf("%-10s agent pid %ld stopped\n", h->name, seen.pid);
		} else if (seen.pid) {
			printf("%-10s agent runs: pid %ld (%s), %zu node(s)\n", h->name, seen.pid,
			       seen.exe, seen.nodes);
		} else {
			printf("%-10s no agent runs%s\n", h->name,
			       seen.nodes ? " (its nodes are not supervised)" : "");
		}
		buf_free(&seen.node_list);
		transport_close(t);
	}
	if (cli_json()) {
		json_t *doc = json_pack("{s:O}", "hosts", arr);

		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
	}
out:
	json_decref(arr);
	free(hosts);
	spec_free(s);
	return rc;
}

static const struct cli_command cmd_agent = {
	.name = "agent",
	.summary = "show or stop the host agents (they outlive 'down --purge')",
	.usage =
		"usage: shoal agent status|stop [--json] [--host H[,H...]] [--force] SPEC\n"
		"\n"
		"The agent daemon on each host of SPEC (or only the hosts named):\n"
		"  status  whether it runs (pid, binary) and how many node folders its\n"
		"          root holds\n"
		"  stop    SIGTERM it and wait until it is gone.  Refused on a host that\n"
		"          still has nodes (their agent supervises them: 'shoal down'\n"
		"          first) unless --force: the nodes keep running, unsupervised,\n"
		"          until the next 'up' starts an agent that adopts them.\n"
		"\n"
		"The agent keeps running after 'shoal down --purge' (it serves every\n"
		"cluster of the host); tear down with:\n"
		"  shoal down --purge SPEC && shoal agent stop SPEC\n"
		"\n"
		"--json: {\"hosts\":[{\"host\",\"running\",\"pid\",\"nodes\",\"stop\"}]}\n"
		"(\"stop\": stopped, refused or failed; \"error\" for an unreachable host).\n"
		"Exit: 0 ok; 1 a host unreachable or a stop refused or failed; 2 usage.\n",
	.run = cmd_agent_run,
};
CLI_COMMAND(cmd_agent)
