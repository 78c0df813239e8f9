/* cmd_plan.c - `shoal plan SPEC [--json] [--detailed-exitcode]`: what `up`
 * would do. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "cli.h"
#include "converge.h"
#include "digest.h"
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

/* Everything a computed plan holds; plan_run_free() releases it. */
struct plan_run {
	struct spec *s;
	struct state *st;
	struct plan *p;
	struct actions acts;
	struct plan_problems pp;
	struct plan_traits *traits;
	char **images;
	struct placement prev;
	struct observation obs;
	struct node_config *configs;
};

static void plan_run_free(struct plan_run *r)
{
	node_configs_free(r->configs, r->configs && r->p ? r->p->n : 0);
	converge_observation_free(&r->obs);
	actions_free(&r->acts);
	plan_free(r->p);
	plan_problems_free(&r->pp);
	state_placement_free(&r->prev);
	state_free(r->st);
	free(r->traits);
	strv_free(r->images);
	spec_free(r->s);
	memset(r, 0, sizeof *r);
}

/* Compute what `up` would do for the spec at path.  Returns 0, or the exit
 * code after reporting the failure (text or --json). */
static int plan_run_compute(const char *path, bool offline, bool accept_new,
			    struct plan_run *r)
{
	struct err e = {0};
	int rc;

	if ((rc = cli_spec_load(path, &r->s)))
		return rc;
	if (template_traits_for_spec(r->s, NULL, &r->traits, &r->images, &e) < 0 ||
	    state_load_at(&r->s->state, r->s->name, &r->st, &e) < 0)
		return cli_json() ? problems_json(&e, &r->pp) : cli_fail(&e);
	for (size_t h = 0; h < r->s->nhosts; h++)
		if ((r->s->hosts[h].drained = state_drained(r->st, r->s->hosts[h].name)) &&
		    !cli_json())
			printf("%s: drained: no node is placed there ('shoal undrain SPEC %s')\n",
			       r->s->hosts[h].name, r->s->hosts[h].name);
	state_placement(r->st, &r->prev);
	if (plan_compute(r->s, r->traits, &r->prev, &r->p, &r->pp, &e) < 0)
		return plan_failed(&e, &r->pp);
	/* What the hosts really run: orphans, stopped and vanished nodes. */
	if (!offline && converge_observe(r->s, r->p, r->st, accept_new, &r->obs, &e) < 0) {
		err_wrap(&e, "ask the hosts (--offline plans from the record alone)");
		return cli_json() ? problems_json(&e, &r->pp) : cli_fail(&e);
	}
	if (!offline && plan_uses_taken(r->p, r->obs.taken, r->obs.ntaken)) {
		/* Other programs hold ports the plan gives to nodes: place
		 * around them, as `up` will. */
		plan_free(r->p);
		r->p = NULL;
		r->prev.taken = r->obs.taken;
		r->prev.ntaken = r->obs.ntaken;
		if (plan_compute(r->s, r->traits, &r->prev, &r->p, &r->pp, &e) < 0)
			return plan_failed(&e, &r->pp);
	}
	/* Digests, not names: a rebuilt recipe is a change in place. */
	if (converge_resolve_images(r->s, r->images, &e) < 0 ||
	    converge_configs(r->s, r->p, r->st, &r->configs, &e) < 0)
		return cli_json() ? problems_json(&e, &r->pp) : cli_fail(&e);
	actions_diff(r->s, r->p, r->st, (const char *const *)r->images, r->configs,
		     offline ? NULL : &r->obs.list, &r->acts, &e);
	converge_name_images(&r->acts);
	return 0;
}

/* ---- saved plans (plan --out FILE, up FILE) -------------------------------- */

#define PLANFILE_FORMAT "shoal-plan/1"

/* sha256 of a file's bytes ("" when it cannot be read). */
static void file_digest(const char *path, char out[DIGEST_STR_LEN])
{
	struct err e = {0};

	if (digest_file(path, out, NULL, &e) < 0)
		out[0] = '\0';
}

/* The saved form: the spec (path and digest), the state it was planned
 * against (digest of state.json) and the actions. */
static json_t *planfile_json(const char *spec_path, const struct plan_run *r)
{
	char sd[DIGEST_STR_LEN], td[DIGEST_STR_LEN];
	_cleanup_free_ char *dir = NULL, *stf = NULL;
	char real[PATH_MAX];
	struct err e = {0};

	file_digest(spec_path, sd);
	if (state_dir(r->s->name, &dir, &e) == 0)
		stf = path_join(dir, "state.json");
	if (stf)
		file_digest(stf, td);
	else
		td[0] = '\0';
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "format", PLANFILE_FORMAT, "spec",
			 realpath(spec_path, real) ? real : spec_path, "spec_digest", sd,
			 "cluster", r->s->name, "state_digest", td, "plan",
			 actions_json(&r->acts));
}

int cli_planfile_read(const char *path, char **spec_path, json_t **saved)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	const char *fmt = json_string_value(json_object_get(j, "format"));
	const char *sp = json_string_value(json_object_get(j, "spec"));

	if (!j || !fmt || strcmp(fmt, PLANFILE_FORMAT) || !sp) {
		json_decref(j);
		return 0;
	}
	*spec_path = xstrdup(sp);
	*saved = j;
	return 1;
}

