/* push.c - content-addressed blobs to many hosts in parallel (see push.h). */
#include "push.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent_client.h"
#include "log.h"
#include "spec.h"
#include "version.h"

/* ---- progress lines ------------------------------------------------------
 *
 * On a terminal every host has one line, redrawn in place (at most every
 * PROGRESS_MS) while the push runs. */

#define PROGRESS_MS 100

enum host_phase { PH_WAIT, PH_CONNECT, PH_CHECK, PH_SEND, PH_COMMIT, PH_DONE, PH_FAILED };

static const char *const phase_names[] = {
	"waiting", "connecting", "checking", "sending", "verifying", "done", "FAILED",
};

struct progress {
	pthread_mutex_t lock;
	bool on;
	bool drawn;
	size_t n;
	int64_t last;
	struct push_host_result *res;
	enum host_phase *phase;
	uint64_t *done, *total;
};

static void draw_locked(struct progress *p, bool force)
{
	int64_t now = now_ms();

	if (!p->on || (!force && now - p->last < PROGRESS_MS))
		return;
	p->last = now;
	if (p->drawn)
		fprintf(stderr, "\033[%zuA", p->n);
	for (size_t i = 0; i < p->n; i++) {
		struct push_host_result *r = &p->res[i];

		fprintf(stderr, "\r\033[K  %-12s %-10s", r->host->name,
			phase_names[p->phase[i]]);
		if (p->phase[i] == PH_SEND && p->total[i])
			fprintf(stderr, " %6.1f / %.1f MiB", p->done[i] / 1048576.0,
				p->total[i] / 1048576.0);
		else if (p->phase[i] == PH_DONE)
			fprintf(stderr, " %zu sent, %zu present, %lld ms", r->sent,
				r->skipped, (long long)r->ms);
		else if (p->phase[i] == PH_FAILED)
			fprintf(stderr, " %.60s", r->err.msg);
		fputc('\n', stderr);
	}
	p->drawn = true;
}

static void set_phase(struct progress *p, size_t i, enum host_phase ph)
{
	pthread_mutex_lock(&p->lock);
	p->phase[i] = ph;
	draw_locked(p, ph == PH_DONE || ph == PH_FAILED);
	pthread_mutex_unlock(&p->lock);
}

struct progress_arg {
	struct progress *p;
	size_t i;
	uint64_t base; /* bytes of earlier blobs */
};

static void on_bytes(void *arg, uint64_t done, uint64_t total)
{
	struct progress_arg *a = arg;

	(void)total;
	pthread_mutex_lock(&a->p->lock);
	a->p->done[a->i] = a->base + done;
	draw_locked(a->p, false);
	pthread_mutex_unlock(&a->p->lock);
}

/* ---- one host ------------------------------------------------------------ */

struct job {
	const struct spec *spec;
	const struct spec_host *const *hosts;
	size_t nhosts;
	struct push_blob *blobs;
	size_t nblobs;
	const struct push_opts *o;
	struct push_host_result *res;
	struct progress prog;
	pthread_mutex_t lock;
	size_t next;
	/* Local hashing of blobs given without a digest. */
	pthread_cond_t hashed_cond;
	bool hashed;
	int hash_rc;
	struct err hash_err;
};

