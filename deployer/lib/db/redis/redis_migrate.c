/* redis_migrate.c - online slot moves between the masters of a Redis
 * Cluster, and rebalancing to the plan's masters (redis_migrate.h). */
#include "redis_int.h"
#include "redis_migrate.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define DEFAULT_BATCH 1000
#define DEFAULT_GROUP 64
#define DEFAULT_THREADS 8
/* MIGRATEs sent at once on one connection.  MIGRATE blocks the source
 * until the destination has restored the keys, and a source runs every
 * command it has read before it looks at its cluster bus again: a long
 * pipeline of them keeps it deaf to pings for its whole length, and on a
 * loaded machine the others mark it failing (a failover in the middle of a
 * move).  Short pipelines on several connections keep the source as busy
 * and let it answer between them. */
#define DEFAULT_PIPELINE 4
#define MAX_THREADS 64
#define MAX_ROUNDS 3 /* finish open moves, balance, and once more if a move
			was open again after the first (another operator) */

/* A master that serves slots, or that the plan wants to serve some. */
struct holder {
	char id[RC_ID_LEN + 1];
	char address[64];
	int port;
	char *label;
	int nslots;   /* by its own report */
	int target;   /* its share; 0 for a master outside the plan */
	bool planned; /* a planned master */
};

/* Slots slots[first..first+n) go from holder src to dst. */
struct move_job {
	size_t src, dst;
	size_t first;
	int n;
	bool finish_only; /* dst owns them already: only SETSLOT NODE is left */
};

struct mover {
	struct holder *h;
	size_t nh;
	const struct rc_opts *o;
	char tmo_s[16];
	int tmo, batch, pipe;
	int *slots; /* the jobs' slots, concatenated */
	struct move_job *jobs;
	size_t njobs, next;
	pthread_mutex_t mu;
	bool failed;
	struct err err;
	long long keys;
	int moved;
};

/* ---- pipelined commands ------------------------------------------------------ */

/* One command: argv with lengths (keys are binary). */
struct pcmd {
	int argc;
	const char **argv;
	size_t *len;
};

static void pcmd_set(struct pcmd *p, int argc, const char **argv)
{
	p->argc = argc;
	p->argv = xcalloc((size_t)argc, sizeof *p->argv);
	p->len = xcalloc((size_t)argc, sizeof *p->len);
	for (int i = 0; i < argc; i++) {
		p->argv[i] = argv[i];
		p->len[i] = strlen(argv[i]);
	}
}

static void pcmds_free(struct pcmd *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].argv);
		free(p[i].len);
	}
	free(p);
}

/* Send cmds[0..n) on *c at once, then read the n replies; out[k] (when out
 * is not NULL) gets reply k, NULL for an error reply.  An error reply fails
 * the call (after every reply is read, so the connection stays usable)
 * unless `tolerant`, which only logs it, or it contains `accept` (or
 * NULL).  A broken connection fails it and
 * closes *c (the next use reconnects).  what: for messages ("SETSLOT
 * IMPORTING"); slot_of[k] (or NULL) names command k's slot. */
static int pipeline(redisContext **c, const char *label, const struct pcmd *cmds, size_t n,
		    redisReply **out, bool tolerant, const char *accept, const char *what,
		    const int *slot_of, struct err *e)
{
	int rc = 0;

	for (size_t k = 0; k < n; k++)
		if (redisAppendCommandArgv(*c, cmds[k].argc, cmds[k].argv, cmds[k].len) != REDIS_OK)
			goto broken;
	for (size_t k = 0; k < n; k++) {
		void *v = NULL;
		redisReply *r;

		if (redisGetReply(*c, &v) != REDIS_OK || !v)
			goto broken;
		r = v;
		if (r->type == REDIS_REPLY_ERROR) {
			if (tolerant || (accept && strstr(r->str, accept)))
				log_debug("%s: %s (slot %d): %s", label, what, slot_of ? slot_of[k] : -1,
					  r->str);
			else if (rc == 0)
				rc = err_set(e, EIO, "%s: %s (slot %d): %s", label, what,
					     slot_of ? slot_of[k] : -1, r->str);
			freeReplyObject(r);
			r = NULL;
		}
		if (out)
			out[k] = r;
		else if (r)
			freeReplyObject(r);
	}
	return rc;
broken:
	err_set(e, (*c)->err == REDIS_ERR_EOF ? ECONNRESET : EIO, "%s: %s: %s", label, what,
		(*c)->errstr[0] ? (*c)->errstr : "connection lost");
	redisFree(*c);
	*c = NULL;
	if (out)
		memset(out, 0, n * sizeof *out);
	return -1;
}

