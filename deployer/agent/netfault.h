/* netfault.h - drill faults on the host's network, bounded in time: the
 * `net.fault` and `net.heal` requests (docs/agent-protocol.md, docs/drills.md).
 *
 * A fault is one nftables table, `inet shoal` (NETFAULT_TABLE), holding an
 * input and an output chain: packets from and to the `cut` addresses are
 * dropped both ways (partition), and `loss_pct` per cent of the packets
 * arriving on any interface but lo are dropped at random (slow network);
 * `delay_ms` adds a tc netem qdisc on every interface but lo where the
 * kernel has netem.  Removing the fault is one `delete table` (and a
 * `tc qdisc del` per interface that got netem).
 *
 * Every program runs with argv only (no shell), through proc_run, bounded.
 *
 * The dead-man timer: a fault is removed at its deadline (duration_ms after
 * it was installed) by the agent's own loop, whoever asked for it and
 * whether or not that session is still there.  While a fault may be
 * installed a marker file (<run_dir>/netfault, the interfaces with netem one
 * per line) exists, so an agent that starts after one was killed with a
 * fault installed removes it at once; an agent that exits (SIGTERM, the end
 * of a `serve --stdio` session) removes its fault first.
 */
#ifndef SHOAL_AGENT_NETFAULT_H
#define SHOAL_AGENT_NETFAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

#define NETFAULT_FAMILY "inet"
#define NETFAULT_TABLE "shoal"
#define NETFAULT_MAX_CUT 64            /* addresses in one partition */
#define NETFAULT_MAX_MS (3600 * 1000)  /* the longest a fault lasts */
#define NETFAULT_MAX_DELAY_MS 60000
#define NETFAULT_MAX_DEVS 16           /* interfaces given netem */
#define NETFAULT_RUN_TIMEOUT_MS 5000   /* one nft or tc run */

struct loop;

/* A validated fault (netfault_parse). */
struct netfault_spec {
	char **cut;          /* canonical IPv4/IPv6 literals, NULL-terminated (may be empty) */
	int loss_pct;        /* 0..100 */
	int64_t delay_ms;    /* 0..NETFAULT_MAX_DELAY_MS; 0: no netem */
	int64_t duration_ms; /* 1..NETFAULT_MAX_MS: the dead-man deadline */
};

/* How programs are run: proc_run's contract (argv[0] a bare name, looked up
 * on PATH by the runner).  Tests record the calls instead. */
typedef int (*netfault_run_fn)(void *arg, const char *const argv[], struct buf *out,
			       struct err *e);

struct netfault {
	struct loop *loop;
	char *marker;          /* <run_dir>/netfault */
	netfault_run_fn run;
	void *run_arg;
	/* called once a fault ended by itself (the dead-man timer) */
	void (*expired)(void *arg, const char *msg);
	void *expired_arg;
	bool active;           /* a fault may be installed */
	uint64_t timer;        /* the dead-man timer, 0 when none */
	char **netem_devs;     /* interfaces given netem (NULL-terminated) */
};

/* Fields of a net.fault request (cut, loss_pct, delay_ms, duration_ms),
 * each checked: addresses must be IP literals (re-printed canonically), at
 * least one of cut, loss_pct, delay_ms must ask for something.  Caller
 * frees with netfault_spec_free. */
int netfault_parse(json_t *req, struct netfault_spec *out, struct err *e);
void netfault_spec_free(struct netfault_spec *s);

/* The nft argv that installs f, replacing any earlier table of shoal's, in
 * one transaction; NULL when f asks nothing of nftables (delay only).
 * strv, caller frees. */
char **netfault_nft_argv(const struct netfault_spec *f);
/* The nft argv that removes the table, whether or not it exists. */
char **netfault_nft_clear_argv(void);
/* tc argv: add (delay_ms > 0) or remove (delay_ms == 0) netem on dev. */
char **netfault_tc_argv(const char *dev, int64_t delay_ms);

/* Set up (no fault yet).  run NULL: the programs are run for real.  When
 * the marker says an earlier agent left a fault, it is removed now. */
void netfault_init(struct netfault *nf, struct loop *loop, const char *run_dir,
		   netfault_run_fn run, void *run_arg);
/* Remove what is installed (agent exit) and free. */
void netfault_fini(struct netfault *nf);

/* Install f (replacing a fault installed before) and arm the dead-man
 * timer.  *result: {"table":"inet shoal","cut":N,"loss_pct":N,"delay":
 * "netem on eth0" | "unavailable: ..." | absent,"expires_in_ms":N}.  On
 * an error nothing of the fault is left. */
int netfault_apply(struct netfault *nf, const struct netfault_spec *f, json_t **result,
		   struct err *e);
/* Remove the fault (a no-op when none); *removed tells whether one was
 * active. */
int netfault_clear(struct netfault *nf, bool *removed, struct err *e);

#endif
