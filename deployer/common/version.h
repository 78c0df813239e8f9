/* version.h - shoal's version, and what both binaries must agree on outside
 * the agent protocol (whose version lives in agent.h and its docs). */
#ifndef SHOAL_VERSION_H
#define SHOAL_VERSION_H
#define SHOAL_VERSION "0.1.0"

/* Exit status of `shoal-agent connect --no-start` when no daemon runs. */
#define AGENT_EXIT_NOT_RUNNING 3
#endif
