/* image_elf.c - the shared libraries a binary needs, found by reading ELF
 * headers (PT_INTERP, PT_DYNAMIC: DT_NEEDED, DT_RPATH, DT_RUNPATH) and the
 * loader's configuration, the way ld.so searches, without ever running the
 * binary or ldd.  64-bit little-endian ELF only (what the hosts run). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

#define ELF_MAX_SIZE (512u << 20)
#define LDCONF_DEPTH 8

struct elf {
	char *interp;
	char **needed;
	size_t nneeded;
	char *rpath, *runpath;
	uint16_t machine;
};

static void elf_free(struct elf *f)
{
	free(f->interp);
	for (size_t i = 0; i < f->nneeded; i++)
		free(f->needed[i]);
	free(f->needed);
	free(f->rpath);
	free(f->runpath);
	memset(f, 0, sizeof *f);
}

/* A NUL-terminated string at [off, end) of the file, or NULL. */
static const char *str_at(const char *buf, size_t len, uint64_t off, uint64_t end)
{
	if (end > len)
		end = len;
	if (off >= end || !memchr(buf + off, '\0', end - off))
		return NULL;
	return buf + off;
}

/* File offset of virtual address va through the PT_LOAD segments. */
static int va_to_off(const Elf64_Phdr *ph, size_t n, uint64_t va, uint64_t *off)
{
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr &&
		    va - ph[i].p_vaddr < ph[i].p_filesz) {
			*off = ph[i].p_offset + (va - ph[i].p_vaddr);
			return 0;
		}
	return -1;
}

static int parse_dynamic(const char *path, const char *buf, size_t len,
			 const Elf64_Phdr *ph, size_t nph, const Elf64_Phdr *dyn,
			 struct elf *f, struct err *e)
{
	uint64_t strtab = 0, strsz = 0, stroff;
	size_t ndyn = dyn->p_filesz / sizeof(Elf64_Dyn), cap = 0;
	Elf64_Dyn d;

	if (dyn->p_offset > len || dyn->p_filesz > len - dyn->p_offset)
		return err_usage(e, "%s: PT_DYNAMIC lies outside the file", path);
	for (size_t i = 0; i < ndyn; i++) {
		memcpy(&d, buf + dyn->p_offset + i * sizeof d, sizeof d);
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_STRTAB)
			strtab = d.d_un.d_ptr;
		else if (d.d_tag == DT_STRSZ)
			strsz = d.d_un.d_val;
	}
	if (!strtab)
		return 0;
	if (va_to_off(ph, nph, strtab, &stroff) < 0 || stroff > len)
		return err_usage(e, "%s: DT_STRTAB is not in a loaded segment", path);
	for (size_t i = 0; i < ndyn; i++) {
		const char *s;

		memcpy(&d, buf + dyn->p_offset + i * sizeof d, sizeof d);
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag != DT_NEEDED && d.d_tag != DT_RPATH && d.d_tag != DT_RUNPATH)
			continue;
		s = d.d_un.d_val < strsz ? str_at(buf, len, stroff + d.d_un.d_val, stroff + strsz)
					 : NULL;
		if (!s)
			return err_usage(e, "%s: dynamic string out of bounds", path);
		if (d.d_tag == DT_NEEDED) {
			f->needed = xgrow(f->needed, &cap, f->nneeded + 1, sizeof *f->needed);
			f->needed[f->nneeded++] = xstrdup(s);
		} else if (d.d_tag == DT_RPATH) {
			free(f->rpath);
			f->rpath = xstrdup(s);
		} else {
			free(f->runpath);
			f->runpath = xstrdup(s);
		}
	}
	return 0;
}

static int elf_read(const char *path, struct elf *f, struct err *e)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ Elf64_Phdr *ph = NULL;
	const Elf64_Phdr *dyn = NULL;
	Elf64_Ehdr eh;
	size_t len;

	memset(f, 0, sizeof *f);
	if (read_file(path, ELF_MAX_SIZE, &buf, &len, e) < 0)
		return -1;
	if (len < sizeof eh || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return err_usage(e, "%s is not an ELF file", path);
	if (buf[EI_CLASS] != ELFCLASS64 || buf[EI_DATA] != ELFDATA2LSB)
		return err_usage(e, "%s: only 64-bit little-endian ELF is supported", path);
	memcpy(&eh, buf, sizeof eh);
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return err_usage(e, "%s: ELF type %u is not an executable or shared library",
				 path, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return err_usage(e, "%s: program headers lie outside the file", path);
	f->machine = eh.e_machine;
	ph = xcalloc(eh.e_phnum, sizeof *ph);
	memcpy(ph, buf + eh.e_phoff, eh.e_phnum * sizeof *ph);
	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP) {
			const char *s = ph[i].p_offset <= len
						? str_at(buf, len, ph[i].p_offset,
							 ph[i].p_offset + ph[i].p_filesz)
						: NULL;

			if (!s || s[0] != '/') {
				elf_free(f);
				return err_usage(e, "%s: bad PT_INTERP", path);
			}
			free(f->interp);
			f->interp = xstrdup(s);
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = &ph[i];
		}
	}
	if (dyn && parse_dynamic(path, buf, len, ph, eh.e_phnum, dyn, f, e) < 0) {
		elf_free(f);
		return -1;
	}
	return 0;
}

