/* ops_drill.c - the requests only `shoal drill` sends: net.fault and
 * net.heal (the network faults of netfault.h, bounded by their dead-man
 * timer) and host.kill (every node of the host and the agent itself end at
 * once, as when the host loses power).  Who may send them: whoever may
 * talk to the agent at all (root on the host, through SSH): see
 * docs/security.md. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "netfault.h"
#include "node.h"

/* net.fault {"cut":[addr...],"loss_pct":N,"delay_ms":N,"duration_ms":N} */
int op_net_fault(struct session *s, json_int_t id, json_t *req, json_t **result,
		 struct err *e)
{
	struct netfault_spec f;
	int rc;

	if (netfault_parse(req, &f, e) < 0)
		return -1;
	rc = netfault_apply(&s->agent->net, &f, result, e);
	if (rc == 0) {
		char *what = json_dumps(*result, JSON_COMPACT);

		log_info("net.fault: %s", what);
		free(what);
	}
	netfault_spec_free(&f);
	return rc;
}

/* net.heal {} -> {"removed":true|false} */
int op_net_heal(struct session *s, json_int_t id, json_t *req, json_t **result,
		struct err *e)
{
	bool removed = false;

	if (netfault_clear(&s->agent->net, &removed, e) < 0)
		return -1;
	*result = json_pack("{s:b}", "removed", removed);
	return 0;
}

/* host.kill {} -> {"killed":["c/n",...]}: SIGKILL to every node's init, the
 * answer, then the agent kills itself (agent_run).  Nothing is recorded as
 * stopped: node.json still says "running", so the next agent to start
 * (`shoal-agent connect` of any shoal command) starts them again. */
int op_host_kill(struct session *s, json_int_t id, json_t *req, json_t **result,
		 struct err *e)
{
	struct agent *a = s->agent;
	json_t *killed = json_array();

	for (size_t i = 0; i < a->n_nodes; i++) {
		struct node *n = a->nodes[i];
		struct err ke;

		if (n->pid > 0 && node_signal(n, SIGKILL, &ke) == 0)
			json_array_append_new(killed, json_sprintf("%s/%s", n->spec.cluster,
								   n->spec.name));
	}
	a->crash = true;
	*result = json_pack("{s:o}", "killed", killed);
	return 0;
}
