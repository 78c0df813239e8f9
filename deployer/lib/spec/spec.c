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
#include "spec.h"

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

#define SPEC_FILE_MAX (1u << 20)   /* one spec or include file */
#define SPEC_TEXT_MAX (4u << 20)   /* the spec with all its includes */
#define SPEC_LINES_MAX 65535       /* libconfig keeps line numbers in 16 bits */
#define SPEC_INCLUDE_DEPTH 8
#define SPEC_INCLUDES_MAX 256      /* @include directives, all files together */
#define SPEC_NEST_MAX 32           /* { ( [ nesting */
#define SPEC_MAP_MAX 256           /* entries in labels/settings/require */
#define REDIS_MIN_MASTERS 3

/* libconfig 1.5 leaks a string token that ends in a syntax error (a file
 * holding just "" does it): its parser has no destructor for the token.
 * Nothing here can free it, so sanitizer builds ignore leaks allocated
 * inside libconfig (tests/specs/bad/syntax-bare-string.cfg keeps the case). */
#if defined(__SANITIZE_ADDRESS__)
#define SPEC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPEC_ASAN 1
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

/* ==== the load context ===================================================== */

/* A run of consecutive lines of one file inside the combined text. */
struct seg {
	int start;   /* first line in the combined text (1-based) */
	size_t file; /* index into spec->files */
	int line;    /* its line in that file */
};

enum lex_state { LEX_CODE = 0, LEX_STRING, LEX_COMMENT };

struct load {
	struct spec *s;
	struct spec_problems *probs;
	int exit;          /* ERR_EXIT_USAGE, or ERR_EXIT_FAIL on an I/O error */
	char **dirs;       /* absolute folder of each s->files[i] */
	/* step 1 */
	struct buf text;
	struct seg *segs;
	size_t nsegs, segcap;
	int lines;
	struct open_file {
		dev_t dev;
		ino_t ino;
		const char *shown; /* as named in messages (owned by s->files) */
	} *stack;          /* the files being read, outermost first */
	size_t depth;
	int nincludes;
	enum lex_state lex;
	int nest;
	/* steps 2 and 3 */
	config_t cfg;
	char *data_dir;
};

static void problem_at(struct load *L, const char *file, int line,
		       const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void problem_at(struct load *L, const char *file, int line,
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

#define problem(L, loc, path, ...) \
	problem_at((L), (loc)->file, (loc)->line, (path), __VA_ARGS__)

/* ==== step 1: sources ====================================================== */

static size_t add_file(struct load *L, const char *display, const char *dir)
{
	struct spec *s = L->s;

	s->files = xrealloc(s->files, (s->nfiles + 1) * sizeof *s->files);
	L->dirs = xrealloc(L->dirs, (s->nfiles + 1) * sizeof *L->dirs);
	s->files[s->nfiles] = xstrdup(display);
	L->dirs[s->nfiles] = xstrdup(dir);
	return s->nfiles++;
}

static void seg_start(struct load *L, size_t file, int line)
{
	L->segs = xgrow(L->segs, &L->segcap, L->nsegs + 1, sizeof *L->segs);
	L->segs[L->nsegs++] = (struct seg){L->lines + 1, file, line};
}

/* Which file and line a line of the combined text came from. */
static const struct seg *seg_of(const struct load *L, int cline)
{
	for (size_t i = L->nsegs; i-- > 0;)
		if (L->segs[i].start <= cline)
			return &L->segs[i];
	return NULL;
}

static struct spec_loc map_line(const struct load *L, int cline)
{
	const struct seg *g = seg_of(L, cline);

	if (!g)
		return (struct spec_loc){L->s->nfiles ? L->s->files[0] : L->s->path, 0};
	return (struct spec_loc){L->s->files[g->file], g->line + (cline - g->start)};
}

static struct spec_loc loc_of(const struct load *L, const config_setting_t *c)
{
	return map_line(L, (int)config_setting_source_line(c));
}

/* Folder that relative paths written on combined line `cline` resolve to. */
static const char *dir_of(const struct load *L, int cline)
{
	const struct seg *g = seg_of(L, cline);

	return g ? L->dirs[g->file] : L->s->dir;
}

/* Offset of the first byte that is not valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or len when all is valid. */
static size_t utf8_valid_prefix(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp, min;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i <= n)
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* 1-based line and column of byte `off` in `data`. */
static void line_col(const char *data, size_t off, int *line, int *col)
{
	int l = 1;
	size_t bol = 0;

	for (size_t i = 0; i < off; i++)
		if (data[i] == '\n')
			l++, bol = i + 1;
	*line = l;
	*col = (int)(off - bol) + 1;
}

/* Track strings, comments and bracket nesting over one line of libconfig
 * text, exactly as far as needed to know where @include may appear and to
 * stop runaway nesting before the parser sees it.  Returns -1 with *why set
 * when the line must be refused. */
static int lex_line(struct load *L, const char *p, const char *end,
		    const char **why)
{
	for (; p < end; p++) {
		switch (L->lex) {
		case LEX_STRING:
			if (*p == '\\' && p + 1 < end) {
				if (end - p >= 4 && p[1] == 'x' && p[2] == '0' &&
				    p[3] == '0') {
					*why = "a string holds \\x00 (a NUL byte)";
					return -1;
				}
				p++;
			} else if (*p == '"') {
				L->lex = LEX_CODE;
			}
			break;
		case LEX_COMMENT:
			if (*p == '*' && p + 1 < end && p[1] == '/') {
				p++;
				L->lex = LEX_CODE;
			}
			break;
		case LEX_CODE:
			if (*p == '"') {
				L->lex = LEX_STRING;
			} else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
				return 0;
			} else if (*p == '/' && p + 1 < end && p[1] == '*') {
				p++;
				L->lex = LEX_COMMENT;
			} else if (*p == '{' || *p == '(' || *p == '[') {
				if (++L->nest > SPEC_NEST_MAX) {
					*why = "groups and lists are nested more than 32 deep";
					return -1;
				}
			} else if ((*p == '}' || *p == ')' || *p == ']') && L->nest > 0) {
				L->nest--;
			}
			break;
		}
	}
	return 0;
}

enum include_match { INC_NONE = 0, INC_OK, INC_BAD };

/* Is the line an @include directive (libconfig: ^[ \t]*@include[ \t]+"...")?
 * On INC_OK *name is the file named (caller frees); on INC_BAD *why says
 * what is wrong with it. */
static enum include_match match_include(const char *p, const char *end,
					char **name, const char **why)
{
	const char *q;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 8 || memcmp(p, "@include", 8))
		return INC_NONE;
	p += 8;
	if (p == end || (*p != ' ' && *p != '\t' && *p != '"')) {
		if (p < end && *p == '_') {
			*why = "only @include \"FILE\" is supported (not @include_dir)";
			return INC_BAD;
		}
		return INC_NONE;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p != '"') {
		*why = "@include needs a quoted file name: @include \"common.cfg\"";
		return INC_BAD;
	}
	q = ++p;
	while (q < end && *q != '"' && *q != '\\')
		q++;
	if (q == end || *q == '\\') {
		*why = q == end ? "@include file name has no closing quote"
				: "@include file name may not contain escapes";
		return INC_BAD;
	}
	if (q == p) {
		*why = "@include file name is empty";
		return INC_BAD;
	}
	*name = xstrndup(p, (size_t)(q - p));
	for (q++; q < end && (*q == ' ' || *q == '\t' || *q == '\r'); q++)
		;
	if (q < end && *q != '#' && !(end - q >= 2 && q[0] == '/' && q[1] == '/')) {
		free(*name);
		*name = NULL;
		*why = "unexpected text after @include \"FILE\"";
		return INC_BAD;
	}
	return INC_OK;
}

