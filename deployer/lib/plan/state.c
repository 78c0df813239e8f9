/* state.c - the state (JSON, nodes, secrets), the paths every store takes
 * (load, save, events, lock), and the file store: state.json, events.jsonl
 * and the cluster lock; see state.h, state_int.h and docs/state.md. */
#include "state_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "util.h"

#define STATE_FILE_MAX (64u << 20)
#define LOCK_RECORD_MAX 4096

void state_rfc3339_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int state_dir(const char *cluster, char **out, struct err *e)
{
	const char *root = getenv("SHOAL_STATE_DIR");

	*out = NULL;
	if (name_check(cluster, SPEC_NAME_MAX, "cluster name", e) < 0)
		return -1;
	*out = path_join(root && *root ? root : ".shoal", cluster);
	return 0;
}

/* ---- lock ---------------------------------------------------------------------- */

void state_holder_parse(const char *text, struct lock_holder *h)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	const char *host = "", *user = "", *started = "", *command = "";
	json_int_t pid = 0;

	memset(h, 0, sizeof *h);
	if (!j)
		return;
	if (json_unpack(j, "{s:I, s?:s, s?:s, s?:s, s?:s}", "pid", &pid, "host", &host,
			"user", &user, "started", &started, "command", &command) == 0) {
		h->pid = (long)pid;
		snprintf(h->host, sizeof h->host, "%s", host);
		snprintf(h->user, sizeof h->user, "%s", user);
		snprintf(h->started, sizeof h->started, "%s", started);
		snprintf(h->command, sizeof h->command, "%s", command);
	}
	json_decref(j);
}

static void holder_read_fd(int fd, struct lock_holder *h)
{
	char buf[LOCK_RECORD_MAX + 1];
	ssize_t n = pread(fd, buf, LOCK_RECORD_MAX, 0);

	buf[n > 0 ? n : 0] = '\0';
	state_holder_parse(buf, h);
}

void state_holder_self(const char *command, struct lock_holder *h)
{
	struct passwd *pw = getpwuid(getuid());

	memset(h, 0, sizeof *h);
	h->pid = (long)getpid();
	if (gethostname(h->host, sizeof h->host - 1) < 0)
		snprintf(h->host, sizeof h->host, "unknown");
	snprintf(h->user, sizeof h->user, "%s", pw ? pw->pw_name : "?");
	state_rfc3339_now(h->started);
	snprintf(h->command, sizeof h->command, "%s", command ? command : "shoal");
}

static bool holder_is_here(const struct lock_holder *h)
{
	char me[256] = "";

	gethostname(me, sizeof me - 1);
	return !strcmp(me, h->host);
}

static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

void state_holder_describe(const struct lock_holder *h, struct buf *b)
{
	buf_printf(b, "pid %ld on %s (user %s, since %s, running '%s')", h->pid,
		   h->host[0] ? h->host : "?", h->user[0] ? h->user : "?",
		   h->started[0] ? h->started : "?", h->command[0] ? h->command : "?");
}

char *state_holder_json(const struct lock_holder *h)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s}", "pid", (json_int_t)h->pid, "host",
			      h->host, "user", h->user, "started", h->started, "command",
			      h->command);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return text;
}

static int holder_write(int fd, const struct lock_holder *h, struct err *e)
{
	char *text = state_holder_json(h);
	size_t len = text ? strlen(text) : 0;
	int rc = 0;

	if (!text)
		return err_set(e, EINVAL, "lock record: cannot encode");
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, len, 0) != (ssize_t)len || fsync(fd) < 0)
		rc = err_sys(e, errno, "write lock record");
	free(text);
	return rc;
}

static int lock_open(const char *path, int flags, struct err *e)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return err_sys(e, errno, "open %s", path);
	return fd;
}

/* Does fd still name the file at path?  A forced unlock may have removed it
 * between our open() and flock(). */
static bool still_linked(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Remove "<file>.tmp.<pid>" files that writers killed mid-write left behind
 * (write_file_atomic's temp names).  Only called with the lock held, so no
 * writer is running. */
static void sweep_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".json.tmp.") && de->d_name[0] != '.') {
			char *p = path_join(dir, de->d_name);

			unlink(p);
			free(p);
		}
	closedir(d);
}

/* Lock <state dir>/<file> into l (whose cluster and dir are set); what
 * (NULL: the state lock) names the lock in the refusal. */