static void replies_free(redisReply **r, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (r[k])
			freeReplyObject(r[k]);
	free(r);
}

/* ---- one group of slots ------------------------------------------------------ */

static redisContext *conn_of(const struct mover *m, redisContext **conns, size_t i,
			     struct err *e)
{
	if (!conns[i])
		conns[i] = rc_connect(m->h[i].label, m->h[i].address, m->h[i].port, m->o, e);
	return conns[i];
}

/* CLUSTER SETSLOT <slot> <verb> [id] for each slot, on holder i. */
static int setslot_all(const struct mover *m, redisContext **conns, size_t i, const int *slots,
		       int n, const char *verb, const char *id, bool tolerant, const char *accept,
		       struct err *e)
{
	struct pcmd *cmds = xcalloc((size_t)n, sizeof *cmds);
	char (*num)[8] = xcalloc((size_t)n, sizeof *num);
	_cleanup_free_ char *what = xasprintf("CLUSTER SETSLOT %s", verb);
	int rc;

	if (!conn_of(m, conns, i, e)) {
		free(cmds);
		free(num);
		return -1;
	}
	for (int k = 0; k < n; k++) {
		snprintf(num[k], sizeof num[k], "%d", slots[k]);
		pcmd_set(&cmds[k], id ? 5 : 4,
			 (const char *[]){"CLUSTER", "SETSLOT", num[k], verb, id});
	}
	rc = pipeline(&conns[i], m->h[i].label, cmds, (size_t)n, NULL, tolerant, accept, what,
		      slots, e);
	pcmds_free(cmds, (size_t)n);
	free(num);
	return rc;
}

/* MIGRATE <dst> "" 0 <tmo> REPLACE [AUTH pw] KEYS k... for the keys of
 * GETKEYSINSLOT reply r. */
static void migrate_cmd(const struct mover *m, const struct holder *dst, const char *port,
			const redisReply *r, struct pcmd *p)
{
	const char *pw = m->o && m->o->password && *m->o->password ? m->o->password : NULL;
	int head = pw ? 10 : 8, argc = head + (int)r->elements, k = 0;

	p->argc = argc;
	p->argv = xcalloc((size_t)argc, sizeof *p->argv);
	p->len = xcalloc((size_t)argc, sizeof *p->len);
	p->argv[k++] = "MIGRATE";
	p->argv[k++] = dst->address;
	p->argv[k++] = port;
	p->argv[k++] = "";
	p->argv[k++] = "0";
	p->argv[k++] = m->tmo_s;
	p->argv[k++] = "REPLACE";
	if (pw) {
		p->argv[k++] = "AUTH";
		p->argv[k++] = pw;
	}
	p->argv[k++] = "KEYS";
	for (int i = 0; i < k; i++)
		p->len[i] = strlen(p->argv[i]);
	for (size_t i = 0; i < r->elements; i++, k++) {
		p->argv[k] = r->element[i]->str;
		p->len[k] = r->element[i]->len;
	}
}

/* Move every key of slots[0..n) from src to dst: GETKEYSINSLOT and MIGRATE,
 * pipelined over the slots, until the source has none left (a slot whose
 * GETKEYSINSLOT returned fewer keys than the batch is done). */
