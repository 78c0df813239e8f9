/* netfault.c - drill faults on the host's network with a dead-man timer
 * (see netfault.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "loop.h"
#include "netfault.h"
#include "proc.h"

#define TABLE NETFAULT_FAMILY " " NETFAULT_TABLE

/* ---- the request ------------------------------------------------------------ */

void netfault_spec_free(struct netfault_spec *s)
{
	strv_free(s->cut);
	s->cut = NULL;
}

int netfault_parse(json_t *req, struct netfault_spec *out, struct err *e)
{
	_cleanup_free_ const char **cut = NULL;
	int64_t loss = 0, delay = 0, duration = 0;
	size_t n = 0;

	memset(out, 0, sizeof *out);
	if (req_strv_opt(req, "cut", NETFAULT_MAX_CUT, INET6_ADDRSTRLEN, &cut, e) < 0 ||
	    req_int_opt(req, "loss_pct", 0, 100, &loss, e) < 0 ||
	    req_int_opt(req, "delay_ms", 0, NETFAULT_MAX_DELAY_MS, &delay, e) < 0 ||
	    req_int_opt(req, "duration_ms", 1, NETFAULT_MAX_MS, &duration, e) < 0)
		return -1;
	if (!duration)
		return err_set(e, EINVAL, "missing field 'duration_ms' (the dead-man deadline)");
	while (cut && cut[n])
		n++;
	if (!n && !loss && !delay)
		return err_set(e, EINVAL, "nothing to do: no 'cut', 'loss_pct' or 'delay_ms'");
	out->cut = xcalloc(n + 1, sizeof *out->cut);
	for (size_t i = 0; i < n; i++) {
		unsigned char bin[sizeof(struct in6_addr)];
		char text[INET6_ADDRSTRLEN];
		int af = strchr(cut[i], ':') ? AF_INET6 : AF_INET;

		if (inet_pton(af, cut[i], bin) != 1 || !inet_ntop(af, bin, text, sizeof text)) {
			netfault_spec_free(out);
			return err_set(e, EINVAL, "field 'cut'[%zu]: '%.64s' is not an IP address", i,
				       cut[i]);
		}
		out->cut[i] = xstrdup(text);
	}
	out->loss_pct = (int)loss;
	out->delay_ms = delay;
	out->duration_ms = duration;
	return 0;
}

/* ---- argv ------------------------------------------------------------------- */

struct argv_b {
	char **v;
	size_t n, cap;
};

