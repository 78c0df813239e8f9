/* rc_nodes.c - CLUSTER NODES and CLUSTER INFO parsed, the cluster's view
 * built from them and checked (redis_cluster.h). */
#include "redis_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* ---- parsing ---------------------------------------------------------------- */

bool rc_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!*s || !((*s >= '0' && *s <= '9') || *s == '-'))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool rc_is_node_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == RC_ID_LEN;
}

/* "ip:port@cport[,hostname]" (ip may be empty or an IPv6 address). */
static bool parse_address(char *s, struct rc_entry *en)
{
	char *at, *colon, *comma;
	long v;

	if ((comma = strchr(s, ',')))
		*comma = '\0';
	if (!(at = strchr(s, '@')))
		return false;
	*at = '\0';
	if (!rc_parse_long(at + 1, 0, 65535, &v))
		return false;
	en->bus_port = (int)v;
	if (!(colon = strrchr(s, ':')))
		return false;
	*colon = '\0';
	if (!rc_parse_long(colon + 1, 0, 65535, &v))
		return false;
	en->port = (int)v;
	if (strlen(s) >= sizeof en->address)
		return false;
	memcpy(en->address, s, strlen(s) + 1);
	return true;
}

static void parse_flags(char *s, struct rc_entry *en)
{
	static const struct {
		const char *name;
		unsigned flag;
	} names[] = {
		{"myself", RC_F_MYSELF},       {"master", RC_F_MASTER},     {"slave", RC_F_REPLICA},
		{"fail?", RC_F_PFAIL},         {"fail", RC_F_FAIL},         {"handshake", RC_F_HANDSHAKE},
		{"noaddr", RC_F_NOADDR},       {"nofailover", RC_F_NOFAILOVER},
	};
	char *save = NULL;

	for (char *f = strtok_r(s, ",", &save); f; f = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			if (strcmp(f, names[i].name) == 0)
				en->flags |= names[i].flag;
}

static bool parse_slot_field(const char *s, struct rc_entry *en, size_t *cap)
{
	char tmp[32], *dash;
	long a, b;

	if (s[0] == '[') { /* "[slot->-id]" migrating or "[slot-<-id]" importing */
		en->migrating++;
		return true;
	}
	if (strlen(s) >= sizeof tmp)
		return false;
	memcpy(tmp, s, strlen(s) + 1);
	if ((dash = strchr(tmp, '-')))
		*dash = '\0';
	if (!rc_parse_long(tmp, 0, RC_SLOTS - 1, &a))
		return false;
	b = a;
	if (dash && !rc_parse_long(dash + 1, a, RC_SLOTS - 1, &b))
		return false;
	en->ranges = xgrow(en->ranges, cap, en->nranges + 1, sizeof *en->ranges);
	en->ranges[en->nranges++] = (struct rc_range){(int)a, (int)b};
	en->nslots += (int)(b - a + 1);
	return true;
}

/* One line: id addr flags master ping-sent pong-recv config-epoch link-state slot... */
static int parse_nodes_line(char *line, int lineno, struct rc_entry *en, struct err *e)
{
	char *field[8], *save = NULL, *f;
	size_t cap = 0;
	long v;
	int i;

	memset(en, 0, sizeof *en);
	en->plan_index = -1;
	for (i = 0; i < 8; i++) {
		field[i] = strtok_r(i ? NULL : line, " ", &save);
		if (!field[i])
			return err_set(e, EPROTO, "CLUSTER NODES line %d: %d fields, expected at least 8",
				       lineno, i);
	}
	if (!rc_is_node_id(field[0]))
		return err_set(e, EPROTO, "CLUSTER NODES line %d: bad node id '%.60s'", lineno, field[0]);
	memcpy(en->id, field[0], RC_ID_LEN + 1);
	if (!parse_address(field[1], en))
		return err_set(e, EPROTO, "CLUSTER NODES line %d: bad address", lineno);
	parse_flags(field[2], en);
	if (strcmp(field[3], "-") != 0) {
		if (!rc_is_node_id(field[3]))
			return err_set(e, EPROTO, "CLUSTER NODES line %d: bad master id '%.60s'", lineno,
				       field[3]);
		memcpy(en->master_id, field[3], RC_ID_LEN + 1);
	}
	if (!rc_parse_long(field[6], 0, LONG_MAX, &v))
		return err_set(e, EPROTO, "CLUSTER NODES line %d: bad config epoch '%.30s'", lineno,
			       field[6]);
	en->config_epoch = (uint64_t)v;
	if (strcmp(field[7], "connected") == 0)
		en->connected = true;
	else if (strcmp(field[7], "disconnected") != 0)
		return err_set(e, EPROTO, "CLUSTER NODES line %d: bad link state '%.30s'", lineno,
			       field[7]);
	while ((f = strtok_r(NULL, " ", &save)))
		if (!parse_slot_field(f, en, &cap))
			return err_set(e, EPROTO, "CLUSTER NODES line %d: bad slot '%.30s'", lineno, f);
	return 0;
}

void rc_entries_free(struct rc_entry *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].ranges);
	free(v);
}

