/* image.c - the local OCI store: build from a recipe, resolve with digest
 * checks, list, remove (with blob garbage collection), import, export and
 * unpack.  See image.h. */
#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "extract.h"
#include "image_int.h"
#include "log.h"
#include "util.h"

#define JSON_MAX (4u << 20)

/* ---- store layout ------------------------------------------------------------------ */

char *image_store_dir(void)
{
	const char *home = getenv("SHOAL_HOME");

	if (home && *home)
		return xstrdup(home);
	home = getenv("HOME");
	return xasprintf("%s/.local/share/shoal", home && *home ? home : "/root");
}

static char *oci_path(const char *store, const char *rel)
{
	return xasprintf("%s/oci/%s", store, rel);
}

static char *blob_path(const char *store, const char *digest)
{
	return xasprintf("%s/oci/blobs/sha256/%s", store, digest_hex(digest));
}

time_t image_epoch(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	v = strtoll(s, &end, 10);
	return *end || v < 0 ? 0 : (time_t)v;
}

char *json_canon_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		abort();
	*len = strlen(s);
	return s;
}

static int store_init(const char *store, struct err *e)
{
	_cleanup_free_ char *blobs = oci_path(store, "blobs/sha256");
	_cleanup_free_ char *layout = oci_path(store, "oci-layout");
	_cleanup_free_ char *index = oci_path(store, "index.json");
	static const char layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct stat st;

	if (mkdir_p(blobs, 0755, e) < 0)
		return err_wrap(e, "image store %s", store);
	if (stat(layout, &st) < 0 &&
	    write_file_atomic(layout, layout_json, sizeof layout_json - 1, 0644, e) < 0)
		return -1;
	if (stat(index, &st) < 0) {
		static const char empty[] = "{\"manifests\":[],\"mediaType\":\"" IMAGE_MT_INDEX
					    "\",\"schemaVersion\":2}";

		if (write_file_atomic(index, empty, sizeof empty - 1, 0644, e) < 0)
			return -1;
	}
	return 0;
}

char *store_blob_dir(const char *store, struct err *e)
{
	if (store_init(store, e) < 0)
		return NULL;
	return oci_path(store, "blobs/sha256");
}

int store_lock(const char *store, struct err *e)
{
	_cleanup_free_ char *p = oci_path(store, ".lock");
	int fd;

	if (store_init(store, e) < 0)
		return -1;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_sys(e, errno, "open %s", p);
	if (flock(fd, LOCK_EX) < 0) {
		int saved = errno;

		close(fd);
		return err_sys(e, saved, "lock %s", p);
	}
	return fd;
}

int store_put_blob(const char *store, const void *data, size_t len,
		   char digest[DIGEST_STR_LEN], struct err *e)
{
	_cleanup_free_ char *p = NULL;
	struct stat st;

	digest_buf(data, len, digest);
	p = blob_path(store, digest);
	if (stat(p, &st) == 0 && (size_t)st.st_size == len) {
		char have[DIGEST_STR_LEN];
		struct err ignored;

		/* already there, unless corrupt: then it is rewritten */
		if (digest_file(p, have, NULL, &ignored) == 0 && !strcmp(have, digest))
			return 0;
	}
	return write_file_atomic(p, data, len, 0644, e);
}

/* Hash the blob file and compare with its digest (and size when known). */
static int blob_verify(const char *store, const char *digest, int64_t size,
		       struct err *e)
{
	_cleanup_free_ char *p = blob_path(store, digest);
	char got[DIGEST_STR_LEN];
	uint64_t n;

	if (digest_file(p, got, &n, e) < 0)
		return err_wrap(e, "blob %s", digest);
	if (strcmp(got, digest))
		return err_set(e, EBADMSG, "blob %s is corrupt: its content hashes to %s",
			       digest, got);
	if (size >= 0 && n != (uint64_t)size)
		return err_set(e, EBADMSG, "blob %s is %llu bytes, its descriptor says %lld",
			       digest, (unsigned long long)n, (long long)size);
	return 0;
}

/* Read a JSON blob, checking its digest first. */
static int blob_json(const char *store, const char *digest, json_t **out,
		     struct err *e)
{
	_cleanup_free_ char *p = blob_path(store, digest), *text = NULL;
	char got[DIGEST_STR_LEN];
	json_error_t je;
	size_t len;

	if (read_file(p, JSON_MAX, &text, &len, e) < 0)
		return err_wrap(e, "blob %s", digest);
	digest_buf(text, len, got);
	if (strcmp(got, digest))
		return err_set(e, EBADMSG, "blob %s is corrupt: its content hashes to %s",
			       digest, got);
	*out = json_loadb(text, len, 0, &je);
	if (!*out)
		return err_from_json(e, &je, digest);
	return 0;
}

