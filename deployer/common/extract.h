/* extract.h - safe extraction of OCI image layers into a rootfs.
 *
 * A layer is a tar stream (plain, gzip or zstd; detected from its bytes),
 * read with libarchive.  Nothing is written through libarchive's disk writer:
 * every file, directory, link and node is created by this module with
 * *at() calls relative to a directory fd of the root, so a hostile archive
 * cannot reach outside the root:
 *
 *   - entry names are normalised ("./a//b/" -> "a/b"); absolute names, ".."
 *     components, names longer than max_path or deeper than max_depth are
 *     rejected;
 *   - the parent directories of an entry are opened one component at a time
 *     (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, or
 *     an openat O_NOFOLLOW walk when openat2 is missing): nothing is ever
 *     created, changed or removed *through* a symlink.  A symlink may point
 *     anywhere as content, but an entry beneath it is rejected;
 *   - an entry that replaces an existing path removes it first (never opens
 *     it), and files are created with O_CREAT|O_EXCL|O_NOFOLLOW; modes, owners
 *     and times are set on the fd just created, or with AT_SYMLINK_NOFOLLOW;
 *   - hard links must name an existing file inside the root, reached without
 *     symlinks; the root itself can never be replaced (a symlink named "." or
 *     "/" is rejected);
 *   - OCI whiteouts (".wh.NAME", ".wh..wh..opq") remove lower-layer paths,
 *     never entries of the same layer, never beneath a symlink;
 *   - a path may appear once per layer (directories may repeat);
 *   - device nodes and fifos are rejected unless allow_devices; nothing but a
 *     directory may be placed under dev/, proc/ or sys/ (the runtime mounts
 *     there; a "dev/null" symlink would redirect its bind mount), except
 *     device nodes under dev/ when allowed;
 *   - setuid/setgid bits are stripped unless allow_setid;
 *   - decompressed bytes and entry counts are limited (decompression bombs,
 *     inode floods).
 * Extended attributes, ACLs and file capabilities in the archive are not
 * applied.  Nothing from the image is ever executed or loaded.
 *
 * Rejections are bad input (err exit 2) and name the entry:
 *   "entry 'etc/../../x': '..' component".
 */
#ifndef SHOAL_EXTRACT_H
#define SHOAL_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

struct extract_limits {
	uint64_t max_bytes;   /* decompressed tar bytes, per layer */
	uint64_t max_entries; /* entries, per layer */
	size_t max_path;      /* bytes of an entry name (and of a link target) */
	bool allow_devices;   /* create char/block nodes and fifos */
	/* Added beyond the first contract; extract_limits_default sets them. */
	size_t max_depth;     /* path components of an entry name */
	bool allow_setid;     /* keep setuid/setgid bits (default: stripped) */
	bool chown;           /* apply the archive's uid/gid (default: when root) */
};

/* 8 GiB, 1,000,000 entries, 4095-byte paths, depth 256, no devices, setid
 * stripped, owners applied when the process runs as root. */
void extract_limits_default(struct extract_limits *l);

/* Apply one OCI layer read from layerfd (from its current offset; not
 * closed) onto the directory open at rootfd.  On failure the root may hold
 * part of the layer: callers build into a temporary root (extract_rootfs). */
int extract_layer_fd(int rootfd, int layerfd, const struct extract_limits *l,
		     struct err *e);

/* Build a complete rootfs at dest (which must not exist) from n layer files
 * applied in order.  Extracts into a temporary sibling ".NAME.partial-XXXXXX"
 * and renames it to dest only when every layer applied; on failure the
 * temporary dir is removed and dest does not appear. */
int extract_rootfs(const char *dest, const char *const *layer_paths, size_t n,
		   const struct extract_limits *l, struct err *e);

/* Remove `name` beneath the directory dirfd and everything under it, never
 * following a symlink.  A missing name is not an error. */
int extract_remove_tree(int dirfd, const char *name, struct err *e);

/* Digest of the tree at dirfd: every path (sorted), its type, permission
 * bits, size, file content, symlink target and device number, read without
 * following symlinks; owners and modification times too when asked.  Used to
 * compare rootfs trees and to prove that a tree beside an extraction was not
 * touched. */
enum { TREE_DIGEST_OWNERS = 1, TREE_DIGEST_MTIME = 2 };
int extract_tree_digest(int dirfd, unsigned flags, char out[DIGEST_STR_LEN],
			struct err *e);

#endif