/* Report a file that cannot be used, at the @include line naming it (from)
 * or at the file itself. */
static int source_refuse(struct load *L, const struct spec_loc *from,
			 const char *path, int exitc, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int source_refuse(struct load *L, const struct spec_loc *from,
			 const char *path, int exitc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (from)
		problem_at(L, from->file, from->line, "", "@include \"%s\": %s",
			   path, msg);
	else
		problem_at(L, path, 0, "", "%s", msg);
	if (exitc == ERR_EXIT_FAIL)
		L->exit = ERR_EXIT_FAIL;
	return -1;
}

static int source_file(struct load *L, const char *path,
		       const struct spec_loc *from);

/* Expand the lines of one file (already read and checked) into L->text. */
static int source_lines(struct load *L, size_t fi, const char *path,
			const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	int lineno = 1;

	seg_start(L, fi, 1);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		struct spec_loc here = {L->s->files[fi], lineno};
		const char *why = NULL;
		char *name = NULL;
		enum include_match m = INC_NONE;

		if (!eol)
			eol = end;
		if (L->lex == LEX_CODE)
			m = match_include(p, eol, &name, &why);
		if (m == INC_BAD) {
			problem(L, &here, "", "%s", why);
			return -1;
		}
		if (m == INC_OK) {
			_cleanup_free_ char *dir = path_dirname(path);
			_cleanup_free_ char *inc =
				strcmp(dir, ".") ? path_join(dir, name) : xstrdup(name);
			int rc;

			free(name);
			if (++L->nincludes > SPEC_INCLUDES_MAX) {
				problem(L, &here, "", "more than %d @include directives in all",
					SPEC_INCLUDES_MAX);
				return -1;
			}
			L->depth++;
			rc = source_file(L, inc, &here);
			L->depth--;
			if (rc < 0)
				return -1;
			seg_start(L, fi, lineno + 1);
		} else {
			if (L->lines >= SPEC_LINES_MAX) {
				problem(L, &here, "", "more than %d lines in the spec and its includes",
					SPEC_LINES_MAX);
				return -1;
			}
			buf_append(&L->text, p, (size_t)(eol - p));
			buf_puts(&L->text, "\n");
			L->lines++;
			if (lex_line(L, p, eol, &why) < 0) {
				problem(L, &here, "", "%s", why);
				return -1;
			}
		}
		p = next;
		lineno++;
	}
	return 0;
}

/* Read a spec file without ever blocking (a FIFO or /proc/kmsg named by a
 * hostile @include): open it O_NONBLOCK, check that what was opened is a
 * regular file of at most SPEC_FILE_MAX bytes, read it.  On failure returns
 * -1 with *exitc and e set. */
static int read_spec_file(const char *path, struct stat *st, char **out, size_t *len,
			  int *exitc, struct err *e)
{
	_cleanup_close_ int fd = -1;
	struct buf b = {0};
	char chunk[16384];

	*exitc = ERR_EXIT_USAGE;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			*exitc = ERR_EXIT_FAIL;
		return err_set(e, errno, "cannot read: %s", strerror(errno));
	}
	if (fstat(fd, st) < 0) {
		*exitc = ERR_EXIT_FAIL;
		return err_set(e, errno, "cannot stat: %s", strerror(errno));
	}
	if (S_ISDIR(st->st_mode))
		return err_set(e, EISDIR, "is a directory, not a spec file");
	if (!S_ISREG(st->st_mode))
		return err_set(e, EINVAL, "is not a regular file");
	if ((uintmax_t)st->st_size > SPEC_FILE_MAX)
		return err_set(e, EFBIG, "is %jd bytes; a spec file may be at most 1 MiB",
			       (intmax_t)st->st_size);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				*exitc = ERR_EXIT_FAIL;
			buf_free(&b);
			return err_set(e, errno, "cannot read: %s", strerror(errno));
		}
		if (r == 0)
			break;
		/* /proc files claim size 0: the cap holds while reading too. */
		if (b.len + (size_t)r > SPEC_FILE_MAX) {
			buf_free(&b);
			return err_set(e, EFBIG, "is larger than 1 MiB, the most a spec file may be");
		}
		buf_append(&b, chunk, (size_t)r);
	}
	*len = b.len;
	*out = buf_steal(&b);
	return 0;
}

