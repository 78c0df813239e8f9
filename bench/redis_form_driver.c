/* redis_form_driver.c - bench/redis_form.sh's helper around redis_cluster.
 *
 *   redis_form_driver form REPLICAS PORT...     rc_form on 127.0.0.1: the first
 *       len/(REPLICAS+1) ports are masters, the rest replicas in turn
 *       (replica j follows master j % masters); waits for cluster_state:ok
 *   redis_form_driver wait-ok PORT...          wait until every node reports
 *       cluster_state:ok and all 16384 slots are served (for timing
 *       redis-cli --cluster create the same way)
 *
 * The password comes from REDISCLI_AUTH (as for redis-cli).  Prints nothing
 * on success (the phases of rc_form with SHOAL_DEBUG=1); exits 1 with the
 * error on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis_cluster.h"
#include "util.h"

#define MAX_NODES 64

static int usage(void)
{
	fprintf(stderr, "usage: redis_form_driver form REPLICAS PORT... | wait-ok PORT...\n");
	return 2;
}

static int wait_ok(struct rc_node *nodes, size_t n, const struct rc_opts *o, struct err *e)
{
	int64_t until = now_ms() + o->settle_ms;
	const struct timespec pause = {.tv_nsec = 10 * 1000000L};

	for (;;) {
		struct rc_view *v;
		int rc;

		if (rc_inspect(nodes, n, o, &v, e) < 0)
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

int main(int argc, char **argv)
{
	struct rc_node nodes[MAX_NODES];
	char names[MAX_NODES][16], ids[MAX_NODES][RC_ID_LEN + 1];
	struct rc_opts o = {.password = getenv("REDISCLI_AUTH"), .timeout_ms = 2000,
			    .settle_ms = 60000};
	bool form;
	int first, replicas = 0;
	size_t n, masters;
	struct err e;

	if (getenv("SHOAL_DEBUG"))
		log_set_level(LOG_DEBUG);
	if (argc < 3)
		return usage();
	form = strcmp(argv[1], "form") == 0;
	if (!form && strcmp(argv[1], "wait-ok") != 0)
		return usage();
	first = form ? 3 : 2;
	if (form && (argc < 4 || (replicas = atoi(argv[2])) < 0))
		return usage();
	n = (size_t)(argc - first);
	if (n > MAX_NODES || n % (size_t)(replicas + 1) != 0)
		return usage();
	masters = n / (size_t)(replicas + 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "node-%u", (unsigned)i);
		nodes[i] = (struct rc_node){.id = names[i], .address = "127.0.0.1",
					    .port = atoi(argv[first + (int)i]),
					    .master = !form || i < masters, .master_index = -1};
		if (form && i >= masters)
			nodes[i].master_index = (int)((i - masters) % masters);
	}
	if (form ? rc_form(nodes, n, &o, ids, &e) : wait_ok(nodes, n, &o, &e)) {
		fprintf(stderr, "redis_form_driver: %s\n", e.msg);
		return 1;
	}
	return 0;
}
