/* test_actions.c - plan vs state vs observed -> ordered actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "kind_traits.h"
#include "util.h"

struct world {
	struct spec s;
	struct spec_host hosts[3];
	struct spec_service svc;
	struct plan *p;
	struct state *st;
	struct actions a;
};

static void world_init(struct world *w, int nodes)
{
	static char *names[] = {"h1", "h2", "h3"};
	static char *addrs[] = {"10.213.0.11", "10.213.0.12", "10.213.0.13"};
	static char *racks[] = {"r1", "r2", "r3"};
	struct err e;

	memset(w, 0, sizeof *w);
	w->s.name = "shop";
	w->s.path = "shop.cfg";
	for (int i = 0; i < 3; i++)
		w->hosts[i] = (struct spec_host){.name = names[i], .address = addrs[i], .rack = racks[i]};
	w->s.hosts = w->hosts;
	w->s.nhosts = 3;
	w->svc = (struct spec_service){.name = "cache", .template = "redis", .image = "redis:7",
				       .nodes = nodes, .replicas = 1, .port_base = 7000};
	w->s.services = &w->svc;
	w->s.nservices = 1;
	w->st = xcalloc(1, sizeof *w->st);
	w->st->cluster = xstrdup("shop");
	assert_int_equal(plan_compute(&w->s, kind_traits(&w->s), NULL, &w->p, NULL, &e), 0);
}

static void replan(struct world *w)
{
	struct placement prev;
	struct err e;

	plan_free(w->p);
	state_placement(w->st, &prev);
	assert_int_equal(plan_compute(&w->s, kind_traits(&w->s), &prev, &w->p, NULL, &e), 0);
	state_placement_free(&prev);
}

static void record_all(struct world *w)
{
	for (size_t i = 0; i < w->p->n; i++)
		state_put_plan_node(w->st, w->p, &w->p->nodes[i]);
}

static void diff_configs(struct world *w, const char *const *images,
			 const struct node_config *configs, const struct observed *obs)
{
	struct err e;

	actions_free(&w->a);
	assert_int_equal(actions_diff(&w->s, w->p, w->st, images, configs, obs, &w->a, &e), 0);
}

static void diff(struct world *w, const char *const *images, const struct observed *obs)
{
	diff_configs(w, images, NULL, obs);
}

static char *printed(const struct actions *a)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	actions_print(a, f);
	fclose(f);
	return text;
}

static void world_free(struct world *w)
{
	actions_free(&w->a);
	plan_free(w->p);
	state_free(w->st);
}

static void test_fresh_cluster(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 6);
	diff(&w, NULL, NULL);
	/* 3 pushes (one per host), 6 creates (masters first), 1 form */
	assert_int_equal(w.a.n, 10);
	assert_int_equal(w.a.creates, 6);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w.a.items[i].kind, ACT_PUSH);
	for (int i = 3; i < 6; i++)
		assert_int_equal(w.a.items[i].want->role, ROLE_MASTER);
	for (int i = 6; i < 9; i++)
		assert_int_equal(w.a.items[i].want->role, ROLE_REPLICA);
	assert_int_equal(w.a.items[9].kind, ACT_FORM);
	char *text = printed(&w.a);
	const struct plan_node *n = plan_find(w.p, "cache-3");
	char want[128];
	snprintf(want, sizeof want, "+ create cache-3 on %s (%s:%d), replica of cache-2\n",
		 n->host->name, n->host->address, n->port);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "+ push redis:7 to h1\n"));
	assert_non_null(strstr(text, "+ form cache, 3 masters, 3 replicas\n"));
	assert_non_null(strstr(text, "Plan: 6 to create, 0 to change, 0 to remove.\n"));
	free(text);

	/* a digest is abbreviated to 12 hex digits, after the image's name */
	static const char dig[] = "sha256:04db1234567890abcdef04db1234567890abcdef04db1234567890abcdef";
	const char *ref0 = w.a.items[0].image, *ref1 = w.a.items[1].image;

	w.a.items[0].image = dig;
	snprintf(w.a.items[0].image_name, sizeof w.a.items[0].image_name, "redis:7.0");
	w.a.items[1].image = dig;
	text = printed(&w.a);
	snprintf(want, sizeof want, "+ push redis:7.0 (sha256:04db12345678) to %s\n",
		 w.a.items[0].host);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof want, "+ push sha256:04db12345678 to %s\n", w.a.items[1].host);
	assert_non_null(strstr(text, want));
	assert_null(strstr(text, "sha256:04db1234567890"));
	free(text);
	w.a.items[0].image = ref0;
	w.a.items[0].image_name[0] = '\0';
	w.a.items[1].image = ref1;

	/* once recorded, nothing is left to do */
	record_all(&w);
	replan(&w);
	diff(&w, NULL, NULL);
	assert_true(actions_empty(&w.a));
	text = printed(&w.a);
	assert_string_equal(text, "No changes: the cluster matches the spec.\n");
	free(text);
	world_free(&w);
}

