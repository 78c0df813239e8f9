/* extract.c - safe extraction of OCI image layers.  See extract.h for the
 * rules; this file keeps them in the order an entry meets them:
 * name -> type -> parent -> existing path -> creation -> metadata. */
#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define COPY_CHUNK (128 * 1024)

void extract_limits_default(struct extract_limits *l)
{
	l->max_bytes = 8ULL << 30;
	l->max_entries = 1000000;
	l->max_path = 4095;
	l->allow_devices = false;
	l->max_depth = 256;
	l->allow_setid = false;
	l->chown = geteuid() == 0;
}

static void cleanup_archivep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define _cleanup_archive_ __attribute__((cleanup(cleanup_archivep)))

static void cleanup_jsonp(json_t **j)
{
	json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_jsonp)))

/* ---- rejections ------------------------------------------------------------ */

/* "entry 'NAME': why" as bad input.  Long names are cut, control bytes shown
 * as '?', so a hostile name cannot flood or forge the message. */
static int reject(struct err *e, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int reject(struct err *e, const char *name, const char *fmt, ...)
{
	char shown[160], why[512];
	size_t n = name ? strlen(name) : 0, i;
	va_list ap;

	for (i = 0; i < n && i < 120; i++) {
		unsigned char c = (unsigned char)name[i];

		shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	shown[i] = '\0';
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (n > 120)
		return err_usage(e, "entry '%s...' (%zu bytes): %s", shown, n, why);
	return err_usage(e, "entry '%s': %s", shown, why);
}

/* ---- names ------------------------------------------------------------------ */

/* Normalise an archive name into "a/b/c" ("" for the root), rejecting absolute
 * names, "..", over-long names and components, too deep paths and ".wh."
 * directories.  `what` says whose name it is ("name", "hard link target"). */
static int normalize(const char *raw, const char *entry, const char *what,
		     const struct extract_limits *l, char **out, struct err *e)
{
	size_t len = strlen(raw), depth = 0;
	struct buf b = {0};
	const char *p = raw;

	if (len > l->max_path)
		return reject(e, entry, "%s is %zu bytes, longer than %zu", what, len,
			      l->max_path);
	if (raw[0] == '/')
		return reject(e, entry, "%s '%s' is absolute", what, raw);
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		bool last = !slash || !slash[strspn(slash, "/")];

		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n + (slash ? 1 : 0);
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			buf_free(&b);
			return reject(e, entry, "%s has a '..' component", what);
		}
		if (n > NAME_MAX) {
			buf_free(&b);
			return reject(e, entry, "%s has a %zu-byte component (max %d)",
				      what, n, NAME_MAX);
		}
		if (!last && n >= 4 && !strncmp(p, WH_PREFIX, 4)) {
			buf_free(&b);
			return reject(e, entry, "%s has a whiteout '%.*s' as a directory",
				      what, (int)n, p);
		}
		if (++depth > l->max_depth) {
			buf_free(&b);
			return reject(e, entry, "%s is deeper than %zu components", what,
				      l->max_depth);
		}
		if (b.len)
			buf_append(&b, "/", 1);
		buf_append(&b, p, n);
		p += n + (slash ? 1 : 0);
	}
	*out = buf_steal(&b);
	return 0;
}

/* Split "a/b/c" into "a/b" (or "") and "c"; dir is a copy, base points in p. */
static char *split_path(const char *p, const char **base)
{
	const char *slash = strrchr(p, '/');

	if (!slash) {
		*base = p;
		return xstrdup("");
	}
	*base = slash + 1;
	return xstrndup(p, (size_t)(slash - p));
}

/* ---- resolving parents ------------------------------------------------------- */

enum walk_mode {
	WALK_CREATE,      /* create missing directories (0755) */
	WALK_MUST_EXIST,  /* a missing directory is an error */
	WALK_MAY_BE_MISSING, /* a missing directory returns 1 */
};

struct layer {
	int rootfd;
	const struct extract_limits *l;
	json_t *seen;      /* paths of this layer -> json_true (dir) / false */
	bool no_openat2;   /* the kernel (or a seccomp filter) refused it */
	uint64_t entries;
	uint64_t data;     /* file bytes written */
};

static int open_dir_fast(struct layer *ly, const char *dir)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (ly->no_openat2)
		return -1;
	fd = syscall(SYS_openat2, ly->rootfd, dir, &how, sizeof how);
	if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == E2BIG))
		ly->no_openat2 = true;
	return (int)fd;
}

