/* image_layer.c - the file tree of a recipe and its reproducible layer blob.
 *
 * A tree holds image paths (relative, normalised) mapped to host files,
 * literal data, symlinks or folders.  Paths given by a recipe are resolved
 * through the tree's own symlinks ("/bin/sh" lands in "usr/bin/sh" when
 * "bin" -> "usr/bin"), so no layer entry ever sits beneath a symlink, which
 * the safe extractor would reject.
 *
 * The layer is a pax tar written with libarchive: entries sorted by path,
 * parents added, mtime = SOURCE_DATE_EPOCH, owner 0:0 unless set, modes
 * normalised (0755 for executables and folders, 0644 for other files),
 * gzip without name or timestamp (or zstd).  The same tree gives the same
 * bytes. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

#define MAX_HOPS 40

/* ---- paths ------------------------------------------------------------------------ */

/* Lexically normalise "/a/./b//../c" -> "a/c" (relative, no leading slash).
 * ".." above the top is an error. */
static int normalize_image_path(const char *p, char **out, struct err *e)
{
	_cleanup_free_ char *copy = xstrdup(p);
	char **parts = NULL, *save = NULL, *c;
	size_t n = 0, cap = 0;
	struct buf b = {0};

	for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (!n) {
				free(parts);
				return err_usage(e, "path '%s' leaves the image root", p);
			}
			n--;
			continue;
		}
		parts = xgrow(parts, &cap, n + 1, sizeof *parts);
		parts[n++] = c;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append(&b, "/", 1);
		buf_puts(&b, parts[i]);
	}
	free(parts);
	*out = buf_steal(&b);
	return 0;
}

static struct tnode *tree_find(struct tree *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].path, path))
			return &t->v[i];
	return NULL;
}

/* Resolve the folders of an image path through the tree's symlinks; the last
 * component is kept as is.  *out is relative and normalised. */
static int tree_resolve_parent(struct tree *t, const char *path, char **out,
			       struct err *e)
{
	_cleanup_free_ char *cur = NULL;

	if (normalize_image_path(path, &cur, e) < 0)
		return -1;
	for (int hop = 0; hop < MAX_HOPS; hop++) {
		char *slash = cur;
		bool changed = false;

		while ((slash = strchr(slash, '/'))) {
			struct tnode *n;

			*slash = '\0';
			n = tree_find(t, cur);
			if (n && n->type == TN_LINK) {
				_cleanup_free_ char *dir = path_dirname(cur), *joined = NULL;

				joined = n->target[0] == '/'
						 ? xasprintf("%s/%s", n->target, slash + 1)
						 : xasprintf("%s/%s/%s", dir, n->target, slash + 1);
				free(cur);
				if (normalize_image_path(joined, &cur, e) < 0)
					return -1;
				changed = true;
				break;
			}
			*slash++ = '/';
		}
		if (!changed) {
			*out = steal_pointer(&cur);
			return 0;
		}
	}
	return err_usage(e, "path '%s': too many symlinks in the image", path);
}

static void drop_inherited(struct tree *t, const char *path, bool under);

static struct tnode *tree_put(struct tree *t, const char *path, enum tnode_type type)
{
	struct tnode *n;

	t->v = xgrow(t->v, &t->cap, t->n + 1, sizeof *t->v);
	n = &t->v[t->n++];
	memset(n, 0, sizeof *n);
	n->path = xstrdup(path);
	n->type = type;
	return n;
}

/* ---- adding ------------------------------------------------------------------------ */

int tree_add_link(struct tree *t, const char *path, const char *target,
		  struct err *e)
{
	_cleanup_free_ char *p = NULL;
	struct tnode *n;

	if (tree_resolve_parent(t, path, &p, e) < 0)
		return -1;
	if (!*p)
		return err_usage(e, "symlink '%s' would replace the image root", path);
	n = tree_find(t, p);
	if (n && n->inherited)
		drop_inherited(t, p, false);
	else if (n) {
		if (n->type == TN_LINK && !strcmp(n->target, target))
			return 0;
		return err_usage(e, "'%s' is added twice with different content", path);
	}
	n = tree_put(t, p, TN_LINK);
	n->target = xstrdup(target);
	n->mode = 0777;
	return 0;
}

