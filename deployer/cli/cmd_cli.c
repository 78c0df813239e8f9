/* cmd_cli.c - `shoal cli SPEC [NODE|SERVICE] [-- ARGS...]`: the database's
 * own client against one node, authenticated without the secret on any
 * command line, on our terminal when there is one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "spec.h"
#include "state.h"
#include "template.h"
#include "util.h"

#define MAX_CLIENT_ARGS 256

/* One database kind's client: argv to reach addr:port (args appended), and
 * the environment variable that carries the password (NULL: none). */
struct client {
	const char *kind;
	const char *program;
	const char *const *before; /* arguments before the address */
	bool host_port_flags;      /* -h ADDR -p PORT, else ADDR PORT */
	const char *auth_env;
	const char *secret;        /* "<service>.<secret>" name suffix */
};

static const char *const redis_before[] = {"-c", NULL};
static const char *const none[] = {NULL};

static const struct client clients[] = {
	/* redis-cli reads the password from REDISCLI_AUTH; -c follows MOVED. */
	{"redis", "redis-cli", redis_before, true, "REDISCLI_AUTH", "password"},
	{"cassandra", "cqlsh", none, false, NULL, NULL},
};

static const struct client *client_for(const char *kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(clients); i++)
		if (!strcmp(clients[i].kind, kind))
			return &clients[i];
	return NULL;
}

bool cli_is_db_client(const char *program)
{
	const char *base = strrchr(program, '/');

	base = base ? base + 1 : program;
	for (size_t i = 0; i < ARRAY_SIZE(clients); i++)
		if (!strcmp(clients[i].program, base))
			return true;
	return false;
}

/* The node to talk to: NODE by id, else the first master (or seed) of
 * SERVICE, else of the only service. */
static const struct state_node *pick(const struct spec *s, const struct state *st,
				     const char *want, struct err *e)
{
	const char *svc = NULL;
	const struct state_node *first = NULL;

	if (want) {
		for (size_t i = 0; i < st->n; i++)
			if (!strcmp(st->nodes[i].id, want))
				return &st->nodes[i];
		if (!spec_find_service(s, want)) {
			err_usage(e, "no node or service '%s' in cluster %s (see 'shoal status')",
				  want, s->name);
			return NULL;
		}
		svc = want;
	} else if (s->nservices == 1) {
		svc = s->services[0].name;
	} else {
		err_usage(e, "%s has %zu services: name a node or a service", s->path,
			  s->nservices);
		return NULL;
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct state_node *n = &st->nodes[i];
		bool lead = n->role && (!strcmp(n->role, "master") || !strcmp(n->role, "seed"));

		if (strcmp(n->service, svc))
			continue;
		if (!first || (lead && !(first->role && (!strcmp(first->role, "master") ||
							  !strcmp(first->role, "seed")))))
			first = n;
	}
	if (!first)
		err_set(e, 0, "service '%s' of cluster %s has no recorded nodes; run 'shoal up' first",
			svc, s->name);
	return first;
}

/* Does the user's argv already say where to connect (-h, -p, -u URI)? */
static bool names_endpoint(char *const *args)
{
	for (size_t i = 0; args && args[i]; i++)
		if (!strcmp(args[i], "-h") || !strcmp(args[i], "-p") || !strcmp(args[i], "-u"))
			return true;
	return false;
}

int cli_client_context(const char *spec_path, const char *node, const char *program,
		       char *const *user_args, char ***args, char ***env, struct err *e)
{
	const char *base = strrchr(program, '/') ? strrchr(program, '/') + 1 : program;
	const struct state_node *n;
	const struct client *cl;
	struct template *t = NULL;
	struct state *st = NULL;
	struct spec *s = NULL;
	int rc = -1;

	*args = *env = NULL;
	if (!cli_is_db_client(base))
		return 0;
	if (spec_load(spec_path, &s, NULL, e) < 0 ||
	    state_load_at(&s->state, s->name, &st, e) < 0)
		goto out;
	if (!(n = state_find(st, node))) {
		err_usage(e, "no node '%s' recorded in cluster %s (see 'shoal status')", node,
			  s->name);
		goto out;
	}
	if (template_load(NULL, spec_find_service(s, n->service)->template, &t, e) < 0)
		goto out;
	cl = client_for(t->kind);
	rc = 0;
	if (!cl || strcmp(cl->program, base)) /* another kind's client */
		goto out;
	if (cl->auth_env) {
		_cleanup_free_ char *key = xasprintf("%s.%s", n->service, cl->secret);
		const char *pw = state_secret_get(st, key);

		if (!pw) {
			rc = err_set(e, 0, "state of '%s' has no secret '%s'", s->name, key);
			goto out;
		}
		*env = xcalloc(2, sizeof **env);
		(*env)[0] = xasprintf("%s=%s", cl->auth_env, pw);
	}
	if (cl->host_port_flags && !names_endpoint(user_args)) {
		*args = xcalloc(5, sizeof **args);
		(*args)[0] = xstrdup("-h");
		(*args)[1] = xstrdup(n->address);
		(*args)[2] = xstrdup("-p");
		(*args)[3] = xasprintf("%d", n->port);
	}
out:
	template_free(t);
	state_free(st);
	spec_free(s);
	return rc;
}

