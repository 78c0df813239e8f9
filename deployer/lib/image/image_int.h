/* image_int.h - internals shared by image.c (store, import, export),
 * image_recipe.c (recipes), image_elf.c (library closure) and
 * image_layer.c (file trees and reproducible layers).  Not for other modules:
 * they use image.h. */
#ifndef SHOAL_IMAGE_INT_H
#define SHOAL_IMAGE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "digest.h"
#include "err.h"

/* ---- recipes (image_recipe.c) ------------------------------------------------ */

struct recipe_loc {
	int line;
};

struct recipe_path {           /* a binary to include */
	char *path;
	int line;
};

struct recipe_file {           /* files = ( { src, dest, mode } ) */
	char *src;             /* absolute (relative ones resolved against the recipe) */
	char *dest;
	int mode;              /* -1: from the source file, normalised */
	int line;
};

struct recipe_dir {            /* dirs = ( { path, mode, uid, gid } ) */
	char *path;
	int mode;
	uint32_t uid, gid;
	int line;
};

struct recipe_link {           /* symlinks = ( [PATH, TARGET] ) */
	char *path, *target;
	int line;
};

struct recipe_label {
	char *key, *value;
};

struct recipe_build {          /* build = { script; inputs; sources; dest; libraries; } */
	char *script;          /* absolute */
	char **inputs;         /* absolute; files or folders hashed into the key */
	size_t ninputs;
	bool has_sources;
	char *sources_env;     /* variable naming the sources folder */
	char **sources_paths;  /* absolute candidates, the first present wins */
	size_t nsources_paths;
	char *sources_manifest; /* file name in the sources folder */
	char *sources_hint;    /* how to get them, for the error */
	char *dest;            /* image folder the output lands in */
	bool libraries;        /* add the host libraries its ELF files need */
	int line;
};

struct recipe {
	char *file;            /* the recipe's path, for messages */
	char *dir;             /* its folder */
	char *name, *version, *from;
	int from_line;
	struct recipe_path *binaries;
	size_t nbinaries;
	struct recipe_file *files;
	size_t nfiles;
	struct recipe_dir *dirs;
	size_t ndirs;
	struct recipe_link *links;
	size_t nlinks;
	bool has_user;
	char *user, *group, *home;
	uint32_t uid, gid;
	char **entrypoint, **cmd, **env, **ports;
	size_t nentrypoint, ncmd, nenv, nports;
	struct recipe_label *labels;
	size_t nlabels;
	char *workdir;
	bool zstd;             /* compression = "zstd" */
	int level;             /* compression_level; 0: the default (gzip 9, zstd 19) */
	int level_line;        /* its line, 0 when not given */
	struct recipe_build *build; /* NULL without a build step */
};

