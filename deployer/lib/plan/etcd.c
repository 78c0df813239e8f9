/* etcd.c - the etcd v3 JSON gateway client; see etcd.h. */
#include "etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define ETCD_ANSWER_MAX (256u << 20)

struct etcd {
	char **endpoints;
	size_t n, cur;
	int timeout_ms;
	char *ca, *cert, *key;   /* etcd_set_tls: NULL for none */
	CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int etcd_open(char *const *endpoints, size_t n, int timeout_ms, struct etcd **out,
	      struct err *e)
{
	struct etcd *c;

	*out = NULL;
	if (n == 0)
		return err_usage(e, "etcd: no endpoint");
	pthread_once(&curl_once, curl_init_once);
	c = xcalloc(1, sizeof *c);
	c->endpoints = xcalloc(n + 1, sizeof *c->endpoints);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(endpoints[i]);

		/* "http://h:2379/" and "http://h:2379" name the same place */
		c->endpoints[i] = xstrndup(endpoints[i], len && endpoints[i][len - 1] == '/' ? len - 1 : len);
	}
	c->n = n;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	c->curl = curl_easy_init();
	if (!c->curl) {
		etcd_close(c);
		return err_set(e, ENOMEM, "etcd: curl_easy_init failed");
	}
	*out = c;
	return 0;
}

int etcd_set_tls(struct etcd *c, const char *ca, const char *cert, const char *key,
		 struct err *e)
{
	const char *const files[] = {ca, cert, key};
	const char *const names[] = {"state.tls.ca", "state.tls.cert", "state.tls.key"};

	if (!cert != !key)
		return err_usage(e, "etcd: state.tls.cert and state.tls.key go together (the "
				 "client certificate and its private key)");
	for (size_t i = 0; i < 3; i++)
		if (files[i] && access(files[i], R_OK) < 0)
			return err_sys(e, errno, "etcd: %s %s", names[i], files[i]);
	free(c->ca);
	free(c->cert);
	free(c->key);
	c->ca = ca ? xstrdup(ca) : NULL;
	c->cert = cert ? xstrdup(cert) : NULL;
	c->key = key ? xstrdup(key) : NULL;
	return 0;
}

int etcd_open_tls(char *const *endpoints, size_t n, int timeout_ms, const char *ca,
		  const char *cert, const char *key, struct etcd **out, struct err *e)
{
	if (etcd_open(endpoints, n, timeout_ms, out, e) < 0)
		return -1;
	if (etcd_set_tls(*out, ca, cert, key, e) < 0) {
		etcd_close(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void etcd_close(struct etcd *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	strv_free(c->endpoints);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c);
}

const char *etcd_endpoint(const struct etcd *c)
{
	return c->endpoints[c->cur];
}

/* ---- base64 (etcd's JSON carries bytes so) ---- */

static char *b64_encode(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Decode s; NULL when it is not base64. */
static char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	char *out;
	int got;

	if (n % 4)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	got = n ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n) : 0;
	if (got < 0) {
		free(out);
		return NULL;
	}
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	*len = (size_t)got - pad;
	out[*len] = '\0';
	return out;
}

static json_t *b64_json(const char *s, size_t len)
{
	char *b = b64_encode(s, len);
	json_t *j = json_string(b);

	free(b);
	return j;
}

/* etcd writes int64 as a string ("42"); absent means 0. */
static int64_t num(json_t *j)
{
	if (json_is_integer(j))
		return json_integer_value(j);
	if (json_is_string(j))
		return strtoll(json_string_value(j), NULL, 10);
	return 0;
}

static json_t *num_json(int64_t v)
{
	char s[24];

	snprintf(s, sizeof s, "%" PRId64, v);
	return json_string(s);
}

/* ---- requests ---- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * nmemb > ETCD_ANSWER_MAX)
		return 0;
	buf_append(b, p, size * nmemb);
	return size * nmemb;
}

/* POST body (stolen) to path; *out gets the answer object.  Transport
 * failures move on to the next endpoint; an HTTP error carrying etcd's
 * message is returned at once. */
static int call(struct etcd *c, const char *path, json_t *body, json_t **out, struct err *e)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct err last = {0};
	int rc = -1;

	json_decref(body);
	*out = NULL;
	if (!text)
		return err_set(e, EINVAL, "etcd %s: cannot encode the request", path);
	for (size_t tried = 0; tried < c->n; tried++, c->cur = (c->cur + 1) % c->n) {
		_cleanup_free_ char *url = xasprintf("%s%s", c->endpoints[c->cur], path);
		struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
		struct buf ans = {0};
		json_error_t jerr;
		long status = 0;
		CURLcode cc;
		json_t *j;

		curl_easy_reset(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &ans);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
		if (c->ca)
			curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
		if (c->cert) {
			curl_easy_setopt(c->curl, CURLOPT_SSLCERT, c->cert);
			curl_easy_setopt(c->curl, CURLOPT_SSLKEY, c->key);
		}
		cc = curl_easy_perform(c->curl);
		curl_slist_free_all(hdr);
		if (cc != CURLE_OK) {
			err_from_curl(&last, cc, url);
			buf_free(&ans);
			continue;
		}
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		j = ans.data ? json_loads(ans.data, 0, &jerr) : NULL;
		if (status != 200) {
			const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;

			if (status >= 500) { /* a member without quorum or leader: try another */
				err_set(&last, EIO, "%s: HTTP %ld: %s", url, status,
					msg ? msg : "(no message)");
				json_decref(j);
				buf_free(&ans);
				continue;
			}
			err_set(e, EIO, "%s: HTTP %ld: %s", url, status,
				msg ? msg : ans.data ? ans.data : "(no body)");
			json_decref(j);
			buf_free(&ans);
			goto out;
		}
		buf_free(&ans);
		if (!j) {
			err_set(e, EIO, "%s: answer is not JSON: %s", url, jerr.text);
			goto out;
		}
		/* keepalive streams its answers as {"result": {...}} */
		if (json_is_object(json_object_get(j, "result"))) {
			json_t *r = json_incref(json_object_get(j, "result"));

			json_decref(j);
			j = r;
		} else if (json_object_get(j, "error")) {
			const char *msg = json_string_value(json_object_get(j, "message"));

			err_set(e, EIO, "%s: %s", url, msg ? msg : "error");
			json_decref(j);
			goto out;
		}
		*out = j;
		rc = 0;
		goto out;
	}
	if (c->n > 1)
		err_set(e, last.code, "etcd: no endpoint answered (last: %s)", last.msg);
	else
		err_set(e, last.code, "etcd: %s", last.msg);
out:
	free(text);
	return rc;
}

