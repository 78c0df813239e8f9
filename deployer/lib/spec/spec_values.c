/* spec_values.c - step 2 of loading a spec: libconfig's tree converted
 * into struct spec, driven by the key table (spec_int.h). */
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

/* ==== step 2: values ======================================================= */

/* A scalar as written: from a libconfig setting or from a table default. */
struct raw {
	enum { RAW_INT, RAW_FLOAT, RAW_BOOL, RAW_STRING } kind;
	long long i;
	double f;
	const char *s;
	const char *dir;       /* folder relative paths resolve to */
	struct spec_loc loc;
};

static const char *raw_kind_name(const struct raw *r)
{
	switch (r->kind) {
	case RAW_INT: return "an integer";
	case RAW_FLOAT: return "a float";
	case RAW_BOOL: return "a boolean";
	case RAW_STRING: return "a string";
	}
	return "a value";
}

static const char *setting_kind_name(const config_setting_t *c)
{
	switch (config_setting_type(c)) {
	case CONFIG_TYPE_GROUP: return "a group { }";
	case CONFIG_TYPE_LIST: return "a list ( )";
	case CONFIG_TYPE_ARRAY: return "an array [ ]";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_STRING: return "a string";
	}
	return "a value";
}

/* Fill r from a scalar setting; -1 when c is a group, list or array. */
static int raw_from_setting(const struct load *L, const config_setting_t *c,
			    struct raw *r)
{
	int cline = (int)config_setting_source_line(c);

	*r = (struct raw){.loc = sp_map_line(L, cline), .dir = sp_dir_of(L, cline)};
	switch (config_setting_type(c)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		r->kind = RAW_INT;
		r->i = config_setting_get_int64(c);
		return 0;
	case CONFIG_TYPE_FLOAT:
		r->kind = RAW_FLOAT;
		r->f = config_setting_get_float(c);
		return 0;
	case CONFIG_TYPE_BOOL:
		r->kind = RAW_BOOL;
		r->i = config_setting_get_bool(c);
		return 0;
	case CONFIG_TYPE_STRING:
		r->kind = RAW_STRING;
		r->s = config_setting_get_string(c);
		return 0;
	default:
		return -1;
	}
}

/* The text a map keeps for a scalar ("7", "true", "512M"). */
static char *raw_text(const struct raw *r)
{
	switch (r->kind) {
	case RAW_INT: return xasprintf("%lld", r->i);
	case RAW_FLOAT: return xasprintf("%g", r->f);
	case RAW_BOOL: return xstrdup(r->i ? "true" : "false");
	case RAW_STRING: return xstrdup(r->s);
	}
	return xstrdup("");
}

