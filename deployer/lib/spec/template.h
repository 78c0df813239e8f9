/* template.h - what makes a database a cluster: templates/<name>/template.cfg.
 *
 * A template is data: the node image, config files to render, the start
 * command, how to stop, readiness and health probes and lifecycle hooks
 * (form, join, leave, replace).  The format is documented in
 * docs/templates.md; every key is in one table in template.c, and unknown or
 * ill-typed keys are errors naming template.cfg:line.
 *
 * Rendering is a deliberately small language: `{{ name }}` is replaced by the
 * value of `name` from a variable table, and nothing else happens.  Names are
 * [A-Za-z0-9_.]+; an unknown name is an error naming file:line; a value is
 * inserted verbatim and never rendered again (no recursion, no code); a value
 * holding a control character (newline, CR, tab, NUL, DEL...) is refused, so
 * no value can inject a line into a config file.
 */
#ifndef SHOAL_TEMPLATE_H
#define SHOAL_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "probe_kind.h"
#include "spec.h"
#include "traits.h"

enum hook_kind { HOOK_FORM = 0, HOOK_JOIN, HOOK_LEAVE, HOOK_REPLACE, HOOK_COUNT };

const char *hook_kind_name(enum hook_kind k);

/* A database kind as templates see it.  The kinds are not known here: the
 * layer that has the drivers (db/driver.c, db_register_kinds) hands its table
 * over once at start, and template_load() refuses a `kind` or a
 * "builtin:<step>" hook outside it, listing the known ones. */
struct tmpl_kind {
	const char *name;             /* template `kind`: "redis" */
	const char *title;            /* for messages: "Redis" */
	bool sharded;                 /* masters + replicas, else a ring of equals */
	int min_masters;              /* sharded: fewest masters a cluster takes */
	const char *const *builtins;  /* steps it implements, NULL-terminated */
};
/* kinds[0..n) stay borrowed for the life of the program. */
void template_kinds_set(const struct tmpl_kind *kinds, size_t n);
/* The registered kind `name`, or NULL. */
const struct tmpl_kind *template_kind(const char *name);

/* A config file to render into the node. */
struct tmpl_file {
	char *source;   /* absolute path of the .tmpl file on the operator */
	char *dest;     /* absolute path inside the node */
	mode_t mode;
	int line;       /* of its entry in template.cfg */
};

struct tmpl_probe {
	enum probe_kind kind;
	int connect_timeout_ms;
	int read_timeout_ms;
	int interval_ms;
	int64_t deadline_ms;  /* readiness: give up after this; 0 = none */
	char *path;           /* http only; NULL otherwise */
	char *expect;         /* http only: expected body ("OK"), or NULL */
	int port;             /* 0: the node's client port */
};

/* A lifecycle hook: either argv run inside a node's container (each word
 * rendered with the node's variables) or a built-in step named
 * "builtin:<name>" for what the database's tools cannot express. */
struct tmpl_hook {
	char *builtin;  /* "redis-form"... (without "builtin:"), or NULL */
	char **argv;    /* NULL-terminated, or NULL when builtin */
	int line;
};

struct template {
	char *name;          /* folder name: "redis" */
	char *dir;           /* absolute folder */
	char *path;          /* .../template.cfg */
	char *kind;          /* "redis", "cassandra", "riak" */
	char *image;         /* default image recipe, relative to the data dir */
	int client_port;
	int bus_offset;      /* 0: no bus port */
	char *data_dir;      /* inside the node */
	struct tmpl_file *files;
	size_t nfiles;
	char **start;        /* NULL-terminated argv (rendered per node) */
	int start_line;      /* of `start` in template.cfg, for messages */
	int stop_signal;
	int64_t stop_grace_ms;
	struct kv *settings; /* defaults for settings.* */
	size_t nsettings;
	char **secrets;      /* names of generated secrets, NULL-terminated */
	size_t nsecrets;
	char **syscalls;     /* seccomp additions, NULL-terminated (or NULL);
			      * the agent refuses unknown or unsafe ones */
	size_t nsyscalls;
	struct tmpl_probe readiness, health;
	struct tmpl_hook hooks[HOOK_COUNT];
};

/* Load <root>/templates/<name>/template.cfg (root NULL: shoal_data_dir()).
 * name must be a safe name.  On failure *out is NULL and e names
 * "template.cfg:LINE" (exit 2) or the unreadable file (exit 1). */
int template_load(const char *root, const char *name, struct template **out,
		  struct err *e);
void template_free(struct template *t);

/* The planner's view of a template. */
void template_plan_traits(const struct template *t, struct plan_traits *out);
/* Load the template of every service of s (root as for template_load) and
 * fill *out with one plan_traits per service (caller frees).  When images is
 * non-NULL, *images gets per service the image to run: the service's image,
 * else its template's default (free with strv_free() from util.h; it has
 * nservices entries plus a NULL).  Errors name the service and its spec
 * line. */
int template_traits_for_spec(const struct spec *s, const char *root,
			     struct plan_traits **out, char ***images, struct err *e);

/* ---- variables ------------------------------------------------------------ */

struct tmpl_vars {
	char **keys;
	char **vals;
	size_t n, cap;
};

/* Set (or replace) a variable; both strings are copied. */
void tmpl_vars_set(struct tmpl_vars *v, const char *key, const char *value);
/* NULL when absent. */
const char *tmpl_vars_get(const struct tmpl_vars *v, const char *key);
/* Frees and zeroes every value (they may hold secrets). */
void tmpl_vars_free(struct tmpl_vars *v);
/* Does s hold a control character (< 0x20 or DEL)?  Such a value is never
 * rendered. */
bool tmpl_has_control(const char *s);

/* The variables of one planned node: template_node_vars() in node_vars.h
 * (plan/, since they come from the plan). */

/* ---- rendering ------------------------------------------------------------ */

/* Render text (len bytes; may hold no NUL) from `file` (for messages).
 * *out is NUL-terminated, caller frees.  Errors: "file:LINE: unknown
 * variable 'x'", "file:LINE: unterminated '{{'", "file:LINE: value of 'x'
 * has a control character". */
int template_render(const char *text, size_t len, const char *file,
		    const struct tmpl_vars *v, char **out, size_t *outlen,
		    struct err *e);

/* Render t->files[i] (read from disk, at most 1 MiB). */
int template_render_file(const struct template *t, size_t i,
			 const struct tmpl_vars *v, char **out, size_t *outlen,
			 struct err *e);

/* Render an argv (start command or a hook's argv) word by word; *out is
 * NULL-terminated, free with strv_free() (util.h). */
int template_render_argv(const struct template *t, char *const *argv, int line,
			 const struct tmpl_vars *v, char ***out, struct err *e);

#endif