static int lock_file(struct state_lock *l, const char *file, const char *what,
		     const char *command, struct lock_holder *stale, bool *was_stale,
		     struct err *e)
{
	const char *cluster = l->cluster, *dir = l->dir;
	_cleanup_free_ char *path = NULL;
	struct lock_holder old, me;

	if (mkdir_p(dir, 0700, e) < 0)
		return err_wrap(e, "state folder");
	path = path_join(dir, file);
	for (int attempt = 0; attempt < 8; attempt++) {
		_cleanup_close_ int fd = lock_open(path, O_RDWR | O_CREAT, e);

		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			struct buf b = {0};

			if (errno != EWOULDBLOCK)
				return err_sys(e, errno, "lock %s", path);
			holder_read_fd(fd, &old);
			state_holder_describe(&old, &b);
			if (what)
				err_set(e, EBUSY, "cluster '%s': %s is held by %s",
					cluster, what, b.data);
			else
				err_set(e, EBUSY,
					"cluster '%s' is locked by %s; wait for it to finish (if it is wedged, or runs on another machine that shares this state folder and is gone: 'shoal unlock --force SPEC')",
					cluster, b.data);
			buf_free(&b);
			return -1;
		}
		if (!still_linked(fd, path))
			continue; /* removed by a forced unlock: lock the new file */
		/* We hold the flock.  A leftover record means its holder died
		 * without unlocking (kill -9, power loss): the kernel dropped
		 * its flock, so the lock is ours; report whom we replaced. */
		holder_read_fd(fd, &old);
		if (old.pid && (old.pid != (long)getpid() || !holder_is_here(&old))) {
			if (stale)
				*stale = old;
			if (was_stale)
				*was_stale = true;
		}
		state_holder_self(command, &me);
		if (holder_write(fd, &me, e) < 0)
			return -1;
		sweep_temp_files(dir);
		l->fd = steal_fd(&fd);
		l->path = steal_pointer(&path);
		return 0;
	}
	return err_set(e, EAGAIN, "lock %s: the lock file keeps being replaced", path);
}

static const struct state_store_ops *store_ops(const struct spec_state *w)
{
	return w && w->backend == STATE_ETCD ? &state_etcd_ops : &state_file_ops;
}

static int file_lock(const struct spec_state *w, struct state_lock *l, const char *command,
		     struct lock_holder *stale, bool *was_stale, struct err *e)
{
	return lock_file(l, "lock", NULL, command, stale, was_stale, e);
}

static void file_unlock(struct state_lock *l)
{
	if (l->fd >= 0) {
		if (ftruncate(l->fd, 0) == 0)
			fsync(l->fd);
		flock(l->fd, LOCK_UN);
		close(l->fd);
		l->fd = -1;
	}
}

/* A lock struct for cluster on ops, not yet locked. */
static int lock_new(const struct spec_state *w, const char *cluster,
		    const struct state_store_ops *ops, struct state_lock **out, struct err *e)
{
	struct state_lock *l;
	char *dir;

	*out = NULL;
	if (state_dir(cluster, &dir, e) < 0)
		return -1;
	l = xcalloc(1, sizeof *l);
	l->ops = ops;
	l->cluster = xstrdup(cluster);
	l->dir = dir;
	l->fd = -1;
	l->store_secrets = ops == &state_file_ops || (w && w->store_secrets);
	*out = l;
	return 0;
}

static void lock_free(struct state_lock *l)
{
	free(l->cluster);
	free(l->dir);
	free(l->path);
	free(l);
}

int state_lock_at(const struct spec_state *w, const char *cluster, const char *command,
		  struct state_lock **out, struct lock_holder *stale, bool *was_stale,
		  struct err *e)
{
	struct state_lock *l;

	*out = NULL;
	if (was_stale)
		*was_stale = false;
	if (lock_new(w, cluster, store_ops(w), &l, e) < 0)
		return -1;
	if (l->ops->lock(w, l, command, stale, was_stale, e) < 0) {
		lock_free(l);
		return -1;
	}
	*out = l;
	return 0;
}

int state_lock(const char *cluster, const char *command, struct state_lock **out,
	       struct lock_holder *stale, bool *was_stale, struct err *e)
{
	return state_lock_at(NULL, cluster, command, out, stale, was_stale, e);
}