static int move_keys(struct mover *m, redisContext **conns, const struct move_job *j,
		     const int *slots, long long *keys, struct err *e)
{
	const struct holder *dst = &m->h[j->dst];
	const char *label = m->h[j->src].label;
	int n = j->n, npend = n, rc = 0;
	int *pend = xcalloc((size_t)n, sizeof *pend), *mslot = xcalloc((size_t)n, sizeof *mslot);
	char (*num)[8] = xcalloc((size_t)n, sizeof *num), port[12], batch[12];

	snprintf(port, sizeof port, "%d", dst->port);
	snprintf(batch, sizeof batch, "%d", m->batch);
	for (int k = 0; k < n; k++) {
		pend[k] = slots[k];
		snprintf(num[k], sizeof num[k], "%d", slots[k]);
	}
	while (npend > 0 && rc == 0) {
		struct pcmd *get = xcalloc((size_t)npend, sizeof *get), *mig;
		redisReply **got = xcalloc((size_t)npend, sizeof *got);
		int nm = 0, still = 0;

		for (int k = 0; k < npend; k++) {
			snprintf(num[k], sizeof num[k], "%d", pend[k]);
			pcmd_set(&get[k], 4, (const char *[]){"CLUSTER", "GETKEYSINSLOT", num[k], batch});
		}
		if (!conn_of(m, conns, j->src, e) ||
		    pipeline(&conns[j->src], label, get, (size_t)npend, got, false, NULL,
			     "CLUSTER GETKEYSINSLOT", pend, e) < 0) {
			pcmds_free(get, (size_t)npend);
			replies_free(got, (size_t)npend);
			rc = -1;
			break;
		}
		mig = xcalloc((size_t)npend, sizeof *mig);
		for (int k = 0; k < npend; k++) {
			if (got[k]->type != REDIS_REPLY_ARRAY) {
				rc = err_set(e, EPROTO, "%s: CLUSTER GETKEYSINSLOT %d: not an array",
					     label, pend[k]);
				break;
			}
			if (got[k]->elements == 0)
				continue;
			migrate_cmd(m, dst, port, got[k], &mig[nm]);
			mslot[nm++] = pend[k];
			*keys += (long long)got[k]->elements;
			/* fewer than asked for: that was all of them, and no key
			 * can appear on a MIGRATING source (a new one goes to
			 * the destination by ASK), so the slot is empty after
			 * this MIGRATE */
			if (got[k]->elements >= (size_t)m->batch)
				pend[still++] = pend[k];
		}
		for (int k = 0; rc == 0 && k < nm; k += m->pipe) {
			int len = nm - k < m->pipe ? nm - k : m->pipe;

			if (!conn_of(m, conns, j->src, e))
				rc = -1;
			else
				rc = pipeline(&conns[j->src], label, mig + k, (size_t)len, NULL, false,
					      NULL, "MIGRATE", mslot + k, e);
		}
		pcmds_free(mig, (size_t)npend);
		pcmds_free(get, (size_t)npend);
		replies_free(got, (size_t)npend);
		npend = still;
	}
	free(pend);
	free(mslot);
	free(num);
	return rc;
}

/* Move the slots of job j from its source to its destination. */
static int run_job(struct mover *m, redisContext **conns, const struct move_job *j,
		   long long *keys, struct err *e)
{
	const int *slots = m->slots + j->first;
	const struct holder *src = &m->h[j->src], *dst = &m->h[j->dst];

	if (!j->finish_only &&
	    (setslot_all(m, conns, j->dst, slots, j->n, "IMPORTING", src->id, false, NULL, e) < 0 ||
	     setslot_all(m, conns, j->src, slots, j->n, "MIGRATING", dst->id, false, NULL, e) < 0 ||
	     move_keys(m, conns, j, slots, keys, e) < 0))
		return -1;
	/* The new owner first, then the old one (which then sends MOVED to
	 * the new), then every other master so clients are redirected at once
	 * (a master that does not answer learns it from the others).  A source
	 * that has just given its last slot away may have become a replica of
	 * the taker already (cluster-allow-replica-migration): it serves
	 * nothing, which is what the move wanted. */
	if (setslot_all(m, conns, j->dst, slots, j->n, "NODE", dst->id, false, NULL, e) < 0 ||
	    setslot_all(m, conns, j->src, slots, j->n, "NODE", dst->id, false,
			"only with masters", e) < 0)
		return -1;
	for (size_t i = 0; i < m->nh; i++) {
		struct err ignore = {0};

		if (i != j->src && i != j->dst &&
		    setslot_all(m, conns, i, slots, j->n, "NODE", dst->id, true, NULL, &ignore) < 0)
			log_debug("%s", ignore.msg);
	}
	return 0;
}

