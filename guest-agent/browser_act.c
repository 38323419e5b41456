/* The browser.* operations on one element, named by a snapshot ref or a CSS
 * selector: click, fill, select, press; and the key names press takes. */
#include "guest-agent/browser_act.h"

#include "guest-agent/agent_proto.h"
#include "guest-agent/browser_ops.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	ACT_RESOLVE_REF = 1,
	ACT_RESOLVE_SELECTOR,
	ACT_PREPARE,
	ACT_MOUSE,
	ACT_DOM_CLICK,
	ACT_FILL,
	ACT_SELECT,
	ACT_FOCUS,
	ACT_KEY,
};

#define ACT_GROUP "agentvm"

/* Functions run with the element as `this` (Runtime.callFunctionOn). */
static const char act_js_prepare[] =
	"function() {"
	" if (!this.isConnected) return {error: 'detached'};"
	" if (this.disabled === true) return {error: 'disabled'};"
	" this.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});"
	" const r = this.getBoundingClientRect();"
	" if (!(r.width > 0 && r.height > 0)) return {hidden: true};"
	" const x = r.left + r.width / 2, y = r.top + r.height / 2;"
	" const hit = document.elementFromPoint(x, y);"
	" return {x: x, y: y, hit: !!hit && (hit === this || this.contains(hit))};"
	"}";

static const char act_js_click[] = "function() { this.click(); return true; }";

static const char act_js_fill[] =
	"function(v) {"
	" const el = this;"
	" if (!el.isConnected) return 'detached';"
	" if (el.disabled === true) return 'disabled';"
	" if (el.readOnly === true) return 'readonly';"
	" const tag = el.tagName;"
	" el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});"
	" el.focus();"
	" if (tag === 'INPUT') {"
	"  const t = (el.type || 'text').toLowerCase();"
	"  if (['checkbox', 'radio', 'file', 'submit', 'button', 'reset', 'image', 'hidden',"
	"       'range', 'color'].includes(t)) return 'type ' + t;"
	"  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, v);"
	"  if (el.value !== v && v !== '') return 'rejected';"
	" } else if (tag === 'TEXTAREA') {"
	"  Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set.call(el, v);"
	" } else if (el.isContentEditable) {"
	"  el.textContent = v;"
	" } else return 'tag ' + tag.toLowerCase();"
	" el.dispatchEvent(new Event('input', {bubbles: true}));"
	" el.dispatchEvent(new Event('change', {bubbles: true}));"
	" return 'ok';"
	"}";

static const char act_js_select[] =
	"function(vals) {"
	" if (this.tagName !== 'SELECT') return {error: 'not a <select> but <' +"
	"  this.tagName.toLowerCase() + '>'};"
	" if (this.disabled) return {error: 'the element is disabled'};"
	" const opts = Array.from(this.options), chosen = [];"
	" for (const v of vals) {"
	"  const o = opts.find(o => o.value === v) ||"
	"   opts.find(o => o.label === v || o.text.trim() === v);"
	"  if (!o) return {error: 'no option matches ' + JSON.stringify(v)};"
	"  chosen.push(o);"
	" }"
	" if (!this.multiple && chosen.length > 1)"
	"  return {error: 'the <select> takes one value'};"
	" for (const o of opts) o.selected = chosen.includes(o);"
	" this.dispatchEvent(new Event('input', {bubbles: true}));"
	" this.dispatchEvent(new Event('change', {bubbles: true}));"
	" return {selected: chosen.map(o => o.value)};"
	"}";

static const char act_js_focus[] = "function() { this.focus(); return true; }";

/* --- keys ------------------------------------------------------------------------------------- */

static const struct {
	const char *name, *key, *code, *text;
	int vk;
} act_keys[] = {
	{ "Enter", "Enter", "Enter", "\r", 13 },
	{ "Tab", "Tab", "Tab", NULL, 9 },
	{ "Escape", "Escape", "Escape", NULL, 27 },
	{ "Esc", "Escape", "Escape", NULL, 27 },
	{ "Backspace", "Backspace", "Backspace", NULL, 8 },
	{ "Delete", "Delete", "Delete", NULL, 46 },
	{ "Insert", "Insert", "Insert", NULL, 45 },
	{ "ArrowLeft", "ArrowLeft", "ArrowLeft", NULL, 37 },
	{ "ArrowUp", "ArrowUp", "ArrowUp", NULL, 38 },
	{ "ArrowRight", "ArrowRight", "ArrowRight", NULL, 39 },
	{ "ArrowDown", "ArrowDown", "ArrowDown", NULL, 40 },
	{ "Home", "Home", "Home", NULL, 36 },
	{ "End", "End", "End", NULL, 35 },
	{ "PageUp", "PageUp", "PageUp", NULL, 33 },
	{ "PageDown", "PageDown", "PageDown", NULL, 34 },
	{ "Space", " ", "Space", " ", 32 },
	{ " ", " ", "Space", " ", 32 },
	{ "Shift", "Shift", "ShiftLeft", NULL, 16 },
	{ "Control", "Control", "ControlLeft", NULL, 17 },
	{ "Alt", "Alt", "AltLeft", NULL, 18 },
	{ "Meta", "Meta", "MetaLeft", NULL, 91 },
};

