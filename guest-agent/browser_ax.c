#include "guest-agent/browser_ax.h"

#include "common/json_util.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AX_NAME_MAX	   300	/* bytes of a name or value shown */
#define AX_TEXT_MAX	   2000 /* bytes of one text line */
#define AX_TEXTONLY_BUDGET 4096 /* nodes looked at to decide "only text below" */
#define AX_NEST_MAX	   (4 * BROWSER_AX_DEPTH_MAX) /* ax_emit() frames at most */
#define AX_URL_MAX	   500

struct ax_node {
	struct json_object *o;
	const char *id;
	size_t idlen;
	const char *role;
	const char *name;
	size_t namelen;
	struct json_object *children; /* array or NULL */
	int ignored;
	int visited;
};

struct ax_buf {
	char *s;
	size_t len, cap;
	int failed;
};

struct ax_ctx {
	struct ax_node *nodes;
	size_t n;
	uint32_t *slots; /* hash of node ids: index + 1, 0 = empty */
	size_t nslots;
	struct ax_buf out;
	struct ax_buf run; /* text waiting to be written as one line */
	int run_depth, run_space;
	size_t max;
	int truncated, full;
	int nest; /* ax_emit() frames on the stack */
	uint32_t *refs;
	size_t nrefs, refcap;
};

/* --- small buffers ------------------------------------------------------------ */

static void ax_buf_add(struct ax_buf *b, const char *s, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void ax_buf_str(struct ax_buf *b, const char *s)
{
	ax_buf_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) ax_buf_fmt(struct ax_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		ax_buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Length of the longest prefix of s[0..n) that is at most max bytes and
 * does not end inside a UTF-8 sequence. */
static size_t ax_utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* Append s[0..n) with whitespace runs collapsed to one space and control
 * characters dropped; quote escapes '"' and '\\'. At most max bytes of s.
 * *space carries a pending space between calls; none is written at floor
 * (the start of the field). */
static void ax_buf_clean(struct ax_buf *b, size_t floor, int *space, const char *s, size_t n,
			 size_t max, int quote)
{
	size_t i, cut = ax_utf8_cut(s, n, max);

	for (i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			*space = 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			continue;
		if (*space && b->len > floor)
			ax_buf_add(b, " ", 1);
		*space = 0;
		if (quote && (c == '"' || c == '\\'))
			ax_buf_add(b, "\\", 1);
		if (c >= 0x80) {
			/* Whole, well-formed UTF-8 sequences only. */
			size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

			if (len == 0 || i + len > cut || !json_util_utf8_valid(s + i, len)) {
				ax_buf_str(b, "\xef\xbf\xbd"); /* U+FFFD */
				continue;
			}
			ax_buf_add(b, s + i, len);
			i += len - 1;
			continue;
		}
		ax_buf_add(b, (const char *)&s[i], 1);
	}
	if (cut < n)
		ax_buf_str(b, "\xe2\x80\xa6"); /* … */
}

/* A field of its own: no leading or trailing space. */
static void ax_buf_field(struct ax_buf *b, const char *s, size_t n, size_t max, int quote)
{
	int space = 0;

	ax_buf_clean(b, b->len, &space, s, n, max, quote);
}

/* --- node access ----------------------------------------------------------------- */

static uint64_t ax_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct ax_node *ax_find(struct ax_ctx *c, const char *id, size_t len)
{
	size_t i = (size_t)ax_hash(id, len) & (c->nslots - 1);

	while (c->slots[i]) {
		struct ax_node *nd = &c->nodes[c->slots[i] - 1];

		if (nd->idlen == len && memcmp(nd->id, id, len) == 0)
			return nd;
		i = (i + 1) & (c->nslots - 1);
	}
	return NULL;
}

static struct json_object *ax_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* {"type":..., "value": X} -> X */
static struct json_object *ax_value_of(struct json_object *o, const char *key)
{
	struct json_object *v = ax_member(o, key);

	return json_object_is_type(v, json_type_object) ? ax_member(v, "value") : NULL;
}

static const char *ax_string(struct json_object *v, size_t *len)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* The property name's value object, or NULL. */
static struct json_object *ax_prop(struct ax_node *nd, const char *name)
{
	struct json_object *props = ax_member(nd->o, "properties");
	size_t i, n;

	if (!json_object_is_type(props, json_type_array))
		return NULL;
	n = json_object_array_length(props);
	for (i = 0; i < n && i < 64; i++) {
		struct json_object *p = json_object_array_get_idx(props, i);
		struct json_object *pn = ax_member(p, "name");

		if (json_object_is_type(pn, json_type_string) &&
		    strcmp(json_object_get_string(pn), name) == 0)
			return ax_value_of(p, "value");
	}
	return NULL;
}

/* A property that is true (boolean true, or the string "true"). */
static int ax_prop_true(struct ax_node *nd, const char *name)
{
	struct json_object *v = ax_prop(nd, name);

	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v);
	return json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), "true") == 0;
}