static int cmd_cli_run(int argc, char **argv)
{
	const char *node_arg = NULL, *cargv[MAX_CLIENT_ARGS + 16];
	const struct state_node *n;
	const struct client *cl;
	struct template *t = NULL;
	struct state *st = NULL;
	struct spec *s = NULL;
	struct err e = {0};
	char port[16];
	int i = 1, k = 0, rc;

	if (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"))
		return cli_usage_error("cli", "unknown option '%s'", argv[i]);
	if (i >= argc || !strcmp(argv[i], "--"))
		return cli_usage_error("cli", "expected SPEC [NODE|SERVICE] [-- ARGS...]");
	const char *spec = argv[i++];

	if (i < argc && strcmp(argv[i], "--"))
		node_arg = argv[i++];
	if (i < argc && strcmp(argv[i], "--"))
		return cli_usage_error("cli", "'%s': client arguments go after '--'", argv[i]);
	if (i < argc)
		i++; /* "--" */
	if (argc - i > MAX_CLIENT_ARGS)
		return cli_usage_error("cli", "more than %d client arguments", MAX_CLIENT_ARGS);
	if ((rc = cli_spec_load(spec, &s)))
		return rc;
	if (state_load_at(&s->state, s->name, &st, &e) < 0 || !(n = pick(s, st, node_arg, &e)) ||
	    template_load(NULL, spec_find_service(s, n->service)->template, &t, &e) < 0) {
		rc = cli_fail(&e);
		goto out;
	}
	cl = client_for(t->kind);
	if (!cl) {
		err_usage(&e, "service %s: kind '%s' has no client command here (use 'shoal exec')",
			  n->service, t->kind);
		rc = cli_fail(&e);
		goto out;
	}
	if (cl->auth_env) {
		_cleanup_free_ char *key = xasprintf("%s.%s", n->service, cl->secret);
		const char *pw = state_secret_get(st, key);

		if (!pw) {
			err_set(&e, 0, "state of '%s' has no secret '%s'", s->name, key);
			rc = cli_fail(&e);
			goto out;
		}
		/* In the environment, never on a command line (ps shows those). */
		if (setenv(cl->auth_env, pw, 1) < 0) {
			err_sys(&e, errno, "setenv %s", cl->auth_env);
			rc = cli_fail(&e);
			goto out;
		}
	}
	snprintf(port, sizeof port, "%d", n->port);
	cargv[k++] = cl->program;
	for (const char *const *b = cl->before; *b; b++)
		cargv[k++] = *b;
	if (cl->host_port_flags) {
		cargv[k++] = "-h";
		cargv[k++] = n->address;
		cargv[k++] = "-p";
		cargv[k++] = port;
	} else {
		cargv[k++] = n->address;
		cargv[k++] = port;
	}
	while (i < argc)
		cargv[k++] = argv[i++];
	cargv[k] = NULL;
	fflush(stdout);
	/* The client takes over this process: our terminal (when stdin is one)
	 * is its terminal, and its exit status is ours. */
	execvp(cl->program, (char *const *)cargv);
	err_sys(&e, errno, "%s (the client of %s; is it installed?)", cl->program, t->kind);
	rc = 127;
	fprintf(stderr, "shoal: %s\n", e.msg);
out:
	template_free(t);
	state_free(st);
	spec_free(s);
	return rc;
}

static const struct cli_command cmd_cli = {
	.name = "cli",
	.summary = "open the database's own client on a node (redis-cli -c, cqlsh)",
	.usage =
		"usage: shoal cli SPEC [NODE|SERVICE] [-- ARGS...]\n"
		"\n"
		"Run the database's client on this machine against NODE (a node id), or\n"
		"the first master (seed) of SERVICE, or of the spec's only service, at\n"
		"the address and port the state records:\n"
		"\n"
		"  redis      redis-cli -c -h ADDR -p PORT ARGS  (the cluster password in\n"
		"             REDISCLI_AUTH, never on a command line; -c follows MOVED)\n"
		"  cassandra  cqlsh ADDR PORT ARGS\n"
		"\n"
		"Without ARGS the client is interactive, on this terminal when stdin is\n"
		"one (the client replaces shoal, as `exec` in a shell).  Examples:\n"
		"\n"
		"  shoal cli cluster-specs/lab-redis.cfg                 # a prompt\n"
		"  shoal cli cluster-specs/lab-redis.cfg cache-3 -- cluster info\n"
		"  shoal cli cluster-specs/lab-redis.cfg -- set hello world\n"
		"\n"
		"Exit: the client's; 127 when it is not installed (redis-cli is in\n"
		"Debian's redis-tools); 1 nothing recorded; 2 bad usage or spec.\n",
	.run = cmd_cli_run,
};
CLI_COMMAND(cmd_cli)