/* Append the file at `path` to L->text, expanding its @include lines.  `from`
 * is the @include line that names it (NULL for the spec itself).  Returns -1
 * after reporting when loading must stop. */
static int source_file(struct load *L, const char *path,
		       const struct spec_loc *from)
{
	_cleanup_free_ char *data = NULL, *dir = NULL, *folder = NULL;
	char real[PATH_MAX];
	struct err e = {0};
	struct stat st;
	size_t len = 0, off, fi;
	const char *nul;
	int line, col, rc, exitc;

	if (read_spec_file(path, &st, &data, &len, &exitc, &e) < 0)
		return source_refuse(L, from, path, exitc, "%s", e.msg);
	for (size_t i = 0; i < L->depth; i++) {
		if (L->stack[i].dev == st.st_dev && L->stack[i].ino == st.st_ino) {
			struct buf chain = {0};

			for (size_t j = i; j < L->depth; j++)
				buf_printf(&chain, "%s -> ", L->stack[j].shown);
			buf_puts(&chain, path);
			source_refuse(L, from, path, ERR_EXIT_USAGE, "@include loop: %s",
				      chain.data);
			buf_free(&chain);
			return -1;
		}
	}
	if (L->depth > SPEC_INCLUDE_DEPTH)
		return source_refuse(L, from, path, ERR_EXIT_USAGE,
				     "@include nested more than %d files deep",
				     SPEC_INCLUDE_DEPTH);
	if (L->text.len + len > SPEC_TEXT_MAX)
		return source_refuse(L, from, path, ERR_EXIT_USAGE,
				     "the spec and its includes exceed 4 MiB");
	if (len == 0 && !from)
		return source_refuse(L, from, path, ERR_EXIT_USAGE,
				     "is empty; a spec needs at least name, hosts and services");
	nul = memchr(data, '\0', len);
	if (nul) {
		line_col(data, (size_t)(nul - data), &line, &col);
		problem_at(L, path, line, "", "NUL byte at column %d; a spec is text", col);
		return -1;
	}
	off = utf8_valid_prefix((const unsigned char *)data, len);
	if (off < len) {
		line_col(data, off, &line, &col);
		problem_at(L, path, line, "",
			   "not valid UTF-8 (byte 0x%02x at column %d)",
			   (unsigned char)data[off], col);
		return -1;
	}
	folder = path_dirname(path);
	dir = xstrdup(realpath(folder, real) ? real : folder);
	fi = add_file(L, path, dir);
	L->stack = xrealloc(L->stack, (L->depth + 1) * sizeof *L->stack);
	L->stack[L->depth] = (struct open_file){st.st_dev, st.st_ino, L->s->files[fi]};
	rc = source_lines(L, fi, path, data, len);
	return rc;
}

/* ==== the key table ======================================================== */

enum key_type {
	KT_NAME,     /* safe name: name_check(), at most `max` bytes */
	KT_ADDRESS,  /* IPv4/IPv6 literal or DNS name */
	KT_LISTEN,   /* ADDRESS:PORT */
	KT_PATH,     /* file path: `~` expanded, relative to the file's folder */
	KT_IMAGE,    /* NAME[:TAG] in the local store, or a recipe path *.cfg */
	KT_ENUM,     /* one of choices[]; stored as its index */
	KT_INT,      /* integer within [min, max] */
	KT_BOOL,     /* true / false */
	KT_SIZE,     /* bytes: 512M, 2G or an integer; stored as uint64_t */
	KT_DURATION, /* milliseconds: 250ms, 10s or an integer (ms) */
	KT_CPUS,     /* CPUs: 2, 1.5 or "500m"; stored as milli-CPUs */
	KT_MAP,      /* group of scalars -> struct kvlist */
	KT_GROUP,    /* group -> the keys of section `sub` */
	KT_LIST,     /* list of groups -> array of section `sub` */
};

#define KEY_REQUIRED 0x1
#define KEY_SAFE_VALUES 0x2 /* KT_MAP: values must pass name_check */

struct key {
	const char *section;  /* "", "ssh", "hosts[]", "services[].ports"... */
	const char *name;
	enum key_type type;
	unsigned flags;
	const char *def;      /* default as written in a spec; NULL: none */
	const char *def_doc;  /* docs text for a computed default */
	int64_t min, max;     /* numbers: bounds in stored units; KT_NAME: max
			       * length; KT_LIST/KT_MAP: max entries */
	const char *const *choices; /* KT_ENUM, NULL-terminated */
	size_t off;           /* the value's offset in the section's struct */
	const char *sub;      /* KT_GROUP, KT_LIST: section of the members */
	size_t elem_size, count_off, loc_off; /* KT_LIST */
	const char *help;
	const char *example;  /* a value as written in a spec */
};

static const char *const transport_names[] = {"ssh", "local", NULL};
static const char *const spread_names[] = {"host", "rack", "zone", NULL};
static const char *const runtime_names[] = {"auto", "builtin", "runc", "crun", NULL};

