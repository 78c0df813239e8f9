/* shellquote.h - the one place a remote command line is built from an argv.
 *
 * SSH "exec" carries a single string that the remote user's login shell
 * parses.  Every word is therefore POSIX single-quoted: the word is wrapped in
 * '...' and each ' inside it becomes '\'' (close, escaped quote, reopen).
 * Inside single quotes a POSIX shell interprets nothing ($, `, \, ;, |,
 * newlines and any byte >= 0x80 are literal), so the remote program receives
 * exactly the bytes of each word.  The empty word becomes ''.
 *
 * Words are C strings: a NUL byte cannot be passed through any argv, local or
 * remote.
 */
#ifndef SHOAL_SHELLQUOTE_H
#define SHOAL_SHELLQUOTE_H

#include "util.h"

/* Append the quoted form of one word to b. */
void shell_quote_word(struct buf *b, const char *word);

/* Quote every word of a NULL-terminated argv and join them with single
 * spaces.  Returns a string the caller frees; argv must hold >= 1 word. */
char *shell_quote_argv(const char *const argv[]);

#endif
