/* riak_driver.c - Riak KV as a database driver (driver.h): a ring of
 * equals whose changes are staged and then committed, with `riak admin`
 * run inside the nodes through the agent's exec (argv, no shell) and GET
 * /ping over HTTP.  `riak admin` exits 0 when it failed, so every answer is
 * read from its text (riak_int.h).  Each step looks before it acts, so a
 * second run (or one after an interruption) does only what is left:
 *   form     the ring of the first node (member-status) is the base; when
 *            it already holds every node valid and nothing is pending,
 *            nothing is done.  Else every node at once waits for
 *            riak_kv and, when not in the base ring, runs `cluster join
 *            riak@<base>` (one already in a ring of several makes that
 *            ring the base when the first node is alone; two such rings
 *            are refused); once the base sees them, `cluster plan` +
 *            `cluster commit` there; then wait until the ring settles
 *            (every node valid, no ownership transfer pending) as the
 *            claimant and then every other node (all at once) prints it;
 *   join     form over the formed nodes and the new ones;
 *   leave    each leaving node still in the ring stages its own `cluster
 *            leave` (the template's leave hook), or when it cannot be
 *            reached a remaining node marks it down (`riak admin down`,
 *            else no plan is made while it is away) and stages `cluster
 *            force-remove` for it; plan + commit; then wait until the
 *            leaving nodes have handed their partitions off and are gone
 *            from the ring of the claimant, then of every staying node;
 *   replace  the old node, when it does not answer, is marked down; the
 *            new node joins; `cluster force-replace riak@<old>
 *            riak@<new>`, plan, commit; wait until settled;
 *   observe  /ping on every node, member-status from the first that
 *            answers: status, ring share now and after transfers;
 *   check    every node a valid member, transfers settled, ownership
 *            balanced (shares differ by one partition at most);
 *   kv_*     the drills' load over HTTP (riak_kv.c).
 * Node names are riak@<address>, as templates/riak/riak.conf.tmpl sets.
 * Riak's Erlang VM is slow to start and each `riak admin` call starts one
 * more, so waits are long: at least RIAK_MIN_SETTLE_MS per operation. */
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fanout.h"
#include "log.h"
#include "probe.h"
#include "riak_int.h"
#include "util.h"

#define RIAK_BIN "/usr/sbin/riak"
#define RIAK_HTTP_PORT 8098                 /* listener.http.internal */
#define RIAK_MIN_SETTLE_MS (15 * 60 * 1000) /* one form, leave or replace */
#define RIAK_POLL_MS 1000 /* between looks; each look starts an Erlang VM (1-3 s) */

#define NAME_LEN (DB_ID_MAX + 1)

int riak_poll_ms = RIAK_POLL_MS;

static void node_name(const struct db_node *n, char *buf, size_t len)
{
	snprintf(buf, len, "riak@%s", n->address);
}

static int64_t deadline_of(const struct db_opts *o)
{
	return now_ms() + (o->settle_ms > RIAK_MIN_SETTLE_MS ? o->settle_ms : RIAK_MIN_SETTLE_MS);
}

/* Pause before the next look; false (and e says what was awaited) once
 * the deadline has passed. */
static bool again(int64_t deadline, struct err *e, const struct db_node *n, const char *what,
		  const char *last)
{
	if (now_ms() + riak_poll_ms > deadline) {
		err_set(e, ETIMEDOUT, "%s: %s: gave up waiting (last: %s)", n->id, what, last);
		return false;
	}
	usleep((useconds_t)riak_poll_ms * 1000);
	return true;
}

