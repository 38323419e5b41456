/* The policy of an `agentvm mcp` session (--policy FILE, JSON):
 *   {
 *     "allowed_domains": ["example.com", "*.example.org", "10.0.0.5"],
 *     "allowed_ports": [80, 443],
 *     "hosts": { "page.test": "127.0.0.1" },
 *     "browser": { "evaluate": false },
 *     "limits": { "exec_timeout_ms": 120000, "output_cap_bytes": 65536,
 *                 "max_sandboxes": 4, "mem": "1G", "cpus": 2 }
 *   }
 * Every member is optional; unknown members and ill-typed or out-of-range
 * values are errors. "example.com" allows that host only, "*.example.org" its
 * subdomains (not the apex). Without "allowed_domains" any public host is
 * allowed; loopback, private, link-local and metadata addresses and
 * "localhost" are allowed only when listed. "hosts" maps names to the
 * addresses the egress proxy connects to instead of asking DNS (a name
 * allowed_domains does not allow is an error; its mapped addresses are
 * allowed even when special). */
#ifndef AGENTVM_HOST_MCP_MCP_POLICY_H
#define AGENTVM_HOST_MCP_MCP_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

#define MCP_POLICY_DOMAINS_MAX	      1024
#define MCP_POLICY_HOSTS_MAX	      256 /* names in "hosts" */
#define MCP_POLICY_HOST_ADDRS_MAX     16  /* addresses per name */
#define MCP_POLICY_PORTS_MAX	      64  /* "allowed_ports" entries */

#define MCP_POLICY_DEFAULT_TIMEOUT_MS 120000
#define MCP_POLICY_MAX_TIMEOUT_MS     3600000
#define MCP_POLICY_DEFAULT_OUTPUT_CAP 65536
#define MCP_POLICY_MAX_OUTPUT_CAP     (4u << 20)
#define MCP_POLICY_DEFAULT_SANDBOXES  4
#define MCP_POLICY_MAX_SANDBOXES      64

struct mcp_policy {
	int has_allowlist; /* "allowed_domains" was given (even empty: nothing) */
	char **domains;	   /* normalised: lower case, no trailing dot */
	size_t ndomains;
	struct json_object *hosts;	      /* {"name": ["addr", ...]}, normalised; NULL: none */
	uint16_t ports[MCP_POLICY_PORTS_MAX]; /* the ports egress may use; none: 80, 443 */
	size_t nports;
	int allow_evaluate;	  /* browser_evaluate is offered */
	uint64_t exec_timeout_ms; /* default and largest timeout of one command */
	size_t output_cap;	  /* bytes of stdout (and of stderr) shown per command */
	unsigned max_sandboxes;	  /* sandboxes alive at once, the default one included */
	uint64_t mem_bytes;	  /* largest memory per sandbox; 0: the backend's default */
	uint32_t cpu_millis;	  /* largest CPU share per sandbox; 0: the backend's default */
};

/* The built-in policy (what runs without --policy). */
int mcp_policy_new_default(struct mcp_policy **out);
/* Parse policy JSON text. 0, or -EINVAL with one line in err naming the member
 * ("limits.max_sandboxes: must be an integer from 1 to 64"), or -ENOMEM. */
int mcp_policy_parse(const char *text, size_t len, struct mcp_policy **out, char *err,
		     size_t err_len);
/* Read and parse a policy file; errors are prefixed with the path. */
int mcp_policy_load(const char *path, struct mcp_policy **out, char *err, size_t err_len);
/* NULL-safe. */
void mcp_policy_free(struct mcp_policy *p);

/* May the browser go to host (a name, an IPv4 literal or a bracketless IPv6
 * literal, any case)? 1 yes, 0 no (with the reason in why). */
int mcp_policy_host_allowed(const struct mcp_policy *p, const char *host, char *why,
			    size_t why_len);

struct egress_policy;
/* The same rules for the egress proxy (host/egress/egress_policy.h), for
 * the sandboxes' connections: the listed names become allow_domains ("*"
 * without a list); listed IP addresses become allow_literals, and, when they
 * are in a denied range, allow_ranges; "localhost" maps to 127.0.0.1.
 * "allowed_ports" become allow_ports (default 80 and 443); "hosts" become
 * hosts, their special addresses allow_ranges. Quotas keep the egress
 * defaults (none). 0, or
 * -EINVAL with the egress policy's complaint in err, or -ENOMEM. */
int mcp_policy_to_egress(const struct mcp_policy *p, struct egress_policy **out, char *err,
			 size_t err_len);

/* Canonical form of a host or pattern ("*.Example.COM." -> "*.example.com").
 * -EINVAL if it is not a valid name, wildcard or IP literal. */
int mcp_policy_normalize_domain(const char *in, char *out, size_t len);

#endif
