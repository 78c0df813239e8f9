/* redis_cluster.c - see redis_cluster.h */
#include "redis_cluster.h"

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

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_SETTLE_MS 30000
#define POLL_MS 20
#define FAILOVER_RETRY_MS 6000 /* Redis gives a manual failover 5 s */
#define INSPECT_THREADS 64

/* ---- connections and commands ------------------------------------------------ */

static void cleanup_replyp(redisReply **r)
{
	if (*r)
		freeReplyObject(*r);
}
#define _cleanup_reply_ __attribute__((cleanup(cleanup_replyp)))

static int opt_timeout_ms(const struct rc_opts *o)
{
	return o && o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
}

static char *node_label(const struct rc_node *nd)
{
	return xasprintf("%s (%s:%d)", nd->id, nd->address, nd->port);
}

/* Turn a context error into e: "<label>: <what>: <reason>". */
static int ctx_error(struct err *e, const redisContext *c, int tmo_ms, const char *label,
		     const char *what)
{
	const char *s = c->errstr;

	/* hiredis reports an expired socket timeout as EAGAIN or ETIMEDOUT. */
	if (c->err == REDIS_ERR_IO && (strstr(s, "temporarily unavailable") || strstr(s, "timed out")))
		return err_set(e, ETIMEDOUT, "%s: %s: timed out after %d ms", label, what, tmo_ms);
	if (c->err == REDIS_ERR_EOF)
		return err_set(e, ECONNRESET, "%s: %s: connection closed by the server", label, what);
	return err_set(e, strstr(s, "refused") ? ECONNREFUSED : EIO, "%s: %s: %s", label, what,
		       *s ? s : "error");
}

/* The name of a command for messages: its first word, and the second for
 * CLUSTER (never the arguments: AUTH carries the password). */
static void command_name(int argc, const char **argv, char *out, size_t n)
{
	if (argc >= 2 && strcasecmp(argv[0], "CLUSTER") == 0)
		snprintf(out, n, "%s %s", argv[0], argv[1]);
	else
		snprintf(out, n, "%s", argv[0]);
}

/* Run one command.  Returns its reply (caller frees), or NULL with e filled
 * when the connection failed or Redis answered with an error. */