/* Open the directory `dir` ("" = the root) beneath the root, one component at
 * a time with O_NOFOLLOW: a symlink or non-directory on the way is rejected
 * with the entry's name.  Returns the fd, or 1 via *missing in
 * WALK_MAY_BE_MISSING mode. */
static int open_dir(struct layer *ly, const char *dir, enum walk_mode mode,
		    const char *entry, bool *missing, struct err *e)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_close_ int fd = -1;
	char *save = NULL, *c;
	struct buf sofar = {0};

	if (missing)
		*missing = false;
	if (*dir) {
		int fast = open_dir_fast(ly, dir);

		if (fast >= 0)
			return fast;
	}
	fd = openat(ly->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, errno, "open extraction root");
	copy = xstrdup(dir);
	for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next;
		struct stat st;

		if (sofar.len)
			buf_append(&sofar, "/", 1);
		buf_puts(&sofar, c);
		next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && mode == WALK_CREATE) {
			if (mkdirat(fd, c, 0755) < 0 &&
			    errno != EEXIST) {
				int saved = errno;

				buf_free(&sofar);
				err_sys(e, saved, "mkdir %s", dir);
				return reject(e, entry, "%s", e->msg);
			}
			next = openat(fd, c,
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int saved = errno;
			int r;

			if (saved == ENOENT && mode == WALK_MAY_BE_MISSING) {
				buf_free(&sofar);
				*missing = true;
				return -1;
			}
			if (saved == ENOENT)
				r = reject(e, entry, "parent '%s' does not exist", sofar.data);
			else if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				 S_ISLNK(st.st_mode))
				r = reject(e, entry,
					   "parent '%s' is a symlink (nothing is created through a symlink)",
					   sofar.data);
			else if (saved == ENOTDIR || saved == ELOOP)
				r = reject(e, entry, "parent '%s' is not a directory",
					   sofar.data);
			else
				r = err_sys(e, saved, "open %s", sofar.data);
			buf_free(&sofar);
			return r;
		}
		close(fd);
		fd = next;
	}
	buf_free(&sofar);
	return steal_fd(&fd);
}

/* ---- removal ---------------------------------------------------------------- */

/* Names in the directory open at fd (without "." and ".."), in readdir
 * order.  Caller frees each and the array. */
static int list_dir(int fd, char ***out, size_t *count, struct err *e)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return err_sys(e, errno, "open directory");
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return err_sys(e, errno, "read directory");
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = xgrow(names, &cap, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	*out = names;
	*count = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int remove_dir_at(int dirfd, const char *name, struct err *e);

/* Remove every child of the directory open at fd, except those whose path
 * ("prefix/child") is a key of keep (when keep is non-NULL). */
static int empty_dir(int fd, const char *prefix, json_t *keep, struct err *e)
{
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (list_dir(fd, &names, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (keep) {
			_cleanup_free_ char *p = *prefix ? xasprintf("%s/%s", prefix, names[i])
							 : xstrdup(names[i]);

			if (json_object_get(keep, p))
				continue;
		}
		rc = extract_remove_tree(fd, names[i], e);
	}
	free_names(names, n);
	return rc;
}

static int remove_dir_at(int dirfd, const char *name, struct err *e)
{
	_cleanup_close_ int fd =
		openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return err_sys(e, errno, "open %s", name);
	if (empty_dir(fd, "", NULL, e) < 0)
		return err_wrap(e, "%s", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		return err_sys(e, errno, "rmdir %s", name);
	return 0;
}

int extract_remove_tree(int dirfd, const char *name, struct err *e)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, errno, "stat %s", name);
	}
	if (S_ISDIR(st.st_mode))
		return remove_dir_at(dirfd, name, e);
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return err_sys(e, errno, "unlink %s", name);
	return 0;
}

/* ---- metadata ----------------------------------------------------------------- */

static mode_t entry_perm(const struct layer *ly, struct archive_entry *ent)
{
	mode_t m = archive_entry_perm(ent) & 07777;

	if (!ly->l->allow_setid)
		m &= ~(mode_t)(S_ISUID | S_ISGID);
	return m;
}

static void entry_times(struct archive_entry *ent, struct timespec ts[2])
{
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(ent);
	ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(ent);
}

/* Owner, mode, times on an fd we just created or opened with O_NOFOLLOW.
 * chown first: it clears setid bits that the chmod then sets. */
