/* drill.h - `shoal drill`: failure drills under load, checked, with a
 * report (docs/drills.md).
 *
 * A drill loads the cluster of one service with writers (the kind's
 * key/value client, db_kv_*), injects a fault per round through the agent
 * of the victim's host (kill -9, SIGSTOP then SIGCONT), watches who notices
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
};

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
	int64_t pause_ms;        /* pause-node: how long the node stays stopped */
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
};

/* The schedule of o (seed, rounds, interval): rounds[0..o->rounds), the
 * first at one interval after the load started, each next one an interval
 * later plus up to a quarter interval of seeded jitter.  Pure. */
void drill_schedule(const struct drill_opts *o, struct drill_round *rounds);

/* The victim of a round among candidates[0..n) (node ids, any order): the
 * ids are sorted first, so the same set gives the same victim. */
const char *drill_pick(const struct drill_round *r, const char *const *candidates, size_t n);

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