static redisReply *call_argv(redisContext *c, int tmo_ms, const char *label, int argc,
			     const char **argv, struct err *e)
{
	char what[64];
	redisReply *r;

	command_name(argc, argv, what, sizeof what);
	r = redisCommandArgv(c, argc, argv, NULL);
	if (!r) {
		ctx_error(e, c, tmo_ms, label, what);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		err_set(e, EIO, "%s: %s: %s", label, what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

#define CALL(c, tmo, label, e, ...)                                                          \
	call_argv((c), (tmo), (label), (int)ARRAY_SIZE(((const char *[]){__VA_ARGS__})),      \
		  (const char *[]){__VA_ARGS__}, (e))

/* Connect with connect and command timeouts, and AUTH when a password is set. */
static redisContext *connect_node(const char *label, const char *address, int port,
				  const struct rc_opts *o, struct err *e)
{
	int ms = opt_timeout_ms(o);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(address, port, tv);
	_cleanup_reply_ redisReply *r = NULL;

	if (!c) {
		err_set(e, ENOMEM, "%s: connect: cannot allocate a hiredis context", label);
		return NULL;
	}
	if (c->err) {
		ctx_error(e, c, ms, label, "connect");
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		ctx_error(e, c, ms, label, "set timeout");
		redisFree(c);
		return NULL;
	}
	if (o && o->password && *o->password) {
		r = CALL(c, ms, label, e, "AUTH", o->password);
		if (!r) {
			if (e && e->code == EIO) /* an error reply: WRONGPASS and the like */
				e->code = EACCES;
			redisFree(c);
			return NULL;
		}
	}
	return c;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- parsing ---------------------------------------------------------------- */

static bool parse_long(const char *s, long min, long max, long *out)
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

static bool is_node_id(const char *s)
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
	if (!parse_long(at + 1, 0, 65535, &v))
		return false;
	en->bus_port = (int)v;
	if (!(colon = strrchr(s, ':')))
		return false;
	*colon = '\0';
	if (!parse_long(colon + 1, 0, 65535, &v))
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
	if (!parse_long(tmp, 0, RC_SLOTS - 1, &a))
		return false;
	b = a;
	if (dash && !parse_long(dash + 1, a, RC_SLOTS - 1, &b))
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
	if (!is_node_id(field[0]))
		return err_set(e, EPROTO, "CLUSTER NODES line %d: bad node id '%.60s'", lineno, field[0]);
	memcpy(en->id, field[0], RC_ID_LEN + 1);
	if (!parse_address(field[1], en))
		return err_set(e, EPROTO, "CLUSTER NODES line %d: bad address", lineno);
	parse_flags(field[2], en);
	if (strcmp(field[3], "-") != 0) {
		if (!is_node_id(field[3]))
			return err_set(e, EPROTO, "CLUSTER NODES line %d: bad master id '%.60s'", lineno,
				       field[3]);
		memcpy(en->master_id, field[3], RC_ID_LEN + 1);
	}
	if (!parse_long(field[6], 0, LONG_MAX, &v))
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
			if (!parse_long(colon + 1, 0, RC_SLOTS, &v))
				return err_set(e, EPROTO, "CLUSTER INFO: bad cluster_slots_assigned");
			ob->slots_assigned = (int)v;
			seen |= 2;
		} else if (strcmp(line, "cluster_known_nodes") == 0) {
			if (!parse_long(colon + 1, 0, INT_MAX, &v))
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

static int validate_plan(const struct rc_node *nodes, size_t n, struct err *e)
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

static struct rc_entry *find_entry(struct rc_entry *t, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].id, id) == 0)
			return &t[i];
	return NULL;
}

static const struct rc_entry *self_entry(const struct rc_observer *ob)
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
	return self_entry(ob);
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

		if (!v->obs[i].reachable || !(me = self_entry(&v->obs[i])))
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
			if (!(m = find_entry(v->nodes, v->nnodes, en->id))) {
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

	if (validate_plan(nodes, n, e) < 0)
		return -1;
	v = xcalloc(1, sizeof *v);
	v->obs = xcalloc(n, sizeof *v->obs);
	v->n = n;
	for (size_t i = 0; i < n; i++) {
		struct rc_observer *ob = &v->obs[i];
		const struct rc_entry *me;

		ob->label = node_label(&nodes[i]);
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
		if (!(me = self_entry(ob))) {
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
static int observe(const struct rc_node *nodes, size_t n, redisContext **conns, int tmo,
		   struct rc_view **out, struct err *e)
{
	struct rc_observation *obs = xcalloc(n, sizeof *obs);
	char **texts = xcalloc(2 * n, sizeof *texts);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		_cleanup_free_ char *label = node_label(&nodes[i]);

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

static void free_conns(redisContext **conns, size_t n)
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
	_cleanup_free_ char *label = node_label(j->node);
	size_t ll = strlen(label);
	redisContext *c;
	struct err e;

	if (!(c = connect_node(label, j->node->address, j->node->port, j->o, &e)) ||
	    ask_node(c, opt_timeout_ms(j->o), label, &j->nodes_text, &j->info_text, &e) < 0)
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

	if (validate_plan(nodes, n, e) < 0)
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
		me = self_entry(ob);
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
			if ((am = find_entry(v->nodes, v->nnodes, me->master_id)))
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
		if (!(m = find_entry(v->nodes, v->nnodes, r->master_id)))
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

/* ---- forming ------------------------------------------------------------------ */

void rc_slot_share(int k, int nmasters, int *first, int *last)
{
	/* Same split as redis-cli: master k starts at round(k * 16384 / n). */
	double per = (double)RC_SLOTS / nmasters;

	*first = k == 0 ? 0 : (int)((double)k * per + 0.5);
	*last = k == nmasters - 1 ? RC_SLOTS - 1 : (int)((double)(k + 1) * per + 0.5) - 1;
}

/* ---- leaving ------------------------------------------------------------------ */

/* Why a node that leaves (as the cluster knows it: en) cannot be forgotten
 * yet, or 0.  stay_obs[0..nstay) are the remaining nodes' answers. */
static int check_departure(const struct rc_entry *en, const char *name,
			   const struct rc_observer *stay_obs, size_t nstay, struct err *e)
{
	if ((en->flags & RC_F_MASTER) && en->nslots > 0)
		return err_set(e, EBUSY, "%s would leave the cluster but serves %d slots (%d-%d%s) "
					 "as Redis node %.8s: their keys would be lost; move the "
					 "slots to the remaining masters first (redis-cli --cluster "
					 "reshard) or keep the node in the spec where it is",
			       name, en->nslots, en->ranges[0].first, en->ranges[0].last,
			       en->nranges > 1 ? " and more" : "", en->id);
	if (en->migrating)
		return err_set(e, EBUSY, "%s would leave the cluster while %d slot(s) move to or "
					 "from it (Redis node %.8s); finish or cancel that first",
			       name, en->migrating, en->id);
	for (size_t i = 0; i < nstay; i++) {
		const struct rc_entry *me = rc_self(&stay_obs[i]);

		if (me && strcmp(me->master_id, en->id) == 0)
			return err_set(e, EBUSY, "%s replicates %s, which would leave the cluster; "
						 "point it at a remaining master first (CLUSTER "
						 "REPLICATE) or keep %s in the spec",
				       stay_obs[i].label, name, name);
	}
	return 0;
}

/* CLUSTER FORGET id on one node; a node that does not know id is fine. */
static int forget_on(redisContext *c, int tmo, const char *label, const char *id,
		     struct err *e)
{
	_cleanup_reply_ redisReply *r = CALL(c, tmo, label, e, "CLUSTER", "FORGET", id);

	if (r || (e->code == EIO && strstr(e->msg, "Unknown node")))
		return 0;
	return err_wrap(e, "forgetting node %.8s", id);
}

/* Add id to the set ids[0..*n) unless it is there already. */
static void id_add(char (**ids)[RC_ID_LEN + 1], size_t *n, size_t *cap, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*ids)[i], id) == 0)
			return;
	*ids = xgrow(*ids, cap, *n + 1, sizeof **ids);
	snprintf((*ids)[(*n)++], RC_ID_LEN + 1, "%s", id);
}

int rc_leave(const struct rc_node *stay, size_t nstay, const struct rc_node *leave,
	     const char *const *recorded_ids, size_t nleave, const struct rc_opts *o,
	     char (**ids)[RC_ID_LEN + 1], size_t *nids, struct err *e)
{
	size_t n = nstay + nleave, cap = 0, nout = 0;
	_cleanup_free_ struct rc_node *all = NULL;
	_cleanup_free_ size_t *owner = NULL; /* which leaving node each id is */
	size_t owner_cap = 0;
	char (*out)[RC_ID_LEN + 1] = NULL;
	struct rc_view *v = NULL;
	int tmo = opt_timeout_ms(o);

	*ids = NULL;
	*nids = 0;
	if (nleave == 0)
		return 0;
	/* Read only: every node counts as a master for validate_plan. */
	all = xcalloc(n, sizeof *all);
	for (size_t i = 0; i < n; i++) {
		all[i] = i < nstay ? stay[i] : leave[i - nstay];
		all[i].master = true;
		all[i].master_index = -1;
	}
	if (rc_inspect(all, n, o, &v, e) < 0)
		return -1;
	for (size_t k = 0; k < nleave; k++) {
		const struct rc_observer *ob = &v->obs[nstay + k];
		const char *rec = recorded_ids ? recorded_ids[k] : NULL;
		size_t before = nout;

		if (ob->reachable)
			id_add(&out, &nout, &cap, ob->id);
		if (rec && is_node_id(rec))
			id_add(&out, &nout, &cap, rec);
		for (size_t j = 0; j < v->nnodes; j++)
			if (v->nodes[j].port == leave[k].port &&
			    strcmp(v->nodes[j].address, leave[k].address) == 0)
				id_add(&out, &nout, &cap, v->nodes[j].id);
		owner = xgrow(owner, &owner_cap, nout + 1, sizeof *owner);
		for (size_t j = before; j < nout; j++)
			owner[j] = k;
	}
	for (size_t j = 0; j < nout; j++) {
		const struct rc_entry *en = find_entry(v->nodes, v->nnodes, out[j]);
		int pi = en ? en->plan_index : -1;

		if (pi >= 0 && (size_t)pi < nstay) {
			err_set(e, EEXIST, "%s: has the Redis id %s that %s left with",
				v->obs[pi].label, out[j], leave[owner[j]].id);
			goto fail;
		}
		if (en && check_departure(en, v->obs[nstay + owner[j]].label, v->obs, nstay, e) < 0)
			goto fail;
	}
	for (size_t i = 0; i < nstay; i++) {
		const struct rc_observer *ob = &v->obs[i];
		redisContext *c = NULL;

		for (size_t j = 0; ob->reachable && j < nout; j++) {
			if (!find_entry(ob->table, ob->ntable, out[j]))
				continue;
			if (!c && !(c = connect_node(ob->label, stay[i].address, stay[i].port, o, e)))
				goto fail;
			if (forget_on(c, tmo, ob->label, out[j], e) < 0) {
				redisFree(c);
				goto fail;
			}
		}
		if (c)
			redisFree(c);
	}
	rc_view_free(v);
	*ids = out;
	*nids = nout;
	return 0;
fail:
	rc_view_free(v);
	free(out);
	return -1;
}

struct former {
	const struct rc_node *nodes;
	size_t n;
	const struct rc_opts *o;
	int tmo;
	int settle_ms;
	int64_t start, deadline; /* now_ms() */
	redisContext **conns;
	char **labels;
	char (*ids)[RC_ID_LEN + 1];
	struct rc_view *v; /* latest observation */
};

static int former_observe(struct former *f, struct err *e)
{
	struct rc_view *nv;

	if (observe(f->nodes, f->n, f->conns, f->tmo, &nv, e) < 0)
		return -1;
	rc_view_free(f->v);
	f->v = nv;
	return 0;
}

/* Does the observer know planned node j, with the right id, where the plan
 * puts it, and with a working link?  A node that moved (a new port, a
 * restart at another address) stays listed at its old address until it is
 * introduced again; until then the others cannot reach it. */
static bool knows(const struct former *f, size_t i, size_t j)
{
	const struct rc_observer *ob = &f->v->obs[i];
	const struct rc_entry *en = find_entry(ob->table, ob->ntable, f->ids[j]);
	const struct rc_node *nj = &f->nodes[j];
	int bus = nj->bus_port ? nj->bus_port : nj->port + 10000;

	if (!en || (en->flags & (RC_F_HANDSHAKE | RC_F_NOADDR)))
		return false;
	if (en->flags & RC_F_MYSELF)
		return true;
	return en->port == nj->port && en->bus_port == bus && !strcmp(en->address, nj->address) &&
	       en->connected && !(en->flags & (RC_F_PFAIL | RC_F_FAIL));
}

static const char *plan_label_of(const struct former *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->ids[i], id) == 0)
			return f->labels[i];
	return NULL;
}

