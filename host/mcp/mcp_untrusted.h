/* Web content handed to the model is marked as untrusted: a preamble telling
 * the model to treat it as data, then the text between
 *   <untrusted-web-content source="URL"> and </untrusted-web-content>.
 * The page cannot end the block early or open a fake one: every occurrence of
 * the tag in the text (any case, with or without '/', with whitespace after
 * '<') has its '<' replaced by "&lt;", and the source URL is percent-encoded
 * where it could break out of its attribute. */
#ifndef AGENTVM_HOST_MCP_MCP_UNTRUSTED_H
#define AGENTVM_HOST_MCP_MCP_UNTRUSTED_H

#include <stddef.h>

#define MCP_UNTRUSTED_TAG "untrusted-web-content"

/* The wrapped text (malloc'd, NUL-terminated, valid UTF-8: ill-formed bytes
 * of text become U+FFFD) in *out. kind says what the text is ("page
 * snapshot", "script result"...); source may be NULL ("unknown"). Returns 0,
 * -ENOMEM, or -E2BIG for absurd sizes. */
int mcp_untrusted_wrap(const char *kind, const char *source, const char *text, size_t len,
		       char **out, size_t *out_len);

/* Neutralise the tag in text[0..len): the result (malloc'd, NUL-terminated)
 * never contains '<' followed by optional whitespace and '/' and then the tag
 * name, in any case. Exposed for the tests. */
int mcp_untrusted_escape(const char *text, size_t len, char **out, size_t *out_len);

#endif
