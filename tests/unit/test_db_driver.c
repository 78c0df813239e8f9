/* test_db_driver.c - the driver table (db/driver.h) and the command-lifecycle
 * drivers: the exact argv sequences the Cassandra driver runs, and on which
 * node, for 3-node and 5-node layouts, with the hooks of the real
 * templates/cassandra rendered per node.  The Redis driver is driven
 * against real redis-server processes in test_redis_cluster.c, the Riak
 * driver against a model of a Riak cluster in test_riak.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "template.h"
#include "util.h"

static const char *top(void)
{
	const char *t = getenv("SHOAL_TOP");

	return t && *t ? t : ".";
}

/* What the drivers asked to run: "<node>: argv words", one per entry. */
struct rec {
	struct template *t;
	char *lines[64];
	size_t n;
	int fail_at; /* exec number that fails (1-based), 0: none */
};

static int rec_exec(void *arg, const struct db_node *n, char *const *argv, struct buf *out,
		    struct err *e)
{
	struct rec *r = arg;
	struct buf b = {0};

	buf_printf(&b, "%s:", n->id);
	for (size_t i = 0; argv[i]; i++)
		buf_printf(&b, " %s", argv[i]);
	assert_true(r->n < ARRAY_SIZE(r->lines));
	r->lines[r->n++] = buf_steal(&b);
	if (r->fail_at && (int)r->n == r->fail_at)
		return err_set(e, EIO, "%s: %s exited with 1", n->id, argv[0]);
	return 0;
}

/* The template's hook rendered as converge renders it (node.address, and
 * hook.old_address for replace). */
static int rec_hook(void *arg, enum hook_kind k, const struct db_node *n,
		    const struct db_node *old, char ***out, struct err *e)
{
	struct rec *r = arg;
	struct tmpl_vars v = {0};
	int rc;

	tmpl_vars_set(&v, "node.address", n->address);
	if (old)
		tmpl_vars_set(&v, "hook.old_address", old->address);
	rc = template_render_argv(r->t, r->t->hooks[k].argv, r->t->hooks[k].line, &v, out, e);
	tmpl_vars_free(&v);
	return rc;
}

static void rec_reset(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->lines[i]);
	r->n = 0;
	r->fail_at = 0;
}

static void expect_lines(struct rec *r, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	for (size_t i = 0; i < r->n && i < n; i++)
		assert_string_equal(r->lines[i], want[i]);
	assert_int_equal(r->n, n);
	rec_reset(r);
}

static const char *ids[] = {"db-0", "db-1", "db-2", "db-3", "db-4", "db-5", "db-6"};
static const char *addrs[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4",
			      "10.0.0.5", "10.0.0.6", "10.0.0.7"};

static void layout(struct db_node *v, size_t n, const bool *seed)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (struct db_node){.id = ids[i], .address = addrs[i], .port = 9042,
				       .master_index = -1, .seed = seed && seed[i]};
}

static struct db_opts opts_for(struct rec *r, const char *tmpl)
{
	struct err e;

	if (template_load(top(), tmpl, &r->t, &e) < 0)
		fail_msg("template %s: %s", tmpl, e.msg);
	return (struct db_opts){.exec = rec_exec, .hook = rec_hook, .arg = r, .tmpl = r->t};
}

/* ---- the table ------------------------------------------------------------------ */

static void test_table(void **state)
{
	struct template t = {.kind = "mongo", .path = "templates/mongo/template.cfg"};
	const struct db_driver *d;
	struct err e;

	(void)state;
	assert_non_null(db_driver_find("redis"));
	assert_non_null(db_driver_find("cassandra"));
	assert_non_null(db_driver_find("riak"));
	assert_null(db_driver_find("mongo"));
	assert_int_equal(db_driver_for(&t, &d, &e), -1);
	assert_null(d);
	assert_string_equal(e.msg, "templates/mongo/template.cfg: no driver for database kind "
				   "'mongo' (known: redis, cassandra, riak)");
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	t.kind = "riak";
	t.hooks[HOOK_JOIN] = (struct tmpl_hook){.builtin = "redis-join", .line = 7};
	assert_int_equal(db_driver_for(&t, &d, &e), -1);
	assert_string_equal(e.msg, "templates/mongo/template.cfg:7: hooks.join: kind riak has "
				   "no step 'builtin:redis-join'");
	t.hooks[HOOK_JOIN].builtin = "riak-join";
	assert_int_equal(db_driver_for(&t, &d, &e), 0);
	assert_ptr_equal(d, db_driver_find("riak"));
	/* what a kind leaves out is said plainly, never skipped */
	assert_false(db_can(d, "hand_over"));
	assert_int_equal(db_hand_over(d, NULL, 0, 0, 0, &(struct db_opts){0}, NULL, &e), -1);
	assert_int_equal(e.code, ENOTSUP);
	assert_string_equal(e.msg, "database kind riak cannot hand a node's role over");
	assert_int_equal(db_observe(db_driver_find("cassandra"), NULL, 0, &(struct db_opts){0},
				    &(struct db_view *){NULL}, &e), -1);
	assert_string_equal(e.msg, "database kind cassandra cannot report its cluster");
}