/* The planned replica that planned master m follows (by its own report)
 * while serving slots itself: the two swapped roles in a failover.  -1 when
 * m is not in that state. */
static int swapped_with(const struct former *f, size_t m)
{
	const struct rc_entry *me = self_entry(&f->v->obs[m]);

	if (!f->nodes[m].master || !(me->flags & RC_F_REPLICA))
		return -1;
	for (size_t r = 0; r < f->n; r++)
		if (!f->nodes[r].master && f->nodes[r].master_index == (int)m &&
		    strcmp(f->ids[r], me->master_id) == 0 &&
		    (self_entry(&f->v->obs[r])->flags & RC_F_MASTER))
			return (int)r;
	return -1;
}

/* A node some planned node knows that is not in the plan. */
static int refuse_foreign(const struct former *f, size_t i, const struct rc_entry *en, struct err *e)
{
	for (size_t j = 0; j < f->n; j++)
		if (f->nodes[j].port == en->port && strcmp(f->nodes[j].address, en->address) == 0)
			return err_set(e, EEXIST, "%s: knows node %s at the address of %s, which now has id "
						  "%s (a replaced node's old identity); CLUSTER FORGET %s "
						  "on every node first",
				       f->labels[i], en->id, f->labels[j], f->ids[j], en->id);
	return err_set(e, EEXIST, "%s: already in another cluster: it knows node %s (%s:%d), which is "
				  "not in the plan; if that node left this cluster, run CLUSTER "
				  "FORGET %s on every node, else fix the plan",
		       f->labels[i], en->id, en->address, en->port, en->id);
}

/* Refuse what cannot be fixed safely; see rc_form.  owner[s] gets the planned
 * node serving slot s (by its own report), -1 when none. */
static int check_reality(struct former *f, int16_t *owner, struct err *e)
{
	const struct rc_view *v = f->v;
	bool fail_back = f->o && f->o->fail_back;

	for (size_t i = 0; i < f->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->ids[i], f->ids[j]) == 0)
				return err_usage(e, "%s and %s are the same Redis node (id %s)",
						 f->labels[j], f->labels[i], f->ids[i]);
	for (int s = 0; s < RC_SLOTS; s++)
		owner[s] = -1;
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_observer *ob = &v->obs[i];
		const struct rc_entry *me = self_entry(ob);

		for (size_t j = 0; j < ob->ntable; j++)
			if (!(ob->table[j].flags & RC_F_HANDSHAKE) && ob->table[j].plan_index < 0)
				return refuse_foreign(f, i, &ob->table[j], e);
		if (me->migrating)
			return err_set(e, EBUSY, "%s: %d slot(s) are being migrated or imported; "
						 "finish or cancel that first",
				       f->labels[i], me->migrating);
		if (ob->master && (me->flags & RC_F_REPLICA)) {
			const char *ml = plan_label_of(f, me->master_id);
			int r = swapped_with(f, i);

			if (r < 0)
				return err_set(e, EEXIST, "%s: is a replica of %s, but the plan makes it a "
							  "master",
					       f->labels[i], ml ? ml : me->master_id);
			if (!fail_back)
				return err_set(e, EEXIST, "%s: is a replica of %s after a failover, but the "
							  "plan makes it the master; allow fail-back (CLUSTER "
							  "FAILOVER on %s) to restore the plan",
					       f->labels[i], ml, f->nodes[i].id);
		}
		if (!ob->master && me->nslots > 0 &&
		    !(fail_back && swapped_with(f, (size_t)ob->master_index) == (int)i))
			return err_set(e, EEXIST, "%s: serves %d slots, but the plan makes it a replica "
						  "of %s",
				       f->labels[i], me->nslots, f->labels[ob->master_index]);
		for (size_t r = 0; r < me->nranges; r++)
			for (int s = me->ranges[r].first; s <= me->ranges[r].last; s++) {
				if (owner[s] >= 0)
					return err_set(e, EEXIST, "slot %d is claimed by both %s and %s", s,
						       f->labels[owner[s]], f->labels[i]);
				owner[s] = (int16_t)i;
			}
	}
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = self_entry(&v->obs[i]);
		_cleanup_reply_ redisReply *r = NULL;

		if (me->nslots > 0 || (me->flags & RC_F_REPLICA))
			continue;
		if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "DBSIZE")))
			return -1;
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			return err_set(e, ENOTEMPTY, "%s: holds %lld keys but serves no slot; shoal will not "
						     "add it to the cluster (flush it or remove it from "
						     "the plan)",
				       f->labels[i], r->integer);
	}
	return 0;
}

