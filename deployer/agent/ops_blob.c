/* ops_blob.c - blob.has, blob.commit, blob.verify: the agent's content store.
 *
 * Blobs live in <root>/blobs/sha256/<hex>, named by the sha256 of their
 * bytes.  Uploads land in <root>/blobs/tmp/<name> (the pusher writes there
 * over SFTP) and only blob.commit moves them into the store, after hashing
 * them: a blob in the store is always what its name says.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "digest.h"
#include "helper.h"

/* Upload names: a safe path component, short. */
#define TMP_NAME_MAX 128

char *blob_path(const struct agent *a, const char *digest)
{
	_cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));

	return agent_path(a, rel);
}

int op_blob_has(struct session *s, json_int_t id, json_t *req, json_t **result,
		struct err *e)
{
	_cleanup_free_ char *path = NULL;
	const char *digest;
	struct stat st;

	if (req_digest(req, "digest", &digest, e) < 0)
		return -1;
	path = blob_path(s->agent, digest);
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return err_sys(e, errno, "blob %s", digest);
		*result = json_pack("{s:b}", "present", 0);
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return err_set(e, EINVAL, "blob %s: not a regular file", digest);
	*result = json_pack("{s:b,s:I}", "present", 1, "size",
			    (json_int_t)st.st_size);
	return 0;
}

/* Open a regular file without following a final symlink. */
static int open_regular(const char *path, int flags, struct err *e)
{
	struct stat st;
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return err_sys(e, errno, "open %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, EINVAL, "%s: not a regular file", path);
	}
	return fd;
}

static int fsync_dir_of(const char *path, struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return err_sys(e, errno, "fsync %s", dir);
	return 0;
}

/* The upload's path under blobs/tmp, from the request's "tmp". */
static char *upload_path(const struct agent *a, json_t *req, const char **digest,
			 const char **name, struct err *e)
{
	_cleanup_free_ char *rel = NULL;

	if (req_digest(req, "digest", digest, e) < 0 || req_str(req, "tmp", name, e) < 0)
		return NULL;
	if (name_check(*name, TMP_NAME_MAX, "tmp", e) < 0) {
		e->code = EINVAL;
		return NULL;
	}
	rel = xasprintf("blobs/tmp/%s", *name);
	return agent_path(a, rel);
}

/* In a helper (helper.h): hash the upload, and only when it is the digest,
 * fsync it and rename it into the store; a mismatch is deleted. */
static int commit_in_helper(struct agent *a, const char *key, json_t *req,
			    json_t **result, struct err *e)
{
	const char *digest, *name;
	_cleanup_free_ char *tmp = upload_path(a, req, &digest, &name, e);
	_cleanup_free_ char *dst = NULL;
	_cleanup_close_ int fd = -1;
	char got[DIGEST_STR_LEN];
	uint64_t size;

	if (!tmp)
		return -1;
	dst = blob_path(a, digest);
	fd = open_regular(tmp, O_RDONLY, e);
	if (fd < 0 || digest_fd(fd, got, &size, e) < 0)
		return err_wrap(e, "blob.commit %s", digest);
	if (strcmp(got, digest)) {
		unlink(tmp);
		return err_set(e, EBADMSG,
			       "blob.commit %s: upload %s has digest %s; discarded",
			       digest, name, got);
	}
	if (fsync(fd) < 0)
		return err_sys(e, errno, "blob.commit %s: fsync", digest);
	if (rename(tmp, dst) < 0)
		return err_sys(e, errno, "blob.commit %s: rename", digest);
	if (fsync_dir_of(dst, e) < 0)
		return err_wrap(e, "blob.commit %s", digest);
	*result = json_pack("{s:s,s:I}", "digest", digest, "size", (json_int_t)size);
	return 0;
}

/* blob.commit hands the upload to a helper (it may be large), which
 * replaces whatever the store held under that name (a pusher commits only
 * what a host lacks or holds corrupt) and answers.  Asked again once the
 * upload is gone and the blob is in the store (a pusher that lost the first
 * answer), it answers the same at once. */
int op_blob_commit(struct session *s, json_int_t id, json_t *req,
		   json_t **result, struct err *e)
{
	const char *digest, *name;
	_cleanup_free_ char *tmp = upload_path(s->agent, req, &digest, &name, e);
	_cleanup_free_ char *dst = NULL, *key = NULL;
	struct stat st;

	if (!tmp)
		return -1;
	dst = blob_path(s->agent, digest);
	if (lstat(tmp, &st) < 0 && errno == ENOENT && lstat(dst, &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		*result = json_pack("{s:s,s:I}", "digest", digest, "size",
				    (json_int_t)st.st_size);
		return 0;
	}
	key = xasprintf("commit %s", name);
	return helper_run(s, id, req, key, commit_in_helper, e);
}

int blob_verify(const struct agent *a, const char *digest, uint64_t *size,
		struct err *e)
{
	_cleanup_free_ char *path = blob_path(a, digest);
	_cleanup_close_ int fd = open_regular(path, O_RDONLY, e);
	char got[DIGEST_STR_LEN];

	if (fd < 0) {
		if (e->code == ENOENT)
			return err_set(e, ENOENT, "blob %s is not on this host", digest);
		return -1;
	}
	if (digest_fd(fd, got, size, e) < 0)
		return err_wrap(e, "blob %s", digest);
	if (strcmp(got, digest))
		return err_set(e, EBADMSG, "blob %s is corrupt (content hashes to %s)",
			       digest, got);
	return 0;
}

/* In a helper: re-hash the stored blob the request names. */
static int verify_in_helper(struct agent *a, const char *key, json_t *req,
			    json_t **result, struct err *e)
{
	const char *digest;
	uint64_t size = 0;

	if (req_digest(req, "digest", &digest, e) < 0 ||
	    blob_verify(a, digest, &size, e) < 0)
		return -1;
	*result = json_pack("{s:s,s:I}", "digest", digest, "size", (json_int_t)size);
	return 0;
}

int op_blob_verify(struct session *s, json_int_t id, json_t *req,
		   json_t **result, struct err *e)
{
	_cleanup_free_ char *key = NULL;
	const char *digest;

	if (req_digest(req, "digest", &digest, e) < 0)
		return -1;
	key = xasprintf("verify %s", digest);
	return helper_run(s, id, req, key, verify_in_helper, e);
}
