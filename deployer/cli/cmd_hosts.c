/* cmd_hosts.c - `shoal hosts SPEC` (reach every host of a spec over its
 * transport, bootstrap the agent there, report what was found) and
 * `shoal push SPEC FILE...` (copy files, content addressed, to every host's
 * blob store).  Both drive push_blobs() (push.h) and share their options. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "log.h"
#include "push.h"
#include "spec.h"

/* Options shared by `hosts`, `push` and `run`; `image` is NULL for the
 * commands without --image and --verify.  Returns 0, or the exit code of a
 * usage error. */
static int parse_opts(const char *cmd, int argc, char **argv,
		      struct push_opts *po, const char **only, const char **image)
{
	static const struct option opts[] = {
		{"accept-new-host-keys", no_argument, NULL, 'a'},
		{"hosts", required_argument, NULL, 'H'},
		{"parallel", required_argument, NULL, 'p'},
		{"verify", no_argument, NULL, 'V'},
		{"timeout", required_argument, NULL, 't'},
		{"image", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	int64_t ms;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			po->transport.accept_new_host_keys = true;
			break;
		case 'H':
			*only = optarg;
			break;
		case 'p':
			po->parallel = atoi(optarg);
			if (po->parallel < 1 || po->parallel > 256)
				return cli_usage_error(cmd, "--parallel takes 1..256");
			break;
		case 't':
			if (parse_duration_ms(optarg, &ms) < 0 || ms < 100 ||
			    ms > 3600 * 1000)
				return cli_usage_error(cmd, "--timeout takes 100ms..1h, not '%s'",
						       optarg);
			po->transport.op_timeout_ms = (int)ms;
			po->transport.connect_timeout_ms = (int)ms;
			break;
		case 'V':
			if (image) {
				po->verify = true;
				break;
			}
			return cli_bad_option(cmd, opts, argv[optind - 1]);
		case 'i':
			if (image) {
				*image = optarg;
				break;
			}
			/* fall through */
		default:
			return cli_bad_option(cmd, opts, argv[optind - 1]);
		}
	}
	return 0;
}

/* Load the spec and pick the hosts; returns 0 or an exit code. */
static int load_hosts(const char *path, const char *only, struct spec **s,
		      const struct spec_host ***hosts, size_t *n)
{
	struct err e = {0};
	int rc = cli_spec_load(path, s);

	if (rc)
		return rc;
	if (push_select_hosts(*s, only, hosts, n, &e) < 0) {
		spec_free(*s);
		*s = NULL;
		return cli_fail(&e);
	}
	return 0;
}

/* Print a JSON document on stdout and free it. */
static void put_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
}

/* The exit code for push_blobs' outcome. */
static int finish(int rc, const struct err *e)
{
	if (rc == 0)
		return 0;
	if (!cli_json())
		return cli_fail(e);
	return e->exit ? e->exit : ERR_EXIT_FAIL;
}

static json_t *host_json(const struct push_host_result *r)
{
	json_t *j = json_pack("{s:s,s:s,s:b,s:I}", "name", r->host->name,
			      "address", r->info.address[0] ? r->info.address :
			      r->host->address, "ok", r->rc == 0, "ms",
			      (json_int_t)r->ms);

	if (r->rc < 0) {
		json_object_set_new(j, "error", json_string(r->err.msg));
		return j;
	}
	json_object_set_new(j, "transport", json_string(transport_kind_name(r->host->transport)));
	if (r->info.hostkey_fp[0])
		json_object_set_new(j, "host_key",
				    json_pack("{s:s,s:s}", "type", r->info.hostkey_type,
					      "fingerprint", r->info.hostkey_fp));
	if (r->info.cipher[0]) {
		json_object_set_new(j, "cipher", json_string(r->info.cipher));
		json_object_set_new(j, "mac", json_string(r->info.mac));
	}
	json_object_set_new(j, "agent", json_string(r->agent_version));
	json_object_set_new(j, "connect_ms", json_integer(r->info.connect_ms));
	json_object_set_new(j, "rtt_ms", json_integer(r->rtt_ms));
	return j;
}

