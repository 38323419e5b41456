/* The file tools: sandbox_read_file, sandbox_write_file, sandbox_list_files. */
#include "host/mcp/mcp_tools.h"

#include "common/base64.h"
#include "common/json_util.h"
#include "host/mcp/mcp_policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long file operations may take in the agent. */
#define MCP_FS_TIMEOUT_MS 60000
#define MCP_LIST_LIMIT	  1000
#define MCP_WRITE_MAX	  (12u << 20)

static int mcp_path_ok(struct mcp_call *c, const char *path)
{
	if (path[0] != '/')
		return mcp_call_invalid(c, "path must be absolute (start with /), not '%.200s'",
					path);
	return 0;
}

int mcp_tool_sandbox_read_file(struct mcp_call *c)
{
	const char *path = mcp_arg_str(c, "path");
	size_t cap = c->s->cfg.policy->output_cap, len;
	struct json_object *req, *res = NULL, *v;
	int64_t offset = 0, length = (int64_t)cap, size = -1;
	unsigned char *data = NULL;
	struct mcp_sb *sb;
	int r, eof = 1;

	if ((r = mcp_path_ok(c, path)) < 0)
		return r;
	mcp_arg_int(c, "offset", &offset);
	if (mcp_arg_int(c, "length", &length) && length > (int64_t)cap)
		length = (int64_t)cap;
	r = mcp_sb_for_call(c, &sb);
	if (r < 0)
		return 0;
	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "op", json_object_new_string("fs.read"));
	json_object_object_add(req, "path", json_object_new_string(path));
	json_object_object_add(req, "offset", json_object_new_int64(offset));
	json_object_object_add(req, "length", json_object_new_int64(length));
	r = mcp_sb_call(c, sb, req, MCP_FS_TIMEOUT_MS, NULL, NULL, &res, NULL, 0);
	json_object_put(req);
	if (r < 0)
		return 0;
	if (json_util_get_base64(res, "data", &data, &len) < 0) {
		json_object_put(res);
		return mcp_call_fail(c, "the agent sent malformed file data"), 0;
	}
	if ((size_t)len > (size_t)length)
		len = (size_t)length; /* a hostile agent may send more */
	if (json_object_object_get_ex(res, "size", &v) && json_object_is_type(v, json_type_int))
		size = json_object_get_int64(v);
	if (json_object_object_get_ex(res, "eof", &v))
		eof = json_object_get_boolean(v);
	json_object_put(res);
	if (json_util_utf8_valid((const char *)data, len) && !memchr(data, '\0', len)) {
		r = mcp_call_text(c, (const char *)data, len);
	} else {
		char *b64;
		size_t blen;
		r = base64_encode(data, len, &b64, &blen);
		if (r == 0) {
			r = mcp_call_printf(c,
					    "%s is binary (not UTF-8 text); its %zu bytes from "
					    "offset %lld, in base64:\n%s",
					    path, len, (long long)offset, b64);
			free(b64);
		}
	}
	if (r == 0 && !eof)
		r = mcp_call_printf(c,
				    "[showing bytes %lld to %lld of %lld; to read on, call again "
				    "with offset %lld]",
				    (long long)offset, (long long)(offset + (int64_t)len),
				    (long long)size, (long long)(offset + (int64_t)len));
	free(data);
	return r;
}

int mcp_tool_sandbox_write_file(struct mcp_call *c)
{
	const char *path = mcp_arg_str(c, "path"), *content = mcp_arg_str(c, "content");
	const char *enc = mcp_arg_str(c, "encoding");
	struct json_object *req, *res = NULL, *v;
	unsigned char *raw = NULL;
	size_t rawlen;
	int64_t mode = 0644, written = -1;
	struct mcp_sb *sb;
	int r;

	if ((r = mcp_path_ok(c, path)) < 0)
		return r;
	if (json_object_object_get_ex(c->args, "mode", &v) &&
	    json_object_is_type(v, json_type_string)) {
		char *end;
		const char *m = json_object_get_string(v);
		mode = strtol(m, &end, 8);
		if (!*m || *end || mode < 0 || mode > 07777)
			return mcp_call_invalid(c, "mode must be octal permission bits such as "
						   "\"644\" or \"0755\"");
	} else if (json_object_object_get_ex(c->args, "mode", &v)) {
		mode = json_object_get_int64(v);
	}
	if (enc && strcmp(enc, "base64") == 0) {
		if (base64_decode(content, strlen(content), &raw, &rawlen) < 0)
			return mcp_call_invalid(c, "content is not valid base64");
	}
	if ((raw ? rawlen : strlen(content)) > MCP_WRITE_MAX) {
		free(raw);
		return mcp_call_invalid(c, "content is larger than %u bytes", MCP_WRITE_MAX);
	}
	r = mcp_sb_for_call(c, &sb);
	if (r < 0) {
		free(raw);
		return 0;
	}
	req = json_object_new_object();
	if (!req) {
		free(raw);
		return -ENOMEM;
	}
	json_object_object_add(req, "op", json_object_new_string("fs.write"));
	json_object_object_add(req, "path", json_object_new_string(path));
	r = raw ? json_util_add_base64(req, "data", raw, rawlen)
		: json_util_add_base64(req, "data", content, strlen(content));
	free(raw);
	if (r < 0) {
		json_object_put(req);
		return r;
	}
	json_object_object_add(req, "mode", json_object_new_int64(mode));
	json_object_object_add(req, "parents", json_object_new_boolean(1));
	if (mcp_arg_bool(c, "append", 0))
		json_object_object_add(req, "append", json_object_new_boolean(1));
	r = mcp_sb_call(c, sb, req, MCP_FS_TIMEOUT_MS, NULL, NULL, &res, NULL, 0);
	json_object_put(req);
	if (r < 0)
		return 0;
	if (json_object_object_get_ex(res, "written", &v) && json_object_is_type(v, json_type_int))
		written = json_object_get_int64(v);
	json_object_put(res);
	return mcp_call_printf(c, "wrote %lld bytes to %s", (long long)written, path);
}