static int ax_role_in(const char *role, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(role, *list) == 0)
			return 1;
	return 0;
}

static const char *const ax_skipped[] = { "InlineTextBox", "ListMarker", "LineBreak", NULL };
static const char *const ax_transparent[] = { "generic",     "none",	"presentation",
					      "LabelText",   "Section", "MenuListPopup",
					      "RootWebArea", "WebArea", NULL };
static const char *const ax_interactive[] = {
	"button",   "link",	"textbox",   "searchbox",  "checkbox",	       "radio",
	"combobox", "listbox",	"option",    "menuitem",   "menuitemcheckbox", "menuitemradio",
	"tab",	    "switch",	"slider",    "spinbutton", "treeitem",	       "ColorWell",
	"Date",	    "DateTime", "InputTime", NULL
};
/* Roles whose children only repeat their value. */
static const char *const ax_leaf[] = { "textbox", "searchbox", "spinbutton", "slider", NULL };

static uint32_t ax_backend_id(struct ax_node *nd)
{
	struct json_object *v = ax_member(nd->o, "backendDOMNodeId");
	int64_t id;

	if (!json_object_is_type(v, json_type_int))
		return 0;
	id = json_object_get_int64(v);
	return id > 0 && id <= 0x7fffffff ? (uint32_t)id : 0;
}

/* --- rendering ----------------------------------------------------------------------- */

static void ax_indent(struct ax_ctx *c, int depth)
{
	int i;

	for (i = 0; i < depth; i++)
		ax_buf_add(&c->out, "  ", 2);
}

/* A line was written from line_start: undo it if it broke the size limit. */
static void ax_line_done(struct ax_ctx *c, size_t line_start)
{
	if (!c->max || c->out.len <= c->max)
		return;
	c->out.len = line_start;
	if (c->out.s)
		c->out.s[c->out.len] = '\0';
	c->truncated = 1;
	c->full = 1;
}

/* Write the pending text run as a "- text: ..." line. */
static void ax_flush_run(struct ax_ctx *c)
{
	size_t start = c->out.len;

	c->run_space = 0;
	if (c->run.len == 0 || c->full) {
		c->run.len = 0;
		return;
	}
	ax_indent(c, c->run_depth);
	ax_buf_str(&c->out, "- text: ");
	ax_buf_add(&c->out, c->run.s, c->run.len);
	ax_buf_add(&c->out, "\n", 1);
	c->run.len = 0;
	ax_line_done(c, start);
}

static void ax_add_text(struct ax_ctx *c, struct ax_node *nd, int depth)
{
	if (c->run.len > 0 && c->run_depth != depth)
		ax_flush_run(c);
	c->run_depth = depth;
	if (c->run.len < AX_TEXT_MAX)
		ax_buf_clean(&c->run, 0, &c->run_space, nd->name, nd->namelen,
			     AX_TEXT_MAX - c->run.len, 0);
}

static struct ax_node *ax_child(struct ax_ctx *c, struct ax_node *nd, size_t i)
{
	struct json_object *ch = json_object_array_get_idx(nd->children, i);
	const char *id;
	size_t len;

