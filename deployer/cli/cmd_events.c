/* cmd_events.c - `shoal events SPEC [-f] [--since D]`: the cluster's events
 * log (<state dir>/<cluster>/events.jsonl: what `up`, `down` and `monitor`
 * saw and did), one line per event. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "spec.h"
#include "state.h"
#include "util.h"

#define FOLLOW_POLL_US 200000

/* Seconds since the epoch of an event: its "time" (RFC 3339 UTC), or -1. */
static time_t event_time(json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "time"));
	struct tm tm = {0};

	if (!t || !strptime(t, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -1;
	return timegm(&tm);
}

static void print_event(const char *line, time_t since, bool json)
{
	json_error_t jerr;
	json_t *ev = json_loads(line, 0, &jerr);
	const char *node, *host, *seen, *done;
	json_t *dur;

	if (!ev) {
		fprintf(stderr, "shoal events: skipping a line that is not JSON: %s\n", jerr.text);
		return;
	}
	if (since >= 0 && event_time(ev) < since)
		goto out;
	if (json) {
		printf("%s\n", line);
		goto out;
	}
	node = json_string_value(json_object_get(ev, "node"));
	host = json_string_value(json_object_get(ev, "host"));
	seen = json_string_value(json_object_get(ev, "seen"));
	done = json_string_value(json_object_get(ev, "done"));
	dur = json_object_get(ev, "duration_ms");
	printf("%s %-18s", json_string_value(json_object_get(ev, "time")) ?: "?",
	       json_string_value(json_object_get(ev, "event")) ?: "?");
	if (node)
		printf(" %s", node);
	if (host)
		printf(" %s%s", node ? "on " : "", host);
	if (seen || done)
		printf(": %s%s%s", seen ? seen : "", seen && done ? "; " : "", done ? done : "");
	if (json_is_integer(dur))
		printf(" (%lld ms)", (long long)json_integer_value(dur));
	if (!seen && !done) { /* events of up/down: their own fields */
		const char *k;
		json_t *v;

		json_object_foreach(ev, k, v) {
			char *s;

			if (!strcmp(k, "time") || !strcmp(k, "event") || !strcmp(k, "node") ||
			    !strcmp(k, "host"))
				continue;
			s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf(" %s=%s", k, s ? s : "?");
			free(s);
		}
	}
	putchar('\n');
out:
	json_decref(ev);
}

/* The events of a store other than the file one (etcd): read them all, print
 * those not printed yet; with follow, again every FOLLOW_POLL_US. */
static int events_from_store(const struct spec *s, time_t since, bool follow, struct err *e)
{
	size_t done = 0;

	for (;;) {
		struct buf b = {0};

		if (state_events_read(&s->state, s->name, &b, e) < 0)
			return -1;
		if (b.len < done) /* removed by `down` and begun again */
			done = 0;
		for (char *p = b.data ? b.data + done : NULL, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
			*nl = '\0';
			print_event(p, since, cli_json());
		}
		done = b.len;
		buf_free(&b);
		if (!follow)
			return 0;
		fflush(stdout);
		usleep(FOLLOW_POLL_US);
	}
}

static int cmd_events_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"since", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	struct spec *s = NULL;
	struct err e = {0};
	bool follow = false;
	time_t since = -1;
	int64_t ms;
	int c;
	_cleanup_free_ char *dir = NULL, *path = NULL;
	FILE *f;
	char *line = NULL;
	size_t cap = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 's':
			if (parse_duration_ms(optarg, &ms) < 0 || ms < 0)
				return cli_usage_error("events", "--since '%s': expected a duration (90s, 10m, 2h)",
						       optarg);
			since = time(NULL) - (time_t)(ms / 1000);
			break;
		default:
			return cli_bad_option("events", opts, argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("events", "expected exactly one SPEC file");
	if ((c = cli_spec_load(argv[optind], &s)))
		return c;
	if (s->state.backend != STATE_FILE) {
		int rc = events_from_store(s, since, follow, &e);

		spec_free(s);
		return rc < 0 ? cli_fail(&e) : 0;
	}
	if (state_dir(s->name, &dir, &e) < 0) {
		spec_free(s);
		return cli_fail(&e);
	}
	spec_free(s);
	path = path_join(dir, "events.jsonl");
	while (!(f = fopen(path, "re"))) {
		if (errno != ENOENT || !follow) {
			if (errno == ENOENT)
				return 0; /* no event yet */
			err_sys(&e, errno, "open %s", path);
			return cli_fail(&e);
		}
		usleep(FOLLOW_POLL_US);
	}
	for (;;) {
		ssize_t n = getline(&line, &cap, f);

		if (n > 0 && line[n - 1] == '\n') {
			line[n - 1] = '\0';
			print_event(line, since, cli_json());
			continue;
		}
		if (n > 0) { /* a line being written: read it whole later */
			fseeko(f, -(off_t)n, SEEK_CUR);
		}
		if (!follow)
			break;
		fflush(stdout);
		clearerr(f);
		usleep(FOLLOW_POLL_US);
	}
	free(line);
	fclose(f);
	return 0;
}

static const struct cli_command cmd_events = {
	.name = "events",
	.summary = "print the cluster's events log (what up, down and monitor saw and did)",
	.usage =
		"usage: shoal events [-f|--follow] [--since DURATION] SPEC\n"
		"\n"
		"Prints <state dir>/<cluster>/events.jsonl, one event a line: time,\n"
		"event, node and host, what was seen, what was done, how long it\n"
		"took (docs/monitor.md lists the monitor's events).  With --json the\n"
		"lines are printed as stored.\n"
		"\n"
		"  -f, --follow        keep printing events as they are appended\n"
		"  --since DURATION    only events of the last DURATION (90s, 10m, 2h)\n",
	.run = cmd_events_run,
};
CLI_COMMAND(cmd_events)
