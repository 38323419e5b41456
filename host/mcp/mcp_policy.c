#include "host/mcp/mcp_policy.h"

#include "common/cleanup.h"
#include "host/cli/cli.h"
#include "host/egress/egress_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MCP_POLICY_FILE_MAX (1u << 20)
#define MCP_POLICY_NAME_MAX 253

static __attribute__((format(printf, 3, 4))) int mcp_policy_err(char *err, size_t len,
								const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int mcp_policy_new_default(struct mcp_policy **out)
{
	struct mcp_policy *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->exec_timeout_ms = MCP_POLICY_DEFAULT_TIMEOUT_MS;
	p->output_cap = MCP_POLICY_DEFAULT_OUTPUT_CAP;
	p->max_sandboxes = MCP_POLICY_DEFAULT_SANDBOXES;
	*out = p;
	return 0;
}

void mcp_policy_free(struct mcp_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ndomains; i++)
		free(p->domains[i]);
	free(p->domains);
	json_object_put(p->hosts);
	free(p);
}

/* Is s (n bytes) an IPv4 literal in any form inet_aton(3) takes? The
 * browser reads "2130706433" and "0x7f.1" as addresses, so they are. */
static int mcp_policy_ipv4(const char *s, struct in_addr *a)
{
	const char *last = strrchr(s, '.');

	last = last ? last + 1 : s;
	if (!*last)
		return 0;
	if (!((last[0] >= '0' && last[0] <= '9')))
		return 0;
	return inet_aton(s, a) ? 1 : -1;
}

int mcp_policy_normalize_domain(const char *in, char *out, size_t len)
{
	char buf[MCP_POLICY_NAME_MAX + 4];
	size_t n = strlen(in), i, label = 0;
	const char *name;
	struct in_addr a4;
	struct in6_addr a6;
	int wild = 0, r;

	if (n == 0 || n > MCP_POLICY_NAME_MAX + 3)
		return -EINVAL;
	/* An IPv6 literal, with or without brackets. */
	if (in[0] == '[' || strchr(in, ':')) {
		char tmp[64];
		if (in[0] == '[') {
			if (n < 3 || in[n - 1] != ']' || n - 2 >= sizeof(tmp))
				return -EINVAL;
			memcpy(tmp, in + 1, n - 2);
			tmp[n - 2] = '\0';
		} else {
			if (n >= sizeof(tmp))
				return -EINVAL;
			memcpy(tmp, in, n + 1);
		}
		if (inet_pton(AF_INET6, tmp, &a6) != 1 ||
		    !inet_ntop(AF_INET6, &a6, out, (socklen_t)len))
			return -EINVAL;
		return 0;
	}
	for (i = 0; i < n; i++)
		buf[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	buf[n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	name = buf;
	if (strncmp(buf, "*.", 2) == 0) {
		wild = 1;
		name = buf + 2;
	}
	if (!*name || strlen(name) > MCP_POLICY_NAME_MAX)
		return -EINVAL;
	r = mcp_policy_ipv4(name, &a4);
	if (r < 0)
		return -EINVAL;
	if (r > 0) {
		if (wild || !inet_ntop(AF_INET, &a4, out, (socklen_t)len))
			return -EINVAL;
		return 0;
	}
	for (i = 0; name[i]; i++) {
		char c = name[i];
		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return -EINVAL;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -EINVAL;
		if (c == '-' && label == 0)
			return -EINVAL;
		if (++label > 63)
			return -EINVAL;
	}
	if (label == 0 || name[i - 1] == '-')
		return -EINVAL;
	if ((size_t)snprintf(out, len, "%s", buf) >= len)
		return -EINVAL;
	return 0;
}

/* Loopback, private, link-local, shared, metadata, unspecified, multicast. */
static int mcp_policy_special_v4(uint32_t a)
{
	return (a >> 24) == 127 || (a >> 24) == 10 || (a >> 24) == 0 ||
	       (a & 0xfff00000u) == 0xac100000u || (a & 0xffff0000u) == 0xc0a80000u ||
	       (a & 0xffff0000u) == 0xa9fe0000u || (a & 0xffc00000u) == 0x64400000u ||
	       (a >> 28) == 0xe || (a >> 28) == 0xf;
}

static int mcp_policy_special(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	size_t n = strlen(host);

	if (strcmp(host, "localhost") == 0 || (n > 10 && strcmp(host + n - 10, ".localhost") == 0))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return mcp_policy_special_v4(ntohl(a4.s_addr));
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		const unsigned char *b = a6.s6_addr;
		static const unsigned char zero[10];
		if (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6) ||
		    IN6_IS_ADDR_LINKLOCAL(&a6) || IN6_IS_ADDR_SITELOCAL(&a6) ||
		    IN6_IS_ADDR_MULTICAST(&a6) || (b[0] & 0xfe) == 0xfc)
			return 1;
		/* IPv4-mapped and -compatible addresses carry an IPv4 one. */
		if (memcmp(b, zero, 10) == 0 &&
		    ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)))
			return mcp_policy_special_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
						     (uint32_t)b[14] << 8 | b[15]);
		return 0;
	}
	return 0;
}