static int set_meta_fd(struct layer *ly, int fd, struct archive_entry *ent,
		       mode_t perm, const char *name, struct err *e)
{
	struct timespec ts[2];

	if (ly->l->chown &&
	    fchown(fd, (uid_t)archive_entry_uid(ent), (gid_t)archive_entry_gid(ent)) < 0)
		return err_sys(e, errno, "chown %s", name);
	if (fchmod(fd, perm) < 0)
		return err_sys(e, errno, "chmod %s", name);
	entry_times(ent, ts);
	if (futimens(fd, ts) < 0)
		return err_sys(e, errno, "set times of %s", name);
	return 0;
}

/* Owner and times of a symlink or node by name, never following it. */
static int set_meta_nofollow(struct layer *ly, int pfd, const char *base,
			     struct archive_entry *ent, const char *name,
			     struct err *e)
{
	struct timespec ts[2];

	if (ly->l->chown &&
	    fchownat(pfd, base, (uid_t)archive_entry_uid(ent),
		     (gid_t)archive_entry_gid(ent), AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(e, errno, "chown %s", name);
	entry_times(ent, ts);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(e, errno, "set times of %s", name);
	return 0;
}

/* ---- creation ------------------------------------------------------------------ */

static int write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int create_file(struct layer *ly, struct archive *a, int pfd,
		       const char *base, struct archive_entry *ent,
		       const char *name, struct err *e)
{
	static __thread char chunk[COPY_CHUNK];
	int64_t declared = archive_entry_size(ent);
	uint64_t left = ly->l->max_bytes - ly->data, got = 0;
	_cleanup_close_ int fd = -1;

	if (declared < 0 || (uint64_t)declared > left)
		return reject(e, name, "%lld-byte file exceeds the layer limit of %llu bytes",
			      (long long)declared,
			      (unsigned long long)ly->l->max_bytes);
	fd = openat(pfd, base,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd < 0)
		return err_sys(e, errno, "create %s", name);
	for (;;) {
		la_ssize_t r = archive_read_data(a, chunk, sizeof chunk);

		if (r < 0)
			return err_from_archive(e, a, name);
		if (r == 0)
			break;
		got += (uint64_t)r;
		if (got > left)
			return reject(e, name, "data exceeds the layer limit of %llu bytes",
				      (unsigned long long)ly->l->max_bytes);
		if (write_all_fd(fd, chunk, (size_t)r) < 0)
			return err_sys(e, errno, "write %s", name);
	}
	ly->data += got;
	return set_meta_fd(ly, fd, ent, entry_perm(ly, ent), name, e);
}

static int create_dir(struct layer *ly, int pfd, const char *base, bool exists,
		      struct archive_entry *ent, const char *name, struct err *e)
{
	_cleanup_close_ int fd = -1;
	mode_t perm = entry_perm(ly, ent);

	/* Unprivileged extraction keeps directories owner-writable so later
	 * entries and layers can still be placed in them. */
	if (geteuid() != 0)
		perm |= 0700;
	if (!exists && mkdirat(pfd, base, 0700) < 0)
		return err_sys(e, errno, "mkdir %s", name);
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, errno, "open %s", name);
	return set_meta_fd(ly, fd, ent, perm, name, e);
}

static int create_symlink(struct layer *ly, int pfd, const char *base,
			  struct archive_entry *ent, const char *name,
			  struct err *e)
{
	const char *target = archive_entry_symlink(ent);

	if (!target || !*target)
		return reject(e, name, "symlink has no target");
	if (strlen(target) > ly->l->max_path)
		return reject(e, name, "symlink target is longer than %zu bytes",
			      ly->l->max_path);
	if (symlinkat(target, pfd, base) < 0)
		return err_sys(e, errno, "symlink %s", name);
	return set_meta_nofollow(ly, pfd, base, ent, name, e);
}

static int create_node(struct layer *ly, int pfd, const char *base,
		       struct archive_entry *ent, const char *name,
		       struct err *e)
{
	mode_t type = archive_entry_filetype(ent);
	mode_t perm = entry_perm(ly, ent);
	dev_t dev = type == AE_IFIFO ? 0 : archive_entry_rdev(ent);