/* Index of the first control byte in s, or -1. */
static int control_byte(const char *s)
{
	for (int i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return i;
	return -1;
}

static bool is_dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool sp_is_loopback(const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!strcasecmp(s, "localhost"))
		return true;
	if (inet_pton(AF_INET, s, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, s, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* "127.0.0.1:7900", "[::1]:7900", "localhost:7900" */
static int listen_check(const char *s, const char **why)
{
	const char *colon = strrchr(s, ':');
	_cleanup_free_ char *host = NULL;
	char *end;
	long port;

	if (!colon) {
		*why = "must be ADDRESS:PORT";
		return -1;
	}
	if (s[0] == '[') {
		if (colon == s || colon[-1] != ']') {
			*why = "must be [IPv6]:PORT";
			return -1;
		}
		host = xstrndup(s + 1, (size_t)(colon - s - 2));
	} else {
		host = xstrndup(s, (size_t)(colon - s));
	}
	if (!is_ip_literal(host) && !is_dns_name(host)) {
		*why = "has no valid address before ':'";
		return -1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535) {
		*why = "has no port 1..65535 after ':'";
		return -1;
	}
	return 0;
}

/* `~`, `~/x`, relative or absolute -> absolute path (caller frees). */
static char *path_resolve(const char *p, const char *dir, const char **why)
{
	if (p[0] == '~') {
		const char *home = getenv("HOME");

		if (p[1] && p[1] != '/') {
			*why = "~USER paths are not supported; write the full path";
			return NULL;
		}
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());

			home = pw ? pw->pw_dir : NULL;
		}
		if (!home) {
			*why = "cannot expand '~': no HOME";
			return NULL;
		}
		return p[1] ? path_join(home, p + 2) : xstrdup(home);
	}
	return path_join(dir, p);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* "/a/b-c": a '/' then safe names separated by single '/', no trailing '/'. */
static int keyprefix_check(const char *s, size_t max, const char **why)
{
	if (strlen(s) > max) {
		*why = "is too long";
		return -1;
	}
	if (s[0] != '/' || !s[1]) {
		*why = "must start with '/' and name at least one level (\"/shoal\")";
		return -1;
	}
	for (const char *p = s + 1; *p;) {
		size_t n = strcspn(p, "/");
		_cleanup_free_ char *part = xstrndup(p, n);

		if (!name_is_safe(part, SPEC_NAME_MAX)) {
			*why = "has a level that is not a safe name ([A-Za-z0-9._-], no leading '.' or '-', no empty level or trailing '/')";
			return -1;
		}
		p += n;
		if (*p == '/')
			p++;
		if (p[-1] == '/' && !*p) {
			*why = "ends in '/'";
			return -1;
		}
	}
	return 0;
}

/* An etcd client URL: http:// or https://, a host, an optional port, no
 * path beyond "/", no user info, printable. */
static int url_check(const char *s, const char **why)
{
	const char *h = !strncmp(s, "http://", 7) ? s + 7 : !strncmp(s, "https://", 8) ? s + 8 : NULL;

	if (!h) {
		*why = "must start with http:// or https://";
		return -1;
	}
	if (!*h || *h == '/' || *h == ':') {
		*why = "names no host";
		return -1;
	}
	for (const char *p = h; *p; p++) {
		if (*p == '@' || *p == '?' || *p == '#' || *p == ' ' || (unsigned char)*p < 0x21 ||
		    (unsigned char)*p > 0x7e) {
			*why = "must be scheme://host[:port] (no user, query, spaces or non-ASCII)";
			return -1;
		}
		if (*p == '/' && p[1]) {
			*why = "must be scheme://host[:port] (no path)";
			return -1;
		}
	}
	return 0;
}

/* Check a string value for its key type and store it (owned) in *dst. */
static void store_string(struct load *L, const struct key *k, const struct raw *r,
			 const char *path, char **dst)
{
	const char *why = NULL;
	struct err e = {0};
	int bad = control_byte(r->s);
	char *v = NULL;

	if (bad >= 0) {
		problem(L, &r->loc, path, "has a control byte 0x%02x at offset %d",
			(unsigned char)r->s[bad], bad);
		return;
	}
	switch (k->type) {
	case KT_NAME:
		if (name_check(r->s, (size_t)k->max, k->name, &e) < 0) {
			problem(L, &r->loc, path, "%s", e.msg);
			return;
		}
		v = xstrdup(r->s);
		break;
	case KT_ADDRESS:
		if (!is_ip_literal(r->s) && !is_dns_name(r->s)) {
			problem(L, &r->loc, path,
				"'%s' is not an IP address or DNS name", r->s);
			return;
		}
		v = xstrdup(r->s);
		break;
	case KT_LISTEN:
		if (listen_check(r->s, &why) < 0) {
			problem(L, &r->loc, path, "'%s' %s", r->s, why);
			return;
		}
		v = xstrdup(r->s);
		break;
	case KT_PATH:
		if (!*r->s) {
			problem(L, &r->loc, path, "is empty");
			return;
		}
		v = path_resolve(r->s, r->dir, &why);
		if (!v) {
			problem(L, &r->loc, path, "'%s': %s", r->s, why);
			return;
		}
		break;
	case KT_IMAGE:
		if (ends_with(r->s, ".cfg")) {
			struct stat st;

			v = path_resolve(r->s, r->dir, &why);
			if (!v) {
				problem(L, &r->loc, path, "'%s': %s", r->s, why);
				return;
			}
			if (stat(v, &st) < 0 || !S_ISREG(st.st_mode)) {
				problem(L, &r->loc, path, "image recipe %s: %s", v,
					stat(v, &st) < 0 ? strerror(errno) : "not a regular file");
				free(v);
				return;
			}
		} else {
			const char *colon = strchr(r->s, ':');
			_cleanup_free_ char *name =
				colon ? xstrndup(r->s, (size_t)(colon - r->s)) : xstrdup(r->s);

			if (name_check(name, 128, "image name", &e) < 0 ||
			    (colon && name_check(colon + 1, 128, "image tag", &e) < 0)) {
				problem(L, &r->loc, path,
					"%s (write NAME[:TAG] or a recipe path ending in .cfg)",
					e.msg);
				return;
			}
			v = xstrdup(r->s);
		}
		break;
	case KT_KEYPREFIX:
		if (keyprefix_check(r->s, (size_t)k->max, &why) < 0) {
			problem(L, &r->loc, path, "'%s' %s", r->s, why);
			return;
		}
		v = xstrdup(r->s);
		break;
	default:
		return;
	}
	free(*dst);
	*dst = v;
}

/* Cores -> millicores, rounded to nearest; values beyond 1e12 cores (and
 * NaN) saturate so that the bound check refuses them. */
static int64_t cores_to_milli(double d)
{
	if (!(d > -1e12 && d < 1e12))
		return d < 0 ? INT64_MIN : INT64_MAX;
	d *= 1000.0;
	return d < 0 ? -(int64_t)(0.5 - d) : (int64_t)(d + 0.5);
}

/* "500m", "1.5", "2" -> milli-CPUs. */
static int parse_cpus(const char *s, int64_t *out)
{
	char *end;
	double d;

	if (!*s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -1;
	if (ends_with(s, "m")) {
		errno = 0;
		long long v = strtoll(s, &end, 10);

		if (errno || *end != 'm' || end[1] || v < 0)
			return -1;
		*out = v;
		return 0;
	}
	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || !(d >= 0 && d <= 1e9))
		return -1;
	*out = cores_to_milli(d);
	return 0;
}

/* A KT_ENUM value: the index of its choice, or a problem listing them. */
static void store_enum(struct load *L, const struct key *k, const struct raw *r,
		       const char *path, void *dst)
{
	size_t n = sp_count_choices(k->choices);
	struct buf list = {0};
	const char *sug;

	if (r->kind != RAW_STRING) {
		problem(L, &r->loc, path, "expected a string, got %s", raw_kind_name(r));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(r->s, k->choices[i])) {
			*(int *)dst = (int)i;
			return;
		}
	}
	for (size_t i = 0; i < n; i++)
		buf_printf(&list, "%s\"%s\"", i ? ", " : "", k->choices[i]);
	sug = sp_closest(r->s, k->choices, n);
	if (sug)
		problem(L, &r->loc, path, "'%s' is not one of %s; did you mean '%s'?", r->s,
			list.data, sug);
	else
		problem(L, &r->loc, path, "'%s' is not one of %s", r->s, list.data);
	buf_free(&list);
}

/* Convert, check and store one scalar value for key k at dst. */
static void store_value(struct load *L, const struct key *k, const struct raw *r,
			const char *path, void *dst)
{
	int64_t v = 0;
	uint64_t u;
	const char *want = NULL;

	switch (k->type) {
	case KT_NAME:
	case KT_ADDRESS:
	case KT_LISTEN:
	case KT_PATH:
	case KT_IMAGE:
	case KT_KEYPREFIX:
		if (r->kind != RAW_STRING) {
			problem(L, &r->loc, path, "expected a string, got %s", raw_kind_name(r));
			return;
		}
		store_string(L, k, r, path, dst);
		return;
	case KT_ENUM:
		store_enum(L, k, r, path, dst);
		return;
	case KT_BOOL:
		if (r->kind != RAW_BOOL) {
			problem(L, &r->loc, path, "expected true or false, got %s",
				raw_kind_name(r));
			return;
		}
		*(bool *)dst = r->i != 0;
		return;
	case KT_INT:
		if (r->kind != RAW_INT) {
			want = "an integer";
			break;
		}
		v = r->i;
		break;
	case KT_SIZE:
		if (r->kind == RAW_INT) {
			v = r->i;
		} else if (r->kind == RAW_STRING) {
			if (parse_size(r->s, &u) < 0 || u > INT64_MAX) {
				problem(L, &r->loc, path,
					"'%s' is not a size (write bytes, or 512M, 2G, 1T)", r->s);
				return;
			}
			v = (int64_t)u;
		} else {
			want = "a size (\"512M\" or a number of bytes)";
		}
		break;
	case KT_DURATION:
		if (r->kind == RAW_INT) {
			v = r->i;
		} else if (r->kind == RAW_STRING) {
			if (parse_duration_ms(r->s, &v) < 0) {
				problem(L, &r->loc, path,
					"'%s' is not a duration (write 250ms, 10s, 2m or milliseconds)",
					r->s);
				return;
			}
		} else {
			want = "a duration (\"10s\" or milliseconds)";
		}
		break;
	case KT_CPUS:
		if (r->kind == RAW_INT) {
			if (r->i > INT64_MAX / 1000 || r->i < INT64_MIN / 1000)
				v = r->i < 0 ? INT64_MIN : INT64_MAX;
			else
				v = r->i * 1000;
		} else if (r->kind == RAW_FLOAT) {
			v = cores_to_milli(r->f);
		} else if (r->kind == RAW_STRING) {
			if (parse_cpus(r->s, &v) < 0) {
				problem(L, &r->loc, path,
					"'%s' is not a CPU amount (write 2, 1.5 or \"500m\")", r->s);
				return;
			}
		} else {
			want = "a CPU amount (2, 1.5 or \"500m\")";
		}
		break;
	default:
		return;
	}
	if (want) {
		problem(L, &r->loc, path, "expected %s, got %s", want, raw_kind_name(r));
		return;
	}
	if (v < k->min || v > k->max) {
		struct buf b = {0};

		sp_fmt_value(&b, k->type, v);
		buf_puts(&b, " is out of range; allowed ");
		sp_fmt_value(&b, k->type, k->min);
		buf_puts(&b, " .. ");
		sp_fmt_value(&b, k->type, k->max);
		problem(L, &r->loc, path, "%s", b.data);
		buf_free(&b);
		return;
	}
	if (k->type == KT_SIZE)
		*(uint64_t *)dst = (uint64_t)v;
	else
		*(int *)dst = (int)v;
}

/* A table default, as if written in the spec. */
static void store_default(struct load *L, const struct key *k, const char *path,
			  const struct spec_loc *at, void *dst)
{
	struct raw r = {.kind = RAW_STRING, .s = k->def, .dir = L->s->dir, .loc = *at};

	if (k->type == KT_INT) {
		r.kind = RAW_INT;
		r.i = strtoll(k->def, NULL, 10);
	} else if (k->type == KT_BOOL) {
		r.kind = RAW_BOOL;
		r.i = !strcmp(k->def, "true");
	}
	store_value(L, k, &r, path, dst);
}

void sp_parse_section(struct load *L, const char *section,
		      const config_setting_t *group, void *base,
		      const char *path, const struct spec_loc *gloc);

static void parse_map(struct load *L, const struct key *k, const config_setting_t *c,
		      struct kvlist *l, const char *path)
{
	struct spec_loc at = sp_loc_of(L, c);
	int n = config_setting_length(c);

	if (!config_setting_is_group(c)) {
		problem(L, &at, path, "expected a group { key = value; ... }, got %s",
			setting_kind_name(c));
		return;
	}
	if (n > k->max) {
		problem(L, &at, path, "has %d entries; at most %" PRId64, n, k->max);
		return;
	}
	l->items = xcalloc((size_t)n + 1, sizeof *l->items);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(c, (unsigned)i);
		const char *name = config_setting_name(m);
		_cleanup_free_ char *mpath = xasprintf("%s.%s", path, name);
		struct err e = {0};
		struct raw r;
		char *text;
		int bad;

		if (raw_from_setting(L, m, &r) < 0) {
			struct spec_loc mat = sp_loc_of(L, m);

			problem(L, &mat, mpath, "expected a scalar value, got %s",
				setting_kind_name(m));
			continue;
		}
		text = raw_text(&r);
		bad = control_byte(text);
		if (bad >= 0) {
			problem(L, &r.loc, mpath, "has a control byte 0x%02x at offset %d",
				(unsigned char)text[bad], bad);
			free(text);
			continue;
		}
		if ((k->flags & KEY_SAFE_VALUES) &&
		    name_check(text, SPEC_NAME_MAX, name, &e) < 0) {
			problem(L, &r.loc, mpath, "%s", e.msg);
			free(text);
			continue;
		}
		l->items[l->n++] = (struct kv){xstrdup(name), text, r.loc};
	}
}

