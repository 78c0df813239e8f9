/* cmd_init.c - `shoal init [--template redis|riak|cassandra] [--hosts N]
 * [FILE]`: write a first, commented spec that passes `shoal check`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define MAX_INIT_HOSTS 64

/* The ssh block and hosts h1..hN (10.0.0.11 and up), each offering cpus
 * and memory, ending with ");\n". */
static void write_ssh_hosts(struct buf *b, long hosts, int cpus, const char *memory)
{
	buf_puts(b,
		 "# How shoal reaches the hosts: SSH as root with this key; host keys are\n"
		 "# checked against known_hosts ('shoal hosts --accept-new-host-keys'\n"
		 "# records new ones, never changed ones).\n"
		 "ssh = {\n"
		 "  user = \"root\";\n"
		 "  identity = \"~/.ssh/id_ed25519\";\n"
		 "};\n\n"
		 "# Each host: its address, what it offers, and optionally rack/zone for\n"
		 "# spread.  Change the addresses to yours.\n"
		 "hosts = (\n");
	for (long i = 1; i <= hosts; i++)
		buf_printf(b, "  { name = \"h%ld\"; address = \"10.0.0.%ld\"; cpus = %d; memory = \"%s\"; }%s\n",
			   i, 10 + i, cpus, memory, i < hosts ? "," : "");
	buf_puts(b, ");\n");
}

static void write_spec(struct buf *b, const char *name, long hosts)
{
	bool local = hosts == 1;
	int replicas = local ? 0 : 1;

	buf_printf(b,
		   "# %s.cfg - a Redis Cluster written by 'shoal init'.  Every key is in\n"
		   "# docs/spec.md; 'shoal check %s.cfg' checks it, 'shoal plan' shows\n"
		   "# what 'shoal up' would do.\n"
		   "name = \"%s\";\n\n",
		   name, name, name);
	if (local) {
		buf_puts(b,
			 "# One machine: the agent runs as a child process, no SSH.  No replicas:\n"
			 "# shoal never puts a replica on its master's host.\n"
			 "hosts = (\n"
			 "  {\n"
			 "    name = \"local\";\n"
			 "    address = \"127.0.0.1\";\n"
			 "    transport = \"local\";\n"
			 "    cpus = 2;\n"
			 "    memory = \"2G\";\n"
			 "    reserve = { memory = \"512M\"; cpus = 0.5; };  # kept for the host itself\n"
			 "  }\n"
			 ");\n\n");
	} else {
		write_ssh_hosts(b, hosts, 2, "2G");
		buf_puts(b, "\n");
	}
	buf_printf(b,
		   "services = (\n"
		   "  {\n"
		   "    name = \"cache\";\n"
		   "    template = \"redis\";       # templates/redis: config, probes, how it forms\n"
		   "    nodes = %d;                 # 3 masters%s\n"
		   "    replicas = %d;              # per master; never on its master's host\n"
		   "    resources = { memory = \"128M\"; cpus = 0.2; };\n"
		   "    ports = { base = 7100; };   # client ports from here; bus = port + 10000\n"
		   "  }\n"
		   ");\n",
		   local ? 3 : 6, local ? "" : ", each with 1 replica", replicas);
}

/* Riak and Cassandra: one node per host (their inter-node ports are fixed:
 * Riak's HTTP 8098, Cassandra's storage 7000), so at least 3 SSH hosts. */
struct masterless {
	const char *template, *service, *what;
	const char *image;      /* spec line, or NULL: the template's recipe */
	const char *settings;   /* spec line */
	const char *memory, *cpus;
	int port;
};

static const struct masterless masterless[] = {
	{"riak", "kv", "a Riak KV cluster", NULL,
	 "settings = { ring_size = 64; storage_backend = \"leveled\"; };", "2G", "1", 8087},
	{"cassandra", "events", "a Cassandra cluster",
	 "# Cassandra cannot be built here: import an image first, e.g.\n"
	 "    #   shoal image import cassandra.tar --name cassandra:4.1\n"
	 "    image = \"cassandra:4.1\";",
	 "settings = { num_tokens = 16; datacenter = \"dc1\"; };", "4G", "2", 9042},
};

#define MASTERLESS_MIN_HOSTS 3

