/* fuzz_agent_proto.c - the agent's input path without side effects: bytes
 * framed into JSON lines (jsonl), each line parsed, and every object run
 * through the node description validator (node_spec_from_json: node.create
 * and node.json), net.fault's fields (netfault_parse) and the other request
 * field checks.  Nothing may crash,
 * leak or accept a hostile name or path. */
#include <stdint.h>
#include <string.h>

#include "agent.h"
#include "jsonl.h"
#include "netfault.h"
#include "node.h"
#include "util.h"

static void check_accepted(const struct node_spec *s)
{
	/* Whatever got through is a safe path component / absolute path. */
	if (!name_is_safe(s->cluster, 63) || !name_is_safe(s->name, 63) ||
	    s->data_path[0] != '/' || strstr(s->data_path, "/../") ||
	    s->workdir[0] != '/')
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonl_reader r;
	size_t off = 0;

	jsonl_reader_init(&r, 4096);
	/* Chunk sizes come from the input too, so framing sees odd splits. */
	while (off < size) {
		size_t n = 1 + data[off] % 64;

		if (n > size - off)
			n = size - off;
		jsonl_feed(&r, data + off, n);
		off += n;
		for (;;) {
			char *line = NULL;
			struct err e = {0};
			int got = jsonl_next(&r, &line, &e);
			json_t *req;

			if (got == 0)
				break;
			if (got < 0)
				continue;
			req = jsonl_parse(line, &e);
			free(line);
			if (!req)
				continue;
			struct node_spec s;
			const char *str;
			int64_t v = 0;
			_cleanup_free_ const char **argv = NULL;

			if (node_spec_from_json(req, &s, &e) == 0)
				check_accepted(&s);
			node_spec_free(&s);
			req_name(req, "cluster", &str, &e);
			req_digest(req, "digest", &str, &e);
			req_int_opt(req, "tail", 0, 100000, &v, &e);
			req_strv_opt(req, "argv", 256, 4096, &argv, &e);
			{
				/* net.fault: what reaches nft is an address and nothing else */
				struct netfault_spec f;

				if (netfault_parse(req, &f, &e) == 0) {
					for (size_t i = 0; f.cut[i]; i++)
						if (strspn(f.cut[i], "0123456789abcdef.:") != strlen(f.cut[i]))
							__builtin_trap();
					netfault_spec_free(&f);
				}
			}
			json_decref(req);
		}
	}
	jsonl_reader_free(&r);
	return 0;
}
