#include "host/mcp/mcp_schema.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MCP_SCHEMA_PATH_MAX  256
#define MCP_SCHEMA_DEPTH_MAX 16

struct mcp_schema_ctx {
	char *err;
	size_t err_len;
	char path[MCP_SCHEMA_PATH_MAX];
};

static __attribute__((format(printf, 2, 3))) int mcp_schema_fail(struct mcp_schema_ctx *c,
								 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || !c->err_len)
		return -EINVAL;
	n = snprintf(c->err, c->err_len, "%s: ", c->path);
	if (n < 0 || (size_t)n >= c->err_len)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static __attribute__((format(printf, 2, 3))) int mcp_schema_bad(struct mcp_schema_ctx *c,
								const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || !c->err_len)
		return -EINVAL;
	n = snprintf(c->err, c->err_len, "schema at %s: ", c->path);
	if (n < 0 || (size_t)n >= c->err_len)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Append ".key" or "[i]" to the path; returns the old length to restore. */
static size_t mcp_schema_push_key(struct mcp_schema_ctx *c, const char *key)
{
	size_t old = strlen(c->path), room = sizeof(c->path) - old;
	char shown[68];
	size_t klen = strlen(key);

	if (klen > 64) {
		memcpy(shown, key, 61);
		memcpy(shown + 61, "...", 4);
	} else {
		memcpy(shown, key, klen + 1);
	}
	/* Control characters in a hostile key would make a confusing message. */
	for (char *p = shown; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	snprintf(c->path + old, room, ".%s", shown);
	return old;
}

static size_t mcp_schema_push_index(struct mcp_schema_ctx *c, size_t i)
{
	size_t old = strlen(c->path);

	snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
	return old;
}

static const char *mcp_schema_type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "a value";
}

static int mcp_schema_is_integer(struct json_object *v)
{
	if (json_object_is_type(v, json_type_int))
		return 1;
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
	}
	return 0;
}

/* Does v have the JSON Schema type called name? -1 for an unknown name. */
static int mcp_schema_type_is(struct json_object *v, const char *name)
{
	if (strcmp(name, "object") == 0)
		return json_object_is_type(v, json_type_object);
	if (strcmp(name, "array") == 0)
		return json_object_is_type(v, json_type_array);
	if (strcmp(name, "string") == 0)
		return json_object_is_type(v, json_type_string);
	if (strcmp(name, "boolean") == 0)
		return json_object_is_type(v, json_type_boolean);
	if (strcmp(name, "null") == 0)
		return v == NULL || json_object_is_type(v, json_type_null);
	if (strcmp(name, "integer") == 0)
		return mcp_schema_is_integer(v);
	if (strcmp(name, "number") == 0)
		return json_object_is_type(v, json_type_int) ||
		       (json_object_is_type(v, json_type_double) &&
			isfinite(json_object_get_double(v)));
	return -1;
}

static const char *mcp_schema_article(const char *name)
{
	return (name[0] == 'a' || name[0] == 'i' || name[0] == 'o') ? "an" : "a";
}

static int mcp_schema_check_type(struct mcp_schema_ctx *c, struct json_object *t,
				 struct json_object *v)
{
	char want[128];
	size_t used = 0;

	if (json_object_is_type(t, json_type_string)) {
		const char *name = json_object_get_string(t);
		int r = mcp_schema_type_is(v, name);
		if (r < 0)
			return mcp_schema_bad(c, "unknown type '%s'", name);
		if (!r)
			return mcp_schema_fail(c, "must be %s %s, not %s", mcp_schema_article(name),
					       name, mcp_schema_type_name(v));
		return 0;
	}
	if (!json_object_is_type(t, json_type_array) || json_object_array_length(t) == 0)
		return mcp_schema_bad(c, "'type' must be a name or a list of names");
	want[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(t); i++) {
		struct json_object *e = json_object_array_get_idx(t, i);
		const char *name = json_object_get_string(e);
		int r;
		if (!json_object_is_type(e, json_type_string))
			return mcp_schema_bad(c, "'type' lists a non-string");
		r = mcp_schema_type_is(v, name);
		if (r < 0)
			return mcp_schema_bad(c, "unknown type '%s'", name);
		if (r)
			return 0;
		int n = snprintf(want + used, sizeof(want) - used, "%s%s", i ? " or " : "", name);
		if (n > 0 && (size_t)n < sizeof(want) - used)
			used += (size_t)n;
	}
	return mcp_schema_fail(c, "must be %s, not %s", want, mcp_schema_type_name(v));
}

