/* spec.c - the cluster spec: sources, the key table, parsing and checks.
 *
 * Loading runs in three steps, each reporting every problem it finds:
 *   1. sources: read the spec and its @include files (size cap, NUL bytes,
 *      UTF-8, include loops and depth, bracket nesting) into one text with a
 *      line map back to file:line;
 *   2. keys: libconfig parses that text; the key table keys[] drives the
 *      conversion into struct spec: types, bounds, defaults, unknown keys;
 *   3. checks: rules across keys (duplicates, templates and their settings,
 *      shard shape, placement, capacity, ports, transports, monitor); the
 *      templates come from template_load() (template.h).
 *
 * libconfig 1.5 (Debian 12) has no include hook: it resolves @include against
 * one fixed folder, with no size limit and no loop message.  Step 1 therefore
 * expands includes itself (relative to the including file) and libconfig only
 * ever sees one in-memory text; its include folder is set to /dev/null so
 * that it cannot open a file even if it saw an @include.
 */
#include "spec_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "template.h"
#include "util.h"


/* libconfig 1.5 leaks a string token that ends in a syntax error (a file
 * holding just "" does it): its parser has no destructor for the token.
 * Nothing here can free it, so sanitizer builds ignore leaks allocated
 * inside libconfig (tests/specs/bad/syntax-bare-string.cfg keeps the case). */
#if defined(__SANITIZE_ADDRESS__)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#endif
#endif
#ifdef SPEC_ASAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
#endif

void sp_problem_at(struct load *L, const char *file, int line,
		   const char *path, const char *fmt, ...)
{
	struct spec_problems *p = L->probs;
	struct spec_problem *it;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	p->items = xgrow(p->items, &p->cap, p->n + 1, sizeof *p->items);
	it = &p->items[p->n++];
	it->file = xstrdup(file ? file : "");
	it->line = line;
	it->path = xstrdup(path ? path : "");
	it->msg = xstrdup(msg);
}

/* ==== the key table ======================================================== */


static const char *const transport_names[] = {"ssh", "local", NULL};
static const char *const spread_names[] = {"host", "rack", "zone", NULL};
static const char *const runtime_names[] = {"auto", "builtin", "runc", "crun", NULL};
static const char *const backend_names[] = {"file", "etcd", NULL};

#define S_(f) offsetof(struct spec, f)
#define SSH_(f) offsetof(struct spec_ssh, f)
#define H_(f) offsetof(struct spec_host, f)
#define SV_(f) offsetof(struct spec_service, f)
#define R_(f) offsetof(struct spec_resources, f)
#define P_(f) offsetof(struct spec_placement, f)
#define M_(f) offsetof(struct spec_monitor, f)
#define ST_(f) offsetof(struct spec_state, f)