/* The runs of slots in [first, last] that no node serves; out has room for
 * (last - first) / 2 + 1 runs. */
static size_t unserved_ranges(const int16_t *owner, int first, int last, struct rc_range *out)
{
	size_t n = 0;

	for (int s = first; s <= last; s++) {
		if (owner[s] >= 0)
			continue;
		out[n].first = s;
		while (s < last && owner[s + 1] < 0)
			s++;
		out[n++].last = s;
	}
	return n;
}

/* CLUSTER ADDSLOTSRANGE first last [first last ...] on node i. */
static int add_slot_ranges(struct former *f, size_t i, const struct rc_range *r, size_t nr,
			   struct err *e)
{
	const char **argv = xcalloc(2 + 2 * nr, sizeof *argv);
	char (*nums)[12] = xcalloc(2 * nr, sizeof *nums);
	redisReply *reply;

	argv[0] = "CLUSTER";
	argv[1] = "ADDSLOTSRANGE";
	for (size_t k = 0; k < 2 * nr; k++) {
		snprintf(nums[k], sizeof nums[k], "%d", k % 2 ? r[k / 2].last : r[k / 2].first);
		argv[2 + k] = nums[k];
	}
	reply = call_argv(f->conns[i], f->tmo, f->labels[i], (int)(2 + 2 * nr), argv, e);
	free(argv);
	free(nums);
	if (!reply)
		return -1;
	freeReplyObject(reply);
	return 0;
}

/* Give every planned master the slots of its share that nobody serves. */
static int assign_slots(struct former *f, const int16_t *owner, struct err *e)
{
	struct rc_range *runs = xcalloc(RC_SLOTS / 2 + 1, sizeof *runs);
	int nmasters = 0, k = 0, rc = 0;

	for (size_t i = 0; i < f->n; i++)
		nmasters += f->nodes[i].master;
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		int first, last;
		size_t nr;

		if (!f->nodes[i].master)
			continue;
		rc_slot_share(k++, nmasters, &first, &last);
		if ((nr = unserved_ranges(owner, first, last, runs)) > 0)
			rc = add_slot_ranges(f, i, runs, nr, e);
	}
	free(runs);
	return rc;
}

/* On a fresh set of nodes, give each a distinct config epoch (as redis-cli
 * does) so that masters need no epoch collision rounds after meeting. */
static int set_config_epochs(struct former *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = self_entry(&f->v->obs[i]);

		if (f->v->obs[i].known_nodes != 1 || me->config_epoch != 0)
			return 0;
	}
	for (size_t i = 0; i < f->n; i++) {
		_cleanup_reply_ redisReply *r = NULL;
		char epoch[24];

		snprintf(epoch, sizeof epoch, "%zu", i + 1);
		if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "CLUSTER", "SET-CONFIG-EPOCH", epoch)))
			return -1;
	}
	return 0;
}

/* Introduce every pair of nodes where one does not know the other (at its
 * planned address): the one that does not meets the other, the lower-indexed
 * one when neither does, so each pair is introduced once.  Meeting a node it
 * knows at an old address makes Redis update the address. */
static int meet(struct former *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t j = i + 1; j < f->n; j++) {
			size_t from = knows(f, i, j) ? j : i, to = from == i ? j : i;
			const struct rc_node *nt = &f->nodes[to];
			_cleanup_reply_ redisReply *r = NULL;
			char port[12], bus[12];

			if (knows(f, i, j) && knows(f, j, i))
				continue;
			snprintf(port, sizeof port, "%d", nt->port);
			snprintf(bus, sizeof bus, "%d", nt->bus_port ? nt->bus_port : nt->port + 10000);
			if (!(r = CALL(f->conns[from], f->tmo, f->labels[from], e, "CLUSTER", "MEET",
				       nt->address, port, bus)))
				return err_wrap(e, "introducing %s", f->labels[to]);
		}
	return 0;
}

/* A condition rc_form waits for: true when it holds, else why not in `why`. */
typedef bool (*settled_fn)(const struct former *f, char *why, size_t n);

static bool all_know_all(const struct former *f, char *why, size_t n)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t j = 0; j < f->n; j++)
			if (!knows(f, i, j)) {
				snprintf(why, n, "%s does not reach %s yet", f->labels[i], f->labels[j]);
				return false;
			}
	return true;
}

