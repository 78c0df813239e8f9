/* rc_kv.c - cluster-aware writes and reads: the set check
 * (rc_write_read_check) and the client drills load the cluster with
 * (rc_kv_*), both in redis_cluster.h. */
#include "redis_int.h"
#include "resp.h"

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
		kn->c = rc_connect(kn->label, kn->address, kn->port, k->o, e);
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
	    (size_t)(colon - sp - 1) >= sizeof addr || !rc_parse_long(colon + 1, 1, 65535, &port))
		return -1;
	snprintf(addr, sizeof addr, "%.*s", (int)(colon - sp - 1), sp + 1);
	return kv_node_index(k, addr, (int)port);
}

enum kv_op { KV_SET, KV_GET };

struct kv_job {
	int key;  /* index into run->keys */
	int node; /* node index it goes to */
	bool asking;
};

struct kv_run {
	const char *const *keys;
	const char *const *vals;
	enum kv_op op;
	int wait;          /* SET: WAIT this many replicas after each node's batch */
	uint8_t *out;      /* per key: SET 1 acknowledged; GET an RC_KV_* code */
	struct rc_check_result *res;
};

/* Key i could not be written or read this time. */
static void kv_fail(struct kv_run *run, int i)
{
	run->res->errors++;
	if (run->op == KV_GET)
		run->out[i] = RC_KV_ERROR;
}

/* Handle one reply to job j; returns true when the job must be retried. */
static bool kv_reply(struct kv_client *k, struct kv_run *run, struct kv_job *j, const redisReply *r)
{
	const char *key = run->keys[j->key], *val = run->vals[j->key];

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
		kv_fail(run, j->key);
		return false;
	}
	j->asking = false;
	if (run->op == KV_SET) {
		if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
			run->out[j->key] = 1;
			run->res->acknowledged++;
		} else {
			kv_fail(run, j->key);
		}
	} else if (r->type == REDIS_REPLY_NIL) {
		run->out[j->key] = RC_KV_ABSENT;
	} else if (r->type == REDIS_REPLY_STRING && r->len == strlen(val) &&
		   memcmp(r->str, val, r->len) == 0) {
		run->out[j->key] = RC_KV_PRESENT;
	} else if (r->type == REDIS_REPLY_STRING) {
		run->out[j->key] = RC_KV_OTHER;
	} else {
		kv_fail(run, j->key);
	}
	return false;
}

/* Queue the jobs of one node (ASKING before a redirected key, WAIT after
 * the batch when run->wait) and send them all, without reading anything:
 * every node of a round gets its batch before any answer is read, so the
 * masters work at the same time.  False when the node cannot be reached or
 * written to (kv_node_recv then fails its jobs). */
static bool kv_node_send(struct kv_client *k, struct kv_run *run, int node,
			 const struct kv_job *jobs, size_t nj)
{
	struct err e;
	redisContext *c = kv_conn(k, node, &e);
	int done = 0;

	if (!c)
		return false;
	for (size_t i = 0; i < nj; i++) {
		const char *argv[3] = {run->op == KV_SET ? "SET" : "GET", run->keys[jobs[i].key],
				       run->vals[jobs[i].key]};

		if (jobs[i].asking && redisAppendCommand(c, "ASKING") != REDIS_OK)
			return false;
		if (redisAppendCommandArgv(c, run->op == KV_SET ? 3 : 2, argv, NULL) != REDIS_OK)
			return false;
	}
	/* WAIT's own timeout stays inside the command timeout. */
	if (run->op == KV_SET && run->wait > 0 &&
	    redisAppendCommand(c, "WAIT %d %d", run->wait, k->tmo / 2 > 0 ? k->tmo / 2 : 1) != REDIS_OK)
		return false;
	/* The socket's send timeout bounds each write; a server reads its
	 * input while its answers queue in its output buffer, so this cannot
	 * wait on our own reading. */
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return false;
	return true;
}

/* Take a node's SETs of this batch back: WAIT did not confirm them. */
static void kv_unconfirm(struct kv_run *run, const struct kv_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (run->out[jobs[i].key] == 1) {
			run->out[jobs[i].key] = 0;
			run->res->acknowledged--;
			run->res->unconfirmed++;
			run->res->errors++;
		}
}

/* Read the answers to what kv_node_send sent to node (sent: whether it
 * could); each answer within the client's timeout.  Jobs to retry are
 * appended to retry[nretry..]; returns the new count. */
static size_t kv_node_recv(struct kv_client *k, struct kv_run *run, int node, bool sent,
			   struct kv_job *jobs, size_t nj, struct kv_job *retry, size_t nretry)
{
	const char *what = run->op == KV_SET ? "SET" : "GET";
	bool broken = !sent, waiting = run->op == KV_SET && run->wait > 0;
	redisContext *c = k->nodes[node].c;
	size_t got = 0;
	struct err e;