	if (mknodat(pfd, base, type | (perm & 0777), dev) < 0)
		return err_sys(e, errno, "mknod %s", name);
	if (set_meta_nofollow(ly, pfd, base, ent, name, e) < 0)
		return -1;
	/* glibc implements AT_SYMLINK_NOFOLLOW through an O_PATH fd. */
	if (fchmodat(pfd, base, perm, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(e, errno, "chmod %s", name);
	return 0;
}

static int create_hardlink(struct layer *ly, int pfd, const char *base,
			   const char *path, const char *name,
			   struct archive_entry *ent, struct err *e)
{
	const char *raw = archive_entry_hardlink(ent), *tbase;
	_cleanup_free_ char *target = NULL, *tdir = NULL;
	_cleanup_close_ int tfd = -1;
	struct stat st;

	if (normalize(raw, name, "hard link target", ly->l, &target, e) < 0)
		return -1;
	if (!*target)
		return reject(e, name, "hard link to the root");
	if (!strcmp(target, path))
		return reject(e, name, "hard link to itself");
	tdir = split_path(target, &tbase);
	tfd = open_dir(ly, tdir, WALK_MUST_EXIST, name, NULL, e);
	if (tfd < 0)
		return err_wrap(e, "hard link target '%s'", target);
	if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return reject(e, name, "hard link target '%s' does not exist", target);
	if (S_ISDIR(st.st_mode))
		return reject(e, name, "hard link target '%s' is a directory", target);
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) && !ly->l->allow_devices)
		return reject(e, name, "hard link target '%s' is a device or fifo",
			      target);
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return err_sys(e, errno, "link %s to %s", name, target);
	return 0;
}

/* ---- whiteouts ------------------------------------------------------------------ */

static int apply_whiteout(struct layer *ly, const char *path, const char *dir,
			  const char *base, const char *name, struct err *e)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_free_ char *victim = NULL;
	const char *hidden = base + strlen(WH_PREFIX);
	bool missing = false;

	if (!strcmp(base, WH_OPAQUE)) {
		pfd = open_dir(ly, dir, WALK_MAY_BE_MISSING, name, &missing, e);
		if (pfd < 0)
			return missing ? 0 : -1;
		if (empty_dir(pfd, dir, ly->seen, e) < 0)
			return err_wrap(e, "opaque whiteout %s", name);
		return 0;
	}
	if (!strncmp(hidden, WH_PREFIX, strlen(WH_PREFIX))) {
		/* ".wh..wh.*" other than the opaque marker: aufs bookkeeping. */
		log_debug("skipping aufs metadata entry %s", path);
		return 0;
	}
	if (!*hidden || !strcmp(hidden, ".") || !strcmp(hidden, ".."))
		return reject(e, name, "whiteout of '%s'", hidden);
	victim = *dir ? xasprintf("%s/%s", dir, hidden) : xstrdup(hidden);
	/* A whiteout hides lower layers only, never entries of its own layer. */
	if (json_object_get(ly->seen, victim))
		return 0;
	pfd = open_dir(ly, dir, WALK_MAY_BE_MISSING, name, &missing, e);
	if (pfd < 0)
		return missing ? 0 : -1;
	if (extract_remove_tree(pfd, hidden, e) < 0)
		return err_wrap(e, "whiteout %s", name);
	return 0;
}

/* ---- one entry ------------------------------------------------------------------- */

static bool under_runtime_mount(const char *path, const char **top)
{
	static const char *const mounts[] = {"dev", "proc", "sys"};

	for (size_t i = 0; i < ARRAY_SIZE(mounts); i++) {
		size_t n = strlen(mounts[i]);

		if (!strncmp(path, mounts[i], n) && path[n] == '/') {
			*top = mounts[i];
			return true;
		}
	}
	return false;
}

static int check_type(struct layer *ly, const char *path, const char *name,
		      mode_t type, bool hardlink, struct err *e)
{
	const char *top;
	bool node = type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO;

	if (!hardlink && type != AE_IFREG && type != AE_IFDIR &&
	    type != AE_IFLNK && !node)
		return reject(e, name, "unsupported file type 0%o", (unsigned)type);
	if (node && !hardlink && !ly->l->allow_devices)
		return reject(e, name, "device node or fifo (devices are not allowed)");
	if (under_runtime_mount(path, &top) && (hardlink || type != AE_IFDIR) &&
	    !(node && !hardlink && !strcmp(top, "dev")))
		return reject(e, name,
			      "only directories may be placed under %s/ (the runtime mounts there)",
			      top);
	return 0;
}