int rc_parse_nodes(const char *text, struct rc_entry **out, size_t *n, struct err *e)
{
	_cleanup_free_ char *copy = xstrdup(text);
	struct rc_entry *v = NULL;
	size_t nv = 0, cap = 0;
	char *save = NULL;
	int lineno = 0;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!len)
			continue;
		v = xgrow(v, &cap, nv + 1, sizeof *v);
		if (parse_nodes_line(line, lineno, &v[nv], e) < 0) {
			rc_entries_free(v, nv + 1);
			return -1;
		}
		nv++;
	}
	*out = v;
	*n = nv;
	return 0;
}

/* cluster_state, cluster_slots_assigned and cluster_known_nodes of CLUSTER INFO. */
static int parse_info(const char *text, struct rc_observer *ob, struct err *e)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char *save = NULL;
	int seen = 0;
	long v;

	for (char *line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = '\0';
		if (strcmp(line, "cluster_state") == 0) {
			ob->state_ok = strcmp(colon + 1, "ok") == 0;
			seen |= 1;
		} else if (strcmp(line, "cluster_slots_assigned") == 0) {
			if (!rc_parse_long(colon + 1, 0, RC_SLOTS, &v))
				return err_set(e, EPROTO, "CLUSTER INFO: bad cluster_slots_assigned");
			ob->slots_assigned = (int)v;
			seen |= 2;
		} else if (strcmp(line, "cluster_known_nodes") == 0) {
			if (!rc_parse_long(colon + 1, 0, INT_MAX, &v))
				return err_set(e, EPROTO, "CLUSTER INFO: bad cluster_known_nodes");
			ob->known_nodes = (int)v;
			seen |= 4;
		}
	}
	if (seen != 7)
		return err_set(e, EPROTO, "CLUSTER INFO: cluster_state, cluster_slots_assigned or "
				       "cluster_known_nodes missing");
	return 0;
}

/* ---- views ----------------------------------------------------------------- */

int rc_validate_plan(const struct rc_node *nodes, size_t n, struct err *e)
{
	size_t masters = 0;

	if (n == 0)
		return err_usage(e, "redis cluster: no nodes");
	for (size_t i = 0; i < n; i++) {
		const struct rc_node *nd = &nodes[i];

		if (!nd->id || !*nd->id || !nd->address || !*nd->address)
			return err_usage(e, "redis cluster: node %zu: id and address are required", i);
		if (nd->port < 1 || nd->port > 65535 || nd->bus_port < 0 || nd->bus_port > 65535)
			return err_usage(e, "%s: port %d / bus port %d out of range", nd->id, nd->port,
					 nd->bus_port);
		if (nd->master) {
			masters++;
			if (nd->master_index != -1)
				return err_usage(e, "%s: a master has master_index -1, not %d", nd->id,
						 nd->master_index);
			continue;
		}
		if (nd->master_index < 0 || (size_t)nd->master_index >= n ||
		    !nodes[nd->master_index].master)
			return err_usage(e, "%s: replica's master_index %d is not a planned master",
					 nd->id, nd->master_index);
	}
	if (masters == 0)
		return err_usage(e, "redis cluster: the plan has no master");
	if (masters > RC_SLOTS)
		return err_usage(e, "redis cluster: %zu masters, at most %d", masters, RC_SLOTS);
	return 0;
}

