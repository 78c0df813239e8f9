/* kind_traits.h - plan traits by template name, for tests and benches that
 * plan without loading templates.  The values mirror templates/<kind>/
 * template.cfg (sharded, port, bus_offset); shoal itself reads them from
 * the templates (template_plan_traits), so deployer/lib/plan names no
 * database.  Header-only: include it in one translation unit. */
#ifndef SHOAL_TEST_KIND_TRAITS_H
#define SHOAL_TEST_KIND_TRAITS_H

#include <assert.h>
#include <string.h>

#include "plan.h"

static inline void kind_traits_one(const char *template_name, struct plan_traits *t)
{
	memset(t, 0, sizeof *t);
	t->default_port = 7000;
	if (!template_name)
		return;
	if (!strcmp(template_name, "redis")) {
		t->sharded = true;
		t->default_port = 6379;
		t->bus_offset = 10000;
	} else if (!strcmp(template_name, "cassandra")) {
		t->default_port = 9042;
	} else if (!strcmp(template_name, "riak")) {
		t->default_port = 8087;
	}
}

/* One traits entry per service of s, in a static buffer that the next call
 * overwrites (plan_compute copies what it needs). */
static inline const struct plan_traits *kind_traits(const struct spec *s)
{
	static struct plan_traits tr[64];

	assert(s->nservices <= sizeof tr / sizeof tr[0]);
	for (size_t k = 0; k < s->nservices; k++)
		kind_traits_one(s->services[k].template, &tr[k]);
	return tr;
}

#endif
