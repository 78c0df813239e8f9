/* loop.c - poll() event loop with timers (see loop.h). */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "loop.h"
#include "util.h"

struct watch {
	int fd;
	short events;
	uint64_t gen;   /* changes when the slot is reused */
	loop_fd_cb cb;
	void *arg;
};

struct timer {
	uint64_t id;
	int64_t due;
	loop_timer_cb cb;
	void *arg;
};

struct loop {
	struct watch *w;
	size_t nw, capw;
	struct timer *t;
	size_t nt, capt;
	uint64_t next_id;
	struct pollfd *pfd;
	uint64_t *pgen;
	size_t cappfd, cappgen;
};

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof *l);

	l->next_id = 1;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	free(l->w);
	free(l->t);
	free(l->pfd);
	free(l->pgen);
	free(l);
}

static struct watch *find_watch(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd)
			return &l->w[i];
	return NULL;
}

void loop_watch(struct loop *l, int fd, short events, loop_fd_cb cb, void *arg)
{
	struct watch *w = find_watch(l, fd);

	if (!w) {
		l->w = xgrow(l->w, &l->capw, l->nw + 1, sizeof *l->w);
		w = &l->w[l->nw++];
	}
	w->fd = fd;
	w->events = events;
	w->gen = l->next_id++;
	w->cb = cb;
	w->arg = arg;
}

void loop_unwatch(struct loop *l, int fd)
{
	struct watch *w = find_watch(l, fd);

	if (w)
		*w = l->w[--l->nw];
}

uint64_t loop_timer(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg)
{
	struct timer *t;

	l->t = xgrow(l->t, &l->capt, l->nt + 1, sizeof *l->t);
	t = &l->t[l->nt++];
	t->id = l->next_id++;
	t->due = now_ms() + (delay_ms < 0 ? 0 : delay_ms);
	t->cb = cb;
	t->arg = arg;
	return t->id;
}

void loop_cancel(struct loop *l, uint64_t id)
{
	for (size_t i = 0; id && i < l->nt; i++)
		if (l->t[i].id == id) {
			l->t[i] = l->t[--l->nt];
			return;
		}
}

static int next_wait(struct loop *l, int max_wait_ms)
{
	int64_t now = now_ms(), wait = max_wait_ms;

	for (size_t i = 0; i < l->nt; i++) {
		int64_t d = l->t[i].due - now;

		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	return (int)wait;
}

static void run_timers(struct loop *l)
{
	int64_t now = now_ms();

	/* One due timer at a time: callbacks may add or cancel timers. */
	for (;;) {
		size_t i;

		for (i = 0; i < l->nt; i++)
			if (l->t[i].due <= now)
				break;
		if (i == l->nt)
			return;
		struct timer t = l->t[i];

		l->t[i] = l->t[--l->nt];
		t.cb(t.arg);
	}
}

int loop_once(struct loop *l, int max_wait_ms, struct err *e)
{
	size_t n = l->nw;
	int r;

	l->pfd = xgrow(l->pfd, &l->cappfd, n + 1, sizeof *l->pfd);
	l->pgen = xgrow(l->pgen, &l->cappgen, n + 1, sizeof *l->pgen);
	for (size_t i = 0; i < n; i++) {
		l->pfd[i] = (struct pollfd){l->w[i].fd, l->w[i].events, 0};
		l->pgen[i] = l->w[i].gen;
	}
	r = poll(l->pfd, n, next_wait(l, max_wait_ms));
	if (r < 0 && errno != EINTR)
		return err_sys(e, errno, "poll");
	for (size_t i = 0; r > 0 && i < n; i++) {
		struct watch *w;

		if (!l->pfd[i].revents)
			continue;
		w = find_watch(l, l->pfd[i].fd);
		if (w && w->gen == l->pgen[i])
			w->cb(w->arg, w->fd, l->pfd[i].revents);
	}
	run_timers(l);
	return 0;
}
