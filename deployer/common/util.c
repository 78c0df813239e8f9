/* util.c - see util.h */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- allocation ---------------------------------------------------------- */

static void oom(void)
{
	static const char msg[] = "shoal: out of memory\n";

	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xgrow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap;

	if (need <= c)
		return p;
	if (c < 8)
		c = 8;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			oom();
		c *= 2;
	}
	if (size && c > SIZE_MAX / size)
		oom();
	p = xrealloc(p, c * size);
	*cap = c;
	return p;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		oom();
	return d;
}

char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		oom();
	return d;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return s;
}

void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* ---- buffers ------------------------------------------------------------- */

void buf_append(struct buf *b, const void *p, size_t n)
{
	b->data = xgrow(b->data, &b->cap, b->len + n + 1, 1);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->data = xgrow(b->data, &b->cap, b->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *buf_steal(struct buf *b)
{
	char *d = b->data ? b->data : xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

/* ---- string vectors ------------------------------------------------------ */

char **strv_dup(const char *const *v)
{
	size_t n = 0;
	char **out;

	while (v && v[n])
		n++;
	out = xcalloc(n + 1, sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- names and paths ----------------------------------------------------- */

int name_check(const char *s, size_t max, const char *what, struct err *e)
{
	size_t n;

	if (!s || !*s)
		return err_usage(e, "%s is empty", what);
	n = strnlen(s, max + 1);
	if (n > max)
		return err_usage(e, "%s '%.40s...' is longer than %zu bytes", what,
				 s, max);
	if (s[0] == '-')
		return err_usage(e, "%s '%s' starts with '-'", what, s);
	if (s[0] == '.')
		return err_usage(e, "%s '%s' starts with '.'", what, s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			continue;
		if (c < 0x20 || c >= 0x7f)
			return err_usage(e,
					 "%s has a control or non-ASCII byte 0x%02x at offset %zu",
					 what, c, i);
		return err_usage(e, "%s '%s' has '%c' (allowed: letters, digits, '.', '_', '-')",
				 what, s, c);
	}
	return 0;
}

bool name_is_safe(const char *s, size_t max)
{
	return name_check(s, max, "name", NULL) == 0;
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (b[0] == '/' || la == 0)
		return xstrdup(b);
	if (a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

char *path_dirname(const char *p)
{
	const char *slash = strrchr(p, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == p)
		return xstrdup("/");
	return xstrndup(p, (size_t)(slash - p));
}

/* ---- files --------------------------------------------------------------- */

int read_file(const char *path, size_t max, char **out, size_t *len,
	      struct err *e)
{
	_cleanup_close_ int fd = -1;
	struct buf b = {0};
	struct stat st;
	char chunk[65536];

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(e, errno, "open %s", path);
	if (fstat(fd, &st) < 0)
		return err_sys(e, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode))
		return err_set(e, EISDIR, "%s is a directory, not a file", path);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			buf_free(&b);
			return err_sys(e, errno, "read %s", path);
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			buf_free(&b);
			return err_set(e, EFBIG, "%s is larger than %zu bytes", path,
				       max);
		}
		buf_append(&b, chunk, (size_t)r);
	}
	if (len)
		*len = b.len;
	*out = buf_steal(&b);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	_cleanup_close_ int dfd = -1;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return err_sys(e, errno, "create %s", tmp);
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int saved = errno;

		close(fd);
		unlink(tmp);
		return err_sys(e, saved, "write %s", tmp);
	}
	if (close(fd) < 0) {
		int saved = errno;

		unlink(tmp);
		return err_sys(e, saved, "close %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int saved = errno;

		unlink(tmp);
		return err_sys(e, saved, "rename %s to %s", tmp, path);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return err_sys(e, errno, "fsync folder %s", dir);
	return 0;
}

int mkdir_p(const char *path, mode_t mode, struct err *e)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);

	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return err_sys(e, errno, "mkdir %s", p);
		if (i < n)
			p[i] = '/';
	}
	return 0;
}

/* ---- time, sizes, durations ---------------------------------------------- */

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	switch (*p) {
	case 'k': case 'K': mult = 1ULL << 10; p++; break;
	case 'm': case 'M': mult = 1ULL << 20; p++; break;
	case 'g': case 'G': mult = 1ULL << 30; p++; break;
	case 't': case 'T': mult = 1ULL << 40; p++; break;
	default: break;
	}
	if (mult > 1 && *p == 'i')
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -1;
	if (v && mult > UINT64_MAX / v)
		return -1;
	*out = v * mult;
	return 0;
}

int parse_duration_ms(const char *s, int64_t *out)
{
	int64_t v = 0, mult;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	if (!*p || !strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "m"))
		mult = 60000;
	else if (!strcmp(p, "h"))
		mult = 3600000;
	else
		return -1;
	if (v && mult > INT64_MAX / v)
		return -1;
	*out = v * mult;
	return 0;
}

/* ---- data folder --------------------------------------------------------- */

static bool has_templates(const char *dir)
{
	_cleanup_free_ char *t = path_join(dir, "templates");
	struct stat st;

	return stat(t, &st) == 0 && S_ISDIR(st.st_mode);
}

char *shoal_data_dir(void)
{
	const char *env = getenv("SHOAL_DATA");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		_cleanup_free_ char *bin = NULL;
		const char *rel[] = {"../share/shoal", "..", ".", "../.."};

		exe[n] = '\0';
		bin = path_dirname(exe);
		for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
			char *d = path_join(bin, rel[i]);
			char real[PATH_MAX];

			if (has_templates(d) && realpath(d, real)) {
				free(d);
				return xstrdup(real);
			}
			free(d);
		}
	}
	return xstrdup(".");
}