static bool formed(const struct former *f, char *why, size_t n)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_observer *ob = &f->v->obs[i];

		if (!ob->state_ok || ob->slots_assigned != RC_SLOTS) {
			snprintf(why, n, "%s reports cluster_state %s, %d slots assigned", f->labels[i],
				 ob->state_ok ? "ok" : "fail", ob->slots_assigned);
			return false;
		}
		for (size_t j = 0; j < f->n; j++) {
			const struct rc_entry *en = find_entry(ob->table, ob->ntable, f->ids[j]);
			const struct rc_node *pj = &f->nodes[j];

			if (!en || !knows(f, i, j)) {
				snprintf(why, n, "%s does not reach %s", f->labels[i], f->labels[j]);
				return false;
			}
			if (pj->master ? !(en->flags & RC_F_MASTER)
				       : !(en->flags & RC_F_REPLICA) ||
						 strcmp(en->master_id, f->ids[pj->master_index]) != 0) {
				snprintf(why, n, "%s does not yet see %s as %s%s", f->labels[i],
					 f->labels[j], pj->master ? "a master" : "a replica of ",
					 pj->master ? "" : f->labels[pj->master_index]);
				return false;
			}
		}
	}
	return true;
}

/* Observe until done() holds; ETIMEDOUT once `until` (ms, monotonic) passes. */
static int wait_for(struct former *f, settled_fn done, const char *what, int64_t until,
		    struct err *e)
{
	char why[512] = "";

	for (;;) {
		if (former_observe(f, e) < 0)
			return -1;
		if (done(f, why, sizeof why))
			return 0;
		if (now_ms() >= until)
			return err_set(e, ETIMEDOUT, "%s: not done within the %d ms allowed: %s", what,
				       f->settle_ms, why);
		sleep_ms(POLL_MS);
	}
}

static bool roles_restored(const struct former *f, char *why, size_t n)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = self_entry(&f->v->obs[i]);

		if (f->nodes[i].master && !(me->flags & RC_F_MASTER)) {
			snprintf(why, n, "%s is not master yet", f->labels[i]);
			return false;
		}
		if (!f->nodes[i].master && me->nslots > 0) {
			snprintf(why, n, "%s still serves %d slots", f->labels[i], me->nslots);
			return false;
		}
	}
	return true;
}

/* Whether node i's replication link to its master is up (INFO replication). */
static int link_up(struct former *f, size_t i, bool *up, struct err *e)
{
	_cleanup_reply_ redisReply *r = NULL;

	if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "INFO", "replication")))
		return -1;
	*up = r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up");
	return 0;
}

/* Whether every node sees node i as a replica of node m (a master ignores a
 * manual failover request from a node it does not know as its replica). */
static bool seen_as_replica(const struct former *f, size_t i, size_t m)
{
	for (size_t j = 0; j < f->n; j++) {
		const struct rc_observer *ob = &f->v->obs[j];
		const struct rc_entry *en = find_entry(ob->table, ob->ntable, f->ids[i]);

		if (!en || !(en->flags & RC_F_REPLICA) || strcmp(en->master_id, f->ids[m]) != 0)
			return false;
	}
	return true;
}

/* Make every planned master that lost its role in a failover master again:
 * once all nodes see it as a replica and its replication link is up, a
 * coordinated CLUSTER FAILOVER (its replica hands over without losing
 * acknowledged writes).  Redis abandons a
 * manual failover after 5 s, so it is asked again until the settle time runs
 * out. */
static int fail_back(struct former *f, struct err *e)
{
	for (;;) {
		int64_t until = now_ms() + FAILOVER_RETRY_MS;
		bool any = false, issued = false, up;

		for (size_t i = 0; i < f->n; i++) {
			_cleanup_reply_ redisReply *r = NULL;

			int partner = swapped_with(f, i);

			if (partner < 0)
				continue;
			any = true;
			if (!seen_as_replica(f, i, (size_t)partner))
				continue;
			if (link_up(f, i, &up, e) < 0)
				return -1;
			if (!up)
				continue;
			log_info("%s: master again (CLUSTER FAILOVER: %s had taken over)",
				 f->labels[i], f->labels[partner]);
			if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "CLUSTER", "FAILOVER")))
				return -1;
			issued = true;
		}
		if (!any)
			return 0;
		if (now_ms() >= f->deadline)
			return err_set(e, ETIMEDOUT, "failing back to the planned masters: not done "
						     "within the %d ms allowed",
				       f->settle_ms);
		if (!issued) { /* roles still spreading, or links still syncing */
			sleep_ms(POLL_MS);
			if (former_observe(f, e) < 0)
				return -1;
			continue;
		}
		if (wait_for(f, roles_restored, "failing back to the planned masters",
			     until < f->deadline ? until : f->deadline, e) == 0)
			return 0;
		if (e->code != ETIMEDOUT)
			return -1;
	}
}

/* Node c's role and replication link, from INFO replication. */
static int replication_of(redisContext *c, int tmo, const char *label, bool *master,
			  bool *linked, struct err *e)
{
	_cleanup_reply_ redisReply *r = CALL(c, tmo, label, e, "INFO", "replication");

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STRING)
		return err_set(e, EPROTO, "%s: INFO replication: unexpected reply type", label);
	*master = strstr(r->str, "role:master") != NULL;
	*linked = strstr(r->str, "master_link_status:up") != NULL;
	return 0;
}

/* cluster-node-timeout of the node behind c (CONFIG GET), or -1. */
static long node_timeout_of(redisContext *c, int tmo, const char *label, struct err *e)
{
	_cleanup_reply_ redisReply *r = CALL(c, tmo, label, e, "CONFIG", "GET",
					     "cluster-node-timeout");
	long ms;

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    !parse_long(r->element[1]->str, 1, LONG_MAX / 4, &ms))
		return err_set(e, EPROTO, "%s: CONFIG GET cluster-node-timeout: unexpected reply",
			       label);
	return ms;
}

/* Poll node's INFO replication until it reports itself a replica (with its
 * replication link up, when `linked`), or the deadline passes. */
static int await_replica(const struct rc_node *node, const struct rc_opts *o, int64_t deadline,
			 bool linked, struct err *e)
{
	_cleanup_free_ char *label = node_label(node);
	redisContext *c = connect_node(label, node->address, node->port, o, e);
	int rc = -1;

	if (!c)
		return -1;
	for (;;) {
		bool master = true, up = false;

		if (replication_of(c, opt_timeout_ms(o), label, &master, &up, e) < 0)
			break;
		if (!master && (up || !linked)) {
			rc = 0;
			break;
		}
		if (now_ms() >= deadline) {
			err_set(e, ETIMEDOUT, "%s: %s", label,
				master ? "still a master, not the replica it should be by now"
				       : "its replication link did not come up in time");
			break;
		}
		sleep_ms(POLL_MS);
	}
	redisFree(c);
	return rc;
}