/* ---- key values ---- */

void etcd_kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	if (kv->value)
		explicit_bzero(kv->value, kv->value_len);
	free(kv->value);
	memset(kv, 0, sizeof *kv);
}

void etcd_kvs_free(struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++)
		etcd_kv_clear(&kvs[i]);
	free(kvs);
}

static int kv_from_json(json_t *j, struct etcd_kv *kv)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t klen = 0;

	memset(kv, 0, sizeof *kv);
	if (!k || !(kv->key = b64_decode(k, &klen)))
		return -1;
	kv->value = b64_decode(v ? v : "", &kv->value_len);
	if (!kv->value) {
		etcd_kv_clear(kv);
		return -1;
	}
	kv->create_rev = num(json_object_get(j, "create_revision"));
	kv->mod_rev = num(json_object_get(j, "mod_revision"));
	kv->lease = num(json_object_get(j, "lease"));
	return 0;
}

/* The end of the range of keys that start with prefix: its last byte + 1. */
static char *prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);
	size_t n = strlen(end);

	end[n - 1]++;
	return end;
}

int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, int64_t *rev,
	     struct err *e)
{
	json_t *ans, *kvs;
	int rc = 0;

	memset(kv, 0, sizeof *kv);
	if (call(c, "/v3/kv/range",
		 json_pack("{s:o}", "key", b64_json(key, strlen(key))), &ans, e) < 0)
		return err_wrap(e, "etcd get %s", key);
	if (rev)
		*rev = num(json_object_get(json_object_get(ans, "header"), "revision"));
	kvs = json_object_get(ans, "kvs");
	if (json_array_size(kvs) > 0) {
		rc = 1;
		if (kv_from_json(json_array_get(kvs, 0), kv) < 0)
			rc = err_set(e, EIO, "etcd get %s: malformed answer", key);
	}
	json_decref(ans);
	return rc;
}

int etcd_get_prefix(struct etcd *c, const char *prefix, struct etcd_kv **kvs, size_t *n,
		    struct err *e)
{
	_cleanup_free_ char *end = prefix_end(prefix);
	json_t *ans, *arr;
	size_t cap = 0;

