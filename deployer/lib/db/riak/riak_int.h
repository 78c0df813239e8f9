/* riak_int.h - inside the Riak driver: what `riak admin` prints, read into
 * structs (riak_status.c), for riak_driver.c and the unit tests.
 *
 * `riak admin` exits 0 whether or not it did what it was asked (it prints
 * "Failed: ..." or "Node is not running!" and exits 0), so every answer is
 * read from its text.  The formats are riak_core_console.erl's and
 * riak_kv_console.erl's of Riak KV 3.2.1.  Also the key/value client
 * (riak_kv.c) the driver table names. */
#ifndef SHOAL_RIAK_INT_H
#define SHOAL_RIAK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "err.h"

/* A member's status in the ring (member-status's first column). */
enum riak_status {
	RIAK_JOINING,
	RIAK_VALID,
	RIAK_LEAVING,
	RIAK_EXITING,
	RIAK_DOWN,
	RIAK_STATUS_COUNT,
};

/* "joining", "valid", "leaving", "exiting", "down". */
const char *riak_status_name(enum riak_status s);

struct riak_member {
	char node[DB_ID_MAX + 1]; /* "riak@10.213.0.11" */
	enum riak_status status;
	double ring;              /* percent of the ring it owns now */
	double next;              /* percent it will own once transfers end
				     (= ring when nothing is pending) */
};

/* One `riak admin member-status` as printed by one node. */
struct riak_ring {
	struct riak_member *m;
	size_t n;
	bool pending;             /* ownership transfers pending (the
				     Pending column shows percentages) */
};

/* Parse member-status output.  Fails (EPROTO, e quoting the first line of
 * text) unless the text holds the whole table: header, rows, the dashed
 * line and the "Valid:N / ..." tally, which must agree with the rows. */
int riak_ring_parse(const char *text, struct riak_ring *out, struct err *e);
/* NULL-safe; leaves r empty. */
void riak_ring_free(struct riak_ring *r);
/* The member named node, or NULL. */
const struct riak_member *riak_ring_find(const struct riak_ring *r, const char *node);
/* Settled: every member valid and nothing pending. */
bool riak_ring_settled(const struct riak_ring *r);

/* Shares one partition apart at most: the ring size is taken as the
 * smallest power of two (8..1024) that makes every printed share a whole
 * number of partitions.  False for an empty ring. */
bool riak_ring_balanced(const struct riak_ring *r);

/* Does `riak rpc riak_core_node_watcher services` output list service
 * svc ("[riak_kv,riak_pipe,riak_repl]")? */
bool riak_services_has(const char *text, const char *svc);

/* Milliseconds between two looks while the driver waits (tests shorten
 * it). */
extern int riak_poll_ms;

/* The HTTP port of the template's health (else readiness) probe, else
 * 8098 (listener.http.internal). */
int riak_http_port(const struct db_opts *o);

/* The key/value client for loads (driver.h kv_*; riak_kv.c). */
int riak_kv_open(const struct db_node *nodes, size_t n, const struct db_opts *o,
		 struct db_kv **out, struct err *e);
int riak_kv_write(struct db_kv *kv, const char *const *keys, const char *const *vals, size_t n,
		  int wait, uint8_t *ok);
int riak_kv_read(struct db_kv *kv, const char *const *keys, const char *const *vals, size_t n,
		 uint8_t *got);
void riak_kv_close(struct db_kv *kv);

/* The first non-empty line of text (for messages), at most len-1 bytes. */
void riak_first_line(const char *text, char *buf, size_t len);

#endif