/* name with control characters shown as '?', so one entry stays one line. */
static void mcp_list_clean(const char *name, char *out, size_t len)
{
	size_t j = 0;

	for (; *name && j + 1 < len; name++)
		out[j++] = ((unsigned char)*name < 0x20 || *name == 0x7f) ? '?' : *name;
	out[j] = '\0';
}

int mcp_tool_sandbox_list_files(struct mcp_call *c)
{
	const char *path = mcp_arg_str(c, "path");
	struct json_object *req, *res = NULL, *ents, *v;
	struct mcp_sb *sb;
	char *text = NULL;
	size_t tlen = 0, n;
	FILE *f;
	int r, truncated = 0;

	if ((r = mcp_path_ok(c, path)) < 0)
		return r;
	r = mcp_sb_for_call(c, &sb);
	if (r < 0)
		return 0;
	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "op", json_object_new_string("fs.list"));
	json_object_object_add(req, "path", json_object_new_string(path));
	json_object_object_add(req, "limit", json_object_new_int(MCP_LIST_LIMIT));
	r = mcp_sb_call(c, sb, req, MCP_FS_TIMEOUT_MS, NULL, NULL, &res, NULL, 0);
	json_object_put(req);
	if (r < 0)
		return 0;
	if (!json_object_object_get_ex(res, "entries", &ents) ||
	    !json_object_is_type(ents, json_type_array)) {
		json_object_put(res);
		return mcp_call_fail(c, "the agent sent a malformed listing"), 0;
	}
	if (json_object_object_get_ex(res, "truncated", &v))
		truncated = json_object_get_boolean(v);
	n = json_object_array_length(ents);
	if (n > MCP_LIST_LIMIT) {
		n = MCP_LIST_LIMIT;
		truncated = 1;
	}
	f = open_memstream(&text, &tlen);
	if (!f) {
		json_object_put(res);
		return -ENOMEM;
	}
	fprintf(f, "%s: %zu entr%s%s\n", path, n, n == 1 ? "y" : "ies",
		truncated ? " (more were left out)" : "");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ents, i), *nm, *ty, *sz, *md;
		char name[512];
		const char *type = "?";
		if (!json_object_object_get_ex(e, "name", &nm) ||
		    !json_object_is_type(nm, json_type_string))
			continue;
		mcp_list_clean(json_object_get_string(nm), name, sizeof(name));
		if (json_object_object_get_ex(e, "type", &ty) &&
		    json_object_is_type(ty, json_type_string))
			type = json_object_get_string(ty);
		fprintf(f, "%-7.7s", type);
		if (json_object_object_get_ex(e, "mode", &md) &&
		    json_object_is_type(md, json_type_int))
			fprintf(f, " %04llo",
				(unsigned long long)(json_object_get_int64(md) & 07777));
		else
			fprintf(f, "     ");
		if (json_object_object_get_ex(e, "size", &sz) &&
		    json_object_is_type(sz, json_type_int) && strcmp(type, "dir") != 0)
			fprintf(f, " %12lld", (long long)json_object_get_int64(sz));
		else
			fprintf(f, " %12s", "-");
		fprintf(f, "  %s%s\n", name, strcmp(type, "dir") == 0 ? "/" : "");
	}
	json_object_put(res);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	r = mcp_call_text(c, text, tlen);
	free(text);
	return r;
}
