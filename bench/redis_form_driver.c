/* redis_form_driver.c - a small command line around redis_cluster, for
 * bench/redis_form.sh and the redisform_* scenario tests.
 *
 *   redis_form_driver form REPLICAS NODE...    rc_form: the first
 *       count/(REPLICAS+1) nodes are masters, the rest replicas in turn
 *       (replica j follows master j % masters); waits for cluster_state:ok
 *   redis_form_driver check REPLICAS NODE...   rc_inspect and every check for
 *       the same plan; one line per check ("anti-affinity: ok" or the reason)
 *   redis_form_driver wait-ok NODE...          wait until every node reports
 *       cluster_state:ok and all 16384 slots are served (all taken as masters:
 *       roles are not checked; for timing redis-cli --cluster create)
 *   redis_form_driver keys COUNT NODE          the write/read set check seeded
 *       at NODE; prints its counts
 *
 * NODE is PORT (on 127.0.0.1) or ADDRESS:PORT.  The password comes from
 * REDISCLI_AUTH (as for redis-cli); SHOAL_DEBUG=1 logs rc_form's phases.
 * Exits 0 when the operation succeeded (every check held), 1 when not, with
 * the reason on stderr, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis_cluster.h"
#include "util.h"

#define MAX_NODES 64

struct plan {
	struct rc_node nodes[MAX_NODES];
	char names[MAX_NODES][16];
	char addresses[MAX_NODES][64];
	size_t n;
};

static int usage(void)
{
	fprintf(stderr, "usage: redis_form_driver form|check REPLICAS NODE... | wait-ok NODE... | "
			"keys COUNT NODE\n");
	return 2;
}

/* NODE... into p: masters first, then replicas (replicas < 0: all masters). */
static int parse_plan(struct plan *p, int replicas, int argc, char **argv)
{
	size_t masters;

	p->n = (size_t)argc;
	if (argc < 1 || p->n > MAX_NODES ||
	    (replicas >= 0 && p->n % (size_t)(replicas + 1) != 0))
		return -1;
	masters = replicas >= 0 ? p->n / (size_t)(replicas + 1) : p->n;
	for (size_t i = 0; i < p->n; i++) {
		const char *colon = strrchr(argv[i], ':');
		long port;
		char *end;

		snprintf(p->addresses[i], sizeof p->addresses[i], "%.*s",
			 colon ? (int)(colon - argv[i]) : 9, colon ? argv[i] : "127.0.0.1");
		port = strtol(colon ? colon + 1 : argv[i], &end, 10);
		if (*end || port < 1 || port > 65535)
			return -1;
		snprintf(p->names[i], sizeof p->names[i], "node-%u", (unsigned)i);
		p->nodes[i] = (struct rc_node){.id = p->names[i], .address = p->addresses[i],
					       .port = (int)port, .master = i < masters,
					       .master_index = -1};
		if (i >= masters)
			p->nodes[i].master_index = (int)((i - masters) % masters);
	}
	return 0;
}

static int wait_ok(const struct plan *p, const struct rc_opts *o, struct err *e)
{
	int64_t until = now_ms() + o->settle_ms;
	const struct timespec pause = {.tv_nsec = 10 * 1000000L};

	for (;;) {
		struct rc_view *v;
		int rc;

		if (rc_inspect(p->nodes, p->n, o, &v, e) < 0)
			return -1;
		rc = rc_check_state(v, e) == 0 && rc_check_slots(v, e) == 0 ? 0 : -1;
		rc_view_free(v);
		if (rc == 0)
			return 0;
		if (now_ms() >= until)
			return err_wrap(e, "not ok within %d ms", o->settle_ms);
		nanosleep(&pause, NULL);
	}
}

static int check(const struct plan *p, const struct rc_opts *o, struct err *e)
{
	static const struct {
		const char *name;
		int (*fn)(const struct rc_view *, struct err *);
	} checks[] = {
		{"slots", rc_check_slots},
		{"state", rc_check_state},
		{"roles", rc_check_roles},
		{"anti-affinity", rc_check_anti_affinity},
	};
	struct rc_view *v;
	int failed = 0;

	if (rc_inspect(p->nodes, p->n, o, &v, e) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
		struct err ce;

		if (checks[i].fn(v, &ce) == 0) {
			printf("%s: ok\n", checks[i].name);
		} else {
			printf("%s: %s\n", checks[i].name, ce.msg);
			failed++;
		}
	}
	rc_view_free(v);
	return failed ? err_set(e, 0, "%d check(s) failed", failed) : 0;
}

static int keys(const struct plan *p, int count, const struct rc_opts *o, struct err *e)
{
	struct rc_check_result r;

	if (rc_write_read_check(&p->nodes[0], o, count, &r, e) < 0)
		return -1;
	printf("attempted %d acknowledged %d verified %d lost %d unacked_present %d redirects %d "
	       "errors %d\n",
	       r.attempted, r.acknowledged, r.verified, r.lost, r.unacked_present, r.redirects,
	       r.errors);
	if (r.lost || r.verified != r.attempted)
		return err_set(e, 0, "not every write was acknowledged and read back");
	return 0;
}

int main(int argc, char **argv)
{
	static struct plan p;
	struct rc_opts o = {.password = getenv("REDISCLI_AUTH"), .timeout_ms = 2000,
			    .settle_ms = 60000};
	struct err e;
	int rc, num;

	if (getenv("SHOAL_DEBUG"))
		log_set_level(LOG_DEBUG);
	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "wait-ok") == 0) {
		if (parse_plan(&p, -1, argc - 2, argv + 2) < 0)
			return usage();
		rc = wait_ok(&p, &o, &e);
	} else {
		if (argc < 4 || (num = atoi(argv[2])) < 0)
			return usage();
		if (strcmp(argv[1], "keys") == 0) {
			if (argc != 4 || parse_plan(&p, -1, 1, argv + 3) < 0)
				return usage();
			rc = keys(&p, num, &o, &e);
		} else if (strcmp(argv[1], "form") == 0 || strcmp(argv[1], "check") == 0) {
			if (parse_plan(&p, num, argc - 3, argv + 3) < 0)
				return usage();
			if (argv[1][0] == 'f') {
				char ids[MAX_NODES][RC_ID_LEN + 1];

				rc = rc_form(p.nodes, p.n, &o, ids, &e);
			} else {
				rc = check(&p, &o, &e);
			}
		} else {
			return usage();
		}
	}
	if (rc < 0) {
		fprintf(stderr, "redis_form_driver: %s\n", e.msg);
		return 1;
	}
	return 0;
}
