/* image_build.c - `shoal image build`: a recipe becomes a file tree, one
 * reproducible layer, an OCI config and manifest, and a tag in the store
 * (on top of a base image when the recipe says `from`). */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"

#include "image.h"
#include "image_int.h"
#include "log.h"
#include "util.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Binaries with their libraries and interpreters, each error naming the
 * recipe line of the binary. */
static int add_binaries(struct tree *t, const struct recipe *r, struct err *e)
{
	for (size_t i = 0; i < r->nbinaries; i++) {
		const char *bin = r->binaries[i].path;
		char **libs = NULL;
		size_t nlibs = 0;
		int rc;

		if (access(bin, F_OK) < 0)
			return err_usage(e, "%s:%d: binary %s: %s", r->file, r->binaries[i].line,
					 bin, strerror(errno));
		rc = elf_closure(&bin, 1, &libs, &nlibs, e);
		if (rc == 0)
			rc = tree_add_host(t, bin, e);
		for (size_t k = 0; k < nlibs; k++) {
			if (rc == 0)
				rc = tree_add_host(t, libs[k], e);
			free(libs[k]);
		}
		free(libs);
		if (rc < 0)
			return err_wrap(e, "%s:%d: binary %s", r->file, r->binaries[i].line, bin);
	}
	return 0;
}

/* /etc/passwd and /etc/group with root and the recipe's user. */
static int add_user(struct tree *t, const struct recipe *r, struct err *e)
{
	struct buf pw = {0}, gr = {0};
	int rc;

	buf_printf(&pw, "root:x:0:0:root:/root:/sbin/nologin\n");
	buf_printf(&gr, "root:x:0:\n");
	if (r->uid != 0)
		buf_printf(&pw, "%s:x:%u:%u::%s:/sbin/nologin\n", r->user, r->uid, r->gid, r->home);
	if (r->gid != 0)
		buf_printf(&gr, "%s:x:%u:\n", r->group, r->gid);
	rc = tree_add_data(t, "/etc/passwd", pw.data, pw.len, 0644, e);
	if (rc == 0)
		rc = tree_add_data(t, "/etc/group", gr.data, gr.len, 0644, e);
	buf_free(&pw);
	buf_free(&gr);
	return rc;
}

static int recipe_tree(struct tree *t, const struct recipe *r, struct err *e)
{
	if (add_binaries(t, r, e) < 0)
		return -1;
	if (r->build && srcbuild_add(t, r, e) < 0)
		return -1;
	for (size_t i = 0; i < r->nlinks; i++)
		if (tree_add_link(t, r->links[i].path, r->links[i].target, e) < 0)
			return err_wrap(e, "%s:%d", r->file, r->links[i].line);
	for (size_t i = 0; i < r->nfiles; i++)
		if (tree_add_file(t, r->files[i].dest, r->files[i].src, r->files[i].mode, e) < 0)
			return err_wrap(e, "%s:%d: file %s", r->file, r->files[i].line,
					r->files[i].dest);
	for (size_t i = 0; i < r->ndirs; i++)
		if (tree_add_dir(t, r->dirs[i].path, (mode_t)r->dirs[i].mode, r->dirs[i].uid,
				 r->dirs[i].gid, e) < 0)
			return err_wrap(e, "%s:%d: folder %s", r->file, r->dirs[i].line,
					r->dirs[i].path);
	if (r->has_user && add_user(t, r, e) < 0)
		return err_wrap(e, "%s: user", r->file);
	return 0;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Env: base entries, then the recipe's (a recipe KEY replaces the base's). */
static json_t *merge_env(const json_t *base, const struct recipe *r)
{
	json_t *env = json_array();
	bool has_path = false;

	for (size_t i = 0; i < json_array_size(base); i++) {
		const char *kv = json_string_value(json_array_get(base, i));
		bool replaced = false;

		if (!kv)
			continue;
		for (size_t k = 0; k < r->nenv && !replaced; k++) {
			size_t kl = (size_t)(strchr(r->env[k], '=') - r->env[k]);

			replaced = !strncmp(kv, r->env[k], kl + 1);
		}
		if (!replaced)
			json_array_append_new(env, json_string(kv));
	}
	for (size_t k = 0; k < r->nenv; k++)
		json_array_append_new(env, json_string(r->env[k]));
	for (size_t i = 0; i < json_array_size(env); i++)
		has_path |= !strncmp(json_string_value(json_array_get(env, i)), "PATH=", 5);
	if (!has_path)
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
	return env;
}