static const struct {
	const char *name;
	int bit, index; /* index: the modifier key in act_keys */
} act_mods[] = {
	{ "Alt", 1, 19 },  { "Control", 2, 18 }, { "Ctrl", 2, 18 },
	{ "Meta", 4, 20 }, { "Cmd", 4, 20 },	 { "Shift", 8, 17 },
};

/* The number of bytes of the UTF-8 character at s, or 0 if s is not one
 * whole character. */
static size_t act_one_char(const char *s)
{
	unsigned char c = (unsigned char)s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 0;
	return s[n] == '\0' ? n : 0;
}

int browser_act_parse_key(const char *spec, struct browser_key *k)
{
	const char *rest = spec, *plus;
	size_t i, n;

	memset(k, 0, sizeof(*k));
	/* Modifier prefixes: "Control+Shift+a"; a lone "+" is a key. */
	while ((plus = strchr(rest, '+')) && plus != rest && plus[1]) {
		for (i = 0; i < sizeof(act_mods) / sizeof(act_mods[0]); i++)
			if (strlen(act_mods[i].name) == (size_t)(plus - rest) &&
			    strncasecmp(rest, act_mods[i].name, (size_t)(plus - rest)) == 0)
				break;
		if (i == sizeof(act_mods) / sizeof(act_mods[0]))
			return -EINVAL;
		if (!(k->modifiers & act_mods[i].bit) && k->nmods < 4)
			k->mods[k->nmods++] = act_mods[i].index;
		k->modifiers |= act_mods[i].bit;
		rest = plus + 1;
	}
	for (i = 0; i < sizeof(act_keys) / sizeof(act_keys[0]); i++)
		if (strcasecmp(rest, act_keys[i].name) == 0) {
			snprintf(k->key, sizeof(k->key), "%s", act_keys[i].key);
			snprintf(k->code, sizeof(k->code), "%s", act_keys[i].code);
			if (act_keys[i].text)
				snprintf(k->text, sizeof(k->text), "%s", act_keys[i].text);
			k->vk = act_keys[i].vk;
			goto done;
		}
	if (rest[0] == 'F' && rest[1] >= '1' && rest[1] <= '9' &&
	    (rest[2] == '\0' || (rest[1] == '1' && rest[2] >= '0' && rest[2] <= '2' && !rest[3]))) {
		int f = atoi(rest + 1);

		snprintf(k->key, sizeof(k->key), "F%d", f);
		snprintf(k->code, sizeof(k->code), "F%d", f);
		k->vk = 111 + f;
		goto done;
	}
	n = act_one_char(rest);
	if (n == 0)
		return -EINVAL;
	memcpy(k->key, rest, n);
	memcpy(k->text, rest, n);
	if ((rest[0] >= 'a' && rest[0] <= 'z') || (rest[0] >= 'A' && rest[0] <= 'Z')) {
		snprintf(k->code, sizeof(k->code), "Key%c", rest[0] & ~0x20);
		k->vk = rest[0] & ~0x20;
	} else if (rest[0] >= '0' && rest[0] <= '9') {
		snprintf(k->code, sizeof(k->code), "Digit%c", rest[0]);
		k->vk = rest[0];
	}
done:
	/* Shortcuts type nothing. */
	if (k->modifiers & (1 | 2 | 4))
		k->text[0] = '\0';
	return 0;
}

/* --- resolving the element ---------------------------------------------------------------------- */

