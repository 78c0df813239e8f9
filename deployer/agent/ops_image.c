/* ops_image.c - image.unpack: OCI manifest + layers -> a shared read-only
 * rootfs (see imgstore.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "digest.h"
#include "extract.h"
#include "helper.h"
#include "imgstore.h"
#include "log.h"

/* Manifests and configs are small; refuse anything bigger. */
#define META_MAX (4 * 1024 * 1024)
#define LAYERS_MAX 128

char *image_rootfs(const struct agent *a, const char *digest)
{
	_cleanup_free_ char *rel = xasprintf("images/%s/rootfs", digest_hex(digest));

	return agent_path(a, rel);
}

/* Read a small blob, re-hashing it, and parse it as a JSON object. */
static json_t *load_json_blob(const struct agent *a, const char *digest,
			      const char *what, struct err *e)
{
	_cleanup_free_ char *path = blob_path(a, digest), *text = NULL;
	char got[DIGEST_STR_LEN];
	json_error_t je;
	size_t len;
	json_t *v;

	if (read_file(path, META_MAX, &text, &len, e) < 0) {
		if (e->code == ENOENT)
			return err_set(e, ENOENT, "%s %s is not on this host", what,
				       digest), NULL;
		return err_wrap(e, "%s %s", what, digest), NULL;
	}
	digest_buf(text, len, got);
	if (strcmp(got, digest))
		return err_set(e, EBADMSG, "%s %s is corrupt (hashes to %s)", what,
			       digest, got), NULL;
	v = json_loadb(text, len, 0, &je);
	if (!v || !json_is_object(v)) {
		json_decref(v);
		err_from_json(e, &je, what);
		return err_wrap(e, "%s", digest), NULL;
	}
	return v;
}

/* The digest of the descriptor obj[key] (or obj itself when key is NULL). */
static const char *descriptor_digest(json_t *d, const char *what, struct err *e)
{
	const char *s = json_string_value(json_object_get(d, "digest"));

	if (!s || !digest_valid(s))
		return err_set(e, EINVAL, "%s: missing or invalid digest", what), NULL;
	return s;
}

