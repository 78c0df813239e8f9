/* proto.c - field validation for agent requests (see agent.h).  Every handler
 * reads its fields through these, so each field is checked for type, size and
 * shape in one place. */
#include <errno.h>
#include <string.h>

#include "agent.h"
#include "digest.h"

#define NAME_MAX_LEN 63

static json_t *field(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);

	return json_is_null(v) ? NULL : v;
}

int req_str_opt(json_t *req, const char *key, const char **out, struct err *e)
{
	json_t *v = field(req, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, EINVAL, "field '%s': expected a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return err_set(e, EINVAL, "field '%s': contains a NUL byte", key);
	*out = json_string_value(v);
	return 0;
}

int req_str(json_t *req, const char *key, const char **out, struct err *e)
{
	if (req_str_opt(req, key, out, e) < 0)
		return -1;
	if (!*out)
		return err_set(e, EINVAL, "missing field '%s'", key);
	return 0;
}

int req_name(json_t *req, const char *key, const char **out, struct err *e)
{
	if (req_str(req, key, out, e) < 0)
		return -1;
	if (name_check(*out, NAME_MAX_LEN, key, e) < 0) {
		e->code = EINVAL;
		return -1;
	}
	return 0;
}

int req_digest(json_t *req, const char *key, const char **out, struct err *e)
{
	if (req_str(req, key, out, e) < 0)
		return -1;
	if (!digest_valid(*out))
		return err_set(e, EINVAL,
			       "field '%s': not a digest (sha256:<64 hex>)", key);
	return 0;
}

int req_int_opt(json_t *req, const char *key, int64_t min, int64_t max,
		int64_t *out, struct err *e)
{
	json_t *v = field(req, key);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, EINVAL, "field '%s': expected an integer", key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return err_set(e, EINVAL, "field '%s': %lld out of range %lld..%lld",
			       key, (long long)json_integer_value(v),
			       (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

int req_bool_opt(json_t *req, const char *key, bool *out, struct err *e)
{
	json_t *v = field(req, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return err_set(e, EINVAL, "field '%s': expected true or false", key);
	*out = json_is_true(v);
	return 0;
}

int req_strv_opt(json_t *req, const char *key, size_t max, size_t maxlen,
		 const char ***out, struct err *e)
{
	json_t *v = field(req, key), *it;
	const char **arr;
	size_t i;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > max)
		return err_set(e, EINVAL,
			       "field '%s': expected an array of at most %zu strings",
			       key, max);
	arr = xcalloc(json_array_size(v) + 1, sizeof *arr);
	json_array_foreach(v, i, it) {
		const char *s = json_string_value(it);

		if (!s || strlen(s) != json_string_length(it) ||
		    json_string_length(it) > maxlen) {
			free(arr);
			return err_set(e, EINVAL,
				       "field '%s'[%zu]: expected a string of at most "
				       "%zu bytes without NUL", key, i, maxlen);
		}
		arr[i] = s;
	}
	*out = arr;
	return 0;
}

char *agent_path(const struct agent *a, const char *rel)
{
	return path_join(a->root, rel);
}
