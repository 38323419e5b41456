/* Task specs: defaults, canonical commands, and strict refusal of bad input. */
#include "host/task.h"

#include "tests/unit/tap.h"

#include <json-c/json.h>
#include <string.h>

static int parse(const char *text, struct json_object **spec, char *err)
{
	return task_spec_parse(text, strlen(text), spec, err, 256);
}

static void refused(const char *text, const char *want, const char *what)
{
	struct json_object *spec = NULL;
	char err[256];
	int r = parse(text, &spec, err);
	ok(r == -22 && !spec && strstr(err, want), "%s is refused (%s)", what, err);
}

int main(void)
{
	struct json_object *spec = NULL;
	char err[256];

	int r = parse("{\"commands\":[\"echo hi\"]}", &spec, err);
	ok(r == 0 && spec, "a minimal spec parses");
	if (spec) {
		ok(!strcmp(json_object_get_string(json_object_object_get(spec, "template")),
			   "default"),
		   "template defaults to default");
		struct json_object *argv =
			json_object_array_get_idx(json_object_object_get(spec, "commands"), 0);
		ok(json_object_array_length(argv) == 3 &&
			   !strcmp(json_object_get_string(json_object_array_get_idx(argv, 2)),
				   "echo hi"),
		   "a string command becomes sh -c STRING");
		struct json_object *retry = json_object_object_get(spec, "retry");
		is(json_object_get_int(json_object_object_get(retry, "max_retries")), 2,
		   "two retries by default");
		ok(json_object_get_double(json_object_object_get(spec, "timeout")) == 600.0,
		   "timeout defaults to 600 s");
		json_object_put(spec);
	}
	r = parse("{\"setup\":{\"files\":[{\"path\":\"/a\",\"content\":\"hi\",\"mode\":493}]},"
		  "\"validate\":[[\"test\",\"-x\",\"/a\"]],\"artefacts\":[\"/a\"],"
		  "\"retry\":{\"max_retries\":0,\"on\":[\"infrastructure\"]}}",
		  &spec, err);
	ok(r == 0, "a spec with files, validate and artefacts parses (%s)", err);
	if (spec) {
		struct json_object *f = json_object_array_get_idx(
			json_object_object_get(json_object_object_get(spec, "setup"), "files"), 0);
		ok(!strcmp(json_object_get_string(json_object_object_get(f, "data")), "aGk="),
		   "file content is carried as base64");
		is(json_object_get_int(json_object_object_get(f, "mode")), 493, "mode kept");
		json_object_put(spec);
	}
	refused("", "1 to", "an empty spec");
	refused("[1]", "JSON object", "an array");
	refused("{\"commands\":[\"x\"]} {}", "JSON", "two objects");
	refused("{\"commands\":[\"x\"],\"bogus\":1}", "unknown member 'bogus'",
		"an unknown member");
	refused("{}", "needs commands or validate", "a spec without commands");
	refused("{\"commands\":[1]}", "commands[0]", "a number as command");
	refused("{\"commands\":[[]]}", "1 to 4096", "an empty argv");
	refused("{\"commands\":[\"x\"],\"template\":\"../etc\"}", "template", "a bad template");
	refused("{\"commands\":[\"x\"],\"timeout\":-1}", "timeout", "a negative timeout");
	refused("{\"commands\":[\"x\"],\"retry\":{\"on\":\"failure\"}}", "never retried",
		"retrying a task's own failure");
	refused("{\"commands\":[\"x\"],\"retry\":{\"max_retries\":11}}", "max_retries",
		"too many retries");
	refused("{\"commands\":[\"x\"],\"setup\":{\"files\":[{\"path\":\"rel\",\"content\":\"\"}]}"
		"}",
		"absolute", "a relative path");
	refused("{\"commands\":[\"x\"],\"setup\":{\"files\":[{\"path\":\"/a\"}]}}", "exactly one",
		"a file without content");
	refused("{\"commands\":[\"x\"],\"setup\":{\"files\":[{\"path\":\"/"
		"a\",\"content_b64\":\"a\"}]}}",
		"base64", "bad base64");
	refused("{\"commands\":[\"x\"],\"setup\":{\"files\":[{\"path\":\"/a\",\"content\":\"\","
		"\"mode\":99999}]}}",
		"mode", "a bad mode");
	refused("{\"commands\":[\"x\"],\"limits\":{\"mem\":1}}", "unknown member 'mem'",
		"an unknown limit");
	refused("{\"commands\":[\"x\"],\"artefact_cap\":99999999999}", "artefact_cap",
		"a huge artefact cap");
	refused("{\"commands\":[\"\\u0000\"]}", "commands[0]", "a NUL in a command");
	ok(task_status_valid("passed") && !task_status_valid("running"), "final statuses");
	return done_testing();
}
