/* rc_kv.c - cluster-aware writes and reads: the set check
 * (rc_write_read_check in redis_cluster.h). */
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
		const char *argv0 = run->op == KV_SET ? "SET" : "GET";
		redisReply *r = NULL;

		/* Bounded replies (resp.h); the first call sends the batch. */
		if (jobs[i].asking) {
			if (!(r = resp_command(c, k->tmo, k->nodes[node].label, "ASKING", &e))) {
				broken = true;
				break;
			}
			freeReplyObject(r);
			r = NULL;
		}
		if (!(r = resp_command(c, k->tmo, k->nodes[node].label, argv0, &e))) {
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
	k->tmo = rc_opt_timeout_ms(o);
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
