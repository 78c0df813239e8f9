/* fanout.c - see fanout.h */
#include "fanout.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "util.h"

struct fan {
	size_t n;
	fanout_fn fn;
	void *arg;
	atomic_size_t next;  /* the next item to take */
	int *rc;             /* per item */
	struct err *errs;    /* per item */
};

static void *worker(void *p)
{
	struct fan *f = p;

	for (;;) {
		size_t i = atomic_fetch_add(&f->next, 1);

		if (i >= f->n)
			return NULL;
		err_clear(&f->errs[i]);
		f->rc[i] = f->fn(f->arg, i, &f->errs[i]);
	}
}

int fanout(size_t n, fanout_fn fn, void *arg, struct err *e)
{
	struct fan f = {.n = n, .fn = fn, .arg = arg};
	pthread_t th[FANOUT_THREADS_MAX];
	size_t nth = 0, failed = 0, first = SIZE_MAX;

	if (!n)
		return 0;
	f.rc = xcalloc(n, sizeof *f.rc);
	f.errs = xcalloc(n, sizeof *f.errs);
	/* the caller's thread is one of them: one item needs no other */
	for (; nth + 1 < n && nth + 1 < FANOUT_THREADS_MAX; nth++)
		if (pthread_create(&th[nth], NULL, worker, &f) != 0)
			break;
	worker(&f);
	for (size_t k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	for (size_t i = 0; i < n; i++)
		if (f.rc[i] < 0 && failed++ == 0)
			first = i;
	if (failed) {
		*e = f.errs[first];
		if (failed > 1) {
			struct err more = *e;

			err_set(e, more.code, "%s, and %zu more failed", more.msg, failed - 1);
			e->exit = more.exit;
		}
	}
	free(f.rc);
	free(f.errs);
	return failed ? -1 : 0;
}
