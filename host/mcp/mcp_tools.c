/* The sandbox tools (sandbox_create, _exec, _reset, _destroy; the file
 * tools are in mcp_files.c) and the tool table. */
#include "host/mcp/mcp_tools.h"

#include "common/json_util.h"
#include "host/cli/cli.h"
#include "host/mcp/mcp_policy.h"
#include "host/mcp/mcp_schema.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past a command's own timeout, how long the agent gets to report it. */
#define MCP_EXEC_GRACE_MS 10000

#define MCP_SCHEMA_SANDBOX                                                                   \
	"\"sandbox\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":31,\"description\":" \
	"\"Id of the sandbox to use (from sandbox_create). Default: the session's default "  \
	"sandbox, created on first use.\"}"

/* --- sandbox_create ----------------------------------------------------------- */

static int mcp_image_name_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return 0;
	return 1;
}

static int mcp_tool_sandbox_create(struct mcp_call *c)
{
	const struct mcp_policy *p = c->s->cfg.policy;
	const char *image = mcp_arg_str(c, "image"), *iso = mcp_arg_str(c, "isolation");
	struct backend_limits lim = { .mem_bytes = p->mem_bytes, .cpu_millis = p->cpu_millis };
	struct json_object *v;
	struct mcp_sb *sb;
	int64_t secs = 0;
	char err[768];
	int r;

	/* Only named images: a path would let the caller boot host directories. */
	if (image && !mcp_image_name_ok(image))
		return mcp_call_invalid(c, "image must be an image name such as \"minimal\" "
					   "(a-z, 0-9, - and _), not a path");
	if (json_object_object_get_ex(c->args, "mem", &v)) {
		uint64_t b = 0;
		if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
			b = (uint64_t)json_object_get_int64(v);
		else if (json_object_is_type(v, json_type_string))
			cli_parse_size(json_object_get_string(v), &b);
		if (b < (16u << 20))
			return mcp_call_invalid(c, "mem must be a size such as \"512M\" or \"2G\" "
						   "(at least 16M)");
		if (p->mem_bytes && b > p->mem_bytes)
			return mcp_call_fail(c,
					     "mem %llu MiB is above the policy's limit of %llu MiB",
					     (unsigned long long)(b >> 20),
					     (unsigned long long)(p->mem_bytes >> 20)),
			       0;
		lim.mem_bytes = b;
	}
	if (json_object_object_get_ex(c->args, "cpus", &v)) {
		uint32_t m = (uint32_t)llround(json_object_get_double(v) * 1000);
		if (m < 1)
			m = 1;
		if (p->cpu_millis && m > p->cpu_millis)
			return mcp_call_fail(c, "cpus %.3g is above the policy's limit of %.3g",
					     m / 1000.0, p->cpu_millis / 1000.0),
			       0;
		lim.cpu_millis = m;
	}
	mcp_arg_int(c, "timeout", &secs);
	r = mcp_sb_new(c->s, NULL, image ? image : c->s->cfg.image, iso ? iso : c->s->cfg.isolation,
		       &lim, secs * 1000, &sb, err, sizeof(err));
	if (r < 0)
		return mcp_call_fail(c, "could not create a sandbox: %s", err), 0;
	snprintf(c->sandbox, sizeof(c->sandbox), "%s", sb->id);
	c->structured = json_object_new_object();
	if (c->structured)
		json_object_object_add(c->structured, "sandbox", json_object_new_string(sb->id));
	if (secs)
		return mcp_call_printf(c,
				       "sandbox %s is ready (image %s); it will be destroyed "
				       "after %lld s. Pass \"sandbox\": \"%s\" to the other tools.",
				       sb->id, sb->image, (long long)secs, sb->id);
	return mcp_call_printf(c,
			       "sandbox %s is ready (image %s). Pass \"sandbox\": \"%s\" to the "
			       "other tools.",
			       sb->id, sb->image, sb->id);
}

/* --- sandbox_exec ----------------------------------------------------------- */

