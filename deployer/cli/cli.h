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

#include "err.h"

struct cli_command {
	const char *name;
	const char *summary; /* one line for `shoal --help` */
	const char *usage;   /* full text for `shoal help NAME` */
	int (*run)(int argc, char **argv);
};

void cli_register(const struct cli_command *c);

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
/* True when --json was given. */
bool cli_json(void);

#endif
