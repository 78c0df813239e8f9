/* monitor_leader.c - the monitor's leadership gate over etcd; see
 * monitor_leader.h and docs/ha.md. */
#include "monitor_leader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "log.h"
#include "util.h"

#define RETRY_MAX_MS 200

struct leader_gate {
	char **endpoints;
	size_t nendpoints;
	int timeout_ms;
	char *tls_ca, *tls_cert, *tls_key;
	char *key, *events;
	char *value;             /* this campaigner's record */
	int ttl_s;
	int64_t renew_ms, retry_ms;
	struct etcd *wc;         /* leader_gate_event's client (caller's thread) */
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	bool stop, leading;
	int64_t token, acting_until, lease;
	char leader[256];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait ms or until stopped; called and returns with mu held. */
static void nap(struct leader_gate *g, int64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if (!g->stop)
		pthread_cond_timedwait(&g->cv, &g->mu, &until);
}

static void leader_name(const char *value, char *out, size_t size)
{
	json_t *j = json_loads(value, 0, NULL);
	const char *who = j ? json_string_value(json_object_get(j, "who")) : NULL;

	snprintf(out, size, "%s", who ? who : value);
	json_decref(j);
}

/* One campaign round of a follower: 1 when it became the leader. */
static int campaign(struct leader_gate *g, struct etcd *c, struct err *e)
{
	struct etcd_kv kv;
	json_t *resp = NULL;
	int64_t lease = 0, rev = 0, t0;
	bool ok;
	int got = etcd_get(c, g->key, &kv, NULL, e);

	if (got < 0)
		return -1;
	if (got == 1) {
		pthread_mutex_lock(&g->mu);
		leader_name(kv.value, g->leader, sizeof g->leader);
		pthread_mutex_unlock(&g->mu);
		etcd_kv_clear(&kv);
		return 0;
	}
	if (etcd_lease_grant(c, g->ttl_s, &lease, e) < 0)
		return -1;
	t0 = mono_ms();
	if (etcd_txn(c, json_pack("[o]", etcd_cmp_create(g->key, 0)),
		     json_pack("[o]", etcd_op_put(g->key, g->value, strlen(g->value), lease)),
		     json_pack("[o]", etcd_op_get(g->key)), &ok, &rev, &resp, e) < 0) {
		etcd_lease_revoke(c, lease, &(struct err){0});
		return -1;
	}
	if (!ok) {
		if (etcd_txn_range_kv(resp, 0, &kv) == 1) {
			pthread_mutex_lock(&g->mu);
			leader_name(kv.value, g->leader, sizeof g->leader);
			pthread_mutex_unlock(&g->mu);
			etcd_kv_clear(&kv);
		}
		json_decref(resp);
		etcd_lease_revoke(c, lease, &(struct err){0});
		return 0;
	}
	json_decref(resp);
	pthread_mutex_lock(&g->mu);
	g->leading = true;
	g->lease = lease;
	g->token = rev; /* the put's revision: the key's create_revision */
	g->acting_until = t0 + g->ttl_s * 1000 - g->renew_ms;
	leader_name(g->value, g->leader, sizeof g->leader);
	pthread_mutex_unlock(&g->mu);
	log_info("monitor leader: this monitor leads (key %s, fencing token %" PRId64 ")", g->key,
		 rev);
	return 1;
}

/* One renewal of a leader. */
static void renew(struct leader_gate *g, struct etcd *c)
{
	struct err e = {0};
	int64_t ttl = 0, t0 = mono_ms();
	int rc = etcd_lease_keepalive(c, g->lease, &ttl, &e);

	pthread_mutex_lock(&g->mu);
	if (rc == 0 && ttl > 0) {
		g->acting_until = t0 + g->ttl_s * 1000 - g->renew_ms;
	} else if (rc == 0) {
		g->leading = false;
		g->token = 0;
		g->lease = 0;
		log_warn("monitor leader: lease expired; following from now on");
	} else if (mono_ms() >= g->acting_until) {
		/* cut off from etcd: acting already stopped (acting_until);
		 * keep trying to renew until etcd says the lease is gone */
		log_warn("monitor leader: cannot renew (%s); not acting", e.msg);
	}
	pthread_mutex_unlock(&g->mu);
}

/* A client of the gate's etcd (its own: a client is not thread-safe). */
static int gate_client(const struct leader_gate *g, struct etcd **out, struct err *e)
{
	return etcd_open_tls(g->endpoints, g->nendpoints, g->timeout_ms, g->tls_ca, g->tls_cert,
			     g->tls_key, out, e);
}

static void *campaign_main(void *arg)
{
	struct leader_gate *g = arg;
	struct etcd *c = NULL;
	struct err e = {0};

	if (gate_client(g, &c, &e) < 0) {
		log_error("monitor leader: %s", e.msg);
		return NULL;
	}
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		bool leading = g->leading;

		pthread_mutex_unlock(&g->mu);
		if (leading)
			renew(g, c);
		else if (campaign(g, c, &e) < 0)
			log_warn("monitor leader: campaign: %s", e.msg);
		pthread_mutex_lock(&g->mu);
		nap(g, g->leading ? g->renew_ms : g->retry_ms);
	}
	pthread_mutex_unlock(&g->mu);
	etcd_close(c);
	return NULL;
}

