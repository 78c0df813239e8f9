/* shoal.c - the operator CLI: global options and command dispatch. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "log.h"
#include "util.h"
#include "version.h"

#define MAX_COMMANDS 64

static const struct cli_command *commands[MAX_COMMANDS];
static size_t ncommands;

void cli_register(const struct cli_command *c)
{
	if (ncommands == MAX_COMMANDS)
		abort();
	commands[ncommands++] = c;
}

static bool wide_output;

bool cli_json(void)
{
	return log_is_json();
}

bool cli_wide(void)
{
	return wide_output;
}

/* -o/--output FORMAT: json (= --json), text (the default), wide (text with
 * more columns where a command has them).  Returns 0, or 2 after a usage
 * error. */
static int set_output(const char *fmt)
{
	if (!strcmp(fmt, "json")) {
		log_set_json(true);
	} else if (!strcmp(fmt, "text")) {
		log_set_json(false);
		wide_output = false;
	} else if (!strcmp(fmt, "wide")) {
		log_set_json(false);
		wide_output = true;
	} else {
		fprintf(stderr, "shoal: -o takes json, text or wide, not '%s'\n", fmt);
		return ERR_EXIT_USAGE;
	}
	return 0;
}

/* Is argv[*i] an output option?  Then apply it (taking its value from the
 * next argument when separate) and return 1; 0 when it is not one; -1 after
 * a usage error (*rc set). */
static int output_option(int argc, char **argv, int *i, int *rc)
{
	const char *a = argv[*i], *v = NULL;

	if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "shoal: %s needs json, text or wide\n", a);
			*rc = ERR_EXIT_USAGE;
			return -1;
		}
		v = argv[++*i];
	} else if (!strncmp(a, "--output=", 9)) {
		v = a + 9;
	} else if (!strncmp(a, "-o", 2)) {
		v = a + 2;
	} else {
		return 0;
	}
	*rc = set_output(v);
	return *rc ? -1 : 1;
}

int cli_fail(const struct err *e)
{
	fprintf(stderr, "shoal: %s\n", e->msg[0] ? e->msg : "failed");
	return e->exit ? e->exit : ERR_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shoal %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'shoal help %s')\n", cmd);
	return ERR_EXIT_USAGE;
}

size_t cli_commands(const struct cli_command *const **out)
{
	*out = commands;
	return ncommands;
}

static int by_name(const void *a, const void *b)
{
	const struct cli_command *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static const struct cli_command *find(const char *name)
{
	for (size_t i = 0; i < ncommands; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

/* "shoal: no command 'stauts'; did you mean 'status'?" */
static int no_command(const char *who, const char *name)
{
	const char *names[MAX_COMMANDS];
	const char *sug;

	for (size_t i = 0; i < ncommands; i++)
		names[i] = commands[i]->name;
	sug = cli_closest(name, names, ncommands);
	if (sug)
		fprintf(stderr, "%s: no command '%s'; did you mean '%s'? (see 'shoal --help')\n",
			who, name, sug);
	else
		fprintf(stderr, "%s: no command '%s' (see 'shoal --help')\n", who, name);
	return ERR_EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shoal [-v|-q] [--json|-o json|text|wide] COMMAND [ARGS...]\n"
		"\n"
		"shoal places, packages, deploys and heals clusters of masterless\n"
		"database nodes (Redis Cluster, Cassandra, Riak) from one spec.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < ncommands; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f,
		"\n"
		"Global options:\n"
		"  -v, --verbose  more detail (debug messages)\n"
		"  -q, --quiet    errors only\n"
		"  --json         machine-readable output on stdout (one JSON document\n"
		"                 per command, schemas in 'shoal help COMMAND')\n"
		"  -o, --output FORMAT  json (the same as --json), text (the default)\n"
		"                 or wide (text with more columns: status)\n"
		"  --version      print the version\n"
		"\n"
		"Exit codes: 0 ok, 1 operation failed, 2 bad usage or bad spec.\n"
		"'shoal help COMMAND' describes one command.\n");
}

static int cmd_help_run(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	c = find(argv[1]);
	if (!c)
		return no_command("shoal help", argv[1]);
	printf("%s", c->usage);
	return 0;
}

static const struct cli_command cmd_help = {
	.name = "help",
	.summary = "describe a command",
	.usage = "usage: shoal help [COMMAND]\n\n"
		 "Without COMMAND, list every command; with it, describe it.\n",
	.run = cmd_help_run,
};
CLI_COMMAND(cmd_help)

static int cmd_version_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (cli_json())
		printf("{\"version\":\"%s\"}\n", SHOAL_VERSION);
	else
		printf("shoal %s\n", SHOAL_VERSION);
	return 0;
}

static const struct cli_command cmd_version = {
	.name = "version",
	.summary = "print the version",
	.usage = "usage: shoal version [--json]\n",
	.run = cmd_version_run,
};
CLI_COMMAND(cmd_version)

int main(int argc, char **argv)
{
	const struct cli_command *c;
	int i, o, orc = 0;

	/* A closed pipe to a host or agent is an error to report, not a death. */
	signal(SIGPIPE, SIG_IGN);
	db_register_kinds();
	qsort(commands, ncommands, sizeof commands[0], by_name);
	/* Global options come before the command; --json, -v and -q are also
	 * accepted after it and removed from the command's argv. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("shoal %s\n", SHOAL_VERSION);
			return 0;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			log_set_level(LOG_DEBUG);
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			log_set_level(LOG_ERROR);
		} else if (!strcmp(a, "--json")) {
			log_set_json(true);
		} else if ((o = output_option(argc, argv, &i, &orc)) != 0) {
			if (o < 0)
				return orc;
		} else {
			fprintf(stderr, "shoal: unknown option '%s' (see 'shoal --help')\n", a);
			return ERR_EXIT_USAGE;
		}
	}
	if (i == argc) {
		usage(stderr);
		return ERR_EXIT_USAGE;
	}
	c = find(argv[i]);
	if (!c)
		return no_command("shoal", argv[i]);
	/* Strip global flags that follow the command, stopping at "--". */
	int n = 0;
	char **sub = xcalloc((size_t)(argc - i + 1), sizeof *sub);
	bool dashdash = false;

	for (int j = i; j < argc; j++) {
		const char *a = argv[j];

		if (!dashdash && j > i) {
			if (!strcmp(a, "--"))
				dashdash = true;
			else if (!strcmp(a, "--json")) {
				log_set_json(true);
				continue;
			} else if ((o = output_option(argc, argv, &j, &orc)) != 0) {
				if (o < 0) {
					free(sub);
					return orc;
				}
				continue;
			} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
				log_set_level(LOG_DEBUG);
				continue;
			} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
				log_set_level(LOG_ERROR);
				continue;
			} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
				printf("%s", c->usage);
				free(sub);
				return 0;
			}
		}
		sub[n++] = argv[j];
	}
	optind = 1;
	/* Commands report refused options themselves (cli_bad_option), once. */
	opterr = 0;
	int rc = c->run(n, sub);

	free(sub);
	fflush(stdout);
	return rc;
}