/* riak WORDS... on n; out (reset first) gets what it printed. */
static int riak_cmd(const struct db_opts *o, const struct db_node *n, struct buf *out,
		    const char *const *words, struct err *e)
{
	const char *argv[8] = {RIAK_BIN};
	size_t k = 1;
	char line[256] = "";
	int64_t t0 = now_ms();
	int rc;

	for (size_t i = 0; words[i] && k < ARRAY_SIZE(argv) - 1; i++) {
		argv[k++] = words[i];
		snprintf(line + strlen(line), sizeof line - strlen(line), " %s", words[i]);
	}
	argv[k] = NULL;
	buf_reset(out);
	rc = db_run_out(o, n, (char *const *)argv, out, e);
	/* each step with its time (an Erlang VM each): bench/riak_up.sh
	 * reads the phases of form from these lines */
	log_debug("%s: riak%s: %s (%lld ms)", n->id, line, rc < 0 ? "failed" : "answered",
		  (long long)(now_ms() - t0));
	if (rc < 0)
		return err_wrap(e, "%s: riak %s %s", n->id, words[0], words[1] ? words[1] : "");
	return 0;
}

/* riak admin WORDS... on n. */
static int admin(const struct db_opts *o, const struct db_node *n, struct buf *out,
		 const char *const *words, struct err *e)
{
	const char *w[8] = {"admin"};
	size_t k = 1;

	for (size_t i = 0; words[i] && k < ARRAY_SIZE(w) - 1; i++)
		w[k++] = words[i];
	w[k] = NULL;
	return riak_cmd(o, n, out, w, e);
}

/* ---- looking ------------------------------------------------------------------- */

/* member-status as n prints it. */
static int read_ring(const struct db_opts *o, const struct db_node *n, struct riak_ring *r,
		     struct err *e)
{
	struct buf out = {0};
	int rc = admin(o, n, &out, (const char *[]){"member-status", NULL}, e);

	if (rc == 0 && riak_ring_parse(out.data, r, e) < 0)
		rc = err_wrap(e, "%s", n->id);
	buf_free(&out);
	return rc;
}

typedef bool (*ring_pred)(const struct riak_ring *r, const void *arg);

/* Look at n's member-status until pred holds (r keeps that view) or the
 * deadline passes; a node that does not answer yet is looked at again. */
static int wait_ring(const struct db_opts *o, const struct db_node *n, int64_t deadline,
		     const char *what, ring_pred pred, const void *arg, struct riak_ring *r,
		     struct err *e)
{
	for (;;) {
		char last[256];

		if (read_ring(o, n, r, e) == 0) {
			if (pred(r, arg))
				return 0;
			snprintf(last, sizeof last, "%zu members, %s", r->n,
				 r->pending ? "transfers pending" : "nothing pending");
			riak_ring_free(r);
		} else {
			snprintf(last, sizeof last, "%.250s", e->msg);
		}
		if (!again(deadline, e, n, what, last))
			return -1;
	}
}

static bool any_ring(const struct riak_ring *r, const void *arg)
{
	(void)r;
	(void)arg;
	return true;
}

/* The node names of a node list (NULL-terminated, for predicates). */
struct names {
	char (*v)[NAME_LEN];
	size_t n;
};

static struct names names_of(const struct db_node *nodes, size_t n)
{
	struct names s = {.v = xcalloc(n + 1, sizeof *s.v), .n = n};

	for (size_t i = 0; i < n; i++)
		node_name(&nodes[i], s.v[i], NAME_LEN);
	return s;
}

static bool lists_all(const struct riak_ring *r, const void *arg)
{
	const struct names *s = arg;

	for (size_t i = 0; i < s->n; i++)
		if (!riak_ring_find(r, s->v[i]))
			return false;
	return true;
}

/* Exactly the nodes of s, every one valid. */
static bool members_as(const struct riak_ring *r, const struct names *s)
{
	if (r->n != s->n || !lists_all(r, s))
		return false;
	for (size_t i = 0; i < r->n; i++)
		if (r->m[i].status != RIAK_VALID)
			return false;
	return true;
}

/* members_as, no ownership transfer pending, and shares one partition
 * apart at most: right after a commit a joined node shows valid with 0 %
 * and nothing pending until the claimant plans its transfers (seen on the
 * lab: scale 4 -> 5 returned before the ring had moved). */
