#include "host/egress/egress_policy.h"

#include "common/cleanup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *const policy_deny_names[] = {
	[EGRESS_OK] = "allowed",
	[EGRESS_DENY_PORT] = "port",
	[EGRESS_DENY_DOMAIN] = "domain",
	[EGRESS_DENY_LITERAL] = "ip_literal",
	[EGRESS_DENY_RANGE] = "range",
	[EGRESS_DENY_QUOTA_CONNS] = "quota_connections",
	[EGRESS_DENY_QUOTA_BYTES] = "quota_bytes",
	[EGRESS_DENY_REQUEST] = "bad_request",
	[EGRESS_DENY_RESOLVE] = "resolve",
	[EGRESS_DENY_CONNECT] = "connect",
	[EGRESS_DENY_BUSY] = "busy",
	[EGRESS_DENY_TIMEOUT] = "timeout",
};

const char *egress_deny_name(enum egress_deny d)
{
	if ((size_t)d >= ARRAY_SIZE(policy_deny_names) || !policy_deny_names[d])
		return "unknown";
	return policy_deny_names[d];
}

/* --- ranges -------------------------------------------------------------------------- */

int egress_cidr_parse(const char *s, struct egress_cidr *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long v, max;
	char *end;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (egress_addr_parse(buf, &out->addr) < 0)
		return -EINVAL;
	max = out->addr.family == AF_INET ? 32 : 128;
	if (!slash) {
		out->prefix = (unsigned)max;
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
		return -EINVAL;
	v = strtoul(slash + 1, &end, 10);
	if (*end || v > max)
		return -EINVAL;
	out->prefix = (unsigned)v;
	/* The bits past the prefix must be zero: "10.1.2.3/8" is a typo. */
	for (unsigned bit = out->prefix; bit < max; bit++)
		if (out->addr.b[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	return 0;
}

static int policy_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (b[full] & mask))
			return 0;
	}
	return 1;
}

static const unsigned char policy_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An IPv4-mapped IPv6 address as the IPv4 address it is. */
static struct egress_addr policy_unmap(const struct egress_addr *a)
{
	struct egress_addr v4 = *a;

	if (a->family == AF_INET6 && memcmp(a->b, policy_mapped_prefix, 12) == 0) {
		memset(&v4, 0, sizeof(v4));
		v4.family = AF_INET;
		memcpy(v4.b, a->b + 12, 4);
	}
	return v4;
}

int egress_cidr_contains(const struct egress_cidr *c, const struct egress_addr *a)
{
	struct egress_addr x = policy_unmap(a);

	if (c->addr.family != x.family)
		return 0;
	return policy_prefix_eq(c->addr.b, x.b, c->prefix);
}

struct policy_special {
	int family;
	unsigned char b[16];
	unsigned prefix;
	const char *label;
};

#define V4(a, b_, c, d)     \
	{                   \
		a, b_, c, d \
	}
/* Most specific first: the first match names the range. */
static const struct policy_special policy_special_v4[] = {
	{ AF_INET, V4(169, 254, 169, 254), 32, "metadata" },
	{ AF_INET, V4(100, 100, 100, 200), 32, "metadata" }, /* Alibaba Cloud */
	{ AF_INET, V4(0, 0, 0, 0), 8, "unspecified" },
	{ AF_INET, V4(10, 0, 0, 0), 8, "private" },
	{ AF_INET, V4(100, 64, 0, 0), 10, "cgnat" },
	{ AF_INET, V4(127, 0, 0, 0), 8, "loopback" },
	{ AF_INET, V4(169, 254, 0, 0), 16, "link-local" },
	{ AF_INET, V4(172, 16, 0, 0), 12, "private" },
	{ AF_INET, V4(192, 0, 0, 0), 24, "ietf-protocol" },
	{ AF_INET, V4(192, 0, 2, 0), 24, "documentation" },
	{ AF_INET, V4(192, 88, 99, 0), 24, "6to4-relay" },
	{ AF_INET, V4(192, 168, 0, 0), 16, "private" },
	{ AF_INET, V4(198, 18, 0, 0), 15, "benchmarking" },
	{ AF_INET, V4(198, 51, 100, 0), 24, "documentation" },
	{ AF_INET, V4(203, 0, 113, 0), 24, "documentation" },
	{ AF_INET, V4(224, 0, 0, 0), 4, "multicast" },
	{ AF_INET, V4(240, 0, 0, 0), 4, "reserved" }, /* and 255.255.255.255 */
};