static void print_table(const struct push_host_result *res, size_t n)
{
	printf("%-10s %-22s %-62s %-12s %-18s %s\n", "HOST", "ADDRESS", "HOST KEY",
	       "CIPHER", "AGENT", "RTT");
	for (size_t i = 0; i < n; i++) {
		const struct push_host_result *r = &res[i];
		char key[128];

		if (r->rc < 0) {
			printf("%-10s %-22s FAILED: %s\n", r->host->name,
			       r->info.address[0] ? r->info.address : r->host->address,
			       r->err.msg);
			continue;
		}
		snprintf(key, sizeof key, "%s %s", r->info.hostkey_type,
			 r->info.hostkey_fp);
		printf("%-10s %-22s %-62s %-12s %-18s %lld ms\n", r->host->name,
		       r->info.address, r->info.hostkey_fp[0] ? key : "-",
		       r->info.cipher[0] ? r->info.cipher : "-", r->agent_version,
		       (long long)r->rtt_ms);
	}
}

static int cmd_hosts_run(int argc, char **argv)
{
	struct push_opts po = {0};
	_cleanup_free_ const struct spec_host **hosts = NULL;
	_cleanup_free_ struct push_host_result *res = NULL;
	const char *only = NULL;
	struct spec *s = NULL;
	struct err e = {0};
	size_t n = 0;
	int rc;

	if ((rc = parse_opts("hosts", argc, argv, &po, &only, NULL)) != 0)
		return rc;
	if (optind != argc - 1)
		return cli_usage_error("hosts", "expected one spec file");
	if ((rc = load_hosts(argv[optind], only, &s, &hosts, &n)) != 0)
		return rc;
	res = xcalloc(n ? n : 1, sizeof *res);
	rc = push_blobs(s, hosts, n, NULL, 0, &po, res, &e);
	if (cli_json()) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, host_json(&res[i]));
		put_json(json_pack("{s:b,s:o}", "ok", rc == 0, "hosts", arr));
	} else {
		print_table(res, n);
	}
	spec_free(s);
	return finish(rc, &e);
}

static const struct cli_command cmd_hosts = {
	.name = "hosts",
	.summary = "connect to every host, install the agent, report keys and versions",
	.usage =
		"usage: shoal hosts [--json] [--accept-new-host-keys] [--hosts H1,H2]\n"
		"                   [--parallel N] [--timeout T] SPEC\n"
		"\n"
		"Reach every host of SPEC (or the listed ones) over its transport, in\n"
		"parallel (N at a time, default 16): check its SSH host key against the\n"
		"spec's ssh.known_hosts, authenticate with ssh.identity (ssh-agent when\n"
		"none), install shoal-agent when the host lacks this exact build\n"
		"(/var/lib/shoal/agent/<sha256>/shoal-agent) and check its version.\n"
		"Prints per host: address, host key fingerprint, cipher, agent version\n"
		"and one agent round trip.  -v also logs the negotiated cipher and MAC.\n"
		"\n"
		"Host keys are checked strictly.  An unknown key is refused with its\n"
		"SHA256 fingerprint: compare it with `ssh-keygen -lf` on the host, then\n"
		"run again with --accept-new-host-keys to record it in known_hosts.  A\n"
		"changed key is always refused, with or without that option.\n"
		"\n"
		"--timeout T (\"5s\", \"500ms\"): give up on a host that does not\n"
		"answer the connection within T, or any later step that makes no\n"
		"progress for T (default: ssh.connect_timeout_ms, then 60s).\n"
		"\n"
		"Exit status: 0 every host ok, 1 any host failed, 2 bad usage or spec.\n",
	.run = cmd_hosts_run,
};
CLI_COMMAND(cmd_hosts)

static json_t *result_json(const struct push_host_result *r)
{
	json_t *j = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I}", "name", r->host->name,
			      "ok", r->rc == 0, "sent", (json_int_t)r->sent,
			      "present", (json_int_t)r->skipped, "repaired",
			      (json_int_t)r->repaired, "bytes", (json_int_t)r->bytes,
			      "ms", (json_int_t)r->ms);

	if (r->rc < 0)
		json_object_set_new(j, "error", json_string(r->err.msg));
	else if (r->info.cipher[0])
		json_object_set_new(j, "cipher", json_string(r->info.cipher));
	return j;
}

