/* fuzz_spec.c - libFuzzer entry point for the spec loader.
 *
 * Writes the input to spec.cfg in a private temp folder (so @include of a
 * relative name finds only what the fuzzer wrote before, or nothing) and
 * loads it with spec_load: any crash, leak, hang or sanitizer report is a
 * bug.  Templates come from $SHOAL_DATA when set.  Built by `make fuzz`
 * (libFuzzer) and replayed over tests/fuzz/corpus/fuzz_spec/ by `make test`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "spec.h"
#include "util.h"

static char *spec_path(void)
{
	static char *path;
	static char dir[] = "/tmp/fuzz_spec.XXXXXX";

	if (!path) {
		if (!mkdtemp(dir))
			abort();
		path = path_join(dir, "spec.cfg");
	}
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = spec_path();
	struct spec_problems ps = {0};
	struct spec *s = NULL;
	struct err e;
	FILE *f = fopen(path, "wb");

	db_register_kinds();
	if (!f || fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	if (spec_load(path, &s, &ps, &e) == 0) {
		if (ps.n != 0)
			abort(); /* success never comes with problems */
		spec_free(s);
	} else if (s || ps.n == 0) {
		abort(); /* failure always says why */
	}
	spec_problems_free(&ps);
	return 0;
}