static const struct policy_special policy_special_v6[] = {
	{ AF_INET6,
	  { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 },
	  128,
	  "metadata" }, /* fd00:ec2::254 */
	{ AF_INET6, { 0 }, 128, "unspecified" },
	{ AF_INET6, { [15] = 1 }, 128, "loopback" },
	{ AF_INET6, { 0x01, 0x00 }, 64, "discard" }, /* 100::/64 */
	{ AF_INET6,
	  { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 },
	  48,
	  "nat64-local" },					       /* 64:ff9b:1::/48 */
	{ AF_INET6, { 0x20, 0x01, 0x00, 0x00 }, 32, "teredo" },	       /* 2001::/32 */
	{ AF_INET6, { 0x20, 0x01, 0x00, 0x10 }, 28, "orchid" },	       /* 2001:10::/28 */
	{ AF_INET6, { 0x20, 0x01, 0x00, 0x20 }, 28, "orchid" },	       /* 2001:20::/28 */
	{ AF_INET6, { 0x20, 0x01, 0x0d, 0xb8 }, 32, "documentation" }, /* 2001:db8::/32 */
	{ AF_INET6, { 0x3f, 0xff, 0x00, 0x00 }, 20, "documentation" }, /* 3fff::/20 */
	{ AF_INET6, { 0xfc }, 7, "private" },			       /* fc00::/7 ULA */
	{ AF_INET6, { 0xfe, 0x80 }, 10, "link-local" },		       /* fe80::/10 */
	{ AF_INET6, { 0xfe, 0xc0 }, 10, "site-local" },		       /* fec0::/10 */
	{ AF_INET6, { 0xff }, 8, "multicast" },			       /* ff00::/8 */
};

static const char *policy_special_in(const struct policy_special *t, size_t n,
				     const struct egress_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].family == a->family && policy_prefix_eq(t[i].b, a->b, t[i].prefix))
			return t[i].label;
	return NULL;
}

static const char *policy_special_v4_of(const unsigned char *b4)
{
	struct egress_addr v4 = { .family = AF_INET };

	memcpy(v4.b, b4, 4);
	return policy_special_in(policy_special_v4, ARRAY_SIZE(policy_special_v4), &v4);
}

const char *egress_policy_special(const struct egress_addr *in)
{
	static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const unsigned char translated[12] = { [8] = 0xff, [9] = 0xff };
	static const unsigned char zero12[12] = { 0 };
	struct egress_addr a = policy_unmap(in);
	const char *l;

	if (a.family == AF_INET)
		return policy_special_v4_of(a.b);
	if (a.family != AF_INET6)
		return "unknown";
	l = policy_special_in(policy_special_v6, ARRAY_SIZE(policy_special_v6), &a);
	if (l)
		return l;
	/* Forms that carry an IPv4 address: judged by it as well. */
	if (memcmp(a.b, zero12, 12) == 0) /* ::a.b.c.d, IPv4-compatible (deprecated) */
		return "ipv4-compatible";
	if (memcmp(a.b, translated, 12) == 0) /* ::ffff:0:a.b.c.d, IPv4-translated */
		return "ipv4-translated";
	if (memcmp(a.b, nat64, 12) == 0) /* 64:ff9b::a.b.c.d, NAT64 */
		return policy_special_v4_of(a.b + 12) ? "nat64-of-special" : NULL;
	if (a.b[0] == 0x20 && a.b[1] == 0x02) /* 2002:AABB:CCDD::/48, 6to4 */
		return policy_special_v4_of(a.b + 2) ? "6to4-of-special" : NULL;
	return NULL;
}

