/* state_etcd.c - the etcd store of the cluster state (docs/ha.md).
 *
 * Keys, under the spec's state.prefix (default "/shoal"):
 *   PREFIX/CLUSTER/state          the state text, byte for byte what the
 *                                 file store keeps in state.json
 *   PREFIX/CLUSTER/lock           the holder record {pid, host, user,
 *                                 started, command}, bound to the holder's
 *                                 lease: it vanishes when the holder stops
 *                                 renewing it (kill -9, power loss, cut off)
 *   PREFIX/CLUSTER/events/SEQ     one event line each, read back in the
 *                                 order they were created
 *
 * Every write is one transaction guarded by "the lock key is still bound to
 * my lease", and a state write also by "the state's mod_revision is still
 * the one I loaded", so a holder whose lease ran out (and whom another
 * operator may have replaced) never overwrites anything.
 *
 * A lock may carry a fence besides (state_lock_fence: the `up` a leading
 * `shoal monitor` runs to reschedule): then every write also compares the
 * fence key's create_revision, so once that monitor's leadership has ended
 * its command writes nothing more.
 */
#include "state_int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "log.h"

#define TXN_OPS_MAX 100 /* etcd's --max-txn-ops defaults to 128 */

struct state_etcd {
	struct etcd *c;
	char *k_state, *k_lock, *k_events;
	int64_t lease;
	char *k_fence;       /* state_lock_fence: NULL for none */
	int64_t fence_rev;
	char *fence_what;
	int ttl_s;
	/* the keepalive thread */
	char **endpoints;
	size_t nendpoints;
	int timeout_ms;
	char *tls_ca, *tls_cert, *tls_key;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, lost;
};

static char *key_of(const struct spec_state *w, const char *cluster, const char *what)
{
	return xasprintf("%s/%s/%s", w->prefix ? w->prefix : "/shoal", cluster, what);
}

static int client(const struct spec_state *w, struct etcd **out, struct err *e)
{
	return etcd_open_tls(w->endpoints, w->nendpoints, w->timeout_ms, w->tls_ca, w->tls_cert,
			     w->tls_key, out, e);
}

static void se_free(struct state_etcd *s)
{
	if (!s)
		return;
	etcd_close(s->c);
	free(s->k_state);
	free(s->k_lock);
	free(s->k_events);
	free(s->k_fence);
	free(s->fence_what);
	strv_free(s->endpoints);
	free(s->tls_ca);
	free(s->tls_cert);
	free(s->tls_key);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static struct state_etcd *se_new(const struct spec_state *w, const char *cluster)
{
	struct state_etcd *s = xcalloc(1, sizeof *s);

	s->k_state = key_of(w, cluster, "state");
	s->k_lock = key_of(w, cluster, "lock");
	s->k_events = key_of(w, cluster, "events/");
	s->endpoints = strv_dup((const char *const *)w->endpoints);
	s->nendpoints = w->nendpoints;
	s->timeout_ms = w->timeout_ms;
	s->tls_ca = w->tls_ca ? xstrdup(w->tls_ca) : NULL;
	s->tls_cert = w->tls_cert ? xstrdup(w->tls_cert) : NULL;
	s->tls_key = w->tls_key ? xstrdup(w->tls_key) : NULL;
	s->ttl_s = (w->lease_ttl_ms + 999) / 1000;
	if (s->ttl_s < 2)
		s->ttl_s = 2;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	return s;
}

/* ---- the lock's keepalive ---- */

static void *keepalive_main(void *arg)
{
	struct state_etcd *s = arg;
	struct etcd *c = NULL;
	struct err e = {0};
	int64_t last_ok = now_ms(), every = s->ttl_s * 1000 / 3;

	if (etcd_open_tls(s->endpoints, s->nendpoints,
			  s->timeout_ms < every ? s->timeout_ms : (int)every, s->tls_ca,
			  s->tls_cert, s->tls_key, &c, &e) < 0)
		log_warn("lock keepalive: %s", e.msg);
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec until;
		int64_t ttl = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += every / 1000;
		until.tv_nsec += (every % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &until);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		int rc = c ? etcd_lease_keepalive(c, s->lease, &ttl, &e) : -1;
		pthread_mutex_lock(&s->mu);
		if (rc == 0 && ttl > 0) {
			last_ok = now_ms();
			continue;
		}
		if (rc == 0 || now_ms() - last_ok > s->ttl_s * 1000) {
			/* the lease is gone: every later write is refused by its
			 * transaction; say so once */
			s->lost = true;
			log_warn("lost the etcd lock %s: its lease %" PRId64 " %s", s->k_lock,
				 s->lease, rc == 0 ? "expired" : "could not be renewed in time");
			break;
		}
		log_warn("lock keepalive: %s (retrying)", e.msg);
	}
	pthread_mutex_unlock(&s->mu);
	etcd_close(c);
	return NULL;
}