static const struct key keys[] = {
	/* ---- top level ---- */
	{"", "name", KT_NAME, KEY_REQUIRED, NULL, NULL, 0, SPEC_NAME_MAX, NULL, S_(name),
	 .help = "Cluster name, [a-z][a-z0-9-]*; names the state folder .shoal/NAME/.",
	 .example = "\"shop\""},
	{"", "ssh", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, S_(ssh), "ssh",
	 .help = "How the operator reaches hosts over SSH (defaults for every host).",
	 .example = "{ user = \"root\"; identity = \"keys/id_ed25519\"; }"},
	{"", "hosts", KT_LIST, KEY_REQUIRED, NULL, NULL, 1, 4096, NULL, S_(hosts), "hosts[]",
	 sizeof(struct spec_host), S_(nhosts), H_(loc),
	 .help = "The machines nodes may run on.",
	 .example = "( { name = \"h1\"; address = \"10.0.0.11\"; cpus = 4; memory = \"8G\"; } )"},
	{"", "services", KT_LIST, KEY_REQUIRED, NULL, NULL, 1, 256, NULL, S_(services),
	 "services[]", sizeof(struct spec_service), S_(nservices), SV_(loc),
	 .help = "The database clusters to run, one template each.",
	 .example = "( { name = \"cache\"; template = \"redis\"; nodes = 6; ports = { base = 7000; }; } )"},
	{"", "monitor", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, S_(monitor), "monitor",
	 .help = "How `shoal monitor` watches and heals the cluster.",
	 .example = "{ interval_ms = \"1s\"; fail_after = 3; }"},
	{"", "state", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, S_(state), "state",
	 .help = "Where the cluster's state, lock and events are kept (docs/state.md, docs/ha.md).",
	 .example = "{ backend = \"etcd\"; endpoints = [\"http://10.0.0.5:2379\"]; }"},

	/* ---- ssh ---- */
	{"ssh", "user", KT_NAME, 0, "root", NULL, 0, 32, NULL, SSH_(user),
	 .help = "Login user on every host (hosts[].user overrides).", .example = "\"root\""},
	{"ssh", "identity", KT_PATH, 0, NULL, "none: keys from ssh-agent", 0, 0, NULL,
	 SSH_(identity),
	 .help = "Private key file; relative to the folder of the file it is written in, "
		 "`~` expanded.",
	 .example = "\"~/.ssh/id_ed25519\""},
	{"ssh", "known_hosts", KT_PATH, 0, "~/.ssh/known_hosts", NULL, 0, 0, NULL,
	 SSH_(known_hosts),
	 .help = "known_hosts file; host keys are checked strictly against it.",
	 .example = "\"lab/known_hosts\""},
	{"ssh", "port", KT_INT, 0, "22", NULL, 1, 65535, NULL, SSH_(port),
	 .help = "SSH port (hosts[].port overrides).", .example = "22"},
	{"ssh", "connect_timeout_ms", KT_DURATION, 0, "5s", NULL, 100, 600000, NULL,
	 SSH_(connect_timeout_ms),
	 .help = "Give up connecting to a host after this long.", .example = "\"10s\""},

	/* ---- hosts ---- */
	{"hosts[]", "name", KT_NAME, KEY_REQUIRED, NULL, NULL, 0, SPEC_NAME_MAX, NULL, H_(name),
	 .help = "Host name, unique in the spec; a safe path component.", .example = "\"h1\""},
	{"hosts[]", "address", KT_ADDRESS, KEY_REQUIRED, NULL, NULL, 0, 0, NULL, H_(address),
	 .help = "IPv4/IPv6 literal or DNS name, unique in the spec.",
	 .example = "\"10.213.0.11\""},
	{"hosts[]", "port", KT_INT, 0, NULL, "ssh.port", 1, 65535, NULL, H_(port),
	 .help = "SSH port of this host.", .example = "2222"},
	{"hosts[]", "user", KT_NAME, 0, NULL, "ssh.user", 0, 32, NULL, H_(user),
	 .help = "SSH login user on this host.", .example = "\"admin\""},
	{"hosts[]", "rack", KT_NAME, 0, "default", NULL, 0, SPEC_NAME_MAX, NULL, H_(rack),
	 .help = "Failure domain inside a zone (spread = \"rack\").", .example = "\"r1\""},
	{"hosts[]", "zone", KT_NAME, 0, "default", NULL, 0, SPEC_NAME_MAX, NULL, H_(zone),
	 .help = "Zone or datacenter (spread = \"zone\"; Cassandra's DC).",
	 .example = "\"dc1\""},
	{"hosts[]", "cpus", KT_CPUS, KEY_REQUIRED, NULL, NULL, 1, 1024000, NULL,
	 H_(cpus_milli),
	 .help = "Schedulable CPUs: a number of cores (2, 1.5) or millicores (\"500m\").",
	 .example = "4"},
	{"hosts[]", "memory", KT_SIZE, KEY_REQUIRED, NULL, NULL, MiB(64), TiB(64), NULL,
	 H_(memory),
	 .help = "Schedulable memory: bytes or a size (512M, 2G).", .example = "\"8G\""},
	{"hosts[]", "reserve", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, 0, "hosts[].reserve",
	 .help = "Kept back for the host itself; nodes get the rest.",
	 .example = "{ memory = \"512M\"; cpus = 0.5; }"},
	{"hosts[]", "labels", KT_MAP, KEY_SAFE_VALUES, NULL, "none", 0, SPEC_MAP_MAX, NULL,
	 H_(labels),
	 .help = "Free labels matched by services[].placement.require.",
	 .example = "{ disk = \"ssd\"; }"},
	{"hosts[]", "transport", KT_ENUM, 0, "ssh", NULL, 0, 0, transport_names, H_(transport),
	 .help = "\"ssh\", or \"local\" to run the agent as a child process on this machine "
		 "(address must be loopback unless it is the only host).",
	 .example = "\"local\""},
	{"hosts[]", "runtime", KT_ENUM, 0, "auto", NULL, 0, 0, runtime_names, H_(runtime),
	 .help = "Container runtime on this host: auto, builtin, runc or crun.",
	 .example = "\"builtin\""},

	/* ---- hosts[].reserve (fields of struct spec_host) ---- */
	{"hosts[].reserve", "memory", KT_SIZE, 0, "0", NULL, 0, TiB(64), NULL,
	 H_(reserve_memory),
	 .help = "Memory kept back for the host.", .example = "\"512M\""},
	{"hosts[].reserve", "cpus", KT_CPUS, 0, "0", NULL, 0, 1024000, NULL,
	 H_(reserve_cpus_milli),
	 .help = "CPUs kept back for the host.", .example = "0.5"},

	/* ---- services ---- */
	{"services[]", "name", KT_NAME, KEY_REQUIRED, NULL, NULL, 0, SPEC_NAME_MAX - 8, NULL,
	 SV_(name),
	 .help = "Service name, unique; node ids are NAME-INDEX (cache-0).",
	 .example = "\"cache\""},
	{"services[]", "template", KT_NAME, KEY_REQUIRED, NULL, NULL, 0, SPEC_NAME_MAX, NULL,
	 SV_(template),
	 .help = "Database template: templates/NAME/template.cfg must exist.",
	 .example = "\"redis\""},
	{"services[]", "image", KT_IMAGE, 0, NULL, "the template's image", 0, 0, NULL,
	 SV_(image),
	 .help = "Image NAME[:TAG] in the local store, or a recipe file ending in .cfg "
		 "(relative to the folder of the file it is written in).",
	 .example = "\"../node-images/redis.cfg\""},
	{"services[]", "nodes", KT_INT, KEY_REQUIRED, NULL, NULL, 1, 1000, NULL, SV_(nodes),
	 .help = "Total nodes, masters and replicas.", .example = "6"},
	{"services[]", "replicas", KT_INT, 0, "1", NULL, 0, 16, NULL, SV_(replicas),
	 .help = "Redis: replicas per master (nodes must be a multiple of replicas+1, "
		 "with at least 3 masters). Others: replication factor (at most nodes).",
	 .example = "1"},
	{"services[]", "resources", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, SV_(resources),
	 "services[].resources",
	 .help = "Limits for each node.", .example = "{ memory = \"1G\"; cpus = 1; }"},
	{"services[]", "placement", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, SV_(placement),
	 "services[].placement",
	 .help = "Where nodes may go.", .example = "{ spread = \"rack\"; }"},
	{"services[]", "ports", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, 0, "services[].ports",
	 .help = "Ports the nodes listen on.", .example = "{ base = 7000; }"},
	{"services[]", "settings", KT_MAP, 0, NULL, "none", 0, SPEC_MAP_MAX, NULL,
	 SV_(settings),
	 .help = "Scalars passed to the template (see docs/templates.md); `shoal up` restarts the service's nodes one at a time when they change.",
	 .example = "{ maxmemory_policy = \"allkeys-lru\"; }"},
	{"services[]", "runtime", KT_ENUM, 0, "auto", NULL, 0, 0, runtime_names, SV_(runtime),
	 .help = "Container runtime for this service's nodes (auto: the host's).",
	 .example = "\"crun\""},

	/* ---- services[].resources ---- */
	{"services[].resources", "memory", KT_SIZE, 0, "256M", NULL, MiB(16), TiB(64), NULL,
	 R_(memory),
	 .help = "Memory limit per node (cgroup memory.max).", .example = "\"1G\""},
	{"services[].resources", "cpus", KT_CPUS, 0, "0.5", NULL, 10, 1024000, NULL,
	 R_(cpus_milli),
	 .help = "CPU limit per node (cgroup cpu.max).", .example = "\"1500m\""},
	{"services[].resources", "pids", KT_INT, 0, "4096", NULL, 0, 4194304, NULL, R_(pids),
	 .help = "Process limit per node (cgroup pids.max); 0 = no limit.", .example = "512"},

	/* ---- services[].placement ---- */
	{"services[].placement", "spread", KT_ENUM, 0, "host", NULL, 0, 0, spread_names,
	 P_(spread),
	 .help = "Spread nodes (and a master's replicas) across hosts, racks or zones.",
	 .example = "\"rack\""},
	{"services[].placement", "spread_strict", KT_BOOL, 0, "false", NULL, 0, 1, NULL,
	 P_(spread_strict),
	 .help = "Refuse (exit 2) when a shard cannot span distinct racks (zones) or a replica cannot be off its master's rack, instead of placing with the best spread there is and a warning.",
	 .example = "true"},
	{"services[].placement", "max_per_host", KT_INT, 0, "0", NULL, 0, 1000, NULL,
	 P_(max_per_host),
	 .help = "At most this many of the service's nodes on one host; 0 = no limit.",
	 .example = "2"},
	{"services[].placement", "require", KT_MAP, KEY_SAFE_VALUES, NULL, "none", 0,
	 SPEC_MAP_MAX, NULL, P_(require),
	 .help = "Only hosts whose labels have these values.",
	 .example = "{ disk = \"ssd\"; }"},

	/* ---- services[].ports (fields of struct spec_service) ---- */
	{"services[].ports", "base", KT_INT, 0, NULL, "the template's ports.client (0 here)",
	 1, 65535, NULL, SV_(port_base),
	 .help = "First client port. Each node gets the lowest port from BASE up that is "
		 "free on its host (used by no other node and, as the host's agent reports, by "
		 "no other program), together with its bus port at the template's "
		 "ports.bus_offset (Redis: +10000 for the cluster bus). A recorded node keeps "
		 "its port while it is free.",
	 .example = "7000"},

	/* ---- state ---- */
	{"state", "backend", KT_ENUM, 0, "file", NULL, 0, 0, backend_names, ST_(backend),
	 .help = "\"file\": <state dir>/NAME/ on this machine; \"etcd\": keys under state.prefix "
		 "in an etcd cluster, shared by every operator machine (docs/ha.md).",
	 .example = "\"etcd\""},
	{"state", "endpoints", KT_URLS, 0, NULL, "none", 0, 16, NULL, ST_(endpoints),
	 .count_off = ST_(nendpoints),
	 .help = "etcd client URLs (http:// or https://), tried in order; required for "
		 "backend \"etcd\" and for `shoal state migrate --to etcd`.",
	 .example = "[\"http://10.0.0.5:2379\", \"http://10.0.0.6:2379\"]"},
	{"state", "prefix", KT_KEYPREFIX, 0, "/shoal", NULL, 0, 200, NULL, ST_(prefix),
	 .help = "etcd key prefix; the cluster's keys are PREFIX/NAME/{state,lock,events/...}.",
	 .example = "\"/teams/db/shoal\""},
	{"state", "lease_ttl", KT_DURATION, 0, "10s", NULL, 2000, 300000, NULL,
	 ST_(lease_ttl_ms),
	 .help = "etcd: the lease of the converge lock; a holder that dies frees the lock "
		 "this long after its last keepalive.",
	 .example = "\"5s\""},
	{"state", "timeout", KT_DURATION, 0, "5s", NULL, 100, 120000, NULL, ST_(timeout_ms),
	 .help = "etcd: give up one request to one endpoint after this long and try the next.",
	 .example = "\"2s\""},
	{"state", "store_secrets", KT_BOOL, 0, "false", NULL, 0, 1, NULL, ST_(store_secrets),
	 .help = "etcd: allow generated secrets (passwords) into the store; without it a "
		 "state that holds secrets is refused rather than written to etcd.",
	 .example = "true"},
	{"state", "tls", KT_GROUP, 0, NULL, NULL, 0, 0, NULL, 0, "state.tls",
	 .help = "etcd over https://: the CA that signed the members' certificates and the "
		 "client certificate they ask for (etcd --client-cert-auth).",
	 .example = "{ ca = \"etcd/ca.crt\"; cert = \"etcd/ops.crt\"; key = \"etcd/ops.key\"; }"},

	/* ---- state.tls (fields of struct spec_state) ---- */
	{"state.tls", "ca", KT_PATH, 0, NULL, "none: the system's CA store", 0, 0, NULL,
	 ST_(tls_ca),
	 .help = "PEM file of the CA the etcd members' certificates are checked against; "
		 "relative to the folder of the file it is written in.",
	 .example = "\"etcd/ca.crt\""},
	{"state.tls", "cert", KT_PATH, 0, NULL, "none", 0, 0, NULL, ST_(tls_cert),
	 .help = "PEM client certificate shown to etcd (with state.tls.key).",
	 .example = "\"etcd/ops.crt\""},
	{"state.tls", "key", KT_PATH, 0, NULL, "none", 0, 0, NULL, ST_(tls_key),
	 .help = "PEM private key of state.tls.cert; keep it 0600.",
	 .example = "\"etcd/ops.key\""},

	/* ---- monitor ---- */
	{"monitor", "interval_ms", KT_DURATION, 0, "1s", NULL, 50, 3600000, NULL,
	 M_(interval_ms),
	 .help = "Probe every node this often.", .example = "\"500ms\""},
	{"monitor", "timeout_ms", KT_DURATION, 0, "500ms", NULL, 10, 600000, NULL,
	 M_(timeout_ms),
	 .help = "A probe fails after this long; must be below interval_ms.",
	 .example = "\"250ms\""},
	{"monitor", "fail_after", KT_INT, 0, "3", NULL, 1, 100, NULL, M_(fail_after),
	 .help = "Consecutive failed probes before a node is down.", .example = "3"},
	{"monitor", "respawn", KT_BOOL, 0, "true", NULL, 0, 1, NULL, M_(respawn),
	 .help = "Restart a down node on its own host.", .example = "true"},
	{"monitor", "reschedule_after_s", KT_INT, 0, "30", NULL, 0, 86400, NULL,
	 M_(reschedule_after_s),
	 .help = "Move a node to another host after its host has been down this many "
		 "seconds; 0 = never.",
	 .example = "60"},
	{"monitor", "fail_back", KT_BOOL, 0, "false", NULL, 0, 1, NULL, M_(fail_back),
	 .help = "Once a master that failed over is back, give it its planned role again "
		 "(an `up` run by the monitor; Redis: a coordinated CLUSTER FAILOVER).",
	 .example = "true"},
	{"monitor", "listen", KT_LISTEN, 0, "127.0.0.1:7900", NULL, 0, 0, NULL, M_(listen),
	 .help = "Where the monitor serves /status and /metrics.",
	 .example = "\"127.0.0.1:7901\""},
};