/* Hash every blob that came without a digest; wakes the hosts waiting. */
static void *hash_blobs(void *arg)
{
	struct job *j = arg;
	struct err e = {0};
	int rc = 0;

	for (size_t k = 0; k < j->nblobs && rc == 0; k++)
		if (!j->blobs[k].digest[0])
			rc = digest_file(j->blobs[k].path, j->blobs[k].digest,
					 &j->blobs[k].size, &e);
	pthread_mutex_lock(&j->lock);
	j->hashed = true;
	j->hash_rc = rc;
	j->hash_err = e;
	pthread_cond_broadcast(&j->hashed_cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static int wait_hashed(struct job *j, struct err *e)
{
	int rc;

	pthread_mutex_lock(&j->lock);
	while (!j->hashed)
		pthread_cond_wait(&j->hashed_cond, &j->lock);
	rc = j->hash_rc;
	if (rc < 0)
		*e = j->hash_err;
	pthread_mutex_unlock(&j->lock);
	return rc;
}

struct host_ctx {
	struct job *job;
	size_t i;
	struct transport *t;
	struct agent_client *agent;
	char *root;     /* the agent's /var/lib/shoal */
	char *tmp_dir;  /* <root>/blobs/tmp */
	bool tmp_ready;
	bool borrowed_t, borrowed_agent; /* the caller's: not closed here */
};

static int agent_req(struct host_ctx *h, json_t *req, json_t **resp,
		     struct err *e)
{
	if (!req)
		abort(); /* json_pack of constant formats only fails on OOM */
	if (agent_call(h->agent, req, resp, h->t->op_timeout_ms, e) < 0)
		return err_wrap(e, "%s", h->t->label);
	return 0;
}

/* hello: learn the agent's root and check it is this build's version. */
static int hello(struct host_ctx *h, struct err *e)
{
	struct push_host_result *r = &h->job->res[h->i];
	json_t *resp = NULL;
	const char *root, *tmp, *version;

	if (agent_req(h, json_pack("{s:s,s:i}", "op", "hello", "protocol", 1),
		      &resp, e) < 0)
		return -1;
	root = json_string_value(json_object_get(resp, "root"));
	tmp = json_string_value(json_object_get(resp, "blob_tmp"));
	version = json_string_value(json_object_get(resp, "version"));
	if (!root || root[0] != '/' || !tmp || !version) {
		json_decref(resp);
		return err_set(e, EPROTO, "%s: agent hello without root/blob_tmp/version",
			       h->t->label);
	}
	if (strcmp(version, SHOAL_VERSION) != 0) {
		err_set(e, EPROTO, "%s: agent is version %s, shoal is %s",
			h->t->label, version, SHOAL_VERSION);
		json_decref(resp);
		return -1;
	}
	snprintf(r->agent_version, sizeof r->agent_version, "shoal-agent %s", version);
	h->root = xstrdup(root);
	h->tmp_dir = path_join(root, tmp);
	json_decref(resp);
	return 0;
}

/* Start `<agent> connect` and say hello.  The agent's path is content
 * addressed, so the fast path just runs it; only when the host lacks it
 * (the shell answers 126/127) is it installed (transport_bootstrap_agent)
 * and started again. */
static int agent_session(struct host_ctx *h, struct err *e)
{
	_cleanup_free_ char *path = NULL;

	if (transport_agent_remote_path(&path, e) < 0)
		return err_wrap(e, "%s", h->t->label);
	for (int attempt = 0;; attempt++) {
		const char *argv[] = {path, "connect", NULL};
		struct run_result res = {0};
		struct tchan *ch = NULL;
		struct err cerr;

		if (attempt && transport_bootstrap_agent(h->t, e) < 0)
			return -1;
		if (transport_open_chan(h->t, argv, &ch, e) < 0)
			return -1;
		h->agent = agent_client_new(ch);
		if (hello(h, e) == 0)
			return 0;
		agent_client_close(h->agent, &res, &cerr);
		h->agent = NULL;
		if (attempt || res.exit_signal ||
		    (res.exit_code != 126 && res.exit_code != 127))
			return -1;
		log_debug("%s: no agent at %s yet", h->t->label, path);
	}
}

/* Does the host hold b intact?  1 yes, 0 no (absent, wrong size or corrupt). */
static int host_has(struct host_ctx *h, const struct push_blob *b, struct err *e)
{
	struct push_host_result *r = &h->job->res[h->i];
	json_t *resp = NULL;
	json_int_t size;
	int present;

	if (agent_req(h, json_pack("{s:s,s:s}", "op", "blob.has", "digest",
				   b->digest), &resp, e) < 0)
		return -1;
	present = json_is_true(json_object_get(resp, "present"));
	size = json_integer_value(json_object_get(resp, "size"));
	json_decref(resp);
	if (!present)
		return 0;
	if ((uint64_t)size != b->size) {
		log_warn("%s: blob %s has %lld bytes on the host, not %llu: pushing it again",
			 h->t->label, b->digest, (long long)size,
			 (unsigned long long)b->size);
		r->repaired++;
		return 0;
	}
	if (!h->job->o->verify)
		return 1;
	if (agent_req(h, json_pack("{s:s,s:s}", "op", "blob.verify", "digest",
				   b->digest), NULL, e) == 0)
		return 1;
	if (e->code != EBADMSG)
		return -1;
	log_warn("%s: blob %s is corrupt on the host: pushing it again",
		 h->t->label, b->digest);
	r->repaired++;
	return 0;
}

static int send_blob(struct host_ctx *h, const struct push_blob *b,
		     uint64_t base, struct err *e)
{
	struct push_host_result *r = &h->job->res[h->i];
	struct progress_arg pa = {&h->job->prog, h->i, base};
	_cleanup_free_ char *name = NULL, *tmp = NULL;
	struct err ignore;
	int64_t t0, t1;
	char nonce[17];
	int rc;

	transport_nonce(nonce);
	name = xasprintf("%s.%s", digest_hex(b->digest), nonce);
	tmp = path_join(h->tmp_dir, name);
	set_phase(&h->job->prog, h->i, PH_SEND);
	t0 = now_ms();
	rc = transport_write_file(h->t, b->path, tmp, 0644, on_bytes, &pa, e);
	if (rc < 0 && e->code == ENOENT && !h->tmp_ready) {
		/* First upload to this host: make blobs/tmp, then again. */
		if (transport_mkdirs(h->t, h->tmp_dir, 0700, e) < 0)
			return -1;
		rc = transport_write_file(h->t, b->path, tmp, 0644, on_bytes, &pa, e);
	}
	if (rc < 0)
		goto fail;
	h->tmp_ready = true;
	t1 = now_ms();
	set_phase(&h->job->prog, h->i, PH_COMMIT);
	if (agent_req(h, json_pack("{s:s,s:s,s:s}", "op", "blob.commit", "digest",
				   b->digest, "tmp", name), NULL, e) < 0)
		goto fail; /* the agent removed a mismatching upload itself */
	log_debug("%s: %s: %llu bytes sent in %lld ms (%.0f MB/s), verified on the host in %lld ms",
		  h->t->label, b->digest, (unsigned long long)b->size,
		  (long long)(t1 - t0), t1 > t0 ? b->size / 1e3 / (double)(t1 - t0) : 0.0,
		  (long long)(now_ms() - t1));
	r->sent++;
	r->bytes += b->size;
	return 0;
fail:
	transport_remove(h->t, tmp, &ignore);
	return -1;
}

/* Fast path without the agent: the blob is in the host's store with the
 * right size (one SFTP stat).  Only the agent puts files there, and only
 * after hashing them, so a file under its digest name was whole when it was
 * committed; --verify re-hashes it. */
static int store_has(struct host_ctx *h, const struct push_blob *b, bool *has,
		     struct err *e)
{
	_cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", PUSH_HOST_ROOT,
					      digest_hex(b->digest));
	struct remote_stat st;

	*has = false;
	if (transport_stat(h->t, path, &st, e) < 0)
		return -1;
	*has = st.exists && st.regular && st.size == b->size;
	return 0;
}

static int push_host(struct host_ctx *h, struct err *e)
{
	struct job *j = h->job;
	struct push_host_result *r = &j->res[h->i];
	_cleanup_free_ bool *present = xcalloc(j->nblobs ? j->nblobs : 1, sizeof *present);
	bool need_agent = !j->nblobs || j->o->verify;
	uint64_t base = 0;

	set_phase(&j->prog, h->i, PH_CONNECT);
	if (j->o->transports && j->o->transports[h->i]) {
		h->t = j->o->transports[h->i];
		h->borrowed_t = true;
	} else if (transport_open(j->spec, r->host, &j->o->transport, &h->t, e) < 0) {
		return -1;
	}
	r->info = h->t->info;
	if (wait_hashed(j, e) < 0)
		return -1;
	set_phase(&j->prog, h->i, PH_CHECK);
	for (size_t k = 0; k < j->nblobs && !j->o->verify; k++) {
		if (store_has(h, &j->blobs[k], &present[k], e) < 0)
			return err_wrap(e, "blob %s", j->blobs[k].digest);
		need_agent |= !present[k];
	}
	if (!need_agent) {
		r->skipped = j->nblobs;
		return 0;
	}
	if (j->o->agents && j->o->agents[h->i]) {
		h->agent = j->o->agents[h->i];
		h->borrowed_agent = true;
		if (hello(h, e) < 0)
			return -1;
	} else if (agent_session(h, e) < 0) {
		return -1;
	}
	{
		/* One round trip, once the agent is running. */
		int64_t t0 = now_ms();

		if (agent_req(h, json_pack("{s:s}", "op", "hello"), NULL, e) < 0)
			return -1;
		r->rtt_ms = now_ms() - t0;
	}
	for (size_t k = 0; k < j->nblobs; k++) {
		const struct push_blob *b = &j->blobs[k];
		int has = present[k] ? 1 : host_has(h, b, e);

		if (has < 0)
			return err_wrap(e, "blob %s", b->digest);
		if (has) {
			r->skipped++;
		} else if (send_blob(h, b, base, e) < 0) {
			return err_wrap(e, "push %s", b->digest);
		}
		base += b->size;
	}
	return 0;
}

static void run_host(struct job *j, size_t i)
{
	struct push_host_result *r = &j->res[i];
	struct host_ctx h = {.job = j, .i = i};
	int64_t t0 = now_ms();
	struct err cerr;

	r->rc = push_host(&h, &r->err);
	if (h.agent && !h.borrowed_agent)
		agent_client_close(h.agent, NULL, &cerr);
	if (!h.borrowed_t)
		transport_close(h.t);
	free(h.root);
	free(h.tmp_dir);
	r->ms = now_ms() - t0;
	set_phase(&j->prog, i, r->rc < 0 ? PH_FAILED : PH_DONE);
}

static void *worker(void *arg)
{
	struct job *j = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&j->lock);
		i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->nhosts)
			return NULL;
		run_host(j, i);
	}
}