static void test_scale_and_move(void **state)
{
	struct world w;
	struct err e;

	(void)state;
	world_init(&w, 6);
	record_all(&w);

	/* grow by a shard: two creates that join, masters first */
	w.svc.nodes = 8;
	replan(&w);
	diff(&w, NULL, NULL);
	assert_int_equal(w.a.creates, 2);
	assert_int_equal(w.a.changes, 0);
	size_t joins = 0;
	for (size_t i = 0; i < w.a.n; i++) {
		joins += w.a.items[i].kind == ACT_JOIN;
		assert_int_not_equal(w.a.items[i].kind, ACT_FORM);
	}
	assert_int_equal(joins, 2);

	/* shrink by a shard: leave, stop, remove the two last nodes */
	w.svc.nodes = 4;
	replan(&w);
	diff(&w, NULL, NULL);
	assert_int_equal(w.a.removes, 2);
	assert_int_equal(w.a.n, 6);
	assert_int_equal(w.a.items[0].kind, ACT_LEAVE);
	assert_int_equal(w.a.items[2].kind, ACT_STOP);
	assert_int_equal(w.a.items[4].kind, ACT_REMOVE);
	assert_string_equal(w.a.items[4].node, "cache-4");

	/* a recorded host that left the spec: its nodes move (change + join) */
	w.svc.nodes = 6;
	struct state_node *sn = state_find(w.st, "cache-0");
	free(sn->host);
	sn->host = xstrdup("h9");
	replan(&w);
	diff(&w, NULL, NULL);
	assert_int_equal(w.a.changes, 1);
	char *text = printed(&w.a);
	const struct plan_node *n = plan_find(w.p, "cache-0");
	char want[128];
	snprintf(want, sizeof want, "~ change cache-0 on %s (%s:%d): host h9 -> %s\n",
		 n->host->name, n->host->address, n->port, n->host->name);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "+ join cache-0 to cache, master of shard 0\n"));
	free(text);

	/* a new image digest: every node changes, with a push per host */
	record_all(&w);
	replan(&w);
	for (size_t i = 0; i < w.st->n; i++)
		w.st->nodes[i].image = xstrdup("sha256:1111111111111111111111111111111111111111111111111111111111111111");
	const char *images[] = {"sha256:2222222222222222222222222222222222222222222222222222222222222222"};
	diff(&w, images, NULL);
	assert_int_equal(w.a.changes, 6);
	assert_int_equal(w.a.items[0].kind, ACT_PUSH);
	assert_string_equal(w.a.items[0].image, images[0]);
	for (size_t i = 0; i < w.a.n; i++)
		assert_true(w.a.items[i].kind != ACT_CHANGE || w.a.items[i].in_place);
	(void)e;
	world_free(&w);
}

/* A recorded config digest that differs from the planned one: the node
 * changes in place, with no push (its host has the image); none recorded
 * (older state) or none known: no change. */
