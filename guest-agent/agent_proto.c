#include "guest-agent/agent_proto.h"

#include "common/json_util.h"
#include "guest-agent/browser_req.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGENT_ID_INT_MAX (1ll << 53)
#define AGENT_UID_MAX	 0xfffffffeu /* (uid_t)-1 means "unchanged" to the kernel */

/* --- member accessors ---------------------------------------------------------- */

/* The member, or NULL when absent or JSON null. */
static struct json_object *proto_member(struct json_object *msg, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(msg, key, &v))
		return NULL;
	return v;
}

static int proto_bad(struct agent_error *err, const char *field, const char *what)
{
	agent_error_set(err, "EBADREQ", field, "\"%s\" %s", field, what);
	return -1;
}

static int proto_get_bool(struct json_object *msg, const char *key, int def, int *out,
			  struct agent_error *err)
{
	struct json_object *v = proto_member(msg, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_object_is_type(v, json_type_boolean))
		return proto_bad(err, key, "must be true or false");
	*out = json_object_get_boolean(v);
	return 0;
}

/* A non-negative integer <= max. *present tells whether it was given. */
static int proto_get_uint(struct json_object *msg, const char *key, uint64_t max, uint64_t *out,
			  int *present, struct agent_error *err)
{
	struct json_object *v = proto_member(msg, key);
	int64_t s;

	*present = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return proto_bad(err, key, "must be an integer");
	s = json_object_get_int64(v);
	if (s < 0)
		return proto_bad(err, key, "must not be negative");
	if (s == INT64_MAX) {
		/* json-c keeps values past INT64_MAX as uint64. */
		uint64_t u = json_object_get_uint64(v);

		if (u > max)
			return proto_bad(err, key, "is too large");
		*out = u;
	} else {
		if ((uint64_t)s > max)
			return proto_bad(err, key, "is too large");
		*out = (uint64_t)s;
	}
	*present = 1;
	return 0;
}

/* A string without NUL bytes, 1..maxlen bytes long. */
static int proto_check_string(struct json_object *v, const char *key, size_t maxlen,
			      const char **out, struct agent_error *err)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return proto_bad(err, key, "must be a string");
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0)
		return proto_bad(err, key, "must not be empty");
	if (len > maxlen)
		return proto_bad(err, key, "is too long");
	if (memchr(s, '\0', len))
		return proto_bad(err, key, "must not contain NUL");
	*out = s;
	return 0;
}

static int proto_get_string(struct json_object *msg, const char *key, int required, size_t maxlen,
			    const char **out, struct agent_error *err)
{
	struct json_object *v = proto_member(msg, key);

	*out = NULL;
	if (!v)
		return required ? proto_bad(err, key, "is required") : 0;
	return proto_check_string(v, key, maxlen, out, err);
}

static int proto_get_path(struct json_object *msg, const char *key, int required, const char **out,
			  struct agent_error *err)
{
	if (proto_get_string(msg, key, required, AGENT_PATH_MAX, out, err) < 0)
		return -1;
	if (*out && (*out)[0] != '/')
		return proto_bad(err, key, "must be an absolute path");
	return 0;
}

static int proto_get_data(struct json_object *msg, const char *key, unsigned char **out,
			  size_t *len, int *present, struct agent_error *err)
{
	int r = json_util_get_base64(msg, key, out, len);

	*present = 0;
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM) {
		agent_error_set(err, "ENOMEM", key, "out of memory decoding \"%s\"", key);
		return -1;
	}
	if (r < 0)
		return proto_bad(err, key, "must be a base64 string");
	*present = 1;
	return 0;
}

static int proto_get_mode(struct json_object *msg, const char *key, mode_t *out, int *present,
			  struct agent_error *err)
{
	uint64_t v = 0;

	if (proto_get_uint(msg, key, 07777, &v, present, err) < 0)
		return -1;
	if (*present)
		*out = (mode_t)v;
	return 0;
}

static int proto_get_id_uint(struct json_object *msg, const char *key, uint32_t *out, int *present,
			     struct agent_error *err)
{
	uint64_t v = 0;