static void write_masterless(struct buf *b, const struct masterless *m, const char *name,
			     long hosts)
{
	buf_printf(b,
		   "# %s.cfg - %s written by 'shoal init'.  Every key is in\n"
		   "# docs/spec.md; 'shoal check %s.cfg' checks it, 'shoal plan' shows\n"
		   "# what 'shoal up' would do.\n"
		   "name = \"%s\";\n\n",
		   name, m->what, name, name);
	write_ssh_hosts(b, hosts, 4, "8G");
	buf_printf(b,
		   "\n"
		   "services = (\n"
		   "  {\n"
		   "    name = \"%s\";\n"
		   "    template = \"%s\";   # templates/%s: config, probes, how it forms\n",
		   m->service, m->template, m->template);
	if (m->image)
		buf_printf(b, "    %s\n", m->image);
	buf_printf(b,
		   "    nodes = %ld;             # one per host: its inter-node port is fixed\n"
		   "    replicas = 3;          # copies of each piece of data\n"
		   "    resources = { memory = \"%s\"; cpus = %s; };\n"
		   "    placement = { spread = \"host\"; max_per_host = 1; };\n"
		   "    ports = { base = %d; };\n"
		   "    %s\n"
		   "  }\n"
		   ");\n",
		   hosts, m->memory, m->cpus, m->port, m->settings);
}

static int cmd_init_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"template", required_argument, NULL, 't'},
		{"hosts", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	const char *file = "cluster.cfg", *tmpl = "redis";
	_cleanup_free_ char *name = NULL;
	struct buf b = {0};
	long hosts = 3;
	char *end;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't') {
			tmpl = optarg;
		} else if (c == 'H') {
			hosts = strtol(optarg, &end, 10);
			if (*end || hosts < 1 || hosts > MAX_INIT_HOSTS)
				return cli_usage_error("init", "--hosts takes 1..%d, not '%s'",
						       MAX_INIT_HOSTS, optarg);
		} else {
			return cli_bad_option("init", opts, argv[optind - 1]);
		}
	}
	const struct masterless *m = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(masterless); i++)
		if (!strcmp(tmpl, masterless[i].template))
			m = &masterless[i];
	if (strcmp(tmpl, "redis") && !m)
		return cli_usage_error("init", "--template: one of redis, riak, cassandra, not '%s'",
				       tmpl);
	if (m && hosts < MASTERLESS_MIN_HOSTS)
		return cli_usage_error("init", "--template %s needs --hosts %d or more (one node "
				       "per host), not %ld", tmpl, MASTERLESS_MIN_HOSTS, hosts);
	if (argc - optind > 1)
		return cli_usage_error("init", "expected at most one FILE");
	if (optind < argc)
		file = argv[optind];
	{
		_cleanup_free_ char *base = xstrdup(strrchr(file, '/') ? strrchr(file, '/') + 1 : file);
		char *dot = strrchr(base, '.');

		if (dot)
			*dot = '\0';
		/* Cluster names are lower case letters, digits and '-'. */
		for (char *p = base; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
				*p = '-';
		name = xstrdup(*base && *base != '-' ? base : "cluster");
	}
	if (m)
		write_masterless(&b, m, name, hosts);
	else
		write_spec(&b, name, hosts);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		int saved = errno;

		buf_free(&b);
		if (saved == EEXIST)
			return cli_usage_error("init", "%s exists: not overwritten", file);
		fprintf(stderr, "shoal init: %s: %s\n", file, strerror(saved));
		return ERR_EXIT_FAIL;
	}
	if (write(fd, b.data, b.len) != (ssize_t)b.len || close(fd) < 0) {
		fprintf(stderr, "shoal init: write %s: %s\n", file, strerror(errno));
		buf_free(&b);
		return ERR_EXIT_FAIL;
	}
	buf_free(&b);
	/* What init writes must pass check: say so, or say why not. */
	if ((rc = cli_spec_check(file)))
		return rc;
	printf("wrote %s (cluster %s, %ld host%s): ok; next: shoal plan %s\n", file, name, hosts,
	       hosts == 1 ? "" : "s", file);
	return 0;
}

static const struct cli_command cmd_init = {
	.name = "init",
	.summary = "write a first, commented cluster spec",
	.usage =
		"usage: shoal init [--template redis|riak|cassandra] [--hosts N] [FILE]\n"
		"\n"
		"Write FILE (default cluster.cfg; never overwritten) with a commented\n"
		"spec that passes 'shoal check'.  The cluster is named after the file.\n"
		"\n"
		"  redis      (default) one 'local' host (this machine, no SSH, 3\n"
		"             masters) with --hosts 1, else N SSH hosts h1..hN at\n"
		"             10.0.0.11.. (change the addresses), 3 masters, 3 replicas\n"
		"  riak       N >= 3 SSH hosts (default 3), one Riak KV node on each,\n"
		"             3 copies of each key\n"
		"  cassandra  N >= 3 SSH hosts, one Cassandra node on each,\n"
		"             replication factor 3; its image is imported, not built\n"
		"             (shoal image import ARCHIVE --name cassandra:4.1)\n",
	.run = cmd_init_run,
};
CLI_COMMAND(cmd_init)