static bool settled_as(const struct riak_ring *r, const void *arg)
{
	return members_as(r, arg) && !r->pending && riak_ring_balanced(r);
}

static bool lists_none(const struct riak_ring *r, const void *arg)
{
	const struct names *s = arg;

	for (size_t i = 0; i < s->n; i++)
		if (riak_ring_find(r, s->v[i]))
			return false;
	return true;
}

/* Wait until riak_kv runs on n (riak_core_node_watcher lists it, which
 * is what `riak admin wait-for-service` asks; `riak admin services`
 * prints [] in 3.2.1): before it, a node refuses writes with
 * insufficient_vnodes. */
static int wait_kv(const struct db_opts *o, const struct db_node *n, int64_t deadline,
		   struct err *e)
{
	struct buf out = {0};
	int rc = -1;

	for (;;) {
		char last[256];

		if (riak_cmd(o, n, &out,
			     (const char *[]){"rpc", "riak_core_node_watcher", "services", NULL},
			     e) == 0) {
			if (riak_services_has(out.data, "riak_kv")) {
				rc = 0;
				break;
			}
			riak_first_line(out.data, last, sizeof last);
		} else {
			snprintf(last, sizeof last, "%.250s", e->msg);
		}
		if (!again(deadline, e, n, "riak_kv to start", last))
			break;
	}
	buf_free(&out);
	return rc;
}

/* ---- staging and committing ------------------------------------------------------ */

/* Run a staging command on n until it answers with ok_prefix (0) or a
 * definite failure (-1); "try again" answers are retried until deadline. */
static int stage(const struct db_opts *o, const struct db_node *n, const char *const *words,
		 const char *ok_prefix, const char *also_ok, int64_t deadline, struct err *e)
{
	struct buf out = {0};
	char first[256];
	int rc = -1;

	for (;;) {
		if (admin(o, n, &out, words, e) < 0)
			break;
		riak_first_line(out.data, first, sizeof first);
		if (!strncmp(first, ok_prefix, strlen(ok_prefix)) ||
		    (also_ok && strstr(first, also_ok))) {
			rc = 0;
			break;
		}
		if (!strstr(first, "Try again") && !strstr(first, "is not reachable") &&
		    !strstr(first, "not running")) {
			err_set(e, strstr(first, "already a member") ? EEXIST : EIO,
				"%s: riak admin %s %s: %s", n->id, words[0], words[1], first);
			break;
		}
		if (!again(deadline, e, n, words[1], first))
			break;
	}
	buf_free(&out);
	return rc;
}

/* cluster plan, then cluster commit, on n; again while the ring has not
 * converged or the plan changed in between.  Nothing staged: done. */
static int plan_commit(const struct db_opts *o, const struct db_node *n, int64_t deadline,
		       struct err *e)
{
	struct buf out = {0};
	char first[256];
	int rc = -1;

	for (;;) {
		if (admin(o, n, &out, (const char *[]){"cluster", "plan", NULL}, e) < 0)
			break;
		riak_first_line(out.data, first, sizeof first);
		if (strstr(out.data, "There are no staged changes")) {
			rc = 0;
			break;
		}
		if (strstr(out.data, "Staged Changes")) {
			if (admin(o, n, &out, (const char *[]){"cluster", "commit", NULL}, e) < 0)
				break;
			riak_first_line(out.data, first, sizeof first);
			if (strstr(out.data, "Cluster changes committed")) {
				rc = 0;
				break;
			}
			if (!strstr(out.data, "converged") && !strstr(out.data, "plan has changed") &&
			    !strstr(out.data, "verify the plan")) {
				err_set(e, EIO, "%s: riak admin cluster commit: %s", n->id, first);
				break;
			}
		} else if (!strstr(out.data, "converged")) {
			err_set(e, EIO, "%s: riak admin cluster plan: %s", n->id, first);
			break;
		}
		if (!again(deadline, e, n, "cluster plan and commit", first))
			break;
	}
	buf_free(&out);
	return rc;
}

