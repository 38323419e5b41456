/* Task spec parsing; see task.h and docs/TASKS.md. */
#include "host/task.h"

#include "common/base64.h"
#include "common/json_util.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct task_ctx {
	char *err;
	size_t errlen;
	size_t file_bytes;
};

__attribute__((format(printf, 2, 3))) static int task_fail(struct task_ctx *cx, const char *fmt,
							   ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cx->err, cx->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A string of 1..max bytes, valid UTF-8, no NUL. */
static bool task_is_str(struct json_object *v, size_t max)
{
	if (!json_object_is_type(v, json_type_string))
		return false;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	return n > 0 && n <= max && !memchr(s, '\0', n) && json_util_utf8_valid(s, n);
}

static bool task_is_path(struct json_object *v)
{
	return task_is_str(v, 4095) && json_object_get_string(v)[0] == '/';
}

static bool task_is_name(struct json_object *v)
{
	if (!task_is_str(v, 63))
		return false;
	const char *s = json_object_get_string(v);
	if (s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

/* An integer in [min, max] (a double with no fraction is accepted). */
static bool task_get_int(struct json_object *v, int64_t min, int64_t max, int64_t *out)
{
	if (json_object_is_type(v, json_type_int)) {
		errno = 0;
		int64_t x = json_object_get_int64(v);
		if (errno || x < min || x > max)
			return false;
		*out = x;
		return true;
	}
	if (json_object_is_type(v, json_type_double)) {
		double x = json_object_get_double(v);
		if (!isfinite(x) || x != floor(x) || x < (double)min || x > (double)max)
			return false;
		*out = (int64_t)x;
		return true;
	}
	return false;
}

static bool task_get_num(struct json_object *v, double min, double max, double *out)
{
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	double x = json_object_get_double(v);
	if (!isfinite(x) || x < min || x > max)
		return false;
	*out = x;
	return true;
}

/* One command: a string (run by "sh -c") or an argv array. New argv array. */
static int task_command(struct task_ctx *cx, const char *where, size_t i, struct json_object *v,
			struct json_object **out)
{
	struct json_object *argv = json_object_new_array();

	if (!argv)
		return -ENOMEM;
	if (json_object_is_type(v, json_type_string)) {
		if (!task_is_str(v, TASK_SPEC_MAX)) {
			json_object_put(argv);
			return task_fail(cx, "%s[%zu] must be a non-empty UTF-8 string", where, i);
		}
		json_object_array_add(argv, json_object_new_string("sh"));
		json_object_array_add(argv, json_object_new_string("-c"));
		json_object_array_add(argv, json_object_get(v));
	} else if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		if (n == 0 || n > 4096) {
			json_object_put(argv);
			return task_fail(cx, "%s[%zu] must hold 1 to 4096 strings", where, i);
		}
		for (size_t j = 0; j < n; j++) {
			struct json_object *e = json_object_array_get_idx(v, j);
			if (!json_object_is_type(e, json_type_string) ||
			    memchr(json_object_get_string(e), '\0',
				   (size_t)json_object_get_string_len(e)) ||
			    !json_util_utf8_valid(json_object_get_string(e),
						  (size_t)json_object_get_string_len(e))) {
				json_object_put(argv);
				return task_fail(cx, "%s[%zu][%zu] must be a UTF-8 string", where,
						 i, j);
			}
			json_object_array_add(argv, json_object_get(e));
		}
	} else {
		json_object_put(argv);
		return task_fail(cx, "%s[%zu] must be a string or an array of strings", where, i);
	}
	*out = argv;
	return 0;
}

/* A list of commands (absent: empty). */
static int task_commands(struct task_ctx *cx, const char *where, struct json_object *v,
			 struct json_object **out)
{
	struct json_object *list = json_object_new_array();

	if (!list)
		return -ENOMEM;
	if (v) {
		if (!json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) > TASK_CMDS_MAX) {
			json_object_put(list);
			return task_fail(cx, "%s must be an array of at most %d commands", where,
					 TASK_CMDS_MAX);
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *argv = NULL;
			int r = task_command(cx, where, i, json_object_array_get_idx(v, i), &argv);
			if (r < 0) {
				json_object_put(list);
				return r;
			}
			json_object_array_add(list, argv);
		}
	}
	*out = list;
	return 0;
}

static int task_file(struct task_ctx *cx, size_t i, struct json_object *v, struct json_object **out)
{
	struct json_object *path = NULL, *content = NULL, *b64 = NULL, *mode = NULL;
	int64_t m = 0644;

	if (!json_object_is_type(v, json_type_object))
		return task_fail(cx, "setup.files[%zu] must be an object", i);
	json_object_object_foreach(v, key, val)
	{
		if (!strcmp(key, "path"))
			path = val;
		else if (!strcmp(key, "content"))
			content = val;
		else if (!strcmp(key, "content_b64"))
			b64 = val;
		else if (!strcmp(key, "mode"))
			mode = val;
		else
			return task_fail(cx, "setup.files[%zu]: unknown member '%.64s'", i, key);
	}
	if (!path || !task_is_path(path))
		return task_fail(cx, "setup.files[%zu].path must be an absolute path", i);
	if (!!content == !!b64)
		return task_fail(cx, "setup.files[%zu] needs exactly one of content, content_b64",
				 i);
	if (mode && !task_get_int(mode, 0, 07777, &m))
		return task_fail(cx, "setup.files[%zu].mode must be 0 to 4095 (07777)", i);

	struct json_object *f = json_object_new_object();
	if (!f)
		return -ENOMEM;
	json_object_object_add(f, "path", json_object_get(path));
	json_object_object_add(f, "mode", json_object_new_int64(m));
	if (content) {
		if (!json_object_is_type(content, json_type_string)) {
			json_object_put(f);
			return task_fail(cx, "setup.files[%zu].content must be a string", i);
		}
		size_t n = (size_t)json_object_get_string_len(content);
		cx->file_bytes += n;
		if (cx->file_bytes > TASK_FILE_BYTES_MAX) {
			json_object_put(f);
			return task_fail(cx, "setup.files hold more than %u bytes",
					 TASK_FILE_BYTES_MAX);
		}
		json_util_add_base64(f, "data", json_object_get_string(content), n);
	} else {
		unsigned char *raw = NULL;
		size_t n = 0;
		if (!json_object_is_type(b64, json_type_string) ||
		    base64_decode(json_object_get_string(b64),
				  (size_t)json_object_get_string_len(b64), &raw, &n) < 0) {
			json_object_put(f);
			return task_fail(
				cx, "setup.files[%zu].content_b64 must be canonical base64", i);
		}
		free(raw);
		cx->file_bytes += n;
		if (cx->file_bytes > TASK_FILE_BYTES_MAX) {
			json_object_put(f);
			return task_fail(cx, "setup.files hold more than %u bytes",
					 TASK_FILE_BYTES_MAX);
		}
		json_object_object_add(f, "data", json_object_get(b64));
	}
	*out = f;
	return 0;
}

static int task_setup(struct task_ctx *cx, struct json_object *v, struct json_object *spec)
{
	struct json_object *files = NULL, *cmds = NULL, *flist, *clist = NULL;
	int r;

	if (v) {
		if (!json_object_is_type(v, json_type_object))
			return task_fail(cx, "setup must be an object");
		json_object_object_foreach(v, key, val)
		{
			if (!strcmp(key, "files"))
				files = val;
			else if (!strcmp(key, "commands"))
				cmds = val;
			else
				return task_fail(cx, "setup: unknown member '%.64s'", key);
		}
	}
	if (files && (!json_object_is_type(files, json_type_array) ||
		      json_object_array_length(files) > TASK_FILES_MAX))
		return task_fail(cx, "setup.files must be an array of at most %d files",
				 TASK_FILES_MAX);
	flist = json_object_new_array();
	if (!flist)
		return -ENOMEM;
	for (size_t i = 0; files && i < json_object_array_length(files); i++) {
		struct json_object *f = NULL;
		r = task_file(cx, i, json_object_array_get_idx(files, i), &f);
		if (r < 0) {
			json_object_put(flist);
			return r;
		}
		json_object_array_add(flist, f);
	}
	r = task_commands(cx, "setup.commands", cmds, &clist);
	if (r < 0) {
		json_object_put(flist);
		return r;
	}
	struct json_object *s = json_object_new_object();
	json_object_object_add(s, "files", flist);
	json_object_object_add(s, "commands", clist);
	json_object_object_add(spec, "setup", s);
	return 0;
}

static int task_limits(struct task_ctx *cx, struct json_object *v, struct json_object *spec)
{
	struct json_object *lim = json_object_new_object();

	if (!json_object_is_type(v, json_type_object)) {
		json_object_put(lim);
		return task_fail(cx, "limits must be an object");
	}
	json_object_object_foreach(v, key, val)
	{
		int64_t x;
		if (strcmp(key, "mem_bytes") && strcmp(key, "cpus") && strcmp(key, "pids") &&
		    strcmp(key, "disk_bytes")) {
			json_object_put(lim);
			return task_fail(cx, "limits: unknown member '%.64s'", key);
		}
		if (!strcmp(key, "cpus")) {
			double c;
			if (!task_get_num(val, 0.001, 4096, &c)) {
				json_object_put(lim);
				return task_fail(cx, "limits.cpus must be 0.001 to 4096");
			}
			json_object_object_add(lim, key, json_object_new_double(c));
			continue;
		}
		if (!task_get_int(val, 1, INT64_C(1) << 50, &x)) {
			json_object_put(lim);
			return task_fail(cx, "limits.%s must be a positive integer", key);
		}
		json_object_object_add(lim, key, json_object_new_int64(x));
	}
	json_object_object_add(spec, "limits", lim);
	return 0;
}

static int task_retry(struct task_ctx *cx, struct json_object *v, struct json_object *spec)
{
	int64_t max = TASK_RETRIES_DEF;

	if (v) {
		if (!json_object_is_type(v, json_type_object))
			return task_fail(cx, "retry must be an object");
		json_object_object_foreach(v, key, val)
		{
			if (!strcmp(key, "max_retries")) {
				if (!task_get_int(val, 0, TASK_RETRIES_MAX, &max))
					return task_fail(cx, "retry.max_retries must be 0 to %d",
							 TASK_RETRIES_MAX);
			} else if (!strcmp(key, "on")) {
				/* Only infrastructure failures are ever retried. */
				bool okv = json_object_is_type(val, json_type_string) &&
					   !strcmp(json_object_get_string(val), "infrastructure");
				if (json_object_is_type(val, json_type_array) &&
				    json_object_array_length(val) == 1) {
					struct json_object *e = json_object_array_get_idx(val, 0);
					okv = json_object_is_type(e, json_type_string) &&
					      !strcmp(json_object_get_string(e), "infrastructure");
				}
				if (!okv)
					return task_fail(cx,
							 "retry.on must be \"infrastructure\" "
							 "(a task's own failure is never retried)");
			} else {
				return task_fail(cx, "retry: unknown member '%.64s'", key);
			}
		}
	}
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "max_retries", json_object_new_int64(max));
	json_object_object_add(r, "on", json_object_new_string("infrastructure"));
	json_object_object_add(spec, "retry", r);
	return 0;
}