static size_t mcp_schema_codepoints(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			k++;
	return k;
}

/* A non-negative integer keyword of the schema, or -1 when absent. */
static int mcp_schema_count_kw(struct mcp_schema_ctx *c, struct json_object *schema, const char *kw,
			       int64_t *out)
{
	struct json_object *v;

	*out = -1;
	if (!json_object_object_get_ex(schema, kw, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return mcp_schema_bad(c, "'%s' must be a non-negative integer", kw);
	*out = json_object_get_int64(v);
	return 0;
}

static int mcp_schema_validate_at(struct mcp_schema_ctx *c, struct json_object *schema,
				  struct json_object *v, int depth);

static int mcp_schema_validate_object(struct mcp_schema_ctx *c, struct json_object *schema,
				      struct json_object *v, int depth)
{
	struct json_object *props = NULL, *req, *addl = NULL;
	int64_t minp, maxp;
	int r;

	if (json_object_object_get_ex(schema, "properties", &props) &&
	    !json_object_is_type(props, json_type_object))
		return mcp_schema_bad(c, "'properties' must be an object");
	if (json_object_object_get_ex(schema, "required", &req)) {
		if (!json_object_is_type(req, json_type_array))
			return mcp_schema_bad(c, "'required' must be an array");
		for (size_t i = 0; i < json_object_array_length(req); i++) {
			struct json_object *k = json_object_array_get_idx(req, i);
			if (!json_object_is_type(k, json_type_string))
				return mcp_schema_bad(c, "'required' lists a non-string");
			if (!json_object_object_get_ex(v, json_object_get_string(k), NULL))
				return mcp_schema_fail(c, "'%s' is required",
						       json_object_get_string(k));
		}
	}
	if ((r = mcp_schema_count_kw(c, schema, "minProperties", &minp)) < 0 ||
	    (r = mcp_schema_count_kw(c, schema, "maxProperties", &maxp)) < 0)
		return r;
	if (minp >= 0 && json_object_object_length(v) < minp)
		return mcp_schema_fail(c, "must have at least %lld members", (long long)minp);
	if (maxp >= 0 && json_object_object_length(v) > maxp)
		return mcp_schema_fail(c, "must have at most %lld members", (long long)maxp);
	json_object_object_get_ex(schema, "additionalProperties", &addl);
	if (addl && !json_object_is_type(addl, json_type_boolean) &&
	    !json_object_is_type(addl, json_type_object))
		return mcp_schema_bad(c, "'additionalProperties' must be a boolean or a schema");
	json_object_object_foreach(v, key, val)
	{
		struct json_object *ps = NULL;
		size_t old;

		if (props && json_object_object_get_ex(props, key, &ps)) {
			old = mcp_schema_push_key(c, key);
			r = mcp_schema_validate_at(c, ps, val, depth + 1);
			c->path[old] = '\0';
			if (r < 0)
				return r;
			continue;
		}
		if (!addl ||
		    (json_object_is_type(addl, json_type_boolean) && json_object_get_boolean(addl)))
			continue;
		if (json_object_is_type(addl, json_type_boolean)) {
			char shown[68];
			size_t klen = strlen(key);
			snprintf(shown, sizeof(shown), "%.*s%s", klen > 64 ? 61 : (int)klen, key,
				 klen > 64 ? "..." : "");
			for (char *p = shown; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
			return mcp_schema_fail(c, "unknown member '%s'", shown);
		}
		old = mcp_schema_push_key(c, key);
		r = mcp_schema_validate_at(c, addl, val, depth + 1);
		c->path[old] = '\0';
		if (r < 0)
			return r;
	}
	return 0;
}

static int mcp_schema_validate_array(struct mcp_schema_ctx *c, struct json_object *schema,
				     struct json_object *v, int depth)
{
	struct json_object *items = NULL;
	size_t n = json_object_array_length(v);
	int64_t mini, maxi;
	int r;

	if ((r = mcp_schema_count_kw(c, schema, "minItems", &mini)) < 0 ||
	    (r = mcp_schema_count_kw(c, schema, "maxItems", &maxi)) < 0)
		return r;
	if (mini >= 0 && (int64_t)n < mini)
		return mcp_schema_fail(c, "must have at least %lld item%s", (long long)mini,
				       mini == 1 ? "" : "s");
	if (maxi >= 0 && (int64_t)n > maxi)
		return mcp_schema_fail(c, "must have at most %lld items", (long long)maxi);
	if (!json_object_object_get_ex(schema, "items", &items))
		return 0;
	if (!json_object_is_type(items, json_type_object))
		return mcp_schema_bad(c, "'items' must be a schema");
	for (size_t i = 0; i < n; i++) {
		size_t old = mcp_schema_push_index(c, i);
		r = mcp_schema_validate_at(c, items, json_object_array_get_idx(v, i), depth + 1);
		c->path[old] = '\0';
		if (r < 0)
			return r;
	}
	return 0;
}

static int mcp_schema_validate_string(struct mcp_schema_ctx *c, struct json_object *schema,
				      struct json_object *v)
{
	size_t cps = mcp_schema_codepoints(json_object_get_string(v),
					   (size_t)json_object_get_string_len(v));
	int64_t minl, maxl;
	int r;

	if ((r = mcp_schema_count_kw(c, schema, "minLength", &minl)) < 0 ||
	    (r = mcp_schema_count_kw(c, schema, "maxLength", &maxl)) < 0)
		return r;
	if (minl >= 0 && (int64_t)cps < minl)
		return minl == 1 ? mcp_schema_fail(c, "must not be empty")
				 : mcp_schema_fail(c, "must be at least %lld characters long",
						   (long long)minl);
	if (maxl >= 0 && (int64_t)cps > maxl)
		return mcp_schema_fail(c, "must be at most %lld characters long", (long long)maxl);
	return 0;
}

static int mcp_schema_validate_number(struct mcp_schema_ctx *c, struct json_object *schema,
				      struct json_object *v)
{
	struct json_object *b;
	double d = json_object_is_type(v, json_type_int) ? (double)json_object_get_int64(v)
							 : json_object_get_double(v);

	if (json_object_object_get_ex(schema, "minimum", &b)) {
		if (!json_object_is_type(b, json_type_int) &&
		    !json_object_is_type(b, json_type_double))
			return mcp_schema_bad(c, "'minimum' must be a number");
		if (d < json_object_get_double(b))
			return mcp_schema_fail(c, "must be at least %s", json_object_get_string(b));
	}
	if (json_object_object_get_ex(schema, "maximum", &b)) {
		if (!json_object_is_type(b, json_type_int) &&
		    !json_object_is_type(b, json_type_double))
			return mcp_schema_bad(c, "'maximum' must be a number");
		if (d > json_object_get_double(b))
			return mcp_schema_fail(c, "must be at most %s", json_object_get_string(b));
	}
	return 0;
}

static int mcp_schema_validate_enum(struct mcp_schema_ctx *c, struct json_object *e,
				    struct json_object *v)
{
	char list[160];
	size_t used = 0;

	if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) == 0)
		return mcp_schema_bad(c, "'enum' must be a non-empty array");
	list[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(e); i++) {
		struct json_object *x = json_object_array_get_idx(e, i);
		if (json_object_equal(x, v))
			return 0;
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
				 json_object_to_json_string_ext(x, JSON_C_TO_STRING_PLAIN));
		if (n > 0 && (size_t)n < sizeof(list) - used)
			used += (size_t)n;
	}
	return mcp_schema_fail(c, "must be one of %s", list);
}