/* --- the policy object ------------------------------------------------------------------- */

int egress_policy_new(struct egress_policy **out)
{
	struct egress_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->ports[0] = 80;
	p->ports[1] = 443;
	p->nports = 2;
	p->dns = 1;
	p->quota.conns_concurrent = EGRESS_DEFAULT_CONCURRENT;
	p->connect_ms = EGRESS_DEFAULT_CONNECT_MS;
	p->request_ms = EGRESS_DEFAULT_REQUEST_MS;
	p->idle_ms = EGRESS_DEFAULT_IDLE_MS;
	*out = p;
	return 0;
}

void egress_policy_free(struct egress_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ndomains; i++)
		free(p->domains[i]);
	free(p->domains);
	free(p->ranges);
	free(p->literals);
	free(p->hosts);
	free(p);
}

/* Grow an array by one element; returns the new element or NULL. */
static void *policy_grow(void *arrp, size_t *n, size_t size)
{
	void **arr = arrp;
	char *na;

	if (*n >= EGRESS_LIST_MAX)
		return NULL;
	na = realloc(*arr, (*n + 1) * size);
	if (!na)
		return NULL;
	*arr = na;
	memset(na + *n * size, 0, size);
	return na + (*n)++ * size;
}

int egress_policy_add_domain(struct egress_policy *p, const char *pattern)
{
	char norm[EGRESS_HOST_MAX + 3];
	struct egress_host h;
	size_t off = 0;
	char **slot;

	if (strcmp(pattern, "*") == 0) {
		strcpy(norm, "*");
	} else {
		if (strncmp(pattern, "*.", 2) == 0)
			off = 2;
		if (egress_host_normalize_name(pattern + off, strlen(pattern + off), norm + off) <
		    0)
			return -EINVAL;
		/* An address is not a domain: allow_literals/allow_ranges are for those. */
		if (egress_host_parse(norm + off, strlen(norm + off), &h) < 0 ||
		    h.kind != EGRESS_HOST_NAME)
			return -EINVAL;
		if (off)
			memcpy(norm, "*.", 2);
	}
	for (size_t i = 0; i < p->ndomains; i++)
		if (strcmp(p->domains[i], norm) == 0)
			return 0;
	slot = policy_grow(&p->domains, &p->ndomains, sizeof(char *));
	if (!slot)
		return -ENOMEM;
	*slot = strdup(norm);
	if (!*slot) {
		p->ndomains--;
		return -ENOMEM;
	}
	return 0;
}

const struct egress_static_host *egress_policy_lookup(const struct egress_policy *p,
						      const char *name)
{
	for (size_t i = 0; i < p->nhosts; i++)
		if (strcmp(p->hosts[i].name, name) == 0)
			return &p->hosts[i];
	return NULL;
}

int egress_policy_add_host(struct egress_policy *p, const char *name, const char *addr)
{
	struct egress_static_host *e;
	struct egress_addr a;
	struct egress_host h;

	if (egress_host_parse(name, strlen(name), &h) < 0 || h.kind != EGRESS_HOST_NAME ||
	    egress_addr_parse(addr, &a) < 0)
		return -EINVAL;
	e = (struct egress_static_host *)egress_policy_lookup(p, h.name);
	if (!e) {
		e = policy_grow(&p->hosts, &p->nhosts, sizeof(*e));
		if (!e)
			return -ENOMEM;
		memcpy(e->name, h.name, sizeof(e->name));
	}
	if (e->naddrs == EGRESS_ADDRS_MAX)
		return -EINVAL;
	e->addrs[e->naddrs++] = a;
	return 0;
}

/* --- checks ----------------------------------------------------------------------------- */

static int policy_domain_match(const char *pat, const char *name)
{
	size_t pl, nl;

	if (strcmp(pat, "*") == 0)
		return 1;
	if (strncmp(pat, "*.", 2) != 0)
		return strcmp(pat, name) == 0;
	/* "*.example.com": at least one label before ".example.com". */
	pl = strlen(pat + 1);
	nl = strlen(name);
	return nl > pl && strcmp(name + nl - pl, pat + 1) == 0;
}