static void act_resolve(struct browser_op *op)
{
	struct json_object *p = json_object_new_object(), *sel;
	char expr[BROWSER_SELECTOR_MAX * 6 + 64];

	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "objectGroup", json_object_new_string(ACT_GROUP));
	if (op->req.ref) {
		if (!browser_session_has_ref(op->s, (uint32_t)op->req.ref_node)) {
			json_object_put(p);
			browser_op_fail(op, "ENOREF",
					"ref %s is not one browser.snapshot gave on this session",
					op->req.ref);
			return;
		}
		json_object_object_add(p, "backendNodeId",
				       json_object_new_int64((int64_t)op->req.ref_node));
		browser_cmd(op, ACT_RESOLVE_REF, "DOM.resolveNode", p, 1);
		return;
	}
	sel = json_object_new_string(op->req.selector);
	if (!sel) {
		json_object_put(p);
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	/* The selector travels as a JSON string literal, never as code. */
	snprintf(expr, sizeof(expr), "document.querySelector(%s)",
		 json_object_to_json_string_ext(sel, JSON_C_TO_STRING_PLAIN));
	json_object_put(sel);
	json_object_object_add(p, "expression", json_object_new_string(expr));
	browser_cmd(op, ACT_RESOLVE_SELECTOR, "Runtime.evaluate", p, 1);
}

static const char *act_target(const struct browser_op *op)
{
	return op->req.ref ? op->req.ref : op->req.selector;
}

/* The reply to a resolve: sets op->object_id and returns 1, or fails op. */
static int act_resolved(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct json_object *obj;
	const char *id, *sub;

	if (tag == ACT_RESOLVE_REF) {
		if (m->has_error) {
			browser_op_fail(op, "ENOREF", "ref %s is no longer in the page",
					op->req.ref);
			return 0;
		}
		obj = browser_cdp_obj(m->result, "object");
	} else {
		if (browser_ops_cdp_failed(op, m, "finding the element"))
			return 0;
		if (browser_cdp_obj(m->result, "exceptionDetails")) {
			browser_op_fail(op, "EINVAL", "\"%.200s\" is not a valid CSS selector",
					op->req.selector);
			return 0;
		}
		obj = browser_cdp_obj(m->result, "result");
		sub = browser_cdp_str(obj, "subtype");
		if (sub && strcmp(sub, "null") == 0) {
			browser_op_fail(op, "ENOREF", "no element matches \"%.200s\"",
					op->req.selector);
			return 0;
		}
	}
	id = browser_cdp_str(obj, "objectId");
	if (!id || strlen(id) >= sizeof(op->object_id)) {
		browser_op_fail(op, "ENOREF", "%s does not name an element", act_target(op));
		return 0;
	}
	snprintf(op->object_id, sizeof(op->object_id), "%s", id);
	return 1;
}

/* Runtime.callFunctionOn on the element with fn and optional argument arg
 * (reference taken). */
static int act_call(struct browser_op *op, int tag, const char *fn, struct json_object *arg)
{
	struct json_object *p = json_object_new_object(), *args;

	if (!p) {
		json_object_put(arg);
		browser_op_fail(op, "ENOMEM", "out of memory");
		return -1;
	}
	json_object_object_add(p, "objectId", json_object_new_string(op->object_id));
	json_object_object_add(p, "functionDeclaration", json_object_new_string(fn));
	json_object_object_add(p, "returnByValue", json_object_new_boolean(1));
	json_object_object_add(p, "userGesture", json_object_new_boolean(1));
	if (arg) {
		struct json_object *a = json_object_new_object();

		args = json_object_new_array();
		if (a && args) {
			json_object_object_add(a, "value", arg);
			json_object_array_add(args, a);
			json_object_object_add(p, "arguments", args);
		} else {
			json_object_put(a);
			json_object_put(args);
			json_object_put(arg);
		}
	}
	return browser_cmd(op, tag, "Runtime.callFunctionOn", p, 1);
}

/* The value returned by a callFunctionOn reply, or NULL (op failed). */
static struct json_object *act_value(struct browser_op *op, const struct browser_cdp_msg *m)
{
	struct json_object *r, *v;

	if (m->has_error) {
		browser_op_fail(op, "ENOREF", "%s is no longer in the page (%s)", act_target(op),
				m->error_message);
		return NULL;
	}
	if (browser_cdp_obj(m->result, "exceptionDetails")) {
		browser_op_fail(op, "EBROWSER", "acting on %s threw an exception", act_target(op));
		return NULL;
	}
	r = browser_cdp_obj(m->result, "result");
	if (!r || !json_object_object_get_ex(r, "value", &v) || !v) {
		browser_op_fail(op, "EBROWSER", "acting on %s returned nothing", act_target(op));
		return NULL;
	}
	return v;
}

/* Done with the element: let the page drop our handles. */
static void act_release(struct browser_op *op)
{
	struct json_object *p = json_object_new_object();

	if (p) {
		json_object_object_add(p, "objectGroup", json_object_new_string(ACT_GROUP));
		browser_session_cmd(op->s, "Runtime.releaseObjectGroup", p, 1);
	}
}