struct rc_entry *rc_find_entry(struct rc_entry *t, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].id, id) == 0)
			return &t[i];
	return NULL;
}

const struct rc_entry *rc_self_entry(const struct rc_observer *ob)
{
	for (size_t i = 0; i < ob->ntable; i++)
		if (ob->table[i].flags & RC_F_MYSELF)
			return &ob->table[i];
	return NULL;
}

const struct rc_entry *rc_self(const struct rc_observer *ob)
{
	if (!ob->reachable)
		return NULL;
	return rc_self_entry(ob);
}

/* Which planned node has Redis id `id`; -1 when none answered with it. */
static int plan_index_of(const struct rc_view *v, const char *id)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->obs[i].reachable && strcmp(v->obs[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void entry_copy(struct rc_entry *dst, const struct rc_entry *src)
{
	*dst = *src;
	dst->ranges = NULL;
	if (src->nranges) {
		dst->ranges = xcalloc(src->nranges, sizeof *dst->ranges);
		memcpy(dst->ranges, src->ranges, src->nranges * sizeof *dst->ranges);
	}
}

/* The merged table: see struct rc_view. */
static void merge_nodes(struct rc_view *v)
{
	size_t cap = 0;
	struct rc_entry *m;
	uint8_t *covered = xcalloc(RC_SLOTS, 1);

	for (size_t i = 0; i < v->n; i++) {
		const struct rc_entry *me;

		if (!v->obs[i].reachable || !(me = rc_self_entry(&v->obs[i])))
			continue;
		v->nodes = xgrow(v->nodes, &cap, v->nnodes + 1, sizeof *v->nodes);
		entry_copy(&v->nodes[v->nnodes++], me);
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct rc_observer *ob = &v->obs[i];

		for (size_t j = 0; ob->reachable && j < ob->ntable; j++) {
			const struct rc_entry *en = &ob->table[j];

			if (en->flags & RC_F_HANDSHAKE)
				continue;
			if (!(m = rc_find_entry(v->nodes, v->nnodes, en->id))) {
				v->nodes = xgrow(v->nodes, &cap, v->nnodes + 1, sizeof *v->nodes);
				entry_copy(&v->nodes[v->nnodes++], en);
				continue;
			}
			if (en->flags & RC_F_MYSELF)
				continue;
			m->flags |= en->flags & (RC_F_PFAIL | RC_F_FAIL);
			m->connected = m->connected && en->connected;
			if (!*m->address && *en->address)
				memcpy(m->address, en->address, sizeof m->address);
		}
	}
	v->slots_covered = 0;
	for (size_t i = 0; i < v->nnodes; i++) {
		m = &v->nodes[i];
		m->flags &= ~(unsigned)RC_F_MYSELF; /* the merged table is nobody's self */
		m->plan_index = plan_index_of(v, m->id);
		if (!(m->flags & RC_F_MASTER))
			continue;
		for (size_t r = 0; r < m->nranges; r++)
			for (int s = m->ranges[r].first; s <= m->ranges[r].last; s++)
				if (!covered[s]) {
					covered[s] = 1;
					v->slots_covered++;
				}
	}
	free(covered);
}

void rc_view_free(struct rc_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free(v->obs[i].label);
		free(v->obs[i].error);
		rc_entries_free(v->obs[i].table, v->obs[i].ntable);
	}
	free(v->obs);
	rc_entries_free(v->nodes, v->nnodes);
	free(v);
}

int rc_view_build(const struct rc_node *nodes, size_t n, const struct rc_observation *obs,
		  struct rc_view **out, struct err *e)
{
	struct rc_view *v;

	if (rc_validate_plan(nodes, n, e) < 0)
		return -1;
	v = xcalloc(1, sizeof *v);
	v->obs = xcalloc(n, sizeof *v->obs);
	v->n = n;
	for (size_t i = 0; i < n; i++) {
		struct rc_observer *ob = &v->obs[i];
		const struct rc_entry *me;

		ob->label = rc_node_label(&nodes[i]);
		ob->master = nodes[i].master;
		ob->master_index = nodes[i].master_index;
		if (obs[i].error) {
			ob->error = xstrdup(obs[i].error);
			continue;
		}
		if (!obs[i].nodes_text || !obs[i].info_text) {
			rc_view_free(v);
			return err_usage(e, "%s: no CLUSTER NODES or CLUSTER INFO answer", nodes[i].id);
		}
		if (rc_parse_nodes(obs[i].nodes_text, &ob->table, &ob->ntable, e) < 0 ||
		    parse_info(obs[i].info_text, ob, e) < 0) {
			err_wrap(e, "%s", ob->label);
			rc_view_free(v);
			return -1;
		}
		if (!(me = rc_self_entry(ob))) {
			err_set(e, EPROTO, "%s: CLUSTER NODES has no 'myself' line", ob->label);
			rc_view_free(v);
			return -1;
		}
		memcpy(ob->id, me->id, sizeof ob->id);
		ob->reachable = true;
		v->reachable++;
		v->state_ok += ob->state_ok;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < v->obs[i].ntable; j++)
			v->obs[i].table[j].plan_index = plan_index_of(v, v->obs[i].table[j].id);
	merge_nodes(v);
	*out = v;
	return 0;
}

/* Ask one node for CLUSTER NODES and CLUSTER INFO; *nodes_text and *info_text
 * are allocated (caller frees). */
static int ask_node(redisContext *c, int tmo, const char *label, char **nodes_text,
		    char **info_text, struct err *e)
{
	_cleanup_reply_ redisReply *rn = NULL, *ri = NULL;

	if (!(rn = CALL(c, tmo, label, e, "CLUSTER", "NODES")) ||
	    !(ri = CALL(c, tmo, label, e, "CLUSTER", "INFO")))
		return -1;
	if (rn->type != REDIS_REPLY_STRING || ri->type != REDIS_REPLY_STRING)
		return err_set(e, EPROTO, "%s: CLUSTER NODES/INFO: unexpected reply type", label);
	*nodes_text = xstrndup(rn->str, rn->len);
	*info_text = xstrndup(ri->str, ri->len);
	return 0;
}

/* Ask every node over its connection and build a view; a node that fails to
 * answer fails the call (rc_form needs them all). */
int rc_observe_all(const struct rc_node *nodes, size_t n, redisContext **conns, int tmo,
		   struct rc_view **out, struct err *e)
{
	struct rc_observation *obs = xcalloc(n, sizeof *obs);
	char **texts = xcalloc(2 * n, sizeof *texts);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		_cleanup_free_ char *label = rc_node_label(&nodes[i]);

		rc = ask_node(conns[i], tmo, label, &texts[2 * i], &texts[2 * i + 1], e);
		obs[i].nodes_text = texts[2 * i];
		obs[i].info_text = texts[2 * i + 1];
	}
	if (rc == 0)
		rc = rc_view_build(nodes, n, obs, out, e);
	for (size_t i = 0; i < 2 * n; i++)
		free(texts[i]);
	free(texts);
	free(obs);
	return rc;
}

