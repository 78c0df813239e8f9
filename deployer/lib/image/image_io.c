/* image_io.c - moving images in and out of the store: import (OCI layout
 * folder, OCI archive, docker-archive), export (OCI archive) and unpack (a
 * rootfs through the safe extractor).
 *
 * Archives are first unpacked with extract_rootfs() into a private folder
 * of the store, and every file of a source is opened with openat2
 * RESOLVE_IN_ROOT, so a hostile archive's symlinks (a "layer.tar" pointing at
 * /etc/shadow) cannot make the import read host files. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "extract.h"
#include "image.h"
#include "image_int.h"
#include "log.h"
#include "util.h"

#define SRC_JSON_MAX (4u << 20)
#define NESTED_INDEX_MAX 4

/* ---- reading a source ------------------------------------------------------------ */

/* Open rel inside the folder rootfd, symlinks resolved as if rootfd were "/". */
static int open_in(int rootfd, const char *rel, struct err *e)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
	struct stat st;

	if (fd < 0)
		return err_sys(e, errno, "open %s in the source", rel);
	if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close((int)fd);
		return err_usage(e, "%s in the source is not a regular file", rel);
	}
	return (int)fd;
}

static int read_in(int rootfd, const char *rel, char **text, size_t *len, struct err *e)
{
	_cleanup_close_ int fd = open_in(rootfd, rel, e);
	struct buf b = {0};
	char chunk[65536];
	ssize_t r;

	if (fd < 0)
		return -1;
	while ((r = read(fd, chunk, sizeof chunk)) > 0) {
		if (b.len + (size_t)r > SRC_JSON_MAX) {
			buf_free(&b);
			return err_usage(e, "%s in the source is larger than %u bytes", rel,
					 SRC_JSON_MAX);
		}
		buf_append(&b, chunk, (size_t)r);
	}
	if (r < 0) {
		buf_free(&b);
		return err_sys(e, errno, "read %s", rel);
	}
	*len = b.len;
	*text = buf_steal(&b);
	return 0;
}

static int json_in(int rootfd, const char *rel, const char *expect, json_t **out,
		   size_t *len, struct err *e)
{
	_cleanup_free_ char *text = NULL;
	json_error_t je;
	size_t n;

	if (read_in(rootfd, rel, &text, &n, e) < 0)
		return -1;
	if (expect) {
		char got[DIGEST_STR_LEN];

		digest_buf(text, n, got);
		if (strcmp(got, expect))
			return err_set(e, EBADMSG, "%s: content hashes to %s, not %s", rel, got,
				       expect);
	}
	*out = json_loadb(text, n, 0, &je);
	if (!*out)
		return err_from_json(e, &je, rel);
	if (len)
		*len = n;
	return 0;
}

/* Copy fd into the store as a blob; when expect is set the content must hash
 * to it.  The blob appears only when complete and verified. */
static int copy_blob(const char *store, int fd, const char *expect,
		     char digest[DIGEST_STR_LEN], uint64_t *size, struct err *e)
{
	_cleanup_free_ char *dir = store_blob_dir(store, e), *tmp = NULL, *final = NULL;
	struct digest_ctx *c;
	char chunk[1 << 16];
	uint64_t n = 0;
	ssize_t r;
	int out;

	if (!dir)
		return -1;
	tmp = xasprintf("%s/.import-XXXXXX", dir);
	out = mkstemp(tmp);
	if (out < 0)
		return err_sys(e, errno, "create %s", tmp);
	c = digest_new();
	while ((r = read(fd, chunk, sizeof chunk)) > 0) {
		digest_update(c, chunk, (size_t)r);
		n += (uint64_t)r;
		if (write(out, chunk, (size_t)r) != r) {
			r = -1;
			break;
		}
	}
	digest_finish(c, digest);
	if (r < 0 || fchmod(out, 0644) < 0 || fsync(out) < 0) {
		int saved = errno;

		close(out);
		unlink(tmp);
		return err_sys(e, saved, "copy blob");
	}
	close(out);
	if (expect && strcmp(digest, expect)) {
		unlink(tmp);
		return err_set(e, EBADMSG, "blob %s is corrupt: its content hashes to %s", expect,
			       digest);
	}
	final = path_join(dir, digest_hex(digest));
	if (rename(tmp, final) < 0) {
		int saved = errno;

		unlink(tmp);
		return err_sys(e, saved, "rename %s", final);
	}
	*size = n;
	return 0;
}

