/* image.h - node images: recipes, the local OCI store, import and export.
 *
 * The store is one OCI image layout at <store>/oci (oci-layout, index.json,
 * blobs/sha256/<hex>); every image is an index.json entry annotated
 * org.opencontainers.image.ref.name = "NAME:TAG".  <store> is
 * image_store_dir() unless a caller passes another.
 *
 * Builds are reproducible: the same recipe and the same host files give
 * byte-identical blobs (sorted tar entries, SOURCE_DATE_EPOCH mtimes (default
 * 0), owners 0:0 unless a recipe sets them, normalised modes, gzip without
 * name or time).  Digests are checked whenever a blob is used: image_resolve()
 * re-hashes every blob and fails on a mismatch, so a corrupt blob is never
 * handed to a push or an unpack.
 *
 * Recipes (node-images/NAME.cfg) are described in docs/images.md; bad
 * recipes fail with "FILE:LINE: ..." messages (exit 2).  Libraries of the
 * listed binaries are found by reading their ELF dynamic section, never by
 * running anything.
 */
#ifndef SHOAL_IMAGE_H
#define SHOAL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define IMAGE_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMAGE_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMAGE_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMAGE_REF_ANNOTATION "org.opencontainers.image.ref.name"

struct image_blob {
	char digest[DIGEST_STR_LEN];
	char *path;       /* <store>/oci/blobs/sha256/<hex> */
	uint64_t size;
	char *media_type;
};

struct image_info {
	char *name;
	char *tag;
	char manifest_digest[DIGEST_STR_LEN];
	char config_digest[DIGEST_STR_LEN];
	struct image_blob *blobs; /* manifest, config, then layers in order */
	size_t nblobs;
};

/* $SHOAL_HOME, else ~/.local/share/shoal.  Caller frees. */
char *image_store_dir(void);

/* Build the recipe into the store and tag it NAME:VERSION (recipe keys
 * name/version).  *out (when non-NULL) gets the resolved image. */
int image_build(const char *store, const char *recipe_path,
		struct image_info **out, struct err *e);

/* Find NAME[:TAG] in the store (a bare NAME means its only tag, else
 * "latest") and verify the digest of every blob it uses. */
int image_resolve(const char *store, const char *ref, struct image_info **out,
		  struct err *e);

void image_info_free(struct image_info *i);

/* Sum of the sizes of the layer blobs (the compressed image size). */
uint64_t image_layers_size(const struct image_info *i);

/* One entry of the store index. */
struct image_entry {
	char *name, *tag;
	char digest[DIGEST_STR_LEN];
};
/* Every tagged image, sorted by name and tag.  Caller frees with
 * image_entries_free. */
int image_list(const char *store, struct image_entry **out, size_t *n,
	       struct err *e);
void image_entries_free(struct image_entry *v, size_t n);

/* Untag NAME:TAG and delete the blobs no remaining image uses. */
int image_remove(const char *store, const char *ref, struct err *e);

/* Import an OCI layout folder, an OCI archive (tar of a layout) or a
 * docker-archive (`docker save`, `skopeo copy ... docker-archive:`) as
 * NAME:TAG.  `pick` selects the source image when the source holds several
 * (its ref.name annotation, or a RepoTag of a docker archive); NULL takes the
 * only one.  Source digests are verified while copying. */
int image_import(const char *store, const char *path, const char *pick,
		 const char *name_tag, struct image_info **out, struct err *e);

/* Write NAME:TAG as an OCI archive (uncompressed tar of an OCI layout whose
 * index.json names the image by its TAG).  Reproducible; blobs are verified
 * while copied; a failed export leaves no file at path. */
int image_export(const char *store, const char *ref, const char *path,
		 struct err *e);

/* Build the image's rootfs at dest (must not exist) with the safe extractor. */
int image_unpack(const char *store, const char *ref, const char *dest,
		 struct err *e);

/* Split "NAME[:TAG]" (NAME checked with name_check); *tag is NULL when none.
 * Caller frees both. */
int image_parse_ref(const char *ref, char **name, char **tag, struct err *e);

#endif