	for (size_t i = 0; i < nj && !broken; i++) {
		redisReply *r;

		/* Bounded replies (resp.h), each within the timeout. */
		if (jobs[i].asking) {
			if (!(r = resp_read_reply(c, now_ms() + k->tmo, k->tmo, RESP_REPLY_MAX,
						  k->nodes[node].label, "ASKING", &e))) {
				broken = true;
				break;
			}
			freeReplyObject(r);
		}
		if (!(r = resp_read_reply(c, now_ms() + k->tmo, k->tmo, RESP_REPLY_MAX,
					  k->nodes[node].label, what, &e))) {
			broken = true;
			break;
		}
		got++;
		if (kv_reply(k, run, &jobs[i], r))
			retry[nretry++] = jobs[i];
		freeReplyObject(r);
	}
	if (!broken && waiting) {
		redisReply *r = resp_read_reply(c, now_ms() + k->tmo, k->tmo, RESP_REPLY_MAX,
						k->nodes[node].label, "WAIT", &e);

		if (!r)
			broken = true;
		else if (r->type != REDIS_REPLY_INTEGER || r->integer < run->wait)
			kv_unconfirm(run, jobs, nj);
		freeReplyObject(r);
	}
	if (broken) {
		/* An unanswered SET may still have been applied: it stays
		 * unacknowledged (the set check counts it if it shows up).  A
		 * redirected job answered before the break is already in
		 * retry[] and goes again. */
		for (size_t i = got; i < nj; i++)
			kv_fail(run, jobs[i].key);
		if (waiting)
			kv_unconfirm(run, jobs, got);
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

/* Run op over keys [from, to), following redirections for a few rounds.
 * Each round sends every node its batch before reading any answer. */
static void kv_run_range(struct kv_client *k, struct kv_run *run, int from, int to)
{
	size_t nj = (size_t)(to - from), nretry, nn = 0, atcap = 0, fillcap = 0;
	struct kv_job *jobs = xcalloc(nj + 1, sizeof *jobs), *retry = xcalloc(nj + 1, sizeof *retry);
	struct kv_job *per = xcalloc(nj + 1, sizeof *per);
	size_t *at = NULL, *fill = NULL; /* node i's jobs are per[at[i] .. at[i + 1]) */
	bool *sent = NULL;

	if (k->stale)
		kv_refresh(k);
	for (int i = from; i < to; i++) {
		const char *key = run->keys[i];

		jobs[i - from] = (struct kv_job){.key = i, .node = k->slot_node[rc_key_slot(key, strlen(key))]};
	}
	for (int round = 0; round < 5 && nj > 0; round++) {
		size_t keep = 0;

		nretry = 0;
		/* no master serves its slot (as far as the map knows) */
		for (size_t i = 0; i < nj; i++)
			if (jobs[i].node < 0)
				kv_fail(run, jobs[i].key);
			else
				jobs[keep++] = jobs[i];
		nj = keep;
		nn = k->n; /* a redirection read below may add nodes */
		at = xgrow(at, &atcap, nn + 1, sizeof *at);
		fill = xgrow(fill, &fillcap, nn + 1, sizeof *fill);
		sent = xrealloc(sent, (nn + 1) * sizeof *sent);
		memset(at, 0, (nn + 1) * sizeof *at);
		for (size_t i = 0; i < nj; i++)
			at[jobs[i].node + 1]++;
		for (size_t i = 0; i < nn; i++)
			at[i + 1] += at[i];
		memcpy(fill, at, nn * sizeof *fill);
		for (size_t i = 0; i < nj; i++)
			per[fill[jobs[i].node]++] = jobs[i];
		for (size_t node = 0; node < nn; node++)
			sent[node] = at[node + 1] > at[node] &&
				     kv_node_send(k, run, (int)node, per + at[node], at[node + 1] - at[node]);
		for (size_t node = 0; node < nn; node++)
			if (at[node + 1] > at[node])
				nretry = kv_node_recv(k, run, (int)node, sent[node], per + at[node],
						      at[node + 1] - at[node], retry, nretry);
		memcpy(jobs, retry, nretry * sizeof *jobs);
		nj = nretry;
	}
	for (size_t i = 0; i < nj; i++)
		kv_fail(run, jobs[i].key);
	free(jobs);
	free(retry);
	free(per);
	free(at);
	free(fill);
	free(sent);
}

/* ---- the client ----------------------------------------------------------------- */

struct rc_kv {
	struct kv_client k;
	struct rc_opts o;
	char *password;
};

static void kv_client_close(struct kv_client *k)
{
	for (size_t i = 0; i < k->n; i++)
		kv_drop(k, (int)i);
	free(k->nodes);
	k->nodes = NULL;
	k->n = k->cap = 0;
}

int rc_kv_open(const struct rc_node *seeds, size_t n, const struct rc_opts *o, struct rc_kv **out,
	       struct err *e)
{
	struct rc_kv *kv = xcalloc(1, sizeof *kv);
	struct kv_client *k = &kv->k;

	kv->o = *o;
	kv->password = o->password ? xstrdup(o->password) : NULL;
	kv->o.password = kv->password;
	kv->o.forget = NULL;
	kv->o.nforget = 0;
	k->o = &kv->o;
	k->tmo = rc_opt_timeout_ms(o);
	for (int s = 0; s < RC_SLOTS; s++)
		k->slot_node[s] = -1;
	for (size_t i = 0; i < n; i++)
		kv_node_index(k, seeds[i].address, seeds[i].port);
	for (size_t i = 0; i < n; i++)
		if (kv_load_slots(k, (int)i, e) == 0) {
			*out = kv;
			return 0;
		}
	if (n == 0)
		err_usage(e, "cluster client: no node to ask");
	else
		err_wrap(e, "reading the slot map (asked %zu nodes)", n);
	rc_kv_close(kv);
	return -1;
}

int rc_kv_set(struct rc_kv *kv, const char *const *keys, const char *const *vals, size_t n,
	      int wait, uint8_t *ok)
{
	struct rc_check_result res = {0};
	struct kv_run run = {.keys = keys, .vals = vals, .op = KV_SET, .wait = wait, .out = ok,
			     .res = &res};

	memset(ok, 0, n);
	if (n)
		kv_run_range(&kv->k, &run, 0, (int)n);
	return res.errors;
}

int rc_kv_get(struct rc_kv *kv, const char *const *keys, const char *const *vals, size_t n,
	      uint8_t *present)
{
	struct rc_check_result res = {0};
	struct kv_run run = {.keys = keys, .vals = vals, .op = KV_GET, .out = present, .res = &res};

	memset(present, RC_KV_ABSENT, n);
	if (n)
		kv_run_range(&kv->k, &run, 0, (int)n);
	return res.errors;
}

void rc_kv_close(struct rc_kv *kv)
{
	if (!kv)
		return;
	kv_client_close(&kv->k);
	free(kv->password);
	free(kv);
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
	char token[20], **keys, **vals;
	uint8_t *acked, *present;
	int rc = 0;

	memset(res, 0, sizeof *res);
	if (nkeys < 0)
		return err_usage(e, "write/read check: negative key count %d", nkeys);
	k = xcalloc(1, sizeof *k);
	k->o = o;
	k->tmo = rc_opt_timeout_ms(o);
	for (int s = 0; s < RC_SLOTS; s++)
		k->slot_node[s] = -1;
	if (kv_load_slots(k, kv_node_index(k, seed->address, seed->port), e) < 0) {
		err_wrap(e, "%s: reading the slot map", seed->id ? seed->id : "seed");
		rc = -1;
		goto out;
	}
	random_token(token, sizeof token);
	keys = xcalloc((size_t)nkeys + 1, sizeof *keys);
	vals = xcalloc((size_t)nkeys + 1, sizeof *vals);
	for (int i = 0; i < nkeys; i++) {
		keys[i] = xasprintf("shoal:check:%s:%d", token, i);
		vals[i] = xasprintf("%s:%d", token, i);
	}
	run.keys = (const char *const *)keys;
	run.vals = (const char *const *)vals;
	run.out = acked = xcalloc((size_t)nkeys + 1, 1);
	run.op = KV_SET;
	for (int i = 0; i < nkeys; i += BATCH)
		kv_run_range(k, &run, i, i + BATCH < nkeys ? i + BATCH : nkeys);
	res->attempted = nkeys;
	run.out = present = xcalloc((size_t)nkeys + 1, 1);
	run.op = KV_GET;
	for (int i = 0; i < nkeys; i += BATCH)
		kv_run_range(k, &run, i, i + BATCH < nkeys ? i + BATCH : nkeys);
	for (int i = 0; i < nkeys; i++) {
		bool there = present[i] == RC_KV_PRESENT;

		if (acked[i] && there)
			res->verified++;
		else if (acked[i])
			res->lost++;
		else if (there)
			res->unacked_present++;
	}
	free(acked);
	free(present);
	strv_free(keys);
	strv_free(vals);
out:
	kv_client_close(k);
	free(k);
	return rc;
}
