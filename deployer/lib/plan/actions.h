/* actions.h - the diff from what is (state, and what hosts report) to what
 * should be (the plan): an ordered list of actions that `shoal plan` prints
 * and `shoal up` executes.
 *
 * Order (each step only depends on earlier ones):
 *   1. push      the service's image to each host that gets a new node
 *   2. create    new nodes, masters before replicas  (then start each)
 *   3. change    nodes whose host, port or image changed (recreate there)
 *   4. start     recorded nodes that hosts report as stopped
 *   5. form      a service none of whose nodes existed: form the cluster
 *      join      a new node of an already formed service
 *   6. leave     nodes no longer in the plan leave their cluster,
 *   7. stop, remove  then are stopped and removed (data kept unless purge)
 *   8. remove    orphans: containers hosts report that nobody recorded
 *
 * Pure: no I/O.  Actions borrow from the plan, state and observed lists,
 * which must outlive them.
 */
#ifndef SHOAL_ACTIONS_H
#define SHOAL_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "digest.h"
#include "err.h"
#include "plan.h"
#include "state.h"

enum action_kind {
	ACT_PUSH = 0,  /* image to host */
	ACT_CREATE,    /* create + start a node */
	ACT_CHANGE,    /* recreate a node (new host, port or image) */
	ACT_START,     /* start a recorded node that is stopped */
	ACT_FORM,      /* form a service's cluster from its nodes */
	ACT_JOIN,      /* add a node to its formed cluster */
	ACT_LEAVE,     /* node leaves its cluster */
	ACT_STOP,
	ACT_REMOVE,
	ACT_ROLE,      /* a recorded master becomes a replica, a replica a
			* master or follows another master (sharded services;
			* reported by plan, refused by up: actions_role_change) */
};

/* "push", "create", "change", "start", "form", "join", "leave", "stop",
 * "remove", "role". */
const char *action_kind_name(enum action_kind k);

/* What a host reports about one node container (from the agent; optional). */
struct observed_node {
	const char *id;
	const char *host;
	bool running;
	const char *image;   /* digest it runs, or NULL */
};

struct observed {
	const struct observed_node *nodes;
	size_t n;
};

/* What a planned node's container is made of besides its image: the digest
 * `up` compares, and the named inputs it was made from, so that a change
 * can say what changed (converge_configs). */
struct node_config {
	char digest[DIGEST_STR_LEN]; /* "" when unknown */
	struct node_attrs attrs;
};

/* Free the attributes of n configs, then the array (NULL-safe). */
void node_configs_free(struct node_config *c, size_t n);

struct action {
	enum action_kind kind;
	const char *node;     /* node id; the service name for form; NULL for push */
	const char *service;
	const char *host;     /* where it happens */
	const char *address;
	int port;
	const char *image;    /* push/create/change: image digest or reference */
	const struct plan_node *want;   /* desired node, or NULL */
	const struct state_node *have;  /* recorded node, or NULL */
	char detail[512];     /* "host h1 -> h2", "replica of cache-2"... */
	const struct node_attrs *want_attrs; /* change of config: the planned
					      * inputs (have->attrs the recorded
					      * ones), or NULL */
	bool in_place;        /* change: same host and port, new image or config
				 (the node restarts where it is, one at a time) */
	bool adopt;           /* change of host: the node already runs on its new
				 host (created there by a run that was stopped
				 before recording it), with the planned image: kept,
				 not created again; its old identity still leaves */
	char image_name[128]; /* push: the image as its recipe names it
				 (NAME:VERSION), for the text; "" when not known
				 (converge_name_images fills it) */
};

struct actions {
	struct action *items;
	size_t n, cap;
	size_t creates, changes, removes, others;
};

/* images: one image per spec service, indexed like spec->services, or NULL
 * (then the spec's image references are shown).  A recorded node whose image
 * digest differs from a digest given here is changed; references (recipe
 * paths, NAME:TAG) only label push actions.  configs: per plan node (indexed
 * like p->nodes) its config (converge_configs; digest "" where unknown), or
 * NULL: a recorded node whose recorded config digest differs is changed in
 * place too, its detail naming the attributes that differ
 * ("settings.maxmemory_policy: noeviction -> allkeys-lru; restart"), or
 * "config changed (settings, resources or template)" for a node recorded
 * without attributes (by an older shoal).  obs may be NULL (nothing observed: trust the state).
 * Never fails on valid inputs; returns 0. */
int actions_diff(const struct spec *s, const struct plan *p, const struct state *st,
		 const char *const *images, const struct node_config *configs,
		 const struct observed *obs, struct actions *out, struct err *e);
void actions_free(struct actions *a);

/* Nothing to do? */
bool actions_empty(const struct actions *a);

/* The first role change among the actions, or NULL. */
const struct action *actions_role_change(const struct actions *a);

/* One line per action, e.g.
 *   + create cache-3 on h2 (10.213.0.12:7003), replica of cache-2
 *   ~ change cache-1 on h3 (10.213.0.13:7000): host h1 -> h3
 *   - remove cache-7 from h3
 * then "Plan: 3 to create, 1 to change, 2 to remove." (or "No changes."). */
void actions_print(const struct actions *a, FILE *f);
/* {"actions":[{"action","node","service","host","address","port","image",
 *  "detail", "in_place", "attributes":[{"name","from","to"}]}],
 *  "create":N, "change":N, "remove":N, "changes":bool} as a json_t *
 * ("attributes": a change of config, when both sides have attributes;
 * "from"/"to" null where the attribute is absent on that side). */
void *actions_json(const struct actions *a);

#endif
