/* cmd_node.c - `shoal node`: drive one host's agent directly, node by node
 * (debugging and one-off use; `up`, `monitor` and `drill` use the same
 * protocol through agent_client.h).
 *
 *   shoal node [--host local|SPEC:HOST] [--root DIR] [--run-dir DIR] CMD ...
 *
 * `--host local` (the default) runs `shoal-agent connect` on this machine;
 * SPEC:HOST reaches host HOST of the spec file SPEC over its transport. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_client.h"
#include "cli.h"
#include "spec.h"
#include "transport.h"

#define CALL_TIMEOUT_MS 120000

struct node_cli {
	const char *host;
	const char *root, *run_dir;
	struct spec *spec;
	struct transport *t;
	struct agent_client *c;
};

/* ---- reaching the agent ---------------------------------------------------- */

static int open_local(struct node_cli *nc, struct tchan **ch, struct err *e)
{
	_cleanup_free_ char *agent = NULL;
	const char *argv[8];
	size_t n = 0;

	if (transport_agent_path(&agent, e) < 0)
		return -1;
	argv[n++] = agent;
	argv[n++] = "connect";
	if (nc->root) {
		argv[n++] = "--root";
		argv[n++] = nc->root;
	}
	if (nc->run_dir) {
		argv[n++] = "--run-dir";
		argv[n++] = nc->run_dir;
	}
	argv[n] = NULL;
	return tchan_spawn_local("local: shoal-agent connect", argv, ch, e);
}

static int open_remote(struct node_cli *nc, struct tchan **ch, struct err *e)
{
	_cleanup_free_ char *path = xstrdup(nc->host);
	char *colon = strrchr(path, ':');
	const struct spec_host *h;
	struct transport_opts o = {0};

	if (!colon || colon == path || !colon[1])
		return err_usage(e, "--host '%s': expected local or SPEC:HOST", nc->host);
	*colon = '\0';
	struct spec_problems ps = {0};
	int rc = spec_load(path, &nc->spec, &ps, e);

	spec_problems_print(&ps, stderr);
	spec_problems_free(&ps);
	if (rc < 0)
		return -1;
	h = spec_find_host(nc->spec, colon + 1);
	if (!h)
		return err_usage(e, "%s: no host '%s'", path, colon + 1);
	if (transport_open(nc->spec, h, &o, &nc->t, e) < 0)
		return -1;
	return transport_open_agent(nc->t, ch, e);
}

static int connect_agent(struct node_cli *nc, struct err *e)
{
	struct tchan *ch = NULL;
	int rc = !strcmp(nc->host, "local") ? open_local(nc, &ch, e)
					     : open_remote(nc, &ch, e);

	if (rc < 0)
		return -1;
	nc->c = agent_client_new(ch);
	return 0;
}

static void disconnect(struct node_cli *nc)
{
	agent_client_free(nc->c);
	transport_close(nc->t);
	if (nc->spec)
		spec_free(nc->spec);
}

/* ---- output ---------------------------------------------------------------- */

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		puts(s);
	free(s);
}

static void print_record_line(json_t *r)
{
	json_t *sig = json_object_get(r, "signal"), *code = json_object_get(r, "exit_code");
	char last[32] = "-";

	if (json_is_integer(sig))
		snprintf(last, sizeof last, "signal %lld", (long long)json_integer_value(sig));
	else if (json_is_integer(code))
		snprintf(last, sizeof last, "exit %lld", (long long)json_integer_value(code));
	printf("%-12s %-16s %-9s %-8s %7lld %8lld  %s%s\n",
	       json_string_value(json_object_get(r, "cluster")),
	       json_string_value(json_object_get(r, "node")),
	       json_string_value(json_object_get(r, "state")),
	       json_string_value(json_object_get(r, "runtime")),
	       (long long)json_integer_value(json_object_get(r, "pid")),
	       (long long)json_integer_value(json_object_get(r, "restarts")), last,
	       json_is_true(json_object_get(r, "oom")) ? " (oom)" : "");
}

static void print_result(json_t *resp)
{
	json_t *nodes = json_object_get(resp, "nodes"), *r;
	size_t i;

	if (cli_json()) {
		json_object_del(resp, "id");
		json_object_del(resp, "ok");
		print_json(resp);
		return;
	}
	if (nodes || json_object_get(resp, "state"))
		printf("%-12s %-16s %-9s %-8s %7s %8s  %s\n", "CLUSTER", "NODE", "STATE",
		       "RUNTIME", "PID", "RESTARTS", "LAST EXIT");
	if (nodes) {
		json_array_foreach(nodes, i, r)
			print_record_line(r);
	} else if (json_object_get(resp, "state")) {
		print_record_line(resp);
	}
}