static void *mover_thread(void *arg)
{
	struct mover *m = arg;
	redisContext **conns = xcalloc(m->nh + 1, sizeof *conns);

	for (;;) {
		struct err e = {0};
		const struct move_job *j;
		long long keys = 0;
		int rc;

		pthread_mutex_lock(&m->mu);
		j = !m->failed && m->next < m->njobs ? &m->jobs[m->next++] : NULL;
		pthread_mutex_unlock(&m->mu);
		if (!j)
			break;
		rc = run_job(m, conns, j, &keys, &e);
		pthread_mutex_lock(&m->mu);
		m->keys += keys;
		if (rc == 0)
			m->moved += j->n;
		else if (!m->failed) {
			m->failed = true;
			m->err = e;
			err_wrap(&m->err, "moving slots %d..%d from %s to %s",
				 m->slots[j->first], m->slots[j->first + (size_t)j->n - 1],
				 m->h[j->src].label, m->h[j->dst].label);
		}
		pthread_mutex_unlock(&m->mu);
	}
	rc_free_conns(conns, m->nh);
	return NULL;
}

/* Run m's jobs on up to `threads` threads. */
static int run_jobs(struct mover *m, int threads, struct err *e)
{
	size_t nt = (size_t)threads < m->njobs ? (size_t)threads : m->njobs, started = 0;
	pthread_t *th = xcalloc(nt + 1, sizeof *th);

	pthread_mutex_init(&m->mu, NULL);
	for (size_t t = 0; t < nt; t++)
		if (pthread_create(&th[started], NULL, mover_thread, m) == 0)
			started++;
	if (started == 0 && m->njobs)
		mover_thread(m);
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&m->mu);
	free(th);
	if (m->failed) {
		*e = m->err;
		return -1;
	}
	return 0;
}

/* ---- the cluster as it is ---------------------------------------------------- */

void rc_balance_targets(const int *cur, int nmasters, int *target)
{
	int base, extra;
	bool *given;

	if (nmasters <= 0)
		return;
	base = RC_SLOTS / nmasters;
	extra = RC_SLOTS % nmasters;
	given = xcalloc((size_t)nmasters + 1, sizeof *given);

	for (int k = 0; k < nmasters; k++)
		target[k] = base;
	/* the extra slots to those that serve most now (first in order on a tie) */
	for (int x = 0; x < extra; x++) {
		int best = -1;

		for (int k = 0; k < nmasters; k++)
			if (!given[k] && (best < 0 || cur[k] > cur[best]))
				best = k;
		given[best] = true;
		target[best]++;
	}
	free(given);
}

/* An open slot: `slot` leaves holder src for dst (a "[slot->-id]" on src
 * or a "[slot-<-id]" on dst). */
struct open_slot {
	int slot;
	size_t src, dst;
};

struct layout {
	struct holder *h;
	size_t nh;
	int16_t owner[RC_SLOTS]; /* holder serving each slot, -1: none */
	struct open_slot *open;
	size_t nopen;
};

static void layout_free(struct layout *l)
{
	for (size_t i = 0; i < l->nh; i++)
		free(l->h[i].label);
	free(l->h);
	free(l->open);
	free(l);
}

static ssize_t holder_by_id(const struct layout *l, const char *id)
{
	for (size_t i = 0; i < l->nh; i++)
		if (!strncmp(l->h[i].id, id, RC_ID_LEN))
			return (ssize_t)i;
	return -1;
}

static void add_holder(struct layout *l, size_t *cap, const struct rc_entry *en, bool planned,
		       const char *label)
{
	struct holder *h;

	l->h = xgrow(l->h, cap, l->nh + 1, sizeof *l->h);
	h = &l->h[l->nh++];
	*h = (struct holder){.port = en->port, .planned = planned, .nslots = en->nslots};
	snprintf(h->id, sizeof h->id, "%s", en->id);
	snprintf(h->address, sizeof h->address, "%s", en->address);
	h->label = label ? xstrdup(label)
			 : xasprintf("node %.8s (%s:%d, not planned)", en->id, en->address, en->port);
}

/* Holder i's own CLUSTER NODES: its slots (into l->owner) and its open
 * slots ("[slot->-id]" migrating to id, "[slot-<-id]" importing from id,
 * after the slot ranges of its "myself" line). */
