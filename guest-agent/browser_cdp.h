/* The Chrome DevTools Protocol as spoken over --remote-debugging-pipe:
 * NUL-terminated JSON messages. Splitting the byte stream, parsing and
 * classifying one message, and the outgoing queue. Nothing here does I/O
 * except browser_cdp_tx_flush(); everything Chromium sends is treated as
 * hostile input. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_CDP_H
#define AGENTVM_GUEST_AGENT_BROWSER_CDP_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Largest message accepted from Chromium (a full-page screenshot or the
 * accessibility tree of a big page); longer ones are dropped. */
#define BROWSER_CDP_MSG_MAX (48u << 20)
/* Largest backlog of commands not yet taken by Chromium. */
#define BROWSER_CDP_TX_MAX (16u << 20)
/* Buffers bigger than this are freed once empty. */
#define BROWSER_CDP_KEEP (1u << 20)
/* json-c nesting limit for Chromium's messages (evaluate results nest). */
#define BROWSER_CDP_DEPTH 128

enum browser_cdp_kind {
	BROWSER_CDP_RESPONSE,
	BROWSER_CDP_EVENT,
};

/* One message, with pointers borrowed from its parsed JSON root. */
struct browser_cdp_msg {
	enum browser_cdp_kind kind;
	int64_t id;		    /* RESPONSE */
	struct json_object *result; /* RESPONSE: the result object, or NULL on error */
	int has_error;		    /* RESPONSE: an "error" member */
	int64_t error_code;
	const char *error_message;  /* never NULL when has_error */
	const char *method;	    /* EVENT */
	struct json_object *params; /* EVENT: an object, or NULL */
	const char *session_id;	    /* the flat-mode session, NULL for the browser's */
};

/* Parse one message (len bytes, no NUL terminator needed). Returns 0 with a
 * new reference in *root and m filled, or -EBADMSG when it is not JSON, not an
 * object, or has neither a valid "id" nor a "method" string. */
int browser_cdp_parse(const char *text, size_t len, struct json_object **root,
		      struct browser_cdp_msg *m);

/* The id of a response judged only by how its text begins ({"id":N,...),
 * for a message that cannot be parsed. -1 if it does not look like one. */
int64_t browser_cdp_peek_id(const char *text, size_t len);

/* --- incoming stream -------------------------------------------------------- */

struct browser_cdp_rx {
	char *buf;
	size_t start, len, cap; /* bytes [start, len) are pending */
	size_t scanned;		/* bytes after start known to hold no NUL */
	size_t max;		/* message limit */
	int skipping;		/* dropping the rest of an oversized message */
};

#define BROWSER_CDP_RX_MSG 1 /* a message in *text, *len */
#define BROWSER_CDP_RX_DROPPED \
	2 /* an oversized message was dropped; its id in *id (-1 if unknown) */

/* max 0 means BROWSER_CDP_MSG_MAX. */
void browser_cdp_rx_init(struct browser_cdp_rx *rx, size_t max);
void browser_cdp_rx_free(struct browser_cdp_rx *rx);
/* Append bytes. Returns 0 or -ENOMEM. */
int browser_cdp_rx_append(struct browser_cdp_rx *rx, const void *data, size_t n);
/* The next complete message: BROWSER_CDP_RX_MSG with *text (valid until the
 * next call; NUL-terminated) and *len, BROWSER_CDP_RX_DROPPED with *id, or 0
 * when more bytes are needed. */
int browser_cdp_rx_next(struct browser_cdp_rx *rx, const char **text, size_t *len, int64_t *id);
/* True when no partial message is buffered. */
int browser_cdp_rx_idle(const struct browser_cdp_rx *rx);

/* --- outgoing queue --------------------------------------------------------- */

struct browser_cdp_tx {
	char *buf;
	size_t off, len, cap;
};

/* Queue {"id":id,"method":method,"params":params[,"sessionId":session]}
 * followed by NUL. params may be NULL ({}); its reference is taken either
 * way. Returns 0, -E2BIG past BROWSER_CDP_TX_MAX, or -ENOMEM. */
int browser_cdp_tx_command(struct browser_cdp_tx *tx, int64_t id, const char *method,
			   struct json_object *params, const char *session);
/* Write what fd takes. 0 when empty, -EAGAIN when bytes remain, -errno. */
int browser_cdp_tx_flush(struct browser_cdp_tx *tx, int fd);
size_t browser_cdp_tx_pending(const struct browser_cdp_tx *tx);
void browser_cdp_tx_free(struct browser_cdp_tx *tx);

/* --- reading parsed messages ---------------------------------------------- */

/* The member key of obj as a string (NULL if absent or not a string). */
const char *browser_cdp_str(struct json_object *obj, const char *key);
/* The member key of obj as an integer (def if absent or not a number). */
int64_t browser_cdp_int(struct json_object *obj, const char *key, int64_t def);
/* The member key of obj as a number (def if absent or not a number). */
double browser_cdp_num(struct json_object *obj, const char *key, double def);
/* The member key of obj if it is an object, else NULL. */
struct json_object *browser_cdp_obj(struct json_object *obj, const char *key);
/* Copy the string member key of obj into out (size n, truncated,
 * NUL-terminated). Returns 0, or -ENOENT (out set to ""). */
int browser_cdp_copy(struct json_object *obj, const char *key, char *out, size_t n);

#endif