static int mcp_schema_validate_at(struct mcp_schema_ctx *c, struct json_object *schema,
				  struct json_object *v, int depth)
{
	struct json_object *t, *e;
	int r;

	if (depth > MCP_SCHEMA_DEPTH_MAX)
		return mcp_schema_fail(c, "nested too deeply");
	if (!json_object_is_type(schema, json_type_object))
		return mcp_schema_bad(c, "a schema must be an object");
	if (json_object_object_get_ex(schema, "type", &t) &&
	    (r = mcp_schema_check_type(c, t, v)) < 0)
		return r;
	if (json_object_object_get_ex(schema, "enum", &e) &&
	    (r = mcp_schema_validate_enum(c, e, v)) < 0)
		return r;
	switch (json_object_get_type(v)) {
	case json_type_object:
		return mcp_schema_validate_object(c, schema, v, depth);
	case json_type_array:
		return mcp_schema_validate_array(c, schema, v, depth);
	case json_type_string:
		return mcp_schema_validate_string(c, schema, v);
	case json_type_int:
	case json_type_double:
		return mcp_schema_validate_number(c, schema, v);
	default:
		return 0;
	}
}

int mcp_schema_validate(struct json_object *schema, struct json_object *value, const char *what,
			char *err, size_t err_len)
{
	struct mcp_schema_ctx c = { .err = err, .err_len = err_len };

	if (err && err_len)
		err[0] = '\0';
	snprintf(c.path, sizeof(c.path), "%s", what ? what : "value");
	return mcp_schema_validate_at(&c, schema, value, 0);
}