static int read_own(struct layout *l, size_t i, redisContext *c, int tmo, size_t *open_cap,
		    struct err *e)
{
	struct holder *h = &l->h[i];
	_cleanup_reply_ redisReply *r = CALL(c, tmo, h->label, e, "CLUSTER", "NODES");
	struct rc_entry *t = NULL;
	size_t nt = 0;
	const char *line, *eol, *p;
	int rc = 0;

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STRING)
		return err_set(e, EPROTO, "%s: CLUSTER NODES: not a string", h->label);
	if (rc_parse_nodes(r->str, &t, &nt, e) < 0)
		return err_wrap(e, "%s: CLUSTER NODES", h->label);
	for (size_t k = 0; k < nt && rc == 0; k++) {
		if (!(t[k].flags & RC_F_MYSELF))
			continue;
		if (strcmp(t[k].id, h->id))
			rc = err_set(e, EEXIST, "%s: answers as Redis node %.8s, not %.8s", h->label,
				     t[k].id, h->id);
		h->nslots = t[k].nslots;
		for (size_t g = 0; rc == 0 && g < t[k].nranges; g++)
			for (int s = t[k].ranges[g].first; s <= t[k].ranges[g].last; s++) {
				if (l->owner[s] >= 0 && (size_t)l->owner[s] != i)
					rc = err_set(e, EEXIST, "slot %d is claimed by both %s and %s",
						     s, l->h[l->owner[s]].label, h->label);
				l->owner[s] = (int16_t)i;
			}
	}
	rc_entries_free(t, nt);
	if (rc < 0)
		return -1;
	line = strstr(r->str, "myself");
	while (line && line > r->str && line[-1] != '\n')
		line--;
	eol = line ? strchr(line, '\n') : NULL;
	for (p = line; p && (p = strchr(p, '[')) && (!eol || p < eol); p++) {
		char id[RC_ID_LEN + 1];
		int slot, used = 0;
		bool to = false;
		ssize_t peer;

		if (sscanf(p, "[%d->-%40[0-9a-f]]%n", &slot, id, &used) == 2 && used)
			to = true;
		else if (sscanf(p, "[%d-<-%40[0-9a-f]]%n", &slot, id, &used) != 2 || !used)
			return err_set(e, EPROTO, "%s: CLUSTER NODES: unreadable open slot '%.60s'",
				       h->label, p);
		if (slot < 0 || slot >= RC_SLOTS)
			return err_set(e, EPROTO, "%s: CLUSTER NODES: open slot %d out of range",
				       h->label, slot);
		if ((peer = holder_by_id(l, id)) < 0)
			return err_set(e, EEXIST, "%s: slot %d is %s node %.8s, which is not a master "
						  "of this cluster; CLUSTER SETSLOT %d STABLE on it first",
				       h->label, slot, to ? "migrating to" : "importing from", id,
				       slot);
		l->open = xgrow(l->open, open_cap, l->nopen + 1, sizeof *l->open);
		l->open[l->nopen++] = (struct open_slot){.slot = slot, .src = to ? i : (size_t)peer,
							 .dst = to ? (size_t)peer : i};
	}
	return 0;
}

/* The planned replica of planned master m that is the shard's master now
 * (a failover swapped them: m reports itself its replica), or -1. */
static ssize_t swapped_replica(const struct rc_node *nodes, size_t n, const struct rc_view *v,
			       size_t m)
{
	const struct rc_entry *me = rc_self(&v->obs[m]);

	if (!me || (me->flags & RC_F_MASTER) || !me->master_id[0])
		return -1;
	for (size_t r = 0; r < n; r++) {
		const struct rc_entry *re = rc_self(&v->obs[r]);

		if (!nodes[r].master && nodes[r].master_index == (int)m && re &&
		    (re->flags & RC_F_MASTER) && !strcmp(re->id, me->master_id))
			return (ssize_t)r;
	}
	return -1;
}

/* The planned masters and every master that serves slots, by their own
 * reports; refuses what rebalancing must not touch (see rc_rebalance).  A
 * pair a failover swapped (the planned replica is the master now) counts
 * as its master: the replica holds the shard's slots. */
static int read_layout(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
		       struct layout **out, struct err *e)
{
	struct rc_view *v = NULL;
	struct layout *l = xcalloc(1, sizeof *l);
	size_t cap = 0, open_cap = 0;
	redisContext **conns = NULL;
	int rc = -1;

