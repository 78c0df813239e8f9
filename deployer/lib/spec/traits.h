/* traits.h - what the planner needs to know about a service's template.
 *
 * template.c fills it (template_plan_traits) and plan.c reads it; it lives
 * in spec/, below both, so that templates need nothing from the planner.
 */
#ifndef SHOAL_TRAITS_H
#define SHOAL_TRAITS_H

#include <stdbool.h>

struct plan_traits {
	bool sharded;      /* masters + replicas (Redis Cluster) */
	int default_port;  /* client port when the service sets no port_base */
	int bus_offset;    /* bus port = port + bus_offset; 0 = no bus port */
};

#endif
