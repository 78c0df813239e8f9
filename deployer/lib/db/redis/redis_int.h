/* redis_int.h - what the files of the Redis Cluster module share; private
 * to deployer/lib/db/redis/ (the interface is redis_cluster.h).
 *
 *   rc_client.c      connections and commands (hiredis, timeouts, AUTH)
 *   rc_nodes.c       CLUSTER NODES / CLUSTER INFO parsing, views and checks
 *   redis_cluster.c  forming, leaving and handing over
 *   rc_kv.c          the cluster-aware key/value load client (set check)
 */
#ifndef SHOAL_REDIS_INT_H
#define SHOAL_REDIS_INT_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

#include "redis_cluster.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_SETTLE_MS 30000
#define POLL_MS 20
#define FAILOVER_RETRY_MS 6000 /* Redis gives a manual failover 5 s */
#define INSPECT_THREADS 64

/* Frees *r (for _cleanup_reply_). */
void rc_cleanup_replyp(redisReply **r);

/* o->timeout_ms, or the default. */
int rc_opt_timeout_ms(const struct rc_opts *o);

/* "cache-3 (10.213.0.12:7003)", caller frees. */
char *rc_node_label(const struct rc_node *nd);

/* Run one command.  Returns its reply (caller frees), or NULL with e filled
 * when the connection failed or Redis answered with an error. */
redisReply *rc_call_argv(redisContext *c, int tmo_ms, const char *label, int argc,
			 const char **argv, struct err *e);

/* Connect with connect and command timeouts, and AUTH when a password is set. */
redisContext *rc_connect(const char *label, const char *address, int port,
			 const struct rc_opts *o, struct err *e);

/* Sleep ms milliseconds (through signals). */
void rc_sleep_ms(int ms);
#define _cleanup_reply_ __attribute__((cleanup(rc_cleanup_replyp)))
#define CALL(c, tmo, label, e, ...)                                                          \
	rc_call_argv((c), (tmo), (label), (int)ARRAY_SIZE(((const char *[]){__VA_ARGS__})),   \
		     (const char *[]){__VA_ARGS__}, (e))

/* The entry of node id in t[0..n), or NULL. */
struct rc_entry *rc_find_entry(struct rc_entry *t, size_t n, const char *id);

/* Close every non-NULL connection and free the array. */
void rc_free_conns(redisContext **conns, size_t n);

/* 40 lowercase hex digits? */
bool rc_is_node_id(const char *s);

/* Ask every node over its connection and build a view; a node that fails to
 * answer fails the call (rc_form needs them all). */
int rc_observe_all(const struct rc_node *nodes, size_t n, redisContext **conns, int tmo,
		   struct rc_view **out, struct err *e);

/* s is a whole decimal number in min..max, into *out. */
bool rc_parse_long(const char *s, long min, long max, long *out);

/* Its "myself" line in ob's table, or NULL. */
const struct rc_entry *rc_self_entry(const struct rc_observer *ob);

/* Bad input (a node twice, a replica of a non-master) is ERR_EXIT_USAGE. */
int rc_validate_plan(const struct rc_node *nodes, size_t n, struct err *e);

#endif