static void on_stream(void *arg, json_t *msg)
{
	const char *stream = json_string_value(json_object_get(msg, "stream"));
	const char *data = json_string_value(json_object_get(msg, "data"));

	if (!data)
		return;
	fputs(data, stream && !strcmp(stream, "stderr") ? stderr : stdout);
	fflush(stream && !strcmp(stream, "stderr") ? stderr : stdout);
}

/* ---- subcommands ----------------------------------------------------------- */

/* argv after the subcommand name; returns a request or NULL (usage error). */
typedef json_t *(*build_fn)(int argc, char **argv);

static json_t *with_node(const char *op, int argc, char **argv)
{
	if (argc < 2)
		return NULL;
	return json_pack("{s:s,s:s,s:s}", "op", op, "cluster", argv[0], "node", argv[1]);
}

static json_t *b_start(int argc, char **argv) { return argc == 2 ? with_node("node.start", argc, argv) : NULL; }
static json_t *b_stop(int argc, char **argv) { return argc == 2 ? with_node("node.stop", argc, argv) : NULL; }
static json_t *b_inspect(int argc, char **argv) { return argc == 2 ? with_node("node.inspect", argc, argv) : NULL; }

static json_t *b_rm(int argc, char **argv)
{
	bool force = argc == 3 && !strcmp(argv[2], "--force");
	json_t *r = (argc == 2 || force) ? with_node("node.remove", argc, argv) : NULL;

	if (r && force)
		json_object_set_new(r, "force", json_true());
	return r;
}

static json_t *b_kill(int argc, char **argv)
{
	json_t *r = (argc == 2 || argc == 3) ? with_node("node.kill", argc, argv) : NULL;
	char *end;

	if (r && argc == 3) {
		long sig = strtol(argv[2], &end, 10);

		json_object_set_new(r, "signal", *end ? json_string(argv[2])
						      : json_integer(sig));
	}
	return r;
}

static json_t *b_ls(int argc, char **argv)
{
	if (argc > 1)
		return NULL;
	return argc ? json_pack("{s:s,s:s}", "op", "node.list", "cluster", argv[0])
		    : json_pack("{s:s}", "op", "node.list");
}

static json_t *b_facts(int argc, char **argv)
{
	return argc ? NULL : json_pack("{s:s}", "op", "host.facts");
}

static json_t *b_logs(int argc, char **argv)
{
	long tail = 100;
	bool follow = false;
	int i = 0;
	json_t *r;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-f"))
			follow = true;
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			tail = strtol(argv[++i], NULL, 10);
		else
			return NULL;
	}
	if (argc - i != 2)
		return NULL;
	r = with_node("logs", 2, argv + i);
	json_object_set_new(r, "tail", json_integer(tail));
	json_object_set_new(r, "follow", json_boolean(follow));
	return r;
}