#define S_(f) offsetof(struct spec, f)
#define SSH_(f) offsetof(struct spec_ssh, f)
#define H_(f) offsetof(struct spec_host, f)
#define SV_(f) offsetof(struct spec_service, f)
#define R_(f) offsetof(struct spec_resources, f)
#define P_(f) offsetof(struct spec_placement, f)
#define M_(f) offsetof(struct spec_monitor, f)
#define GiB(n) ((int64_t)(n) << 30)
#define MiB(n) ((int64_t)(n) << 20)
#define TiB(n) ((int64_t)(n) << 40)

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
	{"services[].resources", "pids", KT_INT, 0, "0", NULL, 0, 4194304, NULL, R_(pids),
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
	{"monitor", "listen", KT_LISTEN, 0, "127.0.0.1:7900", NULL, 0, 0, NULL, M_(listen),
	 .help = "Where the monitor serves /status and /metrics.",
	 .example = "\"127.0.0.1:7901\""},
};

static const struct key *find_key(const char *section, const char *name)
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
static const char *closest(const char *word, const char *const *cands, size_t n)
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

static const char *closest_key(const char *section, const char *word)
{
	const char *names[ARRAY_SIZE(keys)];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].section, section))
			names[n++] = keys[i].name;
	return closest(word, names, n);
}

static size_t count_choices(const char *const *c)
{
	size_t n = 0;

	while (c[n])
		n++;
	return n;
}

/* ==== value formatting (messages and docs) ================================= */

static void fmt_size(struct buf *b, uint64_t v)
{
	static const char units[] = "KMGT";

	for (int i = 4; i >= 1; i--) {
		uint64_t u = 1ULL << (10 * i);

		if (v >= u && v % u == 0) {
			buf_printf(b, "%" PRIu64 "%c", v / u, units[i - 1]);
			return;
		}
	}
	buf_printf(b, "%" PRIu64, v);
}

static void fmt_value(struct buf *b, enum key_type t, int64_t v)
{
	if (v < 0) {
		buf_printf(b, "%" PRId64, v);
		return;
	}
	switch (t) {
	case KT_SIZE:
		fmt_size(b, (uint64_t)v);
		break;
	case KT_DURATION:
		if (v >= 1000 && v % 1000 == 0)
			buf_printf(b, "%" PRId64 "s", v / 1000);
		else
			buf_printf(b, "%" PRId64 "ms", v);
		break;
	case KT_CPUS:
		if (v % 1000 == 0)
			buf_printf(b, "%" PRId64, v / 1000);
		else
			buf_printf(b, "%" PRId64 "m", v);
		break;
	default:
		buf_printf(b, "%" PRId64, v);
		break;
	}
}

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

	*r = (struct raw){.loc = map_line(L, cline), .dir = dir_of(L, cline)};
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

static bool is_loopback(const char *s)
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
		if (r->kind != RAW_STRING) {
			problem(L, &r->loc, path, "expected a string, got %s", raw_kind_name(r));
			return;
		}
		store_string(L, k, r, path, dst);
		return;
	case KT_ENUM: {
		size_t n = count_choices(k->choices);
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
		sug = closest(r->s, k->choices, n);
		if (sug)
			problem(L, &r->loc, path, "'%s' is not one of %s; did you mean '%s'?",
				r->s, list.data, sug);
		else
			problem(L, &r->loc, path, "'%s' is not one of %s", r->s, list.data);
		buf_free(&list);
		return;
	}
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

		fmt_value(&b, k->type, v);
		buf_puts(&b, " is out of range; allowed ");
		fmt_value(&b, k->type, k->min);
		buf_puts(&b, " .. ");
		fmt_value(&b, k->type, k->max);
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

static void parse_section(struct load *L, const char *section,
			  const config_setting_t *group, void *base,
			  const char *path, const struct spec_loc *gloc);

static void parse_map(struct load *L, const struct key *k, const config_setting_t *c,
		      struct kvlist *l, const char *path)
{
	struct spec_loc at = loc_of(L, c);
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
			struct spec_loc mat = loc_of(L, m);

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

static void parse_list(struct load *L, const struct key *k, const config_setting_t *c,
		       void *base, const char *path)
{
	struct spec_loc at = loc_of(L, c);
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
		struct spec_loc eat = loc_of(L, el);

		*(struct spec_loc *)(elem + k->loc_off) = eat;
		if (!config_setting_is_group(el)) {
			problem(L, &eat, epath, "expected a group { ... }, got %s",
				setting_kind_name(el));
			parse_section(L, k->sub, NULL, elem, epath, &eat);
			continue;
		}
		parse_section(L, k->sub, el, elem, epath, &eat);
	}
}

/* Parse the keys of `section` from group (NULL: absent, use defaults) into
 * the struct at base.  path names the group in messages. */
static void parse_section(struct load *L, const char *section,
			  const config_setting_t *group, void *base,
			  const char *path, const struct spec_loc *gloc)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
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
				parse_section(L, k->sub, NULL, dst, kpath, gloc);
			else if (k->def)
				store_default(L, k, kpath, gloc, dst);
			continue;
		}
		at = loc_of(L, c);
		switch (k->type) {
		case KT_GROUP:
			if (!config_setting_is_group(c)) {
				problem(L, &at, kpath, "expected a group { ... }, got %s",
					setting_kind_name(c));
				parse_section(L, k->sub, NULL, dst, kpath, &at);
				break;
			}
			parse_section(L, k->sub, c, dst, kpath, &at);
			break;
		case KT_LIST:
			parse_list(L, k, c, base, kpath);
			break;
		case KT_MAP:
			parse_map(L, k, c, dst, kpath);
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

		if (!name || find_key(section, name))
			continue;
		mpath = *path ? xasprintf("%s.%s", path, name) : xstrdup(name);
		at = loc_of(L, m);
		sug = closest_key(section, name);
		if (sug)
			problem(L, &at, mpath, "unknown key '%s'; did you mean '%s'?", name, sug);
		else
			problem(L, &at, mpath, "unknown key '%s'", name);
	}
}