int mcp_policy_host_allowed(const struct mcp_policy *p, const char *host, char *why, size_t why_len)
{
	char h[MCP_POLICY_NAME_MAX + 4];
	size_t hl;

	if (mcp_policy_normalize_domain(host, h, sizeof(h)) < 0 || h[0] == '*') {
		mcp_policy_err(why, why_len, "'%.100s' is not a valid host name", host);
		return 0;
	}
	hl = strlen(h);
	for (size_t i = 0; i < p->ndomains; i++) {
		const char *d = p->domains[i];
		if (strcmp(d, h) == 0)
			return 1;
		/* A wildcard never lets a special name through ("*.localhost"). */
		if (d[0] == '*' && !mcp_policy_special(h)) {
			size_t dl = strlen(d + 1); /* ".example.com" */
			if (hl > dl && strcmp(h + hl - dl, d + 1) == 0)
				return 1;
		}
	}
	if (mcp_policy_special(h)) {
		mcp_policy_err(why, why_len,
			       "%s is a loopback, private, link-local or metadata address; the "
			       "policy must list it in allowed_domains",
			       h);
		return 0;
	}
	if (!p->has_allowlist)
		return 1;
	mcp_policy_err(why, why_len, "%s is not in the policy's allowed_domains", h);
	return 0;
}

static int mcp_policy_int(struct json_object *v, const char *name, int64_t min, int64_t max,
			  int64_t *out, char *err, size_t len)
{
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
	    json_object_get_int64(v) > max)
		return mcp_policy_err(err, len, "%s: must be an integer from %lld to %lld", name,
				      (long long)min, (long long)max);
	*out = json_object_get_int64(v);
	return 0;
}

static int mcp_policy_parse_domains(struct mcp_policy *p, struct json_object *v, char *err,
				    size_t len)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return mcp_policy_err(err, len, "allowed_domains: must be an array of host names");
	n = json_object_array_length(v);
	if (n > MCP_POLICY_DOMAINS_MAX)
		return mcp_policy_err(err, len, "allowed_domains: at most %d entries",
				      MCP_POLICY_DOMAINS_MAX);
	p->has_allowlist = 1;
	p->domains = calloc(n ? n : 1, sizeof(*p->domains));
	if (!p->domains)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		char norm[MCP_POLICY_NAME_MAX + 4];
		if (!json_object_is_type(e, json_type_string))
			return mcp_policy_err(err, len, "allowed_domains[%zu]: must be a string",
					      i);
		if (mcp_policy_normalize_domain(json_object_get_string(e), norm, sizeof(norm)) < 0)
			return mcp_policy_err(
				err, len,
				"allowed_domains[%zu]: '%.100s' is not a host name, '*.' wildcard "
				"or IP address (names are ASCII: use the xn-- form)",
				i, json_object_get_string(e));
		p->domains[i] = strdup(norm);
		if (!p->domains[i])
			return -ENOMEM;
		p->ndomains = i + 1;
	}
	return 0;
}

/* "hosts": {"name": "addr" | ["addr", ...]}: names as in allowed_domains
 * (no wildcards, no addresses), addresses IPv4 or IPv6 literals. */
