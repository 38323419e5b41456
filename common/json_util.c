#include "common/json_util.h"

#include "common/base64.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t json_util_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* past U+10FFFF */
		return 4;
	}
	return 0;
}

int json_util_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		k = json_util_utf8_seq(p + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

struct json_object *json_util_new_string_lossy(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct json_object *o;
	size_t i = 0, j = 0, k;
	char *buf;

	if (json_util_utf8_valid(s, n))
		return json_object_new_string_len(s, (int)n);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	buf = malloc(n * 3 + 1);
	if (!buf)
		return NULL;
	while (i < n) {
		k = json_util_utf8_seq(p + i, n - i);
		if (k) {
			memcpy(buf + j, p + i, k);
			j += k;
			i += k;
		} else {
			memcpy(buf + j, "\xef\xbf\xbd", 3);
			j += 3;
			i++;
		}
	}
	o = json_object_new_string_len(buf, (int)j);
	free(buf);
	return o;
}

int json_util_add_base64(struct json_object *obj, const char *key, const void *data, size_t n)
{
	struct json_object *s;
	char *enc;
	size_t len;
	int r;

	r = base64_encode(data, n, &enc, &len);
	if (r < 0)
		return r;
	s = json_object_new_string_len(enc, (int)len);
	free(enc);
	if (!s)
		return -ENOMEM;
	if (json_object_object_add(obj, key, s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

int json_util_get_base64(struct json_object *obj, const char *key, unsigned char **out,
			 size_t *out_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	return base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), out,
			     out_len);
}