static int apply_entry(struct layer *ly, struct archive *a,
		       struct archive_entry *ent, struct err *e)
{
	const char *raw = archive_entry_pathname(ent), *base;
	const char *hardlink = archive_entry_hardlink(ent);
	mode_t type = archive_entry_filetype(ent);
	_cleanup_free_ char *path = NULL, *dir = NULL;
	_cleanup_close_ int pfd = -1;
	json_t *prev;
	struct stat st;
	bool exists, is_dir = !hardlink && type == AE_IFDIR;
	int rc;

	if (!raw)
		return err_usage(e, "entry #%llu: name is not readable",
				 (unsigned long long)ly->entries);
	if (normalize(raw, raw, "name", ly->l, &path, e) < 0)
		return -1;
	if (!*path) {
		if (is_dir)
			return 0; /* "./": the root already exists */
		return reject(e, raw, "replaces the root directory");
	}
	dir = split_path(path, &base);
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return apply_whiteout(ly, path, dir, base, raw, e);
	if (check_type(ly, path, raw, type, hardlink != NULL, e) < 0)
		return -1;
	prev = json_object_get(ly->seen, path);
	if (prev && !(is_dir && json_is_true(prev)))
		return reject(e, raw, "appears twice in this layer");
	pfd = open_dir(ly, dir, WALK_CREATE, raw, NULL, e);
	if (pfd < 0)
		return -1;
	exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return err_sys(e, errno, "stat %s", path);
	if (exists && !(is_dir && S_ISDIR(st.st_mode))) {
		if (extract_remove_tree(pfd, base, e) < 0)
			return err_wrap(e, "replace %s", path);
		exists = false;
	}
	if (hardlink)
		rc = create_hardlink(ly, pfd, base, path, raw, ent, e);
	else if (type == AE_IFREG)
		rc = create_file(ly, a, pfd, base, ent, raw, e);
	else if (type == AE_IFDIR)
		rc = create_dir(ly, pfd, base, exists, ent, raw, e);
	else if (type == AE_IFLNK)
		rc = create_symlink(ly, pfd, base, ent, raw, e);
	else
		rc = create_node(ly, pfd, base, ent, raw, e);
	if (rc < 0)
		return -1;
	json_object_set_new_nocheck(ly->seen, path, is_dir ? json_true() : json_false());
	return 0;
}

/* ---- layers ---------------------------------------------------------------------- */

/* Only built-in decoders: libarchive falls back to running an external
 * program when a filter is not compiled in, which this module never allows. */
static int open_reader(struct archive **out, int layerfd, struct err *e)
{
	struct archive *a = archive_read_new();

	if (!a)
		return err_set(e, ENOMEM, "archive_read_new");
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
		archive_read_free(a);
		return err_set(e, ENOTSUP,
			       "libarchive lacks built-in gzip or zstd decoding");
	}
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_fd(a, layerfd, 1 << 16) != ARCHIVE_OK) {
		err_from_archive(e, a, "read layer");
		archive_read_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

int extract_layer_fd(int rootfd, int layerfd, const struct extract_limits *l,
		     struct err *e)
{
	_cleanup_archive_ struct archive *a = NULL;
	_cleanup_json_ json_t *seen = json_object();
	struct layer ly = {.rootfd = rootfd, .l = l, .seen = seen};
	struct archive_entry *ent;

	if (open_reader(&a, layerfd, e) < 0)
		return -1;
	for (;;) {
		int r = archive_read_next_header(a, &ent);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return err_from_archive(e, a, ly.entries ? "read layer entry"
								  : "read layer");
		if (++ly.entries > l->max_entries)
			return reject(e, archive_entry_pathname(ent),
				      "more than %llu entries in one layer",
				      (unsigned long long)l->max_entries);
		if ((uint64_t)archive_filter_bytes(a, 0) > l->max_bytes)
			return reject(e, archive_entry_pathname(ent),
				      "layer expands past %llu bytes",
				      (unsigned long long)l->max_bytes);
		if (apply_entry(&ly, a, ent, e) < 0)
			return -1;
	}
	return 0;
}

int extract_rootfs(const char *dest, const char *const *layer_paths, size_t n,
		   const struct extract_limits *l, struct err *e)
{
	_cleanup_free_ char *clean = xstrdup(dest), *dir = NULL, *tmp = NULL;
	_cleanup_close_ int rootfd = -1, dirfd = -1;
	const char *base;
	struct stat st;
	size_t len = strlen(clean);

	while (len > 1 && clean[len - 1] == '/')
		clean[--len] = '\0';
	if (lstat(clean, &st) == 0)
		return err_set(e, EEXIST, "rootfs %s already exists", clean);
	dir = path_dirname(clean);
	base = strrchr(clean, '/') ? strrchr(clean, '/') + 1 : clean;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return err_usage(e, "rootfs path '%s' does not name a folder", dest);
	tmp = xasprintf("%s/.%s.partial-XXXXXX", dir, base);
	if (!mkdtemp(tmp))
		return err_sys(e, errno, "create temporary rootfs in %s", dir);
	rootfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || dirfd < 0) {
		err_sys(e, errno, "open %s", tmp);
		goto fail;
	}
	if (fchmod(rootfd, 0755) < 0) {
		err_sys(e, errno, "chmod %s", tmp);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int lfd = open(layer_paths[i], O_RDONLY | O_CLOEXEC);

		if (lfd < 0) {
			err_sys(e, errno, "open layer %s", layer_paths[i]);
			goto fail;
		}
		if (extract_layer_fd(rootfd, lfd, l, e) < 0) {
			err_wrap(e, "layer %zu of %zu (%s)", i + 1, n, layer_paths[i]);
			goto fail;
		}
	}
	if (syncfs(rootfd) < 0 ||
	    renameat2(AT_FDCWD, tmp, AT_FDCWD, clean, RENAME_NOREPLACE) < 0) {
		err_sys(e, errno, "rename %s to %s", tmp, clean);
		goto fail;
	}
	return 0;
fail:
	if (dirfd >= 0) {
		struct err ignored;

		extract_remove_tree(dirfd, strrchr(tmp, '/') + 1, &ignored);
	}
	return -1;
}

