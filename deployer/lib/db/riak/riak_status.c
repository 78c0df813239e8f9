/* riak_status.c - `riak admin` output read into structs (riak_int.h).
 *
 * member-status, as riak_core_console:print_member_status/2 prints it:
 *
 *   ================================= Membership ==================================
 *   Status     Ring    Pending    Node
 *   -------------------------------------------------------------------------------
 *   valid      34.4%      --      riak@10.213.0.11
 *   joining     0.0%    20.0%     riak@10.213.0.12
 *   -------------------------------------------------------------------------------
 *   Valid:1 / Leaving:0 / Exiting:0 / Joining:1 / Down:0
 *
 * (a node with a location shows "riak@... (rack1)"). */
#include "riak_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const status_names[RIAK_STATUS_COUNT] = {
	[RIAK_JOINING] = "joining", [RIAK_VALID] = "valid",  [RIAK_LEAVING] = "leaving",
	[RIAK_EXITING] = "exiting", [RIAK_DOWN] = "down",
};

const char *riak_status_name(enum riak_status s)
{
	return s < RIAK_STATUS_COUNT ? status_names[s] : "?";
}

static int status_parse(const char *s)
{
	for (int i = 0; i < RIAK_STATUS_COUNT; i++)
		if (!strcmp(status_names[i], s))
			return i;
	return -1;
}

void riak_first_line(const char *text, char *buf, size_t len)
{
	const char *p = text ? text : "";
	size_t n;

	while (*p == '\n' || *p == '\r' || *p == ' ')
		p++;
	n = strcspn(p, "\r\n");
	if (!*p)
		p = "(no output)", n = strlen(p);
	snprintf(buf, len, "%.*s", (int)n, p);
}

void riak_ring_free(struct riak_ring *r)
{
	if (!r)
		return;
	free(r->m);
	*r = (struct riak_ring){0};
}

/* A percentage "34.4%" into *v; false when s is not one. */
static bool percent(const char *s, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return end != s && end[0] == '%' && end[1] == '\0' && *v >= 0 && *v <= 100;
}

static bool dashes(const char *line)
{
	return strlen(line) >= 10 && strspn(line, "-") == strlen(line);
}

/* One table row into m; false when it is not one. */
static bool row_parse(const char *line, struct riak_member *m, bool *pending)
{
	char st[16], ring[16], next[16], node[DB_ID_MAX + 1];
	int s;

	if (sscanf(line, "%15s %15s %15s %64s", st, ring, next, node) != 4)
		return false;
	s = status_parse(st);
	if (s < 0 || !percent(ring, &m->ring) || !strchr(node, '@'))
		return false;
	m->status = (enum riak_status)s;
	snprintf(m->node, sizeof m->node, "%s", node);
	if (!strcmp(next, "--")) {
		m->next = m->ring;
		return true;
	}
	*pending = true;
	return percent(next, &m->next);
}

int riak_ring_parse(const char *text, struct riak_ring *out, struct err *e)
{
	char first[160], *copy = xstrdup(text ? text : ""), *save = NULL, *line;
	enum { HEAD, RULE, ROWS, TALLY, DONE } at = HEAD;
	int tally[RIAK_STATUS_COUNT], count[RIAK_STATUS_COUNT] = {0};
	size_t cap = 0;

	*out = (struct riak_ring){0};
	for (line = strtok_r(copy, "\n", &save); line && at != DONE;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);

		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		switch (at) {
		case HEAD:
			if (!strncmp(line, "Status", 6) && strstr(line, "Ring") &&
			    strstr(line, "Pending") && strstr(line, "Node"))
				at = RULE;
			break;
		case RULE:
			if (!dashes(line))
				goto bad;
			at = ROWS;
			break;
		case ROWS:
			if (dashes(line)) {
				at = TALLY;
				break;
			}
			if (out->n == cap) {
				cap = cap ? 2 * cap : 8;
				out->m = xrealloc(out->m, cap * sizeof *out->m);
			}
			if (!row_parse(line, &out->m[out->n], &out->pending))
				goto bad;
			count[out->m[out->n++].status]++;
			break;
		case TALLY:
			if (sscanf(line, "Valid:%d / Leaving:%d / Exiting:%d / Joining:%d / Down:%d",
				   &tally[RIAK_VALID], &tally[RIAK_LEAVING], &tally[RIAK_EXITING],
				   &tally[RIAK_JOINING], &tally[RIAK_DOWN]) != 5)
				goto bad;
			for (int s = 0; s < RIAK_STATUS_COUNT; s++)
				if (tally[s] != count[s])
					goto bad;
			at = DONE;
			break;
		case DONE:
			break;
		}
	}
	if (at != DONE)
		goto bad;
	free(copy);
	return 0;
bad:
	free(copy);
	riak_ring_free(out);
	riak_first_line(text, first, sizeof first);
	return err_set(e, EPROTO, "member-status: not the table Riak prints: %s", first);
}

const struct riak_member *riak_ring_find(const struct riak_ring *r, const char *node)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (!strcmp(r->m[i].node, node))
			return &r->m[i];
	return NULL;
}

bool riak_ring_settled(const struct riak_ring *r)
{
	if (r->pending)
		return false;
	for (size_t i = 0; i < r->n; i++)
		if (r->m[i].status != RIAK_VALID)
			return false;
	return true;
}

bool riak_services_has(const char *text, const char *svc)
{
	size_t n = strlen(svc);

	for (const char *p = text ? strstr(text, svc) : NULL; p; p = strstr(p + 1, svc))
		if (p > text && (p[-1] == '[' || p[-1] == ',') && (p[n] == ']' || p[n] == ','))
			return true;
	return false;
}

bool riak_ring_balanced(const struct riak_ring *r)
{
	for (int size = 8; r->n && size <= 1024; size *= 2) {
		long lo = -1, hi = -1;
		bool whole = true;

		for (size_t i = 0; i < r->n && whole; i++) {
			double parts = r->m[i].ring * size / 100.0;
			long k = (long)(parts + 0.5);
			double off = parts - (double)k;

			/* printed to 0.1 %: 0.05 % of rounding at most */
			whole = (off < 0 ? -off : off) <= 0.051 * size / 100.0;
			lo = lo < 0 || k < lo ? k : lo;
			hi = k > hi ? k : hi;
		}
		if (whole)
			return hi - lo <= 1;
	}
	return false;
}
