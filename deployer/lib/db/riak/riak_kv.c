/* riak_kv.c - the Riak driver's key/value client (driver.h kv_*), for the
 * drills' load: Riak's HTTP API with libcurl, one keep-alive connection to
 * one node at a time.  Any node coordinates any key, so a client stays on
 * its node until a request fails there, then moves to the next one.
 *
 *   write  PUT /types/default/buckets/shoal/keys/KEY?w=quorum&pw=quorum
 *          (w=pw=K+1 with wait=K: the coordinator's copy and K more) - 204
 *          is acknowledged.  pw: the copies counted are on the key's
 *          primary nodes; with w alone a write a fallback took while a
 *          primary was down reads as absent from the primaries until
 *          hinted handoff brings it back (a full run saw 29 of 4,073);
 *   read   GET .../keys/KEY?r=quorum&notfound_ok=false - 200 with the value
 *          written: present; another value or siblings (300): other; any
 *          other answer or no answer: an error (read again by the caller).
 *          404 is not proof of loss: with r=2 of n_val 3 Riak's get FSM
 *          answers notfound as soon as n_val - r + 1 = 2 replicas said
 *          notfound (riak_kv_get_fsm's fail threshold), though the third
 *          may hold the object (or 503 "R-value unsatisfied: 1/2" when
 *          its answer came before the second notfound).  So a 404, or that
 *          503, is asked again with
 *          r=1&notfound_ok=false&basic_quorum=false: the threshold is then
 *          n_val, Riak waits for every replica and answers 404 only when
 *          none has the key (absent: lost), else the value (present at
 *          fewer than a quorum; that read also read-repairs the others). */
#include "riak_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define KV_BUCKET "shoal"
#define KV_CONNECT_MS 1000
#define KV_TIMEOUT_MS 5000 /* per request, when the caller gave none */
/* the read at a quorum, then (on 404) the read that asks every replica */
#define READ_QUORUM "r=quorum&notfound_ok=false"
#define READ_ANY "r=1&notfound_ok=false&basic_quorum=false"
#define R_UNSATISFIED "R-value unsatisfied" /* riak_kv_wm_object's 503 body */

struct riak_kv_client {
	CURL *easy;
	char **base; /* "http://ADDR:PORT" per node */
	size_t n, cur;
	long timeout_ms;
	struct buf body;
};

static size_t body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	buf_append(b, data, size * nmemb);
	return size * nmemb;
}

/* One request on the current node: method, path (after the base), the body
 * to send (or NULL); returns the HTTP code, or -1 when no answer came (the
 * client then moves to the next node).  The reply's body is in k->body. */
static long request(struct riak_kv_client *k, const char *method, const char *path,
		    const char *send)
{
	char *url = xasprintf("%s%s", k->base[k->cur], path);
	struct curl_slist *hdr = NULL;
	long code = -1;
	CURLcode cc;

	buf_reset(&k->body);
	curl_easy_setopt(k->easy, CURLOPT_URL, url);
	curl_easy_setopt(k->easy, CURLOPT_CUSTOMREQUEST, method);
	if (send) {
		hdr = curl_slist_append(hdr, "Content-Type: text/plain");
		curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, send);
		curl_easy_setopt(k->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(send));
	} else {
		curl_easy_setopt(k->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(k->easy, CURLOPT_CUSTOMREQUEST, NULL);
	}
	curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(k->easy);
	if (cc == CURLE_OK)
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	free(url);
	if (code < 0 || code >= 500)
		k->cur = (k->cur + 1) % k->n;
	return code;
}

/* ".../keys/KEY?" with KEY escaped. */
static char *key_path(struct riak_kv_client *k, const char *key, const char *query)
{
	char *esc = curl_easy_escape(k->easy, key, 0);
	char *p = xasprintf("/types/default/buckets/" KV_BUCKET "/keys/%s?%s", esc ? esc : key,
			    query);

	curl_free(esc);
	return p;
}

void riak_kv_close(struct db_kv *kv)
{
	struct riak_kv_client *k = (struct riak_kv_client *)kv;

	if (!k)
		return;
	if (k->easy)
		curl_easy_cleanup(k->easy);
	for (size_t i = 0; i < k->n; i++)
		free(k->base[i]);
	free(k->base);
	buf_free(&k->body);
	free(k);
}