/* ---- index.json ---------------------------------------------------------------------- */

static int index_load(const char *store, json_t **out, struct err *e)
{
	_cleanup_free_ char *p = oci_path(store, "index.json");
	json_error_t je;
	json_t *idx;

	if (store_init(store, e) < 0)
		return -1;
	idx = json_load_file(p, 0, &je);
	if (!idx)
		return err_from_json(e, &je, p);
	if (!json_is_array(json_object_get(idx, "manifests"))) {
		json_decref(idx);
		return err_set(e, EINVAL, "%s: no \"manifests\" array", p);
	}
	*out = idx;
	return 0;
}

static const char *entry_ref(const json_t *m)
{
	return json_string_value(
		json_object_get(json_object_get(m, "annotations"), IMAGE_REF_ANNOTATION));
}

static int by_ref(const void *a, const void *b)
{
	const char *x = entry_ref(*(json_t *const *)a), *y = entry_ref(*(json_t *const *)b);

	return strcmp(x ? x : "", y ? y : "");
}

static int index_save(const char *store, json_t *idx, struct err *e)
{
	_cleanup_free_ char *p = oci_path(store, "index.json"), *text = NULL;
	json_t *ms = json_object_get(idx, "manifests");
	size_t n = json_array_size(ms), len;
	json_t **v = xcalloc(n + 1, sizeof *v), *sorted = json_array();

	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(ms, i);
	if (n)
		qsort(v, n, sizeof *v, by_ref);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_object_set_new(idx, "manifests", sorted);
	text = json_canon_dump(idx, &len);
	return write_file_atomic(p, text, len, 0644, e);
}

int store_tag(const char *store, const char *name, const char *tag,
	      const char *manifest_digest, uint64_t manifest_size, struct err *e)
{
	_cleanup_json_ json_t *idx = NULL;
	_cleanup_free_ char *ref = xasprintf("%s:%s", name, tag);
	json_t *ms, *keep = json_array();

	if (index_load(store, &idx, e) < 0) {
		json_decref(keep);
		return -1;
	}
	ms = json_object_get(idx, "manifests");
	for (size_t i = 0; i < json_array_size(ms); i++) {
		const char *r = entry_ref(json_array_get(ms, i));

		if (!r || strcmp(r, ref))
			json_array_append(keep, json_array_get(ms, i));
	}
	json_array_append_new(keep,
		json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", IMAGE_MT_MANIFEST,
			  "digest", manifest_digest, "size", (json_int_t)manifest_size,
			  "annotations", IMAGE_REF_ANNOTATION, ref));
	json_object_set_new(idx, "manifests", keep);
	return index_save(store, idx, e);
}

/* ---- refs and resolve ------------------------------------------------------------------ */

int image_parse_ref(const char *ref, char **name, char **tag, struct err *e)
{
	const char *colon = strchr(ref, ':');
	_cleanup_free_ char *n = colon ? xstrndup(ref, (size_t)(colon - ref)) : xstrdup(ref);

	if (name_check(n, 63, "image name", e) < 0)
		return -1;
	if (colon && name_check(colon + 1, 127, "image tag", e) < 0)
		return -1;
	*tag = colon ? xstrdup(colon + 1) : NULL;
	*name = steal_pointer(&n);
	return 0;
}

/* The index entry for ref; a bare name picks its only tag, else "latest". */
static int find_entry(const json_t *idx, const char *name, const char *tag,
		      const json_t **out, char **out_tag, struct err *e)
{
	const json_t *ms = json_object_get(idx, "manifests"), *hit = NULL;
	size_t nhits = 0, plen = strlen(name);

	for (size_t i = 0; i < json_array_size(ms); i++) {
		const json_t *m = json_array_get(ms, i);
		const char *r = entry_ref(m);

		if (!r || strncmp(r, name, plen) || r[plen] != ':')
			continue;
		if (tag ? !strcmp(r + plen + 1, tag) : true) {
			if (!tag && !strcmp(r + plen + 1, "latest")) {
				hit = m;
				nhits = 1;
				break;
			}
			hit = m;
			nhits++;
		}
	}
	if (!hit)
		return err_usage(e, "no image %s%s%s in the store (see 'shoal image ls')", name,
				 tag ? ":" : "", tag ? tag : "");
	if (nhits > 1)
		return err_usage(e, "image %s has several tags; name one (NAME:TAG)", name);
	*out = hit;
	*out_tag = xstrdup(entry_ref(hit) + plen + 1);
	return 0;
}

