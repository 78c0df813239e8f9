/* test_state_etcd.c - the etcd state store against a real etcd: the lock
 * (refusal naming the holder, freed on unlock), saves compared on
 * mod_revision (a stale writer is refused), fencing (a holder whose lock was
 * broken writes nothing; a lock fenced by a monitor leader's key writes
 * nothing once that leadership ended), events in order, secrets refused unless allowed,
 * and `state migrate` file -> etcd -> file byte for byte.
 *
 * The etcd is the one SHOAL_TEST_ETCD names (tests/scenarios/state_etcd.bats:
 * the lab's 3 members), else one started on 127.0.0.1 (etcd_fixture.h).  Keys
 * go under /shoal-test/<pid> and are removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd.h"
#include "state.h"
#include "util.h"

#include "etcd_fixture.h"

static char root[64];
static char prefix[64];
static struct spec_state etcd_store, file_store;

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/shoal-test-state-etcd.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	setenv("SHOAL_STATE_DIR", root, 1);
	snprintf(prefix, sizeof prefix, "/shoal-test/%ld", (long)getpid());
	etcd_fixture_start();
	etcd_store = (struct spec_state){.backend = STATE_ETCD, .endpoints = fx_endpoints,
					 .nendpoints = fx_n, .prefix = prefix,
					 .lease_ttl_ms = 10000, .timeout_ms = 3000};
	file_store = (struct spec_state){.backend = STATE_FILE};
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state)
{
	struct etcd *c;
	struct err e = {0};
	bool ok;

	(void)state;
	if (fx_endpoints && etcd_open(fx_endpoints, fx_n, 3000, &c, &e) == 0) {
		char *p = xasprintf("%s/", prefix);

		etcd_txn(c, NULL, json_pack("[o]", etcd_op_delete(p, true)), NULL, &ok, NULL, NULL,
			 &e);
		free(p);
		etcd_close(c);
	}
	etcd_fixture_stop();
	if (nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return 0;
}

static void add_node(struct state *st, int i)
{
	st->nodes = xgrow(st->nodes, &st->cap, st->n + 1, sizeof *st->nodes);
	struct state_node *n = &st->nodes[st->n++];
	memset(n, 0, sizeof *n);
	n->id = xasprintf("cache-%d", i);
	n->service = xstrdup("cache");
	n->host = xasprintf("h%d", i + 1);
	n->address = xasprintf("10.213.8.%d", 11 + i);
	n->port = 7000 + i;
	n->bus_port = 17000 + i;
	n->role = xstrdup("master");
	n->shard = i;
}

static void test_lock_refused_and_freed(void **state)
{
	struct state_lock *a, *b;
	struct err e = {0};
	struct lock_holder h;
	bool held;
	char want[64];

	(void)state;
	NEED_ETCD();
	assert_int_equal(state_lock_at(&etcd_store, "lk", "shoal up a.cfg", &a, NULL, NULL, &e), 0);
	assert_int_equal(state_lock_at(&etcd_store, "lk", "shoal up b.cfg", &b, NULL, NULL, &e), -1);
	assert_int_equal(e.code, EBUSY);
	snprintf(want, sizeof want, "is locked by pid %ld on ", (long)getpid());
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "running 'shoal up a.cfg'"));
	assert_non_null(strstr(e.msg, "/lk/lock"));
	assert_int_equal(state_lock_read_at(&etcd_store, "lk", &h, &held, &e), 0);
	assert_true(held);
	assert_string_equal(h.command, "shoal up a.cfg");
	/* unlock without --force refuses a live holder */
	assert_int_equal(state_force_unlock_at(&etcd_store, "lk", false, &h, &e), -1);
	state_unlock(a);
	assert_int_equal(state_lock_read_at(&etcd_store, "lk", &h, &held, &e), -1);
	assert_int_equal(e.code, ENOENT);
	assert_int_equal(state_lock_at(&etcd_store, "lk", "shoal up b.cfg", &b, NULL, NULL, &e), 0);
	state_unlock(b);
}

