/* node_spec.c - a node's description (struct node_spec, node.h): read from
 * the JSON of a create request or node.json, checked field by field (paths
 * under the node's root, no /proc, /dev or /sys data path, known signals,
 * capabilities and syscalls), and written back. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "agent.h"
#include "node.h"
#include "sandbox.h"

static const char *const policy_names[] = {"always", "on-failure", "never"};

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* p is dir itself or below it. */
static bool path_is_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(p, dir, n) && (p[n] == '\0' || p[n] == '/');
}

/* An absolute path inside a node: "/" then safe components, no "..". */
int node_path_check(const char *p, const char *what, struct err *e)
{
	_cleanup_free_ char *copy = NULL;

	if (!p || p[0] != '/' || strlen(p) > 1024)
		return err_set(e, EINVAL, "%s '%s': must be an absolute path", what,
			       p ? p : "");
	copy = xstrdup(p);
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save))
		if (!strcmp(c, "..") || !strcmp(c, "."))
			return err_set(e, EINVAL, "%s '%s': '.' or '..' component",
				       what, p);
	return 0;
}

int node_signal_field(json_t *j, const char *key, int *sig, struct err *e)
{
	json_t *v = json_object_get(j, key);
	const char *name = json_string_value(v);

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= 64) {
		*sig = (int)json_integer_value(v);
		return 0;
	}
	if (name) {
		if (!strncmp(name, "SIG", 3))
			name += 3;
		for (int i = 1; i < 32; i++)
			if (sigabbrev_np(i) && !strcmp(sigabbrev_np(i), name)) {
				*sig = i;
				return 0;
			}
	}
	return err_set(e, EINVAL, "field '%s': expected a signal (1..64 or a name)", key);
}

/* Every field of node.create / node.json, checked. */
int node_spec_from_json(json_t *j, struct node_spec *s, struct err *e)
{
	const char *cluster, *name, *image, *str;
	_cleanup_free_ const char **argv = NULL, **env = NULL, **caps = NULL;
	_cleanup_free_ const char **syscalls = NULL;
	int64_t v;
	json_t *mem;

	memset(s, 0, sizeof *s);
	if (req_name(j, "cluster", &cluster, e) < 0 || req_name(j, "node", &name, e) < 0 ||
	    req_digest(j, "image", &image, e) < 0)
		return -1;
	s->cluster = xstrdup(cluster);
	s->name = xstrdup(name);
	s->image = xstrdup(image);
	if (req_strv_opt(j, "argv", 256, 4096, &argv, e) < 0 ||
	    req_strv_opt(j, "env", 256, 8192, &env, e) < 0 ||
	    req_strv_opt(j, "caps", 64, 64, &caps, e) < 0 ||
	    req_strv_opt(j, "syscalls", 128, 64, &syscalls, e) < 0)
		return -1;
	if (argv && !argv[0])
		return err_set(e, EINVAL, "field 'argv': must not be empty");
	for (size_t i = 0; env && env[i]; i++)
		if (!strchr(env[i], '=') || env[i][0] == '=')
			return err_set(e, EINVAL, "field 'env'[%zu]: expected NAME=value", i);
	if (sandbox_caps_valid(caps, e) < 0 ||
	    sandbox_syscalls_valid(syscalls, e) < 0)
		return err_wrap(e, "node %s", name);
	s->argv = argv ? strv_dup(argv) : NULL;
	s->env = strv_dup(env);
	s->caps = strv_dup(caps);
	s->syscalls = strv_dup(syscalls);

	if (req_str_opt(j, "workdir", &str, e) < 0)
		return -1;
	s->workdir = xstrdup(str ? str : "/");
	if (node_path_check(s->workdir, "workdir", e) < 0)
		return -1;
	if (req_str_opt(j, "data_path", &str, e) < 0)
		return -1;
	s->data_path = xstrdup(str ? str : "/data");
	if (node_path_check(s->data_path, "data_path", e) < 0)
		return -1;
	if (!strcmp(s->data_path, "/") || path_is_under(s->data_path, "/proc") ||
	    path_is_under(s->data_path, "/dev") || path_is_under(s->data_path, "/sys"))
		return err_set(e, EINVAL, "data_path '%s': not allowed (the runtime "
			       "mounts there)", s->data_path);
	if (req_str_opt(j, "user", &str, e) < 0)
		return -1;
	s->user = xstrdup(str ? str : "");
	if (strlen(s->user) > 64)
		return err_set(e, EINVAL, "field 'user': too long");
	if (req_str_opt(j, "hostname", &str, e) < 0)
		return -1;
	if (str && name_check(str, 63, "hostname", e) < 0)
		return e->code = EINVAL, -1;
	s->hostname = xstrdup(str ? str : name);

	v = 0;
	if (req_int_opt(j, "uid", 0, 65535 * 65536LL, &v, e) < 0)
		return -1;
	s->uid = (uid_t)v;
	v = 0;
	if (req_int_opt(j, "gid", 0, 65535 * 65536LL, &v, e) < 0)
		return -1;
	s->gid = (gid_t)v;

	mem = json_object_get(j, "memory");
	if (json_is_string(mem)) {
		if (parse_size(json_string_value(mem), &s->limits.memory) < 0)
			return err_set(e, EINVAL, "field 'memory': bad size '%s'",
				       json_string_value(mem));
	} else {
		v = 0;
		if (req_int_opt(j, "memory", 0, INT64_MAX, &v, e) < 0)
			return -1;
		s->limits.memory = (uint64_t)v;
	}
	if (s->limits.memory && s->limits.memory < 4 * 1024 * 1024)
		return err_set(e, EINVAL, "field 'memory': at least 4 MiB");
	s->limits.pids = NODE_DEFAULT_PIDS;
	if (req_int_opt(j, "cpu_millis", 0, 1024 * 1000, &s->limits.cpu_millis, e) < 0 ||
	    req_int_opt(j, "pids", 0, 4194304, &s->limits.pids, e) < 0)
		return -1;
	s->nofile = 65536;
	if (req_int_opt(j, "nofile", 16, 1048576, &s->nofile, e) < 0)
		return -1;

	if (req_str_opt(j, "restart", &str, e) < 0)
		return -1;
	s->restart = RESTART_ALWAYS;
	if (str) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(policy_names); i++)
			if (!strcmp(str, policy_names[i]))
				break;
		if (i == ARRAY_SIZE(policy_names))
			return err_set(e, EINVAL, "field 'restart': '%s' is not "
				       "always, on-failure or never", str);
		s->restart = (enum restart_policy)i;
	}
	s->stop_signal = SIGTERM;
	if (node_signal_field(j, "stop_signal", &s->stop_signal, e) < 0)
		return -1;
	s->stop_grace_ms = 10000;
	if (req_int_opt(j, "stop_grace_ms", 0, 3600 * 1000, &s->stop_grace_ms, e) < 0)
		return -1;
	if (req_str_opt(j, "runtime", &str, e) < 0)
		return -1;
	s->runtime = xstrdup(str ? str : "auto");
	if (strcmp(s->runtime, "auto") && strcmp(s->runtime, "builtin") &&
	    strcmp(s->runtime, "runc") && strcmp(s->runtime, "crun"))
		return err_set(e, EINVAL, "field 'runtime': '%s' is not builtin, "
			       "runc, crun or auto", s->runtime);
	s->log_max = 8 * 1024 * 1024;
	if (req_int_opt(j, "log_max", 4096, 1LL << 40, &s->log_max, e) < 0)
		return -1;
	s->start_timeout_ms = NODE_DEFAULT_START_TIMEOUT_MS;
	if (req_int_opt(j, "start_timeout_ms", 100, 3600 * 1000, &s->start_timeout_ms, e) < 0)
		return -1;
	return 0;
}

