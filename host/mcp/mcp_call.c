/* What every tool handler shares: building the result, reading arguments,
 * the session's sandboxes, and requests to their agents. */
#include "host/mcp/mcp_tools.h"

#include "common/json_util.h"
#include "common/log.h"
#include "host/agent_client.h"
#include "host/mcp/mcp_policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t mcp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- results ---------------------------------------------------------------- */

int mcp_call_text(struct mcp_call *c, const char *text, size_t len)
{
	struct json_object *it = json_object_new_object(), *t;

	t = json_util_new_string_lossy(text, len);
	if (!it || !t) {
		json_object_put(it);
		json_object_put(t);
		return -ENOMEM;
	}
	json_object_object_add(it, "type", json_object_new_string("text"));
	json_object_object_add(it, "text", t);
	json_object_array_add(c->content, it);
	return 0;
}

static int mcp_call_vprintf(struct mcp_call *c, const char *fmt, va_list ap)
{
	char *s = NULL;
	int n, r;

	n = vasprintf(&s, fmt, ap);
	if (n < 0)
		return -ENOMEM;
	r = mcp_call_text(c, s, (size_t)n);
	free(s);
	return r;
}

int mcp_call_printf(struct mcp_call *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = mcp_call_vprintf(c, fmt, ap);
	va_end(ap);
	return r;
}

int mcp_call_fail(struct mcp_call *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	c->is_error = 1;
	va_start(ap, fmt);
	r = mcp_call_vprintf(c, fmt, ap);
	va_end(ap);
	return r;
}

int mcp_call_image(struct mcp_call *c, const char *b64, size_t len, const char *mime)
{
	struct json_object *it = json_object_new_object();

	if (!it)
		return -ENOMEM;
	json_object_object_add(it, "type", json_object_new_string("image"));
	json_object_object_add(it, "data", json_object_new_string_len(b64, (int)len));
	json_object_object_add(it, "mimeType", json_object_new_string(mime));
	json_object_array_add(c->content, it);
	return 0;
}

int mcp_call_invalid(struct mcp_call *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->invalid, sizeof(c->invalid), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *mcp_arg_str(struct mcp_call *c, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(c->args, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int mcp_arg_int(struct mcp_call *c, const char *key, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(c->args, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int))
		*out = json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_double))
		*out = (int64_t)json_object_get_double(v);
	else
		return 0;
	return 1;
}