int state_lock_named(const char *cluster, const char *file, const char *what,
		     const char *command, struct state_lock **out,
		     struct lock_holder *stale, bool *was_stale, struct err *e)
{
	struct state_lock *l;

	*out = NULL;
	if (was_stale)
		*was_stale = false;
	if (lock_new(NULL, cluster, &state_file_ops, &l, e) < 0)
		return -1;
	if (lock_file(l, file, what, command, stale, was_stale, e) < 0) {
		lock_free(l);
		return -1;
	}
	*out = l;
	return 0;
}

void state_unlock(struct state_lock *l)
{
	if (!l)
		return;
	l->ops->unlock(l);
	lock_free(l);
}

int state_lock_fence(struct state_lock *l, const char *key, int64_t create_rev,
		     const char *what, struct err *e)
{
	return l->ops->fence ? l->ops->fence(l, key, create_rev, what, e) : 0;
}

const char *state_lock_dir(const struct state_lock *l)
{
	return l->dir;
}

/* Open <state dir>/<cluster>/lock (never creating it); *path gets its name.
 * Returns the descriptor, or -1 with errno set (e filled unless ENOENT). */
static int lock_open_existing(const char *cluster, const char *file, int flags,
			      char **path, struct err *e)
{
	_cleanup_free_ char *dir = NULL;
	int fd;

	*path = NULL;
	if (state_dir(cluster, &dir, e) < 0) {
		errno = EINVAL;
		return -1;
	}
	*path = path_join(dir, file);
	fd = open(*path, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT) {
		int saved = errno;

		err_sys(e, saved, "open %s", *path);
		errno = saved;
	}
	return fd;
}

int state_lock_read(const char *cluster, struct lock_holder *h, bool *held,
		    struct err *e)
{
	return state_lock_read_named(cluster, "lock", h, held, e);
}

static int file_lock_read(const struct spec_state *w, const char *cluster,
			  struct lock_holder *h, bool *held, struct err *e)
{
	return state_lock_read_named(cluster, "lock", h, held, e);
}

int state_lock_read_at(const struct spec_state *w, const char *cluster,
		       struct lock_holder *h, bool *held, struct err *e)
{
	return store_ops(w)->lock_read(w, cluster, h, held, e);
}

int state_lock_read_named(const char *cluster, const char *file,
			  struct lock_holder *h, bool *held, struct err *e)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;

	memset(h, 0, sizeof *h);
	*held = false;
	fd = lock_open_existing(cluster, file, O_RDONLY, &path, e);
	if (fd < 0) {
		if (errno == ENOENT)
			err_sys(e, ENOENT, "open %s", path);
		return -1;
	}
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		*held = errno == EWOULDBLOCK;
	else
		flock(fd, LOCK_UN);
	holder_read_fd(fd, h);
	return 0;
}

int state_force_unlock_at(const struct spec_state *w, const char *cluster, bool force,
			  struct lock_holder *h, struct err *e)
{
	return store_ops(w)->force_unlock(w, cluster, force, h, e);
}

static int file_force_unlock(const struct spec_state *w, const char *cluster, bool force,
			     struct lock_holder *h, struct err *e)
{
	return state_force_unlock(cluster, force, h, e);
}

