/* Element actions of the browser.* ops (click, fill, select, press) and the
 * key names browser.press understands. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_ACT_H
#define AGENTVM_GUEST_AGENT_BROWSER_ACT_H

struct browser_op;

/* One key press as Input.dispatchKeyEvent wants it. */
struct browser_key {
	char key[16];  /* DOM key value: "Enter", "a" */
	char code[16]; /* physical key: "Enter", "KeyA"; may be empty */
	char text[8];  /* what it types, empty for none */
	int vk;	       /* Windows virtual key code, 0 if none */
	int modifiers; /* Alt 1, Control 2, Meta 4, Shift 8 */
	int mods[4];   /* the modifier keys to hold, in order (internal indices) */
	int nmods;
};

/* Parse "Enter", "Tab", "a", "Control+a", "Shift+Tab", "F5", "é". Returns 0
 * or -EINVAL. Pure. */
int browser_act_parse_key(const char *spec, struct browser_key *k);

/* Send op->req.key to the focused element (browser.press). */
void browser_act_send_key(struct browser_op *op);

#endif