static void push(struct argv_b *a, char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* One nft command; commands are separated by ";" words (nft joins its
 * arguments into one script, run as one transaction). */
static void cmd(struct argv_b *a, char *s)
{
	if (a->n > 2)
		push(a, xstrdup(";"));
	push(a, s);
}

/* "{ a, b }" of the addresses of cut in family af. */
static char *addr_set(char *const *cut, int af)
{
	struct buf b = {0};
	size_t k = 0;

	for (size_t i = 0; cut && cut[i]; i++)
		if ((strchr(cut[i], ':') ? AF_INET6 : AF_INET) == af)
			buf_printf(&b, "%s%s", k++ ? ", " : "{ ", cut[i]);
	if (!k)
		return NULL;
	buf_printf(&b, " }");
	return buf_steal(&b);
}

char **netfault_nft_argv(const struct netfault_spec *f)
{
	struct argv_b a = {0};
	static const struct {
		int af;
		const char *name;
	} fam[] = {{AF_INET, "ip"}, {AF_INET6, "ip6"}};

	if (!(f->cut && f->cut[0]) && !f->loss_pct)
		return NULL;
	push(&a, xstrdup("nft"));
	push(&a, xstrdup("--"));
	/* add then delete: removes an earlier table, and never fails */
	cmd(&a, xstrdup("add table " TABLE));
	cmd(&a, xstrdup("delete table " TABLE));
	cmd(&a, xstrdup("add table " TABLE));
	cmd(&a, xstrdup("add chain " TABLE
			" input { type filter hook input priority -10 ; policy accept ; }"));
	cmd(&a, xstrdup("add chain " TABLE
			" output { type filter hook output priority -10 ; policy accept ; }"));
	for (size_t i = 0; i < ARRAY_SIZE(fam); i++) {
		_cleanup_free_ char *set = addr_set(f->cut, fam[i].af);

		if (!set)
			continue;
		cmd(&a, xasprintf("add rule " TABLE " input %s saddr %s drop", fam[i].name, set));
		cmd(&a, xasprintf("add rule " TABLE " output %s daddr %s drop", fam[i].name, set));
	}
	if (f->loss_pct >= 100)
		cmd(&a, xstrdup("add rule " TABLE " input iifname != lo drop"));
	else if (f->loss_pct > 0)
		cmd(&a, xasprintf("add rule " TABLE " input iifname != lo numgen random mod 100 < %d drop",
				  f->loss_pct));
	return a.v;
}

char **netfault_nft_clear_argv(void)
{
	const char *const v[] = {"nft", "--", "add table " TABLE, ";", "delete table " TABLE, NULL};

	return strv_dup(v);
}

char **netfault_tc_argv(const char *dev, int64_t delay_ms)
{
	struct argv_b a = {0};
	const char *const words[] = {"tc", "qdisc", delay_ms > 0 ? "replace" : "del", "dev"};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		push(&a, xstrdup(words[i]));
	push(&a, xstrdup(dev));
	push(&a, xstrdup("root"));
	if (delay_ms > 0) {
		push(&a, xstrdup("netem"));
		push(&a, xstrdup("delay"));
		push(&a, xasprintf("%lldms", (long long)delay_ms));
	}
	return a.v;
}

/* ---- running ---------------------------------------------------------------- */

static int real_run(void *arg, const char *const argv[], struct buf *out, struct err *e)
{
	_cleanup_free_ char *path = proc_which(argv[0]);
	const char **v;
	size_t n = 0;
	int st;

	if (!path)
		return err_set(e, ENOENT, "%s: not found on this host", argv[0]);
	while (argv[n])
		n++;
	v = xcalloc(n + 1, sizeof *v);
	memcpy(v, argv, n * sizeof *v);
	v[0] = path;
	st = proc_run(v, NETFAULT_RUN_TIMEOUT_MS, out, e);
	free(v);
	if (st < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return err_set(e, EIO, "%s failed: %.300s", argv[0],
			       out && out->len ? out->data : "(no output)");
	return 0;
}

static int run(struct netfault *nf, char **argv, struct err *e)
{
	struct buf out = {0};
	int rc = nf->run(nf->run_arg, (const char *const *)argv, &out, e);

	buf_free(&out);
	strv_free(argv);
	return rc;
}

/* The interfaces but lo whose names are plain (at most NETFAULT_MAX_DEVS). */
static char **interfaces(void)
{
	struct argv_b a = {0};
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;

	push(&a, NULL);
	a.n = 0;
	while (d && (de = readdir(d)) && a.n < NETFAULT_MAX_DEVS) {
		struct err e;

		if (!strcmp(de->d_name, "lo") || name_check(de->d_name, 15, "interface", &e) < 0)
			continue;
		push(&a, xstrdup(de->d_name));
	}
	if (d)
		closedir(d);
	return a.v;
}

static int marker_write(struct netfault *nf, char *const *devs, struct err *e)
{
	struct buf b = {0};
	int rc;

	buf_printf(&b, "table " TABLE "\n");
	for (size_t i = 0; devs && devs[i]; i++)
		buf_printf(&b, "netem %s\n", devs[i]);
	rc = write_file_atomic(nf->marker, b.data, b.len, 0600, e);
	buf_free(&b);
	return rc;
}

/* ---- the fault ---------------------------------------------------------------- */

static void deadman(void *arg)
{
	struct netfault *nf = arg;
	struct err e = {0};
	bool removed = false;

	nf->timer = 0;
	if (netfault_clear(nf, &removed, &e) < 0)
		log_warn("dead-man timer: %s", e.msg);
	else if (removed)
		log_info("dead-man timer: the drill's network fault (table " TABLE ") removed");
	if (nf->expired)
		nf->expired(nf->expired_arg, e.msg[0] ? e.msg : "removed by the dead-man timer");
}

int netfault_clear(struct netfault *nf, bool *removed, struct err *e)
{
	int rc = 0;
	struct err e2;

	if (removed)
		*removed = nf->active;
	if (nf->timer)
		loop_cancel(nf->loop, nf->timer);
	nf->timer = 0;
	if (!nf->active)
		return 0;
	/* a qdisc that is gone already is what we want: tc's complaint is logged */
	for (size_t i = 0; nf->netem_devs && nf->netem_devs[i]; i++)
		if (run(nf, netfault_tc_argv(nf->netem_devs[i], 0), &e2) < 0)
			log_warn("%s", e2.msg);
	if (run(nf, netfault_nft_clear_argv(), &e2) < 0 && e2.code != ENOENT && rc == 0) {
		*e = e2;
		rc = -1;
	}
	if (rc < 0)
		return err_wrap(e, "remove the network fault");
	strv_free(nf->netem_devs);
	nf->netem_devs = NULL;
	nf->active = false;
	if (unlink(nf->marker) < 0 && errno != ENOENT)
		log_warn("%s: %s", nf->marker, strerror(errno));
	return 0;
}

int netfault_apply(struct netfault *nf, const struct netfault_spec *f, json_t **result,
		   struct err *e)
{
	char **devs = f->delay_ms > 0 ? interfaces() : NULL;
	char **nft = netfault_nft_argv(f);
	struct argv_b netem = {0};
	char *delay_note = NULL;
	size_t ncut = 0;

	if (netfault_clear(nf, NULL, e) < 0)
		goto fail;
	nf->active = true;
	if (marker_write(nf, devs, e) < 0)
		goto fail;
	if (nft && run(nf, nft, e) < 0) {
		nft = NULL;
		goto fail;
	}
	nft = NULL;
	push(&netem, NULL);
	netem.n = 0;
	for (size_t i = 0; devs && devs[i]; i++) {
		struct err te = {0};

		if (run(nf, netfault_tc_argv(devs[i], f->delay_ms), &te) < 0) {
			/* no netem here (or no tc): the loss and cut still hold */
			free(delay_note);
			delay_note = xasprintf("unavailable: %s", te.msg);
			continue;
		}
		push(&netem, xstrdup(devs[i]));
	}
	if (devs && netem.n) {
		free(delay_note);
		delay_note = xasprintf("netem on %zu interface%s", netem.n, netem.n == 1 ? "" : "s");
	}
	nf->netem_devs = netem.v;
	if (marker_write(nf, netem.v, e) < 0)
		goto fail;
	nf->timer = loop_timer(nf->loop, f->duration_ms, deadman, nf);
	while (f->cut && f->cut[ncut])
		ncut++;
	*result = json_pack("{s:s, s:I, s:i, s:I}", "table", TABLE, "cut", (json_int_t)ncut,
			    "loss_pct", f->loss_pct, "expires_in_ms", (json_int_t)f->duration_ms);
	if (delay_note)
		json_object_set_new(*result, "delay", json_string(delay_note));
	else if (f->delay_ms > 0)
		json_object_set_new(*result, "delay", json_string("unavailable: no interface"));
	free(delay_note);
	strv_free(devs);
	return 0;
fail:
	strv_free(nft);
	strv_free(devs);
	free(delay_note);
	if (!nf->netem_devs)
		nf->netem_devs = netem.v;
	{
		struct err ce;

		if (netfault_clear(nf, NULL, &ce) < 0)
			log_warn("%s", ce.msg);
	}
	return -1;
}

/* ---- life ------------------------------------------------------------------------ */

void netfault_init(struct netfault *nf, struct loop *loop, const char *run_dir,
		   netfault_run_fn runner, void *run_arg)
{
	_cleanup_free_ char *text = NULL;
	struct err e;
	size_t len;

	memset(nf, 0, sizeof *nf);
	nf->loop = loop;
	nf->marker = path_join(run_dir, "netfault");
	nf->run = runner ? runner : real_run;
	nf->run_arg = run_arg;
	if (read_file(nf->marker, 64 * 1024, &text, &len, &e) < 0)
		return;
	/* an agent before this one was killed with a fault installed */
	nf->active = true;
	{
		struct argv_b devs = {0};

		push(&devs, NULL);
		devs.n = 0;
		for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			if (!strncmp(l, "netem ", 6) && devs.n < NETFAULT_MAX_DEVS &&
			    name_check(l + 6, 15, "interface", &e) == 0)
				push(&devs, xstrdup(l + 6));
		nf->netem_devs = devs.v;
	}
	if (netfault_clear(nf, NULL, &e) < 0)
		log_warn("a network fault left by an earlier agent: %s", e.msg);
	else
		log_info("removed a network fault an earlier agent left (table " TABLE ")");
}

void netfault_fini(struct netfault *nf)
{
	struct err e;
	bool removed = false;

	if (netfault_clear(nf, &removed, &e) < 0)
		log_warn("%s", e.msg);
	else if (removed)
		log_info("agent exits: the drill's network fault (table " TABLE ") removed");
	strv_free(nf->netem_devs);
	free(nf->marker);
	memset(nf, 0, sizeof *nf);
}
