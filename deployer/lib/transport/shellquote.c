/* shellquote.c - POSIX single-quoting of argv words (see shellquote.h). */
#include "shellquote.h"

#include <string.h>

void shell_quote_word(struct buf *b, const char *word)
{
	const char *p = word, *q;

	buf_append(b, "'", 1);
	while ((q = strchr(p, '\'')) != NULL) {
		buf_append(b, p, (size_t)(q - p));
		buf_append(b, "'\\''", 4);
		p = q + 1;
	}
	buf_puts(b, p);
	buf_append(b, "'", 1);
}

char *shell_quote_argv(const char *const argv[])
{
	struct buf b = {0};

	for (size_t i = 0; argv[i]; i++) {
		if (i)
			buf_append(&b, " ", 1);
		shell_quote_word(&b, argv[i]);
	}
	return buf_steal(&b);
}