/* ---- tree digests ----------------------------------------------------------------- */

static int by_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int digest_tree_at(int fd, const char *prefix, unsigned flags,
			  struct digest_ctx *c, struct err *e)
{
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (list_dir(fd, &names, &n, e) < 0)
		return err_wrap(e, "%s", *prefix ? prefix : ".");
	if (n)
		qsort(names, n, sizeof *names, by_strcmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		_cleanup_free_ char *p = *prefix ? xasprintf("%s/%s", prefix, names[i])
						 : xstrdup(names[i]);
		struct buf line = {0};
		struct stat st;

		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = err_sys(e, errno, "stat %s", p);
			break;
		}
		buf_printf(&line, "%s%c%o %lld", p, 0, (unsigned)st.st_mode,
			   S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
		if (flags & TREE_DIGEST_OWNERS)
			buf_printf(&line, " %u:%u", (unsigned)st.st_uid,
				   (unsigned)st.st_gid);
		if (flags & TREE_DIGEST_MTIME)
			buf_printf(&line, " %lld.%09ld", (long long)st.st_mtim.tv_sec,
				   st.st_mtim.tv_nsec);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			buf_printf(&line, " %u,%u", major(st.st_rdev), minor(st.st_rdev));
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t r = readlinkat(fd, names[i], target, sizeof target);

			if (r < 0)
				rc = err_sys(e, errno, "readlink %s", p);
			else
				buf_printf(&line, " -> %.*s", (int)r, target);
		}
		buf_append(&line, "\n", 1);
		digest_update(c, line.data, line.len);
		buf_free(&line);
		if (rc == 0 && S_ISREG(st.st_mode)) {
			_cleanup_close_ int ffd = openat(fd, names[i],
				O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
			char chunk[1 << 14];
			ssize_t r;

			if (ffd < 0) {
				rc = err_sys(e, errno, "open %s", p);
				break;
			}
			while ((r = read(ffd, chunk, sizeof chunk)) > 0)
				digest_update(c, chunk, (size_t)r);
			if (r < 0)
				rc = err_sys(e, errno, "read %s", p);
		} else if (rc == 0 && S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(fd, names[i],
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				rc = err_sys(e, errno, "open %s", p);
			else
				rc = digest_tree_at(sub, p, flags, c, e);
		}
	}
	free_names(names, n);
	return rc;
}

int extract_tree_digest(int dirfd, unsigned flags, char out[DIGEST_STR_LEN],
			struct err *e)
{
	struct digest_ctx *c = digest_new();
	int rc = digest_tree_at(dirfd, "", flags, c, e);

	digest_finish(c, out);
	return rc;
}