int state_force_unlock(const char *cluster, bool force, struct lock_holder *h,
		       struct err *e)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;

	memset(h, 0, sizeof *h);
	fd = lock_open_existing(cluster, "lock", O_RDWR, &path, e);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1; /* no lock file: nothing to unlock */
	holder_read_fd(fd, h);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		/* nobody holds it: clear a leftover record */
		int rc = 0;

		if (ftruncate(fd, 0) < 0 || fsync(fd) < 0)
			rc = err_sys(e, errno, "clear %s", path);
		flock(fd, LOCK_UN);
		return rc;
	}
	if (errno != EWOULDBLOCK)
		return err_sys(e, errno, "lock %s", path);
	struct buf b = {0};
	state_holder_describe(h, &b);
	if (!force) {
		if (holder_is_here(h) && pid_alive(h->pid))
			err_set(e, EBUSY, "cluster '%s' is locked by %s, which is running; stop it first (or use --force if it is wedged)",
				cluster, b.data);
		else
			err_set(e, EBUSY, "cluster '%s' is locked by %s, which still holds the lock; use --force only if that process is dead",
				cluster, b.data);
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	if (unlink(path) < 0)
		return err_sys(e, errno, "remove %s", path);
	return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

char *state_to_json(const struct state *st)
{
	json_t *root = json_object(), *nodes = json_array(), *secrets = json_object();
	char *text;

	json_object_set_new(root, "format", json_integer(STATE_FORMAT));
	json_object_set_new(root, "cluster", json_string(st->cluster));
	json_object_set_new(root, "serial", json_integer((json_int_t)st->serial));
	json_object_set_new(root, "spec", str_or_null(st->spec));
	json_object_set_new(root, "created", str_or_null(st->created));
	json_object_set_new(root, "updated", str_or_null(st->updated));
	for (size_t i = 0; i < st->n; i++) {
		const struct state_node *n = &st->nodes[i];
		json_t *jn = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:o, s:o, s:o, s:o, s:o}",
				       "id", n->id, "service", n->service, "host", n->host,
				       "address", n->address, "port", n->port, "bus_port",
				       n->bus_port, "role", n->role, "shard", n->shard, "master",
				       str_or_null(n->master), "image", str_or_null(n->image),
				       "cluster_id", str_or_null(n->cluster_id), "config",
				       str_or_null(n->config), "status", str_or_null(n->status));

		if (n->attrs.n) {
			json_t *attrs = json_object();

			for (size_t k = 0; k < n->attrs.n; k++)
				json_object_set_new(attrs, n->attrs.items[k].name,
						    json_string(n->attrs.items[k].value));
			json_object_set_new(jn, "attrs", attrs);
		}
		json_array_append_new(nodes, jn);
	}
	json_object_set_new(root, "nodes", nodes);
	for (size_t i = 0; i < st->nsecrets; i++)
		json_object_set_new(secrets, st->secrets[i].key, json_string(st->secrets[i].value));
	json_object_set_new(root, "secrets", secrets);
	if (st->drained && st->drained[0]) {
		json_t *dr = json_array();

		for (size_t i = 0; st->drained[i]; i++)
			json_array_append_new(dr, json_string(st->drained[i]));
		json_object_set_new(root, "drained", dr);
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		abort(); /* only allocation can fail here */
	return text;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static struct state *state_new(const char *cluster)
{
	struct state *st = xcalloc(1, sizeof *st);

	st->cluster = xstrdup(cluster);
	return st;
}

/* A member that may be absent or null, else must be a string. */
static bool opt_string(json_t *v, const char **out)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	*out = json_string_value(v);
	return true;
}

static int node_from_json(json_t *j, const char *what, size_t i, struct state_node *n,
			  struct err *e)
{
	const char *id, *service, *host, *address, *role;
	const char *master, *image, *cid, *config, *status, *aname;
	json_t *jm = NULL, *ji = NULL, *jc = NULL, *jf = NULL, *js = NULL, *ja = NULL, *av;
	int port, bus, shard;
	json_error_t jerr;

	if (json_unpack_ex(j, &jerr, JSON_STRICT,
			   "{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:i, s?:o, s?:o, s?:o, s?:o, s?:o, s?:o}",
			   "id", &id, "service", &service, "host", &host, "address", &address,
			   "port", &port, "bus_port", &bus, "role", &role, "shard", &shard, "master",
			   &jm, "image", &ji, "cluster_id", &jc, "config", &jf, "status", &js,
			   "attrs", &ja) < 0)
		return err_usage(e, "%s: nodes[%zu]: %s", what, i, jerr.text);
	if (ja && !json_is_object(ja))
		return err_usage(e, "%s: nodes[%zu]: attrs must be an object of strings", what, i);
	json_object_foreach(ja, aname, av)
		if (!json_is_string(av) || !printable(aname) || !printable(json_string_value(av)))
			return err_usage(e, "%s: nodes[%zu]: attrs.%s must be a string without "
					    "control characters", what, i, aname);
	if (!opt_string(jm, &master) || !opt_string(ji, &image) || !opt_string(jc, &cid) ||
	    !opt_string(jf, &config) || !opt_string(js, &status))
		return err_usage(e, "%s: nodes[%zu]: master, image, cluster_id, config and status must be "
				    "strings or null",
				 what, i);
	if (!name_is_safe(id, 127) || !name_is_safe(service, SPEC_NAME_MAX) ||
	    !name_is_safe(host, 255) || (master && !name_is_safe(master, 127)))
		return err_usage(e, "%s: nodes[%zu]: id, service, host and master must be safe names", what, i);
	if (!printable(address) || !printable(role) || !printable(image) || !printable(cid) ||
	    !printable(status) || (config && !digest_valid(config)))
		return err_usage(e, "%s: nodes[%zu]: control character in a value, or a config that "
				    "is not a sha256 digest", what, i);
	if (port < 1 || port > 65535 || bus < 0 || bus > 65535 || node_role_parse(role) < 0)
		return err_usage(e, "%s: nodes[%zu] (%s): bad port, bus_port or role", what, i, id);
	n->id = xstrdup(id);
	n->service = xstrdup(service);
	n->host = xstrdup(host);
	n->address = xstrdup(address);
	n->port = port;
	n->bus_port = bus;
	n->role = xstrdup(role);
	n->shard = shard;
	n->master = dup_or_null(master);
	n->image = dup_or_null(image);
	n->cluster_id = dup_or_null(cid);
	n->config = dup_or_null(config);
	n->status = dup_or_null(status);
	json_object_foreach(ja, aname, av)
		node_attrs_set(&n->attrs, aname, json_string_value(av));
	return 0;
}