static int add_file_node(struct tree *t, const char *path, const char *src,
			 const char *data, size_t len, int mode, struct err *e)
{
	_cleanup_free_ char *p = NULL;
	struct tnode *n;

	if (tree_resolve_parent(t, path, &p, e) < 0)
		return -1;
	if (!*p)
		return err_usage(e, "file '%s' would replace the image root", path);
	n = tree_find(t, p);
	if (n) {
		if (n->type == TN_FILE && src && n->src && !strcmp(n->src, src))
			return 0;
		return err_usage(e, "'%s' is added twice with different content", path);
	}
	if (src) {
		struct stat st;

		if (stat(src, &st) < 0)
			return err_sys(e, errno, "%s", src);
		if (!S_ISREG(st.st_mode))
			return err_usage(e, "%s is not a regular file", src);
		if (mode < 0)
			mode = st.st_mode & 0111 ? 0755 : 0644;
	}
	n = tree_put(t, p, TN_FILE);
	n->src = src ? xstrdup(src) : NULL;
	if (!src) {
		n->data = xmalloc(len + 1);
		memcpy(n->data, data, len);
		n->len = len;
	}
	n->mode = (mode_t)(mode < 0 ? 0644 : mode);
	return 0;
}

int tree_add_file(struct tree *t, const char *path, const char *src, int mode,
		  struct err *e)
{
	return add_file_node(t, path, src, NULL, 0, mode, e);
}

int tree_add_data(struct tree *t, const char *path, const char *data,
		  size_t len, mode_t mode, struct err *e)
{
	return add_file_node(t, path, NULL, data, len, (int)mode, e);
}

int tree_add_dir(struct tree *t, const char *path, mode_t mode, uint32_t uid,
		 uint32_t gid, struct err *e)
{
	_cleanup_free_ char *p = NULL;
	struct tnode *n;

	if (tree_resolve_parent(t, path, &p, e) < 0)
		return -1;
	if (!*p)
		return err_usage(e, "folder '%s' is the image root", path);
	n = tree_find(t, p);
	if (n && n->type != TN_DIR)
		return err_usage(e, "'%s' is added twice with different content", path);
	if (!n)
		n = tree_put(t, p, TN_DIR);
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	return 0;
}

/* Follow the host path one symlink at a time, recording each symlink met. */
static int add_host(struct tree *t, const char *host_path, int hops, struct err *e)
{
	_cleanup_free_ char *norm = NULL;
	struct buf prefix = {0};
	char *save = NULL, *c;
	struct stat st;

	if (hops > MAX_HOPS)
		return err_usage(e, "%s: too many levels of symlinks", host_path);
	if (host_path[0] != '/')
		return err_usage(e, "'%s' is not an absolute path", host_path);
	if (normalize_image_path(host_path, &norm, e) < 0)
		return -1;
	for (c = strtok_r(norm, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		buf_printf(&prefix, "/%s", c);
		if (lstat(prefix.data, &st) < 0) {
			int saved = errno;

			buf_free(&prefix);
			return err_sys(e, saved, "%s", host_path);
		}
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t r = readlink(prefix.data, target, sizeof target - 1);
			_cleanup_free_ char *dir = NULL, *next = NULL;
			const char *rest = save && *save ? save : NULL;
			int rc;

			if (r < 0) {
				int saved = errno;

				buf_free(&prefix);
				return err_sys(e, saved, "readlink %s", host_path);
			}
			target[r] = '\0';
			rc = tree_add_link(t, prefix.data, target, e);
			dir = path_dirname(prefix.data);
			next = target[0] == '/' ? xasprintf("%s%s%s", target, rest ? "/" : "",
							    rest ? rest : "")
						: xasprintf("%s/%s%s%s", dir, target, rest ? "/" : "",
							    rest ? rest : "");
			buf_free(&prefix);
			return rc < 0 ? -1 : add_host(t, next, hops + 1, e);
		}
	}
	if (!S_ISREG(st.st_mode)) {
		buf_free(&prefix);
		return err_usage(e, "%s is not a regular file", host_path);
	}
	int rc = tree_add_file(t, prefix.data, prefix.data, -1, e);

	buf_free(&prefix);
	return rc;
}

int tree_add_host(struct tree *t, const char *host_path, struct err *e)
{
	return add_host(t, host_path, 0, e);
}

bool tree_has_content(const struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].inherited)
			return true;
	return false;
}

static void tree_drop(struct tree *t, size_t i)
{
	free(t->v[i].path);
	free(t->v[i].src);
	free(t->v[i].data);
	free(t->v[i].target);
	t->v[i] = t->v[--t->n];
}

