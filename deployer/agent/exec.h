/* exec.h - `exec`: a command run inside a running node, output streamed.
 *
 * The agent forks a helper that joins the node's namespaces (setns on a
 * pidfd of the node's init) and cgroups, and forks the command itself there
 * (so it is inside the node's pid namespace), which enters the node's
 * sandbox and executes argv.  The helper reports the command's wait status
 * on a pipe.  The helper and the command die with the agent or at the time
 * limit (PR_SET_PDEATHSIG). */
#ifndef SHOAL_AGENT_EXEC_H
#define SHOAL_AGENT_EXEC_H

struct agent;
struct session;

/* Kill and forget the exec jobs of a session that went away. */
void exec_session_gone(struct agent *a, struct session *s);
/* Free every job (agent shutdown); their processes are killed. */
void exec_free_all(struct agent *a);

#endif