int state_from_json(const char *text, const char *what, struct state **out,
		    struct err *e)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *nodes = NULL,
	       *secrets = NULL, *drained = NULL;
	const char *cluster, *spec, *created, *updated;
	json_t *jspec = NULL, *jcreated = NULL, *jupdated = NULL;
	json_int_t serial;
	int format;
	struct state *st;

	*out = NULL;
	if (!root)
		return err_usage(e, "%s:%d: %s", what, jerr.line, jerr.text);
	if (json_unpack_ex(root, &jerr, JSON_STRICT,
			   "{s:i, s:s, s:I, s?:o, s?:o, s?:o, s:o, s?:o, s?:o}", "format", &format,
			   "cluster", &cluster, "serial", &serial, "spec", &jspec, "created",
			   &jcreated, "updated", &jupdated, "nodes", &nodes, "secrets", &secrets,
			   "drained", &drained) < 0) {
		err_usage(e, "%s: %s", what, jerr.text);
		json_decref(root);
		return -1;
	}
	if (!opt_string(jspec, &spec) || !opt_string(jcreated, &created) ||
	    !opt_string(jupdated, &updated) || (format != 1 && format != STATE_FORMAT) || !json_is_array(nodes) ||
	    (secrets && !json_is_object(secrets)) || (drained && !json_is_array(drained)) ||
	    serial < 0) {
		err_usage(e, "%s: not a shoal state of format 1 or %d", what, STATE_FORMAT);
		json_decref(root);
		return -1;
	}
	st = state_new(cluster);
	st->serial = (uint64_t)serial;
	st->spec = dup_or_null(spec);
	st->created = dup_or_null(created);
	st->updated = dup_or_null(updated);
	for (size_t i = 0; i < json_array_size(nodes); i++) {
		st->nodes = xgrow(st->nodes, &st->cap, st->n + 1, sizeof *st->nodes);
		memset(&st->nodes[st->n], 0, sizeof *st->nodes);
		if (node_from_json(json_array_get(nodes, i), what, i, &st->nodes[st->n], e) < 0) {
			state_free(st);
			json_decref(root);
			return -1;
		}
		st->n++;
	}
	for (size_t i = 0; i < json_array_size(drained); i++) {
		const char *h = json_string_value(json_array_get(drained, i));

		if (!h || !name_is_safe(h, 63)) {
			err_usage(e, "%s: drained[%zu]: must be a host name", what, i);
			state_free(st);
			json_decref(root);
			return -1;
		}
		state_set_drained(st, h, true);
	}
	const char *k;
	json_t *v;
	json_object_foreach(secrets, k, v) {
		if (!json_is_string(v) || !name_is_safe(k, 63) || !printable(json_string_value(v))) {
			err_usage(e, "%s: secrets.%s: must be a string of printable characters", what, k);
			state_free(st);
			json_decref(root);
			return -1;
		}
		st->secrets = xgrow(st->secrets, &st->secrets_cap, st->nsecrets + 1,
				    sizeof *st->secrets);
		st->secrets[st->nsecrets].key = xstrdup(k);
		st->secrets[st->nsecrets].value = xstrdup(json_string_value(v));
		memset(&st->secrets[st->nsecrets].loc, 0, sizeof st->secrets[0].loc);
		st->nsecrets++;
	}
	json_decref(root);
	*out = st;
	return 0;
}

