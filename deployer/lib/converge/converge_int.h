/* converge_int.h - what the files behind converge.h share: one command's
 * view of a cluster (struct cluster) and the steps several commands take.
 *
 *   converge.c         loading a cluster, connecting to its hosts and asking
 *                      them what runs, node requests and config digests
 *   converge_up.c      shoal up: actions executed, readiness, formation,
 *                      nodes leaving, changes rolled in place
 *   converge_status.c  shoal status
 *   converge_down.c    shoal down, exec and logs
 *
 * Private to those files; nothing here is a stable interface.
 */
#ifndef SHOAL_CONVERGE_INT_H
#define SHOAL_CONVERGE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "converge.h"
#include "digest.h"
#include "fleet.h"
#include "image.h"
#include "plan.h"
#include "redis_cluster.h"
#include "spec.h"
#include "state.h"
#include "tcplisten.h"
#include "template.h"

/* Everything one command knows about a cluster. */
struct cluster {
	struct spec *spec;
	struct template **tmpl;      /* per service */
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
	char (**left)[RC_ID_LEN + 1]; /* per service: Redis ids of the nodes that
					 left its cluster in this run (up only) */
	size_t *nleft;
	bool *leave_checked;          /* per service: rc_leave found that none of
					 its leaving nodes holds slots */
	char (*configs)[DIGEST_STR_LEN]; /* per plan node: converge_configs (up) */
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

/* Config digests of the plan's nodes (see converge_configs) with the
 * templates loaded already; "" where the service's secrets do not exist. */
int cluster_configs_for(struct template *const *tmpl, const struct spec *s,
			const struct plan *p, const struct state *st,
			char (*out)[DIGEST_STR_LEN], struct err *e);

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

/* rc_node array for the sharded service svc, in plan order (*n entries). */
struct rc_node *cluster_redis_nodes(const struct cluster *c, size_t svc, size_t *n);

/* Does template t form its cluster with the built-in step `name`? */
bool template_forms_with(const struct template *t, const char *name);

#endif