static int join_to(const struct db_opts *o, const struct db_node *n, const char *base,
		   int64_t deadline, struct err *e)
{
	return stage(o, n, (const char *[]){"cluster", "join", base, NULL},
		     "Success: staged join request", NULL, deadline, e);
}

/* ---- form and join ------------------------------------------------------------- */

/* Node k, refused a join as "already a member of a cluster", is in a ring
 * of several: when the base node is alone in its own (a first node
 * replaced, say), k's ring becomes the base (*b = k, *base its view); two
 * rings of several are not merged. */
static int switch_base(const struct db_opts *o, const struct db_node *nodes, size_t k,
		       const struct names *all, struct riak_ring *base, size_t *b, int64_t deadline,
		       struct err *e)
{
	struct riak_ring r;

	if (wait_ring(o, &nodes[k], deadline, "its member-status", any_ring, NULL, &r, e) < 0)
		return -1;
	if (base->n > 1 || r.n < 2) {
		err_set(e, EEXIST, "%s: already in another ring (%zu members, with %s) than "
			"%s's (%zu members): shoal does not merge rings",
			nodes[k].id, r.n, r.n > 1 && !strcmp(r.m[0].node, all->v[k]) ? r.m[1].node
										     : r.m[0].node,
			nodes[*b].id, base->n);
		riak_ring_free(&r);
		return -1;
	}
	riak_ring_free(base);
	*base = r;
	*b = k;
	return 0;
}

/* What the per-node steps of form share (read only, but for refused[],
 * where each node's step writes its own slot). */
struct ring_job {
	const struct db_opts *o;
	const struct db_node *nodes;
	const struct names *names;
	const struct riak_ring *base; /* the base ring as read */
	size_t b;                     /* the base node */
	size_t first;                 /* wait_all: the node already seen */
	ring_pred pred;               /* wait_all: what each node must print */
	const void *pred_arg;
	const char *what;
	int64_t deadline;
	bool wait_kv;                 /* ready_join: wait for riak_kv first */
	bool *refused;                /* per node: "already a member" of another ring */
};

/* Node k: riak_kv up (when asked), then, unless the base ring lists it,
 * `cluster join` to the base node.  Refused as already in another ring:
 * refused[k], for form_ring to look at once every node is done. */
static int ready_join(void *arg, size_t k, struct err *e)
{
	struct ring_job *j = arg;

	if (j->wait_kv && wait_kv(j->o, &j->nodes[k], j->deadline, e) < 0)
		return -1;
	if (riak_ring_find(j->base, j->names->v[k]) ||
	    join_to(j->o, &j->nodes[k], j->names->v[j->b], j->deadline, e) == 0)
		return 0;
	if (e->code != EEXIST)
		return -1;
	j->refused[k] = true;
	return 0;
}

/* Node k (but the one already seen) prints a ring pred holds for. */
static int ring_one(void *arg, size_t k, struct err *e)
{
	struct ring_job *j = arg;
	struct riak_ring r = {0};

	if (k == j->first)
		return 0;
	if (wait_ring(j->o, &j->nodes[k], j->deadline, j->what, j->pred, j->pred_arg, &r, e) < 0)
		return -1;
	riak_ring_free(&r);
	return 0;
}

/* Wait until nodes[0..n) all print a ring pred holds for: the claimant
 * nodes[first], then the others all at once.  The claimant changes the
 * ring first and the others learn it by gossip, seconds later, so a
 * caller that returned after the claimant alone would leave a node that
 * still shows transfers pending (or a member exiting) to whoever asks it
 * next; looking at the others only then spares the hand-off the Erlang
 * VMs of their looks. */
