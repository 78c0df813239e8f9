/* cmd_state.c - `shoal state show|migrate`: the stored state of a cluster as
 * it is, and moving it between the file and the etcd store (docs/ha.md). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "spec.h"
#include "state.h"
#include "util.h"

/* The spec's store with its backend set to `name` ("file" or "etcd");
 * -1 (usage) for another name or etcd without endpoints. */
static int store_named(const struct spec *s, const char *name, struct spec_state *out,
		       struct err *e)
{
	*out = s->state;
	if (!strcmp(name, "file")) {
		out->backend = STATE_FILE;
		return 0;
	}
	if (strcmp(name, "etcd"))
		return err_usage(e, "'%s' is not a store: write file or etcd", name);
	out->backend = STATE_ETCD;
	if (!s->state.nendpoints)
		return err_usage(e, "%s: state.endpoints names no etcd endpoint", s->path);
	return 0;
}

static int state_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	const char *from = NULL;
	struct spec *s = NULL;
	struct spec_state where;
	struct err e = {0};
	char *text = NULL, *what = NULL;
	size_t len = 0;
	int64_t rev;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f') {
			from = optarg;
			continue;
		}
		return cli_usage_error("state", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("state", "show: expected one spec file");
	if (spec_load(argv[optind], &s, NULL, &e) < 0)
		return cli_fail(&e);
	cli_find_state_root(s);
	where = s->state;
	if ((from && store_named(s, from, &where, &e) < 0) ||
	    state_read_text(&where, s->name, &text, &len, &rev, &what, &e) < 0) {
		rc = cli_fail(&e);
	} else if (!text) {
		fprintf(stderr, "shoal: cluster '%s': no state in %s\n", s->name, what);
		rc = 1;
	} else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		rc = 1;
	}
	if (text)
		explicit_bzero(text, len);
	free(text);
	free(what);
	spec_free(s);
	return rc;
}

static int state_migrate_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},
		{"replace", no_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	struct state_migrate_report r;
	struct spec_state from, to;
	const char *target = NULL;
	struct spec *s = NULL;
	bool replace = false;
	struct err e = {0};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			target = optarg;
			break;
		case 'r':
			replace = true;
			break;
		default:
			return cli_usage_error("state", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !target)
		return cli_usage_error("state", "migrate: expected SPEC and --to etcd|file");
	if (strcmp(target, "etcd") && strcmp(target, "file"))
		return cli_usage_error("state", "migrate: --to '%s': write etcd or file", target);
	if (spec_load(argv[optind], &s, NULL, &e) < 0)
		return cli_fail(&e);
	cli_find_state_root(s);
	if (store_named(s, target, &to, &e) < 0 ||
	    store_named(s, strcmp(target, "etcd") ? "etcd" : "file", &from, &e) < 0 ||
	    state_migrate(&from, &to, s->name, replace, "state migrate", &r, &e) < 0) {
		spec_free(s);
		return cli_fail(&e);
	}
	if (cli_json()) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I, s:b, s:b}",
				      "cluster", s->name, "from", r.from, "to", r.to, "serial",
				      (json_int_t)r.serial, "nodes", (json_int_t)r.nodes,
				      "state_bytes", (json_int_t)r.state_bytes, "state_digest",
				      r.state_digest, "events", (json_int_t)r.events, "events_bytes",
				      (json_int_t)r.events_bytes, "canonical_source",
				      r.canonical_source, "replaced", r.replaced);

		json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(j);
	} else {
		printf("cluster '%s': state serial %" PRIu64 " (%zu nodes, %zu bytes, %s) and %zu "
		       "events (%zu bytes) copied from %s to %s; read back byte for byte%s%s\n",
		       s->name, r.serial, r.nodes, r.state_bytes, r.state_digest, r.events,
		       r.events_bytes, r.from, r.to,
		       r.canonical_source ? "" : " (the source was not in canonical form: moved in it)",
		       r.replaced ? " (replaced the state that was there)" : "");
		printf("now set state.backend = \"%s\" in %s; the copy in %s is left as it was\n",
		       target, s->path, r.from);
	}
	spec_free(s);
	return 0;
}

static int cmd_state_run(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("state", "expected show or migrate");
	if (!strcmp(argv[1], "show"))
		return state_show(argc - 1, argv + 1);
	if (!strcmp(argv[1], "migrate"))
		return state_migrate_cmd(argc - 1, argv + 1);
	return cli_usage_error("state", "unknown subcommand '%s' (show or migrate)", argv[1]);
}

static const struct cli_command cmd_state = {
	.name = "state",
	.summary = "show a cluster's stored state, or move it between stores",
	.usage =
		"usage: shoal state show SPEC [--from file|etcd]\n"
		"       shoal state migrate SPEC --to etcd|file [--replace]\n"
		"\n"
		"show prints the state as stored (state.json, or the etcd key\n"
		"PREFIX/CLUSTER/state), byte for byte, from the store the spec names\n"
		"or the one --from names.  It holds the cluster's secrets.\n"
		"\n"
		"migrate copies the cluster's state and events from the other store\n"
		"into the one --to names, with both locked, then reads them back and\n"
		"compares them byte for byte with what it wrote (the canonical JSON\n"
		"shoal writes).  The etcd store is the spec's state.endpoints and\n"
		"state.prefix, the file store <state dir>/CLUSTER/.  The source is\n"
		"left as it was; set state.backend in the spec afterwards.  A target\n"
		"that holds a different state is refused unless --replace.  A state\n"
		"with secrets goes to etcd only with state.store_secrets = true.\n"
		"See docs/ha.md.\n"
		"\n"
		"Exit: 0 done; 1 no state, a lock held, a store unreachable, or a\n"
		"read-back that differs; 2 bad usage or bad spec.\n",
	.run = cmd_state_run,
};
CLI_COMMAND(cmd_state)