/* Forget inherited links at path, or under it when `under` is set. */
static void drop_inherited(struct tree *t, const char *path, bool under)
{
	size_t n = strlen(path);

	for (size_t i = t->n; i-- > 0;) {
		const char *p = t->v[i].path;
		bool hit = under ? (!n || (!strncmp(p, path, n) && p[n] == '/')) : !strcmp(p, path);

		if (t->v[i].inherited && hit)
			tree_drop(t, i);
	}
}

static void inherit_entry(struct tree *t, struct archive_entry *ae)
{
	_cleanup_free_ char *p = NULL, *dir = NULL;
	const char *base;
	struct err ignored;

	if (!archive_entry_pathname(ae) ||
	    normalize_image_path(archive_entry_pathname(ae), &p, &ignored) < 0 || !*p)
		return;
	dir = path_dirname(p);
	if (!strcmp(dir, "."))
		dir[0] = '\0';
	base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	if (!strcmp(base, ".wh..wh..opq")) {
		drop_inherited(t, dir, true);
	} else if (!strncmp(base, ".wh.", 4)) {
		_cleanup_free_ char *victim = *dir ? xasprintf("%s/%s", dir, base + 4)
						   : xstrdup(base + 4);

		drop_inherited(t, victim, false);
		drop_inherited(t, victim, true);
	} else {
		drop_inherited(t, p, false);
		if (archive_entry_filetype(ae) == AE_IFLNK && !archive_entry_hardlink(ae) &&
		    archive_entry_symlink(ae)) {
			struct tnode *n = tree_put(t, p, TN_LINK);

			n->target = xstrdup(archive_entry_symlink(ae));
			n->inherited = true;
		}
	}
}

int tree_inherit_layer(struct tree *t, const char *layer_path, struct err *e)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int r;

	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, layer_path, 1 << 16) != ARCHIVE_OK) {
		err_from_archive(e, a, layer_path);
		archive_read_free(a);
		return -1;
	}
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN)
		inherit_entry(t, ae);
	if (r != ARCHIVE_EOF)
		err_from_archive(e, a, layer_path);
	archive_read_free(a);
	return r == ARCHIVE_EOF ? 0 : -1;
}

void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].path);
		free(t->v[i].src);
		free(t->v[i].data);
		free(t->v[i].target);
	}
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* ---- writing ---------------------------------------------------------------------- */

struct sink {
	int fd;                 /* -1: hash only */
	struct digest_ctx *sha;
	uint64_t bytes;
};

static la_ssize_t sink_write(struct archive *a, void *data, const void *buf, size_t n)
{
	struct sink *s = data;
	const char *p = buf;
	size_t left = n;

	digest_update(s->sha, buf, n);
	s->bytes += n;
	while (s->fd >= 0 && left) {
		ssize_t w = write(s->fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			archive_set_error(a, errno, "write layer");
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	return (la_ssize_t)n;
}

/* A pax writer into s, compressed with c when compress is set. */
static int open_writer(struct archive **out, struct sink *s, bool compress,
		       enum layer_compression c, int level, struct err *e)
{
	struct archive *a = archive_write_new();
	int r = archive_write_set_format_pax_restricted(a);
	char lv[16];

	snprintf(lv, sizeof lv, "%d", level > 0 ? level : c == LAYER_ZSTD ? 19 : 9);
	if (r == ARCHIVE_OK && compress && c == LAYER_GZIP) {
		r = archive_write_add_filter_gzip(a);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(a, "gzip", "compression-level", lv);
	} else if (r == ARCHIVE_OK && compress && c == LAYER_ZSTD) {
		r = archive_write_add_filter_zstd(a);
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(a, "zstd", "compression-level", lv);
	}
	/* No padding of the last block: the blob ends where its data ends. */
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(a, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(a, s, NULL, sink_write, NULL, NULL);
	if (r != ARCHIVE_OK) {
		err_from_archive(e, a, "start layer");
		archive_write_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct tnode *)a)->path, ((const struct tnode *)b)->path);
}

/* Add every missing ancestor folder (0755, 0:0); fail when an ancestor is
 * not a folder. */
static int add_parents(struct tree *t, struct err *e)
{
	size_t n = t->n;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = xstrdup(t->v[i].path);
		char *slash = p;

		if (t->v[i].inherited)
			continue;
		while ((slash = strchr(slash, '/'))) {
			struct tnode *d;

			*slash = '\0';
			d = tree_find(t, p);
			if (d && d->type != TN_DIR)
				return err_usage(e, "'/%s' is a %s but '/%s' needs it as a folder",
						 p, d->type == TN_LINK ? "symlink" : "file",
						 t->v[i].path);
			if (!d) {
				d = tree_put(t, p, TN_DIR);
				d->mode = 0755;
			}
			*slash++ = '/';
		}
	}
	return 0;
}