enum egress_deny egress_policy_check_target(const struct egress_policy *p,
					    const struct egress_host *h, unsigned port, char *why,
					    size_t len)
{
	size_t i;

	for (i = 0; i < p->nports; i++)
		if (p->ports[i] == port)
			break;
	if (i == p->nports) {
		snprintf(why, len, "port %u is not allowed", port);
		return EGRESS_DENY_PORT;
	}
	if (h->kind != EGRESS_HOST_NAME) {
		for (i = 0; i < p->nliterals; i++)
			if (egress_cidr_contains(&p->literals[i], &h->addr)) {
				snprintf(why, len, "IP literal %s allowed", h->name);
				return EGRESS_OK;
			}
		snprintf(why, len, "IP literal %s is not allowed (ask for a name)", h->name);
		return EGRESS_DENY_LITERAL;
	}
	for (i = 0; i < p->ndomains; i++)
		if (policy_domain_match(p->domains[i], h->name)) {
			snprintf(why, len, "domain %s allowed by %s", h->name, p->domains[i]);
			return EGRESS_OK;
		}
	snprintf(why, len, "domain %s is not allowed", h->name);
	return EGRESS_DENY_DOMAIN;
}

enum egress_deny egress_policy_check_addr(const struct egress_policy *p,
					  const struct egress_addr *a, char *why, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	const char *label;

	if (egress_addr_format(a, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "?");
	for (size_t i = 0; i < p->nranges; i++)
		if (egress_cidr_contains(&p->ranges[i], a))
			return EGRESS_OK;
	label = egress_policy_special(a);
	if (label) {
		snprintf(why, len, "address %s is in a denied range (%s)", text, label);
		return EGRESS_DENY_RANGE;
	}
	return EGRESS_OK;
}

/* --- JSON --------------------------------------------------------------------------------- */

static __attribute__((format(printf, 3, 4))) int policy_err(char *err, size_t len, const char *fmt,
							    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A non-negative integer member (at most max). */
static int policy_uint(struct json_object *v, const char *what, uint64_t max, uint64_t *out,
		       char *err, size_t len)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int))
		return policy_err(err, len, "%s: want an integer", what);
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return policy_err(err, len, "%s: out of range (0..%llu)", what,
				  (unsigned long long)max);
	*out = (uint64_t)x;
	return 0;
}

static int policy_strings(struct json_object *v, const char *what, char *err, size_t len)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return policy_err(err, len, "%s: want an array of strings", what);
	n = json_object_array_length(v);
	if (n > EGRESS_LIST_MAX)
		return policy_err(err, len, "%s: more than %d entries", what, EGRESS_LIST_MAX);
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return policy_err(err, len, "%s[%zu]: want a string", what, i);
	return 0;
}

static int policy_cidrs(struct json_object *v, const char *what, struct egress_cidr **arr,
			size_t *n, char *err, size_t len)
{
	int r = policy_strings(v, what, err, len);

	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(v, i));
		struct egress_cidr *c = policy_grow(arr, n, sizeof(**arr));

		if (!c)
			return -ENOMEM;
		if (egress_cidr_parse(s, c) < 0)
			return policy_err(err, len, "%s[%zu]: \"%s\" is not ADDR or ADDR/PREFIX",
					  what, i, s);
	}
	return 0;
}

static int policy_hosts(struct egress_policy *p, struct json_object *v, char *err, size_t len)
{
	if (!json_object_is_type(v, json_type_object))
		return policy_err(err, len, "hosts: want an object {\"name\": \"addr\" or [...]}");
	json_object_object_foreach(v, name, val)
	{
		struct json_object *list = val;
		size_t n = 1;

		if (json_object_is_type(val, json_type_array))
			n = json_object_array_length(val);
		else if (!json_object_is_type(val, json_type_string))
			return policy_err(err, len, "hosts.%s: want an address or an array", name);
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = list;
			int r;

			if (json_object_is_type(val, json_type_array))
				e = json_object_array_get_idx(val, i);
			if (!json_object_is_type(e, json_type_string))
				return policy_err(err, len, "hosts.%s: want address strings", name);
			r = egress_policy_add_host(p, name, json_object_get_string(e));
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				return policy_err(err, len,
						  "hosts.%s: \"%s\" is not a name and an address "
						  "(at most %d per name)",
						  name, json_object_get_string(e),
						  EGRESS_ADDRS_MAX);
		}
	}
	return 0;
}