/* exec CLUSTER NODE [--] ARGV... */
static json_t *b_exec(int argc, char **argv)
{
	int first = argc > 2 && !strcmp(argv[2], "--") ? 3 : 2;
	json_t *r, *a;

	if (argc <= first)
		return NULL;
	r = with_node("exec", argc, argv);
	a = json_array();
	for (int i = first; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	json_object_set_new(r, "argv", a);
	return r;
}

/* create CLUSTER NODE IMAGE [options] [-- ARGV...] */
static json_t *b_create(int argc, char **argv)
{
	static const struct { const char *opt, *key; bool num; } opts[] = {
		{"--runtime", "runtime", false}, {"--memory", "memory", false},
		{"--cpu-millis", "cpu_millis", true}, {"--pids", "pids", true},
		{"--restart", "restart", false}, {"--user", "user", false},
		{"--data-path", "data_path", false}, {"--workdir", "workdir", false},
	};
	json_t *r, *caps = json_array(), *env = json_array();
	int i;

	if (argc < 3) {
		json_decref(caps);
		json_decref(env);
		return NULL;
	}
	r = json_pack("{s:s,s:s,s:s,s:s}", "op", "node.create", "cluster", argv[0],
		      "node", argv[1], "image", argv[2]);
	for (i = 3; i < argc && strcmp(argv[i], "--"); i++) {
		size_t k;

		if (!strcmp(argv[i], "--start")) {
			json_object_set_new(r, "start", json_true());
			continue;
		}
		if (i + 1 >= argc)
			goto bad;
		if (!strcmp(argv[i], "--cap")) {
			json_array_append_new(caps, json_string(argv[++i]));
			continue;
		}
		if (!strcmp(argv[i], "--env")) {
			json_array_append_new(env, json_string(argv[++i]));
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(opts); k++)
			if (!strcmp(argv[i], opts[k].opt))
				break;
		if (k == ARRAY_SIZE(opts))
			goto bad;
		i++;
		json_object_set_new(r, opts[k].key, opts[k].num
				    ? json_integer(strtoll(argv[i], NULL, 10))
				    : json_string(argv[i]));
	}
	if (json_array_size(caps))
		json_object_set(r, "caps", caps);
	if (json_array_size(env))
		json_object_set(r, "env", env);
	if (i < argc) {
		json_t *a = json_array();

		for (i++; i < argc; i++)
			json_array_append_new(a, json_string(argv[i]));
		json_object_set_new(r, "argv", a);
	}
	json_decref(caps);
	json_decref(env);
	return r;
bad:
	json_decref(caps);
	json_decref(env);
	json_decref(r);
	return NULL;
}

static const struct {
	const char *name;
	build_fn build;
	bool stream;
} subcommands[] = {
	{"create", b_create, false}, {"start", b_start, false},
	{"stop", b_stop, false},     {"kill", b_kill, false},
	{"rm", b_rm, false},         {"ls", b_ls, false},
	{"inspect", b_inspect, false}, {"logs", b_logs, true},
	{"exec", b_exec, true},      {"facts", b_facts, false},
};

static int run_node(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'h'},
		{"root", required_argument, NULL, 'r'},
		{"run-dir", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	struct node_cli nc = {.host = "local"};
	struct err e = {0};
	json_t *req = NULL, *resp = NULL;
	size_t k;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': nc.host = optarg; break;
		case 'r': nc.root = optarg; break;
		case 'R': nc.run_dir = optarg; break;
		default: return cli_bad_option("node", longopts, argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("node", "missing subcommand");
	for (k = 0; k < ARRAY_SIZE(subcommands); k++)
		if (!strcmp(argv[optind], subcommands[k].name))
			break;
	if (k == ARRAY_SIZE(subcommands))
		return cli_usage_error("node", "unknown subcommand '%s'", argv[optind]);
	req = subcommands[k].build(argc - optind - 1, argv + optind + 1);
	if (!req)
		return cli_usage_error("node", "bad arguments for '%s'", argv[optind]);
	if (connect_agent(&nc, &e) < 0) {
		json_decref(req);
		disconnect(&nc);
		return cli_fail(&e);
	}
	rc = agent_call_stream(nc.c, req, subcommands[k].stream ? on_stream : NULL, NULL,
			       &resp, subcommands[k].stream ? -1 : CALL_TIMEOUT_MS, &e);
	if (rc < 0) {
		disconnect(&nc);
		return cli_fail(&e);
	}
	rc = 0;
	if (!strcmp(subcommands[k].name, "exec")) {
		json_t *sig = json_object_get(resp, "signal");

		rc = json_is_integer(sig) ? 128 + (int)json_integer_value(sig)
					  : (int)json_integer_value(json_object_get(resp, "exit_code"));
	} else if (!strcmp(subcommands[k].name, "logs")) {
		const char *d = json_string_value(json_object_get(resp, "data"));

		if (d)
			fputs(d, stdout);
	} else if (!strcmp(subcommands[k].name, "facts") && !cli_json()) {
		const char *key;
		json_t *v;

		json_object_del(resp, "id");
		json_object_del(resp, "ok");
		json_object_foreach(resp, key, v) {
			char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			printf("%-12s %s\n", key, s ? s : json_string_value(v));
			free(s);
		}
	} else {
		print_result(resp);
	}
	json_decref(resp);
	disconnect(&nc);
	return rc;
}

static const struct cli_command node_cmd = {
	.name = "node",
	.summary = "drive one host's agent: create, start, stop, exec into nodes",
	.usage =
		"usage: shoal node [--host local|SPEC:HOST] [--root DIR] [--run-dir DIR] CMD ...\n"
		"\n"
		"  create CLUSTER NODE IMAGE [--start] [--runtime builtin|runc|crun|auto]\n"
		"         [--memory SIZE] [--cpu-millis N] [--pids N] [--restart always|on-failure|never]\n"
		"         [--user USER] [--cap CAP]... [--env K=V]... [--data-path P] [--workdir P]\n"
		"         [-- ARGV...]          IMAGE is a manifest digest already pushed to the host\n"
		"  start|stop|inspect CLUSTER NODE\n"
		"  kill CLUSTER NODE [SIGNAL]    default SIGKILL; the restart policy applies\n"
		"  rm CLUSTER NODE [--force]     removes the node's folder, data included\n"
		"  ls [CLUSTER]\n"
		"  logs [-n LINES] [-f] CLUSTER NODE\n"
		"  exec CLUSTER NODE [--] ARGV...   exits with the command's status\n"
		"  facts                          cpus, memory, kernel, cgroups, runtimes\n"
		"\n"
		"--host local (default) talks to the agent on this machine (root);\n"
		"SPEC:HOST reaches HOST of spec file SPEC over its transport.\n"
		"Answers are a table (ls, inspect, create, start, stop) or KEY VALUE\n"
		"lines (facts); --json (-o json) prints the agent's answer as JSON.\n",
	.run = run_node,
};
CLI_COMMAND(node_cmd)
