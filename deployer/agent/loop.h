/* loop.h - the agent's event loop: poll() over file descriptors plus timers.
 *
 * Single-threaded.  Callbacks may add or remove watches and timers, including
 * their own; a watch removed during a round is not called later in that round.
 */
#ifndef SHOAL_AGENT_LOOP_H
#define SHOAL_AGENT_LOOP_H

#include <poll.h>
#include <stdint.h>

#include "err.h"

struct loop;

/* revents as poll() reports them (POLLIN, POLLOUT, POLLHUP, POLLERR). */
typedef void (*loop_fd_cb)(void *arg, int fd, short revents);
typedef void (*loop_timer_cb)(void *arg);

struct loop *loop_new(void);
/* Drops every watch and timer (their args are not touched). NULL is fine. */
void loop_free(struct loop *l);

/* Watch fd for events; a second call for the same fd replaces the first. */
void loop_watch(struct loop *l, int fd, short events, loop_fd_cb cb, void *arg);
/* Stop watching fd (no-op when not watched).  Does not close it. */
void loop_unwatch(struct loop *l, int fd);

/* Call cb once, delay_ms from now.  Returns a timer id (never 0). */
uint64_t loop_timer(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg);
/* Cancel a pending timer; 0 or an expired id is a no-op. */
void loop_cancel(struct loop *l, uint64_t id);

/* Wait for events (at most max_wait_ms, < 0 = until the next timer or event),
 * then run the callbacks that are due.  Returns -1 only if poll() fails. */
int loop_once(struct loop *l, int max_wait_ms, struct err *e);

#endif