int riak_kv_open(const struct db_node *nodes, size_t n, const struct db_opts *o,
		 struct db_kv **out, struct err *e)
{
	struct riak_kv_client *k = xcalloc(1, sizeof *k);
	int port = riak_http_port(o);

	if (!n) {
		free(k);
		return err_usage(e, "riak client: no node to ask");
	}
	k->easy = curl_easy_init();
	if (!k->easy) {
		free(k);
		return err_set(e, ENOMEM, "riak client: libcurl init failed");
	}
	k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : KV_TIMEOUT_MS;
	k->base = xcalloc(n + 1, sizeof *k->base);
	for (size_t i = 0; i < n; i++) {
		bool v6 = strchr(nodes[i].address, ':') != NULL;

		k->base[k->n++] = xasprintf("http://%s%s%s:%d", v6 ? "[" : "", nodes[i].address,
					    v6 ? "]" : "", port);
	}
	curl_easy_setopt(k->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(k->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(k->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(k->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)KV_CONNECT_MS);
	curl_easy_setopt(k->easy, CURLOPT_TIMEOUT_MS, k->timeout_ms);
	curl_easy_setopt(k->easy, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, &k->body);
	/* the first node that answers /ping is where requests go */
	for (size_t i = 0; i < n; i++) {
		size_t at = k->cur;

		if (request(k, "GET", "/ping", NULL) == 200 && k->body.len >= 2 &&
		    !memcmp(k->body.data, "OK", 2)) {
			*out = (struct db_kv *)k;
			return 0;
		}
		k->cur = (at + 1) % k->n;
	}
	riak_kv_close((struct db_kv *)k);
	return err_set(e, EHOSTUNREACH, "riak client: none of the %zu nodes answers GET /ping", n);
}

int riak_kv_write(struct db_kv *kv, const char *const *keys, const char *const *vals, size_t n,
		  int wait, uint8_t *ok)
{
	struct riak_kv_client *k = (struct riak_kv_client *)kv;
	char query[32];
	int errs = 0;

	if (wait > 0)
		snprintf(query, sizeof query, "w=%d&pw=%d", wait + 1, wait + 1);
	else
		snprintf(query, sizeof query, "w=quorum&pw=quorum");
	for (size_t i = 0; i < n; i++) {
		char *path = key_path(k, keys[i], query);
		long code = request(k, "PUT", path, vals[i]);

		ok[i] = code == 200 || code == 204;
		errs += !ok[i];
		free(path);
	}
	return errs;
}

/* One GET of key with query: DB_KV_* (200 with val: present). */
static uint8_t read_one(struct riak_kv_client *k, const char *key, const char *val,
			const char *query)
{
	char *path = key_path(k, key, query);
	long code = request(k, "GET", path, NULL);

	free(path);
	if (code == 200)
		return k->body.len == strlen(val) && !memcmp(k->body.data, val, k->body.len)
			       ? DB_KV_PRESENT
			       : DB_KV_OTHER;
	if (code == 300)
		return DB_KV_OTHER;
	return code == 404 ? DB_KV_ABSENT : DB_KV_ERROR;
}

int riak_kv_read(struct db_kv *kv, const char *const *keys, const char *const *vals, size_t n,
		 uint8_t *got)
{
	struct riak_kv_client *k = (struct riak_kv_client *)kv;
	int errs = 0;

	for (size_t i = 0; i < n; i++) {
		got[i] = read_one(k, keys[i], vals[i], READ_QUORUM);
		/* absent at a quorum (404, or 503 "R-value unsatisfied: 1/2"
		 * when the replica that has it answered before the second
		 * notfound): is it on any replica? */
		if (got[i] == DB_KV_ABSENT ||
		    (got[i] == DB_KV_ERROR && k->body.len >= sizeof R_UNSATISFIED - 1 &&
		     !memcmp(k->body.data, R_UNSATISFIED, sizeof R_UNSATISFIED - 1))) {
			uint8_t any = read_one(k, keys[i], vals[i], READ_ANY);

			got[i] = any == DB_KV_PRESENT ? DB_KV_PRESENT_FEW : any;
		}
		errs += got[i] == DB_KV_ERROR;
	}
	return errs;
}