static int copy_blob_in(const char *store, int rootfd, const char *rel, const char *expect,
			char digest[DIGEST_STR_LEN], uint64_t *size, struct err *e)
{
	_cleanup_close_ int fd = open_in(rootfd, rel, e);

	if (fd < 0)
		return -1;
	if (copy_blob(store, fd, expect, digest, size, e) < 0)
		return err_wrap(e, "%s", rel);
	return 0;
}

static char *blob_rel(const char *digest)
{
	return xasprintf("blobs/sha256/%s", digest_hex(digest));
}

/* ---- OCI layout ------------------------------------------------------------------- */

static const char *desc_ref(const json_t *d)
{
	return json_string_value(
		json_object_get(json_object_get(d, "annotations"), IMAGE_REF_ANNOTATION));
}

/* Choose one descriptor of an index: by ref annotation, by platform
 * (linux/amd64) in a nested index, or the only one. */
static const json_t *pick_desc(const json_t *ms, const char *pick, bool nested,
			       struct err *e)
{
	const json_t *hit = NULL;

	if (json_array_size(ms) == 1 && !pick)
		return json_array_get(ms, 0);
	for (size_t i = 0; i < json_array_size(ms); i++) {
		const json_t *d = json_array_get(ms, i), *pl = json_object_get(d, "platform");
		const char *r = desc_ref(d);

		if (!nested && pick && r && !strcmp(r, pick))
			return d;
		if (nested && !hit &&
		    !strcmp(json_string_value(json_object_get(pl, "os")) ?: "", "linux") &&
		    !strcmp(json_string_value(json_object_get(pl, "architecture")) ?: "", "amd64"))
			hit = d;
	}
	if (hit)
		return hit;
	if (!json_array_size(ms))
		err_usage(e, "the source index lists no image");
	else if (pick)
		err_usage(e, "no image with ref '%s' in the source", pick);
	else
		err_usage(e, "the source holds %zu images; choose one with --ref",
			  json_array_size(ms));
	return NULL;
}

static int import_oci(const char *store, int rootfd, const char *pick,
		      char mdigest[DIGEST_STR_LEN], uint64_t *msize, struct err *e)
{
	_cleanup_json_ json_t *idx = NULL, *m = NULL;
	_cleanup_free_ char *text = NULL, *rel = NULL;
	const json_t *d, *layers, *ms;
	char got[DIGEST_STR_LEN];
	uint64_t n;
	size_t len;

	if (json_in(rootfd, "index.json", NULL, &idx, NULL, e) < 0)
		return -1;
	ms = json_object_get(idx, "manifests");
	for (int depth = 0;; depth++) {
		const char *dg, *mt;

		if (depth > NESTED_INDEX_MAX)
			return err_usage(e, "image indexes nested too deep");
		d = pick_desc(ms, pick, depth > 0, e);
		if (!d)
			return -1;
		dg = json_string_value(json_object_get(d, "digest"));
		mt = json_string_value(json_object_get(d, "mediaType"));
		if (!dg || !digest_valid(dg))
			return err_usage(e, "source index: bad digest '%s'", dg ? dg : "");
		free(rel);
		rel = blob_rel(dg);
		memcpy(mdigest, dg, DIGEST_STR_LEN);
		if (!mt || strcmp(mt, IMAGE_MT_INDEX))
			break;
		json_decref(idx);
		idx = NULL;
		if (json_in(rootfd, rel, dg, &idx, NULL, e) < 0)
			return -1;
		ms = json_object_get(idx, "manifests");
	}
	if (read_in(rootfd, rel, &text, &len, e) < 0)
		return -1;
	digest_buf(text, len, got);
	if (strcmp(got, mdigest))
		return err_set(e, EBADMSG, "manifest %s is corrupt: its content hashes to %s",
			       mdigest, got);
	if (!(m = json_loadb(text, len, 0, NULL)))
		return err_usage(e, "manifest %s is not JSON", mdigest);
	layers = json_object_get(m, "layers");
	d = json_object_get(m, "config");
	for (size_t i = 0; d; i++) {
		const char *dg = json_string_value(json_object_get(d, "digest"));
		_cleanup_free_ char *brel = NULL;

		if (!dg || !digest_valid(dg))
			return err_usage(e, "manifest %s: bad digest '%s'", mdigest, dg ? dg : "");
		brel = blob_rel(dg);
		if (copy_blob_in(store, rootfd, brel, dg, got, &n, e) < 0)
			return -1;
		d = json_array_get(layers, i);
	}
	if (store_put_blob(store, text, len, got, e) < 0)
		return -1;
	*msize = len;
	return 0;
}