static void test_save_compared_on_revision(void **state)
{
	struct state_lock *l;
	struct state *one, *two, *back;
	struct err e = {0};
	char *text;

	(void)state;
	NEED_ETCD();
	assert_int_equal(state_lock_at(&etcd_store, "rev", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_load_at(&etcd_store, "rev", &one, &e), 0);
	assert_int_equal(one->serial, 0);
	assert_int_equal(one->rev, 0);
	add_node(one, 0);
	assert_int_equal(state_save(l, one, &e), 0);
	assert_true(one->rev > 0);
	/* two copies read at the same revision: the first save wins, the second
	 * is refused and names the store */
	state_free(one);
	assert_int_equal(state_load_at(&etcd_store, "rev", &one, &e), 0);
	assert_int_equal(state_load_at(&etcd_store, "rev", &two, &e), 0);
	assert_int_equal(one->rev, two->rev);
	add_node(one, 1);
	add_node(two, 2);
	assert_int_equal(state_save(l, one, &e), 0);
	assert_int_equal(state_save(l, two, &e), -1);
	assert_int_equal(e.code, ESTALE);
	assert_non_null(strstr(e.msg, "changed since this command read it"));
	assert_int_equal(two->serial, 1); /* not bumped by the refused save */
	/* what is stored is the first writer's state, byte for byte */
	assert_int_equal(state_load_at(&etcd_store, "rev", &back, &e), 0);
	assert_int_equal(back->n, 2);
	assert_string_equal(back->nodes[1].id, "cache-1");
	text = state_to_json(one);
	char *stored = state_to_json(back);
	assert_string_equal(text, stored);
	free(text);
	free(stored);
	state_free(one);
	state_free(two);
	state_free(back);
	assert_int_equal(state_remove(l, &e), 0);
	assert_int_equal(state_load_at(&etcd_store, "rev", &back, &e), 0);
	assert_int_equal(back->serial, 0);
	state_free(back);
	state_unlock(l);
}

static void test_fenced_after_lock_broken(void **state)
{
	struct state_lock *l, *l2;
	struct state *st;
	struct lock_holder h;
	struct err e = {0};

	(void)state;
	NEED_ETCD();
	assert_int_equal(state_lock_at(&etcd_store, "fence", "old holder", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_load_at(&etcd_store, "fence", &st, &e), 0);
	add_node(st, 0);
	/* another operator breaks the lock (its lease is revoked) and takes it */
	assert_int_equal(state_force_unlock_at(&etcd_store, "fence", true, &h, &e), 0);
	assert_string_equal(h.command, "old holder");
	assert_int_equal(state_lock_at(&etcd_store, "fence", "new holder", &l2, NULL, NULL, &e), 0);
	/* the old holder's writes are refused: state and events */
	assert_int_equal(state_save(l, st, &e), -1);
	assert_int_equal(e.code, ESTALE);
	assert_non_null(strstr(e.msg, "no longer holds the etcd lock"));
	assert_non_null(strstr(e.msg, "new holder"));
	assert_int_equal(state_event(l, "node.created", NULL, &e), -1);
	state_free(st);
	/* nothing was written */
	assert_int_equal(state_load_at(&etcd_store, "fence", &st, &e), 0);
	assert_int_equal(st->serial, 0);
	state_free(st);
	struct buf ev = {0};
	assert_int_equal(state_events_read(&etcd_store, "fence", &ev, &e), 0);
	assert_int_equal(ev.len, 0);
	buf_free(&ev);
	state_unlock(l); /* must not remove the new holder's lock */
	bool held;
	assert_int_equal(state_lock_read_at(&etcd_store, "fence", &h, &held, &e), 0);
	assert_string_equal(h.command, "new holder");
	state_unlock(l2);
}

/* A lock bound to a fence (the reschedule of a leading `shoal monitor`):
 * its writes go through while the fence key keeps its create_revision, and
 * are refused - nothing written - once the key was created anew (another
 * leader), though the lock is still held. */
static void test_fenced_by_leader_key(void **state)
{
	struct state_lock *l;
	struct state *st, *back;
	struct etcd *c;
	struct etcd_kv kv;
	struct err e = {0};
	char *key = xasprintf("%s/lf/monitor/leader", prefix);
	int64_t token;
	bool ok;
	struct buf ev = {0};

	(void)state;
	NEED_ETCD();
	assert_int_equal(etcd_open(fx_endpoints, fx_n, 3000, &c, &e), 0);
	assert_int_equal(etcd_txn(c, NULL, json_pack("[o]", etcd_op_put(key, "a", 1, 0)), NULL,
				  &ok, NULL, NULL, &e), 0);
	assert_int_equal(etcd_get(c, key, &kv, NULL, &e), 1);
	token = kv.create_rev;
	etcd_kv_clear(&kv);
	/* a token that is not the key's is refused at once */
	assert_int_equal(state_lock_at(&etcd_store, "lf", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_lock_fence(l, key, token + 1000, "leader A", &e), -1);
	assert_int_equal(e.code, ESTALE);
	assert_non_null(strstr(e.msg, "leader A has ended"));
	state_unlock(l);
	/* the right one: writes go through */
	assert_int_equal(state_lock_at(&etcd_store, "lf", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_lock_fence(l, key, token, "leader A", &e), 0);
	assert_int_equal(state_load_at(&etcd_store, "lf", &st, &e), 0);
	add_node(st, 0);
	assert_int_equal(state_save(l, st, &e), 0);
	assert_int_equal(state_event(l, "up.start", NULL, &e), 0);
	/* another leader: the key deleted and created again */
	assert_int_equal(etcd_txn(c, NULL, json_pack("[o]", etcd_op_delete(key, false)), NULL,
				  &ok, NULL, NULL, &e), 0);
	assert_int_equal(etcd_txn(c, NULL, json_pack("[o]", etcd_op_put(key, "b", 1, 0)), NULL,
				  &ok, NULL, NULL, &e), 0);
	add_node(st, 1);
	assert_int_equal(state_save(l, st, &e), -1);
	assert_int_equal(e.code, ESTALE);
	assert_non_null(strstr(e.msg, "leader A has ended"));
	assert_non_null(strstr(e.msg, "nothing was written"));
	assert_int_equal(state_event(l, "up.done", NULL, &e), -1);
	assert_int_equal(e.code, ESTALE);
	assert_int_equal(state_remove(l, &e), -1);
	/* what is stored is what the fence let through */
	assert_int_equal(state_load_at(&etcd_store, "lf", &back, &e), 0);
	assert_int_equal(back->n, 1);
	assert_int_equal(state_events_read(&etcd_store, "lf", &ev, &e), 0);
	assert_non_null(strstr(ev.data, "up.start"));
	assert_null(strstr(ev.data, "up.done"));
	buf_free(&ev);
	state_free(back);
	state_free(st);
	state_unlock(l);
	etcd_close(c);
	free(key);
}

static void test_events_in_order(void **state)
{
	struct state_lock *l;
	struct err e = {0};
	struct buf b = {0};
	char *line, *save = NULL;
	int i = 0;

	(void)state;
	NEED_ETCD();
	assert_int_equal(state_lock_at(&etcd_store, "ev", "t", &l, NULL, NULL, &e), 0);
	for (int k = 0; k < 25; k++) {
		json_t *f = json_pack("{s:i}", "k", k);

		assert_int_equal(state_event(l, "x", f, &e), 0);
		json_decref(f);
	}
	assert_int_equal(state_events_read(&etcd_store, "ev", &b, &e), 0);
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		json_t *j = json_loads(line, 0, NULL);

		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "event")), "x");
		assert_int_equal(json_integer_value(json_object_get(j, "k")), i);
		json_decref(j);
	}
	assert_int_equal(i, 25);
	buf_free(&b);
	state_unlock(l);
}

