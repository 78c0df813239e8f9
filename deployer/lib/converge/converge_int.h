/* converge_int.h - what the files behind converge.h share: one command's
 * view of a cluster (struct cluster) and the steps several commands take.
 *
 *   converge.c         loading a cluster, connecting to its hosts and asking
 *                      them what runs, node requests and config digests
 *   converge_up.c      shoal up: actions executed, readiness, formation,
 *                      nodes leaving
 *   converge_move.c    up: nodes moved to another host, the new one first
 *   converge_roll.c    up: changes in place rolled one node at a time
 *   converge_status.c  shoal status
 *   converge_down.c    shoal down, exec and logs
 *   converge_db.c      nodes and options for the database drivers
 *   converge_gone.c    up around hosts that are gone (monitor rescheduling)
 *
 * Private to those files; nothing here is a stable interface.
 */
#ifndef SHOAL_CONVERGE_INT_H
#define SHOAL_CONVERGE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "actions.h"
#include "converge.h"
#include "digest.h"
#include "driver.h"
#include "fleet.h"
#include "image.h"
#include "node_vars.h"
#include "plan.h"
#include "probe.h"
#include "spec.h"
#include "state.h"
#include "tcplisten.h"
#include "template.h"

/* Everything one command knows about a cluster. */
struct cluster {
	struct spec *spec;
	struct template **tmpl;      /* per service */
	const struct db_driver **drv; /* per service: its kind's driver */
	struct plan_traits *traits;  /* per service */
	struct state *st;
	struct state_lock *lock;     /* NULL for read-only commands */
	struct plan *plan;
	struct image_info **images;  /* per service (up only) */
	const char **image_digests;  /* per service: manifest digest or NULL */
	struct fleet *fleet;
	json_t **listed;             /* per host: node.list answer, or NULL */
	json_t **ports;              /* per host: host.ports answer, or NULL */
	struct observed_node *obs;
	size_t nobs;
	struct taken_port *taken;    /* ports other programs hold (host.ports
					less this cluster's own nodes) */
	size_t ntaken;
	bool observed;               /* every host answered node.list */
	char ***left;                 /* per service: database ids (strv) of the
					 nodes that left its cluster in this run
					 (up only) */
	bool *leave_checked;          /* per service: db_leave found that none of
					 its leaving nodes holds data alone */
	struct node_config *configs; /* per plan node: converge_configs (up) */
	int *failed_back;             /* per service: planned masters made master
					 again by forming (db_opts.failed_back;
					 up only, else NULL) */
	size_t nconfigs;
	bool *moved;                  /* per action of up: a node moved to its
					 new host new-node-first (move_first),
					 its old one gone; nothing left to do */
};

/* Spec, templates and state; the lock too when `command` is given (a
 * second command holding it is refused, naming the holder).  Free with
 * cluster_free, also after a failure. */
int cluster_load(const char *spec_path, const char *command, struct cluster *c,
		 struct err *e);
void cluster_free(struct cluster *c);

/* Plan from the spec, the recorded placement and c->taken (ports other
 * programs hold); a spec that cannot be placed prints a reason per node. */
int cluster_plan(struct cluster *c, struct err *e);

/* Build or resolve every service's image into c->images and
 * c->image_digests (a recipe is built into the local store). */
int cluster_images(struct cluster *c, struct err *e);

/* Connect to every host the plan or the state uses, in parallel; with
 * o->look_only no agent is installed or started. */
int cluster_connect(struct cluster *c, const struct converge_opts *o, struct err *e);

/* Ask every connected host what it runs for this cluster (node.list) and
 * which ports other programs hold (host.ports): c->listed, c->obs,
 * c->taken. */
int cluster_observe(struct cluster *c, struct err *e);

/* The node.list record of a node on a host, or NULL. */
json_t *cluster_listed(const struct cluster *c, const char *host, const char *node);

/* The node.create request for plan node n (docs/agent-protocol.md). */
int cluster_create_request(struct cluster *c, const struct plan_node *n, json_t **out,
			   struct err *e);

/* Configs of the plan's nodes (see converge_configs) with the templates
 * loaded already; digest "" where the service's secrets do not exist. */
int cluster_configs_for(struct template *const *tmpl, const struct spec *s,
			const struct plan *p, const struct state *st,
			struct node_config *out, struct err *e);

/* {"op": op, "cluster": cluster, "node": node} */
json_t *node_op_request(const char *op, const char *cluster, const char *node);

/* Stop and remove a node on a host; keep its data unless purge.  A node the
 * host does not have is not an error. */