	id = ax_string(ch, &len);
	return id ? ax_find(c, id, len) : NULL;
}

static size_t ax_nchildren(struct ax_node *nd)
{
	return nd->children ? json_object_array_length(nd->children) : 0;
}

/* Interactive or focusable elements get a ref (the page itself does not). */
static int ax_wants_ref(struct ax_node *nd)
{
	return !nd->ignored && ax_backend_id(nd) && strcmp(nd->role, "RootWebArea") != 0 &&
	       (ax_role_in(nd->role, ax_interactive) || ax_prop_true(nd, "focusable"));
}

/* Nodes that are not shown themselves: their children take their place. */
static int ax_passes_through(struct ax_node *nd)
{
	if (nd->ignored || strcmp(nd->role, "RootWebArea") == 0)
		return 1;
	return ax_role_in(nd->role, ax_transparent) && nd->namelen == 0 && !ax_wants_ref(nd);
}

/* True when everything below nd (through pass-through nodes) is text. */
static int ax_text_only(struct ax_ctx *c, struct ax_node *nd, int *budget, int depth)
{
	size_t i, n = ax_nchildren(nd);

	for (i = 0; i < n; i++) {
		struct ax_node *ch = ax_child(c, nd, i);

		if (!ch || ax_role_in(ch->role, ax_skipped))
			continue;
		if (--*budget < 0 || depth > 32)
			return 0;
		if (strcmp(ch->role, "StaticText") == 0 && !ch->ignored)
			continue;
		if (!ax_passes_through(ch) || !ax_text_only(c, ch, budget, depth + 1))
			return 0;
	}
	return 1;
}

static void ax_emit(struct ax_ctx *c, struct ax_node *nd, int depth, int text_mode);

static void ax_emit_children(struct ax_ctx *c, struct ax_node *nd, int depth, int text_mode)
{
	size_t i, n = ax_nchildren(nd);

	for (i = 0; i < n && !c->full; i++) {
		struct ax_node *ch = ax_child(c, nd, i);

		if (ch)
			ax_emit(c, ch, depth, text_mode);
	}
}

static void ax_attrs(struct ax_ctx *c, struct ax_node *nd)
{
	struct json_object *v;

	if (strcmp(nd->role, "heading") == 0 && (v = ax_prop(nd, "level")) &&
	    json_object_is_type(v, json_type_int))
		ax_buf_fmt(&c->out, " [level=%d]", (int)json_object_get_int64(v));
	v = ax_prop(nd, "checked");
	if (v && json_object_is_type(v, json_type_string)) {
		if (strcmp(json_object_get_string(v), "true") == 0)
			ax_buf_str(&c->out, " [checked]");
		else if (strcmp(json_object_get_string(v), "mixed") == 0)
			ax_buf_str(&c->out, " [checked=mixed]");
	} else if (v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v)) {
		ax_buf_str(&c->out, " [checked]");
	}
	if (ax_prop_true(nd, "pressed"))
		ax_buf_str(&c->out, " [pressed]");
	if (ax_prop_true(nd, "selected"))
		ax_buf_str(&c->out, " [selected]");
	if (ax_prop_true(nd, "expanded"))
		ax_buf_str(&c->out, " [expanded]");
	if (ax_prop_true(nd, "disabled"))
		ax_buf_str(&c->out, " [disabled]");
	if (ax_prop_true(nd, "required"))
		ax_buf_str(&c->out, " [required]");
	if (ax_prop_true(nd, "focused"))
		ax_buf_str(&c->out, " [focused]");
}

static void ax_url(struct ax_ctx *c, struct ax_node *nd)
{
	const char *s;
	size_t len;

	if (strcmp(nd->role, "link") == 0 && (s = ax_string(ax_prop(nd, "url"), &len)) && len) {
		ax_buf_str(&c->out, " [url=");
		ax_buf_field(&c->out, s, len, AX_URL_MAX, 0);
		ax_buf_str(&c->out, "]");
	}
}

