/* drill_load.c - the load of a drill: writer threads that add unique keys
 * through the kind's key/value client and record every acknowledgement,
 * then read every key they tried back (the set check). */
#include "drill_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define MAX_BATCH 1000 /* fresh keys per pipelined round */
#define MAX_RETRY 4000 /* failed keys tried again per round, oldest first */
#define READ_BATCH 1000
#define KEY_MAX 96
#define VAL_MAX 80
#define MAX_SECONDS (6 * 3600) /* the per-second series stops there */

int64_t drill_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One key a writer tried; times are ms since t0. */
struct key_rec {
	int32_t first;  /* first attempt */
	int32_t ack;    /* acknowledgement, -1 none */
	uint8_t failed; /* an attempt failed */
	uint8_t got;    /* DB_KV_* read back at the end */
};

struct writer {
	struct loadgen *g;
	int idx;
	pthread_t th;
	bool started;
	struct db_kv *kv;
	struct key_rec *keys;
	size_t n, cap;
	size_t *pending; /* keys to try again, oldest first */
	size_t np, pcap;
	long errors;
};

struct loadgen {
	const struct db_driver *d;
	struct drill_load cfg;
	char run[32];
	int64_t t0, end;
	struct writer *w;
	size_t nw;
	int stop;                 /* __atomic */
	bool stopped;
	uint32_t *sec_ack, *sec_err; /* __atomic, per second since t0 */
};

static void key_name(const struct writer *w, size_t i, char *key, size_t kn, char *val, size_t vn)
{
	snprintf(key, kn, "shoal:drill:%s:%d:%zu", w->g->run, w->idx, i);
	snprintf(val, vn, "%s:%d:%zu", w->g->run, w->idx, i);
}

static void count_second(uint32_t *v, int64_t ms, uint32_t n)
{
	if (ms >= 0 && ms / 1000 < MAX_SECONDS && n)
		__atomic_fetch_add(&v[ms / 1000], n, __ATOMIC_RELAXED);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (ms > 0 && nanosleep(&ts, &ts) < 0)
		;
}

/* Read back every key this writer tried; a key that cannot be read is
 * asked again a few times (a node may still be coming back). */