static bool is_layer_type(const char *mt)
{
	return mt && (strstr(mt, ".layer.") || strstr(mt, "rootfs.diff"));
}

static void add_blob(struct image_info *i, const char *store, const char *digest,
		     uint64_t size, const char *mt)
{
	struct image_blob *b;

	i->blobs = xrealloc(i->blobs, (i->nblobs + 1) * sizeof *i->blobs);
	b = &i->blobs[i->nblobs++];
	memcpy(b->digest, digest, DIGEST_STR_LEN);
	b->path = blob_path(store, digest);
	b->size = size;
	b->media_type = xstrdup(mt);
}

/* Check a descriptor { mediaType, digest, size } and return its parts. */
static int descriptor(const json_t *d, const char *what, const char **digest,
		      json_int_t *size, const char **mt, struct err *e)
{
	*digest = json_string_value(json_object_get(d, "digest"));
	*size = json_integer_value(json_object_get(d, "size"));
	*mt = json_string_value(json_object_get(d, "mediaType"));
	if (!*digest || !digest_valid(*digest))
		return err_usage(e, "%s: missing or unsupported digest '%s' (sha256 only)", what,
				 *digest ? *digest : "");
	if (!json_is_integer(json_object_get(d, "size")) || *size < 0)
		return err_usage(e, "%s %s: bad size", what, *digest);
	if (!*mt)
		*mt = "";
	return 0;
}

/* Fill i from the manifest blob `mdigest`, verifying every blob. */
static int load_manifest(const char *store, const char *mdigest, struct image_info *i,
			 struct err *e)
{
	_cleanup_json_ json_t *m = NULL;
	const char *d, *mt;
	json_int_t size;
	const json_t *layers;
	struct stat st;
	_cleanup_free_ char *mp = blob_path(store, mdigest);

	if (blob_json(store, mdigest, &m, e) < 0)
		return -1;
	if (stat(mp, &st) < 0)
		return err_sys(e, errno, "%s", mp);
	memcpy(i->manifest_digest, mdigest, DIGEST_STR_LEN);
	mt = json_string_value(json_object_get(m, "mediaType"));
	add_blob(i, store, mdigest, (uint64_t)st.st_size, mt ? mt : IMAGE_MT_MANIFEST);
	if (descriptor(json_object_get(m, "config"), "manifest config", &d, &size, &mt, e) < 0)
		return err_wrap(e, "manifest %s", mdigest);
	if (blob_verify(store, d, size, e) < 0)
		return -1;
	memcpy(i->config_digest, d, DIGEST_STR_LEN);
	add_blob(i, store, d, (uint64_t)size, mt);
	layers = json_object_get(m, "layers");
	if (!json_is_array(layers))
		return err_usage(e, "manifest %s has no layers array", mdigest);
	for (size_t k = 0; k < json_array_size(layers); k++) {
		if (descriptor(json_array_get(layers, k), "layer", &d, &size, &mt, e) < 0)
			return err_wrap(e, "manifest %s", mdigest);
		if (!is_layer_type(mt))
			return err_usage(e, "manifest %s: layer %s has media type '%s'", mdigest, d,
					 mt);
		if (blob_verify(store, d, size, e) < 0)
			return -1;
		add_blob(i, store, d, (uint64_t)size, mt);
	}
	return 0;
}

int image_resolve(const char *store, const char *ref, struct image_info **out,
		  struct err *e)
{
	_cleanup_free_ char *name = NULL, *tag = NULL;
	_cleanup_json_ json_t *idx = NULL;
	const json_t *ent;
	const char *mdigest;
	struct image_info *i;

	if (image_parse_ref(ref, &name, &tag, e) < 0 || index_load(store, &idx, e) < 0)
		return -1;
	i = xcalloc(1, sizeof *i);
	if (find_entry(idx, name, tag, &ent, &i->tag, e) < 0) {
		image_info_free(i);
		return -1;
	}
	i->name = steal_pointer(&name);
	mdigest = json_string_value(json_object_get(ent, "digest"));
	if (!mdigest || !digest_valid(mdigest)) {
		err_set(e, EINVAL, "store index: image %s:%s has no valid digest", i->name, i->tag);
		image_info_free(i);
		return -1;
	}
	if (load_manifest(store, mdigest, i, e) < 0) {
		err_wrap(e, "image %s:%s", i->name, i->tag);
		image_info_free(i);
		return -1;
	}
	*out = i;
	return 0;
}

void image_info_free(struct image_info *i)
{
	if (!i)
		return;
	for (size_t k = 0; k < i->nblobs; k++) {
		free(i->blobs[k].path);
		free(i->blobs[k].media_type);
	}
	free(i->blobs);
	free(i->name);
	free(i->tag);
	free(i);
}