static void act_start(struct browser_op *op)
{
	op->result = json_object_new_object();
	if (!op->result) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	if (op->kind == AGENT_OP_BROWSER_PRESS && !op->req.ref && !op->req.selector) {
		op->step = ACT_KEY;
		browser_act_send_key(op);
		return;
	}
	act_resolve(op);
}

/* Actions that may navigate: wait a moment for one to start. */
static void act_wait_for_navigation(struct browser_op *op)
{
	if (op->nav.phase == BROWSER_NAV_DONE)
		return;
	browser_op_set_wake(op, BROWSER_NAV_GRACE_MS);
}

static void act_wake(struct browser_op *op)
{
	struct json_object *res;

	if (op->nav.phase != BROWSER_NAV_WATCH || op->outstanding > 0)
		return; /* a navigation is under way: its end replies */
	act_release(op);
	res = op->result;
	op->result = NULL;
	json_object_object_add(res, "navigated", json_object_new_boolean(0));
	browser_op_done(op, res);
}

static void act_done(struct browser_op *op)
{
	struct json_object *res = op->result;

	act_release(op);
	op->result = NULL;
	browser_op_done(op, res);
}

/* --- click ------------------------------------------------------------------------------------ */

static int act_mouse(struct browser_op *op, const char *type)
{
	struct json_object *p = json_object_new_object();

	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return -1;
	}
	json_object_object_add(p, "type", json_object_new_string(type));
	json_object_object_add(p, "x", json_object_new_double(op->x));
	json_object_object_add(p, "y", json_object_new_double(op->y));
	if (strcmp(type, "mouseMoved") != 0) {
		json_object_object_add(p, "button", json_object_new_string("left"));
		json_object_object_add(p, "clickCount", json_object_new_int(1));
		json_object_object_add(p, "buttons",
				       json_object_new_int(strcmp(type, "mousePressed") == 0));
	}
	return browser_cmd(op, ACT_MOUSE, "Input.dispatchMouseEvent", p, 1);
}

static void click_prepared(struct browser_op *op, const struct browser_cdp_msg *m)
{
	struct json_object *v = act_value(op, m), *e;
	int hit;

	if (!v)
		return;
	if (json_object_object_get_ex(v, "error", &e)) {
		const char *why = json_object_get_string(e);

		if (why && strcmp(why, "disabled") == 0)
			browser_op_fail(op, "EINVAL", "%s is disabled", act_target(op));
		else
			browser_op_fail(op, "ENOREF", "%s is no longer in the page",
					act_target(op));
		return;
	}
	hit = json_object_object_get_ex(v, "hit", &e) && json_object_get_boolean(e);
	op->x = browser_cdp_num(v, "x", -1);
	op->y = browser_cdp_num(v, "y", -1);
	browser_nav_watch(op, 0);
	if (!hit || op->x < 0 || op->y < 0) {
		/* Hidden or covered: a DOM click still does what the page wants. */
		json_object_object_add(op->result, "method", json_object_new_string("dom"));
		act_call(op, ACT_DOM_CLICK, act_js_click, NULL);
		return;
	}
	json_object_object_add(op->result, "method", json_object_new_string("mouse"));
	if (act_mouse(op, "mouseMoved") < 0 || act_mouse(op, "mousePressed") < 0)
		return;
	act_mouse(op, "mouseReleased");
}

/* --- the handlers -------------------------------------------------------------------------------- */