	memset(l->owner, 0xff, sizeof l->owner);
	if (rc_inspect(nodes, n, o, &v, e) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct rc_observer *ob = &v->obs[i];
		const struct rc_entry *me = rc_self(ob);

		if (!ob->reachable || !me) {
			err_set(e, EHOSTUNREACH, "%s: does not answer (%s); slots move only when "
						 "every planned node does",
				ob->label, ob->error ? ob->error : "no own line");
			goto out;
		}
		if (nodes[i].master && !(me->flags & RC_F_MASTER)) {
			ssize_t r = swapped_replica(nodes, n, v, i);

			if (r < 0) {
				err_set(e, EEXIST, "%s: is a replica now, but the plan makes it a "
						   "master; form the cluster (fail back) before moving slots",
					ob->label);
				goto out;
			}
			/* a failover swapped the pair: its planned replica holds
			 * the shard's slots until form fails back */
			add_holder(l, &cap, rc_self(&v->obs[r]), true, v->obs[r].label);
			continue;
		}
		if (!nodes[i].master && me->nslots > 0 &&
		    swapped_replica(nodes, n, v, (size_t)nodes[i].master_index) != (ssize_t)i) {
			err_set(e, EEXIST, "%s: serves %d slots, but the plan makes it a replica; "
					   "form the cluster (fail back) before moving slots",
				ob->label, me->nslots);
			goto out;
		}
		if (nodes[i].master)
			add_holder(l, &cap, me, true, ob->label);
	}
	for (size_t j = 0; j < v->nnodes; j++) {
		const struct rc_entry *en = &v->nodes[j];

		if (en->plan_index < 0 && (en->flags & RC_F_MASTER) && en->nslots > 0)
			add_holder(l, &cap, en, false, NULL);
	}
	conns = xcalloc(l->nh + 1, sizeof *conns);
	for (size_t i = 0; i < l->nh; i++) {
		if (!(conns[i] = rc_connect(l->h[i].label, l->h[i].address, l->h[i].port, o, e))) {
			if (!l->h[i].planned) {
				e->code = EHOSTUNREACH;
				err_wrap(e, "%s serves %d slots but does not answer, so they cannot "
					    "be moved (start it again, or let its replica take over)",
					 l->h[i].label, l->h[i].nslots);
			}
			goto out;
		}
	}
	for (size_t i = 0; i < l->nh; i++)
		if (read_own(l, i, conns[i], rc_opt_timeout_ms(o), &open_cap, e) < 0)
			goto out;
	rc = 0;
out:
	if (conns) /* NULL when a node was refused before any connection */
		rc_free_conns(conns, l->nh);
	rc_view_free(v);
	if (rc < 0)
		layout_free(l);
	else
		*out = l;
	return rc;
}

/* ---- planning the moves -------------------------------------------------------- */

struct job_list {
	int *slots;
	size_t nslots, slots_cap;
	struct move_job *jobs;
	size_t njobs, jobs_cap;
};

/* Append slot s (src -> dst) to the list, in the last job when it continues it. */
static void job_add(struct job_list *jl, size_t src, size_t dst, int s, int group,
		    bool finish_only)
{
	struct move_job *last = jl->njobs ? &jl->jobs[jl->njobs - 1] : NULL;

	jl->slots = xgrow(jl->slots, &jl->slots_cap, jl->nslots + 1, sizeof *jl->slots);
	jl->slots[jl->nslots] = s;
	if (last && last->src == src && last->dst == dst && last->n < group &&
	    last->finish_only == finish_only && last->first + (size_t)last->n == jl->nslots) {
		last->n++;
	} else {
		jl->jobs = xgrow(jl->jobs, &jl->jobs_cap, jl->njobs + 1, sizeof *jl->jobs);
		jl->jobs[jl->njobs++] = (struct move_job){.src = src, .dst = dst,
							  .first = jl->nslots, .n = 1,
							  .finish_only = finish_only};
	}
	jl->nslots++;
}

/* Jobs that finish the open slots: to their destination. */
static void plan_open(const struct layout *l, int group, struct job_list *jl)
{
	for (size_t k = 0; k < l->nopen; k++) {
		const struct open_slot *os = &l->open[k];
		bool dup = false;

		for (size_t q = 0; q < k; q++)
			dup |= l->open[q].slot == os->slot;
		if (!dup)
			job_add(jl, os->src, os->dst, os->slot, group,
				l->owner[os->slot] == (int16_t)os->dst);
	}
}

/* Jobs that bring every holder to its target: each holder above it gives
 * its highest slots to the holders below theirs, in order.  Then the jobs
 * are interleaved by source so that the threads work on every source at
 * once. */