/* ---- Cassandra --------------------------------------------------------------------- */

#define NODETOOL "/opt/cassandra/bin/nodetool -h "

static void test_cassandra_3(void **state)
{
	struct rec r = {0};
	struct db_opts o = opts_for(&r, "cassandra");
	const struct db_driver *d = db_driver_find("cassandra");
	static const bool seed[] = {true, false, true, false};
	char got[3][DB_ID_MAX + 1];
	struct db_node n[4];
	struct err e;

	(void)state;
	layout(n, 4, seed);
	assert_int_equal(db_form(d, n, 3, &o, got, &e), 0);
	expect_lines(&r, (const char *[]){"db-0: " NODETOOL "10.0.0.1 status",
					  "db-2: " NODETOOL "10.0.0.3 status",
					  "db-1: " NODETOOL "10.0.0.2 status", NULL});
	assert_string_equal(got[0], "");
	assert_int_equal(db_join(d, n, 3, &n[3], 1, &o, &e), 0);
	expect_lines(&r, (const char *[]){"db-3: " NODETOOL "10.0.0.4 status", NULL});
	char **left = NULL;
	assert_int_equal(db_leave(d, n, 2, &n[2], 1, &o, &left, &e), 0);
	assert_null(left);
	expect_lines(&r, (const char *[]){"db-2: " NODETOOL "10.0.0.3 decommission", NULL});
	assert_int_equal(db_replace(d, n, 2, &n[2], &n[3], &o, &e), 0);
	expect_lines(&r, (const char *[]){"db-3: " NODETOOL "10.0.0.4 assassinate 10.0.0.3",
					  NULL});
	/* every node leaving: its data has nowhere to go, nothing runs */
	assert_int_equal(db_leave(d, NULL, 0, n, 3, &o, &left, &e), -1);
	assert_int_equal(e.code, EBUSY);
	expect_lines(&r, (const char *[]){NULL});
	/* a failing step stops the sequence, naming the node */
	r.fail_at = 2;
	assert_int_equal(db_form(d, n, 3, &o, got, &e), -1);
	assert_non_null(strstr(e.msg, "db-2: form: db-2: /opt/cassandra/bin/nodetool exited"));
	rec_reset(&r);
	template_free(r.t);
}

static void test_cassandra_5(void **state)
{
	struct rec r = {0};
	struct db_opts o = opts_for(&r, "cassandra");
	const struct db_driver *d = db_driver_find("cassandra");
	static const bool seed[] = {false, true, false, true, false, false, false};
	char got[5][DB_ID_MAX + 1];
	struct db_node n[7];
	char **left = NULL;
	struct err e;

	(void)state;
	layout(n, 7, seed);
	assert_int_equal(db_form(d, n, 5, &o, got, &e), 0);
	expect_lines(&r, (const char *[]){"db-1: " NODETOOL "10.0.0.2 status",
					  "db-3: " NODETOOL "10.0.0.4 status",
					  "db-0: " NODETOOL "10.0.0.1 status",
					  "db-2: " NODETOOL "10.0.0.3 status",
					  "db-4: " NODETOOL "10.0.0.5 status", NULL});
	assert_int_equal(db_join(d, n, 5, &n[5], 2, &o, &e), 0);
	expect_lines(&r, (const char *[]){"db-5: " NODETOOL "10.0.0.6 status",
					  "db-6: " NODETOOL "10.0.0.7 status", NULL});
	assert_int_equal(db_leave(d, n, 3, &n[3], 2, &o, &left, &e), 0);
	expect_lines(&r, (const char *[]){"db-3: " NODETOOL "10.0.0.4 decommission",
					  "db-4: " NODETOOL "10.0.0.5 decommission", NULL});
	assert_int_equal(db_replace(d, n, 4, &n[4], &n[5], &o, &e), 0);
	expect_lines(&r, (const char *[]){"db-5: " NODETOOL "10.0.0.6 assassinate 10.0.0.5",
					  NULL});
	template_free(r.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cassandra_3),
		cmocka_unit_test(test_cassandra_5),
	};

	db_register_kinds();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