const struct key *sp_keys(size_t *n)
{
	*n = ARRAY_SIZE(keys);
	return keys;
}

const struct key *sp_find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* ==== suggestions ========================================================== */

/* Levenshtein distance (ASCII case folded), or SIZE_MAX for long words. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = prev + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

/* The candidate closest to word, when it is close enough to be a typo. */
const char *sp_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX, len = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, cands[i]);

		if (d < bestd)
			bestd = d, best = cands[i];
	}
	if (bestd <= 2 && bestd < len)
		return best;
	return NULL;
}

const char *sp_closest_key(const char *section, const char *word)
{
	const char *names[ARRAY_SIZE(keys)];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].section, section))
			names[n++] = keys[i].name;
	return sp_closest(word, names, n);
}

size_t sp_count_choices(const char *const *c)
{
	size_t n = 0;

	while (c[n])
		n++;
	return n;
}

/* ==== loading ============================================================== */

static size_t file_rank(const struct load *L, const char *file)
{
	for (size_t i = 0; i < L->s->nfiles; i++)
		if (!strcmp(L->s->files[i], file))
			return i;
	return 0;
}

/* Order problems found since `from` by file (in reading order), then line,
 * keeping the discovery order of problems on the same line. */
static void sort_problems(struct load *L, size_t from)
{
	struct spec_problem *p = L->probs->items;
	size_t n = L->probs->n;

	for (size_t i = from + 1; i < n; i++) {
		struct spec_problem tmp = p[i];
		size_t rank = file_rank(L, tmp.file), j = i;

		while (j > from && (file_rank(L, p[j - 1].file) > rank ||
				    (file_rank(L, p[j - 1].file) == rank && p[j - 1].line > tmp.line))) {
			p[j] = p[j - 1];
			j--;
		}
		p[j] = tmp;
	}
}

