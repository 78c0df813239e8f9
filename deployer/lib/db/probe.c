/* probe.c - protocol probes as non-blocking step machines; see probe.h.
 *
 * tcp, redis and cql share one socket engine: non-blocking connect (connect
 * timeout), write the request bytes, read until the backend's parser says the
 * reply is complete (read timeout).  http is driven by libcurl's multi
 * interface, whose socket and timer callbacks tell us what to wait for. */
#include "probe.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resp.h"
#include "util.h"

#define PROBE_REPLY_MAX (64u << 10) /* a probe never needs more */
#define HTTP_BODY_MAX 4096

const char *probe_result_name(enum probe_result r)
{
	switch (r) {
	case PROBE_PENDING: return "pending";
	case PROBE_OK: return "ok";
	case PROBE_REFUSED: return "refused";
	case PROBE_TIMEOUT: return "timeout";
	case PROBE_LOADING: return "loading";
	case PROBE_AUTH: return "auth";
	case PROBE_CLUSTER_DOWN: return "cluster-down";
	case PROBE_BAD_REPLY: return "bad-reply";
	case PROBE_ERROR: return "error";
	}
	return "?";
}

enum phase { PH_CONNECT, PH_WRITE, PH_READ, PH_DONE };

struct probe;

/* One backend.  request() fills p->out once connected; parse() looks at
 * p->in after each read and returns PROBE_PENDING until the reply is whole. */
struct probe_ops {
	void (*request)(struct probe *p);
	enum probe_result (*parse)(struct probe *p);
};

struct probe {
	struct probe_target t;
	const struct probe_ops *ops;
	struct probe_report rep;
	enum phase phase;
	int fd;
	int64_t started, deadline;
	struct buf out, in;
	size_t out_off;
	redisReader *reader;  /* redis */
	int replies;          /* redis: replies parsed so far */
	size_t in_total;      /* bytes received in all (the cap counts these:
			       * the RESP reader keeps what in gave it) */
	/* http */
	CURLM *multi;
	CURL *easy;
	curl_socket_t csock;
	int cwhat;
	long ctimer;
	struct buf body;
	/* redis on a kept connection (probe_conn) */
	struct probe_conn *conn;
	bool reused;          /* fd came from conn: AUTH was sent before */
};

struct probe_conn {
	int fd;               /* connected and authenticated, idle; -1: none */
};

static enum probe_result finish(struct probe *p, enum probe_result r,
				const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum probe_result finish(struct probe *p, enum probe_result r,
				const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->rep.detail, sizeof p->rep.detail, fmt, ap);
	va_end(ap);
	p->rep.result = r;
	p->rep.elapsed_ms = now_ms() - p->started;
	p->phase = PH_DONE;
	/* a clean PONG leaves the connection idle with nothing unread: keep it
	 * for the next probe; anything else closes it (the next reconnects) */
	if (p->fd >= 0 && p->conn && p->conn->fd < 0 && r == PROBE_OK && p->reader &&
	    p->reader->pos >= p->reader->len && !p->in.len) {
		p->conn->fd = p->fd;
		p->fd = -1;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	return r;
}

/* ---- tcp ------------------------------------------------------------------ */

static const struct probe_ops tcp_ops = {0};

/* ---- redis ------------------------------------------------------------------
 * Commands are encoded by hiredis (redisFormatCommand) and replies parsed by
 * its reader: AUTH (when a password is set), PING, CLUSTER INFO (cluster). */

static void redis_append(struct probe *p, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(&p->out, cmd, (size_t)n);
	redisFreeCommand(cmd);
}

static void redis_request(struct probe *p)
{
	if (!p->reused && p->t.password && *p->t.password)
		redis_append(p, "AUTH %s", p->t.password);
	redis_append(p, "PING");
	if (p->t.cluster)
		redis_append(p, "CLUSTER INFO");
}

static int info_field(const char *text, const char *key)
{
	const char *q = strstr(text, key);

	if (!q)
		return -1;
	return atoi(q + strlen(key));
}

static enum probe_result redis_reply(struct probe *p, redisReply *r, int which)
{
	/* which: 0 AUTH, 1 PING, 2 CLUSTER INFO */
	if (which == 0) {
		if (r->type == REDIS_REPLY_ERROR)
			return finish(p, PROBE_AUTH, "AUTH: %.200s", r->str);
		return PROBE_PENDING;
	}
	if (which == 1) {
		if (r->type == REDIS_REPLY_ERROR) {
			if (!strncmp(r->str, "LOADING", 7))
				return finish(p, PROBE_LOADING, "%.200s", r->str);
			if (!strncmp(r->str, "NOAUTH", 6) || !strncmp(r->str, "WRONGPASS", 9))
				return finish(p, PROBE_AUTH, "%.200s", r->str);
			return finish(p, PROBE_BAD_REPLY, "PING: %.200s", r->str);
		}
		if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG"))
			return finish(p, PROBE_BAD_REPLY, "PING answered %.200s",
				      r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING
					      ? r->str : "a non-string");
		if (!p->t.cluster)
			return finish(p, PROBE_OK, "PONG");
		return PROBE_PENDING;
	}
	if (r->type != REDIS_REPLY_STRING) {
		if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "LOADING", 7))
			return finish(p, PROBE_LOADING, "%.200s", r->str);
		return finish(p, PROBE_BAD_REPLY, "CLUSTER INFO: %.200s",
			      r->type == REDIS_REPLY_ERROR ? r->str : "not a string");
	}
	p->rep.slots_assigned = info_field(r->str, "cluster_slots_assigned:");
	p->rep.slots_ok = info_field(r->str, "cluster_slots_ok:");
	p->rep.known_nodes = info_field(r->str, "cluster_known_nodes:");
	p->rep.cluster_size = info_field(r->str, "cluster_size:");
	if (!strstr(r->str, "cluster_state:ok"))
		return finish(p, PROBE_CLUSTER_DOWN,
			      "cluster_state:%s, slots assigned %d ok %d",
			      strstr(r->str, "cluster_state:") ? "fail" : "missing",
			      p->rep.slots_assigned, p->rep.slots_ok);
	return finish(p, PROBE_OK, "cluster_state:ok, slots ok %d, nodes %d",
		      p->rep.slots_ok, p->rep.known_nodes);
}