static void test_secrets_need_consent(void **state)
{
	struct state_lock *l;
	struct state *st;
	struct err e = {0};
	struct spec_state allow = etcd_store;

	(void)state;
	NEED_ETCD();
	assert_int_equal(state_lock_at(&etcd_store, "sec", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_load_at(&etcd_store, "sec", &st, &e), 0);
	assert_non_null(state_service_secret(st, "cache", "password", &e));
	assert_int_equal(state_save(l, st, &e), -1);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	assert_non_null(strstr(e.msg, "cache.password"));
	assert_non_null(strstr(e.msg, "state.store_secrets = true"));
	state_unlock(l);
	allow.store_secrets = true;
	assert_int_equal(state_lock_at(&allow, "sec", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_save(l, st, &e), 0);
	state_free(st);
	state_unlock(l);
}

static char *slurp(const char *path, size_t *len)
{
	char *text = NULL;
	struct err e = {0};

	if (read_file(path, 1 << 20, &text, len, &e) < 0)
		return NULL;
	return text;
}

static void test_migrate_round_trip(void **state)
{
	struct state_lock *l;
	struct state *st;
	struct err e = {0};
	struct state_migrate_report r;
	char *orig, *orig_ev, *after, *after_ev, *path, *evpath;
	size_t n1, n2, n3, n4;
	struct spec_state allow = etcd_store;

	(void)state;
	NEED_ETCD();
	path = xasprintf("%s/mig/state.json", root);
	evpath = xasprintf("%s/mig/events.jsonl", root);
	allow.store_secrets = true;
	/* a state and events written by the file store */
	assert_int_equal(state_lock("mig", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_load("mig", &st, &e), 0);
	for (int i = 0; i < 4; i++)
		add_node(st, i);
	assert_non_null(state_service_secret(st, "cache", "password", &e));
	assert_int_equal(state_save(l, st, &e), 0);
	for (int k = 0; k < 130; k++) /* more than one etcd txn of events */
		assert_int_equal(state_event(l, "node.created", NULL, &e), 0);
	state_unlock(l);
	state_free(st);
	orig = slurp(path, &n1);
	orig_ev = slurp(evpath, &n2);
	assert_non_null(orig);
	assert_non_null(orig_ev);

	/* secrets stay out of etcd without consent */
	assert_int_equal(state_migrate(&file_store, &etcd_store, "mig", false, "t", &r, &e), -1);
	assert_non_null(strstr(e.msg, "store_secrets"));
	/* file -> etcd */
	assert_int_equal(state_migrate(&file_store, &allow, "mig", false, "t", &r, &e), 0);
	assert_int_equal(r.state_bytes, n1);
	assert_int_equal(r.events, 130);
	assert_int_equal(r.events_bytes, n2);
	assert_true(r.canonical_source);
	/* etcd -> file, over the original: identical, so no --replace needed */
	assert_int_equal(state_migrate(&allow, &file_store, "mig", false, "t", &r, &e), 0);
	assert_false(r.replaced);
	after = slurp(path, &n3);
	after_ev = slurp(evpath, &n4);
	assert_int_equal(n3, n1);
	assert_memory_equal(after, orig, n1);
	assert_int_equal(n4, n2);
	assert_memory_equal(after_ev, orig_ev, n2);
	free(after);
	free(after_ev);

	/* a different state in the target is refused unless --replace */
	assert_int_equal(state_lock_at(&allow, "mig", "t", &l, NULL, NULL, &e), 0);
	assert_int_equal(state_load_at(&allow, "mig", &st, &e), 0);
	add_node(st, 9);
	assert_int_equal(state_save(l, st, &e), 0);
	state_unlock(l);
	state_free(st);
	assert_int_equal(state_migrate(&allow, &file_store, "mig", false, "t", &r, &e), -1);
	assert_int_equal(e.code, EEXIST);
	assert_non_null(strstr(e.msg, "--replace"));
	after = slurp(path, &n3);
	assert_memory_equal(after, orig, n1);
	free(after);
	assert_int_equal(state_migrate(&allow, &file_store, "mig", true, "t", &r, &e), 0);
	assert_true(r.replaced);
	assert_int_equal(r.nodes, 5);
	/* the same store on both sides is a usage error */
	assert_int_equal(state_migrate(&allow, &allow, "mig", false, "t", &r, &e), -1);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	free(orig);
	free(orig_ev);
	free(path);
	free(evpath);
}

static void test_unreachable_endpoint_skipped(void **state)
{
	struct spec_state w = etcd_store;
	struct state *st;
	struct err e = {0};
	char **eps;

	(void)state;
	NEED_ETCD();
	eps = xcalloc(etcd_store.nendpoints + 2, sizeof *eps);
	/* a first endpoint nobody listens on (TEST-NET-1 would hang: use a
	 * closed port on the first real endpoint's host) */
	eps[0] = xstrdup("http://127.0.0.1:1");
	for (size_t i = 0; i < etcd_store.nendpoints; i++)
		eps[i + 1] = xstrdup(fx_endpoints[i]);
	w.endpoints = eps;
	w.nendpoints = etcd_store.nendpoints + 1;
	assert_int_equal(state_load_at(&w, "rev", &st, &e), 0);
	state_free(st);
	/* no endpoint at all that answers: an error naming the last */
	w.endpoints = eps;
	w.nendpoints = 1;
	assert_int_equal(state_load_at(&w, "rev", &st, &e), -1);
	assert_non_null(strstr(e.msg, "127.0.0.1:1"));
	strv_free(eps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_refused_and_freed),
		cmocka_unit_test(test_save_compared_on_revision),
		cmocka_unit_test(test_fenced_after_lock_broken),
		cmocka_unit_test(test_fenced_by_leader_key),
		cmocka_unit_test(test_events_in_order),
		cmocka_unit_test(test_secrets_need_consent),
		cmocka_unit_test(test_migrate_round_trip),
		cmocka_unit_test(test_unreachable_endpoint_skipped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