static void load_release(struct load *L)
{
	for (size_t i = 0; i < L->s->nfiles; i++)
		free(L->dirs[i]);
	free(L->dirs);
	free(L->stack);
	free(L->segs);
	buf_free(&L->text);
	free(L->data_dir);
}

int spec_load(const char *path, struct spec **out, struct spec_problems *probs,
	      struct err *e)
{
	struct spec_problems own = {0};
	struct spec *s = xcalloc(1, sizeof *s);
	struct load L = {.s = s, .probs = probs ? probs : &own, .exit = ERR_EXIT_USAGE};
	size_t before = L.probs->n, nprob;
	char real[PATH_MAX];
	_cleanup_free_ char *dir = path_dirname(path);

	*out = NULL;
	s->path = xstrdup(path);
	s->dir = xstrdup(realpath(dir, real) ? real : dir);
	config_init(&L.cfg);
	/* Every @include was expanded above: libconfig must never open a file. */
	config_set_include_dir(&L.cfg, "/dev/null");
	if (sp_source_file(&L, path, NULL) == 0) {
		if (config_read_string(&L.cfg, L.text.data ? L.text.data : "") != CONFIG_TRUE) {
			struct spec_loc at = sp_map_line(&L, config_error_line(&L.cfg));
			const char *t = config_error_text(&L.cfg);

			problem(&L, &at, "", "%s", t ? t : "syntax error");
		} else {
			struct spec_loc top = {s->files[0], 0};

			struct template **tm;

			L.data_dir = shoal_data_dir();
			sp_parse_section(&L, "", config_root_setting(&L.cfg), s, "", &top);
			tm = xcalloc(s->nservices + 1, sizeof *tm);
			sp_check_cluster(&L);
			sp_check_hosts(&L);
			sp_check_services(&L, tm);
			sp_check_capacity(&L);
			sp_check_ports(&L, tm);
			sp_check_monitor(&L);
			sp_check_state(&L);
			for (size_t i = 0; i < s->nservices; i++)
				template_free(tm[i]);
			free(tm);
		}
	}
	config_destroy(&L.cfg);
	sort_problems(&L, before);
	nprob = L.probs->n - before;
	if (nprob == 0) {
		load_release(&L);
		*out = s;
		return 0;
	}
	if (L.exit == ERR_EXIT_FAIL)
		err_set(e, EIO, "%s: %zu problem%s", path, nprob, nprob == 1 ? "" : "s");
	else
		err_usage(e, "%s: %zu problem%s", path, nprob, nprob == 1 ? "" : "s");
	load_release(&L);
	spec_problems_free(&own);
	spec_free(s);
	return -1;
}

