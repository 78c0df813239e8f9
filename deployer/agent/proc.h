/* proc.h - running helper programs (runc, crun) from the agent, bounded.
 * argv only; never a shell. */
#ifndef SHOAL_AGENT_PROC_H
#define SHOAL_AGENT_PROC_H

#include <stdint.h>
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

/* pidfd_open(2): a descriptor that becomes readable when pid exits and
 * always names that process (never a later one with the same number). */
int proc_pidfd_open(pid_t pid, struct err *e);
/* pidfd_send_signal(2). */
int proc_pidfd_signal(int pidfd, int sig, struct err *e);
/* Start time of pid (clock ticks since boot, /proc/<pid>/stat field 22):
 * with the pid it identifies one process across pid reuse.  0 = gone. */
uint64_t proc_start_ticks(pid_t pid);

#endif
