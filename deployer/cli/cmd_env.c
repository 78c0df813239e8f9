/* cmd_env.c - `shoal env SPEC [SERVICE]`: a client's connection settings as
 * shell assignments, for eval. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shellquote.h"
#include "spec.h"
#include "state.h"
#include "template.h"
#include "util.h"

/* Values reach a shell: refuse any control character even though the value
 * is single-quoted (a newline would still end up in the variable). */
static int emit(struct buf *out, const char *name, const char *value, struct err *e)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_usage(e, "%s: the recorded value has a control character", name);
	if (cli_json()) {
		/* One JSON object {"NAME":"value",...}: the braces come from
		 * the caller, each member from here. */
		json_t *v = json_string(value);
		char *q = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

		json_decref(v);
		if (!q)
			return err_usage(e, "%s: the recorded value is not UTF-8", name);
		buf_printf(out, "%s\"%s\":%s", out->len > 1 ? "," : "", name, q);
		explicit_bzero(q, strlen(q));
		free(q);
		return 0;
	}
	buf_printf(out, "export %s=", name);
	shell_quote_word(out, value);
	buf_puts(out, "\n");
	return 0;
}

static const struct spec_service *pick_service(const struct spec *s, const char *name,
					       struct err *e)
{
	const struct spec_service *svc;

	if (name) {
		svc = spec_find_service(s, name);
		if (!svc)
			err_usage(e, "%s: no service '%s'", s->path, name);
		return svc;
	}
	if (s->nservices == 1)
		return &s->services[0];
	struct buf b = {0};
	for (size_t i = 0; i < s->nservices; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", s->services[i].name);
	err_usage(e, "%s has %zu services (%s): name one", s->path, s->nservices,
		  b.data ? b.data : "");
	buf_free(&b);
	return NULL;
}

/* A kind that serves HTTP (its health or readiness probe is http on a port
 * of its own): SHOAL_HTTP for the first node, SHOAL_HTTP_SEEDS for all. */
static int env_http(const struct spec_service *svc, const struct state *st,
		    const struct template *t, const struct state_node *first, struct buf *out,
		    struct err *e)
{
	const struct tmpl_probe *p = t->health.kind == PROBE_HTTP ? &t->health : &t->readiness;
	struct buf seeds = {0};
	char *url;
	int rc;

	if (p->kind != PROBE_HTTP || !p->port)
		return 0;
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->nodes[i].service, svc->name))
			buf_printf(&seeds, "%shttp://%s:%d", seeds.len ? "," : "",
				   st->nodes[i].address, p->port);
	url = xasprintf("http://%s:%d", first->address, p->port);
	rc = emit(out, "SHOAL_HTTP", url, e) < 0 || emit(out, "SHOAL_HTTP_SEEDS", seeds.data, e) < 0
		     ? -1
		     : 0;
	free(url);
	buf_free(&seeds);
	return rc;
}

/* Build the assignments for one service from the recorded state. */
static int env_for(const struct spec_service *svc, struct state *st, struct buf *out,
		   struct err *e)
{
	struct buf seeds = {0};
	const struct state_node *first = NULL;
	struct template *t = NULL;
	int rc = 0;