/* ==== step 3: checks across keys =========================================== */

/* file:line of a key under the setting at `root` ("services.[1]"), falling
 * back to `fallback` when it is absent. */
static struct spec_loc key_loc(struct load *L, const struct spec_loc *fallback,
			       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct spec_loc key_loc(struct load *L, const struct spec_loc *fallback,
			       const char *fmt, ...)
{
	char p[256];
	const config_setting_t *c;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof p, fmt, ap);
	va_end(ap);
	c = config_lookup(&L->cfg, p);
	return c ? loc_of(L, c) : *fallback;
}

static void check_cluster(struct load *L)
{
	const char *n = L->s->name;

	if (!n)
		return;
	for (const char *p = n; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (p > n && ((*p >= '0' && *p <= '9') || *p == '-')))
			continue;
		struct spec_loc at = key_loc(L, &(struct spec_loc){L->s->files[0], 0}, "name");

		problem(L, &at, "name",
			"cluster name '%s' must match [a-z][a-z0-9-]* (bad '%c' at offset %d)",
			n, *p, (int)(p - n));
		return;
	}
}

static void check_hosts(struct load *L)
{
	struct spec *s = L->s;

	for (size_t i = 0; i < s->nhosts; i++) {
		struct spec_host *h = &s->hosts[i];
		char path[64];

		if (!h->port)
			h->port = s->ssh.port;
		if (!h->user && s->ssh.user)
			h->user = xstrdup(s->ssh.user);
		for (size_t j = 0; j < i; j++) {
			const struct spec_host *o = &s->hosts[j];

			if (h->name && o->name && !strcmp(h->name, o->name)) {
				struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].name", i);

				snprintf(path, sizeof path, "hosts[%zu].name", i);
				problem(L, &at, path, "duplicate host name '%s' (first at %s:%d)",
					h->name, o->loc.file, o->loc.line);
			}
			if (h->address && o->address && !strcasecmp(h->address, o->address)) {
				struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].address", i);

				snprintf(path, sizeof path, "hosts[%zu].address", i);
				problem(L, &at, path,
					"address %s is already host '%s' (%s:%d)", h->address,
					o->name ? o->name : "?", o->loc.file, o->loc.line);
			}
		}
		if (h->transport == TRANSPORT_LOCAL && h->address && s->nhosts > 1 &&
		    !is_loopback(h->address)) {
			struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].address", i);

			snprintf(path, sizeof path, "hosts[%zu].address", i);
			problem(L, &at, path,
				"transport \"local\" runs on this machine: address must be "
				"loopback (127.0.0.1, ::1, localhost) when there are other hosts, not %s",
				h->address);
		}
		if (h->memory && h->reserve_memory >= h->memory) {
			struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].reserve.memory", i);
			struct buf b = {0};

			fmt_size(&b, h->reserve_memory);
			buf_puts(&b, " reserved of ");
			fmt_size(&b, h->memory);
			snprintf(path, sizeof path, "hosts[%zu].reserve.memory", i);
			problem(L, &at, path, "%s leaves nothing for nodes", b.data);
			buf_free(&b);
		}
		if (h->cpus_milli && h->reserve_cpus_milli >= h->cpus_milli) {
			struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].reserve.cpus", i);

			snprintf(path, sizeof path, "hosts[%zu].reserve.cpus", i);
			problem(L, &at, path, "reserves %dm of %dm CPUs, leaving nothing for nodes",
				h->reserve_cpus_milli, h->cpus_milli);
		}
	}
}

static bool host_eligible(const struct spec_host *h, const struct spec_service *sv)
{
	for (size_t i = 0; i < sv->placement.require.n; i++) {
		const struct kv *r = &sv->placement.require.items[i];
		const char *v = kvlist_get(&h->labels, r->key, NULL);

		if (!v || strcmp(v, r->value))
			return false;
	}
	return true;
}

static size_t eligible_hosts(const struct spec *s, const struct spec_service *sv)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nhosts; i++)
		n += host_eligible(&s->hosts[i], sv);
	return n;
}

static bool template_known(struct load *L, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/templates/%s/template.cfg", L->data_dir, name);
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Load the template of service i into *t, or report why it cannot be used
 * (*t stays NULL and the checks that need it are skipped). */
static void check_template(struct load *L, size_t i, struct template **t)
{
	const struct spec_service *sv = &L->s->services[i];
	struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].template", i);
	_cleanup_free_ char *tdir = path_join(L->data_dir, "templates");
	const char *names[64], *sug = NULL;
	struct err e = {0};
	struct dirent *de;
	size_t n = 0;
	char path[64];
	DIR *d;

	if (!sv->template)
		return;
	snprintf(path, sizeof path, "services[%zu].template", i);
	if (template_known(L, sv->template)) {
		if (template_load(L->data_dir, sv->template, t, &e) < 0)
			problem(L, &at, path, "template '%s' cannot be used: %s", sv->template,
				e.msg);
		return;
	}
	d = opendir(tdir);
	while (d && (de = readdir(d)) && n < ARRAY_SIZE(names))
		if (de->d_name[0] != '.' && template_known(L, de->d_name))
			names[n++] = xstrdup(de->d_name);
	if (d)
		closedir(d);
	sug = closest(sv->template, names, n);
	if (sug)
		problem(L, &at, path,
			"unknown template '%s' (no %s/%s/template.cfg); did you mean '%s'?",
			sv->template, tdir, sv->template, sug);
	else
		problem(L, &at, path, "unknown template '%s' (no %s/%s/template.cfg)",
			sv->template, tdir, sv->template);
	for (size_t k = 0; k < n; k++)
		free((char *)names[k]);
}

