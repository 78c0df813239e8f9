/* cli.h - how a `shoal` command plugs into the CLI.
 *
 * Each command lives in its own cmd_<name>.c and registers one
 * struct cli_command with CLI_COMMAND(); shoal.c dispatches, prints --help and
 * `shoal help NAME` from these records.  A command's run() gets argv with
 * argv[0] = the command name and the global options (-v, -q, --json) already
 * removed, and returns the process exit code (0 ok, 1 failed, 2 bad usage).
 */
#ifndef SHOAL_CLI_H
#define SHOAL_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "spec.h"

struct option;

struct cli_command {
	const char *name;
	const char *summary; /* one line for `shoal --help` */
	const char *usage;   /* full text for `shoal help NAME` */
	int (*run)(int argc, char **argv);
};

void cli_register(const struct cli_command *c);
/* The registered commands, sorted by name (after main() started). */
size_t cli_commands(const struct cli_command *const **out);

#define CLI_COMMAND(cmd)                                                  \
	static void __attribute__((constructor)) cli_register_##cmd(void) \
	{                                                                 \
		cli_register(&cmd);                                       \
	}

/* Print "shoal: <message>" to stderr and return the err's exit code. */
int cli_fail(const struct err *e);
/* Print "shoal <cmd>: <msg>" plus a hint to run `shoal help <cmd>`; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* True when --json (or -o json) was given. */
bool cli_json(void);
/* True when -o wide was given: text with more columns. */
bool cli_wide(void);

/* ---- specs (cli_spec.c) ----------------------------------------------------
 * Every command that reads a spec loads it with these, so a spec with one
 * problem prints that problem as surely as one with nine. */

/* Load the spec at path.  Returns 0 with *out owned by the caller, or the
 * exit code (2 bad spec, 1 unreadable) after cli_spec_report(); *out NULL. */
int cli_spec_load(const char *path, struct spec **out);
/* (cli_spec_load does this.)  The file store's root when $SHOAL_STATE_DIR
 * is not set is ".shoal" in the current folder; but when that holds no
 * folder for the cluster and the spec's own folder does, that one (said on
 * stderr), so that a command run from elsewhere finds the cluster `up`
 * recorded beside its spec.  Set as $SHOAL_STATE_DIR, so that every later
 * step (and a monitor started from here) reads the same store. */
void cli_find_state_root(const struct spec *s);
/* Load and free: a command whose library call loads the spec itself checks it
 * first with this, so its problems are printed the same way. */
int cli_spec_check(const char *path);
/* Report a spec that failed to load: every problem on stderr as
 * "FILE:LINE: KEY.PATH: MESSAGE", then "shoal: <e>"; with --json also one
 * object {"ok":false,"file":F,"error":E,"problems":[{"file","line","path",
 * "message"}]} on stdout.  Returns the exit code. */
int cli_spec_report(const char *path, const struct spec_problems *ps, const struct err *e);
/* The problems as a JSON array of {"file","line","path","message"}; when ps
 * is empty and e has a message, that message is the one problem. */
json_t *cli_problems_json(const char *file, const struct spec_problems *ps,
			  const struct err *e);

/* ---- saved plans and confirmation (cmd_plan.c) ----------------------------- */

/* Is path a plan saved by `plan --out`?  Then 1, with *spec_path (caller
 * frees) and *saved (caller decrefs); 0 when it is not one. */
int cli_planfile_read(const char *path, char **spec_path, json_t **saved);
/* Plan again and compare: 0 when the spec, the record and the actions are
 * what was saved; else the exit code after saying what changed. */
int cli_planfile_verify(const char *planfile, json_t *saved, bool accept_new);
/* Print the plan of spec and ask for 'yes' on stdin: 0 yes (or nothing to
 * do), 1 anything else, or the plan's exit code when it fails. */
int cli_plan_confirm(const char *spec, bool accept_new);

/* ---- options --------------------------------------------------------------- */

/* The name in names[] closest to word by edit distance, or NULL when none is
 * close (a third of the word, at most 3 edits). */
const char *cli_closest(const char *word, const char *const *names, size_t n);
/* A usage error for arg, an option getopt_long refused (opterr is 0 in every
 * command): "option '--timeout' needs a value", or "unknown option '--ofline';
 * did you mean '--offline'?".  Returns 2. */
int cli_bad_option(const char *cmd, const struct option *opts, const char *arg);
/* Is program (a path or a name) a database's client that `shoal cli` runs
 * (redis-cli, cqlsh)? */
bool cli_is_db_client(const char *program);
/* For `shoal exec SPEC NODE -- PROGRAM ARGS...` when PROGRAM is NODE's own
 * database client (redis-cli for a Redis node): *args gets what reaches
 * the node, to put after PROGRAM ("-h ADDR -p PORT"; none when ARGS name a
 * host or port themselves), *env the entries that authenticate it
 * ("REDISCLI_AUTH=..."), both from the state, strv (util.h) the caller
 * frees.  Any other program: 0 with both NULL. */
int cli_client_context(const char *spec_path, const char *node, const char *program,
		       char *const *user_args, char ***args, char ***env, struct err *e);

#endif
