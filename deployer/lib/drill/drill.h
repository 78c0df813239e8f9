/* drill.h - `shoal drill`: failure drills under load, checked, with a
 * report (docs/drills.md).
 *
 * A drill loads the cluster of one service with writers (the kind's
 * key/value client, db_kv_*), injects a fault per round through the agent
 * of the victim's host (kill -9, SIGSTOP then SIGCONT, host.kill,
 * net.fault then net.heal), watches who notices
 * it (the agent's `exited` event, the monitor's events, the database's own
 * view) and when the cluster is healthy again, then reads back every key
 * it tried to write: acknowledged and absent is lost, present but never
 * acknowledged is unexpected.  Every fault it made is healed before it
 * returns, on an error and on SIGINT/SIGTERM too.
 *
 * The schedule (drill_schedule) is a pure function of the seed: the same
 * seed picks the same victims at the same times (a round never starts
 * before the previous one recovered).
 */
#ifndef SHOAL_DRILL_H
#define SHOAL_DRILL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

enum drill_scenario {
	DRILL_KILL_NODE,   /* kill -9 of any node's process */
	DRILL_KILL_MASTER, /* kill -9 of a node the database reports as master */
	DRILL_PAUSE_NODE,  /* SIGSTOP of any node for pause_ms, then SIGCONT */
	DRILL_KILL_HOST,   /* every node of a host and its agent killed (host.kill);
			      pause_ms later the drill connects again, which starts
			      the agent, which starts the nodes */
	DRILL_PARTITION,   /* a minority of hosts cut from the others for pause_ms
			      (nftables inside each, net.fault) */
	DRILL_SLOW_NETWORK,/* loss (and delay where netem exists) on one host for
			      pause_ms (net.fault) */
	DRILL_MIXED,       /* each round one of the above, chosen by the seed */
};

/* The concrete scenarios `mixed` chooses among. */
#define DRILL_NCONCRETE 6

/* A fault of one host (or hosts) rather than one node. */
static inline int drill_scenario_on_hosts(enum drill_scenario s)
{
	return s == DRILL_KILL_HOST || s == DRILL_PARTITION || s == DRILL_SLOW_NETWORK;
}

/* "kill-node" ...; -1 when unknown. */
int drill_scenario_parse(const char *s);
const char *drill_scenario_name(enum drill_scenario s);

struct drill_load {
	int writers; /* threads, each with its own client; 0: no load */
	int rate;    /* acknowledged-or-not writes per second, all writers; 0: as fast as they go */
	int wait;    /* a write counts as acknowledged once this many replicas have it */
};

/* "writers=4,rate=2000,wait=1" (any subset, any order) over the values in
 * *out.  Bad input is ERR_EXIT_USAGE naming the item. */
int drill_load_parse(const char *s, struct drill_load *out, struct err *e);

struct drill_opts {
	enum drill_scenario scenario;
	int rounds;              /* >= 1 */
	int64_t interval_ms;     /* from one fault to the next (at least) */
	int64_t pause_ms;        /* pause-node: how long the node stays stopped; kill-host,
				    partition, slow-network: how long the fault lasts */
	int loss_pct;            /* slow-network: packets dropped, per cent */
	int64_t delay_ms;        /* slow-network: added delay (tc netem, where the host has it) */
	int64_t recover_ms;      /* a round not recovered within this fails */
	uint64_t seed;
	struct drill_load load;
	const char *service;     /* NULL: the first service whose kind has a kv client */
	const char *report_dir;  /* NULL: report.json and report.html not written */
	bool dry_run;            /* print the schedule, touch nothing */
	bool force;              /* start on an unhealthy cluster */
	bool accept_new_host_keys;
	bool json;               /* the report on stdout instead of the table */
};

/* One round of the schedule. */
struct drill_round {
	int64_t at_ms;   /* earliest injection, after the load started */
	uint64_t pick;   /* the victim is candidates[pick % ncandidates] */
	enum drill_scenario scenario; /* o->scenario, or mixed's choice for this round */
};

/* The schedule of o (seed, rounds, interval): rounds[0..o->rounds), the
 * first at one interval after the load started, each next one an interval
 * later plus up to a quarter interval of seeded jitter.  Pure. */
void drill_schedule(const struct drill_opts *o, struct drill_round *rounds);

/* The victim of a round among candidates[0..n) (node ids, any order): the
 * ids are sorted first, so the same set gives the same victim. */
const char *drill_pick(const struct drill_round *r, const char *const *candidates, size_t n);

/* The hosts a partition cuts off: a minority of hosts[0..n) (distinct
 * names, any order), max(1, (n - 1) / 2) of them, consecutive in sorted
 * order from the picked one, joined by ",".  NULL when n < 2.  Caller
 * frees. */
char *drill_pick_minority(const struct drill_round *r, const char *const *hosts, size_t n);

/* Run the drill on the cluster of spec_path; prints the report (table, or
 * JSON with o->json) and writes it to o->report_dir.  Returns 0 when every
 * round was detected and recovered, the cluster is healthy at the end and
 * no acknowledged write was lost; -1 with e otherwise (the report is
 * written in both cases once the drill started). */
int drill_run(const char *spec_path, const struct drill_opts *o, struct err *e);

/* ---- report (drill_report.c) ---------------------------------------------------- */

/* The table a person reads on a terminal. */
void drill_report_text(FILE *f, const json_t *report);
/* A self-contained XHTML page (parses as XML) with an inline SVG
 * timeline: one <rect class="fault"> band per round, detection and
 * recovery marks, acknowledged writes and errors per second.  Caller
 * frees. */
char *drill_report_html(const json_t *report);

#endif
