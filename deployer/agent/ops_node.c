/* ops_node.c - node.create/start/stop/kill/remove/list/inspect, data.purge
 * and logs:
 * request fields in, node.c calls, answers out. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "extract.h"
#include "imgstore.h"
#include "node.h"
#include "sandbox.h"

#define FILES_MAX 64
#define FILE_CONTENT_MAX (512 * 1024)

static struct node *req_node(struct session *s, json_t *req, struct err *e)
{
	const char *cluster, *name;
	struct node *n;

	if (req_name(req, "cluster", &cluster, e) < 0 || req_name(req, "node", &name, e) < 0)
		return NULL;
	n = node_find(s->agent, cluster, name);
	if (!n)
		err_set(e, ENOENT, "node %s/%s not found", cluster, name);
	return n;
}

/* ---- image defaults -------------------------------------------------------- */

static char **strv_from_json(json_t *a)
{
	size_t n = json_array_size(a), k = 0, i;
	char **v = xcalloc(n + 1, sizeof *v);
	json_t *it;

	json_array_foreach(a, i, it)
		if (json_is_string(it))
			v[k++] = xstrdup(json_string_value(it));
	return v;
}

static bool env_has(char *const *env, const char *entry)
{
	size_t klen = strcspn(entry, "=");

	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], entry, klen) && env[i][klen] == '=')
			return true;
	return false;
}

/* Fill what the request left out from the image config, and resolve the
 * user inside the image. */
static int apply_image(struct agent *a, json_t *req, struct node_spec *sp,
		       json_t *cfg, struct err *e)
{
	_cleanup_free_ char *rootfs = image_rootfs(a, sp->image), *home = NULL;
	_cleanup_close_ int rootfd = -1;
	json_t *env = json_object_get(cfg, "Env"), *it;
	FILE *pw = NULL, *gr = NULL;
	size_t i, n = 0;
	int fd, rc;

	if (!sp->argv) {
		json_t *all = json_array();

		json_array_extend(all, json_object_get(cfg, "Entrypoint"));
		json_array_extend(all, json_object_get(cfg, "Cmd"));
		sp->argv = strv_from_json(all);
		json_decref(all);
		if (!sp->argv[0])
			return err_set(e, EINVAL, "no argv given and image %s has no "
				       "Entrypoint or Cmd", sp->image);
	}
	while (sp->env[n])
		n++;
	json_array_foreach(env, i, it) {
		const char *v = json_string_value(it);

		if (!v || !strchr(v, '=') || env_has(sp->env, v))
			continue;
		sp->env = xrealloc(sp->env, (n + 2) * sizeof *sp->env);
		sp->env[n++] = xstrdup(v);
		sp->env[n] = NULL;
	}
	if (!json_object_get(req, "workdir") && json_string_value(json_object_get(cfg, "WorkingDir")) &&
	    json_string_value(json_object_get(cfg, "WorkingDir"))[0] == '/') {
		free(sp->workdir);
		sp->workdir = xstrdup(json_string_value(json_object_get(cfg, "WorkingDir")));
	}
	if (!json_object_get(req, "user") && json_string_value(json_object_get(cfg, "User"))) {
		free(sp->user);
		sp->user = xstrdup(json_string_value(json_object_get(cfg, "User")));
	}
	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_sys(e, errno, "open %s", rootfs);
	struct err ignore;

	if ((fd = sandbox_open_in_root(rootfd, "etc/passwd", O_RDONLY, 0, &ignore)) >= 0)
		pw = fdopen(fd, "r");
	if ((fd = sandbox_open_in_root(rootfd, "etc/group", O_RDONLY, 0, &ignore)) >= 0)
		gr = fdopen(fd, "r");
	rc = sandbox_resolve_user(sp->user, pw, gr, &sp->uid, &sp->gid, &home, e);
	if (pw)
		fclose(pw);
	if (gr)
		fclose(gr);
	if (rc == 0 && !env_has(sp->env, "HOME=")) {
		sp->env = xrealloc(sp->env, (n + 2) * sizeof *sp->env);
		sp->env[n++] = xasprintf("HOME=%s", home);
		sp->env[n] = NULL;
	}
	return rc < 0 ? err_wrap(e, "image %s", sp->image) : 0;
}

/* ---- files into the node's upper layer ------------------------------------ */

/* mkdir -p of dir inside upper; each created folder copies the owner and
 * mode of the same folder in the image (lower), which overlayfs would
 * otherwise hide behind root:0755. */