static void ax_add_ref(struct ax_ctx *c, uint32_t id)
{
	if (c->nrefs == c->refcap) {
		size_t cap = c->refcap ? c->refcap * 2 : 64;
		uint32_t *r = realloc(c->refs, cap * sizeof(*r));

		if (!r) {
			c->out.failed = 1;
			return;
		}
		c->refs = r;
		c->refcap = cap;
	}
	c->refs[c->nrefs++] = id;
}

static void ax_emit_node(struct ax_ctx *c, struct ax_node *nd, int depth, int text_mode)
{
	struct json_object *val;
	const char *vs = NULL;
	size_t vlen = 0, line_start;
	uint32_t backend;
	int budget = AX_TEXTONLY_BUDGET, ref, inline_children = 0;

again:
	if (nd->visited || c->full || ax_role_in(nd->role, ax_skipped))
		return;
	nd->visited = 1;
	if (depth > BROWSER_AX_DEPTH_MAX) {
		c->truncated = 1;
		return;
	}
	if (strcmp(nd->role, "StaticText") == 0 && !nd->ignored) {
		ax_add_text(c, nd, depth);
		return;
	}
	if (text_mode || ax_passes_through(nd)) {
		/* A chain of wrappers with one child each (a page can nest
		 * thousands) is walked in a loop, not on the stack. */
		if (ax_nchildren(nd) == 1 && ax_child(c, nd, 0)) {
			nd = ax_child(c, nd, 0);
			goto again;
		}
		ax_emit_children(c, nd, depth, text_mode);
		return;
	}
	ref = ax_wants_ref(nd);
	backend = ax_backend_id(nd);

	ax_flush_run(c);
	if (c->full)
		return;
	line_start = c->out.len;
	ax_indent(c, depth);
	ax_buf_str(&c->out, "- ");
	ax_buf_field(&c->out, nd->role, strlen(nd->role), 64, 0);
	if (nd->namelen) {
		ax_buf_str(&c->out, " \"");
		ax_buf_field(&c->out, nd->name, nd->namelen, AX_NAME_MAX, 1);
		ax_buf_str(&c->out, "\"");
	}
	ax_attrs(c, nd);
	if (ref) {
		ax_buf_fmt(&c->out, " [ref=e%u]", backend);
		ax_add_ref(c, backend);
	}
	ax_url(c, nd);
	val = ax_value_of(nd->o, "value");
	if (json_object_is_type(val, json_type_string)) {
		vs = ax_string(val, &vlen);
	} else if (json_object_is_type(val, json_type_int) ||
		   json_object_is_type(val, json_type_double)) {
		vs = json_object_get_string(val);
		vlen = strlen(vs);
	}
	if (ax_role_in(nd->role, ax_leaf)) {
		/* The children only repeat the value. */
		inline_children = 1;
	} else if (ax_text_only(c, nd, &budget, 0)) {
		/* "- link \"Next\"", "- listitem: one" */
		inline_children = 1;
		ax_emit_children(c, nd, depth + 1, 1);
		c->run_space = 0;
		if (c->run.len &&
		    !(c->run.len == nd->namelen && memcmp(c->run.s, nd->name, nd->namelen) == 0)) {
			vs = c->run.s;
			vlen = c->run.len;
		}
	}
	if (vlen && (inline_children || ax_nchildren(nd) == 0)) {
		ax_buf_str(&c->out, ": ");
		ax_buf_field(&c->out, vs, vlen, vs == c->run.s ? AX_TEXT_MAX : AX_NAME_MAX, 0);
	}
	c->run.len = 0;
	if (inline_children || ax_nchildren(nd) == 0) {
		ax_buf_add(&c->out, "\n", 1);
		ax_line_done(c, line_start);
		return;
	}
	ax_buf_str(&c->out, ":\n");
	ax_line_done(c, line_start);
	ax_emit_children(c, nd, depth + 1, 0);
	ax_flush_run(c);
}

