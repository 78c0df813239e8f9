/* hostports.c - host.ports: which TCP ports something listens on, on this
 * host, and who (one of this agent's nodes, another program, or nobody
 * visible), so that the operator's planner never puts a node on a port it
 * could not bind.  Nodes run in the host's network namespace, so their ports
 * show up too.
 *
 * The kernel lists listening sockets with their inode (netlink sock_diag,
 * filtered to LISTEN in the kernel; /proc/net/tcp{,6} where inet_diag is
 * missing); a process holds a socket when one of its /proc/PID/fd links reads
 * "socket:[INODE]".  A process belongs to one of the agent's nodes when it is
 * in that node's pid namespace (every node has its own).
 */
#include "tcplisten.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "helper.h"
#include "log.h"
#include "node.h"
#include "util.h"

#define NET_TCP_MAX (16u << 20)

/* The listening sockets (sorted by inode) and, once scan_owners() ran, the
 * process holding each (0 when none is visible: another user namespace, or
 * it just ended). */
struct owner_scan {
	struct tcp_listener *socks;
	pid_t *owner; /* [n], parallel to socks */
	size_t n;
};

static int by_inode(const void *a, const void *b)
{
	unsigned long x = ((const struct tcp_listener *)a)->inode;
	unsigned long y = ((const struct tcp_listener *)b)->inode;

	return x < y ? -1 : x > y;
}

/* A port with its owner, for the answer: sorted, then one entry each. */
struct port_owner {
	int port;
	pid_t pid;
};

static int by_port_owner(const void *a, const void *b)
{
	const struct port_owner *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void scan_pid(struct owner_scan *sc, pid_t pid)
{
	char dir[64], target[64];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
	if (!(d = opendir(dir)))
		return; /* gone, or not ours to see */
	while ((de = readdir(d))) {
		unsigned long inode;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) != 1)
			continue;
		struct tcp_listener key = {0, inode}, *hit;

		hit = bsearch(&key, sc->socks, sc->n, sizeof key, by_inode);
		if (hit && !sc->owner[hit - sc->socks])
			sc->owner[hit - sc->socks] = pid;
	}
	closedir(d);
}

static void scan_owners(struct owner_scan *sc)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		scan_pid(sc, (pid_t)pid);
	}
	closedir(d);
}

/* The inode of a process's pid namespace, 0 when unknown. */
static ino_t pidns_of(pid_t pid)
{
	char p[64];
	struct stat st;

	snprintf(p, sizeof p, "/proc/%d/ns/pid", pid);
	return stat(p, &st) == 0 ? st.st_ino : 0;
}

/* The agent's node whose pid namespace holds pid, or NULL. */
static const struct node *node_of_pid(const struct agent *a, pid_t pid)
{
	ino_t ns = pidns_of(pid), self = pidns_of(getpid());

	if (!ns || ns == self)
		return NULL;
	for (size_t i = 0; i < a->n_nodes; i++) {
		const struct node *n = a->nodes[i];

		if (n->pid > 0 && pidns_of(n->pid) == ns)
			return n;
	}
	return NULL;
}

static json_t *owner_json(const struct agent *a, int port, pid_t pid)
{
	const struct node *n;
	char p[64];
	_cleanup_free_ char *comm = NULL;
	size_t len;
	struct err ignore;

	if (!pid)
		return json_pack("{s:i}", "port", port);
	if ((n = node_of_pid(a, pid)))
		return json_pack("{s:i,s:s,s:s}", "port", port, "cluster", n->spec.cluster,
				 "node", n->spec.name);
	snprintf(p, sizeof p, "/proc/%d/comm", pid);
	if (read_file(p, 256, &comm, &len, &ignore) == 0)
		comm[strcspn(comm, "\n")] = '\0';
	return json_pack("{s:i,s:i,s:s}", "port", port, "pid", (int)pid, "comm",
			 comm ? comm : "");
}

/* In a helper (helper.h): walking every process's fds takes a while on a
 * busy host, and the loop must not wait for it. */
static int ports_in_helper(struct agent *a, const char *key, json_t *req,
			   json_t **result, struct err *e)
{
	static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	struct owner_scan sc = {0};
	size_t cap = 0;
	struct port_owner *po;
	json_t *ports = json_array();
	struct err kerr = {0};

	if (tcp_listeners_kernel(&sc.socks, &sc.n, &cap, &kerr) == 0)
		goto listed;
	log_warn("host.ports: %s; reading /proc/net/tcp instead", kerr.msg);
	sc.n = 0;
	for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
		_cleanup_free_ char *text = NULL;
		size_t len;

		if (read_file(files[f], NET_TCP_MAX, &text, &len, e) < 0) {
			if (e->code == ENOENT) /* no IPv6 on this host */
				continue;
			free(sc.socks);
			json_decref(ports);
			return err_wrap(e, "host.ports");
		}
		tcp_listeners_parse(text, &sc.socks, &sc.n, &cap);
	}
listed:
	memset(e, 0, sizeof *e);
	if (sc.n)
		qsort(sc.socks, sc.n, sizeof *sc.socks, by_inode);
	sc.owner = xcalloc(sc.n + 1, sizeof *sc.owner);
	if (sc.n)
		scan_owners(&sc);
	/* one entry per port and owner (IPv4 and IPv6 sockets of one program
	 * are one entry), by port */
	po = xcalloc(sc.n + 1, sizeof *po);
	for (size_t i = 0; i < sc.n; i++)
		po[i] = (struct port_owner){sc.socks[i].port, sc.owner[i]};
	if (sc.n)
		qsort(po, sc.n, sizeof *po, by_port_owner);
	for (size_t i = 0; i < sc.n; i++)
		if (!i || by_port_owner(&po[i - 1], &po[i]))
			json_array_append_new(ports, owner_json(a, po[i].port, po[i].pid));
	free(po);
	free(sc.socks);
	free(sc.owner);
	*result = json_pack("{s:o}", "ports", ports);
	return 0;
}

int op_host_ports(struct session *s, json_int_t id, json_t *req,
		  json_t **result, struct err *e)
{
	return helper_run(s, id, req, "host.ports", ports_in_helper, e);
}