void rc_free_conns(redisContext **conns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (conns[i])
			redisFree(conns[i]);
	free(conns);
}

/* One node's part of rc_inspect, run on its own thread. */
struct inspect_job {
	const struct rc_node *node;
	const struct rc_opts *o;
	char *nodes_text, *info_text; /* its answers, or */
	char *error;                  /* why there are none */
};

static void *inspect_one(void *arg)
{
	struct inspect_job *j = arg;
	_cleanup_free_ char *label = rc_node_label(j->node);
	size_t ll = strlen(label);
	redisContext *c;
	struct err e;

	if (!(c = rc_connect(label, j->node->address, j->node->port, j->o, &e)) ||
	    ask_node(c, rc_opt_timeout_ms(j->o), label, &j->nodes_text, &j->info_text, &e) < 0)
		/* The view names the node already: keep only the reason. */
		j->error = xstrdup(strncmp(e.msg, label, ll) == 0 && e.msg[ll] == ':' ? e.msg + ll + 2
										       : e.msg);
	if (c)
		redisFree(c);
	return NULL;
}

int rc_inspect(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
	       struct rc_view **out, struct err *e)
{
	struct inspect_job *jobs;
	struct rc_observation *obs;
	pthread_t *threads;
	bool *started;
	int rc;

	if (rc_validate_plan(nodes, n, e) < 0)
		return -1;
	jobs = xcalloc(n, sizeof *jobs);
	obs = xcalloc(n, sizeof *obs);
	threads = xcalloc(n, sizeof *threads);
	started = xcalloc(n, sizeof *started);
	/* All nodes at once, INSPECT_THREADS at a time: a dead host costs one
	 * timeout, not one per node on it. */
	for (size_t first = 0; first < n; first += INSPECT_THREADS) {
		size_t last = first + INSPECT_THREADS < n ? first + INSPECT_THREADS : n;

		for (size_t i = first; i < last; i++) {
			jobs[i] = (struct inspect_job){.node = &nodes[i], .o = o};
			started[i] = pthread_create(&threads[i], NULL, inspect_one, &jobs[i]) == 0;
			if (!started[i]) /* no thread to be had: ask it here */
				inspect_one(&jobs[i]);
		}
		for (size_t i = first; i < last; i++)
			if (started[i])
				pthread_join(threads[i], NULL);
	}
	for (size_t i = 0; i < n; i++)
		obs[i] = (struct rc_observation){.nodes_text = jobs[i].nodes_text,
						 .info_text = jobs[i].info_text,
						 .error = jobs[i].error};
	rc = rc_view_build(nodes, n, obs, out, e);
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].nodes_text);
		free(jobs[i].info_text);
		free(jobs[i].error);
	}
	free(jobs);
	free(obs);
	free(threads);
	free(started);
	return rc;
}