static void test_config_change(void **state)
{
	struct world w;
	struct node_config *configs;
	const char *a = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *b = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

	(void)state;
	world_init(&w, 6);
	record_all(&w);
	replan(&w);
	configs = xcalloc(w.p->n, sizeof *configs);
	for (size_t i = 0; i < w.p->n; i++) {
		snprintf(configs[i].digest, sizeof configs[i].digest, "%s", a);
		state_find(w.st, w.p->nodes[i].id)->config = xstrdup(a);
	}
	diff_configs(&w, NULL, configs, NULL);
	assert_true(actions_empty(&w.a));

	snprintf(configs[2].digest, sizeof configs[2].digest, "%s", b);  /* its settings changed */
	configs[3].digest[0] = '\0';                             /* not known */
	free(state_find(w.st, w.p->nodes[4].id)->config);  /* recorded before configs */
	state_find(w.st, w.p->nodes[4].id)->config = NULL;
	snprintf(configs[4].digest, sizeof configs[4].digest, "%s", b);
	diff_configs(&w, NULL, configs, NULL);
	assert_int_equal(w.a.n, 1);
	assert_int_equal(w.a.changes, 1);
	assert_int_equal(w.a.items[0].kind, ACT_CHANGE);
	assert_true(w.a.items[0].in_place);
	assert_string_equal(w.a.items[0].node, w.p->nodes[2].id);
	char *text = printed(&w.a);
	assert_non_null(strstr(text, ": config changed (settings, resources or template)\n"));
	free(text);

	/* a port change is no change in place */
	state_find(w.st, w.p->nodes[2].id)->port += 100;
	diff_configs(&w, NULL, configs, NULL);
	assert_int_equal(w.a.changes, 1);
	assert_false(w.a.items[0].in_place);
	node_configs_free(configs, w.p->n);
	world_free(&w);
}

/* Recorded attributes name what changed: old and new value of each
 * attribute that differs, a template file only when nothing else explains
 * the change; JSON lists them; a state without attributes (an older shoal)
 * still plans the change, saying "config changed". */
static void test_config_attributes(void **state)
{
	struct world w;
	struct node_config *configs;
	struct state_node *sn;
	const char *a = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *b = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

	(void)state;
	world_init(&w, 3);
	record_all(&w);
	replan(&w);
	configs = xcalloc(w.p->n, sizeof *configs);
	for (size_t i = 0; i < w.p->n; i++) {
		struct node_attrs *at = &configs[i].attrs;

		snprintf(configs[i].digest, sizeof configs[i].digest, "%s", a);
		node_attrs_set(at, "settings.maxmemory_policy", "noeviction");
		node_attrs_set(at, "resources.memory", "256M");
		node_attrs_set(at, "template.file /etc/redis/redis.conf", a);
		sn = state_find(w.st, w.p->nodes[i].id);
		sn->config = xstrdup(a);
		node_attrs_copy(&sn->attrs, at);
	}
	diff_configs(&w, NULL, configs, NULL);
	assert_true(actions_empty(&w.a));

	/* two settings of node 1 changed, one attribute is new */
	snprintf(configs[1].digest, sizeof configs[1].digest, "%s", b);
	node_attrs_set(&configs[1].attrs, "settings.maxmemory_policy", "allkeys-lru");
	node_attrs_set(&configs[1].attrs, "resources.memory", "512M");
	node_attrs_set(&configs[1].attrs, "resources.cpus", "0.5");
	node_attrs_set(&configs[1].attrs, "template.file /etc/redis/redis.conf", b);
	diff_configs(&w, NULL, configs, NULL);
	assert_int_equal(w.a.n, 1);
	assert_true(w.a.items[0].in_place);
	assert_string_equal(w.a.items[0].detail,
			    "resources.cpus: (none) -> 0.5, resources.memory: 256M -> 512M, "
			    "settings.maxmemory_policy: noeviction -> allkeys-lru; restart");
	char *text = printed(&w.a);
	assert_non_null(strstr(text, "resources.memory: 256M -> 512M"));
	free(text);
	json_t *j = actions_json(&w.a), *attrs;
	attrs = json_object_get(json_array_get(json_object_get(j, "actions"), 0), "attributes");
	assert_int_equal(json_array_size(attrs), 4); /* the template file too */
	assert_string_equal(json_string_value(json_object_get(json_array_get(attrs, 1), "from")),
			    "256M");
	assert_true(json_is_null(json_object_get(json_array_get(attrs, 0), "from")));
	json_decref(j);

	/* only the template's text changed: its file is named */
	node_configs_free(configs, w.p->n);
	configs = xcalloc(w.p->n, sizeof *configs);
	for (size_t i = 0; i < w.p->n; i++) {
		sn = state_find(w.st, w.p->nodes[i].id);
		snprintf(configs[i].digest, sizeof configs[i].digest, "%s", a);
		node_attrs_copy(&configs[i].attrs, &sn->attrs);
	}
	snprintf(configs[0].digest, sizeof configs[0].digest, "%s", b);
	node_attrs_set(&configs[0].attrs, "template.file /etc/redis/redis.conf", b);
	diff_configs(&w, NULL, configs, NULL);
	assert_int_equal(w.a.n, 1);
	assert_string_equal(w.a.items[0].detail,
			    "template file /etc/redis/redis.conf changed; restart");

	/* recorded without attributes: still a change, said plainly */
	node_attrs_free(&state_find(w.st, w.p->nodes[0].id)->attrs);
	diff_configs(&w, NULL, configs, NULL);
	assert_int_equal(w.a.n, 1);
	assert_string_equal(w.a.items[0].detail,
			    "config changed (settings, resources or template)");
	j = actions_json(&w.a);
	assert_null(json_object_get(json_array_get(json_object_get(j, "actions"), 0),
				    "attributes"));
	json_decref(j);
	node_configs_free(configs, w.p->n);
	world_free(&w);
}