int rc_hand_over(const struct rc_node *nodes, size_t n, size_t m, size_t r,
		 const struct rc_opts *o, int64_t *hand_back_at, struct err *e)
{
	int tmo = opt_timeout_ms(o);
	int64_t deadline = now_ms() + (o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS);
	int64_t asked = 0;
	_cleanup_free_ char *label = NULL, *mlabel = NULL;
	redisContext *c;
	int rc = -1;

	if (validate_plan(nodes, n, e) < 0)
		return -1;
	if (m >= n || r >= n || nodes[r].master || (size_t)nodes[r].master_index != m)
		return err_usage(e, "rc_hand_over: node %zu is not a planned replica of node %zu", r, m);
	label = node_label(&nodes[r]);
	mlabel = node_label(&nodes[m]);
	if (!(c = connect_node(label, nodes[r].address, nodes[r].port, o, e)))
		return -1;
	for (;;) {
		bool master = false, up = false;
		_cleanup_reply_ redisReply *rep = NULL;

		if (replication_of(c, tmo, label, &master, &up, e) < 0)
			break;
		if (master) {
			long nt = node_timeout_of(c, tmo, label, e);

			if (nt < 0)
				break;
			*hand_back_at = now_ms() + 2 * nt + 200;
			/* the old master has taken the failover in (and saved
			 * it), so a restart brings it back as the replica */
			rc = await_replica(&nodes[m], o, deadline, false, e);
			break;
		}
		if (now_ms() >= deadline) {
			err_set(e, ETIMEDOUT, "%s: did not take over from %s within %d ms%s", label,
				mlabel, o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS,
				up ? "" : " (its replication link is down)");
			break;
		}
		/* Redis abandons a manual failover after 5 s: ask again then. */
		if (up && now_ms() - asked >= FAILOVER_RETRY_MS) {
			if (!(rep = CALL(c, tmo, label, e, "CLUSTER", "FAILOVER")))
				break;
			asked = now_ms();
		}
		sleep_ms(POLL_MS);
	}
	redisFree(c);
	return rc;
}

int rc_wait_linked(const struct rc_node *node, const struct rc_opts *o, struct err *e)
{
	int settle = o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS;

	return await_replica(node, o, now_ms() + settle, true, e);
}

/* Point every planned replica that does not follow its planned master at it. */
static int replicate(struct former *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = self_entry(&f->v->obs[i]);
		const char *want;
		_cleanup_reply_ redisReply *r = NULL;

		if (f->nodes[i].master)
			continue;
		want = f->ids[f->nodes[i].master_index];
		if ((me->flags & RC_F_REPLICA) && strcmp(me->master_id, want) == 0)
			continue;
		if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "CLUSTER", "REPLICATE", want)))
			return -1;
	}
	return 0;
}

/* Every planned node forgets the nodes that left (o->forget); then look again. */
static int forget_departed(struct former *f, struct err *e)
{
	bool forgot = false;

	for (size_t k = 0; f->o && k < f->o->nforget; k++) {
		const char *id = f->o->forget[k];

		for (size_t i = 0; i < f->n; i++) {
			const struct rc_observer *ob = &f->v->obs[i];
			const struct rc_entry *en = find_entry(ob->table, ob->ntable, id);
			_cleanup_free_ char *name = NULL;

			if (!en)
				continue;
			if (en->flags & RC_F_MYSELF)
				return err_set(e, EEXIST, "%s: has the Redis id %s of a node that left",
					       f->labels[i], id);
			name = xasprintf("node %.8s (%s:%d)", id, en->address, en->port);
			if (check_departure(en, name, f->v->obs, f->n, e) < 0 ||
			    forget_on(f->conns[i], f->tmo, f->labels[i], id, e) < 0)
				return -1;
			forgot = true;
		}
	}
	return forgot ? former_observe(f, e) : 0;
}

static int form(struct former *f, struct err *e)
{
	_cleanup_free_ int16_t *owner = xcalloc(RC_SLOTS, sizeof *owner);

	for (size_t i = 0; i < f->n; i++) {
		f->labels[i] = node_label(&f->nodes[i]);
		if (!(f->conns[i] = connect_node(f->labels[i], f->nodes[i].address, f->nodes[i].port,
						 f->o, e)))
			return -1;
	}
	if (former_observe(f, e) < 0 || forget_departed(f, e) < 0)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		memcpy(f->ids[i], f->v->obs[i].id, sizeof f->ids[i]);
	/* Slots go first: a master serving no slot counts itself in a minority,
	 * and holds cluster_state:ok back for a node timeout (at least 500 ms)
	 * after it gets slots; assigning them before meeting overlaps that wait
	 * with the meeting. */
	if (check_reality(f, owner, e) < 0 || set_config_epochs(f, e) < 0 ||
	    assign_slots(f, owner, e) < 0 || meet(f, e) < 0)
		return -1;
	if (wait_for(f, all_know_all, "nodes meeting each other", f->deadline, e) < 0)
		return -1;
	log_debug("all nodes know each other after %lld ms", (long long)(now_ms() - f->start));
	/* The nodes may have changed since the first look (another operator,
	 * a failover): check again before pointing replicas. */
	if (check_reality(f, owner, e) < 0 || fail_back(f, e) < 0 || replicate(f, e) < 0)
		return -1;
	log_debug("replicas pointed at their masters after %lld ms", (long long)(now_ms() - f->start));
	if (wait_for(f, formed, "cluster formation", f->deadline, e) < 0)
		return -1;
	log_debug("formed after %lld ms", (long long)(now_ms() - f->start));
	return 0;
}

