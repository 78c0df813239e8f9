/* test_jsonl.c - JSON lines framing (deployer/common/jsonl.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "jsonl.h"

static void test_lines_across_chunks(void **state)
{
	const char *in = "{\"a\":1}\n{\"b\":2}\n{\"c\"";
	struct jsonl_reader r;
	struct err e;
	char *line;

	(void)state;
	jsonl_reader_init(&r, 64);
	/* Byte by byte: framing never depends on read boundaries. */
	for (size_t i = 0; i < strlen(in); i++)
		jsonl_feed(&r, in + i, 1);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	assert_string_equal(line, "{\"a\":1}");
	free(line);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	assert_string_equal(line, "{\"b\":2}");
	free(line);
	assert_int_equal(jsonl_next(&r, &line, &e), 0);
	assert_null(line);
	assert_int_equal(jsonl_pending(&r), 4);
	jsonl_feed(&r, ":3}\n", 4);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	assert_string_equal(line, "{\"c\":3}");
	free(line);
	jsonl_reader_free(&r);
}

static void test_oversized_line_is_dropped_once(void **state)
{
	struct jsonl_reader r;
	char big[300];
	struct err e;
	char *line;

	(void)state;
	memset(big, 'x', sizeof big);
	jsonl_reader_init(&r, 100);
	jsonl_feed(&r, "{}\n", 3);
	/* The long line arrives in pieces; memory stays bounded meanwhile. */
	for (int i = 0; i < 10; i++) {
		jsonl_feed(&r, big, sizeof big);
		assert_true(jsonl_pending(&r) <= 100 + 3);
	}
	jsonl_feed(&r, "\n{\"ok\":1}\n", 10);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	assert_string_equal(line, "{}");
	free(line);
	assert_int_equal(jsonl_next(&r, &line, &e), -1);
	assert_int_equal(e.code, EMSGSIZE);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	assert_string_equal(line, "{\"ok\":1}");
	free(line);
	assert_int_equal(jsonl_next(&r, &line, &e), 0);
	/* A whole oversized line in one chunk, between two good ones. */
	big[200] = '\n';
	jsonl_feed(&r, "{\"a\":1}\n", 8);
	jsonl_feed(&r, big, 201);
	jsonl_feed(&r, "{\"b\":2}\n", 8);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	free(line);
	assert_int_equal(jsonl_next(&r, &line, &e), -1);
	assert_int_equal(jsonl_next(&r, &line, &e), 1);
	assert_string_equal(line, "{\"b\":2}");
	free(line);
	jsonl_reader_free(&r);
}

static void test_parse_and_encode(void **state)
{
	struct buf b = {0};
	struct err e;
	json_t *v;

	(void)state;
	assert_null(jsonl_parse("[1]", &e));
	assert_int_equal(e.code, EINVAL);
	assert_null(jsonl_parse("{\"a\":1,\"a\":2}", &e));
	assert_null(jsonl_parse("{", &e));
	v = jsonl_parse("{\"s\":\"line\\nbreak\"}", &e);
	assert_non_null(v);
	assert_int_equal(jsonl_encode(v, &b, &e), 0);
	/* One line: the embedded newline is escaped, the record ends in one. */
	assert_string_equal(b.data, "{\"s\":\"line\\nbreak\"}\n");
	json_decref(v);
	buf_free(&b);
}

static void test_text_sanitizes_bytes(void **state)
{
	json_t *s;

	(void)state;
	s = jsonl_text("caf\xc3\xa9", 5);
	assert_string_equal(json_string_value(s), "caf\xc3\xa9");
	json_decref(s);
	s = jsonl_text("a\xff\x00z", 4);
	assert_string_equal(json_string_value(s), "a??z");
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_across_chunks),
		cmocka_unit_test(test_oversized_line_is_dropped_once),
		cmocka_unit_test(test_parse_and_encode),
		cmocka_unit_test(test_text_sanitizes_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