static void parse_urls(struct load *L, const struct key *k, const config_setting_t *c,
		       void *base, const char *path)
{
	struct spec_loc at = sp_loc_of(L, c);
	int n = config_setting_length(c);
	char **v;
	size_t nv = 0;

	if (!config_setting_is_array(c) && !config_setting_is_list(c)) {
		problem(L, &at, path, "expected an array [\"http://HOST:PORT\", ...], got %s",
			setting_kind_name(c));
		return;
	}
	if (n > k->max) {
		problem(L, &at, path, "has %d entries; at most %" PRId64, n, k->max);
		return;
	}
	v = xcalloc((size_t)n + 1, sizeof *v);
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(c, (unsigned)i);
		_cleanup_free_ char *epath = xasprintf("%s[%d]", path, i);
		const char *s = config_setting_get_string(el), *why = NULL;

		if (!s) {
			problem(L, &at, epath, "expected a string, got %s", setting_kind_name(el));
			continue;
		}
		if (url_check(s, &why) < 0) {
			problem(L, &at, epath, "'%s' %s", s, why);
			continue;
		}
		v[nv++] = xstrdup(s);
	}
	strv_free(*(char ***)((char *)base + k->off));
	*(char ***)((char *)base + k->off) = v;
	*(size_t *)((char *)base + k->count_off) = nv;
}