/* The machine of a 64-bit little-endian ELF file from its header alone
 * (a library search tries many candidates; reading each in full cost
 * seconds per image under ASan), or -1 when it is not a regular file of
 * that kind. */
static int elf_machine_of(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return -1;
	return eh.e_machine;
}

/* ---- search folders -------------------------------------------------------------- */

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_add(struct strv *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], x))
			return;
	s->v = xgrow(s->v, &s->cap, s->n + 1, sizeof *s->v);
	s->v[s->n++] = xstrdup(x);
}

static void strv_list_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* /etc/ld.so.conf and its "include" globs, in order. */
static void ldconf_read(const char *file, int depth, struct strv *dirs)
{
	_cleanup_free_ char *text = NULL;
	char *save = NULL, *line;
	struct err ignored;

	if (depth > LDCONF_DEPTH || read_file(file, 1 << 20, &text, NULL, &ignored) < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#'), *end;

		if (hash)
			*hash = '\0';
		line += strspn(line, " \t");
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line)
			continue;
		if (!strncmp(line, "include", 7) && (line[7] == ' ' || line[7] == '\t')) {
			_cleanup_free_ char *pat = NULL;
			const char *p = line + 8 + strspn(line + 8, " \t");
			glob_t g;

			pat = p[0] == '/' ? xstrdup(p) : xasprintf("/etc/%s", p);
			if (glob(pat, 0, NULL, &g) == 0) {
				for (size_t i = 0; i < g.gl_pathc; i++)
					ldconf_read(g.gl_pathv[i], depth + 1, dirs);
				globfree(&g);
			}
		} else if (line[0] == '/') {
			strv_add(dirs, line);
		}
	}
}

/* Expand $ORIGIN / ${ORIGIN} in a colon list and append its folders. */
static void add_path_list(struct strv *dirs, const char *list, const char *origin)
{
	_cleanup_free_ char *copy = xstrdup(list);
	char *save = NULL, *d;

	for (d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		struct buf b = {0};
		const char *p = d;

		while (*p) {
			if (!strncmp(p, "$ORIGIN", 7)) {
				buf_puts(&b, origin);
				p += 7;
			} else if (!strncmp(p, "${ORIGIN}", 9)) {
				buf_puts(&b, origin);
				p += 9;
			} else {
				buf_append(&b, p++, 1);
			}
		}
		/* Other tokens ($LIB, $PLATFORM) are not expanded: skip. */
		if (b.data && b.data[0] == '/' && !strchr(b.data, '$'))
			strv_add(dirs, b.data);
		buf_free(&b);
	}
}

static const char *const default_dirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
};

/* Find `name` needed by the object `from` (a host path, parsed as f). */
static int find_library(const char *name, const char *from, const struct elf *f,
			const struct strv *ldconf, char **found, struct err *e)
{
	_cleanup_free_ char *real = realpath(from, NULL), *origin = NULL;
	struct strv dirs = {0};

	if (strchr(name, '/'))
		return err_usage(e, "%s needs '%s' by path, which is not supported", from, name);
	origin = real ? path_dirname(real) : path_dirname(from);
	if (f->rpath && !f->runpath)
		add_path_list(&dirs, f->rpath, origin);
	if (f->runpath)
		add_path_list(&dirs, f->runpath, origin);
	for (size_t i = 0; i < ldconf->n; i++)
		strv_add(&dirs, ldconf->v[i]);
	for (size_t i = 0; i < ARRAY_SIZE(default_dirs); i++)
		strv_add(&dirs, default_dirs[i]);
	for (size_t i = 0; i < dirs.n; i++) {
		_cleanup_free_ char *cand = path_join(dirs.v[i], name);
		/* Like ld.so, skip a library of another machine or class. */
		if (elf_machine_of(cand) == f->machine) {
			*found = steal_pointer(&cand);
			strv_list_free(&dirs);
			return 0;
		}
	}
	strv_list_free(&dirs);
	return err_usage(e, "%s needs %s, which is in none of the library folders "
			    "(RPATH/RUNPATH, /etc/ld.so.conf, standard)", from, name);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int elf_closure(const char *const *bins, size_t n, char ***out, size_t *nout,
		struct err *e)
{
	struct strv ldconf = {0}, queue = {0}, result = {0};
	int rc = 0;

	ldconf_read("/etc/ld.so.conf", 0, &ldconf);
	for (size_t i = 0; i < n; i++)
		strv_add(&queue, bins[i]);
	/* Breadth first; queue only grows, strv_add skips repeats. */
	for (size_t i = 0; i < queue.n && rc == 0; i++) {
		_cleanup_free_ char *obj = xstrdup(queue.v[i]);
		struct elf f;

		if (elf_read(obj, &f, e) < 0) {
			rc = -1;
			break;
		}
		if (f.interp)
			strv_add(&result, f.interp);
		for (size_t k = 0; k < f.nneeded && rc == 0; k++) {
			char *lib = NULL;

			if (find_library(f.needed[k], obj, &f, &ldconf, &lib, e) < 0) {
				rc = -1;
				break;
			}
			strv_add(&result, lib);
			strv_add(&queue, lib);
			free(lib);
		}
		elf_free(&f);
	}
	strv_list_free(&ldconf);
	strv_list_free(&queue);
	if (rc < 0) {
		strv_list_free(&result);
		return -1;
	}
	if (result.n)
		qsort(result.v, result.n, sizeof *result.v, by_str);
	*out = result.v;
	*nout = result.n;
	return 0;
}