/* ---- checks ------------------------------------------------------------------ */

/* "cache-0 (10.0.0.1:7000)" for a planned node, else "node 1a2b3c4d (addr:port)". */
static void entry_name(const struct rc_view *v, const struct rc_entry *en, char *out, size_t n)
{
	if (en->plan_index >= 0)
		snprintf(out, n, "%s", v->obs[en->plan_index].label);
	else
		snprintf(out, n, "node %.8s (%s:%d)", en->id, en->address, en->port);
}

int rc_check_slots(const struct rc_view *v, struct err *e)
{
	uint8_t *covered;
	int first = -1, last = -1;

	if (v->slots_covered == RC_SLOTS)
		return 0;
	covered = xcalloc(RC_SLOTS, 1);
	for (size_t i = 0; i < v->nnodes; i++) {
		if (!(v->nodes[i].flags & RC_F_MASTER))
			continue;
		for (size_t r = 0; r < v->nodes[i].nranges; r++)
			memset(covered + v->nodes[i].ranges[r].first, 1,
			       (size_t)(v->nodes[i].ranges[r].last - v->nodes[i].ranges[r].first + 1));
	}
	for (int s = 0; s < RC_SLOTS; s++) {
		if (covered[s] && first >= 0)
			break;
		if (!covered[s]) {
			if (first < 0)
				first = s;
			last = s;
		}
	}
	free(covered);
	return err_set(e, EAGAIN, "slots %d-%d are served by no master (%d of %d covered)", first,
		       last, v->slots_covered, RC_SLOTS);
}