	for (size_t i = 0; i < st->n; i++) {
		const struct state_node *n = &st->nodes[i];

		if (strcmp(n->service, svc->name))
			continue;
		/* masters and seeds first: they are what a client should try */
		if (!first || (strcmp(first->role, "master") && strcmp(first->role, "seed") &&
			       (!strcmp(n->role, "master") || !strcmp(n->role, "seed"))))
			first = n;
		buf_printf(&seeds, "%s%s:%d", seeds.len ? "," : "", n->address, n->port);
	}
	if (!first) {
		buf_free(&seeds);
		return err_set(e, 0, "service '%s' of cluster '%s' has no recorded nodes; run 'shoal up' first",
			       svc->name, st->cluster);
	}
	char port[16];
	snprintf(port, sizeof port, "%d", first->port);
	if (emit(out, "SHOAL_SEEDS", seeds.data, e) < 0 ||
	    emit(out, "SHOAL_HOST", first->address, e) < 0 || emit(out, "SHOAL_PORT", port, e) < 0)
		rc = -1;
	buf_free(&seeds);
	if (rc < 0)
		return -1;
	if (template_load(NULL, svc->template, &t, e) < 0)
		return -1;
	rc = env_http(svc, st, t, first, out, e);
	if (rc == 0 && !strcmp(t->kind, "redis")) {
		char *key = xasprintf("%s.password", svc->name);
		const char *pw = state_secret_get(st, key);

		if (!pw)
			rc = err_set(e, 0, "state of '%s' has no secret '%s'", st->cluster, key);
		else
			rc = emit(out, "REDISCLI_AUTH", pw, e);
		free(key);
	}
	template_free(t);
	return rc;
}

static int cmd_env_run(int argc, char **argv)
{
	struct state *st = NULL;
	struct spec *s = NULL;
	struct buf out = {0};
	struct err e = {0};
	int rc = 0;

	if (getopt(argc, argv, "") != -1)
		return cli_usage_error("env", "unknown option '%s'", argv[optind - 1]);
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("env", "expected SPEC [SERVICE]");
	if ((rc = cli_spec_load(argv[optind], &s)))
		return rc;
	const struct spec_service *svc = pick_service(s, argc - optind == 2 ? argv[optind + 1] : NULL, &e);
	if (cli_json())
		buf_puts(&out, "{");
	if (!svc || state_load_at(&s->state, s->name, &st, &e) < 0 || env_for(svc, st, &out, &e) < 0) {
		rc = cli_fail(&e);
	} else {
		if (cli_json())
			buf_puts(&out, "}\n");
		fputs(out.data, stdout);
	}
	if (out.data)
		explicit_bzero(out.data, out.len);
	buf_free(&out);
	state_free(st);
	spec_free(s);
	return rc;
}

static const struct cli_command cmd_env = {
	.name = "env",
	.summary = "print a client's connection settings as shell assignments",
	.usage =
		"usage: shoal env [--json] SPEC [SERVICE]\n"
		"\n"
		"Print, from the recorded state (docs/state.md), what a client needs to\n"
		"reach SERVICE (required when the spec has more than one):\n"
		"\n"
		"  export SHOAL_SEEDS='10.213.0.11:7000,10.213.0.12:7000,...'  every node\n"
		"  export SHOAL_HOST='10.213.0.11'   a master (or seed) to start from\n"
		"  export SHOAL_PORT='7000'\n"
		"  export REDISCLI_AUTH='...'        redis services: the cluster password\n"
		"  export SHOAL_HTTP='http://10.213.0.11:8098'  kinds that serve HTTP (Riak):\n"
		"  export SHOAL_HTTP_SEEDS='http://...,...'     the first node, every node\n"
		"\n"
		"Values are single-quoted for POSIX shells and never hold control\n"
		"characters, so this is safe:\n"
		"\n"
		"  eval \"$(shoal env cluster.cfg cache)\"\n"
		"  redis-cli -c -h \"$SHOAL_HOST\" -p \"$SHOAL_PORT\" set k v\n"
		"\n"
		"With --json (-o json): one object of the same names and values,\n"
		"{\"SHOAL_SEEDS\":...,\"SHOAL_HOST\":...,\"SHOAL_PORT\":...,\"REDISCLI_AUTH\":...}.\n"
		"\n"
		"Secrets are printed only here (and by status when explicitly asked).\n"
		"\n"
		"Exit: 0 ok; 1 nothing recorded yet (run 'shoal up') or state\n"
		"unreadable; 2 bad usage, bad spec or unknown service.\n",
	.run = cmd_env_run,
};
CLI_COMMAND(cmd_env)