static void check_shards(struct load *L, size_t i, const struct template *t)
{
	const struct spec_service *sv = &L->s->services[i];
	struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].nodes", i);
	int per = sv->replicas + 1;
	char path[64];

	snprintf(path, sizeof path, "services[%zu].nodes", i);
	if (!t || !t->kind || !sv->nodes)
		return;
	if (!strcmp(t->kind, "redis")) {
		if (sv->nodes < per) {
			problem(L, &at, path,
				"%d nodes cannot hold one shard of 1 master + %d replica(s)",
				sv->nodes, sv->replicas);
		} else if (sv->nodes % per) {
			problem(L, &at, path,
				"%d nodes is not a multiple of replicas+1 = %d (1 master + %d replica(s) per shard)",
				sv->nodes, per, sv->replicas);
		} else if (sv->nodes / per < REDIS_MIN_MASTERS) {
			problem(L, &at, path,
				"a Redis cluster needs at least %d masters; %d nodes with replicas = %d "
				"give %d (use at least %d nodes)",
				REDIS_MIN_MASTERS, sv->nodes, sv->replicas, sv->nodes / per,
				REDIS_MIN_MASTERS * per);
		}
		return;
	}
	snprintf(path, sizeof path, "services[%zu].replicas", i);
	at = key_loc(L, &sv->loc, "services.[%zu].replicas", i);
	if (sv->replicas < 1)
		problem(L, &at, path, "replication factor must be at least 1 for %s",
			sv->template);
	else if (sv->replicas > sv->nodes)
		problem(L, &at, path, "replication factor %d needs at least %d nodes, not %d",
			sv->replicas, sv->replicas, sv->nodes);
}

/* A service may only set what its template declares in its settings group
 * (every setting a template's files use has a default there), so a typo
 * cannot be silently ignored. */
static void check_settings(struct load *L, size_t i, const struct template *t)
{
	const struct spec_service *sv = &L->s->services[i];
	const char *names[SPEC_MAP_MAX];
	size_t nnames = 0;

	if (!t)
		return;
	for (size_t j = 0; j < t->nsettings && nnames < ARRAY_SIZE(names); j++)
		names[nnames++] = t->settings[j].key;
	for (size_t k = 0; k < sv->settings.n; k++) {
		const struct kv *kv = &sv->settings.items[k];
		const char *sug;
		struct buf known = {0};
		char path[128];
		bool ok = false;

		for (size_t j = 0; j < nnames; j++)
			ok = ok || !strcmp(kv->key, names[j]);
		if (ok)
			continue;
		for (size_t j = 0; j < nnames; j++)
			buf_printf(&known, "%s%s", j ? ", " : "", names[j]);
		snprintf(path, sizeof path, "services[%zu].settings.%s", i, kv->key);
		sug = closest(kv->key, names, nnames);
		if (sug)
			problem(L, &kv->loc, path,
				"template '%s' has no setting '%s'; did you mean '%s'?",
				sv->template, kv->key, sug);
		else
			problem(L, &kv->loc, path, "template '%s' has no setting '%s' (it has: %s)",
				sv->template, kv->key, known.len ? known.data : "none");
		buf_free(&known);
	}
}

static void check_placement(struct load *L, size_t i)
{
	const struct spec *s = L->s;
	const struct spec_service *sv = &s->services[i];
	size_t n = eligible_hosts(s, sv);
	char path[64];

	if (s->nhosts == 0)
		return;
	if (n == 0) {
		struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].placement.require", i);

		snprintf(path, sizeof path, "services[%zu].placement.require", i);
		problem(L, &at, path, "no host has all the required labels");
		return;
	}
	if (sv->placement.max_per_host && sv->nodes &&
	    (size_t)sv->nodes > (size_t)sv->placement.max_per_host * n) {
		struct spec_loc at =
			key_loc(L, &sv->loc, "services.[%zu].placement.max_per_host", i);

		snprintf(path, sizeof path, "services[%zu].placement.max_per_host", i);
		problem(L, &at, path, "%d nodes at most %d per host need %d hosts; %zu are eligible",
			sv->nodes, sv->placement.max_per_host,
			(sv->nodes + sv->placement.max_per_host - 1) / sv->placement.max_per_host, n);
	}
}

/* Sum of what nodes may use on the hosts a service may use. */
static void host_capacity(const struct spec *s, const struct spec_service *sv,
			  uint64_t *mem, int64_t *cpus, uint64_t *max_mem, int64_t *max_cpus)
{
	*mem = 0, *cpus = 0, *max_mem = 0, *max_cpus = 0;
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct spec_host *h = &s->hosts[i];
		uint64_t m = h->memory > h->reserve_memory ? h->memory - h->reserve_memory : 0;
		int64_t c = h->cpus_milli > h->reserve_cpus_milli
				    ? h->cpus_milli - h->reserve_cpus_milli
				    : 0;

		if (sv && !host_eligible(h, sv))
			continue;
		*mem += m, *cpus += c;
		if (m > *max_mem)
			*max_mem = m;
		if (c > *max_cpus)
			*max_cpus = c;
	}
}