static enum probe_result redis_parse(struct probe *p)
{
	if (!p->reader) {
		p->reader = redisReaderCreate();
		resp_reader_bound(p->reader);
	}
	if (p->in.len && redisReaderFeed(p->reader, p->in.data, p->in.len) != REDIS_OK)
		return finish(p, PROBE_BAD_REPLY, "RESP: %s", p->reader->errstr);
	buf_reset(&p->in);
	for (;;) {
		void *reply = NULL;
		enum probe_result res;

		if (redisReaderGetReply(p->reader, &reply) != REDIS_OK)
			return finish(p, PROBE_BAD_REPLY, "RESP: %s", p->reader->errstr);
		if (!reply)
			return PROBE_PENDING;
		int which = p->replies++ +
			    (!p->reused && p->t.password && *p->t.password ? 0 : 1);
		res = redis_reply(p, reply, which);
		freeReplyObject(reply);
		if (res != PROBE_PENDING)
			return res;
	}
}

static const struct probe_ops redis_ops = {redis_request, redis_parse};

/* ---- cql ---------------------------------------------------------------------
 * Native protocol v4 (CASSANDRA native_protocol_v4.spec): a 9-byte header
 * (version, flags, stream[2], opcode, length[4], big endian) and a body.
 * OPTIONS (0x05) with an empty body must be answered by SUPPORTED (0x06),
 * whose body is a [string multimap]. */

#define CQL_V4_REQUEST 0x04
#define CQL_V4_RESPONSE 0x84
#define CQL_OP_ERROR 0x00
#define CQL_OP_OPTIONS 0x05
#define CQL_OP_SUPPORTED 0x06