static void writer_read_back(struct writer *w)
{
	char (*key)[KEY_MAX] = xcalloc(READ_BATCH, KEY_MAX), (*val)[VAL_MAX] = xcalloc(READ_BATCH, VAL_MAX);
	const char *kp[READ_BATCH], *vp[READ_BATCH];
	size_t idx[READ_BATCH];
	uint8_t got[READ_BATCH];

	for (int attempt = 0; attempt < 5; attempt++) {
		size_t unread = 0; /* reads that failed: tried again */

		for (size_t i = 0; i < w->n;) {
			size_t nb = 0;

			for (; i < w->n && nb < READ_BATCH; i++) {
				if (attempt > 0 && w->keys[i].got != DB_KV_ERROR)
					continue;
				key_name(w, i, key[nb], sizeof key[nb], val[nb], sizeof val[nb]);
				kp[nb] = key[nb];
				vp[nb] = val[nb];
				idx[nb++] = i;
			}
			if (!nb)
				continue;
			db_kv_read(w->g->d, w->kv, kp, vp, nb, got);
			for (size_t k = 0; k < nb; k++) {
				w->keys[idx[k]].got = got[k];
				unread += got[k] == DB_KV_ERROR;
			}
		}
		if (!unread)
			break;
		sleep_ms(500);
	}
	free(key);
	free(val);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct loadgen *g = w->g;
	int per_rate = g->cfg.rate > 0 ? (g->cfg.rate + (int)g->nw - 1) / (int)g->nw : 0;
	size_t batch = per_rate ? (size_t)(per_rate / 50) : MAX_BATCH;
	enum { MAX = MAX_BATCH + MAX_RETRY };
	char (*key)[KEY_MAX] = xcalloc(MAX, KEY_MAX), (*val)[VAL_MAX] = xcalloc(MAX, VAL_MAX);
	const char **kp = xcalloc(MAX, sizeof *kp), **vp = xcalloc(MAX, sizeof *vp);
	size_t *idx = xcalloc(MAX, sizeof *idx);
	uint8_t *ok = xcalloc(MAX, 1);
	int64_t start = drill_wall_ms(), sent = 0;

	batch = batch < 1 ? 1 : batch > MAX_BATCH ? MAX_BATCH : batch;
	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		/* every failed key goes again at once (so a key waits as long as
		 * its part of the cluster is away, not behind a backlog) */
		size_t nb = 0, retry = w->np < MAX_RETRY ? w->np : MAX_RETRY, fresh;
		int64_t now = drill_wall_ms() - g->t0, t;
		int errs;
		uint32_t acked = 0;

		for (; nb < retry; nb++)
			idx[nb] = w->pending[nb];
		if (retry) {
			memmove(w->pending, w->pending + retry, (w->np - retry) * sizeof *w->pending);
			w->np -= retry;
		}
		for (fresh = 0; fresh < batch; fresh++, nb++) {
			w->keys = xgrow(w->keys, &w->cap, w->n + 1, sizeof *w->keys);
			w->keys[w->n] = (struct key_rec){.first = (int32_t)now, .ack = -1};
			idx[nb] = w->n++;
		}
		for (size_t k = 0; k < nb; k++) {
			key_name(w, idx[k], key[k], sizeof key[k], val[k], sizeof val[k]);
			kp[k] = key[k];
			vp[k] = val[k];
		}
		errs = db_kv_write(g->d, w->kv, kp, vp, nb, g->cfg.wait, ok);
		t = drill_wall_ms() - g->t0;
		for (size_t k = 0; k < nb; k++) {
			struct key_rec *r = &w->keys[idx[k]];

			if (ok[k]) {
				r->ack = (int32_t)t;
				acked++;
			} else {
				r->failed = 1;
				w->pending = xgrow(w->pending, &w->pcap, w->np + 1, sizeof *w->pending);
				w->pending[w->np++] = idx[k];
			}
		}
		count_second(g->sec_ack, t, acked);
		count_second(g->sec_err, t, (uint32_t)(errs > 0 ? errs : 0));
		w->errors += errs > 0 ? errs : 0;
		sent += (int64_t)fresh;
		if (per_rate) {
			int64_t due = start + sent * 1000 / per_rate - drill_wall_ms();

			if (due > 0)
				sleep_ms(due);
		}
		if (!acked)
			sleep_ms(10); /* everything fails fast: no busy loop */
	}
	writer_read_back(w);
	free(key);
	free(val);
	free(kp);
	free(vp);
	free(idx);
	free(ok);
	return NULL;
}

int loadgen_start(const struct db_driver *d, const struct db_node *nodes, size_t n,
		  const struct db_opts *o, const struct drill_load *cfg, const char *run,
		  int64_t t0, struct loadgen **out, struct err *e)
{
	struct loadgen *g = xcalloc(1, sizeof *g);

	g->d = d;
	g->cfg = *cfg;
	snprintf(g->run, sizeof g->run, "%s", run);
	g->t0 = t0;
	g->nw = (size_t)cfg->writers;
	g->w = xcalloc(g->nw + 1, sizeof *g->w);
	g->sec_ack = xcalloc(MAX_SECONDS, sizeof *g->sec_ack);
	g->sec_err = xcalloc(MAX_SECONDS, sizeof *g->sec_err);
	*out = g;
	for (size_t i = 0; i < g->nw; i++) {
		g->w[i].g = g;
		g->w[i].idx = (int)i;
		if (db_kv_open(d, nodes, n, o, &g->w[i].kv, e) < 0) {
			err_wrap(e, "writer %zu", i);
			goto fail;
		}
	}
	for (size_t i = 0; i < g->nw; i++) {
		if (pthread_create(&g->w[i].th, NULL, writer_main, &g->w[i]) != 0) {
			err_set(e, EAGAIN, "writer %zu: cannot start a thread", i);
			goto fail;
		}
		g->w[i].started = true;
	}
	return 0;
fail:
	loadgen_stop(g);
	return -1;
}

void loadgen_stop(struct loadgen *g)
{
	if (!g || g->stopped)
		return;
	__atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
	g->end = drill_wall_ms();
	for (size_t i = 0; i < g->nw; i++)
		if (g->w[i].started)
			pthread_join(g->w[i].th, NULL);
	g->stopped = true;
}

