/* cmd_plan.c - `shoal plan SPEC [--json] [--detailed-exitcode]`: what `up`
 * would do. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "actions.h"
#include "cli.h"
#include "converge.h"
#include "plan.h"
#include "spec.h"
#include "state.h"
#include "template.h"
#include "util.h"

/* Exit code for "changes pending" with --detailed-exitcode.  Not 2: shoal
 * uses 2 for bad usage and bad specs. */
#define EXIT_CHANGES 3

static void print_problems(const struct plan_problems *pp)
{
	for (size_t i = 0; i < pp->n; i++)
		fprintf(stderr, "%s\n", pp->items[i].msg);
}

static int problems_json(const struct err *e, const struct plan_problems *pp)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < pp->n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "node", pp->items[i].node,
						     "message", pp->items[i].msg));
	/* A failure that is no node's (state, templates, a host) is still one
	 * problem, never an empty list. */
	if (pp->n == 0)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "node", "", "message", e->msg));
	json_t *j = json_pack("{s:b, s:s, s:o}", "ok", 0, "error", e->msg, "problems", arr);
	json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
	return e->exit ? e->exit : ERR_EXIT_FAIL;
}

/* The exit code for a spec the hosts cannot hold, after reporting it. */
static int plan_failed(const struct err *e, const struct plan_problems *pp)
{
	if (cli_json())
		return problems_json(e, pp);
	print_problems(pp);
	return cli_fail(e);
}

static int cmd_plan_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"detailed-exitcode", no_argument, NULL, 'd'},
		{"offline", no_argument, NULL, 'o'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	struct plan_problems pp = {0};
	struct plan_traits *traits = NULL;
	char **images = NULL;
	struct placement prev = {0};
	struct actions acts = {0};
	struct state *st = NULL;
	struct plan *p = NULL;
	struct spec *s = NULL;
	struct err e = {0};
	struct observation obs = {0};
	char (*configs)[DIGEST_STR_LEN] = NULL;
	bool detailed = false, offline = false, accept_new = false;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd') {
			detailed = true;
			continue;
		}
		if (c == 'o') {
			offline = true;
			continue;
		}
		if (c == 'A') {
			accept_new = true;
			continue;
		}
		return cli_bad_option("plan", opts, argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("plan", "expected one spec file");
	if ((rc = cli_spec_load(argv[optind], &s)))
		return rc;
	if (template_traits_for_spec(s, NULL, &traits, &images, &e) < 0 ||
	    state_load(s->name, &st, &e) < 0) {
		rc = cli_json() ? problems_json(&e, &pp) : cli_fail(&e);
		goto out;
	}
	state_placement(st, &prev);
	if (plan_compute(s, traits, &prev, &p, &pp, &e) < 0) {
		rc = plan_failed(&e, &pp);
		goto out;
	}
	/* What the hosts really run: orphans, stopped and vanished nodes. */
	if (!offline && converge_observe(s, p, st, accept_new, &obs, &e) < 0) {
		err_wrap(&e, "ask the hosts (--offline plans from the record alone)");
		rc = cli_json() ? problems_json(&e, &pp) : cli_fail(&e);
		goto out;
	}
	if (!offline && plan_uses_taken(p, obs.taken, obs.ntaken)) {
		/* Other programs hold ports the plan gives to nodes: place
		 * around them, as `up` will. */
		plan_free(p);
		p = NULL;
		prev.taken = obs.taken;
		prev.ntaken = obs.ntaken;
		if (plan_compute(s, traits, &prev, &p, &pp, &e) < 0) {
			rc = plan_failed(&e, &pp);
			goto out;
		}
	}
	/* Digests, not names: a rebuilt recipe is a change in place. */
	if (converge_resolve_images(s, images, &e) < 0 ||
	    converge_configs(s, p, st, &configs, &e) < 0) {
		rc = cli_json() ? problems_json(&e, &pp) : cli_fail(&e);
		goto out;
	}
	actions_diff(s, p, st, (const char *const *)images,
		     (const char(*)[DIGEST_STR_LEN])configs, offline ? NULL : &obs.list, &acts,
		     &e);
	if (cli_json()) {
		json_t *j = actions_json(&acts), *w = json_array();

		for (size_t i = 0; i < p->nwarnings; i++)
			json_array_append_new(w, json_string(p->warnings[i]));
		json_object_set_new(j, "warnings", w);
		json_object_set_new(j, "ok", json_true());
		json_object_set_new(j, "cluster", json_string(s->name));
		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		for (size_t i = 0; i < p->nwarnings; i++)
			fprintf(stderr, "warning: %s\n", p->warnings[i]);
		actions_print(&acts, stdout);
	}
	if (detailed && !actions_empty(&acts))
		rc = EXIT_CHANGES;
out:
	free(configs);
	converge_observation_free(&obs);
	actions_free(&acts);
	plan_free(p);
	plan_problems_free(&pp);
	state_placement_free(&prev);
	state_free(st);
	free(traits);
	strv_free(images);
	spec_free(s);
	return rc;
}

static const struct cli_command cmd_plan = {
	.name = "plan",
	.summary = "show what 'up' would change, without changing anything",
	.usage =
		"usage: shoal plan [--json] [--detailed-exitcode] [--offline] SPEC\n"
		"\n"
		"Place the spec's nodes on its hosts (keeping recorded nodes where they\n"
		"are while they still fit) and print, in the order 'up' runs them, the\n"
		"actions that would bring the cluster from its recorded state\n"
		"(<state dir>/<cluster>/state.json, see docs/state.md) and what its\n"
		"hosts' agents report (stopped, vanished and orphan nodes) to the spec.\n"
		"Nothing on the hosts changes: no agent is installed or started, and a\n"
		"host where none runs counts as running nothing. For example:\n"
		"\n"
		"  + push IMAGE to h2\n"
		"  + create cache-3 on h2 (10.213.0.12:7003), replica of cache-2\n"
		"  ~ change cache-1 on h3 (10.213.0.13:7000): host h1 -> h3\n"
		"  + form cache, 3 masters, 3 replicas\n"
		"  + join cache-7 to cache, replica of cache-6\n"
		"  - leave cache-9 from cache / - stop ... / - remove cache-9 from h3\n"
		"  Plan: 3 to create, 1 to change, 2 to remove.\n"
		"\n"
		"A spec the hosts cannot hold fails with one line per node, e.g.\n"
		"  cache-5: rack spread needs 3 racks, hosts give 2\n"
		"\n"
		"Options:\n"
		"  --json               {\"ok\":true,\"cluster\":C,\"actions\":[{\"action\",\"node\",\n"
		"                       \"service\",\"host\",\"address\",\"port\",\"image\",\"detail\"}],\n"
		"                       \"create\":N,\"change\":N,\"remove\":N,\"changes\":B}; on\n"
		"                       failure {\"ok\":false,\"error\":E,\"problems\":[...]}:\n"
		"                       a bad spec's {\"file\",\"line\",\"path\",\"message\"},\n"
		"                       else {\"node\",\"message\"} (never empty)\n"
		"  --detailed-exitcode  exit 3 when changes are pending (0 when none)\n"
		"  --offline            do not ask the hosts; plan from the record alone\n"
		"  --accept-new-host-keys  record unknown SSH host keys (never changed ones)\n"
		"\n"
		"Exit: 0 ok (no changes, or changes without --detailed-exitcode);\n"
		"3 changes pending (--detailed-exitcode); 2 bad usage, bad spec or a\n"
		"spec the hosts cannot hold; 1 state or templates unreadable.\n",
	.run = cmd_plan_run,
};
CLI_COMMAND(cmd_plan)
