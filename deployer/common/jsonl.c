/* jsonl.c - JSON lines framing (see jsonl.h). */
#include <errno.h>
#include <string.h>

#include "jsonl.h"

void jsonl_reader_init(struct jsonl_reader *r, size_t max)
{
	memset(r, 0, sizeof *r);
	r->max = max;
}

void jsonl_reader_free(struct jsonl_reader *r)
{
	buf_free(&r->pending);
	free(r->drops);
	r->drops = NULL;
	r->n_drops = r->cap_drops = 0;
}

void jsonl_feed(struct jsonl_reader *r, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		const char *nl = memchr(s, '\n', n);
		size_t take = nl ? (size_t)(nl - s) + 1 : n;

		if (r->discarding) {
			r->discarding = !nl;
		} else if (r->partial + take - (nl ? 1 : 0) > r->max) {
			/* Drop the line so far; mark where it stood. */
			r->pending.len -= r->partial;
			if (r->pending.data)
				r->pending.data[r->pending.len] = '\0';
			r->partial = 0;
			r->discarding = !nl;
			r->drops = xgrow(r->drops, &r->cap_drops, r->n_drops + 1,
					 sizeof *r->drops);
			r->drops[r->n_drops++] = r->pending.len;
		} else {
			buf_append(&r->pending, s, take);
			r->partial = nl ? 0 : r->partial + take;
		}
		s += take;
		n -= take;
	}
}

/* Remove the first n bytes of pending; drop marks move with the rest. */
static void consume(struct jsonl_reader *r, size_t n)
{
	memmove(r->pending.data, r->pending.data + n, r->pending.len - n);
	r->pending.len -= n;
	r->pending.data[r->pending.len] = '\0';
	for (size_t i = 0; i < r->n_drops; i++)
		r->drops[i] -= n;
}

int jsonl_next(struct jsonl_reader *r, char **line, struct err *e)
{
	char *nl;
	size_t len;

	*line = NULL;
	if (r->n_drops && r->drops[0] == 0) {
		memmove(r->drops, r->drops + 1, --r->n_drops * sizeof *r->drops);
		return err_set(e, EMSGSIZE, "line longer than %zu bytes dropped",
			       r->max);
	}
	nl = r->pending.len ? memchr(r->pending.data, '\n', r->pending.len) : NULL;
	if (!nl)
		return 0;
	len = (size_t)(nl - r->pending.data);
	*line = xstrndup(r->pending.data, len);
	consume(r, len + 1);
	return 1;
}

size_t jsonl_pending(const struct jsonl_reader *r)
{
	return r->pending.len;
}

json_t *jsonl_parse(const char *line, struct err *e)
{
	json_error_t je;
	json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &je);

	if (!v) {
		err_from_json(e, &je, "bad JSON line");
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		err_set(e, EINVAL, "bad JSON line: not an object");
		return NULL;
	}
	return v;
}

int jsonl_encode(const json_t *v, struct buf *out, struct err *e)
{
	char *s = json_dumps(v, JSON_COMPACT);

	if (!s)
		return err_set(e, EINVAL, "cannot encode JSON value");
	buf_puts(out, s);
	buf_append(out, "\n", 1);
	free(s);
	return 0;
}

json_t *jsonl_text(const char *p, size_t n)
{
	json_t *s = json_stringn(p, n);
	char *copy;

	if (s)
		return s;
	copy = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		copy[i] = (c >= 0x80 || c == 0) ? '?' : (char)c;
	}
	s = json_stringn(copy, n);
	free(copy);
	return s ? s : json_string("");
}