static int task_artefacts(struct task_ctx *cx, struct json_object *v, struct json_object *spec)
{
	struct json_object *list = json_object_new_array();

	if (v && (!json_object_is_type(v, json_type_array) ||
		  json_object_array_length(v) > TASK_ARTEFACTS_MAX)) {
		json_object_put(list);
		return task_fail(cx, "artefacts must be an array of at most %d paths",
				 TASK_ARTEFACTS_MAX);
	}
	for (size_t i = 0; v && i < json_object_array_length(v); i++) {
		struct json_object *p = json_object_array_get_idx(v, i);
		if (!task_is_path(p)) {
			json_object_put(list);
			return task_fail(cx, "artefacts[%zu] must be an absolute path", i);
		}
		json_object_array_add(list, json_object_get(p));
	}
	json_object_object_add(spec, "artefacts", list);
	return 0;
}

static int task_parse_obj(struct task_ctx *cx, struct json_object *in, struct json_object *spec)
{
	struct json_object *setup = NULL, *cmds = NULL, *val_cmds = NULL, *art = NULL,
			   *retry = NULL, *list;
	int64_t acap = TASK_ARTEFACT_CAP, ocap = TASK_OUTPUT_CAP;
	double timeout = TASK_TIMEOUT_DEF;
	int r;

	json_object_object_foreach(in, key, v)
	{
		if (!strcmp(key, "name")) {
			if (!task_is_str(v, 256))
				return task_fail(cx, "name must be a string of 1 to 256 bytes");
			json_object_object_add(spec, "name", json_object_get(v));
		} else if (!strcmp(key, "template")) {
			if (!task_is_name(v))
				return task_fail(cx, "template must be a name ([A-Za-z0-9_.-], "
						     "at most 63 bytes)");
		} else if (!strcmp(key, "limits")) {
			if ((r = task_limits(cx, v, spec)) < 0)
				return r;
		} else if (!strcmp(key, "metadata")) {
			if (!json_object_is_type(v, json_type_object) ||
			    strlen(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)) >
				    16384)
				return task_fail(cx,
						 "metadata must be an object of at most 16 KiB");
			json_object_object_add(spec, "metadata", json_object_get(v));
		} else if (!strcmp(key, "setup")) {
			setup = v;
		} else if (!strcmp(key, "commands")) {
			cmds = v;
		} else if (!strcmp(key, "validate")) {
			val_cmds = v;
		} else if (!strcmp(key, "artefacts")) {
			art = v;
		} else if (!strcmp(key, "artefact_cap")) {
			if (!task_get_int(v, 0, TASK_ARTEFACT_MAX, &acap))
				return task_fail(cx, "artefact_cap must be 0 to %u",
						 TASK_ARTEFACT_MAX);
		} else if (!strcmp(key, "output_cap")) {
			if (!task_get_int(v, 0, TASK_OUTPUT_MAX, &ocap))
				return task_fail(cx, "output_cap must be 0 to %u", TASK_OUTPUT_MAX);
		} else if (!strcmp(key, "timeout")) {
			if (!task_get_num(v, 0.001, TASK_TIMEOUT_MAX, &timeout))
				return task_fail(cx, "timeout must be 0.001 to %.0f seconds",
						 TASK_TIMEOUT_MAX);
		} else if (!strcmp(key, "retry")) {
			retry = v;
		} else {
			return task_fail(cx, "unknown member '%.64s'", key);
		}
	}
	struct json_object *tpl = json_object_object_get(in, "template");
	json_object_object_add(spec, "template",
			       tpl ? json_object_get(tpl) : json_object_new_string("default"));
	if (!json_object_object_get_ex(spec, "limits", NULL))
		json_object_object_add(spec, "limits", json_object_new_object());
	if ((r = task_setup(cx, setup, spec)) < 0)
		return r;
	if ((r = task_commands(cx, "commands", cmds, &list)) < 0)
		return r;
	json_object_object_add(spec, "commands", list);
	if ((r = task_commands(cx, "validate", val_cmds, &list)) < 0)
		return r;
	json_object_object_add(spec, "validate", list);
	if (json_object_array_length(json_object_object_get(spec, "commands")) == 0 &&
	    json_object_array_length(list) == 0)
		return task_fail(cx, "a task needs commands or validate (or both)");
	if ((r = task_artefacts(cx, art, spec)) < 0)
		return r;
	json_object_object_add(spec, "artefact_cap", json_object_new_int64(acap));
	json_object_object_add(spec, "output_cap", json_object_new_int64(ocap));
	json_object_object_add(spec, "timeout", json_object_new_double(timeout));
	return task_retry(cx, retry, spec);
}

