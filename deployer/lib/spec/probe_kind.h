/* probe_kind.h - the protocols a readiness or health probe speaks, by name.
 *
 * Templates name them (readiness.kind, health.kind) and the probes in
 * db/probe.h run them; the names live here, below both, so that the
 * template loader needs nothing from the probes themselves.
 */
#ifndef SHOAL_PROBE_KIND_H
#define SHOAL_PROBE_KIND_H

enum probe_kind { PROBE_TCP = 0, PROBE_REDIS, PROBE_HTTP, PROBE_CQL };

const char *probe_kind_name(enum probe_kind k);
/* -1 when unknown. */
int probe_kind_parse(const char *s);

#endif
