/* fleet.c - see fleet.h */
#include "fleet.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "version.h"

struct pool {
	struct fleet *f;
	fleet_fn fn;
	void *arg;
	atomic_size_t next;
	atomic_int failed;
};

static void *pool_worker(void *p)
{
	struct pool *pl = p;

	for (;;) {
		size_t i = atomic_fetch_add(&pl->next, 1);

		if (i >= pl->f->n)
			return NULL;
		if (!pl->f->hosts[i].wanted)
			continue;
		if (pl->fn(pl->f, i, pl->arg) < 0)
			atomic_fetch_add(&pl->failed, 1);
	}
}

/* Run fn over every wanted host with at most FLEET_PARALLEL threads. */
static int run_pool(struct fleet *f, fleet_fn fn, void *arg)
{
	struct pool pl = {.f = f, .fn = fn, .arg = arg};
	pthread_t th[FLEET_PARALLEL];
	size_t nthreads = 0, wanted = 0;

	for (size_t i = 0; i < f->n; i++)
		wanted += f->hosts[i].wanted;
	if (wanted <= 1) {
		pool_worker(&pl);
		return atomic_load(&pl.failed);
	}
	for (; nthreads < FLEET_PARALLEL && nthreads < wanted; nthreads++)
		if (pthread_create(&th[nthreads], NULL, pool_worker, &pl) != 0)
			break;
	if (nthreads == 0)
		pool_worker(&pl);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return atomic_load(&pl.failed);
}

/* Exit 0 when an agent daemon runs: the pid its lock file records is alive.
 * A fixed script; nothing from input goes into it. */
#define DAEMON_RUNS_SH "read pid < " AGENT_REMOTE_RUN_DIR "/agent.lock && kill -0 \"$pid\""

/* look_only: talk to the agent daemon that runs on the host, if any, and
 * change nothing - no install, no start (a starting daemon would start the
 * nodes its host should run).  Returns 0 when connected, 1 when none runs
 * (h->no_agent), 2 when a daemon of another shoal build runs (connect as
 * usual). */
static int look_agent(struct fleet_host *h, struct err *e)
{
	_cleanup_free_ char *path = NULL;
	struct remote_stat st;
	struct run_result res = {0};
	struct tchan *ch = NULL;
	struct err cerr;
	json_t *hello = NULL;

	if (transport_agent_remote_path(&path, e) < 0 ||
	    transport_stat(h->t, path, &st, e) < 0)
		return -1;
	if (!st.exists) {
		/* Not this build's agent.  Another build's daemon may run (shoal
		 * was upgraded): then connect as usual - replacing a running
		 * daemon adopts its nodes and restarts none.  Only starting one
		 * where none runs would. */
		const char *argv[] = {"sh", "-c", DAEMON_RUNS_SH, NULL};
		struct run_output out = {0};
		int rc = transport_run(h->t, argv, NULL, &out, e);
		bool runs = rc == 0 && out.res.exit_code == 0 && !out.res.exit_signal;

		run_output_free(&out);
		if (rc < 0)
			return -1;
		if (runs)
			return 2;
		h->no_agent = true;
		return 1;
	}
	{
		const char *argv[] = {path, "connect", "--no-start", NULL};

		if (transport_open_chan(h->t, argv, &ch, e) < 0)
			return -1;
	}
	h->agent = agent_client_new(ch);
	if (agent_call(h->agent, json_pack("{s:s}", "op", "hello"), &hello,
		       FLEET_CALL_TIMEOUT_MS, e) == 0) {
		json_decref(hello);
		return 0;
	}
	agent_client_close(h->agent, &res, &cerr);
	h->agent = NULL;
	if (!res.exit_signal && res.exit_code == AGENT_EXIT_NOT_RUNNING) {
		err_clear(e);
		h->no_agent = true;
		return 1;
	}
	return -1;
}

static int connect_one(struct fleet *f, size_t i, void *arg)
{
	const struct transport_opts *o = arg;
	struct fleet_host *h = &f->hosts[i];
	struct tchan *ch = NULL;
	int64_t t0 = now_ms();
	json_t *hello = NULL;
	int r;

	if (transport_open(f->spec, h->host, o, &h->t, &h->err) < 0)
		goto fail;
	if (o->look_only) {
		if ((r = look_agent(h, &h->err)) < 0) {
			err_wrap(&h->err, "%s: agent", h->host->name);
			goto fail;
		}
		if (r == 1)
			log_info("%s: no shoal agent runs there (left so: plan and status start none)",
				 h->host->name);
		if (r < 2) {
			h->connect_ms = now_ms() - t0;
			return 0;
		}
	}
	if (transport_open_agent(h->t, &ch, &h->err) < 0)
		goto fail;
	h->agent = agent_client_new(ch);
	if (agent_call(h->agent, json_pack("{s:s}", "op", "hello"), &hello,
		       FLEET_CALL_TIMEOUT_MS, &h->err) < 0) {
		err_wrap(&h->err, "%s: agent", h->host->name);
		goto fail;
	}
	h->connect_ms = now_ms() - t0;
	{
		json_t *up = json_object_get(hello, "uptime_ms");

		h->agent_started = json_is_integer(up) && json_integer_value(up) <= h->connect_ms;
	}
	json_decref(hello);
	log_debug("%s: connected in %lld ms", h->host->name,
		  (long long)h->connect_ms);
	return 0;
fail:
	h->rc = -1;
	agent_client_free(h->agent);
	h->agent = NULL;
	transport_close(h->t);
	h->t = NULL;
	return -1;
}