/* The blobs of image REF in the local store (image_resolve re-hashes them). */
static int image_blobs(const char *ref, struct image_info **out, struct err *e)
{
	_cleanup_free_ char *store = image_store_dir();

	if (image_resolve(store, ref, out, e) < 0)
		return err_wrap(e, "image %s", ref);
	return 0;
}

static int cmd_push_run(int argc, char **argv)
{
	struct push_opts po = {.progress = log_progress_enabled()};
	_cleanup_free_ const struct spec_host **hosts = NULL;
	_cleanup_free_ struct push_host_result *res = NULL;
	_cleanup_free_ struct push_blob *blobs = NULL;
	struct image_info *img = NULL;
	const char *only = NULL, *image = NULL;
	struct spec *s = NULL;
	struct err e = {0};
	size_t n = 0, nblobs, nfiles;
	int rc;

	if ((rc = parse_opts("push", argc, argv, &po, &only, &image)) != 0)
		return rc;
	if (argc - optind < (image ? 1 : 2))
		return cli_usage_error("push", "expected a spec file and a file or --image");
	nfiles = (size_t)(argc - optind - 1);
	if (image && image_blobs(image, &img, &e) < 0)
		return cli_fail(&e);
	nblobs = nfiles + (img ? img->nblobs : 0);
	blobs = xcalloc(nblobs, sizeof *blobs);
	/* Files are hashed by push_blobs while the hosts connect; image blobs
	 * come with digests image_resolve() has just checked. */
	for (size_t k = 0; k < nfiles; k++) {
		blobs[k].path = argv[optind + 1 + (int)k];
		if (access(blobs[k].path, R_OK) != 0) {
			err_sys(&e, errno, "%s", blobs[k].path);
			image_info_free(img);
			return cli_fail(&e);
		}
	}
	for (size_t k = 0; img && k < img->nblobs; k++) {
		struct push_blob *b = &blobs[nfiles + k];

		memcpy(b->digest, img->blobs[k].digest, sizeof b->digest);
		b->path = img->blobs[k].path;
		b->size = img->blobs[k].size;
	}
	if ((rc = load_hosts(argv[optind], only, &s, &hosts, &n)) != 0) {
		image_info_free(img);
		return rc;
	}
	res = xcalloc(n ? n : 1, sizeof *res);
	rc = push_blobs(s, hosts, n, blobs, nblobs, &po, res, &e);
	if (cli_json()) {
		json_t *arr = json_array(), *bl = json_array();

		for (size_t k = 0; k < nblobs; k++)
			json_array_append_new(bl, json_pack("{s:s,s:s,s:I}", "path",
							    blobs[k].path, "digest",
							    blobs[k].digest, "size",
							    (json_int_t)blobs[k].size));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, result_json(&res[i]));
		put_json(json_pack("{s:b,s:o,s:o}", "ok", rc == 0, "blobs", bl,
				   "hosts", arr));
	} else {
		/* The progress lines show each host's outcome, but cut a
		 * failure's cause short: print every cause in full. */
		for (size_t i = 0; i < n; i++) {
			const struct push_host_result *r = &res[i];

			if (r->rc < 0)
				fprintf(stderr, "%s: FAILED: %s\n", r->host->name, r->err.msg);
			else if (!po.progress)
				printf("%s: %zu sent, %zu present, %zu repaired, %.1f MiB in %lld ms\n",
				       r->host->name, r->sent, r->skipped, r->repaired,
				       r->bytes / 1048576.0, (long long)r->ms);
		}
	}
	image_info_free(img);
	spec_free(s);
	return finish(rc, &e);
}

