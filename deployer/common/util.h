/* util.h - allocation, scoped cleanup, names, files.
 *
 * Allocation failure aborts (xmalloc and friends): shoal cannot do anything
 * useful without memory, and checking every small allocation hides real
 * errors.  Everything else reports through struct err.
 */
#ifndef SHOAL_UTIL_H
#define SHOAL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "err.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array of `*cap` elements of `size` bytes to hold at least `need`. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Scoped cleanup (GCC/Clang). */
static inline void cleanup_freep(void *p) { free(*(void **)p); }
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);
#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))

/* Hand ownership out of a _cleanup_ variable. */
#define steal_pointer(pp) \
	({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(fdp) ({ int _fd = *(fdp); *(fdp) = -1; _fd; })

/* Growable byte buffer, always NUL-terminated. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Take the data (caller frees); leaves b empty. */
char *buf_steal(struct buf *b);

/* A name that is safe as one path component and as one shell word:
 * 1..max bytes of [A-Za-z0-9._-], not starting with '-' or '.'.
 * On failure fills e with why ("'..': starts with '.'"), naming `what`. */
int name_check(const char *s, size_t max, const char *what, struct err *e);
bool name_is_safe(const char *s, size_t max);

/* NULL-terminated string vectors (argv-like).  strv_dup copies every string
 * (NULL gives an empty vector); strv_free frees them all, NULL-safe. */
char **strv_dup(const char *const *v);
void strv_free(char **v);

/* "a" + "b" -> "a/b" (no doubled slash).  Caller frees. */
char *path_join(const char *a, const char *b);
/* Directory part of a path ("." when none).  Caller frees. */
char *path_dirname(const char *p);

/* Read a whole file, failing when it is larger than max bytes.  *out is
 * NUL-terminated; caller frees. */
int read_file(const char *path, size_t max, char **out, size_t *len,
	      struct err *e);
/* Write a file atomically: temp file in the same folder, fsync, rename,
 * fsync the folder.  A reader sees the old or the new content, never a mix. */
int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, struct err *e);
/* mkdir -p; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode, struct err *e);

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Parse "512M", "2G", "1024" (bytes; K/M/G/T are powers of 1024, an optional
 * trailing "B"/"iB" is accepted).  Returns -1 on bad syntax or overflow. */
int parse_size(const char *s, uint64_t *out);
/* Parse "250ms", "10s", "2m", "1h", bare number = ms.  -1 on bad syntax. */
int parse_duration_ms(const char *s, int64_t *out);

/* Folder holding templates/ and node-images/: $SHOAL_DATA, else next to the
 * running binary (<bin>/../share/shoal, <bin>/.., <bin>, <bin>/../.. for
 * build/asan/shoal in a source tree).  Caller frees. */
char *shoal_data_dir(void);

#endif
