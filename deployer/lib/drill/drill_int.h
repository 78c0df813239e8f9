/* drill_int.h - what the files of deployer/lib/drill/ share; private.
 *
 *   drill_sched.c   scenario names, --load, the seeded schedule (pure)
 *   drill_load.c    the writers and the final read of every key
 *   drill.c         connecting, the rounds, faults and heals, the report
 *   drill_report.c  the table and the HTML page with its SVG timeline
 */
#ifndef SHOAL_DRILL_INT_H
#define SHOAL_DRILL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "driver.h"
#include "drill.h"

/* Wall-clock milliseconds (CLOCK_REALTIME): the monitor's events carry
 * the same clock (at_ms). */
int64_t drill_wall_ms(void);

struct loadgen;

/* Start cfg->writers threads writing fresh keys "shoal:drill:<run>:<w>:<n>"
 * through nodes[0..n) (each its own db_kv client), at cfg->rate writes per
 * second in all.  A write that fails is tried again in every next round
 * of its writer (up to MAX_RETRY keys, oldest first) until acknowledged or
 * the load stops.  t0 is the wall clock the
 * per-second series starts at.  Fails when a writer cannot open its
 * client (nothing is left running then). */
int loadgen_start(const struct db_driver *d, const struct db_node *nodes, size_t n,
		  const struct db_opts *o, const struct drill_load *cfg, const char *run,
		  int64_t t0, struct loadgen **out, struct err *e);

/* Stop the writers, then read back every key they tried (in the writer
 * threads again, each with its client), and join them. */
void loadgen_stop(struct loadgen *g);

struct load_window {
	int64_t from, to;          /* wall ms, [from, to) by acknowledgement or first attempt */
	long acked, lost, errors;  /* acknowledged in it; of those lost; failed attempts */
	long below_quorum;         /* of those acknowledged, read back only from fewer
				      replicas than a quorum (DB_KV_PRESENT_FEW) */
	int64_t unavailable_ms;    /* longest a key first tried in it waited, failed
				      attempt to acknowledgement (or to the end) */
};

struct load_totals {
	long attempted, acknowledged, lost, unexpected, unread, errors, pending;
	long below_quorum;         /* acknowledged, a quorum read found them absent,
				      a replica held them (not lost) */
	int64_t unavailable_ms;
	double writes_per_s;       /* acknowledged / seconds the load ran */
	int64_t ran_ms;
};

/* After loadgen_stop: the totals and, per window, its numbers. */
void loadgen_results(struct loadgen *g, struct load_window *w, size_t nw, struct load_totals *t);
/* Per second since t0: acknowledged writes and failed attempts, as
 * [{"t":s,"acked":n,"errors":n},...]. */
json_t *loadgen_series(struct loadgen *g);
/* After loadgen_stop: the first max acknowledged keys that read back absent
 * or with another value (below_quorum: those read back only from fewer
 * replicas than a quorum), as [{"key","first_at_ms","acked_at_ms" (since
 * t0),"retried","read":"absent"|"other"|"below quorum"},...]. */
json_t *loadgen_lost_keys(struct loadgen *g, bool below_quorum, size_t max);
/* NULL-safe; stops first when still running. */
void loadgen_free(struct loadgen *g);

#endif