/* ==== the rest of the interface ============================================ */

static void kvlist_free(struct kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
}

void spec_free(struct spec *s)
{
	if (!s)
		return;
	free(s->path);
	free(s->dir);
	free(s->name);
	free(s->ssh.user);
	free(s->ssh.identity);
	free(s->ssh.known_hosts);
	for (size_t i = 0; i < s->nhosts; i++) {
		struct spec_host *h = &s->hosts[i];

		free(h->name);
		free(h->address);
		free(h->user);
		free(h->rack);
		free(h->zone);
		kvlist_free(&h->labels);
	}
	free(s->hosts);
	for (size_t i = 0; i < s->nservices; i++) {
		struct spec_service *sv = &s->services[i];

		free(sv->name);
		free(sv->template);
		free(sv->image);
		kvlist_free(&sv->placement.require);
		kvlist_free(&sv->settings);
	}
	free(s->services);
	free(s->monitor.listen);
	strv_free(s->state.endpoints);
	free(s->state.prefix);
	free(s->state.tls_ca);
	free(s->state.tls_cert);
	free(s->state.tls_key);
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	free(s);
}

void spec_problems_free(struct spec_problems *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].file);
		free(p->items[i].path);
		free(p->items[i].msg);
	}
	free(p->items);
	p->items = NULL;
	p->n = p->cap = 0;
}