static int file_read(const struct spec_state *w, const char *cluster, char **text,
		     size_t *len, int64_t *rev, char **where, struct err *e)
{
	_cleanup_free_ char *dir = NULL;

	*text = NULL;
	*len = 0;
	*rev = 0;
	*where = NULL;
	if (state_dir(cluster, &dir, e) < 0)
		return -1;
	*where = path_join(dir, "state.json");
	if (access(*where, F_OK) < 0 && errno == ENOENT)
		return 0;
	return read_file(*where, STATE_FILE_MAX, text, len, e);
}

static int file_write(struct state_lock *l, const char *text, size_t len, int64_t expect,
		      int64_t *rev, struct err *e)
{
	_cleanup_free_ char *path = path_join(l->dir, "state.json");

	*rev = 0;
	return write_file_atomic(path, text, len, 0600, e);
}

int state_read_text(const struct spec_state *w, const char *cluster, char **text,
		    size_t *len, int64_t *rev, char **where, struct err *e)
{
	if (name_check(cluster, SPEC_NAME_MAX, "cluster name", e) < 0)
		return -1;
	return store_ops(w)->read(w, cluster, text, len, rev, where, e);
}

int state_load_at(const struct spec_state *w, const char *cluster, struct state **out,
		  struct err *e)
{
	_cleanup_free_ char *where = NULL, *text = NULL;
	int64_t rev;
	size_t len;

	*out = NULL;
	if (state_read_text(w, cluster, &text, &len, &rev, &where, e) < 0)
		return -1;
	if (!text) {
		*out = state_new(cluster);
		return 0;
	}
	if (strlen(text) != len)
		return err_usage(e, "%s: holds a NUL byte", where);
	if (state_from_json(text, where, out, e) < 0)
		return -1;
	(*out)->rev = rev;
	if (strcmp((*out)->cluster, cluster)) {
		err_usage(e, "%s: records cluster '%s', expected '%s'", where, (*out)->cluster, cluster);
		state_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int state_load(const char *cluster, struct state **out, struct err *e)
{
	return state_load_at(NULL, cluster, out, e);
}

int state_save(struct state_lock *l, struct state *st, struct err *e)
{
	_cleanup_free_ char *text = NULL;
	int64_t rev = 0;
	char now[32];

	if (st->nsecrets && !l->store_secrets) {
		struct buf names = {0};

		for (size_t i = 0; i < st->nsecrets; i++)
			buf_printf(&names, "%s%s", i ? ", " : "", st->secrets[i].key);
		err_usage(e, "cluster '%s': the state holds generated secrets (%s); the %s store "
			     "keeps them only with state.store_secrets = true in the spec (docs/ha.md)",
			  st->cluster, names.data, l->ops->name);
		buf_free(&names);
		return -1;
	}

	state_rfc3339_now(now);
	if (!st->created)
		st->created = xstrdup(now);
	free(st->updated);
	st->updated = xstrdup(now);
	st->serial++;
	text = state_to_json(st);
	if (l->ops->write(l, text, strlen(text), st->rev, &rev, e) < 0) {
		st->serial--;
		return err_wrap(e, "save state");
	}
	st->rev = rev;
	return 0;
}

int state_remove(struct state_lock *l, struct err *e)
{
	return l->ops->remove(l, e);
}

static int file_remove(struct state_lock *l, struct err *e)
{
	static const char *const files[] = {"state.json", "events.jsonl"};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = path_join(l->dir, files[i]);

		if (unlink(path) < 0 && errno != ENOENT)
			return err_sys(e, errno, "remove %s", path);
	}
	return 0;
}

static void node_free(struct state_node *n)
{
	free(n->id);
	free(n->service);
	free(n->host);
	free(n->address);
	free(n->role);
	free(n->master);
	free(n->image);
	free(n->cluster_id);
	free(n->config);
	free(n->status);
	node_attrs_free(&n->attrs);
	memset(n, 0, sizeof *n);
}

/* ---- node attributes ------------------------------------------------------------- */

/* Index of name, or where it belongs (*found false). */
static size_t attr_index(const struct node_attrs *a, const char *name, bool *found)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(a->items[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void node_attrs_set(struct node_attrs *a, const char *name, const char *value)
{
	bool found;
	size_t i = attr_index(a, name, &found);

	if (found) {
		free(a->items[i].value);
		a->items[i].value = xstrdup(value);
		return;
	}
	a->items = xgrow(a->items, &a->cap, a->n + 1, sizeof *a->items);
	memmove(&a->items[i + 1], &a->items[i], (a->n - i) * sizeof *a->items);
	a->items[i].name = xstrdup(name);
	a->items[i].value = xstrdup(value);
	a->n++;
}

const char *node_attrs_get(const struct node_attrs *a, const char *name)
{
	bool found;
	size_t i = attr_index(a, name, &found);

	return found ? a->items[i].value : NULL;
}

void node_attrs_copy(struct node_attrs *to, const struct node_attrs *from)
{
	node_attrs_free(to);
	for (size_t i = 0; i < from->n; i++)
		node_attrs_set(to, from->items[i].name, from->items[i].value);
}

bool node_attrs_equal(const struct node_attrs *a, const struct node_attrs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->items[i].name, b->items[i].name) ||
		    strcmp(a->items[i].value, b->items[i].value))
			return false;
	return true;
}

void node_attrs_free(struct node_attrs *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->items[i].name);
		free(a->items[i].value);
	}
	free(a->items);
	memset(a, 0, sizeof *a);
}