int cli_planfile_verify(const char *planfile, json_t *saved, bool accept_new)
{
	struct plan_run r = {0};
	const char *spec = json_string_value(json_object_get(saved, "spec"));
	int rc = plan_run_compute(spec, false, accept_new, &r);
	json_t *now;

	if (rc) {
		plan_run_free(&r);
		return rc;
	}
	now = planfile_json(spec, &r);
	if (!json_equal(json_object_get(now, "spec_digest"), json_object_get(saved, "spec_digest")))
		rc = cli_usage_error("up", "%s: the spec %s changed since the plan was saved; "
				     "run 'shoal plan --out' again", planfile, spec);
	else if (!json_equal(json_object_get(now, "state_digest"),
			     json_object_get(saved, "state_digest")) ||
		 !json_equal(json_object_get(now, "plan"), json_object_get(saved, "plan")))
		rc = cli_usage_error("up", "%s: the cluster changed since the plan was saved "
				     "(its record or what the hosts run); run 'shoal plan --out' "
				     "again", planfile);
	json_decref(now);
	plan_run_free(&r);
	return rc;
}

int cli_plan_confirm(const char *spec, bool accept_new)
{
	struct plan_run r = {0};
	char answer[16] = "";
	int rc = plan_run_compute(spec, false, accept_new, &r);

	if (rc) {
		plan_run_free(&r);
		return rc;
	}
	if (actions_empty(&r.acts)) {
		plan_run_free(&r);
		return 0;
	}
	for (size_t i = 0; i < r.p->nwarnings; i++)
		fprintf(stderr, "warning: %s\n", r.p->warnings[i]);
	actions_print(&r.acts, stdout);
	printf("\nDo these actions? Only 'yes' is taken (--auto-approve skips this): ");
	fflush(stdout);
	if (!fgets(answer, sizeof answer, stdin) || strcmp(answer, "yes\n")) {
		printf("Nothing changed.\n");
		rc = ERR_EXIT_FAIL;
	}
	plan_run_free(&r);
	return rc;
}

static int cmd_plan_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"detailed-exitcode", no_argument, NULL, 'd'},
		{"offline", no_argument, NULL, 'o'},
		{"accept-new-host-keys", no_argument, NULL, 'A'},
		{"out", required_argument, NULL, 'O'},
		{NULL, 0, NULL, 0},
	};
	struct plan_run r = {0};
	bool detailed = false, offline = false, accept_new = false;
	const char *out = NULL;
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
		if (c == 'O') {
			out = optarg;
			continue;
		}
		return cli_bad_option("plan", opts, argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("plan", "expected one spec file");
	if (out && offline)
		return cli_usage_error("plan", "--out saves what the hosts run too: not with --offline");
	if ((rc = plan_run_compute(argv[optind], offline, accept_new, &r)))
		goto out;
	if (cli_json()) {
		json_t *j = actions_json(&r.acts), *w = json_array();

		for (size_t i = 0; i < r.p->nwarnings; i++)
			json_array_append_new(w, json_string(r.p->warnings[i]));
		json_object_set_new(j, "warnings", w);
		json_object_set_new(j, "ok", json_true());
		json_object_set_new(j, "cluster", json_string(r.s->name));
		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		for (size_t i = 0; i < r.p->nwarnings; i++)
			fprintf(stderr, "warning: %s\n", r.p->warnings[i]);
		actions_print(&r.acts, stdout);
	}
	if (out) {
		json_t *pf = planfile_json(argv[optind], &r);
		_cleanup_free_ char *tmp = xasprintf("%s.tmp", out);

		if (json_dump_file(pf, tmp, JSON_INDENT(1)) < 0 || rename(tmp, out) < 0) {
			fprintf(stderr, "shoal plan: cannot write %s\n", out);
			unlink(tmp);
			rc = ERR_EXIT_FAIL;
		} else if (!cli_json()) {
			printf("Saved the plan to %s: 'shoal up %s' applies exactly it.\n", out, out);
		}
		json_decref(pf);
		if (rc)
			goto out;
	}
	if (detailed && !actions_empty(&r.acts))
		rc = EXIT_CHANGES;
out:
	plan_run_free(&r);
	return rc;
}

static const struct cli_command cmd_plan = {
	.name = "plan",
	.summary = "show what 'up' would change, without changing anything",
	.usage =
		"usage: shoal plan [--json] [--detailed-exitcode] [--offline] [--out PLANFILE] SPEC\n"
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
		"  --out PLANFILE       also save the plan; 'shoal up PLANFILE' applies\n"
		"                       exactly it, refused when the spec, the record or\n"
		"                       what the hosts run changed since\n"
		"  --accept-new-host-keys  record unknown SSH host keys (never changed ones)\n"
		"\n"
		"Exit: 0 ok (no changes, or changes without --detailed-exitcode);\n"
		"3 changes pending (--detailed-exitcode); 2 bad usage, bad spec or a\n"
		"spec the hosts cannot hold; 1 state or templates unreadable.\n",
	.run = cmd_plan_run,
};
CLI_COMMAND(cmd_plan)