static void cql_request(struct probe *p)
{
	static const unsigned char options[9] = {CQL_V4_REQUEST, 0, 0, 0, CQL_OP_OPTIONS,
						 0, 0, 0, 0};

	buf_append(&p->out, options, sizeof options);
}

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint16_t be16(const unsigned char *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Append "KEY=v1/v2" for each entry of a [string multimap] to detail. */
static bool cql_multimap(const unsigned char *b, size_t n, struct buf *out)
{
	size_t off = 2;

	if (n < 2)
		return false;
	for (uint16_t k = 0, nk = be16(b); k < nk; k++) {
		uint16_t len, nv;

		if (off + 2 > n || off + 2 + (len = be16(b + off)) > n)
			return false;
		buf_printf(out, "%s%.*s=", out->len ? " " : "", (int)len, (const char *)b + off + 2);
		off += 2 + len;
		if (off + 2 > n)
			return false;
		nv = be16(b + off);
		off += 2;
		for (uint16_t v = 0; v < nv; v++) {
			if (off + 2 > n || off + 2 + (len = be16(b + off)) > n)
				return false;
			buf_printf(out, "%s%.*s", v ? "/" : "", (int)len, (const char *)b + off + 2);
			off += 2 + len;
		}
	}
	return off == n;
}

static enum probe_result cql_parse(struct probe *p)
{
	const unsigned char *b = (const unsigned char *)p->in.data;
	uint32_t len;

	if (p->in.len < 9)
		return PROBE_PENDING;
	if (b[0] != CQL_V4_RESPONSE)
		return finish(p, PROBE_BAD_REPLY, "not a v4 response frame (version byte 0x%02x)", b[0]);
	if (be16(b + 2) != 0)
		return finish(p, PROBE_BAD_REPLY, "reply on stream %u, sent 0", be16(b + 2));
	len = be32(b + 5);
	if (len > PROBE_REPLY_MAX - 9)
		return finish(p, PROBE_BAD_REPLY, "reply body of %u bytes is too large", len);
	if (p->in.len < 9 + (size_t)len)
		return PROBE_PENDING;
	if (p->in.len > 9 + (size_t)len)
		return finish(p, PROBE_BAD_REPLY, "trailing bytes after the reply frame");
	if (b[4] == CQL_OP_ERROR) {
		int n = len >= 6 ? be16(b + 13) : 0;

		if (len < 6 || (size_t)n + 6 > len)
			return finish(p, PROBE_BAD_REPLY, "malformed ERROR frame");
		return finish(p, PROBE_BAD_REPLY, "ERROR 0x%04x: %.*s", be32(b + 9), n,
			      (const char *)b + 15);
	}
	if (b[4] != CQL_OP_SUPPORTED)
		return finish(p, PROBE_BAD_REPLY, "opcode 0x%02x, expected SUPPORTED", b[4]);
	struct buf d = {0};
	bool ok = cql_multimap(b + 9, len, &d);
	enum probe_result r = ok ? finish(p, PROBE_OK, "SUPPORTED %s", d.data ? d.data : "")
				 : finish(p, PROBE_BAD_REPLY, "malformed SUPPORTED body");
	buf_free(&d);
	return r;
}

static const struct probe_ops cql_ops = {cql_request, cql_parse};

/* ---- socket engine --------------------------------------------------------------- */

static int connect_timeout(const struct probe *p)
{
	return p->t.connect_timeout_ms > 0 ? p->t.connect_timeout_ms : 1000;
}

static int read_timeout(const struct probe *p)
{
	return p->t.read_timeout_ms > 0 ? p->t.read_timeout_ms : 1000;
}

static void sock_start(struct probe *p)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];
	int rc;

	snprintf(port, sizeof port, "%d", p->t.port);
	p->deadline = now_ms() + connect_timeout(p);
	rc = getaddrinfo(p->t.host, port, &hints, &ai);
	if (rc) {
		finish(p, PROBE_ERROR, "resolve %s: %s", p->t.host, gai_strerror(rc));
		return;
	}
	p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		finish(p, PROBE_ERROR, "socket: %s", strerror(errno));
		freeaddrinfo(ai);
		return;
	}
	int one = 1;
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	rc = connect(p->fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0 && errno != EINPROGRESS) {
		int err = errno;

		finish(p, err == ECONNREFUSED || err == ENETUNREACH || err == EHOSTUNREACH
				  ? PROBE_REFUSED : PROBE_ERROR,
		       "connect %s:%d: %s", p->t.host, p->t.port, strerror(err));
		return;
	}
	p->phase = PH_CONNECT;
}

static enum probe_result sock_connected(struct probe *p)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return finish(p, err == ECONNREFUSED || err == ENETUNREACH || err == EHOSTUNREACH
					 ? PROBE_REFUSED : PROBE_ERROR,
			      "connect %s:%d: %s", p->t.host, p->t.port, strerror(err));
	if (!p->ops->request)
		return finish(p, PROBE_OK, "connected");
	p->ops->request(p);
	p->phase = PH_WRITE;
	p->deadline = now_ms() + read_timeout(p);
	return PROBE_PENDING;
}

/* Probe on the kept connection: it must be idle, nothing to read (readable
 * means the peer closed it or sent something unasked: then a new one, with
 * AUTH); only PING (and CLUSTER INFO) are sent, under the read timeout. */