static int policy_quota(struct egress_policy *p, struct json_object *v, char *err, size_t len)
{
	uint64_t x;
	int r;

	if (!json_object_is_type(v, json_type_object))
		return policy_err(err, len, "quota: want an object");
	json_object_object_foreach(v, key, val)
	{
		if (strcmp(key, "bytes_up") == 0 || strcmp(key, "bytes_down") == 0) {
			r = policy_uint(val, key, INT64_MAX, &x, err, len);
			if (r < 0)
				return r;
			*(key[6] == 'u' ? &p->quota.bytes_up : &p->quota.bytes_down) = x;
		} else if (strcmp(key, "connections_total") == 0 ||
			   strcmp(key, "connections_concurrent") == 0) {
			r = policy_uint(val, key, UINT32_MAX, &x, err, len);
			if (r < 0)
				return r;
			*(key[12] == 't' ? &p->quota.conns_total : &p->quota.conns_concurrent) =
				(uint32_t)x;
		} else {
			return policy_err(err, len, "quota: unknown member \"%s\"", key);
		}
	}
	return 0;
}

static int policy_timeouts(struct egress_policy *p, struct json_object *v, char *err, size_t len)
{
	uint64_t x;
	int r;

	if (!json_object_is_type(v, json_type_object))
		return policy_err(err, len, "timeouts_ms: want an object");
	json_object_object_foreach(v, key, val)
	{
		uint32_t *dst = strcmp(key, "connect") == 0   ? &p->connect_ms
				: strcmp(key, "request") == 0 ? &p->request_ms
				: strcmp(key, "idle") == 0    ? &p->idle_ms
							      : NULL;
		if (!dst)
			return policy_err(err, len, "timeouts_ms: unknown member \"%s\"", key);
		r = policy_uint(val, key, 24u * 3600 * 1000, &x, err, len);
		if (r < 0)
			return r;
		if (x == 0)
			return policy_err(err, len, "timeouts_ms.%s: must be positive", key);
		*dst = (uint32_t)x;
	}
	return 0;
}

static int policy_ports(struct egress_policy *p, struct json_object *v, char *err, size_t len)
{
	uint64_t x;
	size_t n;
	int r;

	if (!json_object_is_type(v, json_type_array))
		return policy_err(err, len, "allow_ports: want an array of port numbers");
	n = json_object_array_length(v);
	if (n > EGRESS_PORTS_MAX)
		return policy_err(err, len, "allow_ports: at most %d ports", EGRESS_PORTS_MAX);
	p->nports = 0;
	for (size_t i = 0; i < n; i++) {
		r = policy_uint(json_object_array_get_idx(v, i), "allow_ports[]", 65535, &x, err,
				len);
		if (r < 0)
			return r;
		if (x == 0)
			return policy_err(err, len, "allow_ports: 0 is not a port");
		p->ports[p->nports++] = (uint16_t)x;
	}
	return 0;
}

