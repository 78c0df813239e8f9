/* hostile.h - generator of hostile OCI layers (tar streams built with
 * libarchive's writer), shared by tests/unit/test_extract.c and the fuzz seed
 * corpus.  Each case is a list of entries, optionally preceded by a benign
 * lower layer, and the entry name the extractor's rejection must mention.
 * "@C@" in a link target or name stands for the absolute path of the canary
 * tree that the test keeps beside the target root.
 *
 * Large cases (decompression bomb, one million entries) are built by code in
 * test_extract.c rather than listed here, and never committed as files. */
#ifndef SHOAL_TESTS_HOSTILE_H
#define SHOAL_TESTS_HOSTILE_H

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum hfilter { HF_TAR, HF_GZIP, HF_ZSTD };

struct hentry {
	char type;        /* f file, d dir, l symlink, h hard link, c char dev, p fifo */
	const char *path;
	const char *arg;  /* file data, or link target */
	unsigned mode;    /* 0 = 0644 / 0755 */
};

#define HMAX 6
struct hcase {
	const char *name;
	const char *expect;       /* substring of the rejection */
	enum hfilter filter;
	struct hentry pre[HMAX];  /* benign lower layer applied first (may be empty) */
	struct hentry ents[HMAX];
};

static const struct hcase hostile_cases[] = {
	{"absolute", "entry '/etc/evil'", HF_GZIP, {{0}}, {{'f', "/etc/evil", "x", 0}}},
	{"dotdot", "entry '../evil'", HF_TAR, {{0}}, {{'f', "../evil", "x", 0}}},
	{"dotdot-inner", "entry 'a/../../canary/secret'", HF_ZSTD, {{0}},
	 {{'d', "a", NULL, 0}, {'f', "a/../../canary/secret", "pwned", 0}}},
	{"symlink-escape-write", "entry 'esc/pwned': parent 'esc' is a symlink", HF_GZIP, {{0}},
	 {{'l', "esc", "@C@", 0}, {'f', "esc/pwned", "x", 0}}},
	{"symlink-relative-escape", "entry 'up/secret': parent 'up' is a symlink", HF_TAR, {{0}},
	 {{'l', "up", "../canary", 0}, {'f', "up/secret", "pwned", 0}}},
	{"hardlink-etc-shadow", "entry 'shadow': hard link target '/etc/shadow' is absolute",
	 HF_TAR, {{0}}, {{'h', "shadow", "/etc/shadow", 0}}},
	{"hardlink-outside", "entry 'steal': hard link target has a '..' component", HF_TAR,
	 {{0}}, {{'h', "steal", "../canary/secret", 0}}},
	{"hardlink-through-symlink", "entry 'steal': parent 's' is a symlink", HF_GZIP, {{0}},
	 {{'l', "s", "@C@", 0}, {'h', "steal", "s/secret", 0}}},
	{"symlink-named-dot", "entry '.': replaces the root directory", HF_TAR, {{0}},
	 {{'l', ".", "@C@", 0}, {'f', "secret", "pwned", 0}}},
	{"symlink-named-dot-slash", "entry './': replaces the root directory", HF_TAR, {{0}},
	 {{'l', "./", "@C@", 0}}},
	{"symlink-named-slash", "entry '/': name '/' is absolute", HF_TAR, {{0}},
	 {{'l', "/", "@C@", 0}}},
	{"whiteout-under-symlink", "entry 'w/.wh.secret': parent 'w' is a symlink", HF_TAR,
	 {{'l', "w", "@C@", 0}}, {{'f', "w/.wh.secret", "", 0}}},
	{"opaque-under-symlink", "entry 'w/.wh..wh..opq': parent 'w' is a symlink", HF_TAR,
	 {{'l', "w", "@C@", 0}}, {{'f', "w/.wh..wh..opq", "", 0}}},
	{"whiteout-dotdot", "entry '.wh...': whiteout of '..'", HF_TAR, {{0}},
	 {{'f', ".wh...", "", 0}}},
	{"whiteout-as-directory", "has a whiteout '.wh.x' as a directory", HF_TAR, {{0}},
	 {{'f', ".wh.x/y", "", 0}}},
	{"char-device", "entry 'kmem': device node or fifo", HF_TAR, {{0}},
	 {{'c', "kmem", "1,2", 0}}},
	{"fifo", "entry 'pipe': device node or fifo", HF_GZIP, {{0}}, {{'p', "pipe", NULL, 0}}},
	{"long-path", "bytes): name is 4096 bytes, longer than 4095", HF_TAR, {{0}},
	 {{'f', "@LONG@", "x", 0}}},
	{"symlink-loop", "entry 'loop1/x': parent 'loop1' is a symlink", HF_TAR, {{0}},
	 {{'l', "loop1", "loop2", 0}, {'l', "loop2", "loop1", 0}, {'f', "loop1/x", "x", 0}}},
	{"chmod-host-path", "entry 'victim/': appears twice in this layer", HF_TAR, {{0}},
	 {{'l', "victim", "@C@/secret", 0}, {'d', "victim", NULL, 04777}}},
	{"chmod-host-path-file", "entry 'victim': appears twice in this layer", HF_TAR, {{0}},
	 {{'l', "victim", "@C@/secret", 0}, {'f', "victim", "pwned", 0777}}},
	{"dev-null-symlink", "entry 'dev/null': only directories may be placed under dev/",
	 HF_TAR, {{0}}, {{'d', "dev", NULL, 0}, {'l', "dev/null", "@C@/secret", 0}}},
	{"proc-symlink", "entry 'proc/self': only directories may be placed under proc/",
	 HF_TAR, {{0}}, {{'l', "proc/self", "/", 0}}},
	{"dir-replaced-by-symlink", "entry 'd': appears twice in this layer", HF_TAR, {{0}},
	 {{'d', "d", NULL, 0}, {'l', "d", "@C@", 0}, {'f', "d/secret", "pwned", 0}}},
	{"dir-replaced-by-symlink-across-layers", "entry 'd/secret': parent 'd' is a symlink",
	 HF_ZSTD, {{'d', "d", NULL, 0}}, {{'l', "d", "@C@", 0}, {'f', "d/secret", "pwned", 0}}},
	{"hardlink-to-dir", "entry 'hl': hard link target 'dd' is a directory", HF_TAR, {{0}},
	 {{'d', "dd", NULL, 0}, {'h', "hl", "dd", 0}}},
	{"hardlink-missing", "entry 'hl': hard link target 'nothere' does not exist", HF_TAR,
	 {{0}}, {{'h', "hl", "nothere", 0}}},
};

