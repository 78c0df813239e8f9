/* transport.c - backend choice and the operations every backend shares:
 * checked runs, atomic file puts and the agent bootstrap (see transport.h). */
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"
#include "spec.h"
#include "version.h"

int transport_open(const struct spec *s, const struct spec_host *h,
		   const struct transport_opts *o, struct transport **out,
		   struct err *e)
{
	*out = NULL;
	switch (h->transport) {
	case TRANSPORT_LOCAL:
		return transport_local_open(h, o, out, e);
	case TRANSPORT_SSH:
		return transport_ssh_open(s, h, o, out, e);
	}
	return err_usage(e, "%s: unknown transport %d", h->name, h->transport);
}

void transport_close(struct transport *t)
{
	if (!t)
		return;
	free(t->host);
	free(t->label);
	free(t->agent_path);
	free(t->agent_version);
	t->ops->free(t);
}

void run_output_free(struct run_output *o)
{
	buf_free(&o->out);
	buf_free(&o->err);
}

void buf_keep_tail(struct buf *b, size_t max)
{
	if (b->len > max) {
		memmove(b->data, b->data + (b->len - max), max + 1);
		b->len = max;
	}
}

/* The last line of a program's stderr, for error messages. */
static const char *stderr_line(struct buf *b)
{
	char *end, *start;

	if (!b->data || !b->len)
		return "";
	end = b->data + b->len;
	while (end > b->data && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = end;
	while (start > b->data && start[-1] != '\n')
		start--;
	return start;
}

int transport_run_ok(struct transport *t, const char *const argv[],
		     const struct run_io *io, struct run_output *out,
		     struct err *e)
{
	struct run_output local = {0};
	struct run_output *o = out ? out : &local;
	int rc;

	rc = transport_run(t, argv, io, o, e);
	if (rc == 0 && (o->res.exit_signal || o->res.exit_code)) {
		const char *why = stderr_line(&o->err);

		if (o->res.exit_signal)
			rc = err_set(e, EIO, "%s: %s killed by signal %d%s%s",
				     t->label, argv[0], o->res.exit_signal,
				     *why ? ": " : "", why);
		else
			rc = err_set(e, EIO, "%s: %s exited with %d%s%s",
				     t->label, argv[0], o->res.exit_code,
				     *why ? ": " : "", why);
	}
	if (!out)
		run_output_free(&local);
	return rc;
}

void transport_nonce(char out[17])
{
	unsigned char r[8];
	size_t got = 0;

	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* the kernel's entropy source is gone */
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof r; i++) {
		out[2 * i] = "0123456789abcdef"[r[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[r[i] & 15];
	}
	out[16] = '\0';
}

int transport_put_file(struct transport *t, const char *local,
		       const char *remote, mode_t mode, struct err *e)
{
	_cleanup_free_ char *tmp = NULL;
	struct err ignore;
	char nonce[17];

	transport_nonce(nonce);
	tmp = xasprintf("%s.tmp.%s", remote, nonce);
	if (transport_write_file(t, local, tmp, mode, NULL, NULL, e) < 0 ||
	    transport_rename(t, tmp, remote, e) < 0) {
		transport_remove(t, tmp, &ignore);
		return -1;
	}
	return 0;
}

/* ---- the agent ------------------------------------------------------------- */

int transport_agent_path(char **out, struct err *e)
{
	const char *env = getenv("SHOAL_AGENT");
	_cleanup_free_ char *self = NULL, *dir = NULL;
	char exe[4096];
	ssize_t n;

	*out = NULL;
	if (env && *env) {
		if (access(env, X_OK) != 0)
			return err_sys(e, errno, "$SHOAL_AGENT %s", env);
		*out = xstrdup(env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0)
		return err_sys(e, errno, "readlink /proc/self/exe");
	exe[n] = '\0';
	dir = path_dirname(exe);
	self = path_join(dir, "shoal-agent");
	if (access(self, X_OK) != 0)
		return err_sys(e, errno,
			       "shoal-agent not found next to shoal (%s; set $SHOAL_AGENT)",
			       self);
	*out = steal_pointer(&self);
	return 0;
}

/* Write the agent to its content-addressed path unless it is there. */
/* Put the local agent at `path` on the host unless it is there already
 * (same size, executable: the path is named by the digest, and only a
 * checked file is ever renamed to it).  The upload goes to a temporary name
 * beside it and is started as `<tmp> install <digest> <path>`: the agent
 * hashes itself, renames itself into place and prints its version line,
 * which lands in *version (NULL when it was already installed). */
static int agent_install(struct transport *t, const char *local,
			 const char *digest, uint64_t size, const char *path,
			 char **version, struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(path), *tmp = NULL;
	struct run_output out = {0};
	struct remote_stat st;
	struct err ignore;
	char nonce[17];

	*version = NULL;
	if (transport_stat(t, path, &st, e) < 0)
		return -1;
	if (st.exists && st.regular && st.size == size && (st.mode & 0111)) {
		log_debug("%s: agent %s already installed", t->label, path);
		return 0;
	}
	if (transport_mkdirs(t, dir, 0755, e) < 0)
		return -1;
	transport_nonce(nonce);
	tmp = xasprintf("%s.tmp.%s", path, nonce);
	log_info("%s: installing shoal-agent (%s)", t->label, digest);
	if (transport_write_file(t, local, tmp, 0755, NULL, NULL, e) < 0)
		goto fail;
	{
		const char *argv[] = {tmp, "install", digest, path, NULL};
		struct run_io io = {.out_max = 4096};

		/* On a digest mismatch the upload removes itself and says so. */
		if (transport_run_ok(t, argv, &io, &out, e) < 0)
			goto fail;
	}
	*version = buf_steal(&out.out);
	run_output_free(&out);
	return 0;
fail:
	run_output_free(&out);
	transport_remove(t, tmp, &ignore);
	return -1;
}

/* Does a `shoal-agent version` line name this shoal's version?  It reads
 * "shoal-agent X.Y.Z", optionally followed by " (details)". */
static bool version_matches(const char *line)
{
	char want[64];
	size_t n;

	n = (size_t)snprintf(want, sizeof want, "shoal-agent %s", SHOAL_VERSION);
	return line && !strncmp(line, want, n) && (line[n] == '\0' || line[n] == ' ');
}

/* The first line of what a program printed, NUL-terminated in place. */
static char *first_line_of(char *s)
{
	char *nl = s ? strchr(s, '\n') : NULL;

	if (nl)
		*nl = '\0';
	return s;
}


/* The local agent binary, its digest and its version, found once per
 * process. */
static pthread_mutex_t local_agent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool done;
	char *path;
	char digest[DIGEST_STR_LEN];
	uint64_t size;
	char *version; /* its `version` line when it matches ours, else NULL */
} local_agent;

/* Run the local agent's `version` (NULL when it cannot run here). */
static char *local_version(const char *path)
{
	const char *argv[] = {path, "version", NULL};
	struct run_result res = {0};
	struct buf out = {0};
	struct tchan *c;
	struct err e;
	char tmp[256];
	ssize_t n;

	if (tchan_spawn_local("shoal-agent version", argv, &c, &e) < 0)
		return NULL;
	while ((n = tchan_read(c, tmp, sizeof tmp, 5000, &e)) > 0 && out.len < 4096)
		buf_append(&out, tmp, (size_t)n);
	if (tchan_close(c, &res, &e) < 0 || n < 0 || res.exit_code || res.exit_signal ||
	    !version_matches(first_line_of(out.data))) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

static int local_agent_get(const char **path, const char **digest,
			   uint64_t *size, struct err *e)
{
	int rc = 0;

	pthread_mutex_lock(&local_agent_lock);
	if (!local_agent.done) {
		char *p = NULL;

		rc = transport_agent_path(&p, e);
		if (rc == 0)
			rc = digest_file(p, local_agent.digest, &local_agent.size, e);
		if (rc == 0) {
			local_agent.path = p;
			local_agent.version = local_version(p);
			local_agent.done = true;
		} else {
			free(p);
		}
	}
	pthread_mutex_unlock(&local_agent_lock);
	if (rc < 0)
		return -1;
	*path = local_agent.path;
	*digest = local_agent.digest;
	*size = local_agent.size;
	return 0;
}

int transport_agent_remote_path(char **out, struct err *e)
{
	const char *local, *digest;
	uint64_t size;

	*out = NULL;
	if (local_agent_get(&local, &digest, &size, e) < 0)
		return -1;
	*out = xasprintf("%s/%s/shoal-agent", AGENT_REMOTE_DIR, digest_hex(digest));
	return 0;
}

int transport_bootstrap_agent(struct transport *t, struct err *e)
{
	_cleanup_free_ char *path = NULL, *said = NULL;
	const char *local, *digest, *line;
	uint64_t size;

	if (t->agent_path)
		return 0;
	if (local_agent_get(&local, &digest, &size, e) < 0)
		return err_wrap(e, "%s: agent bootstrap", t->label);
	path = xasprintf("%s/%s/shoal-agent", AGENT_REMOTE_DIR, digest_hex(digest));
	if (agent_install(t, local, digest, size, path, &said, e) < 0)
		return err_wrap(e, "agent bootstrap");
	if (!said && local_agent.version) {
		/* The same bytes as the local agent, whose version was checked
		 * here: no need to ask the host again. */
		t->agent_version = xstrdup(local_agent.version);
		t->agent_path = steal_pointer(&path);
		return 0;
	}
	if (!said) {
		const char *argv[] = {path, "version", NULL};
		struct run_io io = {.out_max = 4096};
		struct run_output out = {0};

		if (transport_run_ok(t, argv, &io, &out, e) < 0) {
			run_output_free(&out);
			return err_wrap(e, "agent bootstrap");
		}
		said = buf_steal(&out.out);
		run_output_free(&out);
	}
	line = first_line_of(said);
	if (!version_matches(line)) {
		return err_set(e, EPROTO,
			       "%s: agent bootstrap: %s printed \"%s\", expected \"shoal-agent %s\"",
			       t->label, path, line ? line : "", SHOAL_VERSION);
	}
	t->agent_version = steal_pointer(&said);
	t->agent_path = steal_pointer(&path);
	return 0;
}

int transport_open_agent(struct transport *t, struct tchan **out,
			 struct err *e)
{
	const char *argv[3];

	*out = NULL;
	if (transport_bootstrap_agent(t, e) < 0)
		return -1;
	argv[0] = t->agent_path;
	argv[1] = "connect";
	argv[2] = NULL;
	return transport_open_chan(t, argv, out, e);
}
