/* spec_doc.c - values formatted for messages and docs, and the
 * docs/spec.md generator, both from the key table (spec_int.h). */
#include "spec_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "template.h"
#include "util.h"

/* ==== value formatting (messages and docs) ================================= */

void sp_fmt_size(struct buf *b, uint64_t v)
{
	static const char units[] = "KMGT";

	for (int i = 4; i >= 1; i--) {
		uint64_t u = 1ULL << (10 * i);

		if (v >= u && v % u == 0) {
			buf_printf(b, "%" PRIu64 "%c", v / u, units[i - 1]);
			return;
		}
	}
	buf_printf(b, "%" PRIu64, v);
}

void sp_fmt_value(struct buf *b, enum key_type t, int64_t v)
{
	if (v < 0) {
		buf_printf(b, "%" PRId64, v);
		return;
	}
	switch (t) {
	case KT_SIZE:
		sp_fmt_size(b, (uint64_t)v);
		break;
	case KT_DURATION:
		if (v >= 1000 && v % 1000 == 0)
			buf_printf(b, "%" PRId64 "s", v / 1000);
		else
			buf_printf(b, "%" PRId64 "ms", v);
		break;
	case KT_CPUS:
		if (v % 1000 == 0)
			buf_printf(b, "%" PRId64, v / 1000);
		else
			buf_printf(b, "%" PRId64 "m", v);
		break;
	default:
		buf_printf(b, "%" PRId64, v);
		break;
	}
}


/* ==== docs ================================================================= */

static const char *type_doc(const struct key *k)
{
	switch (k->type) {
	case KT_NAME: return "name";
	case KT_ADDRESS: return "address";
	case KT_LISTEN: return "address:port";
	case KT_PATH: return "path";
	case KT_IMAGE: return "image or recipe path";
	case KT_ENUM: return "string";
	case KT_INT: return "integer";
	case KT_BOOL: return "boolean";
	case KT_SIZE: return "size";
	case KT_DURATION: return "duration";
	case KT_CPUS: return "cpus";
	case KT_MAP: return "group of scalars";
	case KT_GROUP: return "group";
	case KT_LIST: return "list of groups";
	case KT_URLS: return "array of URLs";
	case KT_KEYPREFIX: return "key prefix";
	}
	return "?";
}

/* Markdown cells may not hold '|'. */
static void md_cell(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			buf_puts(b, "\\|");
		else
			buf_append(b, s, 1);
	}
}

char *spec_keys_markdown(void)
{
	struct buf b = {0};

	buf_puts(&b, "| key | type | default | allowed | example | meaning |\n");
	buf_puts(&b, "|---|---|---|---|---|---|\n");
	size_t nkeys;
	const struct key *keys = sp_keys(&nkeys);

	for (size_t i = 0; i < nkeys; i++) {
		const struct key *k = &keys[i];

		buf_puts(&b, "| `");
		if (*k->section)
			buf_printf(&b, "%s.", k->section);
		buf_printf(&b, "%s` | %s | ", k->name, type_doc(k));
		if (k->flags & KEY_REQUIRED)
			buf_puts(&b, "**required**");
		else if (k->def_doc)
			md_cell(&b, k->def_doc);
		else if (k->def)
			buf_printf(&b, "`%s`", k->def);
		else
			buf_puts(&b, "-");
		buf_puts(&b, " | ");
		switch (k->type) {
		case KT_INT:
		case KT_SIZE:
		case KT_DURATION:
		case KT_CPUS:
			sp_fmt_value(&b, k->type, k->min);
			buf_puts(&b, " .. ");
			sp_fmt_value(&b, k->type, k->max);
			break;
		case KT_NAME:
			buf_printf(&b, "1..%" PRId64 " of `[A-Za-z0-9._-]`, no leading `.` or `-`",
				   k->max);
			break;
		case KT_ENUM:
			for (size_t c = 0; k->choices[c]; c++)
				buf_printf(&b, "%s`\"%s\"`", c ? ", " : "", k->choices[c]);
			break;
		case KT_URLS:
			buf_printf(&b, "0..%" PRId64 " `http://` or `https://` URLs", k->max);
			break;
		case KT_KEYPREFIX:
			buf_printf(&b, "`/` then `/`-separated names, at most %" PRId64 " bytes",
				   k->max);
			break;
		case KT_LIST:
		case KT_MAP:
			buf_printf(&b, "%" PRId64 "..%" PRId64 " entries", k->min, k->max);
			break;
		default:
			buf_puts(&b, "-");
			break;
		}
		buf_puts(&b, " | `");
		md_cell(&b, k->example);
		buf_puts(&b, "` | ");
		md_cell(&b, k->help);
		buf_puts(&b, " |\n");
	}
	return buf_steal(&b);
}