/* Replace "@C@" with canary and "@LONG@" with a 4096-byte relative name. */
static char *hostile_expand(const char *s, const char *canary)
{
	const char *at;
	char *out;

	if (!s)
		return NULL;
	if (!strcmp(s, "@LONG@")) {
		out = malloc(4097);
		for (int i = 0; i < 4096; i += 2)
			memcpy(out + i, "a/", 2);
		out[4095] = 'x';
		out[4096] = '\0';
		return out;
	}
	at = strstr(s, "@C@");
	if (!at)
		return strdup(s);
	size_t n = strlen(s) + strlen(canary) + 1;

	out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - s), s, canary, at + 3);
	return out;
}

/* Write entries ents[0..] (up to the first with type 0) as a pax tar with
 * the given filter to path.  Returns 0, or -1 with a message on stderr. */
static int hostile_write(const char *path, enum hfilter f, const struct hentry *ents,
			 const char *canary)
{
	struct archive *a = archive_write_new();
	int rc = 0;

	archive_write_set_format_pax_restricted(a);
	if (f == HF_GZIP)
		archive_write_add_filter_gzip(a);
	else if (f == HF_ZSTD)
		archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		fprintf(stderr, "hostile: %s\n", archive_error_string(a));
		archive_write_free(a);
		return -1;
	}
	for (int i = 0; i < HMAX && ents[i].type; i++) {
		const struct hentry *h = &ents[i];
		struct archive_entry *ae = archive_entry_new();
		char *p = hostile_expand(h->path, canary), *arg = hostile_expand(h->arg, canary);
		size_t dlen = 0;

		archive_entry_copy_pathname(ae, p);
		archive_entry_set_mtime(ae, 0, 0);
		switch (h->type) {
		case 'f':
			dlen = strlen(arg);
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, h->mode ? h->mode : 0644);
			archive_entry_set_size(ae, (la_int64_t)dlen);
			break;
		case 'd':
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, h->mode ? h->mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_perm(ae, 0777);
			archive_entry_copy_symlink(ae, arg);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, 0644);
			archive_entry_copy_hardlink(ae, arg);
			break;
		case 'c':
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_perm(ae, 0666);
			archive_entry_set_rdevmajor(ae, 1);
			archive_entry_set_rdevminor(ae, 2);
			break;
		case 'p':
			archive_entry_set_filetype(ae, AE_IFIFO);
			archive_entry_set_perm(ae, 0644);
			break;
		}
		if (archive_write_header(a, ae) < ARCHIVE_WARN ||
		    (dlen && archive_write_data(a, arg, dlen) != (la_ssize_t)dlen)) {
			fprintf(stderr, "hostile: %s: %s\n", p, archive_error_string(a));
			rc = -1;
		}
		free(p);
		free(arg);
		archive_entry_free(ae);
		if (rc)
			break;
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		rc = -1;
	archive_write_free(a);
	return rc;
}

#endif
