/* A sandbox's egress policy (docs/EGRESS.md): which names, ports and
 * address ranges its connections may reach, the names the proxy resolves
 * itself, and its quotas. Loaded from JSON; every check is a pure function. */
#ifndef AGENTVM_HOST_EGRESS_POLICY_H
#define AGENTVM_HOST_EGRESS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "host/egress/egress_host.h"

struct json_object;

#define EGRESS_PORTS_MAX       64
#define EGRESS_ADDRS_MAX       16   /* addresses kept per resolved name */
#define EGRESS_LIST_MAX	       4096 /* domains, ranges, literals, hosts */
#define EGRESS_POLICY_FILE_MAX (1u << 20)

struct egress_cidr {
	struct egress_addr addr;
	unsigned prefix;
};

/* A name the proxy resolves from its own table instead of DNS. */
struct egress_static_host {
	char name[EGRESS_HOST_MAX + 1];
	struct egress_addr addrs[EGRESS_ADDRS_MAX];
	size_t naddrs;
};

/* Zero means no limit. */
struct egress_quota {
	uint64_t bytes_up;	   /* sandbox -> world, over the sandbox's life */
	uint64_t bytes_down;	   /* world -> sandbox */
	uint32_t conns_total;	   /* connections accepted over the sandbox's life */
	uint32_t conns_concurrent; /* open at once */
};

#define EGRESS_DEFAULT_CONCURRENT 256
#define EGRESS_DEFAULT_CONNECT_MS 10000
#define EGRESS_DEFAULT_REQUEST_MS 10000
#define EGRESS_DEFAULT_IDLE_MS	  300000

struct egress_policy {
	char **domains; /* normalised: "name", "*.name" or "*" */
	size_t ndomains;
	uint16_t ports[EGRESS_PORTS_MAX];
	size_t nports;
	struct egress_cidr *ranges; /* allow_ranges: exempt from the denied ranges */
	size_t nranges;
	struct egress_cidr *literals; /* allow_literals: IP literals that may be asked for */
	size_t nliterals;
	struct egress_static_host *hosts;
	size_t nhosts;
	int dns; /* names not in hosts go to the system resolver */
	struct egress_quota quota;
	uint32_t connect_ms, request_ms, idle_ms;
};

/* Why a connection was refused (stable codes, used in the audit line). */
enum egress_deny {
	EGRESS_OK = 0,
	EGRESS_DENY_PORT,	 /* "port" */
	EGRESS_DENY_DOMAIN,	 /* "domain" */
	EGRESS_DENY_LITERAL,	 /* "ip_literal" */
	EGRESS_DENY_RANGE,	 /* "range" */
	EGRESS_DENY_QUOTA_CONNS, /* "quota_connections" */
	EGRESS_DENY_QUOTA_BYTES, /* "quota_bytes" */
	EGRESS_DENY_REQUEST,	 /* "bad_request" */
	EGRESS_DENY_RESOLVE,	 /* "resolve" */
	EGRESS_DENY_CONNECT,	 /* "connect" */
	EGRESS_DENY_BUSY,	 /* "busy" */
	EGRESS_DENY_TIMEOUT,	 /* "timeout" */
};

/* The stable name of a deny code. */
const char *egress_deny_name(enum egress_deny d);

/* The default policy: ports 80 and 443, nothing else allowed. */
int egress_policy_new(struct egress_policy **out);
void egress_policy_free(struct egress_policy *p);

/* Build a policy from its JSON form. Unknown members and ill-typed values are
 * errors (err says which). Returns 0, -EINVAL or -ENOMEM. */
int egress_policy_from_json(struct json_object *o, struct egress_policy **out, char *err,
			    size_t errlen);
/* The same, from a file (at most EGRESS_POLICY_FILE_MAX bytes). */
int egress_policy_load(const char *path, struct egress_policy **out, char *err, size_t errlen);

/* Add an allowed domain pattern ("example.com", "*.example.com", "*"). 0 or -EINVAL. */
int egress_policy_add_domain(struct egress_policy *p, const char *pattern);
/* Map name to address text (added to the name's list). 0 or -EINVAL. */
int egress_policy_add_host(struct egress_policy *p, const char *name, const char *addr);
/* Read a hosts(5)-style file ("ADDR NAME [NAME...]", '#' comments) into the
 * table. 0 or -errno; err says which line is wrong. */
int egress_policy_load_hosts(struct egress_policy *p, const char *path, char *err, size_t errlen);
/* Parse "ADDR" or "ADDR/PREFIX". 0 or -EINVAL. */
int egress_cidr_parse(const char *s, struct egress_cidr *out);
/* Is a inside c? (IPv4-mapped IPv6 addresses match IPv4 ranges.) */
int egress_cidr_contains(const struct egress_cidr *c, const struct egress_addr *a);

/* The port and the name or literal, before any resolution. On refusal fills
 * why (human text) and returns the code; EGRESS_OK with the matching rule in
 * why otherwise. */
enum egress_deny egress_policy_check_target(const struct egress_policy *p,
					    const struct egress_host *h, unsigned port, char *why,
					    size_t len);
/* One address the connection would go to (resolved, or the literal itself):
 * refused if it lies in a denied range the policy does not list. */
enum egress_deny egress_policy_check_addr(const struct egress_policy *p,
					  const struct egress_addr *a, char *why, size_t len);
/* The denied range a lies in ("loopback", "private", "metadata", ...) or NULL.
 * IPv4-mapped addresses are judged as the IPv4 address they carry; IPv6 forms
 * that embed an IPv4 address (compatible, NAT64, 6to4) by both. */
const char *egress_policy_special(const struct egress_addr *a);
/* The static entry for a normalised name, or NULL. */
const struct egress_static_host *egress_policy_lookup(const struct egress_policy *p,
						      const char *name);

#endif