int cluster_remove_node(struct cluster *c, const char *host, const char *node, bool purge,
			struct err *e);

/* Append an event to events.jsonl; fields (stolen) may be NULL.  A failure
 * to log is reported but does not stop the operation. */
void cluster_event(struct cluster *c, const char *type, json_t *fields);

/* Service svc's generated password, or NULL when its template has none. */
const char *cluster_password(struct cluster *c, size_t svc);

/* ---- converge_up.c, converge_move.c, converge_roll.c: the steps of up ---- */

/* Per database command during up.  Generous: on a loaded host a node that
 * loads its data or syncs a replica can stall for seconds, and one slow
 * answer would fail the whole formation. */
#define DB_CALL_TIMEOUT_MS 10000
/* How long a leave refused right after data moved is retried. */
#define LEAVE_SETTLE_MS 15000

/* The pending in-place change of node id, or NULL. */
const struct action *up_in_place_change(const struct actions *acts, const char *id);
/* Record plan node i as it now runs: placement, image and config. */
struct state_node *up_record_node(struct cluster *c, size_t i);
/* The readiness probe of plan node pn, as its template describes it. */
struct probe_target up_ready_probe(struct cluster *c, const struct plan_node *pn);
/* Wait until the plan's nodes with want[i] set (all when want is NULL)
 * answer their readiness probes; a node that keeps exiting fails at once. */
int up_wait_ready(struct cluster *c, const struct converge_opts *o, const bool *want,
		  struct err *e);
/* Append the strings of add (a strv, freed) to *v (a strv, may be NULL). */
void up_strv_append(char ***v, char **add);
/* Form (or complete) the cluster of service s and record the nodes'
 * database ids (*changed when a record changed). */
int up_form_service(struct cluster *c, size_t s, bool fail_back, bool quiet, bool *changed,
		    struct err *e);
/* converge_move.c: every service's nodes that change hosts moved the new
 * node first, where the kind can hand over (c->moved marks them). */
int up_move_first(struct cluster *c, const struct converge_opts *o, const struct actions *acts,
		  struct err *e);
/* converge_roll.c: nodes with a change in place that do not answer now
 * recreated at once (done[i] marks them). */
int up_recreate_down_in_place(struct cluster *c, const struct actions *acts, bool *done,
			      struct err *e);
/* converge_roll.c: the other changes in place, one node at a time, masters
 * handing over first. */
int up_roll_in_place(struct cluster *c, const struct converge_opts *o, const struct actions *acts,
		     const bool *done, struct err *e);

/* ---- converge_status.c ---- */

/* The document of `shoal status --json` (docs/status.md) for c's recorded
 * nodes: listed[i] is what the agent reports of c->st->nodes[i] (its
 * node.list record, borrowed) or NULL, then absent[i] says why ("missing",
 * "agent-down", "host-down"; NULL: "host-down"); the database's view of
 * every service is read now (db_observe, 1 s per call).  Caller frees. */
json_t *cluster_status_doc(struct cluster *c, json_t *const *listed, const char *const *absent);

/* ---- converge_db.c ---- */

/* db_node array of service svc, in plan order (*n entries; caller frees).
 * Strings are borrowed from c. */
struct db_node *cluster_db_nodes(const struct cluster *c, size_t svc, size_t *n);
/* The recorded nodes of service svc (state order) as db_nodes, replicas
 * pointing at their recorded master; (*idx)[k] is node k's index in
 * c->st->nodes.  Caller frees both; strings are borrowed from c->st. */
struct db_node *cluster_db_recorded(const struct cluster *c, const char *svc, size_t **idx,
				    size_t *n);
/* A recorded node as a db_node (strings borrowed from sn). */
struct db_node db_node_of_state(const struct state_node *sn);
/* Driver options for service svc: its password, the timeouts, and exec and
 * hook callbacks that run the template's hooks in nodes through their
 * hosts' agents (c->fleet). */
struct db_opts cluster_db_opts(struct cluster *c, size_t svc, int timeout_ms, int settle_ms);

/* ---- converge_gone.c ---- */

/* Plan this run as if the spec did not list hosts gone[] (NULL-terminated):
 * first, in each sharded service, a shard whose recorded master is on one
 * of them takes the roles its database reports (the replica that took over
 * is recorded as master, the lost master as its replica: it comes back
 * elsewhere as one); then the hosts leave c->spec, so the planner places
 * their nodes on the others and up moves them.  EAGAIN when such a shard's
 * database has not failed over yet; call before cluster_plan. */
int cluster_without_hosts(struct cluster *c, const char *const *gone, struct err *e);

#endif