static int wait_all(const struct db_opts *o, const struct db_node *nodes, size_t n,
		    size_t first, const char *what, ring_pred pred, const void *arg,
		    int64_t deadline, struct err *e)
{
	struct ring_job j = {.o = o, .nodes = nodes, .first = first, .deadline = deadline,
			     .pred = pred, .pred_arg = arg, .what = what};
	struct riak_ring r = {0};

	if (wait_ring(o, &nodes[first], deadline, what, pred, arg, &r, e) < 0)
		return -1;
	riak_ring_free(&r);
	return fanout(n, ring_one, &j, e);
}

/* wait_all: the settled ring of names. */
static int wait_settled(const struct db_opts *o, const struct db_node *nodes, size_t n,
			size_t first, const struct names *names, int64_t deadline, struct err *e)
{
	return wait_all(o, nodes, n, first, "the ring to settle", settled_as, names, deadline, e);
}

/* Make nodes[0..n) one settled ring (see the top of the file).  The
 * per-node steps (riak_kv up, join, the last look) run on every node at
 * once: each is an Erlang VM started in the node, 2-5 s.  Riak takes
 * joins staged at the same time: each joiner sends the base its ring with
 * itself added, and the base merges the member lists of the rings it gets
 * (riak_core_ring:reconcile_members). */
static int form_ring(const struct db_node *nodes, size_t n, const struct db_opts *o,
		     struct err *e)
{
	int64_t deadline = deadline_of(o);
	struct names all = names_of(nodes, n);
	struct riak_ring base = {0};
	bool *refused = xcalloc(n + 1, sizeof *refused);
	struct ring_job j = {.o = o, .nodes = nodes, .names = &all, .base = &base,
			     .deadline = deadline, .wait_kv = true, .refused = refused};
	size_t k;
	int rc = -1;

	if (!n)
		goto done;
	if (wait_ring(o, &nodes[0], deadline, "its member-status", any_ring, NULL, &base, e) < 0)
		goto out;
	if (settled_as(&base, &all))
		goto done;
	/* the base is nodes[0]'s ring as just read (nothing was staged since:
	 * reading it again cost one more Erlang VM, 2-3 s on the lab); a node
	 * that says it is already in another one is looked at (switch_base),
	 * and the joins go again to the new base */
	for (;;) {
		if (fanout(n, ready_join, &j, e) < 0)
			goto out;
		for (k = 0; k < n && !refused[k]; k++)
			;
		if (k == n)
			break;
		if (switch_base(o, nodes, k, &all, &base, &j.b, deadline, e) < 0)
			goto out;
		memset(refused, 0, n * sizeof *refused);
		j.wait_kv = false;
	}
	riak_ring_free(&base);
	/* the joins reach the base's ring by gossip: plan once it has them */
	if (wait_ring(o, &nodes[j.b], deadline, "the joining nodes in its ring", lists_all, &all,
		      &base, e) < 0)
		goto out;
	if (plan_commit(o, &nodes[j.b], deadline, e) < 0 ||
	    wait_settled(o, nodes, n, j.b, &all, deadline, e) < 0)
		goto out;
done:
	rc = 0;
out:
	riak_ring_free(&base);
	free(refused);
	free(all.v);
	return rc;
}

