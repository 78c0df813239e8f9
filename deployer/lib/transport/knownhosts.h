/* knownhosts.h - strict host key checking against an OpenSSH known_hosts file.
 *
 * The key a server presents is looked up with libssh2_knownhost_checkp():
 *   MATCH     accepted.
 *   NOTFOUND  refused, naming the key's SHA256 fingerprint and how to accept
 *             it; with accept_new the key is appended to the file instead
 *             (OpenSSH's StrictHostKeyChecking=accept-new).  But when the
 *             file records any key of another type for the host, that key
 *             binds it: the result is MISMATCH.
 *   MISMATCH  always refused, accept_new or not, naming the recorded and the
 *             presented fingerprints (a changed key is an attack until the
 *             user removes the old line with `ssh-keygen -R`).
 *   FAILURE   refused with the reason.
 * A missing known_hosts file is an empty one; an unreadable or malformed one
 * is an error (never silently ignored).
 */
#ifndef SHOAL_KNOWNHOSTS_H
#define SHOAL_KNOWNHOSTS_H

#include <libssh2.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* "SHA256:" + 43 base64 characters + NUL */
#define SSH_FP_LEN 51

/* OpenSSH-style fingerprint of a public key blob: "SHA256:<base64, no '='>". */
void ssh_fingerprint(const void *blob, size_t len, char out[SSH_FP_LEN]);

/* The SSH name of a LIBSSH2_HOSTKEY_TYPE_* ("ssh-ed25519"), or NULL. */
const char *ssh_hostkey_type_name(int hostkey_type);

struct hostkey {
	const unsigned char *blob; /* as libssh2_session_hostkey() returns it */
	size_t len;
	int type;                  /* LIBSSH2_HOSTKEY_TYPE_* */
};

/* Check key for host:port against known_hosts `path` as described above.
 * `sess` only serves libssh2's knownhost API (it need not be connected).
 * `label` ("h2 (10.213.0.12:22)") starts every message.  Returns 0 when
 * the key is accepted (*added tells whether it was just recorded). */
int knownhosts_verify(LIBSSH2_SESSION *sess, const char *path,
		      const char *host, int port, const struct hostkey *key,
		      bool accept_new, const char *label, bool *added,
		      struct err *e);

#endif