static int write_entry(struct archive *w[2], const struct tnode *n, time_t epoch,
		       struct err *e)
{
	static __thread char chunk[1 << 16];
	struct archive_entry *ae = archive_entry_new();
	_cleanup_close_ int fd = -1;
	int64_t size = 0;
	int rc = 0;

	archive_entry_copy_pathname(ae, n->path);
	archive_entry_set_mtime(ae, epoch, 0);
	archive_entry_set_uid(ae, n->uid);
	archive_entry_set_gid(ae, n->gid);
	archive_entry_set_perm(ae, n->mode & 07777);
	if (n->type == TN_DIR) {
		archive_entry_set_filetype(ae, AE_IFDIR);
	} else if (n->type == TN_LINK) {
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_copy_symlink(ae, n->target);
	} else {
		struct stat st;

		archive_entry_set_filetype(ae, AE_IFREG);
		if (n->src) {
			fd = open(n->src, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) < 0) {
				archive_entry_free(ae);
				return err_sys(e, errno, "%s", n->src);
			}
			size = st.st_size;
		} else {
			size = (int64_t)n->len;
		}
		archive_entry_set_size(ae, size);
	}
	for (int i = 0; i < 2 && rc == 0; i++)
		if (archive_write_header(w[i], ae) != ARCHIVE_OK)
			rc = err_from_archive(e, w[i], n->path);
	archive_entry_free(ae);
	if (rc < 0 || n->type != TN_FILE)
		return rc;
	for (int64_t done = 0; done < size;) {
		const char *p = n->data + done;
		size_t want = (size_t)(size - done);
		ssize_t r;

		if (n->src) {
			if (want > sizeof chunk)
				want = sizeof chunk;
			r = read(fd, chunk, want);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return err_set(e, r < 0 ? errno : EIO,
					       "%s changed while being read", n->src);
			p = chunk;
			want = (size_t)r;
		}
		for (int i = 0; i < 2; i++)
			if (archive_write_data(w[i], p, want) != (la_ssize_t)want)
				return err_from_archive(e, w[i], n->path);
		done += (int64_t)want;
	}
	return 0;
}

int layer_write(struct tree *t, const char *blobdir, enum layer_compression c, int level,
		time_t epoch, char digest[DIGEST_STR_LEN], uint64_t *size,
		char diff_id[DIGEST_STR_LEN], struct err *e)
{
	_cleanup_free_ char *tmp = xasprintf("%s/.layer-XXXXXX", blobdir), *final = NULL;
	struct sink raw = {.fd = -1, .sha = digest_new()};
	struct sink out = {.fd = -1, .sha = digest_new()};
	struct archive *w[2] = {NULL, NULL};
	int rc = -1;

	if (add_parents(t, e) < 0)
		goto done;
	qsort(t->v, t->n, sizeof *t->v, by_path);
	out.fd = mkstemp(tmp);
	if (out.fd < 0) {
		err_sys(e, errno, "create %s", tmp);
		goto done;
	}
	if (open_writer(&w[0], &raw, false, c, level, e) < 0 ||
	    open_writer(&w[1], &out, true, c, level, e) < 0)
		goto done;
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].inherited && write_entry(w, &t->v[i], epoch, e) < 0)
			goto done;
	for (int i = 0; i < 2; i++)
		if (archive_write_close(w[i]) != ARCHIVE_OK) {
			err_from_archive(e, w[i], "finish layer");
			goto done;
		}
	if (fchmod(out.fd, 0644) < 0 || fsync(out.fd) < 0) {
		err_sys(e, errno, "write %s", tmp);
		goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < 2; i++)
		if (w[i])
			archive_write_free(w[i]);
	digest_finish(raw.sha, diff_id);
	digest_finish(out.sha, digest);
	if (out.fd >= 0)
		close(out.fd);
	if (rc == 0) {
		final = path_join(blobdir, digest_hex(digest));
		if (rename(tmp, final) < 0)
			rc = err_sys(e, errno, "rename %s to %s", tmp, final);
		*size = out.bytes;
	}
	if (rc < 0)
		unlink(tmp);
	return rc;
}
