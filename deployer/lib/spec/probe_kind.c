/* probe_kind.c - probe protocol names (probe_kind.h). */
#include "probe_kind.h"

#include <string.h>

const char *probe_kind_name(enum probe_kind k)
{
	switch (k) {
	case PROBE_TCP: return "tcp";
	case PROBE_REDIS: return "redis";
	case PROBE_HTTP: return "http";
	case PROBE_CQL: return "cql";
	}
	return "?";
}

int probe_kind_parse(const char *s)
{
	for (int k = PROBE_TCP; k <= PROBE_CQL; k++)
		if (s && !strcmp(s, probe_kind_name((enum probe_kind)k)))
			return k;
	return -1;
}
