/* fuzz_redis_nodes.c - libFuzzer entry point for what redis_cluster reads
 * from Redis: CLUSTER NODES and CLUSTER INFO text.
 *
 * The input is split at NUL bytes into up to four parts: the CLUSTER NODES
 * answers of planned nodes 0, 1 and 2 (a missing part = that node could not
 * be reached) and one CLUSTER INFO answer they all share.  The view is built
 * for a fixed plan (cache-0 and cache-1 masters, cache-2 a replica of
 * cache-0) and every check is run on it; the whole input also goes through
 * rc_parse_nodes and rc_key_slot.  Any crash, leak or sanitizer report is a
 * bug.  Built by `make fuzz` (libFuzzer) and replayed over
 * tests/fuzz/corpus/fuzz_redis_nodes/ by `make test`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cluster.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rc_node plan[] = {
		{.id = "cache-0", .address = "10.0.0.1", .port = 7000, .master = true, .master_index = -1},
		{.id = "cache-1", .address = "10.0.0.2", .port = 7000, .master = true, .master_index = -1},
		{.id = "cache-2", .address = "10.0.0.3", .port = 7000, .master_index = 0},
	};
	char *text = xstrndup((const char *)data, size), *part[4] = {NULL};
	struct rc_observation obs[3];
	struct rc_entry *entries;
	struct rc_view *v;
	size_t n, off = 0;
	struct err e;

	/* xstrndup stops at the first NUL: cut the parts from the raw bytes. */
	for (int i = 0; i < 4 && off < size; i++) {
		const uint8_t *nul = memchr(data + off, 0, size - off);
		size_t len = nul ? (size_t)(nul - (data + off)) : size - off;

		part[i] = xstrndup((const char *)data + off, len);
		off += len + 1;
	}
	if (rc_parse_nodes(text, &entries, &n, &e) == 0)
		rc_entries_free(entries, n);
	(void)rc_key_slot((const char *)data, size);
	for (int i = 0; i < 3; i++)
		obs[i] = part[i] && part[3]
				 ? (struct rc_observation){.nodes_text = part[i], .info_text = part[3]}
				 : (struct rc_observation){.error = "not reachable"};
	if (rc_view_build(plan, 3, obs, &v, &e) == 0) {
		(void)rc_check_slots(v, &e);
		(void)rc_check_state(v, &e);
		(void)rc_check_roles(v, &e);
		(void)rc_check_anti_affinity(v, &e);
		rc_view_free(v);
	}
	for (int i = 0; i < 4; i++)
		free(part[i]);
	free(text);
	return 0;
}