static void plan_balance(struct layout *l, int group, struct job_list *jl)
{
	size_t nh = l->nh, d = 0;
	int *need = xcalloc(nh + 1, sizeof *need), *cur = xcalloc(nh + 1, sizeof *cur);
	int *tgt = xcalloc(nh + 1, sizeof *tgt), nm = 0;
	struct job_list *per = xcalloc(nh + 1, sizeof *per);
	size_t left = 0;

	for (size_t i = 0; i < nh; i++)
		if (l->h[i].planned)
			cur[nm++] = l->h[i].nslots;
	rc_balance_targets(cur, nm, tgt);
	nm = 0;
	for (size_t i = 0; i < nh; i++) {
		l->h[i].target = l->h[i].planned ? tgt[nm++] : 0;
		need[i] = l->h[i].target - l->h[i].nslots;
	}
	for (size_t src = 0; src < nh; src++)
		for (int s = RC_SLOTS - 1; s >= 0 && need[src] < 0; s--) {
			if (l->owner[s] != (int16_t)src)
				continue;
			while (d < nh && need[d] <= 0)
				d++;
			if (d == nh)
				break;
			job_add(&per[src], src, d, s, group, false);
			need[src]++;
			need[d]--;
		}
	for (size_t i = 0; i < nh; i++)
		left += per[i].njobs;
	for (size_t round = 0; left > 0; round++)
		for (size_t i = 0; i < nh; i++) {
			const struct move_job *pj;

			if (round >= per[i].njobs)
				continue;
			pj = &per[i].jobs[round];
			for (int k = 0; k < pj->n; k++)
				job_add(jl, pj->src, pj->dst, per[i].slots[pj->first + (size_t)k], group,
					false);
			left--;
		}
	for (size_t i = 0; i < nh; i++) {
		free(per[i].slots);
		free(per[i].jobs);
	}
	free(per);
	free(need);
	free(cur);
	free(tgt);
}

static int move(struct layout *l, struct job_list *jl, const struct rc_opts *o,
		const struct rc_migrate_opts *mo, struct rc_rebalance_result *res, struct err *e)
{
	struct mover m = {.h = l->h, .nh = l->nh, .o = o, .tmo = rc_opt_timeout_ms(o),
			  .batch = mo && mo->batch > 0 ? mo->batch : DEFAULT_BATCH,
			  .pipe = mo && mo->pipeline > 0 ? mo->pipeline : DEFAULT_PIPELINE,
			  .slots = jl->slots, .jobs = jl->jobs, .njobs = jl->njobs};
	int threads = mo && mo->threads > 0 ? mo->threads : DEFAULT_THREADS;
	int rc;

	snprintf(m.tmo_s, sizeof m.tmo_s, "%d", m.tmo);
	rc = run_jobs(&m, threads > MAX_THREADS ? MAX_THREADS : threads, e);
	res->keys_moved += m.keys;
	res->slots_moved += m.moved;
	return rc;
}

int rc_rebalance(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
		 const struct rc_migrate_opts *mo, struct rc_rebalance_result *res, struct err *e)
{
	struct rc_rebalance_result local = {0};
	int64_t t0 = now_ms();
	int group = mo && mo->group > 0 ? mo->group : DEFAULT_GROUP;

	if (!res)
		res = &local;
	*res = (struct rc_rebalance_result){0};
	if (rc_validate_plan(nodes, n, e) < 0)
		return -1;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		struct layout *l = NULL;
		struct job_list jl = {0};
		bool balanced = true;
		int rc;

		if (read_layout(nodes, n, o, &l, e) < 0)
			return -1;
		if (l->nopen) {
			plan_open(l, group, &jl);
			res->resumed += (int)jl.nslots;
			log_info("finishing %zu slot move(s) an earlier run left open", jl.nslots);
		} else {
			plan_balance(l, group, &jl);
		}
		for (size_t i = 0; i < l->nh; i++)
			balanced &= l->h[i].nslots == l->h[i].target;
		if (jl.njobs == 0) {
			layout_free(l);
			if (!balanced)
				return err_set(e, EAGAIN, "slots could not be balanced (some slot has "
							  "no master)");
			res->ms = now_ms() - t0;
			return 0;
		}
		if (!l->nopen)
			log_info("moving %zu slots between %zu masters", jl.nslots, l->nh);
		rc = move(l, &jl, o, mo, res, e);
		free(jl.slots);
		free(jl.jobs);
		layout_free(l);
		if (rc < 0)
			return -1;
	}
	return err_set(e, EAGAIN, "slots still not balanced after %d rounds of moves (is another "
				  "program moving them?)",
		       MAX_ROUNDS);
}
