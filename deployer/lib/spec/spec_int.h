/* spec_int.h - what the files of the spec loader share; private to them
 * (the interface is spec.h).
 *
 *   spec.c          the load context, the key table, loading, the interface
 *   spec_sources.c  step 1: the spec and its @include files into one text
 *   spec_values.c   step 2: libconfig's tree into struct spec by the table
 *   spec_checks.c   step 3: rules across keys
 *   spec_doc.c      values formatted for messages, and docs/spec.md
 */
#ifndef SHOAL_SPEC_INT_H
#define SHOAL_SPEC_INT_H

#include <libconfig.h>
#include <stdint.h>
#include <sys/types.h>

#include "spec.h"
#include "template.h"
#include "util.h"

#define SPEC_FILE_MAX (1u << 20)   /* one spec or include file */
#define SPEC_TEXT_MAX (4u << 20)   /* the spec with all its includes */
#define SPEC_LINES_MAX 65535       /* libconfig keeps line numbers in 16 bits */
#define SPEC_INCLUDE_DEPTH 8
#define SPEC_INCLUDES_MAX 256      /* @include directives, all files together */
#define SPEC_NEST_MAX 32           /* { ( [ nesting */
#define SPEC_MAP_MAX 256           /* entries in labels/settings/require */
#define SPEC_ASAN 1
#define SPEC_ASAN 1
#define GiB(n) ((int64_t)(n) << 30)
#define MiB(n) ((int64_t)(n) << 20)
#define TiB(n) ((int64_t)(n) << 40)

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


void sp_problem_at(struct load *L, const char *file, int line,
		   const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define problem(L, loc, path, ...) \
	sp_problem_at((L), (loc)->file, (loc)->line, (path), __VA_ARGS__)

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
	KT_URLS,     /* array of http:// or https:// URLs -> NULL-terminated char **
		      * at off, their number (size_t) at count_off; `max` entries */
	KT_KEYPREFIX, /* "/a/b": '/'-separated safe names, at most `max` bytes */
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
	size_t elem_size, count_off, loc_off; /* KT_LIST (count_off: KT_URLS too) */
	const char *help;
	const char *example;  /* a value as written in a spec */
};

/* The key table (*n rows) and one of its keys, or NULL. */
const struct key *sp_keys(size_t *n);
const struct key *sp_find_key(const char *section, const char *name);

/* ---- spec.c: suggestions */
const char *sp_closest(const char *word, const char *const *cands, size_t n);
const char *sp_closest_key(const char *section, const char *word);
size_t sp_count_choices(const char *const *c);

/* ---- spec_sources.c */
/* Folder that relative paths written on combined line `cline` resolve to. */
const char *sp_dir_of(const struct load *L, int cline);
struct spec_loc sp_loc_of(const struct load *L, const config_setting_t *c);
struct spec_loc sp_map_line(const struct load *L, int cline);
/* Append the file at `path` to L->text, expanding its @include lines.  `from`
 * is the @include line that names it (NULL for the spec itself).  Returns -1
 * after reporting when loading must stop. */
int sp_source_file(struct load *L, const char *path,
		   const struct spec_loc *from);

/* ---- spec_values.c */
bool sp_is_loopback(const char *s);
/* Parse the keys of `section` from group (NULL: absent, use defaults) into
 * the struct at base.  path names the group in messages. */
void sp_parse_section(struct load *L, const char *section,
		      const config_setting_t *group, void *base,
		      const char *path, const struct spec_loc *gloc);

/* ---- spec_checks.c */
void sp_check_cluster(struct load *L);
void sp_check_hosts(struct load *L);
/* Also loads each service's template into tm[i] (NULL when unusable). */
void sp_check_services(struct load *L, struct template **tm);
void sp_check_capacity(struct load *L);
void sp_check_ports(struct load *L, struct template *const *tm);
void sp_check_monitor(struct load *L);
void sp_check_state(struct load *L);

/* ---- spec_doc.c */
void sp_fmt_size(struct buf *b, uint64_t v);
void sp_fmt_value(struct buf *b, enum key_type t, int64_t v);

#endif