int task_spec_parse(const char *text, size_t len, struct json_object **out, char *err,
		    size_t errlen)
{
	struct task_ctx cx = { .err = err, .errlen = errlen };
	struct json_tokener *tok;
	struct json_object *in, *spec;
	int r;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (len == 0 || len > TASK_SPEC_MAX)
		return task_fail(&cx, "a task spec must be 1 to %u bytes", TASK_SPEC_MAX);
	if (memchr(text, '\0', len) || !json_util_utf8_valid(text, len))
		return task_fail(&cx, "a task spec must be UTF-8 text");
	tok = json_tokener_new_ex(32);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	in = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!in || je != json_tokener_success) {
		json_object_put(in);
		return task_fail(&cx, "a task spec must be one JSON object: %s",
				 json_tokener_error_desc(je));
	}
	for (; used < len; used++)
		if (!strchr(" \t\r\n", text[used])) {
			json_object_put(in);
			return task_fail(&cx, "text after the task spec's object");
		}
	if (!json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return task_fail(&cx, "a task spec must be a JSON object");
	}
	spec = json_object_new_object();
	if (!spec) {
		json_object_put(in);
		return -ENOMEM;
	}
	r = task_parse_obj(&cx, in, spec);
	json_object_put(in);
	if (r < 0) {
		json_object_put(spec);
		if (r == -ENOMEM)
			task_fail(&cx, "out of memory");
		return r == -ENOMEM ? r : -EINVAL;
	}
	*out = spec;
	return 0;
}

bool task_status_valid(const char *status)
{
	return status && (!strcmp(status, "passed") || !strcmp(status, "failed") ||
			  !strcmp(status, "error") || !strcmp(status, "cancelled"));
}
