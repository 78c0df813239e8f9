/* fanout.h - one job per item, all items at once, and wait for every one.
 *
 *     static int look(void *arg, size_t i, struct err *e)
 *     {
 *             struct ctx *c = arg;             // shared: read only, or locked
 *             return wait_for(c, &c->nodes[i], e);  // e names nodes[i]
 *     }
 *     if (fanout(n, look, &ctx, &e) < 0)
 *             ...             // e: the failure of the lowest failing i
 *
 * Runs the items on min(n, FANOUT_THREADS_MAX) threads, the caller's among
 * them (when threads cannot be made, on fewer), and returns only when every
 * item has ended: a failure does not stop the others.  Each item gets its own struct
 * err; on failure e is the lowest failing item's, with ", and N more
 * failed" added when others failed too.  fn must be safe to call from
 * several threads at once for different i. */
#ifndef SHOAL_FANOUT_H
#define SHOAL_FANOUT_H

#include <stddef.h>

#include "err.h"

#define FANOUT_THREADS_MAX 32

typedef int (*fanout_fn)(void *arg, size_t i, struct err *e);

/* 0 when fn(arg, i, ...) returned 0 for every i < n; else -1 with e. */
int fanout(size_t n, fanout_fn fn, void *arg, struct err *e);

#endif