static int riak_form(const struct db_node *nodes, size_t n, const struct db_opts *o,
		     char (*ids)[DB_ID_MAX + 1], struct err *e)
{
	if (form_ring(nodes, n, o, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		node_name(&nodes[i], ids[i], DB_ID_MAX + 1);
	return 0;
}

/* nodes[0..n) followed by more[0..nm). */
static struct db_node *concat(const struct db_node *nodes, size_t n, const struct db_node *more,
			      size_t nm)
{
	struct db_node *v = xcalloc(n + nm + 1, sizeof *v);

	memcpy(v, nodes, n * sizeof *v);
	memcpy(v + n, more, nm * sizeof *v);
	return v;
}

static int riak_join(const struct db_node *nodes, size_t n, const struct db_node *join,
		     size_t nj, const struct db_opts *o, struct err *e)
{
	struct db_node *all;
	int rc;

	if (!n)
		return err_set(e, EINVAL, "%s: no formed node to join", nj ? join[0].id : "?");
	all = concat(nodes, n, join, nj);
	rc = form_ring(all, n + nj, o, e);
	free(all);
	return rc;
}

/* ---- leave and replace ----------------------------------------------------------- */

int riak_http_port(const struct db_opts *o)
{
	const struct template *t = o->tmpl;

	if (t && t->health.kind == PROBE_HTTP && t->health.port)
		return t->health.port;
	if (t && t->readiness.kind == PROBE_HTTP && t->readiness.port)
		return t->readiness.port;
	return RIAK_HTTP_PORT;
}

/* GET /ping on n; r gets the report. */
static int ping(const struct db_opts *o, const struct db_node *n, struct probe_report *r,
		struct err *e)
{
	struct probe_target t = {.kind = PROBE_HTTP, .host = n->address, .port = riak_http_port(o),
				 .path = "/ping", .expect = "OK",
				 .connect_timeout_ms = o->timeout_ms,
				 .read_timeout_ms = o->timeout_ms};

	return probe_run(&t, r, e);
}

static bool answers_ping(const struct db_opts *o, const struct db_node *n)
{
	struct probe_report r;
	struct err e;

	return ping(o, n, &r, &e) == 0 && r.result == PROBE_OK;
}

/* n stages its own leave: the template's leave hook when it is an argv,
 * else cluster leave. */
static int leave_self(const struct db_opts *o, const struct db_node *n, int64_t deadline,
		      struct err *e)
{
	char **argv = NULL, first[256];
	struct buf out = {0};
	int rc;

	if (!o->tmpl || !o->tmpl->hooks[HOOK_LEAVE].argv || !o->hook)
		return stage(o, n, (const char *[]){"cluster", "leave", NULL},
			     "Success: staged leave request", "already in the process of leaving",
			     deadline, e);
	if (o->hook(o->arg, HOOK_LEAVE, n, NULL, &argv, e) < 0)
		return err_wrap(e, "%s: leave hook", n->id);
	rc = db_run_out(o, n, argv, &out, e);
	strv_free(argv);
	if (rc == 0) {
		riak_first_line(out.data, first, sizeof first);
		if (strncmp(first, "Success:", 8) && !strstr(first, "already in the process"))
			rc = err_set(e, EIO, "%s: leave hook: %s", n->id, first);
	}
	buf_free(&out);
	return rc;
}

/* A member whose node does not answer stays `valid` in the ring, and the
 * claimant plans nothing until every valid member has seen the ring
 * (riak_core_ring:ring_ready): "Cannot plan until cluster state has
 * converged" for ever.  `riak admin down` (run on n, a node that stays)
 * marks it down so plans go on without it; Riak refuses while the node
 * still answers distributed Erlang ("Failed: ... is up"). */
static int mark_down(const struct db_opts *o, const struct db_node *n,
		     const struct riak_member *m, int64_t deadline, struct err *e)
{
	if (m->status == RIAK_DOWN)
		return 0;
	return stage(o, n, (const char *[]){"down", m->node, NULL}, "Success:", NULL, deadline, e);
}

static int riak_leave(const struct db_node *stay, size_t ns, const struct db_node *leave,
		      size_t nl, const struct db_opts *o, char ***left, struct err *e)
{
	int64_t deadline = deadline_of(o);
	struct names going = names_of(leave, nl);
	struct riak_ring ring = {0};
	size_t nleft = 0, staged = 0;
	int rc = -1;

	if (!nl) {
		free(going.v);
		return 0;
	}
	if (!ns) {
		free(going.v);
		return err_set(e, EBUSY, "%s: every node would leave: its data has nowhere to go",
			       leave[0].id);
	}
	if (wait_ring(o, &stay[0], deadline, "its member-status", any_ring, NULL, &ring, e) < 0)
		goto out;
	for (size_t i = 0; i < nl; i++) {
		const struct riak_member *m = riak_ring_find(&ring, going.v[i]);

		if (!m || m->status == RIAK_LEAVING || m->status == RIAK_EXITING)
			continue;
		staged++;
		if (m->status != RIAK_DOWN && answers_ping(o, &leave[i])) {
			if (leave_self(o, &leave[i], deadline, e) < 0)
				goto out;
			continue;
		}
		/* down or unreachable: the others take its partitions over
		 * from the replicas (n_val) */
		if (mark_down(o, &stay[0], m, deadline, e) < 0 ||
		    stage(o, &stay[0], (const char *[]){"cluster", "force-remove", going.v[i], NULL},
			  "Success: staged remove request", NULL, deadline, e) < 0)
			goto out;
	}
	riak_ring_free(&ring);
	/* gone from every staying node's ring, not only the claimant's (a
	 * node a gossip behind still printed one `exiting`) */
	if ((staged && plan_commit(o, &stay[0], deadline, e) < 0) ||
	    wait_all(o, stay, ns, 0, "the leaving nodes to hand off and go", lists_none, &going,
		     deadline, e) < 0)
		goto out;
	*left = xcalloc(nl + 1, sizeof **left);
	for (size_t i = 0; i < nl; i++)
		(*left)[nleft++] = xstrdup(going.v[i]);
	rc = 0;
out:
	riak_ring_free(&ring);
	free(going.v);
	return rc;
}

static int riak_replace(const struct db_node *nodes, size_t n, const struct db_node *old,
			const struct db_node *repl, const struct db_opts *o, struct err *e)
{
	int64_t deadline = deadline_of(o);
	char oldname[NAME_LEN], newname[NAME_LEN];
	struct db_node *all;
	struct names want;
	struct riak_ring ring = {0};
	int rc = -1;

	if (!n)
		return err_set(e, EINVAL, "%s: no remaining node to replace %s from", repl->id,
			       old->id);
	node_name(old, oldname, sizeof oldname);
	node_name(repl, newname, sizeof newname);
	all = concat(nodes, n, repl, 1);
	want = names_of(all, n + 1);
	if (wait_kv(o, repl, deadline, e) < 0 ||
	    wait_ring(o, &nodes[0], deadline, "its member-status", any_ring, NULL, &ring, e) < 0)
		goto out;
	if (!riak_ring_find(&ring, oldname)) {
		/* already replaced or removed: repl just joins */
		rc = form_ring(all, n + 1, o, e);
		goto out;
	}
	if (!answers_ping(o, old) &&
	    mark_down(o, &nodes[0], riak_ring_find(&ring, oldname), deadline, e) < 0)
		goto out;
	if (!riak_ring_find(&ring, newname) && join_to(o, repl, want.v[0], deadline, e) < 0)
		goto out;
	riak_ring_free(&ring);
	if (wait_ring(o, &nodes[0], deadline, "the new node in its ring", lists_all, &want, &ring,
		      e) < 0)
		goto out;
	riak_ring_free(&ring);
	if (stage(o, &nodes[0], (const char *[]){"cluster", "force-replace", oldname, newname, NULL},
		  "Success: staged forced replacement", NULL, deadline, e) < 0 ||
	    plan_commit(o, &nodes[0], deadline, e) < 0 ||
	    wait_settled(o, all, n + 1, 0, &want, deadline, e) < 0)
		goto out;
	rc = 0;
out:
	riak_ring_free(&ring);
	free(want.v);
	free(all);
	return rc < 0 ? err_wrap(e, "replace %s by %s", old->id, repl->id) : 0;
}

/* ---- observe and check ------------------------------------------------------------ */

/* What check reads: the ring as one node printed it, and the nodes. */
struct riak_view {
	struct riak_ring ring;
	struct names names;
	bool read;             /* some node printed its member-status */
};

static void view_priv_free(void *p)
{
	struct riak_view *rv = p;

	if (!rv)
		return;
	riak_ring_free(&rv->ring);
	free(rv->names.v);
	free(rv);
}

static int riak_observe(const struct db_node *nodes, size_t n, const struct db_opts *o,
			struct db_view **out, struct err *e)
{
	struct db_view *v = xcalloc(1, sizeof *v);
	struct riak_view *rv = xcalloc(1, sizeof *rv);
	int count[RIAK_STATUS_COUNT] = {0}, ok = 0;
	char ring_err[256] = "";
	const char *read_from = NULL;

	v->members = xcalloc(n + 1, sizeof *v->members);
	v->n = n;
	rv->names = names_of(nodes, n);
	for (size_t i = 0; i < n; i++) {
		struct probe_report pr;
		struct db_member *m = &v->members[i];

		if (ping(o, &nodes[i], &pr, e) < 0) {
			db_view_free(v);
			view_priv_free(rv);
			return err_wrap(e, "%s: /ping", nodes[i].id);
		}
		m->reachable = pr.result == PROBE_OK;
		if (!m->reachable)
			m->error = xasprintf("GET /ping: %s%s%s", probe_result_name(pr.result),
					     pr.detail[0] ? ": " : "", pr.detail);
		v->reachable += m->reachable;
	}
	for (size_t i = 0; i < n && !rv->read; i++) {
		struct err re;

		if (!v->members[i].reachable)
			continue;
		if (read_ring(o, &nodes[i], &rv->ring, &re) == 0) {
			rv->read = true;
			read_from = nodes[i].id;
		} else {
			snprintf(ring_err, sizeof ring_err, "%.250s", re.msg);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct db_member *m = &v->members[i];
		const struct riak_member *rm = riak_ring_find(&rv->ring, rv->names.v[i]);

		if (!m->reachable)
			continue;
		m->role = rm ? "member" : "unknown";
		m->state_ok = rm && rm->status == RIAK_VALID;
		ok += m->state_ok;
		if (rm)
			m->owns = json_pack("{s:s, s:f, s:f}", "status", riak_status_name(rm->status),
					    "ring_pct", rm->ring, "next_pct", rm->next);
	}
	for (size_t i = 0; i < rv->ring.n; i++)
		count[rv->ring.m[i].status]++;
	v->health = rv->read && ok == (int)n && rv->ring.n == n && !rv->ring.pending ? "ok"
		    : v->reachable && rv->read					       ? "degraded"
												       : "fail";
	v->summary = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "ring_members",
			       (int)rv->ring.n, "valid", count[RIAK_VALID], "joining",
			       count[RIAK_JOINING], "leaving", count[RIAK_LEAVING] + count[RIAK_EXITING],
			       "down", count[RIAK_DOWN], "members_planned", (int)n,
			       "transfers_pending", rv->ring.pending);
	if (read_from)
		json_object_set_new(v->summary, "ring_read_from", json_string(read_from));
	else if (ring_err[0])
		json_object_set_new(v->summary, "ring_error", json_string(ring_err));
	v->priv = rv;
	v->priv_free = view_priv_free;
	*out = v;
	return 0;
}

static json_t *riak_check(const struct db_view *v)
{
	const struct riak_view *rv = v->priv;

	return json_pack("{s:b, s:b, s:b}", "all_members_valid",
			 rv->read && members_as(&rv->ring, &rv->names),
			 "transfers_settled", rv->read && !rv->ring.pending, "ownership_balanced",
			 rv->read && riak_ring_balanced(&rv->ring));
}

static const char *const riak_builtins[] = {"riak-form", "riak-join", "riak-leave",
					    "riak-replace", NULL};

const struct db_driver db_riak_driver = {
	.kind = "riak",
	.title = "Riak",
	.roles = DB_ROLES_RING,
	.builtins = riak_builtins,
	.form = riak_form,
	.join = riak_join,
	.leave = riak_leave,
	.replace = riak_replace,
	.observe = riak_observe,
	.check = riak_check,
	.kv_open = riak_kv_open,
	.kv_write = riak_kv_write,
	.kv_read = riak_kv_read,
	.kv_close = riak_kv_close,
};