void loadgen_results(struct loadgen *g, struct load_window *win, size_t nw, struct load_totals *t)
{
	int64_t end = g->end - g->t0;

	memset(t, 0, sizeof *t);
	for (size_t k = 0; k < nw; k++) {
		int64_t from = win[k].from - g->t0, to = win[k].to - g->t0;

		win[k].acked = win[k].lost = win[k].below_quorum = win[k].errors = 0;
		win[k].unavailable_ms = 0;
		for (int64_t s = from / 1000; s < to / 1000 && s < MAX_SECONDS; s++)
			if (s >= 0)
				win[k].errors += g->sec_err[s];
	}
	for (size_t i = 0; i < g->nw; i++) {
		const struct writer *w = &g->w[i];

		t->errors += w->errors;
		for (size_t j = 0; j < w->n; j++) {
			const struct key_rec *r = &w->keys[j];
			bool acked = r->ack >= 0;
			bool lost = acked && (r->got == DB_KV_ABSENT || r->got == DB_KV_OTHER);
			bool few = acked && r->got == DB_KV_PRESENT_FEW;
			bool present = r->got == DB_KV_PRESENT || r->got == DB_KV_PRESENT_FEW;
			int64_t waited = r->failed ? (acked ? r->ack : end) - r->first : 0;

			t->attempted++;
			t->acknowledged += acked;
			t->lost += lost;
			t->below_quorum += few;
			t->unread += r->got == DB_KV_ERROR;
			t->unexpected += !acked && present;
			t->pending += !acked;
			if (waited > t->unavailable_ms)
				t->unavailable_ms = waited;
			for (size_t k = 0; k < nw; k++) {
				int64_t from = win[k].from - g->t0, to = win[k].to - g->t0;

				if (acked && r->ack >= from && r->ack < to) {
					win[k].acked++;
					win[k].lost += lost;
					win[k].below_quorum += few;
				}
				if (r->failed && r->first >= from && r->first < to &&
				    waited > win[k].unavailable_ms)
					win[k].unavailable_ms = waited;
			}
		}
	}
	t->ran_ms = end;
	t->writes_per_s = end > 0 ? (double)t->acknowledged * 1000.0 / (double)end : 0;
}

json_t *loadgen_lost_keys(struct loadgen *g, bool below_quorum, size_t max)
{
	json_t *a = json_array();
	char key[KEY_MAX], val[VAL_MAX];

	for (size_t i = 0; i < g->nw; i++) {
		const struct writer *w = &g->w[i];

		for (size_t j = 0; j < w->n && json_array_size(a) < max; j++) {
			const struct key_rec *r = &w->keys[j];

			if (r->ack < 0 ||
			    (below_quorum ? r->got != DB_KV_PRESENT_FEW
					  : r->got != DB_KV_ABSENT && r->got != DB_KV_OTHER))
				continue;
			key_name(w, j, key, sizeof key, val, sizeof val);
			json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:b, s:s}", "key", key,
							   "first_at_ms", (json_int_t)r->first,
							   "acked_at_ms", (json_int_t)r->ack, "retried",
							   r->failed != 0, "read",
							   r->got == DB_KV_ABSENT   ? "absent"
							   : r->got == DB_KV_OTHER ? "other"
										   : "below quorum"));
		}
	}
	return a;
}

json_t *loadgen_series(struct loadgen *g)
{
	json_t *a = json_array();
	int64_t secs = (g->end - g->t0) / 1000; /* whole seconds only */

	for (int64_t s = 0; s < secs && s < MAX_SECONDS; s++)
		json_array_append_new(a, json_pack("{s:I, s:I, s:I}", "t", (json_int_t)s, "acked",
						   (json_int_t)g->sec_ack[s], "errors",
						   (json_int_t)g->sec_err[s]));
	return a;
}

void loadgen_free(struct loadgen *g)
{
	if (!g)
		return;
	loadgen_stop(g);
	for (size_t i = 0; i < g->nw; i++) {
		db_kv_close(g->d, g->w[i].kv);
		free(g->w[i].keys);
		free(g->w[i].pending);
	}
	free(g->w);
	free(g->sec_ack);
	free(g->sec_err);
	free(g);
}