int rc_check_state(const struct rc_view *v, struct err *e)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct rc_observer *ob = &v->obs[i];

		if (!ob->reachable)
			return err_set(e, EHOSTUNREACH, "%s: not reachable: %s", ob->label, ob->error);
		if (!ob->state_ok)
			return err_set(e, EAGAIN, "%s: cluster_state is not ok (%d slots assigned)",
				       ob->label, ob->slots_assigned);
	}
	return 0;
}

int rc_check_roles(const struct rc_view *v, struct err *e)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct rc_observer *ob = &v->obs[i], *mo;
		const struct rc_entry *me, *am;
		char actual[160];

		if (!ob->reachable)
			return err_set(e, EHOSTUNREACH, "%s: not reachable: %s", ob->label, ob->error);
		me = rc_self_entry(ob);
		if (ob->master) {
			if (!(me->flags & RC_F_MASTER))
				return err_set(e, EAGAIN, "%s: is a replica, planned as a master", ob->label);
			continue;
		}
		mo = &v->obs[ob->master_index];
		if (!mo->reachable)
			return err_set(e, EHOSTUNREACH, "%s: cannot check its master: %s not reachable",
				       ob->label, mo->label);
		if (!(me->flags & RC_F_REPLICA))
			return err_set(e, EAGAIN, "%s: is a master, planned as a replica of %s",
				       ob->label, mo->label);
		if (strcmp(me->master_id, mo->id) != 0) {
			if ((am = rc_find_entry(v->nodes, v->nnodes, me->master_id)))
				entry_name(v, am, actual, sizeof actual);
			else
				snprintf(actual, sizeof actual, "node %s", me->master_id);
			return err_set(e, EAGAIN, "%s: follows %s, planned to follow %s (%s)", ob->label,
				       actual, mo->label, mo->id);
		}
	}
	return 0;
}

int rc_slots_served(const struct rc_view *v)
{
	uint8_t *served = xcalloc(RC_SLOTS, 1);
	int n = 0;

	for (size_t i = 0; i < v->n; i++) {
		const struct rc_entry *me = rc_self(&v->obs[i]);

		if (!me || !v->obs[i].state_ok || !(me->flags & RC_F_MASTER))
			continue;
		for (size_t r = 0; r < me->nranges; r++)
			for (int s = me->ranges[r].first; s <= me->ranges[r].last; s++)
				if (!served[s]) {
					served[s] = 1;
					n++;
				}
	}
	free(served);
	return n;
}

enum rc_health rc_health(const struct rc_view *v)
{
	if (v->n && v->state_ok == (int)v->n)
		return RC_OK;
	return rc_slots_served(v) == RC_SLOTS ? RC_DEGRADED : RC_FAIL;
}

const char *rc_health_name(enum rc_health h)
{
	return h == RC_OK ? "ok" : h == RC_DEGRADED ? "degraded" : "fail";
}

int rc_check_anti_affinity(const struct rc_view *v, struct err *e)
{
	char a[160], b[160];

	for (size_t i = 0; i < v->nnodes; i++) {
		const struct rc_entry *r = &v->nodes[i], *m;

		if (!(r->flags & RC_F_REPLICA))
			continue;
		entry_name(v, r, a, sizeof a);
		if (!(m = rc_find_entry(v->nodes, v->nnodes, r->master_id)))
			return err_set(e, EAGAIN, "%s: follows %.40s, which no node knows", a,
				       r->master_id);
		entry_name(v, m, b, sizeof b);
		if (!*r->address || !*m->address)
			return err_set(e, EAGAIN, "%s and its master %s: address unknown in CLUSTER NODES",
				       a, b);
		if (strcmp(r->address, m->address) == 0)
			return err_set(e, EEXIST, "%s and its master %s share the address %s", a, b,
				       r->address);
	}
	return 0;
}
