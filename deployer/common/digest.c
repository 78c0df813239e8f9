/* digest.c - see digest.h */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct digest_ctx {
	struct sha256_ctx sha; /* nettle's */
};

struct digest_ctx *digest_new(void)
{
	struct digest_ctx *c = xcalloc(1, sizeof *c);

	sha256_init(&c->sha);
	return c;
}

void digest_update(struct digest_ctx *c, const void *p, size_t n)
{
	if (n)
		sha256_update(&c->sha, n, p);
}

void digest_finish(struct digest_ctx *c, char out[DIGEST_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[SHA256_DIGEST_SIZE];

	sha256_digest(&c->sha, sizeof md, md);
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < sizeof md; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[DIGEST_STR_LEN - 1] = '\0';
	free(c);
}

void digest_buf(const void *p, size_t n, char out[DIGEST_STR_LEN])
{
	struct digest_ctx *c = digest_new();

	digest_update(c, p, n);
	digest_finish(c, out);
}

int digest_fd(int fd, char out[DIGEST_STR_LEN], uint64_t *size, struct err *e)
{
	struct digest_ctx *c = digest_new();
	static __thread char chunk[1 << 16];
	uint64_t total = 0;

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;

			digest_finish(c, out);
			return err_sys(e, saved, "read");
		}
		if (r == 0)
			break;
		digest_update(c, chunk, (size_t)r);
		total += (uint64_t)r;
	}
	digest_finish(c, out);
	if (size)
		*size = total;
	return 0;
}

int digest_file(const char *path, char out[DIGEST_STR_LEN], uint64_t *size,
		struct err *e)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return err_sys(e, errno, "open %s", path);
	if (digest_fd(fd, out, size, e) < 0)
		return err_wrap(e, "hash %s", path);
	return 0;
}

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0)
		return false;
	for (int i = 0; i < DIGEST_HEX_LEN; i++) {
		char c = s[7 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[7 + DIGEST_HEX_LEN] == '\0';
}

const char *digest_hex(const char *digest)
{
	return digest + 7;
}