static const char *const mcp_schema_keywords[] = {
	"type",	       "properties",	"required",	 "additionalProperties",
	"enum",	       "minimum",	"maximum",	 "minLength",
	"maxLength",   "items",		"minItems",	 "maxItems",
	"description", "title",		"default",	 "examples",
	"$schema",     "minProperties", "maxProperties",
};

static int mcp_schema_check_at(struct mcp_schema_ctx *c, struct json_object *schema, int depth)
{
	struct json_object *v;
	int r;

	if (depth > MCP_SCHEMA_DEPTH_MAX)
		return mcp_schema_bad(c, "nested too deeply");
	if (!json_object_is_type(schema, json_type_object))
		return mcp_schema_bad(c, "a schema must be an object");
	json_object_object_foreach(schema, key, val)
	{
		size_t i;
		(void)val;
		for (i = 0; i < sizeof(mcp_schema_keywords) / sizeof(mcp_schema_keywords[0]); i++)
			if (strcmp(key, mcp_schema_keywords[i]) == 0)
				break;
		if (i == sizeof(mcp_schema_keywords) / sizeof(mcp_schema_keywords[0]))
			return mcp_schema_bad(c, "unknown keyword '%s'", key);
	}
	if (json_object_object_get_ex(schema, "type", &v)) {
		/* Checking a null against the type list validates the names. */
		r = mcp_schema_check_type(c, v, NULL);
		if (r < 0 && strncmp(c->err, "schema", 6) == 0)
			return r;
	}
	if (json_object_object_get_ex(schema, "properties", &v)) {
		if (!json_object_is_type(v, json_type_object))
			return mcp_schema_bad(c, "'properties' must be an object");
		json_object_object_foreach(v, pkey, sub)
		{
			size_t old = mcp_schema_push_key(c, pkey);
			r = mcp_schema_check_at(c, sub, depth + 1);
			c->path[old] = '\0';
			if (r < 0)
				return r;
		}
	}
	if (json_object_object_get_ex(schema, "items", &v) &&
	    (r = mcp_schema_check_at(c, v, depth + 1)) < 0)
		return r;
	if (json_object_object_get_ex(schema, "additionalProperties", &v) &&
	    json_object_is_type(v, json_type_object) &&
	    (r = mcp_schema_check_at(c, v, depth + 1)) < 0)
		return r;
	if (json_object_object_get_ex(schema, "required", &v)) {
		struct json_object *props = NULL;
		if (!json_object_is_type(v, json_type_array))
			return mcp_schema_bad(c, "'required' must be an array");
		json_object_object_get_ex(schema, "properties", &props);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *k = json_object_array_get_idx(v, i);
			if (!json_object_is_type(k, json_type_string) || !props ||
			    !json_object_object_get_ex(props, json_object_get_string(k), NULL))
				return mcp_schema_bad(c, "'required' names an undefined property");
		}
	}
	return 0;
}

int mcp_schema_check(struct json_object *schema, char *err, size_t err_len)
{
	struct mcp_schema_ctx c = { .err = err, .err_len = err_len };
	struct json_object *t;
	char dummy[8];

	if (!err || !err_len) {
		c.err = dummy;
		c.err_len = sizeof(dummy);
	}
	c.err[0] = '\0';
	snprintf(c.path, sizeof(c.path), "inputSchema");
	if (!json_object_is_type(schema, json_type_object) ||
	    !json_object_object_get_ex(schema, "type", &t) ||
	    !json_object_is_type(t, json_type_string) ||
	    strcmp(json_object_get_string(t), "object") != 0)
		return mcp_schema_bad(&c, "the root must be {\"type\": \"object\", ...}");
	return mcp_schema_check_at(&c, schema, 0);
}