struct mcp_exec_buf {
	char *data;
	size_t len, cap, cut; /* cut: bytes beyond cap that were not kept */
};

struct mcp_exec_acc {
	struct mcp_exec_buf out, err;
	int bad_events;
};

static void mcp_exec_keep(struct mcp_exec_buf *b, const unsigned char *p, size_t n)
{
	size_t room = b->cap - b->len, take = n < room ? n : room;

	if (take) {
		memcpy(b->data + b->len, p, take);
		b->len += take;
	}
	b->cut += n - take;
}

static void mcp_exec_event(void *arg, struct json_object *msg)
{
	struct mcp_exec_acc *a = arg;
	struct json_object *ev;
	unsigned char *data;
	size_t len;
	const char *name;

	if (!json_object_object_get_ex(msg, "event", &ev) || !(name = json_object_get_string(ev)))
		return;
	if (strcmp(name, "stdout") != 0 && strcmp(name, "stderr") != 0)
		return;
	if (json_util_get_base64(msg, "data", &data, &len) < 0) {
		a->bad_events++;
		return;
	}
	mcp_exec_keep(name[3] == 'o' ? &a->out : &a->err, data, len);
	free(data);
}

/* The request for the agent, from the validated arguments. */
static int mcp_exec_request(struct mcp_call *c, uint64_t timeout_ms, struct json_object **out)
{
	struct json_object *req = json_object_new_object(), *argv, *v, *env;
	const char *cmd = mcp_arg_str(c, "command"), *in = mcp_arg_str(c, "stdin");
	const char *cwd = mcp_arg_str(c, "cwd");
	int has_argv = json_object_object_get_ex(c->args, "argv", &v);

	*out = NULL;
	if (!req)
		return -ENOMEM;
	if (!!cmd == has_argv) {
		json_object_put(req);
		return mcp_call_invalid(c, "give exactly one of 'command' (a shell command) and "
					   "'argv' (a program and its arguments)");
	}
	if (cwd && cwd[0] != '/') {
		json_object_put(req);
		return mcp_call_invalid(c, "cwd must be an absolute path");
	}
	json_object_object_add(req, "op", json_object_new_string("exec"));
	if (cmd) {
		argv = json_object_new_array();
		json_object_array_add(argv, json_object_new_string("sh"));
		json_object_array_add(argv, json_object_new_string("-c"));
		json_object_array_add(argv, json_object_new_string(cmd));
	} else {
		argv = json_object_get(v);
	}
	json_object_object_add(req, "argv", argv);
	if (json_object_object_get_ex(c->args, "env", &env)) {
		json_object_object_foreach(env, key, val)
		{
			(void)val;
			if (!key[0] || strchr(key, '=')) {
				json_object_put(req);
				return mcp_call_invalid(c, "env names must be non-empty and "
							   "without '='");
			}
		}
		json_object_object_add(req, "env", json_object_get(env));
	}
	if (cwd)
		json_object_object_add(req, "cwd", json_object_new_string(cwd));
	if (in && json_util_add_base64(req, "stdin", in, strlen(in)) < 0) {
		json_object_put(req);
		return -ENOMEM;
	}
	json_object_object_add(req, "timeout_ms", json_object_new_int64((int64_t)timeout_ms));
	/* Enough for what is shown of both streams; the agent drops the rest. */
	json_object_object_add(req, "output_cap",
			       json_object_new_int64((int64_t)c->s->cfg.policy->output_cap * 2));
	*out = req;
	return 0;
}