static void keepalive_stop(struct state_etcd *s)
{
	if (!s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->running = false;
}

/* ---- lock ---- */

static void refusal(const char *cluster, const struct state_etcd *s, const char *value,
		    struct err *e)
{
	struct lock_holder h;
	struct buf b = {0};

	state_holder_parse(value, &h);
	state_holder_describe(&h, &b);
	err_set(e, EBUSY,
		"cluster '%s' is locked by %s (etcd key %s at %s); wait for it to finish (a holder "
		"that died frees it within state.lease_ttl, %ds here)",
		cluster, b.data, s->k_lock, etcd_endpoint(s->c), s->ttl_s);
	buf_free(&b);
}

static int etcd_lock(const struct spec_state *w, struct state_lock *l, const char *command,
		     struct lock_holder *stale, bool *was_stale, struct err *e)
{
	struct state_etcd *s = se_new(w, l->cluster);
	struct lock_holder me;
	_cleanup_free_ char *value = NULL;

	if (client(w, &s->c, e) < 0)
		goto fail;
	state_holder_self(command, &me);
	value = state_holder_json(&me);
	if (etcd_lease_grant(s->c, s->ttl_s, &s->lease, e) < 0)
		goto fail;
	for (int attempt = 0;; attempt++) {
		json_t *resp = NULL;
		struct etcd_kv kv;
		bool ok;

		if (etcd_txn(s->c, json_pack("[o]", etcd_cmp_create(s->k_lock, 0)),
			     json_pack("[o]", etcd_op_put(s->k_lock, value, strlen(value), s->lease)),
			     json_pack("[o]", etcd_op_get(s->k_lock)), &ok, NULL, &resp, e) < 0)
			goto fail_lease;
		if (ok) {
			json_decref(resp);
			break;
		}
		if (etcd_txn_range_kv(resp, 0, &kv) == 1) {
			refusal(l->cluster, s, kv.value, e);
			etcd_kv_clear(&kv);
			json_decref(resp);
			goto fail_lease;
		}
		json_decref(resp);
		/* released between our compare and our read: try again */
		if (attempt == 8) {
			err_set(e, EAGAIN, "cluster '%s': etcd lock %s keeps changing hands",
				l->cluster, s->k_lock);
			goto fail_lease;
		}
	}
	if (pthread_create(&s->thread, NULL, keepalive_main, s) != 0) {
		err_sys(e, errno, "lock keepalive thread");
		goto fail_lease;
	}
	s->running = true;
	l->etcd = s;
	return 0;
fail_lease:
	etcd_lease_revoke(s->c, s->lease, &(struct err){0});
fail:
	se_free(s);
	return -1;
}

static void etcd_unlock(struct state_lock *l)
{
	struct state_etcd *s = l->etcd;
	struct err e = {0};
	bool ok;

	if (!s)
		return;
	keepalive_stop(s);
	if (etcd_txn(s->c, json_pack("[o]", etcd_cmp_lease(s->k_lock, s->lease)),
		     json_pack("[o]", etcd_op_delete(s->k_lock, false)), NULL, &ok, NULL, NULL,
		     &e) < 0)
		log_warn("release %s: %s (it frees itself when its lease runs out)", s->k_lock, e.msg);
	if (etcd_lease_revoke(s->c, s->lease, &e) < 0 && !s->lost)
		log_debug("%s", e.msg);
	se_free(s);
	l->etcd = NULL;
}

/* The compares of every write under the lock: the lock key is still bound
 * to our lease, the fence (when set) still stands, and `extra` (stolen;
 * NULL for none). */
static json_t *guard(const struct state_etcd *s, json_t *extra)
{
	json_t *cmp = json_pack("[o]", etcd_cmp_lease(s->k_lock, s->lease));

	if (s->k_fence)
		json_array_append_new(cmp, etcd_cmp_create(s->k_fence, s->fence_rev));
	if (extra)
		json_array_append_new(cmp, extra);
	return cmp;
}

/* A write was refused: was it the fence?  -1 with ESTALE naming it, 0 when
 * the fence still stands (or there is none). */
static int fence_refused(struct state_lock *l, const char *what, struct err *e)
{
	struct state_etcd *s = l->etcd;
	struct etcd_kv kv;
	int got;

	if (!s->k_fence)
		return 0;
	got = etcd_get(s->c, s->k_fence, &kv, NULL, e);
	if (got < 0)
		return err_wrap(e, "cluster '%s': %s refused", l->cluster, what);
	if (got == 1 && kv.create_rev == s->fence_rev) {
		etcd_kv_clear(&kv);
		return 0;
	}
	etcd_kv_clear(&kv);
	return err_set(e, ESTALE,
		       "cluster '%s': %s refused: %s has ended (etcd key %s no longer has "
		       "create_revision %" PRId64 ", the fencing token this command runs under); "
		       "nothing was written",
		       l->cluster, what, s->fence_what, s->k_fence, s->fence_rev);
}

/* Why a guarded write was refused: the fence fell, the lock is no longer
 * ours, or (lock still ours) the state changed under us. */
static int refused(struct state_lock *l, const char *what, struct err *e)
{
	struct state_etcd *s = l->etcd;
	struct etcd_kv kv;
	int got;

	if (fence_refused(l, what, e) < 0)
		return -1;
	got = etcd_get(s->c, s->k_lock, &kv, NULL, e);

	if (got < 0)
		return err_wrap(e, "cluster '%s': %s refused", l->cluster, what);
	if (got == 0 || kv.lease != s->lease) {
		struct lock_holder h;
		struct buf b = {0};

		if (got)
			state_holder_parse(kv.value, &h);
		if (got)
			state_holder_describe(&h, &b);
		err_set(e, ESTALE,
			"cluster '%s': %s refused: this command no longer holds the etcd lock %s (its "
			"lease ran out)%s%s; nothing was written",
			l->cluster, what, s->k_lock, got ? "; it is now held by " : "",
			got ? b.data : "");
		buf_free(&b);
		etcd_kv_clear(&kv);
		return -1;
	}
	etcd_kv_clear(&kv);
	return err_set(e, ESTALE,
		       "cluster '%s': %s refused: the state in etcd (%s) changed since this "
		       "command read it; run it again",
		       l->cluster, what, s->k_state);
}

/* ---- state text ---- */

static int etcd_read(const struct spec_state *w, const char *cluster, char **text, size_t *len,
		     int64_t *rev, char **where, struct err *e)
{
	_cleanup_free_ char *key = key_of(w, cluster, "state");
	struct etcd *c = NULL;
	struct etcd_kv kv;
	int got;

	*text = NULL;
	*len = 0;
	*rev = 0;
	*where = NULL;
	if (client(w, &c, e) < 0)
		return -1;
	got = etcd_get(c, key, &kv, NULL, e);
	*where = xasprintf("etcd %s", key);
	etcd_close(c);
	if (got <= 0)
		return got;
	*text = steal_pointer(&kv.value);
	*len = kv.value_len;
	*rev = kv.mod_rev;
	etcd_kv_clear(&kv);
	return 0;
}

static int etcd_write(struct state_lock *l, const char *text, size_t len, int64_t expect,
		      int64_t *rev, struct err *e)
{
	struct state_etcd *s = l->etcd;
	bool ok;

	*rev = 0;
	if (etcd_txn(s->c, guard(s, etcd_cmp_mod(s->k_state, expect)),
		     json_pack("[o]", etcd_op_put(s->k_state, text, len, 0)), NULL, &ok, rev, NULL,
		     e) < 0)
		return -1;
	return ok ? 0 : refused(l, "saving the state", e);
}

static int etcd_remove(struct state_lock *l, struct err *e)
{
	struct state_etcd *s = l->etcd;
	bool ok;

	if (etcd_txn(s->c, guard(s, NULL),
		     json_pack("[o, o]", etcd_op_delete(s->k_state, false),
			       etcd_op_delete(s->k_events, true)),
		     NULL, &ok, NULL, NULL, e) < 0)
		return -1;
	return ok ? 0 : refused(l, "removing the state", e);
}

/* ---- events ---- */

static char *event_key(const struct state_etcd *s)
{
	static unsigned seq;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%s%020" PRId64 "-%ld-%u", s->k_events,
			 (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, (long)getpid(),
			 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
}

static int etcd_event(struct state_lock *l, const char *line, size_t len, struct err *e)
{
	struct state_etcd *s = l->etcd;
	_cleanup_free_ char *key = event_key(s);
	bool ok;

	if (etcd_txn(s->c, guard(s, etcd_cmp_create(key, 0)),
		     json_pack("[o]", etcd_op_put(key, line, len, 0)), NULL, &ok, NULL, NULL, e) < 0)
		return -1;
	return ok ? 0 : refused(l, "appending an event", e);
}

static int etcd_events_read(const struct spec_state *w, const char *cluster, struct buf *out,
			    struct err *e)
{
	_cleanup_free_ char *prefix = key_of(w, cluster, "events/");
	struct etcd *c = NULL;
	struct etcd_kv *kvs;
	size_t n;
	int rc;

	if (client(w, &c, e) < 0)
		return -1;
	rc = etcd_get_prefix(c, prefix, &kvs, &n, e);
	etcd_close(c);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		buf_append(out, kvs[i].value, kvs[i].value_len);
		buf_append(out, "\n", 1);
	}
	etcd_kvs_free(kvs, n);
	return 0;
}

static int etcd_events_replace(struct state_lock *l, const char *text, size_t len,
			       struct err *e)
{
	struct state_etcd *s = l->etcd;
	const char *p = text, *end = text + len;
	json_t *ops;
	bool ok;

	/* etcd refuses a delete and a put of overlapping keys in one txn: clear
	 * first, then append in batches (all under the lock) */
	if (etcd_txn(s->c, guard(s, NULL),
		     json_pack("[o]", etcd_op_delete(s->k_events, true)), NULL, &ok, NULL, NULL,
		     e) < 0)
		return -1;
	if (!ok)
		return refused(l, "clearing the events", e);
	ops = json_array();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		_cleanup_free_ char *key = event_key(s);

		json_array_append_new(ops, etcd_op_put(key, p, n, 0));
		p += n + (nl ? 1 : 0);
		if (json_array_size(ops) < TXN_OPS_MAX && p < end)
			continue;
		if (etcd_txn(s->c, guard(s, NULL), ops, NULL, &ok, NULL, NULL, e) < 0)
			return -1;
		if (!ok)
			return refused(l, "writing the events", e);
		ops = json_array();
	}
	json_decref(ops);
	return 0;
}