static const struct cli_command cmd_push = {
	.name = "push",
	.summary = "copy files, content addressed, to every host's blob store",
	.usage =
		"usage: shoal push [--json] [--accept-new-host-keys] [--hosts H1,H2]\n"
		"                  [--parallel N] [--verify] [--timeout T] [--image NAME:TAG]\n"
		"                  SPEC [FILE...]\n"
		"\n"
		"Copy each FILE, and with --image every blob of that image in the local\n"
		"image store (manifest, config, layers; see 'shoal image'), to\n"
		"/var/lib/shoal/blobs/sha256/<sha256 of the blob> on every\n"
		"host of SPEC (or the listed ones), N hosts at a time (default 16).\n"
		"A host that already holds a blob (same digest and size) is skipped;\n"
		"with --verify the agent re-hashes what the host holds and a corrupt\n"
		"blob is pushed again.  Otherwise the bytes go over SFTP with many\n"
		"write requests in flight to blobs/tmp/, the agent hashes them on the\n"
		"host, and only a match is renamed into blobs/sha256/: an interrupted\n"
		"push never leaves a blob that looks complete, and running it again\n"
		"finishes the job.  One host failing does not stop the others; each\n"
		"failure is reported with its cause.\n"
		"\n"
		"On a terminal each host has a progress line (not with --json or -q).\n"
		"Host keys are checked as for 'shoal hosts'.\n"
		"\n"
		"Exit status: 0 every host ok, 1 any host failed, 2 bad usage or spec.\n",
	.run = cmd_push_run,
};
CLI_COMMAND(cmd_push)

static int cmd_run_run(int argc, char **argv)
{
	struct push_opts po = {0};
	_cleanup_free_ const struct spec_host **hosts = NULL;
	const char *only = NULL;
	struct spec *s = NULL;
	int rc, status = 0;
	size_t n = 0;

	if ((rc = parse_opts("run", argc, argv, &po, &only, NULL)) != 0)
		return rc;
	if (argc - optind < 2)
		return cli_usage_error("run", "expected a spec file and a command");
	if ((rc = load_hosts(argv[optind], only, &s, &hosts, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct run_io io = {.out_max = SIZE_MAX / 2};
		struct run_output out = {0};
		struct transport *t = NULL;
		struct err e = {0};

		if (transport_open(s, hosts[i], &po.transport, &t, &e) < 0 ||
		    transport_run(t, (const char *const *)argv + optind + 1, &io,
				  &out, &e) < 0) {
			fprintf(stderr, "shoal: %s\n", e.msg);
			status = ERR_EXIT_FAIL;
		} else {
			fwrite(out.out.data ? out.out.data : "", 1, out.out.len, stdout);
			fwrite(out.err.data ? out.err.data : "", 1, out.err.len, stderr);
			if (out.res.exit_signal || out.res.exit_code) {
				log_warn("%s: %s ended with %s %d", t->label,
					 argv[optind + 1], out.res.exit_signal ?
					 "signal" : "exit code", out.res.exit_signal ?
					 out.res.exit_signal : out.res.exit_code);
				status = ERR_EXIT_FAIL;
			}
		}
		fflush(stdout);
		run_output_free(&out);
		transport_close(t);
	}
	spec_free(s);
	return status;
}

static const struct cli_command cmd_run = {
	.name = "run",
	.summary = "run one command (an argv, no shell) on hosts, one after another",
	.usage =
		"usage: shoal run [--accept-new-host-keys] [--hosts H1,H2] [--timeout T]\n"
		"                 SPEC -- PROGRAM [ARG...]\n"
		"\n"
		"Run PROGRAM with exactly these arguments on every host of SPEC (or the\n"
		"listed ones), one host after another, as the spec's SSH user.  Each\n"
		"argument reaches the host byte for byte: over SSH every word is\n"
		"single-quoted for the remote shell, nothing is ever interpreted.  The\n"
		"program's stdout and stderr are copied through (the last 4 KiB of\n"
		"stderr).  Host keys are checked as for 'shoal hosts'.\n"
		"\n"
		"Exit status: 0 when the program exited 0 everywhere, 1 otherwise,\n"
		"2 bad usage or spec.\n",
	.run = cmd_run_run,
};
CLI_COMMAND(cmd_run)