static void sock_resume(struct probe *p)
{
	struct pollfd pfd = {.fd = p->conn->fd, .events = POLLIN};

	p->fd = p->conn->fd;
	p->conn->fd = -1;
	if (poll(&pfd, 1, 0) != 0) {
		close(p->fd);
		p->fd = -1;
		sock_start(p);
		return;
	}
	p->reused = true;
	p->ops->request(p);
	p->phase = PH_WRITE;
	p->deadline = now_ms() + read_timeout(p);
}

/* The kept connection broke before a byte of the reply came (the node
 * exited or restarted, the server dropped idle clients): start over on a
 * new connection, so the result is what a probe without a kept connection
 * would have seen (refused when the node is gone). */
static enum probe_result sock_reconnect(struct probe *p)
{
	close(p->fd);
	p->fd = -1;
	p->reused = false;
	buf_reset(&p->out);
	p->out_off = 0;
	if (p->reader) {
		redisReaderFree(p->reader);
		p->reader = NULL;
	}
	p->replies = 0;
	sock_start(p);
	return p->phase == PH_DONE ? p->rep.result : PROBE_PENDING;
}

static enum probe_result sock_step(struct probe *p, short revents)
{
	if (p->phase == PH_CONNECT)
		return revents ? sock_connected(p) : PROBE_PENDING;
	if (p->phase == PH_WRITE && (revents & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = send(p->fd, p->out.data + p->out_off, p->out.len - p->out_off,
				 MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return p->reused ? sock_reconnect(p)
					 : finish(p, PROBE_ERROR, "send: %s", strerror(errno));
		if (n > 0)
			p->out_off += (size_t)n;
		if (p->out_off == p->out.len)
			p->phase = PH_READ;
		return PROBE_PENDING;
	}
	if (p->phase == PH_READ && revents) {
		char tmp[4096];
		ssize_t n = recv(p->fd, tmp, sizeof tmp, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return PROBE_PENDING;
		if (n <= 0 && p->reused && !p->in_total)
			return sock_reconnect(p);
		if (n < 0)
			return finish(p, PROBE_ERROR, "recv: %s", strerror(errno));
		if (n == 0)
			return finish(p, PROBE_BAD_REPLY, "connection closed before a full reply");
		p->in_total += (size_t)n;
		if (p->in.len + (size_t)n > PROBE_REPLY_MAX || p->in_total > PROBE_REPLY_MAX)
			return finish(p, PROBE_BAD_REPLY, "reply larger than %u bytes",
				      PROBE_REPLY_MAX);
		buf_append(&p->in, tmp, (size_t)n);
		return p->ops->parse(p);
	}
	return PROBE_PENDING;
}

/* ---- http (libcurl multi) ------------------------------------------------------ */

static int curl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct probe *p = userp;

	(void)easy;
	(void)sockp;
	p->csock = what == CURL_POLL_REMOVE ? CURL_SOCKET_BAD : s;
	p->cwhat = what == CURL_POLL_REMOVE ? 0 : what;
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct probe *p = userp;

	(void)multi;
	p->ctimer = timeout_ms;
	return 0;
}

static size_t curl_body_cb(char *data, size_t size, size_t n, void *userp)
{
	struct probe *p = userp;
	size_t len = size * n;

	if (p->body.len + len > HTTP_BODY_MAX)
		return 0; /* aborts the transfer: a /ping body is tiny */
	buf_append(&p->body, data, len);
	return len;
}

static enum probe_result http_done(struct probe *p, CURLcode cc)
{
	long code = 0;

	if (cc == CURLE_COULDNT_CONNECT)
		return finish(p, PROBE_REFUSED, "connect %s:%d: refused", p->t.host, p->t.port);
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return finish(p, PROBE_TIMEOUT, "%s", curl_easy_strerror(cc));
	if (cc != CURLE_OK)
		return finish(p, PROBE_BAD_REPLY, "%s", curl_easy_strerror(cc));
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return finish(p, PROBE_BAD_REPLY, "HTTP %ld", code);
	if (p->t.expect) {
		size_t n = p->body.len;

		while (n && (p->body.data[n - 1] == '\n' || p->body.data[n - 1] == '\r' ||
			     p->body.data[n - 1] == ' '))
			n--;
		if (n != strlen(p->t.expect) || (n && memcmp(p->body.data, p->t.expect, n)))
			return finish(p, PROBE_BAD_REPLY, "HTTP 200 with body '%.*s', expected '%s'",
				      (int)(n > 64 ? 64 : n), p->body.data ? p->body.data : "",
				      p->t.expect);
	}
	return finish(p, PROBE_OK, "HTTP 200");
}

static enum probe_result http_action(struct probe *p, curl_socket_t s, int ev)
{
	int running = 0;
	CURLMsg *m;
	int left;

	curl_multi_socket_action(p->multi, s, ev, &running);
	while ((m = curl_multi_info_read(p->multi, &left)))
		if (m->msg == CURLMSG_DONE)
			return http_done(p, m->data.result);
	return PROBE_PENDING;
}

static void http_start(struct probe *p)
{
	char *url;
	const char *host = p->t.host;
	bool v6 = strchr(host, ':') != NULL;

	url = xasprintf("http://%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "", p->t.port,
			p->t.path ? p->t.path : "/");
	p->csock = CURL_SOCKET_BAD;
	p->ctimer = -1;
	p->multi = curl_multi_init();
	p->easy = curl_easy_init();
	if (!p->multi || !p->easy) {
		free(url);
		finish(p, PROBE_ERROR, "libcurl init failed");
		return;
	}
	curl_easy_setopt(p->easy, CURLOPT_URL, url);
	curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout(p));
	curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS,
			 (long)connect_timeout(p) + (long)read_timeout(p));
	curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, curl_body_cb);
	curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	curl_multi_add_handle(p->multi, p->easy);
	free(url);
	p->deadline = p->started + connect_timeout(p) + read_timeout(p) + 100;
	p->phase = PH_READ;
	http_action(p, CURL_SOCKET_TIMEOUT, 0);
}