static int mcp_policy_parse_hosts(struct mcp_policy *p, struct json_object *v, char *err,
				  size_t len)
{
	size_t n = 0;

	if (!json_object_is_type(v, json_type_object))
		return mcp_policy_err(err, len, "hosts: must be an object of name: address");
	json_object_put(p->hosts);
	p->hosts = json_object_new_object();
	if (!p->hosts)
		return -ENOMEM;
	json_object_object_foreach(v, key, val)
	{
		char norm[MCP_POLICY_NAME_MAX + 4];
		struct json_object *addrs;
		size_t na;

		if (++n > MCP_POLICY_HOSTS_MAX)
			return mcp_policy_err(err, len, "hosts: at most %d names",
					      MCP_POLICY_HOSTS_MAX);
		if (mcp_policy_normalize_domain(key, norm, sizeof(norm)) < 0 || norm[0] == '*' ||
		    strchr(norm, ':') || mcp_policy_ipv4(norm, &(struct in_addr){ 0 }) != 0)
			return mcp_policy_err(err, len, "hosts: '%.100s' is not a host name", key);
		if (json_object_is_type(val, json_type_string))
			na = 1;
		else if (json_object_is_type(val, json_type_array))
			na = json_object_array_length(val);
		else
			return mcp_policy_err(
				err, len, "hosts.%s: must be an address or an array of them", norm);
		if (na < 1 || na > MCP_POLICY_HOST_ADDRS_MAX)
			return mcp_policy_err(err, len, "hosts.%s: 1 to %d addresses", norm,
					      MCP_POLICY_HOST_ADDRS_MAX);
		addrs = json_object_new_array();
		if (!addrs)
			return -ENOMEM;
		json_object_object_add(p->hosts, norm, addrs);
		for (size_t i = 0; i < na; i++) {
			struct json_object *e = json_object_is_type(val, json_type_string)
							? val
							: json_object_array_get_idx(val, i);
			const char *s = json_object_get_string(e);
			struct in6_addr a6;
			char buf[INET6_ADDRSTRLEN];
			int v4;

			if (!json_object_is_type(e, json_type_string))
				return mcp_policy_err(err, len, "hosts.%s: addresses are strings",
						      norm);
			v4 = inet_pton(AF_INET, s, &a6) == 1;
			if (!v4 && inet_pton(AF_INET6, s, &a6) != 1)
				return mcp_policy_err(err, len,
						      "hosts.%s: '%.64s' is not an IPv4 or IPv6 "
						      "address",
						      norm, s);
			inet_ntop(v4 ? AF_INET : AF_INET6, &a6, buf, sizeof(buf));
			json_object_array_add(addrs, json_object_new_string(buf));
		}
	}
	return 0;
}

/* A name in "hosts" that allowed_domains does not let through would be
 * refused by egress at every connection: refuse the policy instead, once the
 * whole object is read (its members come in any order). */
static int mcp_policy_check_hosts(const struct mcp_policy *p, char *err, size_t len)
{
	char why[256];

	if (!p->hosts)
		return 0;
	json_object_object_foreach(p->hosts, name, addrs)
	{
		(void)addrs;
		if (!mcp_policy_host_allowed(p, name, why, sizeof(why)))
			return mcp_policy_err(err, len, "hosts.%s: mapped, but not allowed: %s",
					      name, why);
	}
	return 0;
}

static int mcp_policy_parse_ports(struct mcp_policy *p, struct json_object *v, char *err,
				  size_t len)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return mcp_policy_err(err, len, "allowed_ports: must be an array of port numbers");
	n = json_object_array_length(v);
	if (n < 1 || n > MCP_POLICY_PORTS_MAX)
		return mcp_policy_err(err, len, "allowed_ports: 1 to %d ports",
				      MCP_POLICY_PORTS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 1 ||
		    json_object_get_int64(e) > 65535)
			return mcp_policy_err(err, len,
					      "allowed_ports[%zu]: must be an integer from 1 to "
					      "65535",
					      i);
		p->ports[i] = (uint16_t)json_object_get_int64(e);
	}
	p->nports = n;
	return 0;
}

static int mcp_policy_parse_browser(struct mcp_policy *p, struct json_object *v, char *err,
				    size_t len)
{
	if (!json_object_is_type(v, json_type_object))
		return mcp_policy_err(err, len, "browser: must be an object");
	json_object_object_foreach(v, key, val)
	{
		if (strcmp(key, "evaluate") == 0) {
			if (!json_object_is_type(val, json_type_boolean))
				return mcp_policy_err(err, len,
						      "browser.evaluate: must be true or false");
			p->allow_evaluate = json_object_get_boolean(val);
		} else {
			return mcp_policy_err(
				err, len, "browser: unknown member '%.64s' (known: evaluate)", key);
		}
	}
	return 0;
}

