/* proc.h - running helper programs (runc, crun) from the agent, bounded.
 * argv only; never a shell. */
#ifndef SHOAL_AGENT_PROC_H
#define SHOAL_AGENT_PROC_H

#include <sys/types.h>

#include "err.h"
#include "util.h"

/* Absolute path of an executable named `name` on $PATH (or the standard
 * system folders when PATH is unset), or NULL.  Caller frees. */
char *proc_which(const char *name);

/* Run argv with stdin from /dev/null, collecting stdout and stderr together
 * into out (at most 64 KiB kept; out may be NULL).  After timeout_ms the
 * program is killed and ETIMEDOUT reported: the agent never hangs on a
 * helper.  Returns the exit status as waitpid() reports it, or -1. */
int proc_run(const char *const argv[], int timeout_ms, struct buf *out,
	     struct err *e);

#endif
