/* fuzz_tcplisten.c - libFuzzer entry point for the /proc/net/tcp{,6} text
 * parser (tcp_listeners_parse, what `shoal plan` runs over a host's text).
 *
 * Any crash, leak or sanitizer report is a bug; every listener it returns
 * must have a port in 1..65535, and there can never be more listeners than
 * lines.  Built by `make fuzz`, replayed over tests/fuzz/corpus/fuzz_tcplisten/
 * by `make test`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcplisten.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);
	struct tcp_listener *s = NULL;
	size_t n = 0, cap = 0, lines = 1;

	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	tcp_listeners_parse(text, &s, &n, &cap);
	if (n > lines)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i].port < 1 || s[i].port > 65535)
			abort();
	free(s);
	free(text);
	return 0;
}