static int policy_member(struct egress_policy *p, const char *key, struct json_object *v, char *err,
			 size_t len)
{
	int r;

	if (strcmp(key, "allow_domains") == 0) {
		r = policy_strings(v, key, err, len);
		for (size_t i = 0; r == 0 && i < json_object_array_length(v); i++) {
			const char *d = json_object_get_string(json_object_array_get_idx(v, i));
			r = egress_policy_add_domain(p, d);
			if (r == -EINVAL)
				return policy_err(err, len,
						  "allow_domains[%zu]: \"%s\" is not a domain, "
						  "\"*.domain\" or \"*\"",
						  i, d);
		}
		return r;
	}
	if (strcmp(key, "allow_ports") == 0)
		return policy_ports(p, v, err, len);
	if (strcmp(key, "allow_ranges") == 0)
		return policy_cidrs(v, key, &p->ranges, &p->nranges, err, len);
	if (strcmp(key, "allow_literals") == 0)
		return policy_cidrs(v, key, &p->literals, &p->nliterals, err, len);
	if (strcmp(key, "hosts") == 0)
		return policy_hosts(p, v, err, len);
	if (strcmp(key, "dns") == 0) {
		if (!json_object_is_type(v, json_type_boolean))
			return policy_err(err, len, "dns: want true or false");
		p->dns = json_object_get_boolean(v);
		return 0;
	}
	if (strcmp(key, "quota") == 0)
		return policy_quota(p, v, err, len);
	if (strcmp(key, "timeouts_ms") == 0)
		return policy_timeouts(p, v, err, len);
	if (strcmp(key, "comment") == 0)
		return 0;
	return policy_err(err, len, "unknown member \"%s\"", key);
}

int egress_policy_from_json(struct json_object *o, struct egress_policy **out, char *err,
			    size_t errlen)
{
	struct egress_policy *p;
	int r;

	*out = NULL;
	if (!json_object_is_type(o, json_type_object))
		return policy_err(err, errlen, "a policy is a JSON object");
	r = egress_policy_new(&p);
	if (r < 0)
		return r;
	json_object_object_foreach(o, key, val)
	{
		r = policy_member(p, key, val, err, errlen);
		if (r < 0) {
			if (r == -ENOMEM)
				snprintf(err, errlen, "out of memory");
			egress_policy_free(p);
			return r;
		}
	}
	*out = p;
	return 0;
}

/* Read a whole small file. */
static int policy_slurp(const char *path, size_t max, char **out, size_t *outlen)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		free(buf);
		return ferror(f) ? -EIO : -EFBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

int egress_policy_load(const char *path, struct egress_policy **out, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	struct json_tokener *tok;
	struct json_object *o;
	size_t n;
	int r;

	*out = NULL;
	r = policy_slurp(path, EGRESS_POLICY_FILE_MAX, &text, &n);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, text, (int)n);
	if (!o || tok->char_offset < (int)n) {
		/* Trailing whitespace is fine; anything else is not. */
		size_t off = o ? (size_t)tok->char_offset : 0;
		while (o && off < n && strchr(" \t\r\n", text[off]))
			off++;
		if (!o || off < n) {
			snprintf(err, errlen, "%s: not valid JSON%s%s", path, o ? "" : ": ",
				 o ? " (trailing text)"
				   : json_tokener_error_desc(json_tokener_get_error(tok)));
			json_object_put(o);
			json_tokener_free(tok);
			return -EINVAL;
		}
	}
	json_tokener_free(tok);
	r = egress_policy_from_json(o, out, err, errlen);
	json_object_put(o);
	return r;
}

int egress_policy_load_hosts(struct egress_policy *p, const char *path, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	size_t n;
	int r, lineno = 0;

	r = policy_slurp(path, EGRESS_POLICY_FILE_MAX, &text, &n);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (strlen(text) != n) {
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		return -EINVAL;
	}
	/* strtok_r skips empty lines, so count them by hand. */
	for (line = text; line; line = save) {
		char *nl = strchr(line, '\n'), *hash, *addr, *name, *ws = NULL;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		addr = strtok_r(line, " \t\r", &ws);
		if (!addr)
			continue;
		name = strtok_r(NULL, " \t\r", &ws);
		if (!name) {
			snprintf(err, errlen, "%s:%d: want ADDRESS NAME...", path, lineno);
			return -EINVAL;
		}
		for (; name; name = strtok_r(NULL, " \t\r", &ws)) {
			r = egress_policy_add_host(p, name, addr);
			if (r < 0) {
				snprintf(err, errlen, "%s:%d: bad entry \"%s %s\"", path, lineno,
					 addr, name);
				return r;
			}
		}
	}
	return 0;
}