static json_t *make_config(const json_t *base, const struct recipe *r, const char *diff_id)
{
	json_t *cfg = base ? json_deep_copy(base) : json_object();
	json_t *c = json_object_get(cfg, "config"), *rootfs, *diffs, *ports, *labels;
	char created[32];
	time_t epoch = image_epoch();
	struct tm tm;

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(cfg, "config", c);
	}
	gmtime_r(&epoch, &tm);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(cfg, "created", json_string(created));
	json_object_set_new(cfg, "architecture", json_string("amd64"));
	json_object_set_new(cfg, "os", json_string("linux"));
	/* History entries would have to match layers one for one; drop them. */
	json_object_del(cfg, "history");
	json_object_set_new(c, "Env", merge_env(json_object_get(c, "Env"), r));
	if (r->has_user)
		json_object_set_new(c, "User", json_sprintf("%u:%u", r->uid, r->gid));
	if (r->nentrypoint) {
		json_object_set_new(c, "Entrypoint", strv_json(r->entrypoint, r->nentrypoint));
		if (!r->ncmd)
			json_object_del(c, "Cmd");
	}
	if (r->ncmd)
		json_object_set_new(c, "Cmd", strv_json(r->cmd, r->ncmd));
	if (r->workdir)
		json_object_set_new(c, "WorkingDir", json_string(r->workdir));
	ports = json_object_get(c, "ExposedPorts");
	if (!json_is_object(ports) && r->nports) {
		ports = json_object();
		json_object_set_new(c, "ExposedPorts", ports);
	}
	for (size_t i = 0; i < r->nports; i++) {
		_cleanup_free_ char *p = strchr(r->ports[i], '/') ? xstrdup(r->ports[i])
								 : xasprintf("%s/tcp", r->ports[i]);

		json_object_set_new(ports, p, json_object());
	}
	labels = json_object_get(c, "Labels");
	if (!json_is_object(labels) && r->nlabels) {
		labels = json_object();
		json_object_set_new(c, "Labels", labels);
	}
	for (size_t i = 0; i < r->nlabels; i++)
		json_object_set_new(labels, r->labels[i].key, json_string(r->labels[i].value));
	rootfs = json_object_get(cfg, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
		json_object_set_new(cfg, "rootfs", rootfs);
	}
	diffs = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(diffs)) {
		diffs = json_array();
		json_object_set_new(rootfs, "diff_ids", diffs);
	}
	if (diff_id)
		json_array_append_new(diffs, json_string(diff_id));
	return cfg;
}

/* Import the base image named by `from` as NAME-base:VERSION (which keeps its
 * blobs from garbage collection) and load its manifest and config.  The
 * caller holds the store lock. */
static int load_base(const char *store, const struct recipe *r, struct tree *t,
		     json_t **manifest, json_t **config, struct err *e)
{
	struct image_info *base = NULL;
	_cleanup_free_ char *bname = xasprintf("%s-base", r->name), *ref = NULL;
	bool oci = !strncmp(r->from, "oci:", 4);
	_cleanup_free_ char *path = xstrdup(r->from + (oci ? 4 : 15));
	_cleanup_free_ char *mtext = NULL, *ctext = NULL;
	char *pick = NULL;
	json_error_t je;
	int rc;

	/* oci:PATH:REF - the ref follows the last ':' of an OCI source */
	if (oci && (pick = strrchr(path, ':')))
		*pick++ = '\0';
	if (store_import(store, path, pick, bname, r->version, e) < 0)
		return err_wrap(e, "%s:%d: from %s", r->file, r->from_line, r->from);
	ref = xasprintf("%s:%s", bname, r->version);
	if (image_resolve(store, ref, &base, e) < 0)
		return -1;
	rc = read_file(base->blobs[0].path, 4u << 20, &mtext, NULL, e);
	if (rc == 0)
		rc = read_file(base->blobs[1].path, 4u << 20, &ctext, NULL, e);
	for (size_t i = 2; i < base->nblobs && rc == 0; i++)
		rc = tree_inherit_layer(t, base->blobs[i].path, e);
	image_info_free(base);
	if (rc < 0)
		return -1;
	*manifest = json_loads(mtext, 0, &je);
	if (!*manifest)
		return err_from_json(e, &je, "base image manifest");
	*config = json_loads(ctext, 0, &je);
	if (!*config)
		return err_from_json(e, &je, "base image config");
	return 0;
}