/* --- entry points -------------------------------------------------------------------- */

/* Every recursion goes through here: wrappers with several children do not
 * add to the displayed depth, so the stack is bounded separately. */
static void ax_emit(struct ax_ctx *c, struct ax_node *nd, int depth, int text_mode)
{
	if (c->nest >= AX_NEST_MAX) {
		c->truncated = 1;
		return;
	}
	c->nest++;
	ax_emit_node(c, nd, depth, text_mode);
	c->nest--;
}
static int ax_index(struct ax_ctx *c, struct json_object *arr)
{
	size_t i, total = json_object_array_length(arr);

	c->n = total < BROWSER_AX_NODES_MAX ? total : BROWSER_AX_NODES_MAX;
	if (total > c->n)
		c->truncated = 1;
	c->nodes = calloc(c->n ? c->n : 1, sizeof(*c->nodes));
	for (c->nslots = 16; c->nslots < c->n * 2; c->nslots *= 2)
		;
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	if (!c->nodes || !c->slots)
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		struct ax_node *nd = &c->nodes[i];
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct json_object *v;
		size_t h;

		nd->o = o;
		nd->role = "none";
		if (!json_object_is_type(o, json_type_object))
			continue;
		v = ax_value_of(o, "role");
		if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
			nd->role = json_object_get_string(v);
		nd->name = ax_string(ax_value_of(o, "name"), &nd->namelen);
		if (!nd->name) {
			nd->name = "";
			nd->namelen = 0;
		}
		v = ax_member(o, "ignored");
		nd->ignored =
			json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		v = ax_member(o, "childIds");
		nd->children = json_object_is_type(v, json_type_array) ? v : NULL;
		nd->id = ax_string(ax_member(o, "nodeId"), &nd->idlen);
		if (!nd->id || ax_find(c, nd->id, nd->idlen))
			continue; /* no id, or a duplicate: unreachable as a child */
		h = (size_t)ax_hash(nd->id, nd->idlen) & (c->nslots - 1);
		while (c->slots[h])
			h = (h + 1) & (c->nslots - 1);
		c->slots[h] = (uint32_t)i + 1;
	}
	return 0;
}

int browser_ax_render(struct json_object *result, size_t max_chars, struct browser_ax_out *out)
{
	struct ax_ctx c = { .max = max_chars };
	struct json_object *arr = ax_member(result, "nodes");
	size_t i, root = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(arr, json_type_array))
		return -EBADMSG;
	r = ax_index(&c, arr);
	if (r < 0)
		goto fail;
	/* The root: the first node without a parent. */
	for (i = 0; i < c.n; i++)
		if (json_object_is_type(c.nodes[i].o, json_type_object) &&
		    !ax_member(c.nodes[i].o, "parentId")) {
			root = i;
			break;
		}
	if (c.n > 0)
		ax_emit(&c, &c.nodes[root], 0, 0);
	ax_flush_run(&c);
	if (c.out.failed || c.run.failed) {
		r = -ENOMEM;
		goto fail;
	}
	if (c.truncated)
		ax_buf_str(&c.out, "- \xe2\x80\xa6 (snapshot truncated)\n");
	if (c.out.failed) {
		r = -ENOMEM;
		goto fail;
	}
	if (!c.out.s) {
		/* An empty page still gets a string. */
		c.out.s = strdup("");
		if (!c.out.s) {
			r = -ENOMEM;
			goto fail;
		}
	}
	out->text = c.out.s;
	out->len = c.out.len;
	out->refs = c.refs;
	out->nrefs = c.nrefs;
	out->truncated = c.truncated;
	free(c.nodes);
	free(c.slots);
	free(c.run.s);
	return 0;
fail:
	free(c.nodes);
	free(c.slots);
	free(c.run.s);
	free(c.out.s);
	free(c.refs);
	return r;
}

void browser_ax_out_free(struct browser_ax_out *out)
{
	if (!out)
		return;
	free(out->text);
	free(out->refs);
	memset(out, 0, sizeof(*out));
}