static void capacity_problem(struct load *L, const struct spec_loc *at, const char *path,
			     const char *what, uint64_t need, uint64_t have, bool size)
{
	struct buf b = {0};

	buf_printf(&b, "%s: ", what);
	if (size)
		fmt_size(&b, need);
	else
		fmt_value(&b, KT_CPUS, (int64_t)need);
	buf_puts(&b, " needed but ");
	if (size)
		fmt_size(&b, have);
	else
		fmt_value(&b, KT_CPUS, (int64_t)have);
	buf_puts(&b, " available (after host reserves)");
	problem(L, at, path, "%s", b.data);
	buf_free(&b);
}

static void check_capacity(struct load *L)
{
	const struct spec *s = L->s;
	uint64_t all_mem, need_mem = 0, max_mem;
	int64_t all_cpus, need_cpus = 0, max_cpus;
	bool each_fits = true;

	if (!s->nhosts || !s->nservices)
		return;
	for (size_t i = 0; i < s->nservices; i++) {
		const struct spec_service *sv = &s->services[i];
		uint64_t mem, m1;
		int64_t cpus, c1;
		uint64_t nm = (uint64_t)sv->nodes * sv->resources.memory;
		int64_t nc = (int64_t)sv->nodes * sv->resources.cpus_milli;
		char path[96];

		host_capacity(s, sv, &mem, &cpus, &m1, &c1);
		if (!mem)
			continue;
		snprintf(path, sizeof path, "services[%zu].resources.memory", i);
		struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].resources.memory", i);

		if (sv->resources.memory > m1 || nm > mem)
			each_fits = false;
		if (sv->resources.memory > m1)
			capacity_problem(L, &at, path, "one node does not fit on any host",
					 sv->resources.memory, m1, true);
		else if (nm > mem)
			capacity_problem(L, &at, path, "not enough memory for this service", nm,
					 mem, true);
		snprintf(path, sizeof path, "services[%zu].resources.cpus", i);
		at = key_loc(L, &sv->loc, "services.[%zu].resources.cpus", i);
		if (sv->resources.cpus_milli > c1 || nc > cpus)
			each_fits = false;
		if (sv->resources.cpus_milli > c1)
			capacity_problem(L, &at, path, "one node does not fit on any host",
					 (uint64_t)sv->resources.cpus_milli, (uint64_t)c1, false);
		else if (nc > cpus)
			capacity_problem(L, &at, path, "not enough CPUs for this service",
					 (uint64_t)nc, (uint64_t)cpus, false);
		need_mem += nm;
		need_cpus += nc;
	}
	host_capacity(s, NULL, &all_mem, &all_cpus, &max_mem, &max_cpus);
	/* Every service fits on its own, but not all of them together. */
	if (!each_fits)
		return;
	if (s->nservices > 1 && need_mem > all_mem) {
		struct spec_loc at = key_loc(L, &s->services[0].loc, "services");

		capacity_problem(L, &at, "services", "all services together need more memory",
				 need_mem, all_mem, true);
	}
	if (s->nservices > 1 && need_cpus > all_cpus) {
		struct spec_loc at = key_loc(L, &s->services[0].loc, "services");

		capacity_problem(L, &at, "services", "all services together need more CPUs",
				 (uint64_t)need_cpus, (uint64_t)all_cpus, false);
	}
}

/* Ports a service may take on one host: its client range and, for Redis,
 * the cluster bus range. */
struct port_range {
	int lo, hi;
	const char *what;
};

static int service_ranges(const struct spec_service *sv, const struct template *t,
			  struct port_range r[2])
{
	int span = sv->placement.max_per_host && sv->placement.max_per_host < sv->nodes
			   ? sv->placement.max_per_host
			   : sv->nodes;
	int base = sv->port_base ? sv->port_base : t ? t->client_port : 0;
	int n = 0;

	if (!base || !span)
		return 0;
	r[n++] = (struct port_range){base, base + span - 1, "client"};
	if (t && t->bus_offset)
		r[n++] = (struct port_range){base + t->bus_offset,
					     base + t->bus_offset + span - 1, "bus"};
	return n;
}

static bool share_a_host(const struct spec *s, const struct spec_service *a,
			 const struct spec_service *b)
{
	for (size_t i = 0; i < s->nhosts; i++)
		if (host_eligible(&s->hosts[i], a) && host_eligible(&s->hosts[i], b))
			return true;
	return false;
}

static void check_ports(struct load *L, struct template *const *tm)
{
	const struct spec *s = L->s;

	for (size_t i = 0; i < s->nservices; i++) {
		const struct spec_service *sv = &s->services[i];
		struct port_range r[2], o[2];
		int nr = service_ranges(sv, tm[i], r);
		struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].ports.base", i);
		char path[64];

		snprintf(path, sizeof path, "services[%zu].ports.base", i);
		for (int k = 0; k < nr; k++) {
			if (r[k].hi > 65535) {
				problem(L, &at, path, "%s ports %d..%d run past 65535", r[k].what,
					r[k].lo, r[k].hi);
				nr = 0;
			}
		}
		for (int k = 0; k < nr; k++) {
			for (size_t h = 0; h < s->nhosts; h++) {
				const struct spec_host *ho = &s->hosts[h];

				if (ho->transport != TRANSPORT_SSH || !host_eligible(ho, sv))
					continue;
				if (ho->port >= r[k].lo && ho->port <= r[k].hi) {
					problem(L, &at, path,
						"%s ports %d..%d include host '%s' SSH port %d",
						r[k].what, r[k].lo, r[k].hi, ho->name ? ho->name : "?",
						ho->port);
					break;
				}
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct spec_service *ov = &s->services[j];
			int no = service_ranges(ov, tm[j], o);

			if (!share_a_host(s, sv, ov))
				continue;
			for (int k = 0; k < nr; k++)
				for (int m = 0; m < no; m++)
					if (r[k].lo <= o[m].hi && o[m].lo <= r[k].hi)
						problem(L, &at, path,
							"%s ports %d..%d collide with service '%s' %s "
							"ports %d..%d on a shared host",
							r[k].what, r[k].lo, r[k].hi,
							ov->name ? ov->name : "?", o[m].what, o[m].lo,
							o[m].hi);
		}
	}
}