	if (proto_get_uint(msg, key, AGENT_UID_MAX, &v, present, err) < 0)
		return -1;
	if (*present)
		*out = (uint32_t)v;
	return 0;
}

int agent_proto_get_bool(struct json_object *msg, const char *key, int def, int *out,
			 struct agent_error *err)
{
	return proto_get_bool(msg, key, def, out, err);
}

int agent_proto_get_uint(struct json_object *msg, const char *key, uint64_t max, uint64_t *out,
			 int *present, struct agent_error *err)
{
	return proto_get_uint(msg, key, max, out, present, err);
}

int agent_proto_get_string(struct json_object *msg, const char *key, int required, size_t maxlen,
			   const char **out, struct agent_error *err)
{
	return proto_get_string(msg, key, required, maxlen, out, err);
}

/* --- ids and signals ------------------------------------------------------------ */

static int proto_id_valid(struct json_object *id)
{
	if (json_object_is_type(id, json_type_int)) {
		int64_t v = json_object_get_int64(id);

		return v >= -AGENT_ID_INT_MAX && v <= AGENT_ID_INT_MAX;
	}
	if (json_object_is_type(id, json_type_string)) {
		int len = json_object_get_string_len(id);

		return len >= 1 && len <= AGENT_ID_MAX_LEN;
	}
	return 0;
}

int agent_proto_id_equal(struct json_object *a, struct json_object *b)
{
	if (!a || !b)
		return 0;
	if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int))
		return json_object_get_int64(a) == json_object_get_int64(b);
	if (json_object_is_type(a, json_type_string) && json_object_is_type(b, json_type_string))
		return json_object_get_string_len(a) == json_object_get_string_len(b) &&
		       memcmp(json_object_get_string(a), json_object_get_string(b),
			      (size_t)json_object_get_string_len(a)) == 0;
	return 0;
}

int agent_proto_signal_number(const char *name)
{
	const char *abbrev;
	char *end;
	long n;
	int s;

	if (!name || !*name)
		return -EINVAL;
	if (name[0] >= '0' && name[0] <= '9') {
		errno = 0;
		n = strtol(name, &end, 10);
		if (errno || *end || n < 1 || n >= NSIG)
			return -EINVAL;
		return (int)n;
	}
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (s = 1; s < NSIG; s++) {
		abbrev = sigabbrev_np(s);
		if (abbrev && strcmp(abbrev, name) == 0)
			return s;
	}
	return -EINVAL;
}

const char *agent_proto_signal_name(int signo)
{
	return sigabbrev_np(signo);
}

/* --- per-op parsers -------------------------------------------------------------- */

