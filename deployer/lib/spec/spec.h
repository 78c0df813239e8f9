/* spec.h - the cluster spec, parsed once from libconfig into plain structs.
 *
 * Nothing but spec.c reads libconfig.  Every key is declared in one table in
 * spec.c (name, type, default, bounds, help); the parser, `shoal check` and
 * docs/spec.md all come from that table.
 *
 * Ownership: a struct spec owns every string and array under it; spec_free()
 * releases all.  Locations (file:line) are kept for every host and service so
 * later stages (plan, up) can name the line a problem comes from.
 */
#ifndef SHOAL_SPEC_H
#define SHOAL_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

#define SPEC_NAME_MAX 63

enum transport_kind { TRANSPORT_SSH = 0, TRANSPORT_LOCAL };
enum spread_kind { SPREAD_HOST = 0, SPREAD_RACK, SPREAD_ZONE };
enum runtime_kind { RUNTIME_AUTO = 0, RUNTIME_BUILTIN, RUNTIME_RUNC, RUNTIME_CRUN };

struct spec_loc {
	const char *file; /* owned by the spec (spec->files) */
	int line;
};

struct kv {
	char *key;
	char *value; /* scalars are kept as their text: "7", "true", "512M" */
	struct spec_loc loc;
};

struct kvlist {
	struct kv *items;
	size_t n;
};

struct spec_ssh {
	char *user;         /* default "root" */
	char *identity;     /* absolute path, or NULL to use ssh-agent */
	char *known_hosts;  /* absolute path; default ~/.ssh/known_hosts */
	int port;           /* default 22 */
	int connect_timeout_ms;
};

struct spec_host {
	char *name;
	char *address;       /* IPv4/IPv6 literal or DNS name */
	int port;            /* ssh port, default from spec_ssh */
	char *user;          /* default from spec_ssh */
	char *rack;          /* default "default" */
	char *zone;          /* default "default" */
	int cpus_milli;      /* schedulable CPU, 1000 = one core */
	uint64_t memory;     /* schedulable bytes */
	int reserve_cpus_milli;  /* kept back for the host itself */
	uint64_t reserve_memory;
	struct kvlist labels;
	enum transport_kind transport;
	enum runtime_kind runtime;
	bool drained;        /* no node is placed here (`shoal drain`, from the
				state; never from the file) */
	struct spec_loc loc;
};

struct spec_resources {
	uint64_t memory;     /* per node, bytes */
	int cpus_milli;      /* per node */
	int pids;            /* per node pids limit, 0 = none */
};

struct spec_placement {
	enum spread_kind spread;
	bool spread_strict;  /* refuse rather than relax the spread */
	int max_per_host;    /* 0 = no limit */
	struct kvlist require; /* host labels that must match */
};

struct spec_service {
	char *name;
	char *template;      /* templates/<template>/template.cfg */
	char *image;         /* image reference NAME[:TAG], or an absolute recipe
			      * path (*.cfg); NULL = the template's image */
	int nodes;           /* total nodes (masters + replicas) */
	int replicas;        /* replicas per master (Redis); replication factor for others */
	struct spec_resources resources;
	struct spec_placement placement;
	int port_base;       /* first client port; node i may get base + k;
			      * 0 = the template's ports.client */
	struct kvlist settings; /* passed to the template */
	enum runtime_kind runtime;
	struct spec_loc loc;
};

struct spec_monitor {
	int interval_ms;
	int timeout_ms;
	int fail_after;      /* consecutive failed probes before "down" */
	bool respawn;
	int reschedule_after_s;
	bool fail_back;      /* give failed-over masters their role back */
	char *listen;        /* "127.0.0.1:7900" */
};

enum state_backend { STATE_FILE = 0, STATE_ETCD };

/* Where the cluster's state, lock and events live (docs/ha.md). */
struct spec_state {
	enum state_backend backend;
	char **endpoints;    /* etcd client URLs "http://10.0.0.5:2379" */
	size_t nendpoints;
	char *prefix;        /* etcd key prefix, default "/shoal" */
	int lease_ttl_ms;    /* the converge lock's lease */
	int timeout_ms;      /* one etcd request, per endpoint */
	bool store_secrets;  /* etcd: allow generated secrets in the store */
	char *tls_ca;        /* etcd over https: CA file, client cert and key */
	char *tls_cert;      /* (PEM; NULL for none) */
	char *tls_key;
};

struct spec {
	char *path;          /* the spec file as given */
	char *dir;           /* its folder (absolute); relative paths resolve here */
	char *name;          /* cluster name */
	struct spec_ssh ssh;
	struct spec_host *hosts;
	size_t nhosts;
	struct spec_service *services;
	size_t nservices;
	struct spec_monitor monitor;
	struct spec_state state;
	char **files;        /* every file read (main + includes), for spec_loc */
	size_t nfiles;
};

/* One problem found while loading or checking. */
struct spec_problem {
	char *file;
	int line;            /* 0 when unknown */
	char *path;          /* key path: "services[1].placement.spread" */
	char *msg;
};

struct spec_problems {
	struct spec_problem *items;
	size_t n, cap;
};

/* Load and validate a spec.  On success returns 0 and *out owns the spec.
 * On failure returns -1, *out is NULL, every problem found is appended to
 * probs (when non-NULL), and e summarises ("spec.cfg: 3 problems"), exit 2
 * for bad specs (including a missing file, a directory, a file over 1 MiB),
 * 1 when an existing file cannot be read (permission, I/O error).
 * Relative paths (ssh.identity, ssh.known_hosts, image recipes) resolve
 * against the folder of the file the key is written in; `~` is $HOME.
 * @include "FILE" is relative to the including file, at most 8 deep. */
int spec_load(const char *path, struct spec **out, struct spec_problems *probs,
	      struct err *e);
void spec_free(struct spec *s);
void spec_problems_free(struct spec_problems *p);
/* Print each problem as "file:line: key.path: message" (line and path left
 * out when unknown), one per line - the format of `shoal check`.  Commands
 * that load a spec should print its problems with this. */
void spec_problems_print(const struct spec_problems *p, FILE *f);

const struct spec_host *spec_find_host(const struct spec *s, const char *name);
/* Remove host `name` from s, as if the file did not list it (`shoal
 * monitor` plans around hosts that are gone); pointers to s->hosts taken
 * before are invalid after.  False when s has no such host. */
bool spec_drop_host(struct spec *s, const char *name);
const struct spec_service *spec_find_service(const struct spec *s,
					     const char *name);
/* Value of a setting or label, or def when absent. */
const char *kvlist_get(const struct kvlist *l, const char *key, const char *def);

/* The key table as a Markdown table (docs/spec.md embeds it; `shoal check
 * --keys-markdown` prints it).  Caller frees. */
char *spec_keys_markdown(void);

const char *transport_kind_name(enum transport_kind k);
const char *spread_kind_name(enum spread_kind k);
const char *runtime_kind_name(enum runtime_kind k);
const char *state_backend_name(enum state_backend b);

#endif