static enum probe_result http_step(struct probe *p, short revents)
{
	int ev = 0;

	if (p->csock == CURL_SOCKET_BAD || !revents)
		return http_action(p, CURL_SOCKET_TIMEOUT, 0);
	if (revents & POLLIN)
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLHUP))
		ev |= CURL_CSELECT_ERR;
	return http_action(p, p->csock, ev);
}

/* ---- public API ------------------------------------------------------------------- */

struct probe *probe_start(const struct probe_target *t, struct err *e)
{
	struct probe *p;

	if (!t->host || !*t->host) {
		err_usage(e, "probe: no host");
		return NULL;
	}
	if (t->port <= 0 || t->port > 65535) {
		err_usage(e, "probe %s: port %d out of range", t->host, t->port);
		return NULL;
	}
	if (t->kind == PROBE_HTTP && t->path &&
	    (t->path[0] != '/' || strpbrk(t->path, " \r\n\t"))) {
		err_usage(e, "probe %s: bad http path '%s'", t->host, t->path);
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->t = *t;
	p->fd = -1;
	p->started = now_ms();
	switch (t->kind) {
	case PROBE_TCP: p->ops = &tcp_ops; break;
	case PROBE_REDIS:
		p->ops = &redis_ops;
		p->conn = t->conn;
		if (p->conn && p->conn->fd >= 0) {
			sock_resume(p);
			return p;
		}
		break;
	case PROBE_CQL: p->ops = &cql_ops; break;
	case PROBE_HTTP:
		http_start(p);
		return p;
	default:
		free(p);
		err_usage(e, "probe: unknown kind %d", (int)t->kind);
		return NULL;
	}
	sock_start(p);
	return p;
}

int probe_fd(const struct probe *p)
{
	if (p->phase == PH_DONE)
		return -1;
	if (p->t.kind == PROBE_HTTP)
		return p->csock == CURL_SOCKET_BAD ? -1 : p->csock;
	return p->fd;
}

short probe_events(const struct probe *p)
{
	if (p->phase == PH_DONE)
		return 0;
	if (p->t.kind == PROBE_HTTP) {
		short ev = 0;

		if (p->cwhat & CURL_POLL_IN)
			ev |= POLLIN;
		if (p->cwhat & CURL_POLL_OUT)
			ev |= POLLOUT;
		return ev;
	}
	return p->phase == PH_READ ? POLLIN : POLLOUT;
}

int probe_timeout_ms(const struct probe *p)
{
	int64_t left = p->deadline - now_ms();

	if (p->phase == PH_DONE || left < 0)
		left = 0;
	if (p->t.kind == PROBE_HTTP && p->ctimer >= 0 && p->ctimer < left)
		left = p->ctimer;
	return (int)left;
}

enum probe_result probe_step(struct probe *p)
{
	struct pollfd pfd = {.fd = probe_fd(p), .events = probe_events(p)};
	enum probe_result r;