/* ---- reading and breaking the lock ---- */

static int etcd_lock_read(const struct spec_state *w, const char *cluster,
			  struct lock_holder *h, bool *held, struct err *e)
{
	_cleanup_free_ char *key = key_of(w, cluster, "lock");
	struct etcd *c = NULL;
	struct etcd_kv kv;
	int got;

	memset(h, 0, sizeof *h);
	*held = false;
	if (client(w, &c, e) < 0)
		return -1;
	got = etcd_get(c, key, &kv, NULL, e);
	etcd_close(c);
	if (got < 0)
		return -1;
	if (got == 0)
		return err_set(e, ENOENT, "etcd %s: no lock", key);
	state_holder_parse(kv.value, h);
	*held = true;
	etcd_kv_clear(&kv);
	return 0;
}

static int etcd_force_unlock(const struct spec_state *w, const char *cluster, bool force,
			     struct lock_holder *h, struct err *e)
{
	_cleanup_free_ char *key = key_of(w, cluster, "lock");
	struct etcd *c = NULL;
	struct etcd_kv kv;
	struct buf b = {0};
	bool ok;
	int got, rc = 0;

	memset(h, 0, sizeof *h);
	if (client(w, &c, e) < 0)
		return -1;
	got = etcd_get(c, key, &kv, NULL, e);
	if (got <= 0) {
		etcd_close(c);
		return got; /* no lock key: nothing to unlock */
	}
	state_holder_parse(kv.value, h);
	state_holder_describe(h, &b);
	if (!force) {
		rc = err_set(e, EBUSY,
			     "cluster '%s' is locked by %s (etcd key %s, alive: its lease is being "
			     "renewed); use --force only if that process is wedged",
			     cluster, b.data, key);
	} else if (etcd_txn(c, json_pack("[o]", etcd_cmp_mod(key, kv.mod_rev)),
			    json_pack("[o]", etcd_op_delete(key, false)), NULL, &ok, NULL, NULL,
			    e) < 0) {
		rc = -1;
	} else {
		if (kv.lease)
			etcd_lease_revoke(c, kv.lease, &(struct err){0});
		if (!ok)
			rc = err_set(e, EAGAIN, "etcd %s changed while breaking it; try again", key);
	}
	buf_free(&b);
	etcd_kv_clear(&kv);
	etcd_close(c);
	return rc;
}

/* ---- the fence ---- */

static int etcd_fence(struct state_lock *l, const char *key, int64_t create_rev,
		      const char *what, struct err *e)
{
	struct state_etcd *s = l->etcd;
	struct etcd_kv kv;
	int got;

	free(s->k_fence);
	free(s->fence_what);
	s->k_fence = xstrdup(key);
	s->fence_rev = create_rev;
	s->fence_what = xstrdup(what);
	/* refuse at once rather than at the first write */
	got = etcd_get(s->c, key, &kv, NULL, e);
	if (got < 0)
		return -1;
	if (got == 1 && kv.create_rev == create_rev) {
		etcd_kv_clear(&kv);
		return 0;
	}
	etcd_kv_clear(&kv);
	return fence_refused(l, "taking the lock", e);
}

const struct state_store_ops state_etcd_ops = {
	.name = "etcd",
	.lock = etcd_lock,
	.unlock = etcd_unlock,
	.read = etcd_read,
	.write = etcd_write,
	.remove = etcd_remove,
	.event = etcd_event,
	.events_read = etcd_events_read,
	.events_replace = etcd_events_replace,
	.lock_read = etcd_lock_read,
	.force_unlock = etcd_force_unlock,
	.fence = etcd_fence,
};
