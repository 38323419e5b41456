/* Destination hosts as the egress proxy sees them: a name, an IPv4 literal or
 * an IPv6 literal, in one canonical spelling. Names are lower-cased, lose one
 * trailing dot, and have non-ASCII labels encoded as punycode ("xn--");
 * anything whose last label is a number is an IPv4 literal and is parsed the
 * way inet_aton(3) does (2130706433, 0x7f.1, 0177.0.0.1, 127.1), so that no
 * spelling of an address passes for a name. */
#ifndef AGENTVM_HOST_EGRESS_HOST_H
#define AGENTVM_HOST_EGRESS_HOST_H

#include <stddef.h>
#include <stdint.h>

#define EGRESS_HOST_MAX 253 /* a DNS name, without the trailing dot */

enum egress_host_kind { EGRESS_HOST_NAME, EGRESS_HOST_IPV4, EGRESS_HOST_IPV6 };

/* An address: family AF_INET (b[0..3], network order) or AF_INET6 (b[0..15]). */
struct egress_addr {
	int family;
	unsigned char b[16];
};

struct egress_host {
	enum egress_host_kind kind;
	char name[EGRESS_HOST_MAX + 1]; /* the canonical text (an address's too) */
	struct egress_addr addr;	/* for the literals */
};

/* Parse s[0..n): "[v6]" (no zone id), an IPv4 literal in any inet_aton form,
 * or a DNS name (UTF-8 labels become punycode). Returns 0 or -EINVAL. */
int egress_host_parse(const char *s, size_t n, struct egress_host *out);

/* inet_aton semantics, strictly: 1 to 4 parts, each decimal, octal (leading 0)
 * or hex (0x), the last filling the remaining bytes; nothing else in s[0..n).
 * *out is in host byte order. Returns 0 or -EINVAL. */
int egress_host_parse_ipv4(const char *s, size_t n, uint32_t *out);

/* Normalise one DNS name (also used for policy patterns, without the "*.").
 * Writes at most EGRESS_HOST_MAX + 1 bytes to out. Returns 0 or -EINVAL. */
int egress_host_normalize_name(const char *s, size_t n, char *out);

/* Punycode (RFC 3492) of the code points cp[0..n) into out (size len), without
 * the "xn--" prefix. Returns the length written, or -EINVAL / -ENOSPC. */
int egress_host_punycode(const uint32_t *cp, size_t n, char *out, size_t len);

/* The canonical text of a ("127.0.0.1", "::1"). Returns 0 or -ENOSPC. */
int egress_addr_format(const struct egress_addr *a, char *buf, size_t len);
/* Parse a plain dotted-quad or IPv6 address (inet_pton, no brackets). 0 or -EINVAL. */
int egress_addr_parse(const char *s, struct egress_addr *out);

#endif
