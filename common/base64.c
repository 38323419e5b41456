#include "common/base64.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t base64_encode_to(const void *src, size_t n, char *dst)
{
	const unsigned char *s = src;
	char *d = dst;
	size_t i;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*d++ = base64_alphabet[v >> 18];
		*d++ = base64_alphabet[(v >> 12) & 63];
		*d++ = base64_alphabet[(v >> 6) & 63];
		*d++ = base64_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)s[i] << 16;
		*d++ = base64_alphabet[v >> 18];
		*d++ = base64_alphabet[(v >> 12) & 63];
		*d++ = '=';
		*d++ = '=';
	} else if (n - i == 2) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*d++ = base64_alphabet[v >> 18];
		*d++ = base64_alphabet[(v >> 12) & 63];
		*d++ = base64_alphabet[(v >> 6) & 63];
		*d++ = '=';
	}
	*d = '\0';
	return (size_t)(d - dst);
}

int base64_encode(const void *src, size_t n, char **out, size_t *out_len)
{
	char *buf;

	if (n > (SIZE_MAX / 4) * 3 - 3)
		return -E2BIG;
	buf = malloc(base64_encoded_len(n) + 1);
	if (!buf)
		return -ENOMEM;
	*out_len = base64_encode_to(src, n, buf);
	*out = buf;
	return 0;
}

size_t base64_decoded_max(size_t n)
{
	return n / 4 * 3;
}

/* The 6-bit value of c, or -1. */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long base64_decode_to(const char *src, size_t n, void *dst)
{
	const unsigned char *s = (const unsigned char *)src;
	unsigned char *d = dst;
	size_t i;
	int a, b, c, e;

	if (n % 4 != 0)
		return -EINVAL;
	for (i = 0; i < n; i += 4) {
		int last = i + 4 == n;

		a = base64_value(s[i]);
		b = base64_value(s[i + 1]);
		if (a < 0 || b < 0)
			return -EINVAL;
		if (last && s[i + 2] == '=') {
			/* "xx==": one byte; the low 4 bits of b must be zero. */
			if (s[i + 3] != '=' || (b & 15))
				return -EINVAL;
			*d++ = (unsigned char)(a << 2 | b >> 4);
			break;
		}
		c = base64_value(s[i + 2]);
		if (c < 0)
			return -EINVAL;
		if (last && s[i + 3] == '=') {
			/* "xxx=": two bytes; the low 2 bits of c must be zero. */
			if (c & 3)
				return -EINVAL;
			*d++ = (unsigned char)(a << 2 | b >> 4);
			*d++ = (unsigned char)(b << 4 | c >> 2);
			break;
		}
		e = base64_value(s[i + 3]);
		if (e < 0)
			return -EINVAL;
		*d++ = (unsigned char)(a << 2 | b >> 4);
		*d++ = (unsigned char)(b << 4 | c >> 2);
		*d++ = (unsigned char)(c << 6 | e);
	}
	return (long)(d - (unsigned char *)dst);
}

int base64_decode(const char *src, size_t n, unsigned char **out, size_t *out_len)
{
	unsigned char *buf;
	long r;

	buf = malloc(base64_decoded_max(n) + 1);
	if (!buf)
		return -ENOMEM;
	r = base64_decode_to(src, n, buf);
	if (r < 0) {
		free(buf);
		return (int)r;
	}
	buf[r] = '\0';
	*out = buf;
	*out_len = (size_t)r;
	return 0;
}
