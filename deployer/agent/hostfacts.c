/* hostfacts.c - host.facts: what this host offers to nodes. */
#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"
#include "runtime.h"

#define PROBE_TIMEOUT_MS 3000

/* An OCI runtime found on PATH: its version and whether it can run here. */
static json_t *oci_fact(const struct agent *a, const char *name)
{
	_cleanup_free_ char *path = proc_which(name);
	struct buf out = {0};
	struct err e = {0};
	json_t *f;
	int st;

	if (!path)
		return json_pack("{s:s,s:b,s:b,s:s}", "name", name, "found", 0,
				 "usable", 0, "reason", "not installed");
	f = json_pack("{s:s,s:b,s:s}", "name", name, "found", 1, "path", path);
	st = proc_run((const char *[]){path, "--version", NULL}, PROBE_TIMEOUT_MS,
		      &out, &e);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		json_object_set_new(f, "usable", json_false());
		json_object_set_new(f, "reason", json_string(st < 0 ? e.msg :
					"'--version' failed"));
		buf_free(&out);
		return f;
	}
	if (out.len)
		json_object_set_new(f, "version", jsonl_text(out.data,
				    strcspn(out.data, "\n")));
	buf_free(&out);
	const char *why = runtime_oci_unusable(a, name);

	json_object_set_new(f, "usable", json_boolean(!why));
	if (why)
		json_object_set_new(f, "reason", json_string(why));
	return f;
}

int op_host_facts(struct session *s, json_int_t id, json_t *req,
		  json_t **result, struct err *e)
{
	struct agent *a = s->agent;
	struct utsname u;
	struct sysinfo si;
	json_t *rts = json_array();

	if (uname(&u) < 0 || sysinfo(&si) < 0)
		return err_sys(e, errno, "host.facts");
	json_array_append_new(rts, json_pack("{s:s,s:b,s:b}", "name", "builtin",
					     "found", 1, "usable", geteuid() == 0));
	json_array_append_new(rts, oci_fact(a, "runc"));
	json_array_append_new(rts, oci_fact(a, "crun"));
	*result = json_pack("{s:I,s:I,s:s,s:s,s:{s:s,s:s?},s:b,s:o}",
			    "cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
			    "memory", (json_int_t)si.totalram * si.mem_unit,
			    "kernel", u.release, "arch", u.machine,
			    "cgroup", "version", cgroup_mode_name(a->cg.mode),
			    "path", a->cg.rel, "overlay", a->overlay_ok,
			    "runtimes", rts);
	return 0;
}