static const struct {
	const char *name;
	int resource;
} proto_rlimit_names[] = {
	{ "as", RLIMIT_AS },
	{ "core", RLIMIT_CORE },
	{ "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE },
	{ "locks", RLIMIT_LOCKS },
	{ "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE },
	{ "nice", RLIMIT_NICE },
	{ "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC },
	{ "rtprio", RLIMIT_RTPRIO },
	{ "sigpending", RLIMIT_SIGPENDING },
	{ "stack", RLIMIT_STACK },
};

/* A number >= 0 or "unlimited". */
static int proto_rlim_value(struct json_object *v, rlim_t *out)
{
	int64_t s;

	if (json_object_is_type(v, json_type_string)) {
		if (strcmp(json_object_get_string(v), "unlimited") != 0)
			return -1;
		*out = RLIM_INFINITY;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return -1;
	s = json_object_get_int64(v);
	if (s < 0)
		return -1;
	*out = s == INT64_MAX ? RLIM_INFINITY : (rlim_t)s;
	return 0;
}

static int proto_parse_rlimits(struct json_object *v, struct agent_exec_req *x,
			       struct agent_error *err)
{
	struct json_object_iterator it, end;
	size_t i;

	if (!json_object_is_type(v, json_type_object))
		return proto_bad(err, "rlimits", "must be an object");
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *name = json_object_iter_peek_name(&it);
		struct json_object *val = json_object_iter_peek_value(&it);
		struct agent_rlimit *rl;
		int found = -1;

		for (i = 0; i < sizeof(proto_rlimit_names) / sizeof(proto_rlimit_names[0]); i++)
			if (strcmp(name, proto_rlimit_names[i].name) == 0)
				found = proto_rlimit_names[i].resource;
		if (found < 0) {
			agent_error_set(err, "EBADREQ", "rlimits", "unknown rlimit \"%.64s\"",
					name);
			return -1;
		}
		if (x->nrlimits >= AGENT_RLIMITS_MAX)
			return proto_bad(err, "rlimits", "has too many entries");
		rl = &x->rlimits[x->nrlimits];
		rl->resource = found;
		if (json_object_is_type(val, json_type_object)) {
			struct json_object *s = proto_member(val, "soft");
			struct json_object *h = proto_member(val, "hard");

			if (!s || !h || proto_rlim_value(s, &rl->lim.rlim_cur) < 0 ||
			    proto_rlim_value(h, &rl->lim.rlim_max) < 0)
				goto bad;
			if (rl->lim.rlim_cur > rl->lim.rlim_max) {
				agent_error_set(err, "EBADREQ", "rlimits",
						"rlimit \"%s\": soft exceeds hard", name);
				return -1;
			}
		} else {
			if (proto_rlim_value(val, &rl->lim.rlim_cur) < 0)
				goto bad;
			rl->lim.rlim_max = rl->lim.rlim_cur;
		}
		x->nrlimits++;
		continue;
	bad:
		agent_error_set(err, "EBADREQ", "rlimits",
				"rlimit \"%s\" must be a number, \"unlimited\" or {soft, hard}",
				name);
		return -1;
	}
	return 0;
}

static int proto_env_add(struct agent_exec_req *x, const char *k, size_t klen, const char *v,
			 size_t vlen, struct agent_error *err)
{
	char *s;

	if (x->nenv >= AGENT_ENV_MAX)
		return proto_bad(err, "env", "has too many entries");
	if (klen == 0 || memchr(k, '=', klen) || memchr(k, '\0', klen) || memchr(v, '\0', vlen)) {
		agent_error_set(err, "EBADREQ", "env",
				"env names must be non-empty without '=' or NUL");
		return -1;
	}
	s = malloc(klen + vlen + 2);
	if (!s) {
		agent_error_set(err, "ENOMEM", "env", "out of memory");
		return -1;
	}
	memcpy(s, k, klen);
	s[klen] = '=';
	memcpy(s + klen + 1, v, vlen);
	s[klen + 1 + vlen] = '\0';
	x->env[x->nenv++] = s;
	x->env[x->nenv] = NULL;
	return 0;
}

static int proto_parse_env(struct json_object *v, struct agent_exec_req *x, struct agent_error *err)
{
	size_t n, i;

	if (json_object_is_type(v, json_type_object)) {
		n = (size_t)json_object_object_length(v);
	} else if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
	} else {
		return proto_bad(err, "env", "must be an object or an array of \"K=V\"");
	}
	if (n > AGENT_ENV_MAX)
		return proto_bad(err, "env", "has too many entries");
	x->env = calloc(n + 1, sizeof(char *));
	if (!x->env) {
		agent_error_set(err, "ENOMEM", "env", "out of memory");
		return -1;
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val)
		{
			if (!json_object_is_type(val, json_type_string))
				return proto_bad(err, "env", "values must be strings");
			if (proto_env_add(x, key, strlen(key), json_object_get_string(val),
					  (size_t)json_object_get_string_len(val), err) < 0)
				return -1;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s, *eq;
		size_t len;

		if (!json_object_is_type(e, json_type_string))
			return proto_bad(err, "env", "entries must be \"K=V\" strings");
		s = json_object_get_string(e);
		len = (size_t)json_object_get_string_len(e);
		eq = memchr(s, '=', len);
		if (!eq)
			return proto_bad(err, "env", "entries must be \"K=V\" strings");
		if (proto_env_add(x, s, (size_t)(eq - s), eq + 1, len - (size_t)(eq - s) - 1, err) <
		    0)
			return -1;
	}
	return 0;
}

static int proto_parse_argv(struct json_object *v, struct agent_exec_req *x,
			    struct agent_error *err)
{
	size_t n, i;

	if (!v)
		return proto_bad(err, "argv", "is required");
	if (!json_object_is_type(v, json_type_array))
		return proto_bad(err, "argv", "must be an array of strings");
	n = json_object_array_length(v);
	if (n == 0)
		return proto_bad(err, "argv", "must not be empty");
	if (n > AGENT_ARGV_MAX)
		return proto_bad(err, "argv", "has too many entries");
	x->argv = calloc(n + 1, sizeof(char *));
	if (!x->argv) {
		agent_error_set(err, "ENOMEM", "argv", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s;

		if (!json_object_is_type(e, json_type_string))
			return proto_bad(err, "argv", "must be an array of strings");
		s = json_object_get_string(e);
		if (memchr(s, '\0', (size_t)json_object_get_string_len(e)))
			return proto_bad(err, "argv", "must not contain NUL");
		x->argv[i] = (char *)s;
	}
	if (!x->argv[0][0])
		return proto_bad(err, "argv", "must start with a program name");
	x->argc = n;
	return 0;
}

static int proto_parse_exec(struct json_object *msg, struct agent_exec_req *x,
			    struct agent_error *err)
{
	struct json_object *v;
	uint64_t u = 0;
	uint32_t id32 = 0;
	int present;

	if (proto_parse_argv(proto_member(msg, "argv"), x, err) < 0)
		return -1;
	v = proto_member(msg, "env");
	if (v && proto_parse_env(v, x, err) < 0)
		return -1;
	if (proto_get_path(msg, "cwd", 0, &x->cwd, err) < 0)
		return -1;
	if (proto_get_id_uint(msg, "uid", &id32, &x->has_uid, err) < 0)
		return -1;
	x->uid = id32;
	if (proto_get_id_uint(msg, "gid", &id32, &x->has_gid, err) < 0)
		return -1;
	x->gid = id32;
	v = proto_member(msg, "groups");
	if (v) {
		size_t i, n;

		if (!json_object_is_type(v, json_type_array))
			return proto_bad(err, "groups", "must be an array of integers");
		n = json_object_array_length(v);
		if (n > AGENT_GROUPS_MAX)
			return proto_bad(err, "groups", "has too many entries");
		for (i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int64_t g;

			if (!json_object_is_type(e, json_type_int))
				return proto_bad(err, "groups", "must be an array of integers");
			g = json_object_get_int64(e);
			if (g < 0 || g > AGENT_UID_MAX)
				return proto_bad(err, "groups", "holds an invalid gid");
			x->groups[i] = (gid_t)g;
		}
		x->ngroups = n;
		x->has_groups = 1;
	}
	if (proto_get_data(msg, "stdin", &x->stdin_data, &x->stdin_len, &x->has_stdin, err) < 0)
		return -1;
	if (proto_get_bool(msg, "stdin_stream", 0, &x->stdin_stream, err) < 0)
		return -1;
	if (x->has_stdin && x->stdin_stream)
		return proto_bad(err, "stdin_stream", "cannot be combined with \"stdin\"");
	if (proto_get_uint(msg, "timeout_ms", UINT64_MAX / 2, &x->timeout_ms, &present, err) < 0)
		return -1;
	if (proto_get_uint(msg, "output_cap", UINT64_MAX / 2, &u, &present, err) < 0)
		return -1;
	x->output_cap = present ? u : AGENT_OUTPUT_CAP;
	v = proto_member(msg, "rlimits");
	if (v && proto_parse_rlimits(v, x, err) < 0)
		return -1;
	v = proto_member(msg, "pty");
	if (v) {
		uint64_t rows = 0, cols = 0;
		int pr, pc;

		if (json_object_is_type(v, json_type_boolean)) {
			x->pty = json_object_get_boolean(v);
			x->rows = 24;
			x->cols = 80;
		} else if (json_object_is_type(v, json_type_object)) {
			if (proto_get_uint(v, "rows", 65535, &rows, &pr, err) < 0 ||
			    proto_get_uint(v, "cols", 65535, &cols, &pc, err) < 0)
				return -1;
			x->pty = 1;
			x->rows = pr ? (unsigned short)rows : 24;
			x->cols = pc ? (unsigned short)cols : 80;
			if (x->rows == 0 || x->cols == 0)
				return proto_bad(err, "pty", "rows and cols must be 1..65535");
		} else {
			return proto_bad(err, "pty", "must be an object {rows, cols}");
		}
	}
	return 0;
}

static int proto_parse_target(struct json_object *msg, struct agent_target_req *t,
			      struct agent_error *err)
{
	struct json_object *v = proto_member(msg, "target");

	if (!v)
		return proto_bad(err, "target", "is required");
	if (!proto_id_valid(v))
		return proto_bad(err, "target", "must be an exec's id (integer or string)");
	t->target = v;
	return 0;
}

static int proto_parse_stdin(struct json_object *msg, struct agent_target_req *t,
			     struct agent_error *err)
{
	int present;

	if (proto_parse_target(msg, t, err) < 0)
		return -1;
	if (proto_get_data(msg, "data", &t->data, &t->len, &present, err) < 0)
		return -1;
	return proto_get_bool(msg, "eof", 0, &t->eof, err);
}

static int proto_parse_signal(struct json_object *msg, struct agent_target_req *t,
			      struct agent_error *err)
{
	struct json_object *v;
	int s;

	if (proto_parse_target(msg, t, err) < 0)
		return -1;
	v = proto_member(msg, "signal");
	if (!v)
		return proto_bad(err, "signal", "is required");
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);

		s = n >= 1 && n < NSIG ? (int)n : -EINVAL;
	} else if (json_object_is_type(v, json_type_string)) {
		s = agent_proto_signal_number(json_object_get_string(v));
	} else {
		s = -EINVAL;
	}
	if (s < 0)
		return proto_bad(err, "signal", "must be a signal name or number");
	t->signo = s;
	return proto_get_bool(msg, "group", 1, &t->group, err);
}

static int proto_parse_resize(struct json_object *msg, struct agent_target_req *t,
			      struct agent_error *err)
{
	uint64_t rows = 0, cols = 0;
	int pr, pc;

	if (proto_parse_target(msg, t, err) < 0)
		return -1;
	if (proto_get_uint(msg, "rows", 65535, &rows, &pr, err) < 0 ||
	    proto_get_uint(msg, "cols", 65535, &cols, &pc, err) < 0)
		return -1;
	if (!pr || !pc || rows == 0 || cols == 0)
		return proto_bad(err, pr && rows ? "cols" : "rows", "must be 1..65535");
	t->rows = (unsigned short)rows;
	t->cols = (unsigned short)cols;
	return 0;
}

static int proto_parse_fs(struct json_object *msg, enum agent_op op, struct agent_fs_req *f,
			  struct agent_error *err)
{
	uint64_t u = 0;
	uint32_t id32 = 0;
	int present = 0, trunc_given = 0;

	if (op == AGENT_OP_FS_RENAME) {
		if (proto_get_path(msg, "from", 1, &f->path, err) < 0 ||
		    proto_get_path(msg, "to", 1, &f->to, err) < 0)
			return -1;
		return proto_get_bool(msg, "overwrite", 1, &f->overwrite, err);
	}
	if (proto_get_path(msg, "path", 1, &f->path, err) < 0)
		return -1;
	switch (op) {
	case AGENT_OP_FS_READ:
		if (proto_get_uint(msg, "offset", INT64_MAX, &f->offset, &f->has_offset, err) < 0 ||
		    proto_get_uint(msg, "length", INT64_MAX, &f->length, &f->has_length, err) < 0)
			return -1;
		return 0;
	case AGENT_OP_FS_WRITE:
		if (proto_get_data(msg, "data", &f->data, &f->len, &present, err) < 0)
			return -1;
		if (!present)
			return proto_bad(err, "data", "is required");
		if (proto_get_mode(msg, "mode", &f->mode, &f->has_mode, err) < 0 ||
		    proto_get_bool(msg, "create", 1, &f->create, err) < 0 ||
		    proto_get_bool(msg, "exclusive", 0, &f->exclusive, err) < 0 ||
		    proto_get_bool(msg, "append", 0, &f->append, err) < 0 ||
		    proto_get_bool(msg, "parents", 0, &f->parents, err) < 0 ||
		    proto_get_uint(msg, "offset", INT64_MAX, &f->offset, &f->has_offset, err) < 0)
			return -1;
		if (f->append && f->has_offset)
			return proto_bad(err, "offset", "cannot be combined with \"append\"");
		trunc_given = proto_member(msg, "truncate") != NULL;
		if (proto_get_bool(msg, "truncate", !f->append && !f->has_offset, &f->truncate,
				   err) < 0)
			return -1;
		if (trunc_given && f->truncate && f->append)
			return proto_bad(err, "truncate", "cannot be combined with \"append\"");
		if (proto_get_id_uint(msg, "uid", &id32, &f->has_uid, err) < 0)
			return -1;
		f->uid = id32;
		if (proto_get_id_uint(msg, "gid", &id32, &f->has_gid, err) < 0)
			return -1;
		f->gid = id32;
		if (!f->has_mode)
			f->mode = 0644;
		return 0;
	case AGENT_OP_FS_STAT:
		return proto_get_bool(msg, "follow", 0, &f->follow, err);
	case AGENT_OP_FS_LIST:
		if (proto_get_uint(msg, "limit", AGENT_FS_LIST_LIMIT, &u, &present, err) < 0)
			return -1;
		f->limit = present ? u : AGENT_FS_LIST_LIMIT;
		return 0;
	case AGENT_OP_FS_MKDIR:
		if (proto_get_bool(msg, "parents", 0, &f->parents, err) < 0 ||
		    proto_get_mode(msg, "mode", &f->mode, &f->has_mode, err) < 0)
			return -1;
		if (!f->has_mode)
			f->mode = 0755;
		return 0;
	case AGENT_OP_FS_REMOVE:
		return proto_get_bool(msg, "recursive", 0, &f->recursive, err);
	default:
		return 0;
	}
}

/* --- entry points ---------------------------------------------------------------- */

static const struct {
	const char *name;
	enum agent_op op;
} proto_ops[] = {
	{ "hello", AGENT_OP_HELLO },
	{ "exec", AGENT_OP_EXEC },
	{ "stdin", AGENT_OP_STDIN },
	{ "signal", AGENT_OP_SIGNAL },
	{ "resize", AGENT_OP_RESIZE },
	{ "fs.read", AGENT_OP_FS_READ },
	{ "fs.write", AGENT_OP_FS_WRITE },
	{ "fs.stat", AGENT_OP_FS_STAT },
	{ "fs.list", AGENT_OP_FS_LIST },
	{ "fs.mkdir", AGENT_OP_FS_MKDIR },
	{ "fs.remove", AGENT_OP_FS_REMOVE },
	{ "fs.rename", AGENT_OP_FS_RENAME },
	{ "shutdown", AGENT_OP_SHUTDOWN },
	{ "browser.open", AGENT_OP_BROWSER_OPEN },
	{ "browser.navigate", AGENT_OP_BROWSER_NAVIGATE },
	{ "browser.snapshot", AGENT_OP_BROWSER_SNAPSHOT },
	{ "browser.click", AGENT_OP_BROWSER_CLICK },
	{ "browser.fill", AGENT_OP_BROWSER_FILL },
	{ "browser.select", AGENT_OP_BROWSER_SELECT },
	{ "browser.press", AGENT_OP_BROWSER_PRESS },
	{ "browser.screenshot", AGENT_OP_BROWSER_SCREENSHOT },
	{ "browser.evaluate", AGENT_OP_BROWSER_EVALUATE },
	{ "browser.back", AGENT_OP_BROWSER_BACK },
	{ "browser.tabs", AGENT_OP_BROWSER_TABS },
	{ "browser.close", AGENT_OP_BROWSER_CLOSE },
	{ "browser.list", AGENT_OP_BROWSER_LIST },
};

int agent_proto_parse(struct json_object *msg, struct agent_request *req, struct agent_error *err)
{
	struct json_object *id, *opv;
	const char *op;
	size_t i;

	memset(req, 0, sizeof(*req));
	if (!json_object_is_type(msg, json_type_object)) {
		agent_error_set(err, "EBADREQ", NULL, "a request must be a JSON object");
		return -1;
	}
	id = proto_member(msg, "id");
	if (!id)
		return proto_bad(err, "id", "is required");
	if (!proto_id_valid(id))
		return proto_bad(err, "id", "must be an integer or a string of 1..256 bytes");
	req->id = id;
	opv = proto_member(msg, "op");
	if (!opv)
		return proto_bad(err, "op", "is required");
	if (!json_object_is_type(opv, json_type_string))
		return proto_bad(err, "op", "must be a string");
	op = json_object_get_string(opv);
	for (i = 0; i < sizeof(proto_ops) / sizeof(proto_ops[0]); i++)
		if (strcmp(op, proto_ops[i].name) == 0)
			break;
	if (i == sizeof(proto_ops) / sizeof(proto_ops[0])) {
		agent_error_set(err, "EUNKNOWNOP", "op", "unknown op \"%.64s\"", op);
		return -1;
	}
	req->op = proto_ops[i].op;
	req->op_name = proto_ops[i].name;
	switch (req->op) {
	case AGENT_OP_HELLO:
	case AGENT_OP_SHUTDOWN:
		return 0;
	case AGENT_OP_EXEC:
		return proto_parse_exec(msg, &req->exec, err);
	case AGENT_OP_STDIN:
		return proto_parse_stdin(msg, &req->target, err);
	case AGENT_OP_SIGNAL:
		return proto_parse_signal(msg, &req->target, err);
	case AGENT_OP_RESIZE:
		return proto_parse_resize(msg, &req->target, err);
	default:
		if (AGENT_OP_IS_BROWSER(req->op))
			return browser_req_parse(msg, req->op, &req->browser, err);
		return proto_parse_fs(msg, req->op, &req->fs, err);
	}
}

void agent_proto_request_clear(struct agent_request *req)
{
	size_t i;

	free(req->exec.argv);
	if (req->exec.env)
		for (i = 0; i < req->exec.nenv; i++)
			free(req->exec.env[i]);
	free(req->exec.env);
	free(req->exec.stdin_data);
	free(req->target.data);
	free(req->fs.data);
	browser_req_clear(&req->browser);
	memset(req, 0, sizeof(*req));
}

/* --- messages ---------------------------------------------------------------------- */

static struct json_object *proto_message(struct json_object *id)
{
	struct json_object *m = json_object_new_object();

	if (!m)
		return NULL;
	json_object_object_add(m, "id", id ? json_object_get(id) : NULL);
	return m;
}

struct json_object *agent_proto_reply_ok(struct json_object *id, struct json_object *result)
{
	struct json_object *m = proto_message(id);

	if (!result)
		result = json_object_new_object();
	if (!m || !result) {
		json_object_put(m);
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(m, "ok", json_object_new_boolean(1));
	json_object_object_add(m, "result", result);
	return m;
}

struct json_object *agent_proto_reply_error(struct json_object *id, const struct agent_error *err)
{
	struct json_object *m = proto_message(id), *e = json_object_new_object();

	if (!m || !e) {
		json_object_put(m);
		json_object_put(e);
		return NULL;
	}
	json_object_object_add(m, "ok", json_object_new_boolean(0));
	json_object_object_add(e, "code", json_object_new_string(err->code ? err->code : "EIO"));
	json_object_object_add(e, "message",
			       json_util_new_string_lossy(err->message, strlen(err->message)));
	if (err->path[0])
		json_object_object_add(e, "path",
				       json_util_new_string_lossy(err->path, strlen(err->path)));
	if (err->field)
		json_object_object_add(e, "field",
				       json_util_new_string_lossy(err->field, strlen(err->field)));
	json_object_object_add(m, "error", e);
	return m;
}

struct json_object *agent_proto_event(struct json_object *id, const char *name)
{
	struct json_object *m = proto_message(id);

	if (m)
		json_object_object_add(m, "event", json_object_new_string(name));
	return m;
}
