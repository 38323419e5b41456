#include "host/egress/egress_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define HOST_LABEL_MAX 63
#define HOST_INPUT_MAX 1024
#define HOST_LABEL_CPS HOST_LABEL_MAX /* code points in one label, at most */

/* --- IPv4 literals ------------------------------------------------------------------ */

static int host_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One part of an inet_aton literal; the value must fit 32 bits. */
static int host_ipv4_part(const char *s, size_t n, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (n == 0)
		return -EINVAL;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (n >= 2 && s[0] == '0') {
		base = 8;
		i = 1;
	}
	for (; i < n; i++) {
		int d = host_hexval(s[i]);

		if (d < 0 || (unsigned)d >= base)
			return -EINVAL;
		v = v * base + (unsigned)d;
		if (v > 0xffffffffull)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

int egress_host_parse_ipv4(const char *s, size_t n, uint32_t *out)
{
	uint64_t part[4];
	size_t np = 0, start = 0, i;
	uint32_t v = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (np == 4)
			return -EINVAL;
		if (host_ipv4_part(s + start, i - start, &part[np]) < 0)
			return -EINVAL;
		np++;
		start = i + 1;
	}
	/* Every part but the last is one byte; the last fills what is left. */
	for (i = 0; i + 1 < np; i++) {
		if (part[i] > 255)
			return -EINVAL;
		v |= (uint32_t)part[i] << (24 - 8 * i);
	}
	if (np < 4 && part[np - 1] >= (1ull << (8 * (5 - np))))
		return -EINVAL;
	if (np == 4 && part[3] > 255)
		return -EINVAL;
	v |= (uint32_t)part[np - 1];
	*out = v;
	return 0;
}

/* Does the last label of a name look like a number (so the name must be an
 * IPv4 literal)? Digits only, or 0x and hex digits. */
static int host_last_label_numeric(const char *name)
{
	const char *l = strrchr(name, '.');
	size_t i = 0;

	l = l ? l + 1 : name;
	if (!*l)
		return 0;
	if (l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
		for (i = 2; l[i]; i++)
			if (host_hexval(l[i]) < 0)
				return 0;
		return 1;
	}
	for (; l[i]; i++)
		if (l[i] < '0' || l[i] > '9')
			return 0;
	return 1;
}

/* --- punycode (RFC 3492) --------------------------------------------------------------- */

enum {
	PUNY_BASE = 36,
	PUNY_TMIN = 1,
	PUNY_TMAX = 26,
	PUNY_SKEW = 38,
	PUNY_DAMP = 700,
	PUNY_BIAS = 72,
	PUNY_N = 128,
};

static uint32_t puny_adapt(uint32_t delta, uint32_t numpoints, int first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

static char puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

int egress_host_punycode(const uint32_t *cp, size_t n, char *out, size_t len)
{
	uint32_t cur = PUNY_N, delta = 0, bias = PUNY_BIAS, h, b = 0;
	size_t o = 0, i;

#define PUNY_PUT(c)                     \
	do {                            \
		if (o + 1 >= len)       \
			return -ENOSPC; \
		out[o++] = (c);         \
	} while (0)

	if (n > 4096)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (cp[i] > 0x10ffff)
			return -EINVAL;
		if (cp[i] < 0x80) {
			PUNY_PUT((char)cp[i]);
			b++;
		}
	}
	h = b;
	if (b > 0)
		PUNY_PUT('-');
	while (h < n) {
		uint32_t m = 0x110000;

		for (i = 0; i < n; i++)
			if (cp[i] >= cur && cp[i] < m)
				m = cp[i];
		/* delta += (m - cur) * (h + 1), guarded against overflow. */
		if ((uint64_t)delta + (uint64_t)(m - cur) * (h + 1) > UINT32_MAX)
			return -EINVAL;
		delta += (m - cur) * (h + 1);
		cur = m;
		for (i = 0; i < n; i++) {
			if (cp[i] < cur && ++delta == 0)
				return -EINVAL;
			if (cp[i] != cur)
				continue;
			uint32_t q = delta;
			for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
				uint32_t t = k <= bias		     ? PUNY_TMIN
					     : k >= bias + PUNY_TMAX ? PUNY_TMAX
								     : k - bias;
				if (q < t)
					break;
				PUNY_PUT(puny_digit(t + (q - t) % (PUNY_BASE - t)));
				q = (q - t) / (PUNY_BASE - t);
			}
			PUNY_PUT(puny_digit(q));
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		cur++;
	}
	out[o] = '\0';
	return (int)o;
#undef PUNY_PUT
}

/* --- names ------------------------------------------------------------------------------ */

static int host_ascii_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static unsigned char host_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Decode one strict UTF-8 sequence at s[0..n); returns its length or -EINVAL. */
static int host_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	int len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return -EINVAL;
	}
	if ((size_t)len > n)
		return -EINVAL;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -EINVAL;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return -EINVAL;
	*cp = c;
	return len;
}

