/* converge.h - what `shoal up|status|down|exec|logs` do to a cluster.
 *
 *   up:     spec -> plan -> (state, what the hosts run) -> actions -> executed:
 *           images built or resolved, agents bootstrapped, blobs pushed, nodes
 *           created and started, readiness probed, the cluster formed through
 *           the template's hooks, health checked, state recorded.  Idempotent:
 *           a second run finds nothing to do.  Safe to interrupt: every
 *           finished step is recorded at once, and the next run compares the
 *           record with what the hosts report (no duplicates, no orphans).
 *   status: what the hosts and the database report, per node and per cluster.
 *   down:   every node of the cluster stopped and removed (data kept unless
 *           purge), the state removed.
 *
 * All of them print progress per host and node on a terminal (stderr) and,
 * with --json, one JSON document on stdout.
 */
#ifndef SHOAL_CONVERGE_H
#define SHOAL_CONVERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "actions.h"
#include "err.h"
#include "plan.h"
#include "spec.h"
#include "state.h"

struct converge_opts {
	bool accept_new_host_keys;
	bool json;            /* machine output on stdout */
	bool show_secrets;    /* status: include the cluster's secrets */
	bool purge;           /* down: remove data too */
	int ready_timeout_ms; /* up: per node readiness; 0 = the template's */
	bool look_only;       /* plan: install and start no agent (hosts where
				 none runs count as running nothing) */
	const char *const *without_hosts; /* up: NULL-terminated hosts that are
				 gone (`shoal monitor` after reschedule_after_s):
				 planned around, their nodes moved to the other
				 hosts (converge_int.h, cluster_without_hosts) */
	/* up: the leadership of the `shoal monitor` that runs this reschedule.
	 * fence_key (NULL: none): every write to the state store is refused
	 * unless this etcd key still has create_revision fence_token
	 * (state_lock_fence; fence_what names it in messages).  may_act (NULL:
	 * always): asked before each step that changes hosts or the database;
	 * false stops the run there (ESTALE), nothing more done. */
	const char *fence_key;
	int64_t fence_token;
	const char *fence_what;
	bool (*may_act)(void *arg);
	void *may_act_arg;
	int *failed_back;     /* up (out, may be NULL): planned masters made
				 master again after a failover */
	bool wide;            /* status: text with more columns (-o wide) */
	int wait_healthy_ms;  /* status: look again every second until healthy,
				 at most this long (0: look once) */
};

int converge_up(const char *spec_path, const struct converge_opts *o,
		struct err *e);
/* Print the status; returns 0 when the cluster is healthy (every recorded
 * node running and answering, every service's cluster state ok), 1 when it
 * is not (or has no recorded node), -1 when the spec or state cannot be read
 * (docs/status.md). */
int converge_status(const char *spec_path, const struct converge_opts *o,
		    struct err *e);
int converge_down(const char *spec_path, const struct converge_opts *o,
		  struct err *e);

/* Mark host drained (on: no node is placed there; `up` moves its nodes
 * away) or schedulable again (off: nothing moves back) in the cluster's
 * state, under its lock.  *changed tells whether the mark changed.  A host
 * the spec does not list is bad usage (exit 2). */
int converge_set_drained(const char *spec_path, const char *host, bool on, bool *changed,
			 struct err *e);

/* What the hosts report for a cluster: node.list and host.ports on every host
 * that the plan (may be NULL) or the state uses, for `shoal plan` to diff
 * against and to plan around ports in use.  Changes nothing on the hosts: a
 * host where no agent runs (not installed, or its daemon not started since a
 * reboot) counts as running nothing, and is left so.  Fails when a host
 * cannot be reached (its error names it). */
struct observation {
	struct observed list;   /* borrowed from priv */
	const struct taken_port *taken; /* ports other programs hold (borrowed) */
	size_t ntaken;
	void *priv;
};
int converge_observe(const struct spec *s, const struct plan *p,
		     const struct state *st, bool accept_new_host_keys,
		     struct observation *out, struct err *e);
void converge_observation_free(struct observation *o);

/* Replace each service's image reference in images[] (indexed like
 * s->services, as template_traits_for_spec gives them) by the manifest
 * digest it stands for, as `up` will: a recipe is built into the local store
 * (cached; nothing on any host changes), a reference is resolved there.  A
 * reference the store lacks stays as it is, with a warning; a recipe that
 * does not build is an error. */
int converge_resolve_images(const struct spec *s, char **images, struct err *e);
/* Name each push action's image digest as the local store tags it
 * (NAME:VERSION), for actions_print; a digest the store does not tag keeps
 * no name. */
struct actions;
void converge_name_images(struct actions *a);

/* Per plan node (indexed like p->nodes), the digest of what its container
 * is made from besides the image: rendered config files, argv, resources,
 * restart and stop settings; and the same inputs by name (node_attrs: the
 * template variables the files use, secrets excepted, the digest of each
 * template file, resources, runtime, stop settings), recorded in the state
 * so that a later plan names what changed.  A recorded node whose recorded
 * digest differs is changed in place (actions_diff).  Digest "" for nodes of
 * services none of whose nodes is recorded: nothing to compare, and their
 * secrets may not exist yet.  *out has p->n entries; free with
 * node_configs_free(*out, p->n). */
struct node_config;
int converge_configs(const struct spec *s, const struct plan *p, const struct state *st,
		     struct node_config **out, struct err *e);

/* Run argv inside a node's container, with env ("NAME=VALUE" entries
 * before the node's own; NULL: none) - sent in the agent request, never on
 * a command line; its output goes to our stdout and stderr.  *exit_code gets the command's exit status (128+N for signal N). */
int converge_exec(const char *spec_path, const char *node,
		  const char *const *argv, const char *const *env,
		  const struct converge_opts *o,
		  int *exit_code, struct err *e);
/* Print a node's log: the last `tail` lines, then new lines when follow. */
int converge_logs(const char *spec_path, const char *node, int tail,
		  bool follow, const struct converge_opts *o, struct err *e);

#endif