static void parse_list(struct load *L, const struct key *k, const config_setting_t *c,
		       void *base, const char *path)
{
	struct spec_loc at = sp_loc_of(L, c);
	int n = config_setting_length(c);
	char *arr;

	if (!config_setting_is_list(c) && !(config_setting_is_array(c) && n == 0)) {
		problem(L, &at, path, "expected a list ( { ... }, ... ), got %s",
			setting_kind_name(c));
		return;
	}
	if (n < k->min) {
		problem(L, &at, path, "is empty; at least one entry is required");
		return;
	}
	if (n > k->max) {
		problem(L, &at, path, "has %d entries; at most %" PRId64, n, k->max);
		return;
	}
	arr = xcalloc((size_t)n, k->elem_size);
	*(void **)((char *)base + k->off) = arr;
	*(size_t *)((char *)base + k->count_off) = (size_t)n;
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(c, (unsigned)i);
		_cleanup_free_ char *epath = xasprintf("%s[%d]", path, i);
		char *elem = arr + (size_t)i * k->elem_size;
		struct spec_loc eat = sp_loc_of(L, el);

		*(struct spec_loc *)(elem + k->loc_off) = eat;
		if (!config_setting_is_group(el)) {
			problem(L, &eat, epath, "expected a group { ... }, got %s",
				setting_kind_name(el));
			sp_parse_section(L, k->sub, NULL, elem, epath, &eat);
			continue;
		}
		sp_parse_section(L, k->sub, el, elem, epath, &eat);
	}
}