json_t *node_spec_to_json(const struct node_spec *s)
{
	/* argv is left out until known (filled from the image at create). */
	return json_pack("{s:s,s:s,s:s,s:o*,s:o,s:s,s:s,s:s,s:s,s:I,s:I,s:o,"
			 "s:I,s:I,s:I,s:I,s:s,s:i,s:I,s:s,s:I,s:o,s:I}",
			 "cluster", s->cluster, "node", s->name, "image", s->image,
			 "argv", s->argv ? strv_json(s->argv) : NULL,
			 "env", strv_json(s->env),
			 "workdir", s->workdir, "user", s->user, "hostname", s->hostname,
			 "data_path", s->data_path, "uid", (json_int_t)s->uid,
			 "gid", (json_int_t)s->gid, "caps", strv_json(s->caps),
			 "memory", (json_int_t)s->limits.memory,
			 "cpu_millis", (json_int_t)s->limits.cpu_millis,
			 "pids", (json_int_t)s->limits.pids, "nofile", (json_int_t)s->nofile,
			 "restart", policy_names[s->restart], "stop_signal", s->stop_signal,
			 "stop_grace_ms", (json_int_t)s->stop_grace_ms,
			 "runtime", s->runtime, "log_max", (json_int_t)s->log_max,
			 "syscalls", strv_json(s->syscalls),
			 "start_timeout_ms", (json_int_t)s->start_timeout_ms);
}

void node_spec_free(struct node_spec *s)
{
	free(s->cluster);
	free(s->name);
	free(s->image);
	strv_free(s->argv);
	strv_free(s->env);
	strv_free(s->caps);
	strv_free(s->syscalls);
	free(s->workdir);
	free(s->user);
	free(s->hostname);
	free(s->data_path);
	free(s->runtime);
	memset(s, 0, sizeof *s);
}

void node_sandbox(const struct node *n, struct sandbox *sb)
{
	sb->uid = n->spec.uid;
	sb->gid = n->spec.gid;
	sb->caps = (const char *const *)n->spec.caps;
	sb->nofile = n->spec.nofile;
	sb->nproc = 0;
	sb->syscalls = (const char *const *)n->spec.syscalls;
}
