/* etcd.h - a small etcd v3 client over its JSON gateway (libcurl + jansson).
 *
 * etcd serves its gRPC API as JSON at /v3/... on every client URL (etcd
 * 3.4: /v3/kv/range, /v3/kv/txn, /v3/kv/deleterange, /v3/lease/grant,
 * /v3/lease/keepalive, /v3/lease/revoke).  Keys and values travel base64
 * encoded, 64-bit numbers as decimal strings; this file hides both.
 *
 * A client holds the endpoints in order and one curl handle.  A request goes
 * to the endpoint that answered last; when that one cannot be reached or
 * times out (timeout_ms), or answers with a server error (HTTP 5xx: a member
 * cut off from its quorum, no leader), the next is tried, and so on once
 * around.  A request etcd refuses (HTTP 4xx: bad request, duplicate key,
 * lease not found) is returned as is: it is not retried elsewhere.
 *
 * A client is not thread-safe: a thread that needs one (the lock's
 * keepalive) opens its own.
 */
#ifndef SHOAL_ETCD_H
#define SHOAL_ETCD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct etcd;

struct etcd_kv {
	char *key;
	char *value;        /* NUL-terminated; value_len bytes before the NUL */
	size_t value_len;
	int64_t create_rev, mod_rev, lease;
};

/* Open a client on endpoints[0..n) (copied).  Never connects by itself. */
int etcd_open(char *const *endpoints, size_t n, int timeout_ms, struct etcd **out,
	      struct err *e);
void etcd_close(struct etcd *c);                  /* NULL-safe */
/* TLS for https:// endpoints (each NULL for none): ca verifies the members'
 * certificates instead of the system's CA store; cert and key (both or
 * neither, PEM) are the client certificate etcd's --client-cert-auth asks
 * for.  Fails when a file cannot be read, naming its spec key. */
int etcd_set_tls(struct etcd *c, const char *ca, const char *cert, const char *key,
		 struct err *e);
/* etcd_open, then etcd_set_tls (nothing left open when either fails). */
int etcd_open_tls(char *const *endpoints, size_t n, int timeout_ms, const char *ca,
		  const char *cert, const char *key, struct etcd **out, struct err *e);
/* The endpoint that answered last (or the first one). */
const char *etcd_endpoint(const struct etcd *c);

void etcd_kv_clear(struct etcd_kv *kv);
void etcd_kvs_free(struct etcd_kv *kvs, size_t n);

/* One key: 1 and *kv filled when it exists, 0 when it does not (kv zeroed),
 * -1 on error. *rev (when non-NULL) gets the store's revision. */
int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, int64_t *rev,
	     struct err *e);
/* Every key starting with prefix, oldest created first. */
int etcd_get_prefix(struct etcd *c, const char *prefix, struct etcd_kv **kvs, size_t *n,
		    struct err *e);

/* ---- transactions: build compares and operations, then etcd_txn ---- */

/* Compare: the key's mod_revision == rev (0: the key does not exist). */
json_t *etcd_cmp_mod(const char *key, int64_t rev);
/* Compare: the key's create_revision == rev (0: the key does not exist). */
json_t *etcd_cmp_create(const char *key, int64_t rev);
/* Compare: the key is bound to lease (so it exists and is that holder's). */
json_t *etcd_cmp_lease(const char *key, int64_t lease);
/* Operations: put (lease 0: none), get one key, delete a key or a prefix. */
json_t *etcd_op_put(const char *key, const char *value, size_t len, int64_t lease);
json_t *etcd_op_get(const char *key);
json_t *etcd_op_delete(const char *key, bool prefix);

/* Run a transaction; compare, success, failure are JSON arrays (stolen; NULL
 * = empty).  *ok tells which branch ran; *rev (when non-NULL) gets the
 * revision after it (the mod_revision of what a successful put wrote);
 * *resp (when non-NULL) gets the whole answer (caller decrefs). */
int etcd_txn(struct etcd *c, json_t *compare, json_t *success, json_t *failure, bool *ok,
	     int64_t *rev, json_t **resp, struct err *e);

/* ---- leases ---- */

int etcd_lease_grant(struct etcd *c, int ttl_s, int64_t *id, struct err *e);
/* One keepalive; *ttl_s gets the time left (0: the lease is gone). */
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl_s, struct err *e);
int etcd_lease_revoke(struct etcd *c, int64_t id, struct err *e);

/* A kv of a txn answer's first response_range (failure branch of a
 * compare-and-put): 1 and *kv filled, 0 when the range was empty. */
int etcd_txn_range_kv(json_t *resp, size_t index, struct etcd_kv *kv);

#endif