static int mcp_policy_parse_limits(struct mcp_policy *p, struct json_object *v, char *err,
				   size_t len)
{
	int64_t x;
	int r;

	if (!json_object_is_type(v, json_type_object))
		return mcp_policy_err(err, len, "limits: must be an object");
	json_object_object_foreach(v, key, val)
	{
		if (strcmp(key, "exec_timeout_ms") == 0) {
			r = mcp_policy_int(val, "limits.exec_timeout_ms", 1,
					   MCP_POLICY_MAX_TIMEOUT_MS, &x, err, len);
			p->exec_timeout_ms = (uint64_t)x;
		} else if (strcmp(key, "output_cap_bytes") == 0) {
			r = mcp_policy_int(val, "limits.output_cap_bytes", 1024,
					   MCP_POLICY_MAX_OUTPUT_CAP, &x, err, len);
			p->output_cap = (size_t)x;
		} else if (strcmp(key, "max_sandboxes") == 0) {
			r = mcp_policy_int(val, "limits.max_sandboxes", 1, MCP_POLICY_MAX_SANDBOXES,
					   &x, err, len);
			p->max_sandboxes = (unsigned)x;
		} else if (strcmp(key, "mem") == 0) {
			uint64_t b = 0;
			r = 0;
			if (json_object_is_type(val, json_type_int) &&
			    json_object_get_int64(val) > 0)
				b = (uint64_t)json_object_get_int64(val);
			else if (!json_object_is_type(val, json_type_string) ||
				 cli_parse_size(json_object_get_string(val), &b) < 0)
				b = 0;
			if (b < (16u << 20) || b > (1ull << 40))
				r = mcp_policy_err(
					err, len,
					"limits.mem: must be a size from 16M to 1T, such "
					"as \"512M\", \"2G\" or a number of bytes");
			p->mem_bytes = b;
		} else if (strcmp(key, "cpus") == 0) {
			double d = json_object_is_type(val, json_type_int) ||
						   json_object_is_type(val, json_type_double)
					   ? json_object_get_double(val)
					   : -1;
			r = 0;
			if (!isfinite(d) || d < 0.001 || d > 1024)
				r = mcp_policy_err(
					err, len,
					"limits.cpus: must be a number of CPUs from 0.001 "
					"to 1024, such as 2 or 0.5");
			else
				p->cpu_millis = (uint32_t)llround(d * 1000);
		} else {
			r = mcp_policy_err(
				err, len,
				"limits: unknown member '%.64s' (known: exec_timeout_ms, "
				"output_cap_bytes, max_sandboxes, mem, cpus)",
				key);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int mcp_policy_parse(const char *text, size_t len, struct mcp_policy **out, char *err,
		     size_t err_len)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct mcp_policy *p;
	size_t end;
	int r = 0;

	*out = NULL;
	if (len > MCP_POLICY_FILE_MAX)
		return mcp_policy_err(err, err_len, "larger than %u bytes", MCP_POLICY_FILE_MAX);
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_continue) {
		json_object_put(root);
		root = json_tokener_parse_ex(tok, "", 1);
	}
	if (json_tokener_get_error(tok) != json_tokener_success) {
		r = mcp_policy_err(err, err_len, "not valid JSON: %s (at byte %zu)",
				   json_tokener_error_desc(json_tokener_get_error(tok)),
				   json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		json_object_put(root);
		return r;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < len; end++) {
		char c = text[end];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\0') {
			json_object_put(root);
			return mcp_policy_err(err, err_len,
					      "not valid JSON: text after the object (byte %zu)",
					      end);
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return mcp_policy_err(err, err_len, "must be a JSON object");
	}
	r = mcp_policy_new_default(&p);
	if (r < 0) {
		json_object_put(root);
		return r;
	}
	json_object_object_foreach(root, key, val)
	{
		if (strcmp(key, "allowed_domains") == 0)
			r = mcp_policy_parse_domains(p, val, err, err_len);
		else if (strcmp(key, "browser") == 0)
			r = mcp_policy_parse_browser(p, val, err, err_len);
		else if (strcmp(key, "hosts") == 0)
			r = mcp_policy_parse_hosts(p, val, err, err_len);
		else if (strcmp(key, "allowed_ports") == 0)
			r = mcp_policy_parse_ports(p, val, err, err_len);
		else if (strcmp(key, "limits") == 0)
			r = mcp_policy_parse_limits(p, val, err, err_len);
		else if (strcmp(key, "version") == 0)
			r = json_object_is_type(val, json_type_int) &&
					    json_object_get_int64(val) == 1
				    ? 0
				    : mcp_policy_err(err, err_len, "version: must be 1");
		else
			r = mcp_policy_err(err, err_len,
					   "unknown member '%.64s' (known: allowed_domains, "
					   "allowed_ports, browser, hosts, limits, version)",
					   key);
		if (r < 0)
			break;
	}
	json_object_put(root);
	if (r >= 0)
		r = mcp_policy_check_hosts(p, err, err_len);
	if (r < 0) {
		mcp_policy_free(p);
		return r;
	}
	*out = p;
	return 0;
}

int mcp_policy_load(const char *path, struct mcp_policy **out, char *err, size_t err_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	char inner[512];
	struct stat st;
	size_t got = 0;
	int r;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		mcp_policy_err(err, err_len, "policy %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode))
		return mcp_policy_err(err, err_len, "policy %s: not a regular file", path);
	if (st.st_size > MCP_POLICY_FILE_MAX)
		return mcp_policy_err(err, err_len, "policy %s: larger than %u bytes", path,
				      MCP_POLICY_FILE_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mcp_policy_err(err, err_len, "policy %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	r = mcp_policy_parse(buf, got, out, inner, sizeof(inner));
	if (r < 0)
		mcp_policy_err(err, err_len, "policy %s: %s", path, inner);
	return r;
}

int mcp_policy_to_egress(const struct mcp_policy *p, struct egress_policy **out, char *err,
			 size_t err_len)
{
	struct json_object *o = json_object_new_object(), *dom = json_object_new_array(),
			   *lit = json_object_new_array(), *rng = json_object_new_array(),
			   *hosts = json_object_new_object();
	int r;

	*out = NULL;
	if (!o || !dom || !lit || !rng || !hosts) {
		json_object_put(o);
		json_object_put(dom);
		json_object_put(lit);
		json_object_put(rng);
		json_object_put(hosts);
		return -ENOMEM;
	}
	json_object_object_add(o, "allow_domains", dom);
	json_object_object_add(o, "allow_literals", lit);
	json_object_object_add(o, "allow_ranges", rng);
	json_object_object_add(o, "hosts", hosts);
	if (!p->has_allowlist) {
		/* Public hosts: names and addresses outside the denied ranges. */
		json_object_array_add(dom, json_object_new_string("*"));
		json_object_array_add(lit, json_object_new_string("0.0.0.0/0"));
		json_object_array_add(lit, json_object_new_string("::/0"));
	}
	for (size_t i = 0; i < p->ndomains; i++) {
		const char *d = p->domains[i];
		struct in_addr a4;
		struct in6_addr a6;
		char cidr[80];
		int v4 = inet_pton(AF_INET, d, &a4) == 1,
		    v6 = !v4 && inet_pton(AF_INET6, d, &a6) == 1;

		if (!v4 && !v6) {
			json_object_array_add(dom, json_object_new_string(d));
			if (strcmp(d, "localhost") == 0) {
				json_object_object_add(hosts, "localhost",
						       json_object_new_string("127.0.0.1"));
				json_object_array_add(rng, json_object_new_string("127.0.0.1/32"));
			}
			continue;
		}
		snprintf(cidr, sizeof(cidr), "%s/%d", d, v4 ? 32 : 128);
		json_object_array_add(lit, json_object_new_string(cidr));
		if (mcp_policy_special(d))
			json_object_array_add(rng, json_object_new_string(cidr));
	}
	if (p->nports) {
		struct json_object *ports = json_object_new_array();

		if (!ports) {
			json_object_put(o);
			return -ENOMEM;
		}
		json_object_object_add(o, "allow_ports", ports);
		for (size_t i = 0; i < p->nports; i++)
			json_object_array_add(ports, json_object_new_int(p->ports[i]));
	}
	/* Names mapped by the policy go where it says; it named those addresses,
	 * so they are allowed even in the denied ranges. */
	if (p->hosts) {
		json_object_object_foreach(p->hosts, name, addrs)
		{
			struct json_object *copy = json_object_new_array();

			if (!copy) {
				json_object_put(o);
				return -ENOMEM;
			}
			json_object_object_add(hosts, name, copy);
			for (size_t i = 0; i < json_object_array_length(addrs); i++) {
				const char *a =
					json_object_get_string(json_object_array_get_idx(addrs, i));
				char cidr[80];

				json_object_array_add(copy, json_object_new_string(a));
				if (mcp_policy_special(a)) {
					snprintf(cidr, sizeof(cidr), "%s/%d", a,
						 strchr(a, ':') ? 128 : 32);
					json_object_array_add(rng, json_object_new_string(cidr));
				}
			}
		}
	}
	r = egress_policy_from_json(o, out, err, err_len);
	json_object_put(o);
	return r;
}