void state_free(struct state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		node_free(&st->nodes[i]);
	free(st->nodes);
	for (size_t i = 0; i < st->nsecrets; i++) {
		explicit_bzero(st->secrets[i].value, strlen(st->secrets[i].value));
		free(st->secrets[i].value);
		free(st->secrets[i].key);
	}
	free(st->secrets);
	strv_free(st->drained);
	free(st->cluster);
	free(st->spec);
	free(st->created);
	free(st->updated);
	free(st);
}

struct state_node *state_find(const struct state *st, const char *id)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->nodes[i].id, id))
			return &st->nodes[i];
	return NULL;
}

struct state_node *state_put_plan_node(struct state *st, const struct plan *p,
				       const struct plan_node *pn)
{
	struct state_node *n = state_find(st, pn->id);

	if (!n) {
		st->nodes = xgrow(st->nodes, &st->cap, st->n + 1, sizeof *st->nodes);
		n = &st->nodes[st->n++];
		memset(n, 0, sizeof *n);
		n->id = xstrdup(pn->id);
	}
	free(n->service);
	free(n->host);
	free(n->address);
	free(n->role);
	free(n->master);
	n->service = xstrdup(pn->svc->name);
	n->host = xstrdup(pn->host->name);
	n->address = xstrdup(pn->host->address);
	n->port = pn->port;
	n->bus_port = pn->bus_port;
	n->role = xstrdup(node_role_name(pn->role));
	n->shard = pn->shard;
	n->master = pn->master >= 0 ? xstrdup(p->nodes[pn->master].id) : NULL;
	return n;
}

bool state_drop(struct state *st, const char *id)
{
	struct state_node *n = state_find(st, id);

	if (!n)
		return false;
	node_free(n);
	size_t i = (size_t)(n - st->nodes);
	memmove(n, n + 1, (st->n - i - 1) * sizeof *n);
	st->n--;
	return true;
}

const char *state_secret(struct state *st, const char *name, struct err *e)
{
	unsigned char raw[32];
	char hex[65];

	for (size_t i = 0; i < st->nsecrets; i++)
		if (!strcmp(st->secrets[i].key, name))
			return st->secrets[i].value;
	if (name_check(name, 63, "secret name", e) < 0)
		return NULL;
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		err_sys(e, errno, "getrandom");
		return NULL;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	st->secrets = xgrow(st->secrets, &st->secrets_cap, st->nsecrets + 1, sizeof *st->secrets);
	memset(&st->secrets[st->nsecrets], 0, sizeof *st->secrets);
	st->secrets[st->nsecrets].key = xstrdup(name);
	st->secrets[st->nsecrets].value = xstrdup(hex);
	explicit_bzero(hex, sizeof hex);
	return st->secrets[st->nsecrets++].value;
}

const char *state_service_secret(struct state *st, const char *service,
				 const char *name, struct err *e)
{
	char *key = xasprintf("%s.%s", service, name);
	const char *v = state_secret(st, key, e);

	free(key);
	return v;
}

