/* The JSON Schema subset that checks MCP tool arguments: each keyword, the
 * messages (with the path of the bad member), and schemas it refuses. */
#include "tests/unit/tap.h"

#include "host/mcp/mcp_schema.h"

#include <json-c/json.h>
#include <string.h>

static const char *schema_text =
	"{\"type\":\"object\",\"properties\":{"
	"\"s\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":3},"
	"\"i\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
	"\"n\":{\"type\":\"number\",\"minimum\":0.5},"
	"\"b\":{\"type\":\"boolean\"},"
	"\"e\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},"
	"\"u\":{\"type\":[\"integer\",\"string\"]},"
	"\"a\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,\"maxItems\":2},"
	"\"o\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
	"\"maxProperties\":2},"
	"\"free\":{\"description\":\"anything\"}"
	"},\"required\":[\"s\"],\"additionalProperties\":false}";

static struct json_object *schema;
static char err[512];

static int check(const char *value)
{
	struct json_object *v = json_tokener_parse(value);
	int r;

	if (!v && strcmp(value, "null") != 0) {
		printf("# bad test JSON %s\n", value);
		return -999;
	}
	r = mcp_schema_validate(schema, v, "arguments", err, sizeof(err));
	json_object_put(v);
	return r;
}

static void bad(const char *value, const char *msg)
{
	int r = check(value);
	ok(r < 0 && strcmp(err, msg) == 0, "%s -> \"%s\"", value, msg);
	if (r == 0 || strcmp(err, msg) != 0)
		printf("#   got %d \"%s\"\n", r, err);
}

static void good(const char *value)
{
	int r = check(value);
	ok(r == 0, "%s is valid", value);
	if (r)
		printf("#   %s\n", err);
}

static int schema_ok(const char *text)
{
	struct json_object *s = json_tokener_parse(text);
	int r = mcp_schema_check(s, err, sizeof(err));
	json_object_put(s);
	return r;
}

int main(void)
{
	schema = json_tokener_parse(schema_text);
	ok(schema && mcp_schema_check(schema, err, sizeof(err)) == 0, "the test schema is known");

	good("{\"s\":\"x\"}");
	good("{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}"); /* 3 code points, 6 bytes */
	good("{\"s\":\"x\",\"i\":10,\"n\":0.5,\"b\":false,\"e\":\"b\",\"u\":\"q\",\"a\":[\"1\"],"
	     "\"o\":{\"k\":\"v\"},\"free\":[1,{}]}");
	good("{\"s\":\"x\",\"i\":5.0}");
	good("{\"s\":\"x\",\"u\":3}");

	bad("[]", "arguments: must be an object, not an array");
	bad("null", "arguments: must be an object, not null");
	bad("{}", "arguments: 's' is required");
	bad("{\"s\":\"\"}", "arguments.s: must not be empty");
	bad("{\"s\":\"abcd\"}", "arguments.s: must be at most 3 characters long");
	bad("{\"s\":1}", "arguments.s: must be a string, not an integer");
	bad("{\"s\":\"x\",\"i\":0}", "arguments.i: must be at least 1");
	bad("{\"s\":\"x\",\"i\":11}", "arguments.i: must be at most 10");
	bad("{\"s\":\"x\",\"i\":1.5}", "arguments.i: must be an integer, not a number");
	bad("{\"s\":\"x\",\"i\":\"3\"}", "arguments.i: must be an integer, not a string");
	bad("{\"s\":\"x\",\"i\":1e300}", "arguments.i: must be an integer, not a number");
	bad("{\"s\":\"x\",\"n\":0.25}", "arguments.n: must be at least 0.5");
	bad("{\"s\":\"x\",\"b\":1}", "arguments.b: must be a boolean, not an integer");
	bad("{\"s\":\"x\",\"e\":\"c\"}", "arguments.e: must be one of \"a\", \"b\"");
	bad("{\"s\":\"x\",\"u\":true}", "arguments.u: must be integer or string, not a boolean");
	bad("{\"s\":\"x\",\"a\":[]}", "arguments.a: must have at least 1 item");
	bad("{\"s\":\"x\",\"a\":[\"1\",\"2\",\"3\"]}", "arguments.a: must have at most 2 items");
	bad("{\"s\":\"x\",\"a\":[\"1\",2]}", "arguments.a[1]: must be a string, not an integer");
	bad("{\"s\":\"x\",\"o\":{\"k\":1}}", "arguments.o.k: must be a string, not an integer");
	bad("{\"s\":\"x\",\"o\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}",
	    "arguments.o: must have at most 2 members");
	bad("{\"s\":\"x\",\"zz\":1}", "arguments: unknown member 'zz'");
	bad("{\"s\":\"x\",\"a\\nb\":1}", "arguments: unknown member 'a?b'");

	/* A hostile key of 1000 bytes is cut in the message. */
	{
		char v[1200];
		memset(v, 0, sizeof(v));
		strcpy(v, "{\"s\":\"x\",\"");
		memset(v + strlen(v), 'k', 1000);
		strcat(v, "\":1}");
		ok(check(v) < 0 && strlen(err) < 120 && strstr(err, "kkk...'"),
		   "a long unknown member is cut in the message");
	}
	/* Deep nesting of the value is bounded by the schema, not by the value. */
	{
		struct json_object *s = json_tokener_parse(
			"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\","
			"\"additionalProperties\":{\"type\":\"object\"}}}");
		struct json_object *v = json_tokener_parse("{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}");
		ok(mcp_schema_validate(s, v, "x", err, sizeof(err)) == 0,
		   "members below the schema's depth are not walked");
		json_object_put(s);
		json_object_put(v);
	}

	ok(schema_ok("{\"type\":\"object\"}") == 0, "a bare object schema is fine");
	ok(schema_ok("{\"type\":\"string\"}") < 0, "the root must be an object schema");
	ok(schema_ok("{\"type\":\"object\",\"properties\":{\"a\":{\"pattern\":\"x\"}}}") < 0 &&
		   strstr(err, "unknown keyword 'pattern'"),
	   "unknown keywords are refused: %s", err);
	ok(schema_ok("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"strin\"}}}") < 0 &&
		   strstr(err, "unknown type 'strin'"),
	   "unknown types are refused");
	ok(schema_ok("{\"type\":\"object\",\"required\":[\"a\"]}") < 0,
	   "required must name defined properties");
	ok(schema_ok("{\"type\":\"object\",\"properties\":{\"a\":{\"minLength\":-1}}}") == 0,
	   "keyword values are checked when used");
	{
		struct json_object *s = json_tokener_parse(
			"{\"type\":\"object\",\"properties\":{\"a\":{\"minLength\":-1}}}");
		struct json_object *v = json_tokener_parse("{\"a\":\"x\"}");
		ok(mcp_schema_validate(s, v, "x", err, sizeof(err)) < 0 &&
			   strncmp(err, "schema at x.a", 13) == 0,
		   "a bad keyword value is a schema error: %s", err);
		json_object_put(s);
		json_object_put(v);
	}
	json_object_put(schema);
	return done_testing();
}