/* Size of a local file for progress totals (0 when unknown). */
static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int push_select_hosts(const struct spec *s, const char *list,
		      const struct spec_host ***out, size_t *n, struct err *e)
{
	const struct spec_host **v = xcalloc(s->nhosts ? s->nhosts : 1, sizeof *v);
	_cleanup_free_ char *copy = list ? xstrdup(list) : NULL;
	char *save = NULL;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!list) {
		for (size_t i = 0; i < s->nhosts; i++)
			v[k++] = &s->hosts[i];
	}
	for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w;
	     w = strtok_r(NULL, ",", &save)) {
		const struct spec_host *h = spec_find_host(s, w);

		if (!h) {
			free(v);
			return err_usage(e, "%s: no host '%s' in the spec", s->path, w);
		}
		for (size_t i = 0; i < k; i++)
			if (v[i] == h)
				h = NULL;
		if (h)
			v[k++] = h;
	}
	*out = v;
	*n = k;
	return 0;
}

int push_blobs(const struct spec *s, const struct spec_host *const *hosts,
	       size_t nhosts, struct push_blob *blobs, size_t nblobs,
	       const struct push_opts *o, struct push_host_result *res,
	       struct err *e)
{
	struct job j = {.spec = s, .hosts = hosts, .nhosts = nhosts,
			.blobs = blobs, .nblobs = nblobs, .o = o, .res = res};
	size_t nthreads = o->parallel > 0 ? (size_t)o->parallel : PUSH_PARALLEL;
	_cleanup_free_ pthread_t *th = NULL;
	pthread_t hasher;
	bool hasher_started = false;
	uint64_t total = 0;
	size_t failed = 0, started = 0;
	const struct push_host_result *first = NULL;