const char *state_secret_get(const struct state *st, const char *key)
{
	for (size_t i = 0; i < st->nsecrets; i++)
		if (!strcmp(st->secrets[i].key, key))
			return st->secrets[i].value;
	return NULL;
}

struct kvlist state_secrets(const struct state *st)
{
	return (struct kvlist){.items = st->secrets, .n = st->nsecrets};
}

void state_placement(const struct state *st, struct placement *out)
{
	struct placement_node *v = xcalloc(st->n ? st->n : 1, sizeof *v);

	for (size_t i = 0; i < st->n; i++) {
		v[i].id = st->nodes[i].id;
		v[i].host = st->nodes[i].host;
		v[i].port = st->nodes[i].port;
		v[i].bus_port = st->nodes[i].bus_port;
		v[i].role = st->nodes[i].role;
		v[i].master = st->nodes[i].master;
	}
	*out = (struct placement){.nodes = v, .n = st->n};
}

void state_placement_free(struct placement *p)
{
	free((void *)p->nodes);
	p->nodes = NULL;
	p->n = 0;
}

/* ---- events ------------------------------------------------------------------------ */

int state_event(struct state_lock *l, const char *type, const void *fields,
		struct err *e)
{
	json_t *ev = json_object();
	char now[32], *line;
	size_t len;
	int rc = 0;

	state_rfc3339_now(now);
	json_object_set_new(ev, "time", json_string(now));
	json_object_set_new(ev, "event", json_string(type));
	if (fields)
		json_object_update_missing(ev, (json_t *)fields);
	line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ev);
	if (!line)
		return err_set(e, EINVAL, "event %s: cannot encode", type);
	len = strlen(line); /* json_dumps never emits a newline in compact mode */
	rc = l->ops->event(l, line, len, e);
	free(line);
	return rc;
}

static int file_event(struct state_lock *l, const char *line, size_t len, struct err *e)
{
	_cleanup_free_ char *path = path_join(l->dir, "events.jsonl");
	_cleanup_close_ int fd = -1;
	struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_sys(e, errno, "open %s", path);
	if (writev(fd, iov, 2) != (ssize_t)len + 1 || fsync(fd) < 0)
		return err_sys(e, errno, "append %s", path);
	return 0;
}

static int file_events_read(const struct spec_state *w, const char *cluster, struct buf *out,
			    struct err *e)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	size_t len;

	if (state_dir(cluster, &dir, e) < 0)
		return -1;
	path = path_join(dir, "events.jsonl");
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (read_file(path, STATE_FILE_MAX, &text, &len, e) < 0)
		return -1;
	/* a line being appended right now is not an event yet */
	while (len && text[len - 1] != '\n')
		len--;
	buf_append(out, text, len);
	return 0;
}

static int file_events_replace(struct state_lock *l, const char *text, size_t len,
			       struct err *e)
{
	_cleanup_free_ char *path = path_join(l->dir, "events.jsonl");

	return write_file_atomic(path, text, len, 0600, e);
}

int state_events_read(const struct spec_state *w, const char *cluster, struct buf *out,
		      struct err *e)
{
	if (name_check(cluster, SPEC_NAME_MAX, "cluster name", e) < 0)
		return -1;
	return store_ops(w)->events_read(w, cluster, out, e);
}

const struct state_store_ops state_file_ops = {
	.name = "file",
	.lock = file_lock,
	.unlock = file_unlock,
	.read = file_read,
	.write = file_write,
	.remove = file_remove,
	.event = file_event,
	.events_read = file_events_read,
	.events_replace = file_events_replace,
	.lock_read = file_lock_read,
	.force_unlock = file_force_unlock,
};

bool state_drained(const struct state *st, const char *host)
{
	for (size_t i = 0; st->drained && st->drained[i]; i++)
		if (!strcmp(st->drained[i], host))
			return true;
	return false;
}

bool state_set_drained(struct state *st, const char *host, bool on)
{
	size_t n = 0, k = 0;

	if (state_drained(st, host) == on)
		return false;
	while (st->drained && st->drained[n])
		n++;
	if (on) {
		st->drained = xrealloc(st->drained, (n + 2) * sizeof *st->drained);
		st->drained[n] = xstrdup(host);
		st->drained[n + 1] = NULL;
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(st->drained[i], host))
			free(st->drained[i]);
		else
			st->drained[k++] = st->drained[i];
	}
	st->drained[k] = NULL;
	return true;
}