	if (p->phase == PH_DONE)
		return p->rep.result;
	/* see what is really ready: callers may wake us for a timeout */
	if (pfd.fd >= 0 && poll(&pfd, 1, 0) < 0)
		pfd.revents = 0;
	if (pfd.fd < 0)
		pfd.revents = 0;
	r = p->t.kind == PROBE_HTTP ? http_step(p, pfd.revents) : sock_step(p, pfd.revents);
	if (r == PROBE_PENDING && now_ms() >= p->deadline)
		return finish(p, PROBE_TIMEOUT, "%s %s:%d: no %s within %d ms",
			      probe_kind_name(p->t.kind), p->t.host, p->t.port,
			      p->phase == PH_CONNECT ? "connection" : "reply",
			      p->phase == PH_CONNECT ? connect_timeout(p) : read_timeout(p));
	return r;
}

const struct probe_report *probe_report(const struct probe *p)
{
	return &p->rep;
}

void probe_free(struct probe *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->reader)
		redisReaderFree(p->reader);
	if (p->easy) {
		if (p->multi)
			curl_multi_remove_handle(p->multi, p->easy);
		curl_easy_cleanup(p->easy);
	}
	if (p->multi)
		curl_multi_cleanup(p->multi);
	buf_free(&p->out);
	buf_free(&p->in);
	buf_free(&p->body);
	free(p);
}

int probe_run(const struct probe_target *t, struct probe_report *r, struct err *e)
{
	struct probe *p = probe_start(t, e);
	enum probe_result res;

	if (!p)
		return -1;
	while ((res = probe_step(p)) == PROBE_PENDING) {
		struct pollfd pfd = {.fd = probe_fd(p), .events = probe_events(p)};
		int ms = probe_timeout_ms(p);

		if (pfd.fd >= 0)
			poll(&pfd, 1, ms);
		else if (ms > 0)
			poll(NULL, 0, ms > 10 ? 10 : ms);
	}
	*r = *probe_report(p);
	probe_free(p);
	return 0;
}

struct probe_conn *probe_conn_new(void)
{
	struct probe_conn *c = xcalloc(1, sizeof *c);

	c->fd = -1;
	return c;
}

void probe_conn_close(struct probe_conn *c)
{
	if (c && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

void probe_conn_free(struct probe_conn *c)
{
	probe_conn_close(c);
	free(c);
}

/* ---- libevent --------------------------------------------------------------------- */

struct probe_event {
	struct event_base *base;
	struct event *ev;
	struct probe *p;
	probe_done_fn done;
	void *arg;
};

static void probe_event_cb(evutil_socket_t fd, short what, void *arg);

/* Wait for what the probe needs next: its descriptor (when it has one) with
 * a timeout, or the timeout alone. */
static void probe_event_arm(struct probe_event *pe)
{
	int ms = probe_timeout_ms(pe->p);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	int fd = probe_fd(pe->p);
	short ev = 0, pev = probe_events(pe->p);

	if (pev & POLLIN)
		ev |= EV_READ;
	if (pev & POLLOUT)
		ev |= EV_WRITE;
	if (pe->ev)
		event_free(pe->ev);
	pe->ev = event_new(pe->base, fd >= 0 && ev ? fd : -1, fd >= 0 ? ev : 0,
			   probe_event_cb, pe);
	event_add(pe->ev, &tv);
}

static void probe_event_finish(struct probe_event *pe)
{
	pe->done(probe_report(pe->p), pe->arg);
	probe_event_cancel(pe);
}

static void probe_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_event *pe = arg;

	(void)fd;
	(void)what;
	if (probe_step(pe->p) == PROBE_PENDING)
		probe_event_arm(pe);
	else
		probe_event_finish(pe);
}

struct probe_event *probe_event_start(struct event_base *base,
				      const struct probe_target *t, probe_done_fn done,
				      void *arg, struct err *e)
{
	struct probe *p = probe_start(t, e);
	struct probe_event *pe;

	if (!p)
		return NULL;
	pe = xcalloc(1, sizeof *pe);
	pe->base = base;
	pe->p = p;
	pe->done = done;
	pe->arg = arg;
	/* a probe that failed at once (refused, resolve) finishes on the next
	 * loop turn, never inside this call */
	probe_event_arm(pe);
	return pe;
}

void probe_event_cancel(struct probe_event *pe)
{
	if (!pe)
		return;
	if (pe->ev)
		event_free(pe->ev);
	probe_free(pe->p);
	free(pe);
}
