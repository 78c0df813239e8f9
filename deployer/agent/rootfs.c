/* rootfs.c - overlay or copied node roots (see rootfs.h). */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "node.h"
#include "proc.h"
#include "rootfs.h"

#define COPY_TIMEOUT_MS (10 * 60 * 1000)

/* cp -a SRC/. DST (argv, no shell). */
static int copy_tree(const char *src, const char *dst, struct err *e)
{
	_cleanup_free_ char *from = path_join(src, ".");
	struct buf out = {0};
	int st = proc_run((const char *[]){"/bin/cp", "-a", "--", from, dst, NULL},
			  COPY_TIMEOUT_MS, &out, e);

	if (st >= 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		st = err_set(e, EIO, "copy %s to %s: %.200s", src, dst,
			     out.data ? out.data : "cp failed");
	buf_free(&out);
	return st < 0 ? -1 : 0;
}

int rootfs_prepare(struct agent *a, struct node *n, struct err *e)
{
	_cleanup_free_ char *rootfs = path_join(n->dir, "rootfs");
	_cleanup_free_ char *upper = path_join(n->dir, "upper");
	_cleanup_free_ char *done = path_join(n->dir, "rootfs.copied");
	struct stat st;

	if (stat(n->lower, &st) < 0)
		return err_set(e, ENOENT, "image %s is not unpacked on this host",
			       n->spec.image);
	if (a->overlay_ok || access(done, F_OK) == 0)
		return 0;
	log_info("node %s: overlayfs unavailable, copying the image", n->id);
	if (copy_tree(n->lower, rootfs, e) < 0 || copy_tree(upper, rootfs, e) < 0 ||
	    chmod(rootfs, 0755) < 0 ||
	    write_file_atomic(done, "", 0, 0600, e) < 0)
		return err_wrap(e, "node %s root", n->id);
	return 0;
}

int rootfs_mount(struct agent *a, struct node *n, const char *target,
		 struct err *e)
{
	_cleanup_free_ char *upper = path_join(n->dir, "upper");
	_cleanup_free_ char *work = path_join(n->dir, "work");
	_cleanup_free_ char *opts = NULL;

	/* No set-id program and no device node of the image has any effect. */
	if (!a->overlay_ok) {
		if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return err_sys(e, errno, "bind %s", target);
		if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID |
			  MS_NODEV, NULL) < 0)
			return err_sys(e, errno, "remount %s nosuid,nodev", target);
		return 0;
	}
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", n->lower, upper, work);
	if (mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
		return err_sys(e, errno, "mount overlay on %s", target);
	return 0;
}

void rootfs_unmount(const char *target)
{
	if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		log_warn("unmount %s: %s", target, strerror(errno));
}
