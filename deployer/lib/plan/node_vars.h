/* node_vars.h - the template variables of one planned node.
 *
 * Here, above the template loader (spec/template.h) and beside the planner,
 * because the variables come from the plan: seeds, ports, roles.
 */
#ifndef SHOAL_NODE_VARS_H
#define SHOAL_NODE_VARS_H

#include "err.h"
#include "plan.h"
#include "spec.h"
#include "template.h"

/* Everything a node's files and hooks may use:
 *   cluster.name  service.name  service.seeds (addresses of the service's
 *   seed/master nodes, comma separated)  service.seed_endpoints (addr:port,..)
 *   node.id  node.index  node.host  node.address  node.port  node.bus_port
 *   node.rack  node.zone  node.role  node.data_dir  node.memory (bytes)
 *   settings.<key>  (template defaults, overridden by the service's settings)
 *   secret.<name>   (from `secrets`, entries "<service>.<name>" = value as
 *                    state_service_secret() stores them; only the names the
 *                    template declares)
 * Fails when a declared secret is missing or a value has control chars. */
int template_node_vars(const struct template *t, const struct spec *s,
		       const struct plan *p, const struct plan_node *n,
		       const struct kvlist *secrets, struct tmpl_vars *out,
		       struct err *e);

#endif