static void test_observed(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 6);
	record_all(&w);
	struct observed_node on[7];
	for (int i = 0; i < 6; i++)
		on[i] = (struct observed_node){.id = w.p->nodes[i].id,
					       .host = w.p->nodes[i].host->name, .running = true};
	struct observed obs = {.nodes = on, .n = 6};
	diff(&w, NULL, &obs);
	assert_true(actions_empty(&w.a));

	on[1].running = false;                        /* stopped */
	on[2].host = "h-elsewhere";                   /* missing where recorded */
	on[6] = (struct observed_node){.id = "cache-99", .host = "h2", .running = true}; /* orphan */
	obs.n = 7;
	diff(&w, NULL, &obs);
	char *text = printed(&w.a);
	const struct plan_node *n1 = &w.p->nodes[1], *n2 = &w.p->nodes[2];
	char want[160];
	snprintf(want, sizeof want, "~ start cache-1 on %s (%s:%d), stopped on its host\n",
		 n1->host->name, n1->host->address, n1->port);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof want, "+ create cache-2 on %s (%s:%d), master of shard 1; recorded but missing on %s\n",
		 n2->host->name, n2->host->address, n2->port, n2->host->name);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "+ join cache-2 to cache"));
	assert_non_null(strstr(text, "- remove cache-99 from h2, orphan"));
	assert_non_null(strstr(text, "- remove cache-2 from h-elsewhere, orphan"));
	free(text);
	world_free(&w);
}

/* A move a stopped run began: the node is recorded on a host that left
 * (h9) and already runs where the plan puts it now.  It is kept there (a
 * change of host with adopt: no second create, its old identity leaves)
 * and joins; with another image than the planned one it is created again
 * after a push. */