	*kvs = NULL;
	*n = 0;
	if (call(c, "/v3/kv/range",
		 json_pack("{s:o, s:o, s:s, s:s}", "key", b64_json(prefix, strlen(prefix)),
			   "range_end", b64_json(end, strlen(end)), "sort_target", "CREATE",
			   "sort_order", "ASCEND"),
		 &ans, e) < 0)
		return err_wrap(e, "etcd get %s*", prefix);
	arr = json_object_get(ans, "kvs");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		*kvs = xgrow(*kvs, &cap, *n + 1, sizeof **kvs);
		if (kv_from_json(json_array_get(arr, i), &(*kvs)[*n]) < 0) {
			etcd_kvs_free(*kvs, *n);
			*kvs = NULL;
			*n = 0;
			json_decref(ans);
			return err_set(e, EIO, "etcd get %s*: malformed answer", prefix);
		}
		(*n)++;
	}
	json_decref(ans);
	return 0;
}

/* ---- transactions ---- */

json_t *etcd_cmp_mod(const char *key, int64_t rev)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "target", "MOD", "result", "EQUAL", "key",
			 b64_json(key, strlen(key)), "mod_revision", num_json(rev));
}

json_t *etcd_cmp_create(const char *key, int64_t rev)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "target", "CREATE", "result", "EQUAL", "key",
			 b64_json(key, strlen(key)), "create_revision", num_json(rev));
}

json_t *etcd_cmp_lease(const char *key, int64_t lease)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "target", "LEASE", "result", "EQUAL", "key",
			 b64_json(key, strlen(key)), "lease", num_json(lease));
}

json_t *etcd_op_put(const char *key, const char *value, size_t len, int64_t lease)
{
	json_t *put = json_pack("{s:o, s:o}", "key", b64_json(key, strlen(key)), "value",
				b64_json(value, len));

	if (lease)
		json_object_set_new(put, "lease", num_json(lease));
	return json_pack("{s:o}", "request_put", put);
}

json_t *etcd_op_get(const char *key)
{
	return json_pack("{s:{s:o}}", "request_range", "key", b64_json(key, strlen(key)));
}

json_t *etcd_op_delete(const char *key, bool prefix)
{
	json_t *del = json_pack("{s:o}", "key", b64_json(key, strlen(key)));

	if (prefix) {
		char *end = prefix_end(key);

		json_object_set_new(del, "range_end", b64_json(end, strlen(end)));
		free(end);
	}
	return json_pack("{s:o}", "request_delete_range", del);
}

int etcd_txn(struct etcd *c, json_t *compare, json_t *success, json_t *failure, bool *ok,
	     int64_t *rev, json_t **resp, struct err *e)
{
	json_t *ans;

	*ok = false;
	if (resp)
		*resp = NULL;
	if (call(c, "/v3/kv/txn",
		 json_pack("{s:o, s:o, s:o}", "compare", compare ? compare : json_array(),
			   "success", success ? success : json_array(), "failure",
			   failure ? failure : json_array()),
		 &ans, e) < 0)
		return err_wrap(e, "etcd txn");
	*ok = json_is_true(json_object_get(ans, "succeeded"));
	if (rev)
		*rev = num(json_object_get(json_object_get(ans, "header"), "revision"));
	if (resp)
		*resp = ans;
	else
		json_decref(ans);
	return 0;
}

int etcd_txn_range_kv(json_t *resp, size_t index, struct etcd_kv *kv)
{
	json_t *r = json_object_get(json_array_get(json_object_get(resp, "responses"), index),
				    "response_range");
	json_t *kvs = json_object_get(r, "kvs");

	memset(kv, 0, sizeof *kv);
	if (json_array_size(kvs) == 0)
		return 0;
	return kv_from_json(json_array_get(kvs, 0), kv) < 0 ? 0 : 1;
}

/* ---- leases ---- */

int etcd_lease_grant(struct etcd *c, int ttl_s, int64_t *id, struct err *e)
{
	json_t *ans;

	*id = 0;
	if (call(c, "/v3/lease/grant", json_pack("{s:i}", "TTL", ttl_s), &ans, e) < 0)
		return err_wrap(e, "etcd lease grant");
	*id = num(json_object_get(ans, "ID"));
	json_decref(ans);
	if (*id == 0)
		return err_set(e, EIO, "etcd lease grant: no lease in the answer");
	return 0;
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl_s, struct err *e)
{
	json_t *ans;

	*ttl_s = 0;
	if (call(c, "/v3/lease/keepalive", json_pack("{s:o}", "ID", num_json(id)), &ans, e) < 0)
		return err_wrap(e, "etcd lease keepalive");
	*ttl_s = num(json_object_get(ans, "TTL"));
	json_decref(ans);
	return 0;
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct err *e)
{
	json_t *ans;

	if (call(c, "/v3/lease/revoke", json_pack("{s:o}", "ID", num_json(id)), &ans, e) < 0)
		return err_wrap(e, "etcd lease revoke");
	json_decref(ans);
	return 0;
}