static void mcp_exec_section(struct mcp_exec_buf *b, const char *name, char **text, size_t *tlen,
			     size_t *tcap)
{
	char head[160];
	int n;

	if (!b->len && !b->cut)
		n = snprintf(head, sizeof(head), "--- %s: (empty) ---\n", name);
	else
		n = snprintf(head, sizeof(head), "--- %s ---\n", name);
	if (*tlen + (size_t)n + b->len + 200 > *tcap)
		return;
	memcpy(*text + *tlen, head, (size_t)n);
	*tlen += (size_t)n;
	memcpy(*text + *tlen, b->data, b->len);
	*tlen += b->len;
	if (b->len && b->data[b->len - 1] != '\n')
		(*text)[(*tlen)++] = '\n';
	if (b->cut)
		*tlen += (size_t)snprintf(*text + *tlen, *tcap - *tlen,
					  "[%s truncated: %zu more bytes not shown]\n", name,
					  b->cut);
}

static int mcp_tool_sandbox_exec(struct mcp_call *c)
{
	const struct mcp_policy *p = c->s->cfg.policy;
	struct mcp_exec_acc acc = { 0 };
	struct json_object *req = NULL, *res = NULL, *v, *st;
	uint64_t timeout_ms = p->exec_timeout_ms;
	int64_t want, exit_code = -1, dropped = 0, duration = 0;
	const char *sig = NULL;
	char head[256], *text = NULL;
	size_t tlen = 0, tcap;
	int timed_out = 0, capped = 0, r;
	struct mcp_sb *sb;

	if (mcp_arg_int(c, "timeout_ms", &want)) {
		if ((uint64_t)want > p->exec_timeout_ms)
			capped = 1;
		else
			timeout_ms = (uint64_t)want;
	}
	r = mcp_exec_request(c, timeout_ms, &req);
	if (r < 0)
		return r;
	r = mcp_sb_for_call(c, &sb);
	if (r < 0) {
		r = 0;
		goto out;
	}
	acc.out.cap = acc.err.cap = p->output_cap;
	acc.out.data = malloc(acc.out.cap + 1);
	acc.err.data = malloc(acc.err.cap + 1);
	if (!acc.out.data || !acc.err.data) {
		r = -ENOMEM;
		goto out;
	}
	r = mcp_sb_call(c, sb, req, (int)(timeout_ms + MCP_EXEC_GRACE_MS), mcp_exec_event, &acc,
			&res, NULL, 0);
	if (r < 0) {
		/* The agent's error reply says why the command did not start. */
		r = 0;
		goto out;
	}
	if (json_object_object_get_ex(res, "exit_code", &v) &&
	    json_object_is_type(v, json_type_int))
		exit_code = json_object_get_int64(v);
	if (json_object_object_get_ex(res, "signal", &v) &&
	    json_object_is_type(v, json_type_string))
		sig = json_object_get_string(v);
	if (json_object_object_get_ex(res, "timed_out", &v))
		timed_out = json_object_get_boolean(v);
	if (json_object_object_get_ex(res, "dropped_bytes", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		dropped = json_object_get_int64(v);
	if (json_object_object_get_ex(res, "duration_ms", &v) &&
	    json_object_is_type(v, json_type_int))
		duration = json_object_get_int64(v);

	if (timed_out)
		snprintf(head, sizeof(head), "timed out after %llu ms and was killed%s\n",
			 (unsigned long long)timeout_ms,
			 capped ? " (the policy caps timeout_ms)" : "");
	else if (exit_code >= 0)
		snprintf(head, sizeof(head), "exit code: %lld (%lld ms)\n", (long long)exit_code,
			 (long long)duration);
	else
		snprintf(head, sizeof(head), "killed by signal %.16s (%lld ms)\n", sig ? sig : "?",
			 (long long)duration);
	tcap = strlen(head) + acc.out.len + acc.err.len + 1024;
	text = malloc(tcap);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	tlen = (size_t)snprintf(text, tcap, "%s", head);
	mcp_exec_section(&acc.out, "stdout", &text, &tlen, &tcap);
	mcp_exec_section(&acc.err, "stderr", &text, &tlen, &tcap);
	if (dropped)
		tlen += (size_t)snprintf(text + tlen, tcap - tlen,
					 "[%lld bytes of output were dropped by the output cap]\n",
					 (long long)dropped);
	if (acc.bad_events)
		tlen += (size_t)snprintf(text + tlen, tcap - tlen,
					 "[%d output chunks from the agent were malformed and "
					 "dropped]\n",
					 acc.bad_events);
	if (timed_out)
		c->is_error = 1;
	r = mcp_call_text(c, text, tlen);
	st = json_object_new_object();
	if (st) {
		json_object_object_add(st, "exit_code",
				       exit_code >= 0 ? json_object_new_int64(exit_code) : NULL);
		json_object_object_add(st, "signal", sig ? json_object_new_string(sig) : NULL);
		json_object_object_add(st, "timed_out", json_object_new_boolean(timed_out));
		json_object_object_add(st, "duration_ms", json_object_new_int64(duration));
		json_object_object_add(st, "stdout",
				       json_util_new_string_lossy(acc.out.data, acc.out.len));
		json_object_object_add(st, "stderr",
				       json_util_new_string_lossy(acc.err.data, acc.err.len));
		json_object_object_add(
			st, "truncated",
			json_object_new_boolean(acc.out.cut || acc.err.cut || dropped));
		c->structured = st;
	}
out:
	free(text);
	free(acc.out.data);
	free(acc.err.data);
	json_object_put(req);
	json_object_put(res);
	return r;
}

/* --- reset, destroy --------------------------------------------------------- */

static int mcp_tool_sandbox_reset(struct mcp_call *c)
{
	struct mcp_server *s = c->s;
	const char *id = mcp_arg_str(c, "sandbox");
	struct mcp_sb *sb = NULL;
	char err[768];
	int r;

	if (!id)
		id = MCP_DEFAULT_SANDBOX_ID;
	snprintf(c->sandbox, sizeof(c->sandbox), "%s", id);
	for (struct mcp_sb *x = s->sandboxes; x; x = x->next)
		if (strcmp(x->id, id) == 0)
			sb = x;
	if (!sb) {
		/* Nothing to reset: the default sandbox starts clean on first use. */
		if (strcmp(id, MCP_DEFAULT_SANDBOX_ID) == 0)
			return mcp_call_printf(c, "sandbox %s is clean (it starts on first use)",
					       id);
		mcp_sb_for_call(c, &sb); /* says there is no such sandbox */
		return 0;
	}
	if (sb->h) {
		s->cfg.ops->destroy(s->cfg.ops_ctx, sb->h);
		sb->h = NULL;
	}
	r = mcp_sb_start(s, sb, err, sizeof(err));
	if (r < 0) {
		free(sb->dead_reason);
		sb->dead_reason = strdup(err);
		return mcp_call_fail(c, "could not restart sandbox %s: %s", sb->id, err), 0;
	}
	return mcp_call_printf(c, "sandbox %s is back to a clean state (image %s)", sb->id,
			       sb->image);
}

static int mcp_tool_sandbox_destroy(struct mcp_call *c)
{
	struct mcp_server *s = c->s;
	const char *id = mcp_arg_str(c, "sandbox");

	snprintf(c->sandbox, sizeof(c->sandbox), "%s", id);
	for (struct mcp_sb *sb = s->sandboxes; sb; sb = sb->next) {
		if (strcmp(sb->id, id) == 0) {
			mcp_sb_remove(s, sb);
			return mcp_call_printf(c, "sandbox %s destroyed", id);
		}
	}
	return mcp_call_fail(c, "no sandbox '%s' in this session", id), 0;
}

/* --- the table ---------------------------------------------------------------- */

const struct mcp_tool mcp_tools_sandbox[] = {
	{
		.name = "sandbox_create",
		.title = "Create a sandbox",
		.description =
			"Start a new, empty Linux sandbox and return its id. Only needed for "
			"extra sandboxes or other images: the other tools use a default sandbox "
			"when 'sandbox' is omitted.",
		.schema = "{\"type\":\"object\",\"properties\":{"
			  "\"image\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,"
			  "\"description\":\"Image name, e.g. \\\"minimal\\\" or \\\"base\\\" "
			  "(default: the session's image)\"},"
			  "\"isolation\":{\"type\":\"string\",\"enum\":[\"auto\",\"microvm\","
			  "\"container\"],\"description\":\"microvm (a KVM VM), container, or "
			  "auto (microvm where this host can run it)\"},"
			  "\"mem\":{\"type\":[\"string\",\"integer\"],\"description\":\"Memory, "
			  "e.g. \\\"512M\\\" or \\\"2G\\\", or bytes\"},"
			  "\"cpus\":{\"type\":\"number\",\"minimum\":0.001,\"maximum\":1024,"
			  "\"description\":\"CPUs, e.g. 2 or 0.5\"},"
			  "\"timeout\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400,"
			  "\"description\":\"Destroy the sandbox automatically after this many "
			  "seconds\"}"
			  "},\"additionalProperties\":false}",
		.fn = mcp_tool_sandbox_create,
	},
	{
		.name = "sandbox_exec",
		.title = "Run a command in a sandbox",
		.description =
			"Run a command in the sandbox and return its exit code, stdout and "
			"stderr (long output is cut, and the result says so). Give 'command' "
			"(run with sh -c) or 'argv', not both.",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SANDBOX ","
			  "\"command\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1048576,"
			  "\"description\":\"Shell command line, run with sh -c\"},"
			  "\"argv\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
			  "\"maxLength\":131072},\"minItems\":1,\"maxItems\":4096,"
			  "\"description\":\"Program and arguments, run without a shell\"},"
			  "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600000,"
			  "\"description\":\"Kill the command after this many milliseconds "
			  "(default and upper bound: the policy's)\"},"
			  "\"stdin\":{\"type\":\"string\",\"maxLength\":8388608,\"description\":"
			  "\"Text given to the command on its standard input\"},"
			  "\"cwd\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4095,"
			  "\"description\":\"Absolute working directory (default /)\"},"
			  "\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":"
			  "\"string\",\"maxLength\":131072},\"maxProperties\":256,\"description\":"
			  "\"Extra environment variables\"}"
			  "},\"additionalProperties\":false}",
		.flags = MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_sandbox_exec,
	},
	{
		.name = "sandbox_read_file",
		.title = "Read a file in a sandbox",
		.description = "Read a file from the sandbox. Text comes back as is, binary data "
			       "as base64; long files are read in pieces with offset and length.",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SANDBOX ","
			  "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4095,"
			  "\"description\":\"Absolute path\"},"
			  "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Byte "
			  "offset to start at (default 0)\"},"
			  "\"length\":{\"type\":\"integer\",\"minimum\":1,\"description\":"
			  "\"Bytes to read (default and upper bound: the policy's output cap)\"}"
			  "},\"required\":[\"path\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_READ_ONLY,
		.fn = mcp_tool_sandbox_read_file,
	},
	{
		.name = "sandbox_write_file",
		.title = "Write a file in a sandbox",
		.description = "Create or replace a file in the sandbox (missing parent "
			       "directories are created).",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SANDBOX ","
			  "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4095,"
			  "\"description\":\"Absolute path\"},"
			  "\"content\":{\"type\":\"string\",\"maxLength\":16777216,"
			  "\"description\":\"The file's content\"},"
			  "\"encoding\":{\"type\":\"string\",\"enum\":[\"utf-8\",\"base64\"],"
			  "\"description\":\"How content is encoded (default utf-8)\"},"
			  "\"mode\":{\"type\":[\"integer\",\"string\"],\"minimum\":0,"
			  "\"maximum\":4095,\"description\":\"Permission bits of a new file, "
			  "e.g. 420 or \\\"0644\\\" (default 0644)\"},"
			  "\"append\":{\"type\":\"boolean\",\"description\":\"Append instead of "
			  "replacing\"}"
			  "},\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_sandbox_write_file,
	},
	{
		.name = "sandbox_list_files",
		.title = "List a directory in a sandbox",
		.description = "List a directory of the sandbox: type, permissions, size and "
			       "name of each entry.",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SANDBOX ","
			  "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4095,"
			  "\"description\":\"Absolute path of the directory\"}"
			  "},\"required\":[\"path\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_READ_ONLY,
		.fn = mcp_tool_sandbox_list_files,
	},
	{
		.name = "sandbox_reset",
		.title = "Reset a sandbox",
		.description = "Throw away everything done in the sandbox (files, processes, "
			       "browser) and start it again from its clean image.",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SANDBOX
			  "},\"additionalProperties\":false}",
		.flags = MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_sandbox_reset,
	},
	{
		.name = "sandbox_destroy",
		.title = "Destroy a sandbox",
		.description = "Stop a sandbox and delete everything in it.",
		.schema = "{\"type\":\"object\",\"properties\":{"
			  "\"sandbox\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":31,"
			  "\"description\":\"Id of the sandbox to destroy\"}"
			  "},\"required\":[\"sandbox\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_sandbox_destroy,
	},
};
const size_t mcp_tools_sandbox_count = sizeof(mcp_tools_sandbox) / sizeof(mcp_tools_sandbox[0]);

static int mcp_tool_offered(const struct mcp_server *s, const struct mcp_tool *t)
{
	return !(t->flags & MCP_TOOL_EVALUATE) || s->cfg.policy->allow_evaluate;
}

const struct mcp_tool *mcp_tools_find(const struct mcp_server *s, const char *name)
{
	for (size_t i = 0; i < mcp_tools_sandbox_count; i++)
		if (strcmp(mcp_tools_sandbox[i].name, name) == 0)
			return &mcp_tools_sandbox[i];
	for (size_t i = 0; i < mcp_tools_browser_count; i++)
		if (strcmp(mcp_tools_browser[i].name, name) == 0)
			return mcp_tool_offered(s, &mcp_tools_browser[i]) ? &mcp_tools_browser[i]
									  : NULL;
	return NULL;
}

static int mcp_tools_add(struct json_object *list, const struct mcp_tool *t)
{
	struct json_object *o = json_object_new_object(), *schema, *ann;

	schema = json_tokener_parse(t->schema);
	ann = json_object_new_object();
	if (!o || !schema || !ann || mcp_schema_check(schema, NULL, 0) < 0) {
		json_object_put(o);
		json_object_put(schema);
		json_object_put(ann);
		return o && ann && schema ? -EINVAL : -ENOMEM;
	}
	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "title", json_object_new_string(t->title));
	json_object_object_add(o, "description", json_object_new_string(t->description));
	json_object_object_add(o, "inputSchema", schema);
	json_object_object_add(ann, "title", json_object_new_string(t->title));
	json_object_object_add(ann, "readOnlyHint",
			       json_object_new_boolean(!!(t->flags & MCP_TOOL_READ_ONLY)));
	if (!(t->flags & MCP_TOOL_READ_ONLY))
		json_object_object_add(
			ann, "destructiveHint",
			json_object_new_boolean(!!(t->flags & MCP_TOOL_DESTRUCTIVE)));
	json_object_object_add(ann, "openWorldHint",
			       json_object_new_boolean(!!(t->flags & MCP_TOOL_OPEN_WORLD)));
	json_object_object_add(o, "annotations", ann);
	json_object_array_add(list, o);
	return 0;
}

int mcp_tools_build_list(struct mcp_server *s, struct json_object **out)
{
	struct json_object *list = json_object_new_array();
	int r = 0;

	*out = NULL;
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < mcp_tools_sandbox_count; i++)
		r = mcp_tools_add(list, &mcp_tools_sandbox[i]);
	for (size_t i = 0; r == 0 && i < mcp_tools_browser_count; i++)
		if (mcp_tool_offered(s, &mcp_tools_browser[i]))
			r = mcp_tools_add(list, &mcp_tools_browser[i]);
	if (r < 0) {
		json_object_put(list);
		return r;
	}
	*out = list;
	return 0;
}