/* One label s[0..n) into out (room for HOST_LABEL_MAX + 1). Returns its length. */
static int host_label(const unsigned char *s, size_t n, char *out)
{
	uint32_t cp[HOST_LABEL_CPS];
	size_t ncp = 0, i;
	int ascii = 1, r;

	if (n == 0)
		return -EINVAL;
	for (i = 0; i < n;) {
		uint32_t c;

		r = host_utf8_next(s + i, n - i, &c);
		if (r < 0 || ncp == HOST_LABEL_CPS)
			return -EINVAL;
		i += (size_t)r;
		if (c < 0x80) {
			c = host_lower((unsigned char)c);
			if (!host_ascii_ok((unsigned char)c))
				return -EINVAL;
		} else {
			/* C1 controls, and the full stops IDNA maps to '.': refuse
			 * them rather than guess. */
			if (c <= 0x9f || c == 0x3002 || c == 0xff0e || c == 0xff61 || c == 0xfeff ||
			    (c >= 0x200b && c <= 0x200f))
				return -EINVAL;
			ascii = 0;
		}
		cp[ncp++] = c;
	}
	if (ascii) {
		if (ncp > HOST_LABEL_MAX)
			return -EINVAL;
		for (i = 0; i < ncp; i++)
			out[i] = (char)cp[i];
		out[ncp] = '\0';
		return (int)ncp;
	}
	memcpy(out, "xn--", 4);
	r = egress_host_punycode(cp, ncp, out + 4, HOST_LABEL_MAX + 1 - 4);
	if (r < 0)
		return -EINVAL;
	return r + 4;
}

int egress_host_normalize_name(const char *s, size_t n, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	char label[HOST_LABEL_MAX + 1];
	size_t o = 0, start = 0, i;
	int r;

	if (n == 0 || n > HOST_INPUT_MAX)
		return -EINVAL;
	if (u[n - 1] == '.')
		n--; /* the root label */
	if (n == 0)
		return -EINVAL;
	for (i = 0; i <= n; i++) {
		if (i < n && u[i] != '.') {
			if (u[i] == 0)
				return -EINVAL;
			continue;
		}
		r = host_label(u + start, i - start, label);
		if (r < 0)
			return -EINVAL;
		if (o + (o ? 1 : 0) + (size_t)r > EGRESS_HOST_MAX)
			return -EINVAL;
		if (o)
			out[o++] = '.';
		memcpy(out + o, label, (size_t)r);
		o += (size_t)r;
		start = i + 1;
	}
	out[o] = '\0';
	return 0;
}

/* --- addresses and the whole host -------------------------------------------------------- */

int egress_addr_format(const struct egress_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->b, buf, (socklen_t)len))
		return -ENOSPC;
	return 0;
}

int egress_addr_parse(const char *s, struct egress_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->b) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (!strchr(s, '%') && inet_pton(AF_INET6, s, out->b) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static int host_parse_ipv6(const char *s, size_t n, struct egress_host *out)
{
	char buf[64];

	/* Brackets around 2..45 characters of hex digits, colons and dots. */
	if (n < 4 || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return -EINVAL;
	for (size_t i = 1; i + 1 < n; i++) {
		char c = s[i];
		if (!(host_hexval(c) >= 0 || c == ':' || c == '.'))
			return -EINVAL; /* zone ids ("%25eth0") included */
	}
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	out->kind = EGRESS_HOST_IPV6;
	out->addr.family = AF_INET6;
	if (inet_pton(AF_INET6, buf, out->addr.b) != 1)
		return -EINVAL;
	return egress_addr_format(&out->addr, out->name, sizeof(out->name)) < 0 ? -EINVAL : 0;
}

int egress_host_parse(const char *s, size_t n, struct egress_host *out)
{
	uint32_t v4;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > HOST_INPUT_MAX)
		return -EINVAL;
	if (s[0] == '[')
		return host_parse_ipv6(s, n, out);
	if (memchr(s, ':', n))
		return -EINVAL; /* an IPv6 literal must be bracketed */
	if (egress_host_normalize_name(s, n, out->name) < 0)
		return -EINVAL;
	if (!host_last_label_numeric(out->name)) {
		out->kind = EGRESS_HOST_NAME;
		return 0;
	}
	/* Numbers are addresses, however they are spelt; if it is no valid
	 * address it is no valid host either. */
	if (egress_host_parse_ipv4(out->name, strlen(out->name), &v4) < 0)
		return -EINVAL;
	out->kind = EGRESS_HOST_IPV4;
	out->addr.family = AF_INET;
	out->addr.b[0] = (unsigned char)(v4 >> 24);
	out->addr.b[1] = (unsigned char)(v4 >> 16);
	out->addr.b[2] = (unsigned char)(v4 >> 8);
	out->addr.b[3] = (unsigned char)v4;
	return egress_addr_format(&out->addr, out->name, sizeof(out->name)) < 0 ? -EINVAL : 0;
}