/* An index points at manifests: take the linux/amd64 one, or the first. */
static json_t *resolve_index(const struct agent *a, json_t *idx, struct err *e)
{
	json_t *list = json_object_get(idx, "manifests"), *m, *pick = NULL;
	size_t i;

	json_array_foreach(list, i, m) {
		json_t *p = json_object_get(m, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));

		if (!pick || (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64")))
			pick = m;
	}
	if (!pick)
		return err_set(e, EINVAL, "image index lists no manifest"), NULL;
	const char *d = descriptor_digest(pick, "index entry", e);

	return d ? load_json_blob(a, d, "manifest", e) : NULL;
}

static int unpack(struct agent *a, const char *digest, const char *dest,
		  struct err *e)
{
	json_t *top = load_json_blob(a, digest, "manifest", e), *manifest, *layers, *l;
	_cleanup_free_ char *cfg_path = NULL, *dir = NULL;
	const char *paths_c[LAYERS_MAX];
	char *paths[LAYERS_MAX];
	struct extract_limits lim;
	const char *cfg_digest;
	size_t i, n = 0;
	json_t *cfg = NULL;
	int rc = -1;

	if (!top)
		return -1;
	manifest = json_object_get(top, "manifests") ? resolve_index(a, top, e)
						     : json_incref(top);
	json_decref(top);
	if (!manifest)
		return -1;
	cfg_digest = descriptor_digest(json_object_get(manifest, "config"),
				       "manifest config", e);
	layers = json_object_get(manifest, "layers");
	if (!cfg_digest)
		goto out;
	if (!json_is_array(layers) || json_array_size(layers) > LAYERS_MAX) {
		err_set(e, EINVAL, "manifest %s: 'layers' must be an array of at most %d",
			digest, LAYERS_MAX);
		goto out;
	}
	cfg = load_json_blob(a, cfg_digest, "image config", e);
	if (!cfg)
		goto out;
	json_array_foreach(layers, i, l) {
		const char *ld = descriptor_digest(l, "layer", e);

		if (!ld || blob_verify(a, ld, NULL, e) < 0)
			goto out;
		paths[n] = blob_path(a, ld);
		paths_c[n] = paths[n];
		n++;
	}
	/* The config first: an image counts as unpacked once its rootfs
	 * exists, which extract_rootfs() makes appear atomically, last. */
	dir = path_dirname(dest);
	if (mkdir_p(dir, 0700, e) < 0)
		goto out;
	cfg_path = path_join(dir, "config.json");
	char *text = json_dumps(cfg, JSON_COMPACT);

	rc = write_file_atomic(cfg_path, text, strlen(text), 0600, e);
	free(text);
	if (rc < 0)
		goto out;
	extract_limits_default(&lim);
	lim.allow_devices = false;
	rc = extract_rootfs(dest, paths_c, n, &lim, e);
out:
	for (i = 0; i < n; i++)
		free(paths[i]);
	json_decref(cfg);
	json_decref(manifest);
	return rc;
}

int image_ensure(struct agent *a, const char *digest, bool *cached,
		 json_t **config, struct err *e)
{
	_cleanup_free_ char *rootfs = image_rootfs(a, digest);
	_cleanup_free_ char *dir = path_dirname(rootfs);
	_cleanup_free_ char *cfg_path = path_join(dir, "config.json");
	struct stat st;
	json_error_t je;
	json_t *cfg;

	*cached = stat(rootfs, &st) == 0;
	if (!*cached && unpack(a, digest, rootfs, e) < 0)
		return err_wrap(e, "image %s", digest);
	if (!config)
		return 0;
	cfg = json_load_file(cfg_path, 0, &je);
	if (!cfg) {
		err_from_json(e, &je, cfg_path);
		return err_wrap(e, "image %s", digest);
	}
	*config = json_incref(json_object_get(cfg, "config"));
	if (!*config)
		*config = json_object();
	json_decref(cfg);
	return 0;
}

/* ---- unpacking beside the loop ------------------------------------------- */

#define UNPACK_KEY "unpack "

/* In the helper: unpack the image the key names, unless it is there.  No
 * result: the waiting requests run again and find the rootfs. */
static int unpack_in_helper(struct agent *a, const char *key, json_t *req,
			    json_t **result, struct err *e)
{
	const char *digest = key + strlen(UNPACK_KEY);
	_cleanup_free_ char *rootfs = image_rootfs(a, digest);
	struct stat st;

	if (stat(rootfs, &st) == 0)
		return 0;
	if (unpack(a, digest, rootfs, e) < 0)
		return err_wrap(e, "image %s", digest);
	return 0;
}

int image_wait_unpacked(struct session *s, json_int_t id, json_t *req,
			const char *digest, struct err *e)
{
	_cleanup_free_ char *rootfs = image_rootfs(s->agent, digest);
	_cleanup_free_ char *key = NULL;
	struct stat st;

	if (stat(rootfs, &st) == 0)
		return 0;
	key = xasprintf(UNPACK_KEY "%s", digest);
	return helper_run(s, id, req, key, unpack_in_helper, e);
}

int op_image_unpack(struct session *s, json_int_t id, json_t *req,
		    json_t **result, struct err *e)
{
	const char *digest;
	bool cached;
	_cleanup_free_ char *rel = NULL;
	int r;

	if (req_digest(req, "digest", &digest, e) < 0)
		return -1;
	/* An answer after the helper says "cached": false, set on the
	 * request when it first had to wait. */
	if ((r = image_wait_unpacked(s, id, req, digest, e)) != 0) {
		if (r > 0)
			json_object_set_new(req, "unpacked_now", json_true());
		return r;
	}
	if (image_ensure(s->agent, digest, &cached, NULL, e) < 0)
		return -1;
	rel = xasprintf("images/%s/rootfs", digest_hex(digest));
	*result = json_pack("{s:s,s:s,s:b}", "digest", digest, "rootfs", rel,
			    "cached", cached && !json_is_true(json_object_get(req, "unpacked_now")));
	return 0;
}