/* ---- the layer cache ----------------------------------------------------------
 *
 * Building is reproducible, so an unchanged recipe gives the same layer; but
 * compressing it takes seconds, and `shoal up` builds on every run.  The key
 * hashes everything the layer is made of: each tree entry's path, type,
 * mode, owner, link target and literal data, and for a host file its path,
 * size, mtime (ns), inode and device, plus the compression, its level and
 * the epoch.  A
 * changed input changes the key.  The value names the layer blob; a hit is
 * used only when that blob is in the store with its size (image_resolve()
 * re-hashes every blob at use, so a corrupted one is still caught). */

static void layer_key(const struct tree *t, int kind, int level, time_t epoch,
		      char key[DIGEST_STR_LEN])
{
	struct digest_ctx *c = digest_new();
	char hdr[128];

	snprintf(hdr, sizeof hdr, "shoal-layer-cache 2 %d %d %lld\n", kind, level,
		 (long long)epoch);
	digest_update(c, hdr, strlen(hdr));
	for (size_t i = 0; i < t->n; i++) {
		const struct tnode *n = &t->v[i];
		char line[256];
		struct stat st = {0};

		snprintf(line, sizeof line, "%c %o %u %u %zu %d\n", (char)n->type,
			 (unsigned)n->mode, n->uid, n->gid, n->len, n->inherited);
		digest_update(c, line, strlen(line));
		digest_update(c, n->path, strlen(n->path) + 1);
		if (n->target)
			digest_update(c, n->target, strlen(n->target) + 1);
		if (n->data)
			digest_update(c, n->data, n->len);
		if (n->src) {
			digest_update(c, n->src, strlen(n->src) + 1);
			if (stat(n->src, &st) == 0)
				snprintf(line, sizeof line, "%lld %lld.%09ld %llu %llu\n",
					 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
					 st.st_mtim.tv_nsec, (unsigned long long)st.st_ino,
					 (unsigned long long)st.st_dev);
			else
				snprintf(line, sizeof line, "missing\n");
			digest_update(c, line, strlen(line));
		}
	}
	digest_finish(c, key);
}

static char *cache_path(const char *store, const char key[DIGEST_STR_LEN])
{
	return xasprintf("%s/cache/layers/%s.json", store, digest_hex(key));
}

/* A cached layer for key whose blob is still in the store: fills the
 * digests and size and returns true. */