/* An error at the recipe's line of s (0 when s is NULL): "FILE:LINE: msg". */
struct config_setting_t;
int recipe_at(struct err *e, const struct recipe *r, const struct config_setting_t *s,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parse and check a recipe; errors read "FILE:LINE: ...". */
int recipe_load(const char *path, struct recipe **out, struct err *e);
void recipe_free(struct recipe *r);

/* ---- source builds (image_srcbuild.c) ---------------------------------------------- */

struct config_setting_t;
struct tree;
/* Parse the `build` group into r->build; errors read "FILE:LINE: build: ...". */
int recipe_parse_build(struct recipe *r, const struct config_setting_t *s, struct err *e);
void recipe_build_free(struct recipe_build *b);
/* $SHOAL_BUILD_CACHE, else $XDG_CACHE_HOME/shoal/builds, else
 * ~/.cache/shoal/builds.  Caller frees. */
char *srcbuild_cache_dir(void);
/* Digest of every input of r's build (sources, when given, are verified
 * against their manifest on the way). */
int srcbuild_key(const struct recipe *r, const char *sources, char key[DIGEST_STR_LEN],
		 struct err *e);
/* Run r's build (or find it in the cache); *tree_dir gets the output folder
 * (caller frees), *cached whether it was there already. */
int srcbuild_run(const struct recipe *r, char **tree_dir, bool *cached, struct err *e);
/* Run it and add its output under build.dest to t (with the host libraries
 * its ELF files need when build.libraries is set). */
int srcbuild_add(struct tree *t, const struct recipe *r, struct err *e);

/* ---- ELF (image_elf.c) --------------------------------------------------------- */

/* Host paths of every shared library the binaries need (DT_NEEDED, searched
 * through DT_RPATH/DT_RUNPATH with $ORIGIN, /etc/ld.so.conf and the standard
 * folders), and of their ELF interpreters, found by reading the files only.
 * A binary that is not ELF, or a library not found, is an error naming it.
 * *out is a sorted, de-duplicated array; caller frees each and it. */
int elf_closure(const char *const *bins, size_t n, char ***out, size_t *nout,
		struct err *e);

/* ---- file trees and layers (image_layer.c) -------------------------------------- */

enum tnode_type { TN_FILE = 'f', TN_DIR = 'd', TN_LINK = 'l' };

struct tnode {
	char *path;            /* relative, normalised: "usr/bin/redis-server" */
	enum tnode_type type;
	char *src;             /* TN_FILE: host file to copy, or NULL for data */
	char *data;            /* TN_FILE: literal content when src is NULL */
	size_t len;
	char *target;          /* TN_LINK */
	mode_t mode;
	uint32_t uid, gid;
	bool inherited;        /* a symlink of the base image: resolves, not written */
};

struct tree {
	struct tnode *v;
	size_t n, cap;
};

/* Add a host path to the tree the way the host resolves it: every symlink met
 * on the way (a folder like /lib64 -> usr/lib64, or the file itself) is
 * added as a symlink and followed, files land at their real folders. */
int tree_add_host(struct tree *t, const char *host_path, struct err *e);
/* Literal file content at path (inside the image; resolved through the
 * tree's symlinks). */
int tree_add_data(struct tree *t, const char *path, const char *data,
		  size_t len, mode_t mode, struct err *e);
int tree_add_file(struct tree *t, const char *path, const char *src, int mode,
		  struct err *e);
int tree_add_dir(struct tree *t, const char *path, mode_t mode, uint32_t uid,
		 uint32_t gid, struct err *e);
int tree_add_link(struct tree *t, const char *path, const char *target,
		  struct err *e);
/* Learn the symlinks a base image's layer leaves (later layers and whiteouts
 * override earlier ones), so recipe paths resolve through them. */
int tree_inherit_layer(struct tree *t, const char *layer_path, struct err *e);
/* True when the tree has something of its own to write. */
bool tree_has_content(const struct tree *t);
void tree_free(struct tree *t);

enum layer_compression { LAYER_GZIP, LAYER_ZSTD };

/* Write the tree as one reproducible layer blob into blobdir (sorted entries,
 * parents added, mtime = epoch, normalised modes), compressed with c at
 * level (0: gzip 9, zstd 19).  Fills the blob digest and size, and diff_id
 * (digest of the uncompressed tar). */
int layer_write(struct tree *t, const char *blobdir, enum layer_compression c,
		int level, time_t epoch, char digest[DIGEST_STR_LEN], uint64_t *size,
		char diff_id[DIGEST_STR_LEN], struct err *e);

/* ---- store helpers (image.c) -------------------------------------------------- */

/* <store>/oci/blobs/sha256 (created).  Caller frees. */
char *store_blob_dir(const char *store, struct err *e);
/* Put bytes as a blob; fills digest. */
int store_put_blob(const char *store, const void *data, size_t len,
		   char digest[DIGEST_STR_LEN], struct err *e);
/* Record NAME:TAG -> manifest in index.json (replacing an older entry). */
int store_tag(const char *store, const char *name, const char *tag,
	      const char *manifest_digest, uint64_t manifest_size,
	      struct err *e);
/* An exclusive flock on <store>/oci/.lock, held by build, import and rm so
 * that garbage collection never removes blobs of an image being added.
 * Returns the fd to close, or -1. */
int store_lock(const char *store, struct err *e);
/* image_import() for a caller that already holds the store lock. */
int store_import(const char *store, const char *path, const char *pick,
		 const char *name, const char *tag, struct err *e);
/* SOURCE_DATE_EPOCH, or 0. */
time_t image_epoch(void);
/* Canonical JSON bytes (compact, keys sorted), so equal content gives equal
 * digests.  Caller frees. */
char *json_canon_dump(const json_t *j, size_t *len);

static inline void image_cleanup_jsonp(json_t **j)
{
	json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(image_cleanup_jsonp)))

#endif
