/* state_migrate.c - move a cluster's state and events between stores and
 * prove the copy byte for byte; see state_migrate() in state.h. */
#include "state_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "digest.h"

static size_t count_lines(const struct buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

int state_migrate(const struct spec_state *from, const struct spec_state *to,
		  const char *cluster, bool replace, const char *command,
		  struct state_migrate_report *r, struct err *e)
{
	_cleanup_free_ char *text_from = NULL, *where_from = NULL, *canon = NULL;
	_cleanup_free_ char *old = NULL, *old_where = NULL, *back = NULL, *back_where = NULL;
	struct state_lock *lfrom = NULL, *lto = NULL;
	struct buf events = {0}, events_back = {0};
	struct state *st = NULL;
	size_t len, old_len, back_len;
	int64_t rev, old_rev, new_rev, back_rev;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (from->backend == to->backend)
		return err_usage(e, "cluster '%s': the state is already in the %s store", cluster,
				 state_backend_name(to->backend));
	if (state_lock_at(from, cluster, command, &lfrom, NULL, NULL, e) < 0 ||
	    state_lock_at(to, cluster, command, &lto, NULL, NULL, e) < 0)
		goto out;
	if (state_read_text(from, cluster, &text_from, &len, &rev, &where_from, e) < 0)
		goto out;
	if (!text_from) {
		err_set(e, ENOENT, "cluster '%s': no state in %s to migrate", cluster, where_from);
		goto out;
	}
	if (strlen(text_from) != len) {
		err_usage(e, "%s: holds a NUL byte", where_from);
		goto out;
	}
	if (state_from_json(text_from, where_from, &st, e) < 0)
		goto out;
	if (strcmp(st->cluster, cluster)) {
		err_usage(e, "%s: records cluster '%s', expected '%s'", where_from, st->cluster,
			  cluster);
		goto out;
	}
	if (st->nsecrets && !lto->store_secrets) {
		err_usage(e, "cluster '%s': the state holds generated secrets; the %s store keeps them "
			     "only with state.store_secrets = true in the spec (docs/ha.md)",
			  cluster, lto->ops->name);
		goto out;
	}
	/* The canonical form is what shoal itself writes; a state written by an
	 * older shoal (a missing optional key) is moved in that form. */
	canon = state_to_json(st);
	r->canonical_source = !strcmp(canon, text_from);
	if (state_read_text(to, cluster, &old, &old_len, &old_rev, &old_where, e) < 0)
		goto out;
	if (old && strcmp(old, canon) && !replace) {
		err_set(e, EEXIST,
			"cluster '%s': %s already holds another state; use --replace to overwrite it "
			"with the one in %s",
			cluster, old_where, where_from);
		goto out;
	}
	if (state_events_read(from, cluster, &events, e) < 0)
		goto out;
	if (lto->ops->write(lto, canon, strlen(canon), old_rev, &new_rev, e) < 0 ||
	    lto->ops->events_replace(lto, events.data ? events.data : "", events.len, e) < 0)
		goto out;
	/* read both back and compare byte for byte */
	if (state_read_text(to, cluster, &back, &back_len, &back_rev, &back_where, e) < 0 ||
	    state_events_read(to, cluster, &events_back, e) < 0)
		goto out;
	if (!back || back_len != strlen(canon) || memcmp(back, canon, back_len)) {
		err_set(e, EIO, "cluster '%s': %s reads back different bytes than were written",
			cluster, back_where);
		goto out;
	}
	if (events_back.len != events.len ||
	    (events.len && memcmp(events_back.data, events.data, events.len))) {
		err_set(e, EIO, "cluster '%s': the events read back from the %s store differ from "
			       "those written (%zu bytes, wrote %zu)",
			cluster, lto->ops->name, events_back.len, events.len);
		goto out;
	}
	r->serial = st->serial;
	r->nodes = st->n;
	r->state_bytes = back_len;
	digest_buf(back, back_len, r->state_digest);
	r->events = count_lines(&events);
	r->events_bytes = events.len;
	r->replaced = old != NULL && strcmp(old, canon);
	snprintf(r->from, sizeof r->from, "%s", where_from);
	snprintf(r->to, sizeof r->to, "%s", back_where);
	rc = 0;
out:
	buf_free(&events);
	buf_free(&events_back);
	state_free(st);
	state_unlock(lto);
	state_unlock(lfrom);
	return rc;
}