/* Also loads each service's template into tm[i] (NULL when unusable). */
static void check_services(struct load *L, struct template **tm)
{
	const struct spec *s = L->s;

	for (size_t i = 0; i < s->nservices; i++) {
		const struct spec_service *sv = &s->services[i];

		for (size_t j = 0; j < i; j++) {
			const struct spec_service *o = &s->services[j];

			if (sv->name && o->name && !strcmp(sv->name, o->name)) {
				struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].name", i);
				char path[64];

				snprintf(path, sizeof path, "services[%zu].name", i);
				problem(L, &at, path, "duplicate service name '%s' (first at %s:%d)",
					sv->name, o->loc.file, o->loc.line);
			}
		}
		check_template(L, i, &tm[i]);
		check_shards(L, i, tm[i]);
		check_settings(L, i, tm[i]);
		check_placement(L, i);
	}
}

static void check_monitor(struct load *L)
{
	const struct spec_monitor *m = &L->s->monitor;

	if (m->interval_ms && m->timeout_ms && m->timeout_ms >= m->interval_ms) {
		struct spec_loc at = key_loc(L, &(struct spec_loc){L->s->files[0], 0},
					     "monitor.timeout_ms");

		problem(L, &at, "monitor.timeout_ms",
			"timeout (%dms) must be shorter than interval_ms (%dms)", m->timeout_ms,
			m->interval_ms);
	}
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
	if (source_file(&L, path, NULL) == 0) {
		if (config_read_string(&L.cfg, L.text.data ? L.text.data : "") != CONFIG_TRUE) {
			struct spec_loc at = map_line(&L, config_error_line(&L.cfg));
			const char *t = config_error_text(&L.cfg);

			problem(&L, &at, "", "%s", t ? t : "syntax error");
		} else {
			struct spec_loc top = {s->files[0], 0};

			struct template **tm;

			L.data_dir = shoal_data_dir();
			parse_section(&L, "", config_root_setting(&L.cfg), s, "", &top);
			tm = xcalloc(s->nservices + 1, sizeof *tm);
			check_cluster(&L);
			check_hosts(&L);
			check_services(&L, tm);
			check_capacity(&L);
			check_ports(&L, tm);
			check_monitor(&L);
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

const char *runtime_kind_name(enum runtime_kind k)
{
	return (unsigned)k < ARRAY_SIZE(runtime_names) - 1 ? runtime_names[k] : "?";
}

/* ==== docs ================================================================= */

static const char *type_doc(const struct key *k)
{
	switch (k->type) {
	case KT_NAME: return "name";
	case KT_ADDRESS: return "address";
	case KT_LISTEN: return "address:port";
	case KT_PATH: return "path";
	case KT_IMAGE: return "image or recipe path";
	case KT_ENUM: return "string";
	case KT_INT: return "integer";
	case KT_BOOL: return "boolean";
	case KT_SIZE: return "size";
	case KT_DURATION: return "duration";
	case KT_CPUS: return "cpus";
	case KT_MAP: return "group of scalars";
	case KT_GROUP: return "group";
	case KT_LIST: return "list of groups";
	}
	return "?";
}

/* Markdown cells may not hold '|'. */
static void md_cell(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			buf_puts(b, "\\|");
		else
			buf_append(b, s, 1);
	}
}

char *spec_keys_markdown(void)
{
	struct buf b = {0};

	buf_puts(&b, "| key | type | default | allowed | example | meaning |\n");
	buf_puts(&b, "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];

		buf_puts(&b, "| `");
		if (*k->section)
			buf_printf(&b, "%s.", k->section);
		buf_printf(&b, "%s` | %s | ", k->name, type_doc(k));
		if (k->flags & KEY_REQUIRED)
			buf_puts(&b, "**required**");
		else if (k->def_doc)
			md_cell(&b, k->def_doc);
		else if (k->def)
			buf_printf(&b, "`%s`", k->def);
		else
			buf_puts(&b, "-");
		buf_puts(&b, " | ");
		switch (k->type) {
		case KT_INT:
		case KT_SIZE:
		case KT_DURATION:
		case KT_CPUS:
			fmt_value(&b, k->type, k->min);
			buf_puts(&b, " .. ");
			fmt_value(&b, k->type, k->max);
			break;
		case KT_NAME:
			buf_printf(&b, "1..%" PRId64 " of `[A-Za-z0-9._-]`, no leading `.` or `-`",
				   k->max);
			break;
		case KT_ENUM:
			for (size_t c = 0; k->choices[c]; c++)
				buf_printf(&b, "%s`\"%s\"`", c ? ", " : "", k->choices[c]);
			break;
		case KT_LIST:
		case KT_MAP:
			buf_printf(&b, "%" PRId64 "..%" PRId64 " entries", k->min, k->max);
			break;
		default:
			buf_puts(&b, "-");
			break;
		}
		buf_puts(&b, " | `");
		md_cell(&b, k->example);
		buf_puts(&b, "` | ");
		md_cell(&b, k->help);
		buf_puts(&b, " |\n");
	}
	return buf_steal(&b);
}