/* ---- docker-archive ------------------------------------------------------------------- */

static const char *layer_type_of(const char *store, const char *digest)
{
	_cleanup_free_ char *dir = store_blob_dir(store, NULL), *p = NULL;
	_cleanup_close_ int fd = -1;
	unsigned char m[4] = {0};

	if (!dir)
		return IMAGE_MT_LAYER;
	p = path_join(dir, digest_hex(digest));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, m, sizeof m) != (ssize_t)sizeof m)
		return IMAGE_MT_LAYER;
	if (m[0] == 0x1f && m[1] == 0x8b)
		return IMAGE_MT_LAYER_GZIP;
	if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		return IMAGE_MT_LAYER_ZSTD;
	return IMAGE_MT_LAYER;
}

static const json_t *pick_docker(const json_t *arr, const char *pick, struct err *e)
{
	if (!json_is_array(arr) || !json_array_size(arr)) {
		err_usage(e, "manifest.json lists no image");
		return NULL;
	}
	if (!pick) {
		if (json_array_size(arr) == 1)
			return json_array_get(arr, 0);
		err_usage(e, "the docker archive holds %zu images; choose one with --ref",
			  json_array_size(arr));
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *tags = json_object_get(json_array_get(arr, i), "RepoTags");

		for (size_t k = 0; k < json_array_size(tags); k++)
			if (!strcmp(json_string_value(json_array_get(tags, k)) ?: "", pick))
				return json_array_get(arr, i);
	}
	err_usage(e, "no image tagged '%s' in the docker archive", pick);
	return NULL;
}

static int import_docker(const char *store, int rootfd, const char *pick,
			 char mdigest[DIGEST_STR_LEN], uint64_t *msize, struct err *e)
{
	_cleanup_json_ json_t *arr = NULL, *man = NULL;
	_cleanup_free_ char *text = NULL;
	const json_t *ent, *layers;
	const char *cfg;
	char cdigest[DIGEST_STR_LEN], ld[DIGEST_STR_LEN];
	uint64_t csize, lsize;
	json_t *ls = json_array();
	size_t len;

	man = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", IMAGE_MT_MANIFEST,
			"layers", ls);
	if (json_in(rootfd, "manifest.json", NULL, &arr, NULL, e) < 0)
		return -1;
	ent = pick_docker(arr, pick, e);
	if (!ent)
		return -1;
	cfg = json_string_value(json_object_get(ent, "Config"));
	layers = json_object_get(ent, "Layers");
	if (!cfg || !json_is_array(layers))
		return err_usage(e, "manifest.json: an image needs Config and Layers");
	if (copy_blob_in(store, rootfd, cfg, NULL, cdigest, &csize, e) < 0)
		return -1;
	json_object_set_new(man, "config", json_pack("{s:s, s:s, s:I}", "mediaType",
		IMAGE_MT_CONFIG, "digest", cdigest, "size", (json_int_t)csize));
	for (size_t i = 0; i < json_array_size(layers); i++) {
		const char *rel = json_string_value(json_array_get(layers, i));

		if (!rel)
			return err_usage(e, "manifest.json: layer %zu is not a path", i);
		if (copy_blob_in(store, rootfd, rel, NULL, ld, &lsize, e) < 0)
			return -1;
		json_array_append_new(ls, json_pack("{s:s, s:s, s:I}", "mediaType",
			layer_type_of(store, ld), "digest", ld, "size", (json_int_t)lsize));
	}
	text = json_canon_dump(man, &len);
	if (store_put_blob(store, text, len, mdigest, e) < 0)
		return -1;
	*msize = len;
	return 0;
}