static bool cache_get(const char *store, const char *blobdir,
		      const char key[DIGEST_STR_LEN], char ldigest[DIGEST_STR_LEN],
		      uint64_t *lsize, char diff_id[DIGEST_STR_LEN])
{
	_cleanup_free_ char *path = cache_path(store, key), *text = NULL, *blob = NULL;
	json_t *j;
	const char *d, *di;
	json_int_t size;
	struct stat st;
	bool ok = false;

	if (read_file(path, 4096, &text, NULL, NULL) < 0)
		return false;
	j = json_loads(text, 0, NULL);
	d = json_string_value(json_object_get(j, "digest"));
	di = json_string_value(json_object_get(j, "diff_id"));
	size = json_integer_value(json_object_get(j, "size"));
	if (digest_valid(d) && digest_valid(di) && size > 0) {
		blob = path_join(blobdir, digest_hex(d));
		if (stat(blob, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size) {
			memcpy(ldigest, d, DIGEST_STR_LEN);
			memcpy(diff_id, di, DIGEST_STR_LEN);
			*lsize = (uint64_t)size;
			ok = true;
		}
	}
	json_decref(j);
	return ok;
}

/* Remember a layer; a failure only costs the next build its speed. */
static void cache_put(const char *store, const char key[DIGEST_STR_LEN],
		      const char *ldigest, uint64_t lsize, const char *diff_id)
{
	_cleanup_free_ char *path = cache_path(store, key), *dir = path_dirname(path);
	json_t *j = json_pack("{s:s, s:I, s:s}", "digest", ldigest, "size",
			      (json_int_t)lsize, "diff_id", diff_id);
	char *text = json_dumps(j, JSON_COMPACT);
	struct err e;

	if (text && (mkdir_p(dir, 0755, &e) < 0 ||
		     write_file_atomic(path, text, strlen(text), 0644, &e) < 0))
		log_debug("layer cache: %s", e.msg);
	free(text);
	json_decref(j);
}

int image_build(const char *store, const char *recipe_path, struct image_info **out,
		struct err *e)
{
	struct recipe *r = NULL;
	struct tree t = {0};
	_cleanup_json_ json_t *base_m = NULL, *base_c = NULL, *cfg = NULL, *man = NULL;
	_cleanup_free_ char *blobdir = NULL, *ctext = NULL, *mtext = NULL, *ref = NULL;
	char ldigest[DIGEST_STR_LEN], diff_id[DIGEST_STR_LEN], cdigest[DIGEST_STR_LEN];
	char mdigest[DIGEST_STR_LEN];
	uint64_t lsize = 0;
	size_t clen, mlen;
	json_t *layers;
	int rc = -1, lock = -1;
	bool own;

	if (recipe_load(recipe_path, &r, e) < 0)
		return -1;
	blobdir = store_blob_dir(store, e);
	if (!blobdir || (lock = store_lock(store, e)) < 0)
		goto out;
	if (r->from && load_base(store, r, &t, &base_m, &base_c, e) < 0)
		goto out;
	if (recipe_tree(&t, r, e) < 0)
		goto out;
	own = tree_has_content(&t);
	if (own) {
		int kind = r->zstd ? LAYER_ZSTD : LAYER_GZIP;
		int level = r->level ? r->level : r->zstd ? 19 : 9;
		char key[DIGEST_STR_LEN];

		layer_key(&t, kind, level, image_epoch(), key);
		if (cache_get(store, blobdir, key, ldigest, &lsize, diff_id)) {
			log_debug("layer of %s:%s unchanged (cache %.19s)", r->name,
				  r->version, key);
		} else {
			if (layer_write(&t, blobdir, kind, level, image_epoch(), ldigest, &lsize,
					diff_id, e) < 0)
				goto out;
			cache_put(store, key, ldigest, lsize, diff_id);
		}
	}
	cfg = make_config(base_c, r, own ? diff_id : NULL);
	ctext = json_canon_dump(cfg, &clen);
	if (store_put_blob(store, ctext, clen, cdigest, e) < 0)
		goto out;
	layers = base_m ? json_deep_copy(json_object_get(base_m, "layers")) : json_array();
	if (!json_is_array(layers))
		layers = json_array();
	if (own)
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
			r->zstd ? IMAGE_MT_LAYER_ZSTD : IMAGE_MT_LAYER_GZIP, "digest", ldigest,
			"size", (json_int_t)lsize));
	man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
			IMAGE_MT_MANIFEST, "config", "mediaType", IMAGE_MT_CONFIG, "digest",
			cdigest, "size", (json_int_t)clen, "layers", layers);
	mtext = json_canon_dump(man, &mlen);
	if (store_put_blob(store, mtext, mlen, mdigest, e) < 0 ||
	    store_tag(store, r->name, r->version, mdigest, mlen, e) < 0)
		goto out;
	log_debug("built %s:%s %s (layer %llu bytes)", r->name, r->version, mdigest,
		 (unsigned long long)lsize);
	ref = xasprintf("%s:%s", r->name, r->version);
	rc = out ? image_resolve(store, ref, out, e) : 0;
out:
	if (lock >= 0)
		close(lock);
	tree_free(&t);
	recipe_free(r);
	return rc;
}