int rc_form(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
	    char (*out_node_ids)[RC_ID_LEN + 1], struct err *e)
{
	struct former f = {.nodes = nodes, .n = n, .o = o, .tmo = opt_timeout_ms(o)};
	int rc;

	if (validate_plan(nodes, n, e) < 0)
		return -1;
	f.settle_ms = o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS;
	f.start = now_ms();
	f.deadline = f.start + f.settle_ms;
	f.conns = xcalloc(n, sizeof *f.conns);
	f.labels = xcalloc(n, sizeof *f.labels);
	f.ids = xcalloc(n, sizeof *f.ids);
	rc = form(&f, e);
	if (rc == 0)
		memcpy(out_node_ids, f.ids, n * sizeof *f.ids);
	rc_view_free(f.v);
	free_conns(f.conns, n);
	for (size_t i = 0; i < n; i++)
		free(f.labels[i]);
	free(f.labels);
	free(f.ids);
	return rc;
}

/* ---- cluster-aware writes and reads ---------------------------------------------- */

int rc_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;
	uint16_t crc = 0;

	/* Only the part inside the first {...} is hashed, when it is not empty. */
	if (open && (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) &&
	    close > open + 1) {
		key = open + 1;
		len = (size_t)(close - key);
	}
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)key[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc & (RC_SLOTS - 1);
}

struct kv_node {
	char address[64];
	int port;
	char label[96];
	redisContext *c;
};

struct kv_client {
	const struct rc_opts *o;
	int tmo;
	struct kv_node *nodes;
	size_t n, cap;
	int slot_node[RC_SLOTS]; /* index into nodes, -1 when no master is known */
	bool stale;              /* a node failed: reload the slot map */
};

static int kv_node_index(struct kv_client *k, const char *address, int port)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->nodes[i].port == port && strcmp(k->nodes[i].address, address) == 0)
			return (int)i;
	k->nodes = xgrow(k->nodes, &k->cap, k->n + 1, sizeof *k->nodes);
	memset(&k->nodes[k->n], 0, sizeof k->nodes[k->n]);
	snprintf(k->nodes[k->n].address, sizeof k->nodes[k->n].address, "%s", address);
	k->nodes[k->n].port = port;
	snprintf(k->nodes[k->n].label, sizeof k->nodes[k->n].label, "%s:%d", address, port);
	return (int)k->n++;
}

static redisContext *kv_conn(struct kv_client *k, int idx, struct err *e)
{
	struct kv_node *kn = &k->nodes[idx];

	if (!kn->c)
		kn->c = connect_node(kn->label, kn->address, kn->port, k->o, e);
	return kn->c;
}

static void kv_drop(struct kv_client *k, int idx)
{
	if (k->nodes[idx].c)
		redisFree(k->nodes[idx].c);
	k->nodes[idx].c = NULL;
}

/* Fill the slot map from CLUSTER SLOTS of node idx. */
static int kv_load_slots(struct kv_client *k, int idx, struct err *e)
{
	_cleanup_reply_ redisReply *r = NULL;
	redisContext *c = kv_conn(k, idx, e);
	char label[96];

	if (!c)
		return -1;
	snprintf(label, sizeof label, "%s", k->nodes[idx].label);
	if (!(r = CALL(c, k->tmo, label, e, "CLUSTER", "SLOTS"))) {
		kv_drop(k, idx);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY)
		return err_set(e, EPROTO, "%s: CLUSTER SLOTS: unexpected reply", label);
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *s = r->element[i], *m;
		char addr[64];
		int to;

		if (s->type != REDIS_REPLY_ARRAY || s->elements < 3 ||
		    s->element[0]->type != REDIS_REPLY_INTEGER ||
		    s->element[1]->type != REDIS_REPLY_INTEGER ||
		    (m = s->element[2])->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
		    m->element[0]->type != REDIS_REPLY_STRING ||
		    m->element[1]->type != REDIS_REPLY_INTEGER || s->element[0]->integer < 0 ||
		    s->element[1]->integer >= RC_SLOTS || s->element[0]->integer > s->element[1]->integer)
			return err_set(e, EPROTO, "%s: CLUSTER SLOTS: malformed entry %zu", label, i);
		/* An empty or "?" address means "the address you reached me at". */
		snprintf(addr, sizeof addr, "%.*s", (int)m->element[0]->len, m->element[0]->str);
		if (!*addr || strcmp(addr, "?") == 0)
			snprintf(addr, sizeof addr, "%s", k->nodes[idx].address);
		to = kv_node_index(k, addr, (int)m->element[1]->integer);
		for (long long sl = s->element[0]->integer; sl <= s->element[1]->integer; sl++)
			k->slot_node[sl] = to;
	}
	return 0;
}

/* "MOVED 3999 10.0.0.2:7001" / "ASK 3999 10.0.0.2:7001" -> node index. */
static int kv_redirect_target(struct kv_client *k, const char *msg)
{
	const char *sp = strrchr(msg, ' '), *colon;
	char addr[64];
	long port;

	if (!sp || !(colon = strrchr(sp, ':')) || colon - sp - 1 <= 0 ||
	    (size_t)(colon - sp - 1) >= sizeof addr || !parse_long(colon + 1, 1, 65535, &port))
		return -1;
	snprintf(addr, sizeof addr, "%.*s", (int)(colon - sp - 1), sp + 1);
	return kv_node_index(k, addr, (int)port);
}

enum kv_op { KV_SET, KV_GET };

struct kv_job {
	int key;  /* key number */
	int node; /* node index it goes to */
	bool asking;
};

struct kv_run {
	const char *token;
	enum kv_op op;
	uint8_t *acked;   /* per key: SET answered OK */
	uint8_t *present; /* per key: GET returned the written value */
	struct rc_check_result *res;
};

static void kv_key(const struct kv_run *run, int i, char *key, size_t kn, char *val, size_t vn)
{
	snprintf(key, kn, "shoal:check:%s:%d", run->token, i);
	snprintf(val, vn, "%s:%d", run->token, i);
}