static int upper_mkdirs(int upperfd, int lowerfd, const char *dir, struct err *e)
{
	_cleanup_free_ char *p = xstrdup(dir);

	for (char *c = p + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		struct err ig;
		struct stat st;
		int fd;

		*c = '\0';
		fd = sandbox_open_in_root(upperfd, p, O_PATH | O_DIRECTORY, 0, &ig);
		if (fd < 0) {
			fd = sandbox_mkdir_in_root(upperfd, p, 0755, e);
			if (fd < 0)
				return -1;
			int lfd = sandbox_open_in_root(lowerfd, p, O_PATH, 0, &ig);

			if (lfd >= 0 && fstat(lfd, &st) == 0 && S_ISDIR(st.st_mode)) {
				_cleanup_free_ char *proc = xasprintf("/proc/self/fd/%d", fd);

				if (chown(proc, st.st_uid, st.st_gid) < 0 ||
				    chmod(proc, st.st_mode & 07777) < 0) {
					close(lfd);
					close(fd);
					return err_sys(e, errno, "chown %s", p);
				}
			}
			if (lfd >= 0)
				close(lfd);
		}
		close(fd);
		*c = saved;
		if (!saved)
			return 0;
	}
}

static int write_files(struct node *n, json_t *files, struct err *e)
{
	_cleanup_free_ char *upper = path_join(n->dir, "upper");
	_cleanup_close_ int upperfd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int lowerfd = open(n->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	json_t *f;
	size_t i;

	if (upperfd < 0 || lowerfd < 0)
		return err_sys(e, errno, "open %s", upperfd < 0 ? upper : n->lower);
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		json_t *content = json_object_get(f, "content");
		json_int_t mode = json_is_integer(json_object_get(f, "mode"))
			? json_integer_value(json_object_get(f, "mode")) : 0644;
		_cleanup_free_ char *dir = NULL;
		_cleanup_close_ int pfd = -1, fd = -1;
		const char *base;

		if (!path || path[0] != '/' || !json_is_string(content) ||
		    json_string_length(content) > FILE_CONTENT_MAX || mode < 0 ||
		    mode > 0777)
			return err_set(e, EINVAL, "files[%zu]: expected {path: absolute, "
				       "content: string <= %d bytes, mode: 0..0777}",
				       i, FILE_CONTENT_MAX);
		base = strrchr(path, '/') + 1;
		if (!name_is_safe(base, 255))
			return err_set(e, EINVAL, "files[%zu]: bad file name '%s'", i, path);
		if (node_path_check(path, "files[].path", e) < 0)
			return -1;
		dir = path_dirname(path);
		if (strcmp(dir, "/") && upper_mkdirs(upperfd, lowerfd, dir, e) < 0)
			return err_wrap(e, "files[%zu] %s", i, path);
		pfd = sandbox_open_in_root(upperfd, dir, O_PATH | O_DIRECTORY, 0, e);
		if (pfd < 0)
			return err_wrap(e, "files[%zu]", i);
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			    (mode_t)mode);
		/* Owned by the node's user: a 0640 config must be readable by
		 * the database, which never runs as root. */
		if (fd < 0 || write(fd, json_string_value(content), json_string_length(content)) !=
				      (ssize_t)json_string_length(content) ||
		    fchown(fd, n->spec.uid, n->spec.gid) < 0 || fchmod(fd, (mode_t)mode) < 0)
			return err_sys(e, errno, "write %s into node %s", path, n->id);
	}
	return 0;
}

/* ---- requests -------------------------------------------------------------- */

int op_node_create(struct session *s, json_int_t id, json_t *req, json_t **result,
		   struct err *e)
{
	struct agent *a = s->agent;
	json_t *files = json_object_get(req, "files"), *cfg = NULL;
	struct node_spec sp;
	struct node *n;
	bool cached, start = false;
	int rc;

	if (files && (!json_is_array(files) || json_array_size(files) > FILES_MAX))
		return err_set(e, EINVAL, "field 'files': expected an array of at most %d",
			       FILES_MAX);
	if (req_bool_opt(req, "start", &start, e) < 0)
		return -1;
	json_object_del(req, "uid");   /* resolved here, never taken from a client */
	json_object_del(req, "gid");
	rc = node_spec_from_json(req, &sp, e);
	if (rc == 0 && node_find(a, sp.cluster, sp.name))
		rc = err_set(e, EEXIST, "node %s/%s exists", sp.cluster, sp.name);
	if (rc == 0 && (rc = image_wait_unpacked(s, id, req, sp.image, e)) > 0) {
		node_spec_free(&sp); /* asked again once the image is there */
		return 1;
	}
	if (rc == 0)
		rc = image_ensure(a, sp.image, &cached, &cfg, e);
	if (rc == 0)
		rc = apply_image(a, req, &sp, cfg, e);
	json_decref(cfg);
	if (rc < 0) {
		node_spec_free(&sp);
		return -1;
	}
	n = node_create(a, &sp, e);
	if (!n)
		return -1;
	if (files && write_files(n, files, e) < 0) {
		struct err ig;

		node_remove(n, true, false, NULL, 0, &ig);
		return -1;
	}
	if (start)
		return node_start(n, s, id, e);   /* answered once it runs */
	*result = node_record(n);
	return 0;
}