	if (nthreads > nhosts)
		nthreads = nhosts;
	memset(res, 0, nhosts * sizeof *res);
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.hashed_cond, NULL);
	if (pthread_create(&hasher, NULL, hash_blobs, &j) == 0)
		hasher_started = true;
	else
		hash_blobs(&j);
	for (size_t k = 0; k < nblobs; k++)
		total += blobs[k].size ? blobs[k].size : file_size(blobs[k].path);
	pthread_mutex_init(&j.prog.lock, NULL);
	j.prog.on = o->progress;
	j.prog.n = nhosts;
	j.prog.res = res;
	j.prog.phase = xcalloc(nhosts ? nhosts : 1, sizeof *j.prog.phase);
	j.prog.done = xcalloc(nhosts ? nhosts : 1, sizeof *j.prog.done);
	j.prog.total = xcalloc(nhosts ? nhosts : 1, sizeof *j.prog.total);
	for (size_t i = 0; i < nhosts; i++) {
		res[i].host = hosts[i];
		j.prog.total[i] = total;
	}
	th = xcalloc(nthreads ? nthreads : 1, sizeof *th);
	for (size_t k = 0; k < nthreads; k++) {
		if (pthread_create(&th[k], NULL, worker, &j) != 0)
			break;
		started++;
	}
	if (!started && nhosts)
		worker(&j); /* no thread could start: do the work here */
	for (size_t k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	if (hasher_started)
		pthread_join(hasher, NULL);
	pthread_mutex_lock(&j.prog.lock);
	draw_locked(&j.prog, true);
	pthread_mutex_unlock(&j.prog.lock);
	free(j.prog.phase);
	free(j.prog.done);
	free(j.prog.total);
	pthread_cond_destroy(&j.hashed_cond);
	pthread_mutex_destroy(&j.lock);
	pthread_mutex_destroy(&j.prog.lock);
	for (size_t i = 0; i < nhosts; i++) {
		if (res[i].rc < 0) {
			failed++;
			if (!first)
				first = &res[i];
		}
	}
	if (j.hash_rc < 0) {
		*e = j.hash_err;
		return -1;
	}
	if (failed)
		return err_set(e, first->err.code, "%zu of %zu hosts failed; first: %s",
			       failed, nhosts, first->err.msg);
	return 0;
}