/* Handle one reply to job j; returns true when the job must be retried. */
static bool kv_reply(struct kv_client *k, struct kv_run *run, struct kv_job *j, const redisReply *r)
{
	char key[96], val[64];

	kv_key(run, j->key, key, sizeof key, val, sizeof val);
	if (r->type == REDIS_REPLY_ERROR) {
		bool moved = strncmp(r->str, "MOVED ", 6) == 0, ask = strncmp(r->str, "ASK ", 4) == 0;
		int to;

		if ((moved || ask) && (to = kv_redirect_target(k, r->str)) >= 0) {
			run->res->redirects++;
			if (moved)
				k->slot_node[rc_key_slot(key, strlen(key))] = to;
			j->node = to;
			j->asking = ask;
			return true;
		}
		if (strncmp(r->str, "TRYAGAIN", 8) == 0)
			return true;
		run->res->errors++;
		return false;
	}
	j->asking = false;
	if (run->op == KV_SET) {
		if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
			run->acked[j->key] = 1;
			run->res->acknowledged++;
		} else {
			run->res->errors++;
		}
	} else if (r->type == REDIS_REPLY_STRING && r->len == strlen(val) &&
		   memcmp(r->str, val, r->len) == 0) {
		run->present[j->key] = 1;
	}
	return false;
}

/* Send the jobs of one node pipelined and read the answers.  Jobs to retry
 * are moved to the front of `jobs`; returns how many. */
static size_t kv_node_batch(struct kv_client *k, struct kv_run *run, int node, struct kv_job *jobs,
			    size_t nj, struct kv_job *retry, size_t nretry)
{
	struct err e;
	redisContext *c = kv_conn(k, node, &e);
	size_t sent = 0, got = 0;
	bool broken = !c;

	for (size_t i = 0; i < nj && !broken; i++) {
		char key[96], val[64];
		const char *argv[3] = {run->op == KV_SET ? "SET" : "GET", key, val};

		kv_key(run, jobs[i].key, key, sizeof key, val, sizeof val);
		if (jobs[i].asking && redisAppendCommand(c, "ASKING") != REDIS_OK)
			broken = true;
		else if (redisAppendCommandArgv(c, run->op == KV_SET ? 3 : 2, argv, NULL) != REDIS_OK)
			broken = true;
		else
			sent++;
	}
	for (size_t i = 0; i < sent && !broken; i++) {
		redisReply *r = NULL;

		if (jobs[i].asking) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK) {
				broken = true;
				break;
			}
			freeReplyObject(r);
			r = NULL;
		}
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			broken = true;
			break;
		}
		got++;
		if (kv_reply(k, run, &jobs[i], r))
			retry[nretry++] = jobs[i];
		freeReplyObject(r);
	}
	if (broken) {
		run->res->errors += (int)(nj - got);
		kv_drop(k, node);
		k->stale = true;
	}
	return nretry;
}

/* After a node failed, take the slot map from the first node that answers
 * (a replica may have taken over); keep the old map when none does. */
static void kv_refresh(struct kv_client *k)
{
	struct err e;

	for (size_t i = 0; i < k->n; i++)
		if (kv_load_slots(k, (int)i, &e) == 0) {
			k->stale = false;
			return;
		}
}

/* Run op over keys [from, to), following redirections for a few rounds. */
static void kv_run_range(struct kv_client *k, struct kv_run *run, int from, int to)
{
	size_t nj = (size_t)(to - from), nretry;
	struct kv_job *jobs = xcalloc(nj, sizeof *jobs), *retry = xcalloc(nj, sizeof *retry);
	struct kv_job *per = xcalloc(nj, sizeof *per);

	if (k->stale)
		kv_refresh(k);
	for (int i = from; i < to; i++) {
		char key[96], val[64];

		kv_key(run, i, key, sizeof key, val, sizeof val);
		jobs[i - from] = (struct kv_job){.key = i, .node = k->slot_node[rc_key_slot(key, strlen(key))]};
	}
	for (int round = 0; round < 5 && nj > 0; round++) {
		nretry = 0;
		for (size_t i = 0; i < nj; i++)
			run->res->errors += jobs[i].node < 0; /* no master serves its slot */
		for (size_t node = 0; node < k->n; node++) {
			size_t np = 0;

			for (size_t i = 0; i < nj; i++)
				if (jobs[i].node == (int)node)
					per[np++] = jobs[i];
			if (np)
				nretry = kv_node_batch(k, run, (int)node, per, np, retry, nretry);
		}
		memcpy(jobs, retry, nretry * sizeof *jobs);
		nj = nretry;
	}
	run->res->errors += (int)nj;
	free(jobs);
	free(retry);
	free(per);
}

static void random_token(char *out, size_t n)
{
	unsigned char b[8];

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		uint64_t x = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);

		memcpy(b, &x, sizeof b);
	}
	snprintf(out, n, "%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
		 b[7]);
}

int rc_write_read_check(const struct rc_node *seed, const struct rc_opts *o, int nkeys,
			struct rc_check_result *res, struct err *e)
{
	enum { BATCH = 2000 };
	struct kv_client *k;
	struct kv_run run = {.res = res};
	char token[20];
	int rc = 0;

	memset(res, 0, sizeof *res);
	if (nkeys < 0)
		return err_usage(e, "write/read check: negative key count %d", nkeys);
	k = xcalloc(1, sizeof *k);
	k->o = o;
	k->tmo = opt_timeout_ms(o);
	for (int s = 0; s < RC_SLOTS; s++)
		k->slot_node[s] = -1;
	if (kv_load_slots(k, kv_node_index(k, seed->address, seed->port), e) < 0) {
		err_wrap(e, "%s: reading the slot map", seed->id ? seed->id : "seed");
		rc = -1;
		goto out;
	}
	random_token(token, sizeof token);
	run.token = token;
	run.acked = xcalloc((size_t)nkeys + 1, 1);
	run.present = xcalloc((size_t)nkeys + 1, 1);
	run.op = KV_SET;
	for (int i = 0; i < nkeys; i += BATCH)
		kv_run_range(k, &run, i, i + BATCH < nkeys ? i + BATCH : nkeys);
	res->attempted = nkeys;
	run.op = KV_GET;
	for (int i = 0; i < nkeys; i += BATCH)
		kv_run_range(k, &run, i, i + BATCH < nkeys ? i + BATCH : nkeys);
	for (int i = 0; i < nkeys; i++) {
		if (run.acked[i] && run.present[i])
			res->verified++;
		else if (run.acked[i])
			res->lost++;
		else if (run.present[i])
			res->unacked_present++;
	}
	free(run.acked);
	free(run.present);
out:
	for (size_t i = 0; i < k->n; i++)
		kv_drop(k, (int)i);
	free(k->nodes);
	free(k);
	return rc;
}