static void test_interrupted_move_kept(void **state)
{
	struct world w;
	const char *img = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	const char *old = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

	(void)state;
	world_init(&w, 6);
	record_all(&w);
	struct state_node *sn = state_find(w.st, "cache-0");
	free(sn->host);
	sn->host = xstrdup("h9");
	replan(&w);
	const struct plan_node *n = plan_find(w.p, "cache-0");
	struct observed_node on[6];
	for (int i = 0; i < 6; i++)
		on[i] = (struct observed_node){.id = w.p->nodes[i].id, .image = img,
					       .host = w.p->nodes[i].host->name, .running = true};
	struct observed obs = {.nodes = on, .n = 6};
	const char *images[] = {img};
	diff(&w, images, &obs);
	assert_int_equal(w.a.changes, 1);
	assert_int_equal(w.a.creates, 0);
	const struct action *x = NULL;
	bool join = false;
	for (size_t i = 0; i < w.a.n; i++) {
		assert_int_not_equal(w.a.items[i].kind, ACT_PUSH);
		if (w.a.items[i].kind == ACT_CHANGE)
			x = &w.a.items[i];
		join |= w.a.items[i].kind == ACT_JOIN && !strcmp(w.a.items[i].node, "cache-0");
	}
	assert_non_null(x);
	assert_true(x->adopt);
	assert_false(x->in_place);
	assert_string_equal(x->host, n->host->name);
	assert_string_equal(x->have->host, "h9");
	assert_true(join);
	char *text = printed(&w.a);
	char want[160];
	snprintf(want, sizeof want, "host h9 -> %s (already created there)\n", n->host->name);
	assert_non_null(strstr(text, want));
	free(text);

	/* the container there runs another image: created again, pushed first */
	for (int i = 0; i < 6; i++)
		if (!strcmp(on[i].id, "cache-0"))
			on[i].image = old;
	diff(&w, images, &obs);
	x = NULL;
	for (size_t i = 0; i < w.a.n; i++)
		if (w.a.items[i].kind == ACT_CHANGE)
			x = &w.a.items[i];
	assert_non_null(x);
	assert_false(x->adopt);
	assert_int_equal(w.a.items[0].kind, ACT_PUSH);
	world_free(&w);
}

/* replicas 1 -> 2 on the same 6 nodes makes 2 shards of 3: the recorded
 * masters cache-0 and cache-2 stay masters, cache-4 has to become a replica;
 * plan reports that role change, which `up` refuses (actions_role_change).
 * Replicas 1 -> 2 -> 1 with nodes 6 -> 9 -> 6 changes no role. */
static void test_role_change(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 6);
	record_all(&w);
	w.svc.replicas = 2;
	replan(&w);
	diff(&w, NULL, NULL);
	const struct action *r = actions_role_change(&w.a);
	assert_non_null(r);
	assert_string_equal(r->node, "cache-4");
	assert_string_equal(r->detail, "master -> replica of cache-0");
	char *text = printed(&w.a);
	assert_non_null(strstr(text, "~ role cache-4 on "));
	assert_non_null(strstr(text, ": replica of cache-4 -> replica of cache-2\n"));
	free(text);

	/* back to replicas = 1: nothing changes role */
	w.svc.replicas = 1;
	replan(&w);
	diff(&w, NULL, NULL);
	assert_null(actions_role_change(&w.a));

	/* 9 nodes with 2 replicas: three new replicas, the masters stay */
	w.svc.nodes = 9;
	w.svc.replicas = 2;
	replan(&w);
	diff(&w, NULL, NULL);
	assert_null(actions_role_change(&w.a));
	assert_int_equal(w.a.creates, 3);
	for (int i = 0; i < 6; i += 2)
		assert_int_equal(plan_find(w.p, (char[]){'c', 'a', 'c', 'h', 'e', '-', (char)('0' + i), 0})->role,
				 ROLE_MASTER);
	assert_string_equal(w.p->nodes[plan_find(w.p, "cache-1")->master].id, "cache-0");
	assert_string_equal(w.p->nodes[plan_find(w.p, "cache-5")->master].id, "cache-4");
	record_all(&w);

	/* and back to 6 nodes with 1 replica: the new replicas go, no role moves */
	w.svc.nodes = 6;
	w.svc.replicas = 1;
	replan(&w);
	diff(&w, NULL, NULL);
	assert_null(actions_role_change(&w.a));
	assert_int_equal(w.a.creates, 0);
	assert_int_equal(w.a.removes, 3);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_cluster),
		cmocka_unit_test(test_scale_and_move),
		cmocka_unit_test(test_observed),
		cmocka_unit_test(test_interrupted_move_kept),
		cmocka_unit_test(test_config_change),
		cmocka_unit_test(test_config_attributes),
		cmocka_unit_test(test_role_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
