/* cmd_unlock.c - `shoal unlock SPEC [--force]`: clear a cluster's lock. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "spec.h"
#include "state.h"
#include "util.h"

static int cmd_unlock_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	struct spec *s = NULL;
	struct lock_holder h;
	bool force = false;
	struct err e = {0};
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f') {
			force = true;
			continue;
		}
		return cli_bad_option("unlock", opts, argv[optind - 1]);
	}
	if (optind != argc - 1)
		return cli_usage_error("unlock", "expected one spec file");
	if ((rc = cli_spec_load(argv[optind], &s)))
		return rc;
	rc = state_force_unlock_at(&s->state, s->name, force, &h, &e);
	if (rc < 0) {
		spec_free(s);
		return cli_fail(&e);
	}
	if (h.pid)
		printf("unlocked cluster '%s' (was held by pid %ld on %s, user %s, since %s, running '%s')\n",
		       s->name, h.pid, h.host, h.user, h.started, h.command);
	else
		printf("cluster '%s' was not locked\n", s->name);
	spec_free(s);
	return 0;
}

static const struct cli_command cmd_unlock = {
	.name = "unlock",
	.summary = "clear a cluster's lock left by a dead shoal process",
	.usage =
		"usage: shoal unlock [--force] SPEC\n"
		"\n"
		"Commands that change a cluster (up, down, scale...) hold its lock,\n"
		"<state dir>/<cluster>/lock (flock plus a record of the holder: pid,\n"
		"host, user, start time, command).  A second one refuses and names\n"
		"the holder.  A holder that died (kill -9, crash) loses its flock at\n"
		"once, and the next command takes the lock over and reports it, so\n"
		"unlock is rarely needed:\n"
		"\n"
		"  - when nobody holds the lock, unlock clears a leftover record;\n"
		"  - when a process still holds it, unlock refuses (naming it);\n"
		"  - --force removes the lock file even then, for a holder that is\n"
		"    wedged or on another machine sharing the state folder.  Use it\n"
		"    only when that process will not write again.\n"
		"\n"
		"The state folder is $SHOAL_STATE_DIR/<cluster>, else\n"
		".shoal/<cluster> in the current directory (docs/state.md).\n"
		"With state.backend = \"etcd\" the lock is the key\n"
		"PREFIX/<cluster>/lock, freed by its lease when its holder dies;\n"
		"--force deletes it and revokes the lease (docs/ha.md).\n"
		"\n"
		"Exit: 0 unlocked or not locked; 1 a live holder (without --force) or\n"
		"an I/O error; 2 bad usage or bad spec.\n",
	.run = cmd_unlock_run,
};
CLI_COMMAND(cmd_unlock)
