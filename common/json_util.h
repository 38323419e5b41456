/* Small json-c helpers shared by the agent and its clients: UTF-8 safe
 * strings and base64 members. */
#ifndef AGENTVM_COMMON_JSON_UTIL_H
#define AGENTVM_COMMON_JSON_UTIL_H

#include <stddef.h>

struct json_object;

/* True if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF; NUL bytes count as valid). */
int json_util_utf8_valid(const char *s, size_t n);

/* A json string of s[0..n) with every ill-formed byte replaced by U+FFFD, so
 * the result always serialises to valid UTF-8. NULL on allocation failure. */
struct json_object *json_util_new_string_lossy(const char *s, size_t n);

/* Add key = base64(data[0..n)) to obj. Returns 0 or -ENOMEM. */
int json_util_add_base64(struct json_object *obj, const char *key, const void *data, size_t n);

/* Decode the base64 string member key of obj into a new buffer (NUL-terminated,
 * the NUL not counted). Returns 0, -ENOENT if the member is absent or null,
 * -EINVAL if it is not a canonical base64 string, -ENOMEM. */
int json_util_get_base64(struct json_object *obj, const char *key, unsigned char **out,
			 size_t *out_len);

#endif
