/* digest.h - sha256 content digests ("sha256:<64 lowercase hex>").
 * Uses GNU Nettle (SHA-NI where the CPU has it); never a hand-written hash.
 * Nettle rather than libcrypto because the agent is linked statically and
 * shipped to every host: libcrypto's EVP layer pulls in all of OpenSSL
 * (3 MB of the agent), Nettle's sha256 is a few kilobytes. */
#ifndef SHOAL_DIGEST_H
#define SHOAL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DIGEST_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN + 1)

struct digest_ctx;
/* Streaming interface. */
struct digest_ctx *digest_new(void);
void digest_update(struct digest_ctx *c, const void *p, size_t n);
/* Writes "sha256:<hex>" into out and frees c. */
void digest_finish(struct digest_ctx *c, char out[DIGEST_STR_LEN]);

void digest_buf(const void *p, size_t n, char out[DIGEST_STR_LEN]);
/* Hash everything readable from fd (from its current offset); *size gets the
 * byte count when non-NULL. */
int digest_fd(int fd, char out[DIGEST_STR_LEN], uint64_t *size, struct err *e);
int digest_file(const char *path, char out[DIGEST_STR_LEN], uint64_t *size,
		struct err *e);

/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool digest_valid(const char *s);
/* Pointer to the hex part of a valid digest. */
const char *digest_hex(const char *digest);

#endif