void spec_problems_print(const struct spec_problems *p, FILE *f)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct spec_problem *it = &p->items[i];

		fputs(it->file, f);
		if (it->line > 0)
			fprintf(f, ":%d", it->line);
		if (*it->path)
			fprintf(f, ": %s", it->path);
		fprintf(f, ": %s\n", it->msg);
	}
}

const struct spec_host *spec_find_host(const struct spec *s, const char *name)
{
	for (size_t i = 0; i < s->nhosts; i++)
		if (!strcmp(s->hosts[i].name, name))
			return &s->hosts[i];
	return NULL;
}

bool spec_drop_host(struct spec *s, const char *name)
{
	for (size_t i = 0; i < s->nhosts; i++) {
		struct spec_host *h = &s->hosts[i];

		if (strcmp(h->name, name))
			continue;
		free(h->name);
		free(h->address);
		free(h->user);
		free(h->rack);
		free(h->zone);
		kvlist_free(&h->labels);
		memmove(h, h + 1, (s->nhosts - i - 1) * sizeof *h);
		s->nhosts--;
		return true;
	}
	return false;
}

const struct spec_service *spec_find_service(const struct spec *s, const char *name)
{
	for (size_t i = 0; i < s->nservices; i++)
		if (!strcmp(s->services[i].name, name))
			return &s->services[i];
	return NULL;
}

const char *kvlist_get(const struct kvlist *l, const char *key, const char *def)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].key, key))
			return l->items[i].value;
	return def;
}

const char *transport_kind_name(enum transport_kind k)
{
	return (unsigned)k < ARRAY_SIZE(transport_names) - 1 ? transport_names[k] : "?";
}

const char *spread_kind_name(enum spread_kind k)
{
	return (unsigned)k < ARRAY_SIZE(spread_names) - 1 ? spread_names[k] : "?";
}

const char *state_backend_name(enum state_backend b)
{
	return (unsigned)b < ARRAY_SIZE(backend_names) - 1 ? backend_names[b] : "?";
}

const char *runtime_kind_name(enum runtime_kind k)
{
	return (unsigned)k < ARRAY_SIZE(runtime_names) - 1 ? runtime_names[k] : "?";
}