uint64_t image_layers_size(const struct image_info *i)
{
	uint64_t n = 0;

	for (size_t k = 2; k < i->nblobs; k++)
		n += i->blobs[k].size;
	return n;
}

/* ---- list, remove ------------------------------------------------------------------------ */

int image_list(const char *store, struct image_entry **out, size_t *n, struct err *e)
{
	_cleanup_json_ json_t *idx = NULL;
	const json_t *ms;
	struct image_entry *v = NULL;
	size_t cnt = 0;

	if (index_load(store, &idx, e) < 0)
		return -1;
	ms = json_object_get(idx, "manifests");
	v = xcalloc(json_array_size(ms) + 1, sizeof *v);
	for (size_t k = 0; k < json_array_size(ms); k++) {
		const json_t *m = json_array_get(ms, k);
		const char *r = entry_ref(m), *d = json_string_value(json_object_get(m, "digest"));
		const char *colon = r ? strchr(r, ':') : NULL;

		if (!colon || !d || !digest_valid(d))
			continue;
		v[cnt].name = xstrndup(r, (size_t)(colon - r));
		v[cnt].tag = xstrdup(colon + 1);
		memcpy(v[cnt].digest, d, DIGEST_STR_LEN);
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void image_entries_free(struct image_entry *v, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(v[k].name);
		free(v[k].tag);
	}
	free(v);
}

/* Add the manifest, config and layer digests of every tagged image to keep. */
static void mark_used(const char *store, const json_t *idx, json_t *keep)
{
	const json_t *ms = json_object_get(idx, "manifests");

	for (size_t k = 0; k < json_array_size(ms); k++) {
		const char *d = json_string_value(json_object_get(json_array_get(ms, k), "digest"));
		_cleanup_json_ json_t *m = NULL;
		struct err ignored;
		const json_t *layers;

		if (!d || !digest_valid(d))
			continue;
		json_object_set_new(keep, digest_hex(d), json_true());
		if (blob_json(store, d, &m, &ignored) < 0)
			continue; /* a corrupt manifest keeps only itself */
		d = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
		if (d && digest_valid(d))
			json_object_set_new(keep, digest_hex(d), json_true());
		layers = json_object_get(m, "layers");
		for (size_t l = 0; l < json_array_size(layers); l++) {
			d = json_string_value(json_object_get(json_array_get(layers, l), "digest"));
			if (d && digest_valid(d))
				json_object_set_new(keep, digest_hex(d), json_true());
		}
	}
}

/* Delete blobs no tagged image uses.  Runs under the store lock. */
static int collect_garbage(const char *store, const json_t *idx, struct err *e)
{
	_cleanup_free_ char *dir = oci_path(store, "blobs/sha256");
	_cleanup_json_ json_t *keep = json_object();
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[DIGEST_STR_LEN];

	if (dfd < 0)
		return err_sys(e, errno, "open %s", dir);
	mark_used(store, idx, keep);
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;

	if (!d)
		return err_sys(e, errno, "read %s", dir);
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != DIGEST_HEX_LEN)
			continue;
		memcpy(buf, "sha256:", 7);
		memcpy(buf + 7, de->d_name, DIGEST_HEX_LEN + 1);
		if (!digest_valid(buf) || json_object_get(keep, de->d_name))
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT) {
			int saved = errno;

			closedir(d);
			return err_sys(e, saved, "remove blob %s", de->d_name);
		}
		log_debug("removed unused blob %s", de->d_name);
	}
	closedir(d);
	return 0;
}

int image_remove(const char *store, const char *ref, struct err *e)
{
	_cleanup_free_ char *name = NULL, *tag = NULL, *found_tag = NULL, *full = NULL;
	_cleanup_json_ json_t *idx = NULL;
	_cleanup_close_ int lock = -1;
	const json_t *ent;
	json_t *ms, *keep;

	if (image_parse_ref(ref, &name, &tag, e) < 0)
		return -1;
	lock = store_lock(store, e);
	if (lock < 0 || index_load(store, &idx, e) < 0 ||
	    find_entry(idx, name, tag, &ent, &found_tag, e) < 0)
		return -1;
	full = xasprintf("%s:%s", name, found_tag);
	ms = json_object_get(idx, "manifests");
	keep = json_array();
	for (size_t k = 0; k < json_array_size(ms); k++) {
		const char *r = entry_ref(json_array_get(ms, k));

		if (!r || strcmp(r, full))
			json_array_append(keep, json_array_get(ms, k));
	}
	json_object_set_new(idx, "manifests", keep);
	if (index_save(store, idx, e) < 0)
		return -1;
	return collect_garbage(store, idx, e);
}