static void act_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct json_object *v, *e;
	const char *s;

	switch (tag) {
	case ACT_RESOLVE_REF:
	case ACT_RESOLVE_SELECTOR:
		if (!act_resolved(op, tag, m))
			return;
		switch (op->kind) {
		case AGENT_OP_BROWSER_CLICK:
			act_call(op, ACT_PREPARE, act_js_prepare, NULL);
			return;
		case AGENT_OP_BROWSER_FILL:
			act_call(op, ACT_FILL, act_js_fill,
				 json_object_new_string_len(op->req.value, (int)op->req.value_len));
			return;
		case AGENT_OP_BROWSER_SELECT: {
			struct json_object *arr = json_object_new_array();
			size_t i;

			for (i = 0; arr && i < op->req.nvalues; i++)
				json_object_array_add(arr,
						      json_object_new_string(op->req.values[i]));
			act_call(op, ACT_SELECT, act_js_select, arr);
			return;
		}
		default:
			act_call(op, ACT_FOCUS, act_js_focus, NULL);
			return;
		}
	case ACT_PREPARE:
		click_prepared(op, m);
		return;
	case ACT_MOUSE:
	case ACT_DOM_CLICK:
		if (m->has_error) {
			browser_op_fail(op, "EBROWSER", "clicking %s failed: %s", act_target(op),
					m->error_message);
			return;
		}
		if (op->outstanding == 0)
			act_wait_for_navigation(op);
		return;
	case ACT_FILL:
		if (!(v = act_value(op, m)))
			return;
		s = json_object_get_string(v);
		if (!s || strcmp(s, "ok") != 0) {
			browser_op_fail(
				op, strcmp(s ? s : "", "detached") == 0 ? "ENOREF" : "EINVAL",
				"cannot fill %s: %s", act_target(op),
				s && strcmp(s, "rejected") == 0 ? "the field rejected the value"
				: s				? s
								: "not a text field");
			return;
		}
		act_done(op);
		return;
	case ACT_SELECT:
		if (!(v = act_value(op, m)))
			return;
		if (json_object_object_get_ex(v, "error", &e)) {
			browser_op_fail(op, "EINVAL", "cannot select in %s: %.300s", act_target(op),
					json_object_get_string(e));
			return;
		}
		if (json_object_object_get_ex(v, "selected", &e))
			json_object_object_add(op->result, "selected", json_object_get(e));
		act_done(op);
		return;
	case ACT_FOCUS:
		if (!act_value(op, m))
			return;
		browser_act_send_key(op);
		return;
	case ACT_KEY:
		if (m->has_error) {
			browser_op_fail(op, "EBROWSER", "pressing %s failed: %s", op->req.key,
					m->error_message);
			return;
		}
		if (op->outstanding == 0)
			act_wait_for_navigation(op);
		return;
	default:
		return;
	}
}

static int act_key_event(struct browser_op *op, const char *type, const char *key, const char *code,
			 const char *text, int vk, int modifiers)
{
	struct json_object *p = json_object_new_object();

	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return -1;
	}
	json_object_object_add(p, "type", json_object_new_string(type));
	json_object_object_add(p, "key", json_object_new_string(key));
	if (code && *code)
		json_object_object_add(p, "code", json_object_new_string(code));
	if (text && *text) {
		json_object_object_add(p, "text", json_object_new_string(text));
		json_object_object_add(p, "unmodifiedText", json_object_new_string(text));
	}
	if (vk) {
		json_object_object_add(p, "windowsVirtualKeyCode", json_object_new_int(vk));
		json_object_object_add(p, "nativeVirtualKeyCode", json_object_new_int(vk));
	}
	json_object_object_add(p, "modifiers", json_object_new_int(modifiers));
	return browser_cmd(op, ACT_KEY, "Input.dispatchKeyEvent", p, 1);
}

void browser_act_send_key(struct browser_op *op)
{
	struct browser_key k;
	int i;

	if (browser_act_parse_key(op->req.key, &k) < 0) {
		browser_op_fail(op, "EINVAL",
				"unknown key \"%.64s\" (use names like Enter, Tab, Escape, "
				"ArrowDown, a, Control+a)",
				op->req.key);
		return;
	}
	browser_nav_watch(op, 0);
	for (i = 0; i < k.nmods; i++) {
		if (act_key_event(op, "rawKeyDown", act_keys[k.mods[i]].key,
				  act_keys[k.mods[i]].code, NULL, act_keys[k.mods[i]].vk,
				  k.modifiers) < 0)
			return;
	}
	if (act_key_event(op, k.text[0] ? "keyDown" : "rawKeyDown", k.key, k.code, k.text, k.vk,
			  k.modifiers) < 0 ||
	    act_key_event(op, "keyUp", k.key, k.code, NULL, k.vk, k.modifiers) < 0)
		return;
	for (i = k.nmods - 1; i >= 0; i--)
		if (act_key_event(op, "keyUp", act_keys[k.mods[i]].key, act_keys[k.mods[i]].code,
				  NULL, act_keys[k.mods[i]].vk, 0) < 0)
			return;
	json_object_object_add(op->result, "key", json_object_new_string(op->req.key));
}

static const struct browser_op_kind act_kind = {
	.start = act_start,
	.reply = act_reply,
	.wake = act_wake,
};

const struct browser_op_kind *browser_act_kind(int kind)
{
	switch (kind) {
	case AGENT_OP_BROWSER_CLICK:
	case AGENT_OP_BROWSER_FILL:
	case AGENT_OP_BROWSER_SELECT:
	case AGENT_OP_BROWSER_PRESS:
		return &act_kind;
	default:
		return NULL;
	}
}
