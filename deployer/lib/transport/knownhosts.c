/* knownhosts.c - strict host key checking (see knownhosts.h). */
#include "knownhosts.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"
#include "util.h"

void ssh_fingerprint(const void *blob, size_t len, char out[SSH_FP_LEN])
{
	char hex[DIGEST_STR_LEN];
	unsigned char raw[32], b64[48];
	const char *h;
	int n;

	digest_buf(blob, len, hex);
	h = digest_hex(hex);
	for (size_t i = 0; i < sizeof raw; i++) {
		unsigned hi = (unsigned)(h[2 * i] <= '9' ? h[2 * i] - '0' : h[2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(h[2 * i + 1] <= '9' ? h[2 * i + 1] - '0' : h[2 * i + 1] - 'a' + 10);

		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	n = EVP_EncodeBlock(b64, raw, sizeof raw);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(out, SSH_FP_LEN, "SHA256:%.*s", n, (const char *)b64);
}

const char *ssh_hostkey_type_name(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa";
	case LIBSSH2_HOSTKEY_TYPE_DSS: return "ssh-dss";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521";
	case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519";
	}
	return NULL;
}

static int knownhost_key_type(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
	}
	return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
}

/* The SSH name of a known_hosts entry's key type. */
static const char *entry_type_name(const struct libssh2_knownhost *k)
{
	switch (k->typemask & LIBSSH2_KNOWNHOST_KEY_MASK) {
	case LIBSSH2_KNOWNHOST_KEY_SSHRSA: return "ssh-rsa";
	case LIBSSH2_KNOWNHOST_KEY_SSHDSS: return "ssh-dss";
	case LIBSSH2_KNOWNHOST_KEY_ECDSA_256: return "ecdsa-sha2-nistp256";
	case LIBSSH2_KNOWNHOST_KEY_ECDSA_384: return "ecdsa-sha2-nistp384";
	case LIBSSH2_KNOWNHOST_KEY_ECDSA_521: return "ecdsa-sha2-nistp521";
	case LIBSSH2_KNOWNHOST_KEY_ED25519: return "ssh-ed25519";
	}
	return "unknown-type";
}

/* An entry of kh, of any key type, recorded for host:port, or NULL.  Each
 * entry's own key is checked against the host with libssh2, so hashed
 * names (|1|salt|hash) and [host]:port forms bind exactly as they do for
 * the presented key. */
static struct libssh2_knownhost *recorded_for_host(LIBSSH2_KNOWNHOSTS *kh,
						   const char *host, int port)
{
	struct libssh2_knownhost *k = NULL, *prev = NULL;

	while (libssh2_knownhost_get(kh, &k, prev) == 0) {
		int type = k->typemask & LIBSSH2_KNOWNHOST_KEY_MASK;

		prev = k;
		if (!k->key || type == LIBSSH2_KNOWNHOST_KEY_RSA1 ||
		    type == LIBSSH2_KNOWNHOST_KEY_UNKNOWN)
			continue;
		if (libssh2_knownhost_checkp(kh, host, port, k->key, strlen(k->key),
					     LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					     LIBSSH2_KNOWNHOST_KEYENC_BASE64 | type,
					     NULL) == LIBSSH2_KNOWNHOST_CHECK_MATCH)
			return k;
	}
	return NULL;
}

/* Fingerprint of a known_hosts entry (its key is stored in base64). */
static void entry_fingerprint(const struct libssh2_knownhost *k,
			      char out[SSH_FP_LEN])
{
	size_t len = k->key ? strlen(k->key) : 0;
	_cleanup_free_ unsigned char *raw = xmalloc(len / 4 * 3 + 4);
	int n = EVP_DecodeBlock(raw, (const unsigned char *)k->key, (int)len);

	if (n < 0 || len % 4) {
		snprintf(out, SSH_FP_LEN, "(unreadable key)");
		return;
	}
	for (size_t i = len; i > 0 && k->key[i - 1] == '='; i--)
		n--;
	ssh_fingerprint(raw, (size_t)n, out);
}

/* Append one known_hosts line for key, creating the file (and its folder,
 * 0700) when missing. */
static int record_key(LIBSSH2_KNOWNHOSTS *kh, const char *path,
		      const char *entry, const struct hostkey *key,
		      const char *label, struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_close_ int fd = -1;
	struct libssh2_knownhost *node = NULL;
	struct buf line = {0};
	char text[16384];
	size_t n = 0;
	struct stat st;
	int rc;

	rc = libssh2_knownhost_addc(kh, entry, NULL, (const char *)key->blob,
				    key->len, "added by shoal", 14,
				    LIBSSH2_KNOWNHOST_TYPE_PLAIN |
				    LIBSSH2_KNOWNHOST_KEYENC_RAW |
				    knownhost_key_type(key->type), &node);
	if (rc == 0)
		rc = libssh2_knownhost_writeline(kh, node, text, sizeof text, &n,
						 LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	if (rc != 0)
		return err_set(e, EIO, "%s: cannot format a known_hosts line (libssh2 %d)",
			       label, rc);
	if (mkdir_p(dir, 0700, e) < 0)
		return err_wrap(e, "%s: record host key", label);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(e, errno, "%s: record host key in %s", label, path);
	if (st.st_size > 0) {
		char last = '\n';

		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
			buf_append(&line, "\n", 1);
	}
	buf_append(&line, text, n);
	if (!n || text[n - 1] != '\n')
		buf_append(&line, "\n", 1);
	if (write(fd, line.data, line.len) != (ssize_t)line.len || fsync(fd) < 0) {
		rc = err_sys(e, errno, "%s: record host key in %s", label, path);
		buf_free(&line);
		return rc;
	}
	buf_free(&line);
	return 0;
}

int knownhosts_verify(LIBSSH2_SESSION *sess, const char *path,
		      const char *host, int port, const struct hostkey *key,
		      bool accept_new, const char *label, bool *added,
		      struct err *e)
{
	LIBSSH2_KNOWNHOSTS *kh;
	struct libssh2_knownhost *found = NULL;
	char fp[SSH_FP_LEN], old[SSH_FP_LEN];
	const char *tname = ssh_hostkey_type_name(key->type);
	_cleanup_free_ char *entry = NULL;
	int rc, check;

	*added = false;
	ssh_fingerprint(key->blob, key->len, fp);
	if (!tname)
		return err_set(e, EPROTO, "%s: host key of unsupported type %d (%s)",
			       label, key->type, fp);
	kh = libssh2_knownhost_init(sess);
	if (!kh)
		return err_from_ssh2(e, sess, -1, "known_hosts");
	if (access(path, F_OK) == 0) {
		rc = libssh2_knownhost_readfile(kh, path,
						LIBSSH2_KNOWNHOST_FILE_OPENSSH);
		if (rc < 0) {
			libssh2_knownhost_free(kh);
			err_from_ssh2(e, sess, rc, "read");
			return err_wrap(e, "%s: known_hosts %s unreadable", label,
					path);
		}
	} else if (errno != ENOENT) {
		libssh2_knownhost_free(kh);
		return err_sys(e, errno, "%s: known_hosts %s", label, path);
	}
	check = libssh2_knownhost_checkp(kh, host, port, (const char *)key->blob,
					 key->len,
					 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					 LIBSSH2_KNOWNHOST_KEYENC_RAW |
					 knownhost_key_type(key->type), &found);
	entry = port == 22 ? xstrdup(host) : xasprintf("[%s]:%d", host, port);
	/* Any key recorded for the host binds it, whatever its type (as in
	 * OpenSSH): a key of another type is a changed key, never a new one. */
	if (check == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND &&
	    (found = recorded_for_host(kh, host, port)))
		check = LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
	switch (check) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rc = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (!accept_new) {
			rc = err_set(e, EPERM,
				     "%s: host key not known: %s key %s is not in %s; "
				     "check it (ssh-keygen -lf on the host) and run "
				     "again with --accept-new-host-keys to record it",
				     label, tname, fp, path);
			break;
		}
		rc = record_key(kh, path, entry, key, label, e);
		if (rc == 0) {
			*added = true;
			log_warn("%s: recorded new %s host key %s in %s", label,
				 tname, fp, path);
		}
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		if (found)
			entry_fingerprint(found, old);
		else
			snprintf(old, sizeof old, "(unknown)");
		rc = err_set(e, EPERM,
			     "%s: HOST KEY CHANGED: %s records %s %s for %s, the host "
			     "presented %s %s; someone may be intercepting the "
			     "connection. Refused (--accept-new-host-keys never "
			     "replaces a key); if the change is expected, remove "
			     "the old line with ssh-keygen -R '%s' -f %s",
			     label, path, found ? entry_type_name(found) : "a key",
			     old, entry, tname, fp, entry, path);
		break;
	default:
		rc = err_set(e, EPROTO,
			     "%s: host key check failed for %s (%s %s): "
			     "libssh2 could not compare it with %s",
			     label, entry, tname, fp, path);
		break;
	}
	libssh2_knownhost_free(kh);
	return rc;
}
