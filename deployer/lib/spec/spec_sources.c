/* spec_sources.c - step 1 of loading a spec: the spec and its @include
 * files read into one text with a line map (spec_int.h). */
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

struct spec_loc sp_map_line(const struct load *L, int cline)
{
	const struct seg *g = seg_of(L, cline);

	if (!g)
		return (struct spec_loc){L->s->nfiles ? L->s->files[0] : L->s->path, 0};
	return (struct spec_loc){L->s->files[g->file], g->line + (cline - g->start)};
}

struct spec_loc sp_loc_of(const struct load *L, const config_setting_t *c)
{
	return sp_map_line(L, (int)config_setting_source_line(c));
}

/* Folder that relative paths written on combined line `cline` resolve to. */
const char *sp_dir_of(const struct load *L, int cline)
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
		sp_problem_at(L, from->file, from->line, "", "@include \"%s\": %s",
			   path, msg);
	else
		sp_problem_at(L, path, 0, "", "%s", msg);
	if (exitc == ERR_EXIT_FAIL)
		L->exit = ERR_EXIT_FAIL;
	return -1;
}

int sp_source_file(struct load *L, const char *path,
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
			rc = sp_source_file(L, inc, &here);
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
int sp_source_file(struct load *L, const char *path,
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
		sp_problem_at(L, path, line, "", "NUL byte at column %d; a spec is text", col);
		return -1;
	}
	off = utf8_valid_prefix((const unsigned char *)data, len);
	if (off < len) {
		line_col(data, off, &line, &col);
		sp_problem_at(L, path, line, "",
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