int leader_gate_open(const struct spec *s, const char *who, struct leader_gate **out,
		     struct err *e)
{
	const struct spec_state *w = &s->state;
	struct leader_gate *g;
	char host[256] = "";
	json_t *j;

	*out = NULL;
	if (w->backend != STATE_ETCD)
		return 0;
	g = xcalloc(1, sizeof *g);
	g->endpoints = strv_dup((const char *const *)w->endpoints);
	g->nendpoints = w->nendpoints;
	g->timeout_ms = w->timeout_ms;
	g->tls_ca = w->tls_ca ? xstrdup(w->tls_ca) : NULL;
	g->tls_cert = w->tls_cert ? xstrdup(w->tls_cert) : NULL;
	g->tls_key = w->tls_key ? xstrdup(w->tls_key) : NULL;
	g->key = xasprintf("%s/%s/monitor/leader", w->prefix, s->name);
	g->events = xasprintf("%s/%s/events/", w->prefix, s->name);
	g->ttl_s = (w->lease_ttl_ms + 999) / 1000;
	g->renew_ms = g->ttl_s * 1000 / 3;
	g->retry_ms = g->renew_ms < RETRY_MAX_MS ? g->renew_ms : RETRY_MAX_MS;
	gethostname(host, sizeof host - 1);
	j = json_pack("{s:s, s:s, s:I}", "who", who, "host", host, "pid", (json_int_t)getpid());
	g->value = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	if (gate_client(g, &g->wc, e) < 0) {
		leader_gate_close(g);
		return -1;
	}
	int rc = pthread_create(&g->thread, NULL, campaign_main, g);
	if (rc != 0) {
		err_sys(e, rc, "monitor leader thread");
		leader_gate_close(g);
		return -1;
	}
	g->running = true;
	*out = g;
	return 0;
}

void leader_gate_close(struct leader_gate *g)
{
	struct err e = {0};
	bool ok;

	if (!g)
		return;
	if (g->running) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_cond_signal(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->thread, NULL);
	}
	if (g->lease && g->wc) {
		etcd_txn(g->wc, json_pack("[o]", etcd_cmp_lease(g->key, g->lease)),
			 json_pack("[o]", etcd_op_delete(g->key, false)), NULL, &ok, NULL, NULL, &e);
		etcd_lease_revoke(g->wc, g->lease, &e);
	}
	etcd_close(g->wc);
	strv_free(g->endpoints);
	free(g->tls_ca);
	free(g->tls_cert);
	free(g->tls_key);
	free(g->key);
	free(g->events);
	free(g->value);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

bool leader_gate_acting(struct leader_gate *g, int64_t *token)
{
	bool acting;

	if (!g) {
		if (token)
			*token = 0;
		return true;
	}
	pthread_mutex_lock(&g->mu);
	acting = g->leading && mono_ms() < g->acting_until;
	if (token)
		*token = acting ? g->token : 0;
	pthread_mutex_unlock(&g->mu);
	return acting;
}

void leader_gate_leader(struct leader_gate *g, char *out, size_t size)
{
	if (!g) {
		snprintf(out, size, "%s", "");
		return;
	}
	pthread_mutex_lock(&g->mu);
	snprintf(out, size, "%s", g->leader);
	pthread_mutex_unlock(&g->mu);
}

const char *leader_gate_key(const struct leader_gate *g)
{
	return g->key;
}

json_t *leader_gate_cmp(const struct leader_gate *g, int64_t token)
{
	return etcd_cmp_create(g->key, token);
}

int leader_gate_event(struct leader_gate *g, int64_t token, const char *line, struct err *e)
{
	static unsigned seq;
	struct timespec ts;
	_cleanup_free_ char *key = NULL;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	key = xasprintf("%s%020" PRId64 "-%ld-m%u", g->events,
			(int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, (long)getpid(),
			__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	if (etcd_txn(g->wc, json_pack("[o]", leader_gate_cmp(g, token)),
		     json_pack("[o]", etcd_op_put(key, line, strlen(line), 0)), NULL, &ok, NULL,
		     NULL, e) < 0)
		return -1;
	if (!ok)
		return err_set(e, ESTALE,
			       "monitor leader: fencing token %" PRId64 " is no longer the leader's "
			       "(%s): the event was not written",
			       token, g->key);
	return 0;
}
