/* runtime_oci.c - nodes run by an OCI runtime (runc, crun) from a bundle. */
#include <string.h>

#include "agent.h"
#include "runtime.h"

const char *runtime_oci_unusable(const struct agent *a, const char *name)
{
	if (!strcmp(name, "crun") && a->cg.mode == CGROUP_HYBRID)
		return "crun refuses hybrid cgroup hosts (v1 controllers plus a "
		       "unified hierarchy): 'cgroups in hybrid mode not supported'";
	return NULL;
}