int mcp_arg_bool(struct mcp_call *c, const char *key, int def)
{
	struct json_object *v;

	if (!json_object_object_get_ex(c->args, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return def;
	return json_object_get_boolean(v);
}

/* --- sandboxes ---------------------------------------------------------------- */

static struct mcp_sb *mcp_sb_find(struct mcp_server *s, const char *id)
{
	for (struct mcp_sb *sb = s->sandboxes; sb; sb = sb->next)
		if (strcmp(sb->id, id) == 0)
			return sb;
	return NULL;
}

static void mcp_sb_free(struct mcp_server *s, struct mcp_sb *sb)
{
	if (!sb)
		return;
	if (sb->h)
		s->cfg.ops->destroy(s->cfg.ops_ctx, sb->h);
	free(sb->image);
	free(sb->isolation);
	free(sb->dead_reason);
	free(sb->page_url);
	free(sb);
}

int mcp_sb_start(struct mcp_server *s, struct mcp_sb *sb, char *err, size_t len)
{
	struct mcp_sandbox_spec spec = {
		.image = sb->image,
		.isolation = sb->isolation,
		.limits = sb->limits,
	};
	int r;

	err[0] = '\0';
	r = s->cfg.ops->create(s->cfg.ops_ctx, &spec, &sb->h, err, len);
	if (r < 0) {
		sb->h = NULL;
		if (!err[0])
			snprintf(err, len, "%s", strerror(-r));
		return r;
	}
	free(sb->dead_reason);
	sb->dead_reason = NULL;
	sb->browser_open = 0;
	free(sb->page_url);
	sb->page_url = NULL;
	return 0;
}

int mcp_sb_new(struct mcp_server *s, const char *id, const char *image, const char *isolation,
	       const struct backend_limits *limits, int64_t lifetime_ms, struct mcp_sb **out,
	       char *err, size_t len)
{
	struct mcp_sb *sb;
	int r;

	*out = NULL;
	if (s->nsandboxes >= s->cfg.policy->max_sandboxes) {
		snprintf(err, len,
			 "the policy allows at most %u sandboxes at once; destroy one first "
			 "(sandbox_destroy)",
			 s->cfg.policy->max_sandboxes);
		return -EUSERS;
	}
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	if (id)
		snprintf(sb->id, sizeof(sb->id), "%s", id);
	else
		do
			snprintf(sb->id, sizeof(sb->id), "sb%u", s->next_id++);
		while (mcp_sb_find(s, sb->id));
	sb->image = strdup(image);
	sb->isolation = strdup(isolation);
	sb->limits = *limits;
	sb->lifetime_ms = lifetime_ms;
	if (!sb->image || !sb->isolation) {
		mcp_sb_free(s, sb);
		return -ENOMEM;
	}
	r = mcp_sb_start(s, sb, err, len);
	if (r < 0) {
		mcp_sb_free(s, sb);
		return r;
	}
	if (lifetime_ms > 0)
		sb->expires_ms = mcp_now_ms() + lifetime_ms;
	sb->next = s->sandboxes;
	s->sandboxes = sb;
	s->nsandboxes++;
	log_info("mcp: sandbox %s started (image %s, isolation %s)", sb->id, image, isolation);
	*out = sb;
	return 0;
}

void mcp_sb_remove(struct mcp_server *s, struct mcp_sb *sb)
{
	for (struct mcp_sb **pp = &s->sandboxes; *pp; pp = &(*pp)->next) {
		if (*pp == sb) {
			*pp = sb->next;
			s->nsandboxes--;
			break;
		}
	}
	mcp_sb_free(s, sb);
}

/* The ids of the session's sandboxes, for messages. */
static void mcp_sb_ids(struct mcp_server *s, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (struct mcp_sb *sb = s->sandboxes; sb; sb = sb->next) {
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", sb->id);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "none");
}

int mcp_sb_for_call(struct mcp_call *c, struct mcp_sb **out)
{
	struct mcp_server *s = c->s;
	const char *id = mcp_arg_str(c, "sandbox");
	struct mcp_sb *sb;
	char err[768];
	int r;

	*out = NULL;
	if (!id)
		id = MCP_DEFAULT_SANDBOX_ID;
	snprintf(c->sandbox, sizeof(c->sandbox), "%s", id);
	sb = mcp_sb_find(s, id);
	if (!sb && strcmp(id, MCP_DEFAULT_SANDBOX_ID) == 0) {
		struct backend_limits lim = { .mem_bytes = s->cfg.policy->mem_bytes,
					      .cpu_millis = s->cfg.policy->cpu_millis };
		r = mcp_sb_new(s, MCP_DEFAULT_SANDBOX_ID, s->cfg.image, s->cfg.isolation, &lim, 0,
			       &sb, err, sizeof(err));
		if (r < 0) {
			mcp_call_fail(c, "could not start the default sandbox: %s", err);
			return r;
		}
	}
	if (!sb) {
		char ids[256];
		mcp_sb_ids(s, ids, sizeof(ids));
		mcp_call_fail(c, "no sandbox '%s' in this session (sandboxes: %s)", id, ids);
		return -ENOENT;
	}
	if (!sb->h) {
		mcp_call_fail(c,
			      "sandbox %s stopped: %s. sandbox_reset starts it again from a clean "
			      "state.",
			      sb->id, sb->dead_reason ? sb->dead_reason : "unknown reason");
		return -ECONNRESET;
	}
	*out = sb;
	return 0;
}

int mcp_sb_call(struct mcp_call *c, struct mcp_sb *sb, struct json_object *req, int timeout_ms,
		mcp_backend_event_fn on_event, void *arg, struct json_object **result, char *code,
		size_t code_len)
{
	struct mcp_server *s = c->s;
	struct json_object *reply = NULL, *ok, *res;
	char err[512];
	int r;

	*result = NULL;
	if (code && code_len)
		code[0] = '\0';
	err[0] = '\0';
	r = s->cfg.ops->request(s->cfg.ops_ctx, sb->h, req, timeout_ms, on_event, arg, &reply, err,
				sizeof(err));
	if (r == -ECONNRESET) {
		log_warn("mcp: sandbox %s stopped: %s", sb->id, err[0] ? err : "connection lost");
		s->cfg.ops->destroy(s->cfg.ops_ctx, sb->h);
		sb->h = NULL;
		free(sb->dead_reason);
		sb->dead_reason = strdup(err[0] ? err : "the connection to its agent was lost");
		mcp_call_fail(c,
			      "sandbox %s stopped while handling the request (%s). sandbox_reset "
			      "starts it again from a clean state.",
			      sb->id, err[0] ? err : "connection lost");
		return r;
	}
	if (r == -ETIMEDOUT) {
		mcp_call_fail(c, "the sandbox's agent did not answer within %d ms", timeout_ms);
		return r;
	}
	if (r < 0) {
		mcp_call_fail(c, "request to sandbox %s failed: %s", sb->id,
			      err[0] ? err : strerror(-r));
		return r;
	}
	if (json_object_object_get_ex(reply, "ok", &ok) &&
	    json_object_is_type(ok, json_type_boolean) && !json_object_get_boolean(ok)) {
		const char *ec = agent_client_error_code(reply);
		const char *em = agent_client_error_message(reply);
		if (code && code_len)
			snprintf(code, code_len, "%s", ec);
		if (!em[0])
			em = "the agent refused the request";
		if (ec[0])
			mcp_call_fail(c, "%s (%s)", em, ec);
		else
			mcp_call_fail(c, "%s", em);
		json_object_put(reply);
		return -EREMOTEIO;
	}
	if (json_object_object_get_ex(reply, "result", &res) &&
	    json_object_is_type(res, json_type_object))
		*result = json_object_get(res);
	else
		*result = json_object_get(reply); /* exec's terminal event */
	json_object_put(reply);
	return 0;
}

void mcp_sb_destroy_all(struct mcp_server *s)
{
	while (s->sandboxes) {
		log_info("mcp: destroying sandbox %s", s->sandboxes->id);
		mcp_sb_remove(s, s->sandboxes);
	}
}

int64_t mcp_server_next_expiry(const struct mcp_server *s)
{
	int64_t next = -1;

	for (struct mcp_sb *sb = s->sandboxes; sb; sb = sb->next)
		if (sb->expires_ms && (next < 0 || sb->expires_ms < next))
			next = sb->expires_ms;
	return next;
}

void mcp_server_expire(struct mcp_server *s, int64_t now_ms)
{
	struct mcp_sb *sb = s->sandboxes, *next;

	for (; sb; sb = next) {
		next = sb->next;
		if (sb->expires_ms && sb->expires_ms <= now_ms) {
			log_info("mcp: sandbox %s reached the end of its lifetime", sb->id);
			if (s->cfg.audit) {
				struct json_object *rec = json_object_new_object();
				if (rec) {
					json_object_object_add(
						rec, "type",
						json_object_new_string("mcp.sandbox_expired"));
					json_object_object_add(rec, "sandbox",
							       json_object_new_string(sb->id));
					s->cfg.audit(s->cfg.audit_arg, rec);
					json_object_put(rec);
				}
			}
			mcp_sb_remove(s, sb);
		}
	}
}
