/* cmd_image.c - `shoal image`: build, list, inspect, remove, import, export
 * and unpack node images in the local store (see image.h). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "util.h"

static const char usage_text[] =
	"usage: shoal image SUBCOMMAND ...\n"
	"\n"
	"  build RECIPE              build node-images/NAME.cfg into the store as NAME:VERSION\n"
	"  ls                        list the images in the store\n"
	"  inspect NAME[:TAG]        show an image's digests, layers and config (blobs verified)\n"
	"  rm NAME[:TAG]             untag an image and delete blobs nothing else uses\n"
	"  import PATH --name N:T [--ref REF]\n"
	"                            import an OCI layout folder, an OCI archive or a\n"
	"                            docker-archive (docker save); REF picks one image of\n"
	"                            several (ref.name annotation or RepoTag)\n"
	"  export NAME[:TAG] PATH    write the image as an OCI archive (tar of a layout,\n"
	"                            tagged TAG); skopeo/umoci read it\n"
	"  unpack NAME[:TAG] DIR     build the image's rootfs at DIR (must not exist) with the\n"
	"                            safe extractor\n"
	"\n"
	"The store is $SHOAL_HOME (default ~/.local/share/shoal); images live in its\n"
	"OCI layout oci/.  Builds are reproducible: SOURCE_DATE_EPOCH (default 0) sets\n"
	"every timestamp.  --json gives machine output for build, ls, inspect and import.\n"
	"Recipes and safety rules: docs/images.md.\n";

static void cleanup_jsonp(json_t **j)
{
	json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_jsonp)))

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
}

static json_t *info_json(const struct image_info *i)
{
	json_t *layers = json_array();

	for (size_t k = 2; k < i->nblobs; k++)
		json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "digest",
			i->blobs[k].digest, "size", (json_int_t)i->blobs[k].size, "mediaType",
			i->blobs[k].media_type));
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "name", i->name, "tag", i->tag,
			 "manifest", i->manifest_digest, "config", i->config_digest,
			 "size", (json_int_t)image_layers_size(i), "layers", layers);
}

static int report(const struct image_info *i, const char *verb)
{
	uint64_t size = image_layers_size(i);

	if (cli_json()) {
		_cleanup_json_ json_t *j = info_json(i);

		print_json(j);
		return 0;
	}
	printf("%s %s:%s %s\n", verb, i->name, i->tag, i->manifest_digest);
	printf("compressed size: %llu bytes (%.2f MB) in %zu layer(s)\n",
	       (unsigned long long)size, (double)size / 1e6, i->nblobs - 2);
	return 0;
}

static int run_build(const char *store, int argc, char **argv)
{
	struct image_info *i = NULL;
	struct err e;
	int rc;

	if (argc != 2)
		return cli_usage_error("image", "build takes one RECIPE");
	if (image_build(store, argv[1], &i, &e) < 0)
		return cli_fail(&e);
	rc = report(i, "built");
	image_info_free(i);
	return rc;
}

static int run_ls(const char *store, int argc, char **argv)
{
	struct image_entry *v = NULL;
	_cleanup_json_ json_t *arr = json_array();
	size_t n = 0;
	struct err e;

	(void)argv;
	if (argc != 1)
		return cli_usage_error("image", "ls takes no arguments");
	if (image_list(store, &v, &n, &e) < 0)
		return cli_fail(&e);
	if (!cli_json())
		printf("%-24s %-16s %s\n", "NAME", "TAG", "MANIFEST");
	for (size_t k = 0; k < n; k++) {
		if (cli_json())
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", v[k].name,
							     "tag", v[k].tag, "manifest",
							     v[k].digest));
		else
			printf("%-24s %-16s %.19s\n", v[k].name, v[k].tag, v[k].digest);
	}
	if (cli_json())
		print_json(arr);
	image_entries_free(v, n);
	return 0;
}

static int run_inspect(const char *store, int argc, char **argv)
{
	struct image_info *i = NULL;
	_cleanup_json_ json_t *j = NULL, *cfg = NULL;
	json_error_t je;
	struct err e;

	if (argc != 2)
		return cli_usage_error("image", "inspect takes one NAME[:TAG]");
	if (image_resolve(store, argv[1], &i, &e) < 0)
		return cli_fail(&e);
	cfg = json_load_file(i->blobs[1].path, 0, &je);
	if (!cfg) {
		err_from_json(&e, &je, i->blobs[1].path);
		image_info_free(i);
		return cli_fail(&e);
	}
	j = info_json(i);
	json_object_set(j, "image_config", cfg);
	if (cli_json()) {
		print_json(j);
	} else {
		const json_t *c = json_object_get(cfg, "config");
		char *text = json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("name:     %s:%s\nmanifest: %s\nconfig:   %s\n", i->name, i->tag,
		       i->manifest_digest, i->config_digest);
		for (size_t k = 2; k < i->nblobs; k++)
			printf("layer:    %s %llu bytes %s\n", i->blobs[k].digest,
			       (unsigned long long)i->blobs[k].size, i->blobs[k].media_type);
		printf("size:     %llu bytes compressed\n",
		       (unsigned long long)image_layers_size(i));
		printf("run config: %s\n", text ? text : "{}");
		free(text);
	}
	image_info_free(i);
	return 0;
}

static int run_rm(const char *store, int argc, char **argv)
{
	struct err e;

	if (argc < 2)
		return cli_usage_error("image", "rm takes NAME[:TAG]...");
	for (int k = 1; k < argc; k++) {
		if (image_remove(store, argv[k], &e) < 0)
			return cli_fail(&e);
		if (!cli_json())
			printf("removed %s\n", argv[k]);
	}
	return 0;
}

static int run_import(const char *store, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"ref", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *name = NULL, *ref = NULL;
	struct image_info *i = NULL;
	struct err e;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:r:", opts, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'r')
			ref = optarg;
		else
			return cli_usage_error("image", "import PATH --name N:T [--ref REF]");
	}
	if (optind != argc - 1 || !name)
		return cli_usage_error("image", "import needs PATH and --name NAME:TAG");
	if (image_import(store, argv[optind], ref, name, &i, &e) < 0)
		return cli_fail(&e);
	rc = report(i, "imported");
	image_info_free(i);
	return rc;
}

static int run_export(const char *store, int argc, char **argv)
{
	struct err e;

	if (argc != 3)
		return cli_usage_error("image", "export takes NAME[:TAG] PATH");
	if (image_export(store, argv[1], argv[2], &e) < 0)
		return cli_fail(&e);
	if (!cli_json())
		printf("exported %s to %s\n", argv[1], argv[2]);
	return 0;
}

static int run_unpack(const char *store, int argc, char **argv)
{
	struct err e;

	if (argc != 3)
		return cli_usage_error("image", "unpack takes NAME[:TAG] DIR");
	if (image_unpack(store, argv[1], argv[2], &e) < 0)
		return cli_fail(&e);
	if (!cli_json())
		printf("unpacked %s to %s\n", argv[1], argv[2]);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(const char *store, int argc, char **argv);
} subs[] = {
	{"build", run_build},   {"ls", run_ls},         {"inspect", run_inspect},
	{"rm", run_rm},         {"import", run_import}, {"export", run_export},
	{"unpack", run_unpack},
};

static int cmd_image_run(int argc, char **argv)
{
	_cleanup_free_ char *store = image_store_dir();

	if (argc < 2)
		return cli_usage_error("image", "missing subcommand");
	for (size_t k = 0; k < ARRAY_SIZE(subs); k++)
		if (!strcmp(argv[1], subs[k].name))
			return subs[k].run(store, argc - 1, argv + 1);
	return cli_usage_error("image", "unknown subcommand '%s'", argv[1]);
}

static const struct cli_command cmd_image = {
	.name = "image",
	.summary = "build, import, export and inspect node images",
	.usage = usage_text,
	.run = cmd_image_run,
};
CLI_COMMAND(cmd_image)
