/* digest.c - see digest.h */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct sha256_ctx {
	EVP_MD_CTX *md;
};

struct sha256_ctx *sha256_new(void)
{
	struct sha256_ctx *c = xcalloc(1, sizeof *c);

	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
		abort();
	return c;
}

void sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(c->md, p, n) != 1)
		abort();
}

void sha256_finish(struct sha256_ctx *c, char out[DIGEST_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen != 32)
		abort();
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[DIGEST_STR_LEN - 1] = '\0';
	EVP_MD_CTX_free(c->md);
	free(c);
}

void digest_buf(const void *p, size_t n, char out[DIGEST_STR_LEN])
{
	struct sha256_ctx *c = sha256_new();

	sha256_update(c, p, n);
	sha256_finish(c, out);
}

int digest_fd(int fd, char out[DIGEST_STR_LEN], uint64_t *size, struct err *e)
{
	struct sha256_ctx *c = sha256_new();
	static __thread char chunk[1 << 16];
	uint64_t total = 0;

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;

			sha256_finish(c, out);
			return err_sys(e, saved, "read");
		}
		if (r == 0)
			break;
		sha256_update(c, chunk, (size_t)r);
		total += (uint64_t)r;
	}
	sha256_finish(c, out);
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