int fleet_connect(const struct spec *s, const bool *want,
		  const struct transport_opts *o, struct fleet **out,
		  struct err *e)
{
	struct fleet *f = xcalloc(1, sizeof *f);
	struct transport_opts defaults = {0};
	size_t failed = 0, wanted = 0;
	struct fleet_host *first = NULL;

	f->spec = s;
	f->n = s->nhosts;
	f->hosts = xcalloc(f->n ? f->n : 1, sizeof *f->hosts);
	for (size_t i = 0; i < f->n; i++) {
		f->hosts[i].host = &s->hosts[i];
		f->hosts[i].wanted = !want || want[i];
		wanted += f->hosts[i].wanted;
		pthread_mutex_init(&f->hosts[i].call_lock, NULL);
	}
	run_pool(f, connect_one, (void *)(o ? o : &defaults));
	*out = f;
	for (size_t i = 0; i < f->n; i++) {
		if (!f->hosts[i].wanted || f->hosts[i].rc == 0)
			continue;
		if (!first)
			first = &f->hosts[i];
		failed++;
	}
	if (!failed)
		return 0;
	if (failed == 1 && wanted == 1) {
		*e = first->err;
		return -1;
	}
	err_set(e, first->err.code, "%zu of %zu hosts unreachable; first: %s",
		failed, wanted, first->err.msg);
	return -1;
}

void fleet_close(struct fleet *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		agent_client_free(f->hosts[i].agent);
		transport_close(f->hosts[i].t);
		pthread_mutex_destroy(&f->hosts[i].call_lock);
	}
	free(f->hosts);
	free(f);
}

int fleet_reconnect(struct fleet *f, size_t i, const struct transport_opts *o,
		    struct err *e)
{
	struct fleet_host *h = &f->hosts[i];
	struct transport_opts defaults = {0};

	agent_client_free(h->agent);
	h->agent = NULL;
	transport_close(h->t);
	h->t = NULL;
	h->rc = 0;
	h->no_agent = false;
	err_clear(&h->err);
	if (connect_one(f, i, (void *)(o ? o : &defaults)) < 0) {
		*e = h->err;
		return -1;
	}
	return 0;
}

struct fleet_host *fleet_host(struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->hosts[i].host->name, name))
			return &f->hosts[i];
	return NULL;
}

int fleet_call_stream(struct fleet_host *h, json_t *req, agent_stream_cb cb, void *arg,
		      json_t **resp, int timeout_ms, struct err *e)
{
	int rc;

	if (!h->agent) {
		json_decref(req);
		if (h->rc < 0) {
			*e = h->err;
			return -1;
		}
		return err_set(e, ENOTCONN, "%s: not connected", h->host->name);
	}
	pthread_mutex_lock(&h->call_lock);
	rc = agent_call_stream(h->agent, req, cb, arg, resp, timeout_ms, e);
	pthread_mutex_unlock(&h->call_lock);
	return rc < 0 ? err_wrap(e, "%s", h->host->name) : 0;
}

int fleet_next_event(struct fleet_host *h, json_t **ev, struct err *e)
{
	int rc;

	*ev = NULL;
	if (!h->agent)
		return 0;
	pthread_mutex_lock(&h->call_lock);
	rc = agent_client_next_event(h->agent, ev, 0, e);
	pthread_mutex_unlock(&h->call_lock);
	return rc < 0 ? err_wrap(e, "%s", h->host->name) : rc;
}

int fleet_call(struct fleet_host *h, json_t *req, json_t **resp, struct err *e)
{
	return fleet_call_stream(h, req, NULL, NULL, resp, FLEET_CALL_TIMEOUT_MS, e);
}

struct each_arg {
	fleet_fn fn;
	void *arg;
};

static int each_connected(struct fleet *f, size_t i, void *p)
{
	struct each_arg *a = p;

	if (!f->hosts[i].agent)
		return 0;
	return a->fn(f, i, a->arg);
}

int fleet_each(struct fleet *f, fleet_fn fn, void *arg)
{
	struct each_arg a = {fn, arg};

	return run_pool(f, each_connected, &a);
}