/* Parse the keys of `section` from group (NULL: absent, use defaults) into
 * the struct at base.  path names the group in messages. */
void sp_parse_section(struct load *L, const char *section,
		      const config_setting_t *group, void *base,
		      const char *path, const struct spec_loc *gloc)
{
	size_t nkeys;
	const struct key *keys = sp_keys(&nkeys);

	for (size_t i = 0; i < nkeys; i++) {
		const struct key *k = &keys[i];
		const config_setting_t *c;
		_cleanup_free_ char *kpath = NULL;
		void *dst = (char *)base + k->off;
		struct spec_loc at;
		struct raw r;

		if (strcmp(k->section, section))
			continue;
		kpath = *path ? xasprintf("%s.%s", path, k->name) : xstrdup(k->name);
		c = group ? config_setting_get_member(group, k->name) : NULL;
		if (!c) {
			if (k->flags & KEY_REQUIRED)
				problem(L, gloc, kpath, "required key missing (e.g. %s = %s;)",
					k->name, k->example);
			else if (k->type == KT_GROUP)
				sp_parse_section(L, k->sub, NULL, dst, kpath, gloc);
			else if (k->def)
				store_default(L, k, kpath, gloc, dst);
			continue;
		}
		at = sp_loc_of(L, c);
		switch (k->type) {
		case KT_GROUP:
			if (!config_setting_is_group(c)) {
				problem(L, &at, kpath, "expected a group { ... }, got %s",
					setting_kind_name(c));
				sp_parse_section(L, k->sub, NULL, dst, kpath, &at);
				break;
			}
			sp_parse_section(L, k->sub, c, dst, kpath, &at);
			break;
		case KT_LIST:
			parse_list(L, k, c, base, kpath);
			break;
		case KT_MAP:
			parse_map(L, k, c, dst, kpath);
			break;
		case KT_URLS:
			parse_urls(L, k, c, base, kpath);
			break;
		default:
			if (raw_from_setting(L, c, &r) < 0) {
				problem(L, &at, kpath, "expected a single value, got %s",
					setting_kind_name(c));
				if (k->def)
					store_default(L, k, kpath, &at, dst);
				break;
			}
			store_value(L, k, &r, kpath, dst);
			break;
		}
	}
	if (!group)
		return;
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		_cleanup_free_ char *mpath = NULL;
		struct spec_loc at;
		const char *sug;

		if (!name || sp_find_key(section, name))
			continue;
		mpath = *path ? xasprintf("%s.%s", path, name) : xstrdup(name);
		at = sp_loc_of(L, m);
		sug = sp_closest_key(section, name);
		if (sug)
			problem(L, &at, mpath, "unknown key '%s'; did you mean '%s'?", name, sug);
		else
			problem(L, &at, mpath, "unknown key '%s'", name);
	}
}
