/* fuzz_state.c - libFuzzer entry point for the two text parsers of the
 * plan/state/template modules: state.json (state_from_json) and the
 * `{{ var }}` renderer (template_render).
 *
 * The first input byte picks the parser; the rest is its input.  For the
 * renderer a fixed variable table is used (including a value that looks like
 * a template, which must come out literally).  Any crash, leak or sanitizer
 * report is a bug; a rendered output must never hold a control character
 * that was not in the input.  Built by `make fuzz`, replayed over
 * tests/fuzz/corpus/fuzz_state/ by `make test`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "template.h"
#include "util.h"

static void fuzz_state(const char *text)
{
	struct state *st = NULL;
	struct err e;

	if (state_from_json(text, "fuzz.json", &st, &e) == 0) {
		/* what parses must serialise and parse back to the same */
		char *a = state_to_json(st), *b;
		struct state *again = NULL;

		if (state_from_json(a, "again.json", &again, &e) < 0)
			abort();
		b = state_to_json(again);
		if (strcmp(a, b))
			abort();
		free(a);
		free(b);
		state_free(again);
	}
	state_free(st);
}

static void fuzz_render(const char *text, size_t len)
{
	struct tmpl_vars v = {0};
	struct err e;
	char *out = NULL;
	size_t outlen = 0;

	tmpl_vars_set(&v, "node.id", "cache-0");
	tmpl_vars_set(&v, "node.port", "7000");
	tmpl_vars_set(&v, "x", "{{ node.id }}");
	if (template_render(text, len, "fuzz.tmpl", &v, &out, &outlen, &e) == 0) {
		size_t ctl_in = 0, ctl_out = 0;

		for (size_t i = 0; i < len; i++)
			ctl_in += (unsigned char)text[i] < 0x20;
		for (size_t i = 0; i < outlen; i++)
			ctl_out += (unsigned char)out[i] < 0x20;
		if (ctl_out > ctl_in)
			abort();
	}
	free(out);
	tmpl_vars_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	text = xstrndup((const char *)data + 1, size - 1);
	if (data[0] & 1)
		fuzz_render(text, strlen(text));
	else
		fuzz_state(text);
	free(text);
	return 0;
}