/* ---- import ----------------------------------------------------------------------------- */

/* The source as a folder fd: the layout folder itself, or an archive
 * unpacked by the safe extractor into <store>/tmp/import-XXXXXX. */
static int open_source(const char *store, const char *path, char **tmpdir, struct err *e)
{
	_cleanup_free_ char *tmproot = xasprintf("%s/tmp", store), *dest = NULL;
	struct extract_limits l;
	struct stat st;
	const char *layers[1] = {path};

	*tmpdir = NULL;
	if (stat(path, &st) < 0)
		return err_sys(e, errno, "%s", path);
	if (S_ISDIR(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		return fd < 0 ? err_sys(e, errno, "open %s", path) : fd;
	}
	if (mkdir_p(tmproot, 0700, e) < 0)
		return -1;
	*tmpdir = xasprintf("%s/import-XXXXXX", tmproot);
	if (!mkdtemp(*tmpdir))
		return err_sys(e, errno, "create %s", *tmpdir);
	dest = path_join(*tmpdir, "src");
	extract_limits_default(&l);
	l.chown = false;
	if (extract_rootfs(dest, layers, 1, &l, e) < 0)
		return err_wrap(e, "unpack %s", path);
	int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? err_sys(e, errno, "open %s", dest) : fd;
}

int store_import(const char *store, const char *path, const char *pick,
		 const char *name, const char *tag, struct err *e)
{
	_cleanup_free_ char *tmpdir = NULL;
	_cleanup_close_ int rootfd = -1;
	char mdigest[DIGEST_STR_LEN];
	uint64_t msize = 0;
	struct stat st;
	int rc;

	rootfd = open_source(store, path, &tmpdir, e);
	if (rootfd < 0)
		rc = -1;
	else if (fstatat(rootfd, "oci-layout", &st, 0) == 0)
		rc = import_oci(store, rootfd, pick, mdigest, &msize, e);
	else if (fstatat(rootfd, "manifest.json", &st, 0) == 0)
		rc = import_docker(store, rootfd, pick, mdigest, &msize, e);
	else
		rc = err_usage(e, "%s is not an OCI layout, an OCI archive or a docker-archive",
			       path);
	if (tmpdir) {
		_cleanup_close_ int parent = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_free_ char *rel = xstrdup(tmpdir + strlen(store) + 1);
		struct err ignored;

		if (parent >= 0)
			extract_remove_tree(parent, rel, &ignored);
	}
	if (rc < 0)
		return err_wrap(e, "import %s", path);
	return store_tag(store, name, tag, mdigest, msize, e);
}

int image_import(const char *store, const char *path, const char *pick,
		 const char *name_tag, struct image_info **out, struct err *e)
{
	_cleanup_free_ char *name = NULL, *tag = NULL, *ref = NULL;
	_cleanup_close_ int lock = -1;

	if (image_parse_ref(name_tag, &name, &tag, e) < 0)
		return -1;
	if (!tag)
		tag = xstrdup("latest");
	lock = store_lock(store, e);
	if (lock < 0 || store_import(store, path, pick, name, tag, e) < 0)
		return -1;
	ref = xasprintf("%s:%s", name, tag);
	return out ? image_resolve(store, ref, out, e) : 0;
}

/* ---- export --------------------------------------------------------------------------- */

static int add_entry(struct archive *a, const char *path, mode_t type, int64_t size,
		     struct err *e)
{
	struct archive_entry *ae = archive_entry_new();
	int r;

	archive_entry_copy_pathname(ae, path);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(ae, image_epoch(), 0);
	archive_entry_set_size(ae, size);
	r = archive_write_header(a, ae);
	archive_entry_free(ae);
	return r == ARCHIVE_OK ? 0 : err_from_archive(e, a, path);
}

static int add_data(struct archive *a, const char *path, const char *data, size_t len,
		    struct err *e)
{
	if (add_entry(a, path, AE_IFREG, (int64_t)len, e) < 0)
		return -1;
	if (archive_write_data(a, data, len) != (la_ssize_t)len)
		return err_from_archive(e, a, path);
	return 0;
}

/* Stream a blob into the archive, checking its digest on the way. */
static int add_blob(struct archive *a, const struct image_blob *b, struct err *e)
{
	_cleanup_free_ char *rel = blob_rel(b->digest);
	_cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
	struct digest_ctx *c;
	char chunk[1 << 16], got[DIGEST_STR_LEN];
	uint64_t n = 0;
	ssize_t r;

	if (fd < 0)
		return err_sys(e, errno, "open %s", b->path);
	if (add_entry(a, rel, AE_IFREG, (int64_t)b->size, e) < 0)
		return -1;
	c = digest_new();
	while ((r = read(fd, chunk, sizeof chunk)) > 0 && n + (uint64_t)r <= b->size) {
		digest_update(c, chunk, (size_t)r);
		n += (uint64_t)r;
		if (archive_write_data(a, chunk, (size_t)r) != r) {
			digest_finish(c, got);
			return err_from_archive(e, a, rel);
		}
	}
	digest_finish(c, got);
	if (r != 0 || n != b->size || strcmp(got, b->digest))
		return err_set(e, EBADMSG, "blob %s changed or is corrupt", b->digest);
	return 0;
}

static int by_digest(const void *x, const void *y)
{
	return strcmp(((const struct image_blob *)x)->digest,
		      ((const struct image_blob *)y)->digest);
}

int image_export(const char *store, const char *ref, const char *path, struct err *e)
{
	struct image_info *i = NULL;
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-XXXXXX", path), *itext = NULL;
	_cleanup_json_ json_t *idx = NULL;
	struct image_blob *sorted = NULL;
	struct archive *a = NULL;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	size_t ilen;
	int fd = -1, rc = -1;

	if (image_resolve(store, ref, &i, e) < 0)
		return -1;
	idx = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2,
			"mediaType", IMAGE_MT_INDEX, "manifests", "mediaType", i->blobs[0].media_type,
			"digest", i->manifest_digest, "size", (json_int_t)i->blobs[0].size,
			"annotations", IMAGE_REF_ANNOTATION, i->tag);
	itext = json_canon_dump(idx, &ilen);
	sorted = xcalloc(i->nblobs, sizeof *sorted);
	memcpy(sorted, i->blobs, i->nblobs * sizeof *sorted);
	qsort(sorted, i->nblobs, sizeof *sorted, by_digest);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err_sys(e, errno, "create %s", tmp);
		goto out;
	}
	a = archive_write_new();
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		err_from_archive(e, a, path);
		goto out;
	}
	if (add_entry(a, "blobs/", AE_IFDIR, 0, e) < 0 ||
	    add_entry(a, "blobs/sha256/", AE_IFDIR, 0, e) < 0)
		goto out;
	for (size_t k = 0; k < i->nblobs; k++) {
		if (k && !strcmp(sorted[k].digest, sorted[k - 1].digest))
			continue;
		if (add_blob(a, &sorted[k], e) < 0)
			goto out;
	}
	if (add_data(a, "index.json", itext, ilen, e) < 0 ||
	    add_data(a, "oci-layout", layout, sizeof layout - 1, e) < 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		err_from_archive(e, a, path);
		goto out;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		err_sys(e, errno, "write %s", path);
		goto out;
	}
	rc = 0;
out:
	if (a)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		unlink(tmp);
		err_wrap(e, "export %s", ref);
	}
	free(sorted);
	image_info_free(i);
	return rc;
}

/* ---- unpack ----------------------------------------------------------------------------- */

int image_unpack(const char *store, const char *ref, const char *dest, struct err *e)
{
	struct image_info *i = NULL;
	struct extract_limits l;
	const char **layers;
	int rc;

	if (image_resolve(store, ref, &i, e) < 0)
		return -1;
	layers = xcalloc(i->nblobs, sizeof *layers);
	for (size_t k = 2; k < i->nblobs; k++)
		layers[k - 2] = i->blobs[k].path;
	extract_limits_default(&l);
	rc = extract_rootfs(dest, layers, i->nblobs - 2, &l, e);
	if (rc < 0)
		err_wrap(e, "unpack %s:%s", i->name, i->tag);
	free(layers);
	image_info_free(i);
	return rc;
}