int op_node_start(struct session *s, json_int_t id, json_t *req, json_t **result,
		  struct err *e)
{
	struct node *n = req_node(s, req, e);

	return n ? node_start(n, s, id, e) : -1;
}

int op_node_stop(struct session *s, json_int_t id, json_t *req, json_t **result,
		 struct err *e)
{
	struct node *n = req_node(s, req, e);
	int64_t grace;
	int r;

	if (!n)
		return -1;
	grace = n->spec.stop_grace_ms;
	if (req_int_opt(req, "grace_ms", 0, 3600 * 1000, &grace, e) < 0)
		return -1;
	r = node_stop(n, grace, s, id, e);
	if (r == 0)
		*result = node_record(n);
	return r;
}

int op_node_kill(struct session *s, json_int_t id, json_t *req, json_t **result,
		 struct err *e)
{
	struct node *n = req_node(s, req, e);
	int sig = SIGKILL;

	if (!n || node_signal_field(req, "signal", &sig, e) < 0 ||
	    node_signal(n, sig, e) < 0)
		return -1;
	*result = node_record(n);
	return 0;
}

int op_node_remove(struct session *s, json_int_t id, json_t *req, json_t **result,
		   struct err *e)
{
	struct node *n = req_node(s, req, e);
	bool force = false, keep_data = false;

	if (!n || req_bool_opt(req, "force", &force, e) < 0 ||
	    req_bool_opt(req, "keep_data", &keep_data, e) < 0)
		return -1;
	return node_remove(n, force, keep_data, s, id, e);
}

/* data.purge {"cluster", "node"?}: remove the data that node.remove
 * keep_data left of nodes this agent no longer has (all of the cluster's, or
 * the one named).  A node the agent has is never touched. */
int op_data_purge(struct session *s, json_int_t id, json_t *req, json_t **result,
		  struct err *e)
{
	const char *cluster, *only = NULL;
	_cleanup_free_ char *nodes = agent_path(s->agent, "nodes");
	_cleanup_free_ char *cdir = NULL;
	_cleanup_close_ int cfd = -1;
	json_t *purged;
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	if (req_name(req, "cluster", &cluster, e) < 0 ||
	    (json_object_get(req, "node") && req_name(req, "node", &only, e) < 0))
		return -1;
	cdir = path_join(nodes, cluster);
	cfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (cfd < 0 && errno == ENOENT) {
		*result = json_pack("{s:[]}", "purged");
		return 0;
	}
	if (cfd < 0 || !(dir = fdopendir(dup(cfd))))
		return err_sys(e, errno, "open %s", cdir);
	purged = json_array();
	while (rc == 0 && (d = readdir(dir))) {
		if (!name_is_safe(d->d_name, 63) || (only && strcmp(only, d->d_name)) ||
		    node_find(s->agent, cluster, d->d_name))
			continue;
		if ((rc = extract_remove_tree(cfd, d->d_name, e)) == 0)
			json_array_append_new(purged, json_string(d->d_name));
	}
	closedir(dir);
	rmdir(cdir); /* the cluster folder, once empty */
	if (rc < 0) {
		json_decref(purged);
		return err_wrap(e, "data.purge %s", cluster);
	}
	*result = json_pack("{s:o}", "purged", purged);
	return 0;
}

int op_node_list(struct session *s, json_int_t id, json_t *req, json_t **result,
		 struct err *e)
{
	const char *cluster = NULL;
	json_t *list = json_array();

	if (json_object_get(req, "cluster") && req_name(req, "cluster", &cluster, e) < 0) {
		json_decref(list);
		return -1;
	}
	for (size_t i = 0; i < s->agent->n_nodes; i++) {
		struct node *n = s->agent->nodes[i];

		if (!cluster || !strcmp(cluster, n->spec.cluster))
			json_array_append_new(list, node_record(n));
	}
	*result = json_pack("{s:o}", "nodes", list);
	return 0;
}

int op_node_inspect(struct session *s, json_int_t id, json_t *req, json_t **result,
		    struct err *e)
{
	struct node *n = req_node(s, req, e);

	if (!n)
		return -1;
	*result = node_record(n);
	return 0;
}

int op_logs(struct session *s, json_int_t id, json_t *req, json_t **result,
	    struct err *e)
{
	struct node *n = req_node(s, req, e);
	int64_t tail = 100;
	bool follow = false;
	size_t len;
	char *text;

	if (!n || req_int_opt(req, "tail", 0, 100000, &tail, e) < 0 ||
	    req_bool_opt(req, "follow", &follow, e) < 0)
		return -1;
	text = node_log_tail(n, tail, &len);
	if (!follow) {
		*result = json_pack("{s:o}", "data", jsonl_text(text, len));
		free(text);
		return 0;
	}
	if (len)
		session_send(s, json_pack("{s:I,s:s,s:o}", "id", id, "stream", "log",
					  "data", jsonl_text(text, len)));
	free(text);
	node_follow(n, s, id);
	return 1;
}
