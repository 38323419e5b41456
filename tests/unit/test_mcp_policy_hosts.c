/* The "hosts" and "allowed_ports" members of the MCP policy, and how
 * mcp_policy_to_egress() carries them into the egress policy. */
#include "tests/unit/tap.h"

#include "host/egress/egress_host.h"
#include "host/egress/egress_policy.h"
#include "host/mcp/mcp_policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/socket.h>

static struct mcp_policy *parse(const char *text)
{
	struct mcp_policy *p = NULL;
	char err[256] = "";

	if (mcp_policy_parse(text, strlen(text), &p, err, sizeof(err)) < 0) {
		printf("# parse failed: %s\n", err);
		return NULL;
	}
	return p;
}

/* text is refused with -EINVAL and an error that contains want. */
static void bad(const char *text, const char *want)
{
	struct mcp_policy *p = NULL;
	char err[256] = "";
	int r = mcp_policy_parse(text, strlen(text), &p, err, sizeof(err));

	if (!ok(r == -EINVAL && !p && strstr(err, want), "refused: %s", text))
		printf("#   r=%d err='%s' want '%s'\n", r, err, want);
	mcp_policy_free(p);
}

/* The addresses p->hosts maps name to, joined with ','. */
static const char *addrs_of(const struct mcp_policy *p, const char *name)
{
	static char buf[512];
	struct json_object *a;

	buf[0] = '\0';
	if (!p->hosts || !json_object_object_get_ex(p->hosts, name, &a) ||
	    !json_object_is_type(a, json_type_array))
		return "(none)";
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		if (i)
			strncat(buf, ",", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, json_object_get_string(json_object_array_get_idx(a, i)),
			sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

static const struct egress_static_host *egress_host_named(const struct egress_policy *e,
							  const char *name)
{
	for (size_t i = 0; i < e->nhosts; i++)
		if (strcmp(e->hosts[i].name, name) == 0)
			return &e->hosts[i];
	return NULL;
}

static int has_addr(const struct egress_static_host *h, const char *addr)
{
	struct egress_addr a;

	if (egress_addr_parse(addr, &a) < 0)
		return 0;
	for (size_t i = 0; h && i < h->naddrs; i++)
		if (h->addrs[i].family == a.family &&
		    memcmp(h->addrs[i].b, a.b, a.family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

static int has_port(const struct egress_policy *e, unsigned port)
{
	for (size_t i = 0; i < e->nports; i++)
		if (e->ports[i] == port)
			return 1;
	return 0;
}

static enum egress_deny check_name(const struct egress_policy *e, const char *name, unsigned port)
{
	struct egress_host h;
	char why[256];

	if (egress_host_parse(name, strlen(name), &h) < 0)
		return EGRESS_DENY_REQUEST;
	return egress_policy_check_target(e, &h, port, why, sizeof(why));
}

static enum egress_deny check_addr(const struct egress_policy *e, const char *addr)
{
	struct egress_addr a;
	char why[256];

	if (egress_addr_parse(addr, &a) < 0)
		return EGRESS_DENY_REQUEST;
	return egress_policy_check_addr(e, &a, why, sizeof(why));
}

static void test_valid(void)
{
	struct mcp_policy *p;
	struct egress_policy *e = NULL;
	char err[256] = "";

	p = parse("{\"allowed_domains\":[\"page.test\",\"api.test\",\"*.wild.test\"],"
		  "\"hosts\":{\"Page.TEST.\":\"127.0.0.1\","
		  "\"api.test\":[\"10.0.0.7\",\"0:0::1\",\"203.0.113.9\"]},"
		  "\"allowed_ports\":[8080,1,65535]}");
	ok(p != NULL, "hosts (string and array forms) and allowed_ports parse");
	if (!p)
		return;
	ok(strcmp(addrs_of(p, "page.test"), "127.0.0.1") == 0,
	   "a host name is normalised and a single address becomes a list (%s)",
	   addrs_of(p, "page.test"));
	ok(strcmp(addrs_of(p, "api.test"), "10.0.0.7,::1,203.0.113.9") == 0,
	   "several addresses keep their order and IPv6 is canonical (%s)",
	   addrs_of(p, "api.test"));
	is(json_object_object_length(p->hosts), 2, "two names mapped");
	is(p->nports, 3, "three ports");
	ok(p->ports[0] == 8080 && p->ports[1] == 1 && p->ports[2] == 65535,
	   "ports kept in order, 1 and 65535 included");

	is(mcp_policy_to_egress(p, &e, err, sizeof(err)), 0, "to_egress succeeds (%s)", err);
	if (e) {
		const struct egress_static_host *h1 = egress_host_named(e, "page.test"),
						*h2 = egress_host_named(e, "api.test");

		ok(h1 && h1->naddrs == 1 && has_addr(h1, "127.0.0.1"),
		   "egress maps page.test to 127.0.0.1");
		ok(h2 && h2->naddrs == 3 && has_addr(h2, "10.0.0.7") && has_addr(h2, "::1") &&
			   has_addr(h2, "203.0.113.9"),
		   "egress maps api.test to its three addresses");
		ok(!egress_host_named(e, "wild.test"), "no host invented for the wildcard");
		is(e->nports, 3, "egress has exactly the policy's ports");
		ok(has_port(e, 8080) && has_port(e, 1) && has_port(e, 65535) && !has_port(e, 80) &&
			   !has_port(e, 443),
		   "egress ports are 8080, 1, 65535 (not the 80/443 default)");
		is(check_name(e, "page.test", 8080), EGRESS_OK, "page.test:8080 allowed");
		is(check_name(e, "page.test", 443), EGRESS_DENY_PORT,
		   "page.test:443 refused by port");
		is(check_addr(e, "127.0.0.1"), EGRESS_OK,
		   "a mapped loopback address is exempt from the denied ranges");
		is(check_addr(e, "10.0.0.7"), EGRESS_OK, "a mapped private address is exempt");
		is(check_addr(e, "::1"), EGRESS_OK, "a mapped IPv6 loopback is exempt");
		is(check_addr(e, "127.0.0.2"), EGRESS_DENY_RANGE,
		   "an unmapped loopback address stays denied");
		is(check_addr(e, "10.0.0.8"), EGRESS_DENY_RANGE,
		   "an unmapped private address stays denied");
	}
	egress_policy_free(e);
	mcp_policy_free(p);
}

static void test_defaults(void)
{
	struct mcp_policy *p = parse("{\"allowed_domains\":[\"example.com\"]}");
	struct egress_policy *e = NULL;
	char err[256] = "";

	ok(p && p->hosts == NULL && p->nports == 0, "without the members: no hosts, no ports");
	if (!p)
		return;
	is(mcp_policy_to_egress(p, &e, err, sizeof(err)), 0, "to_egress succeeds (%s)", err);
	if (e) {
		is(e->nports, 2, "egress defaults to two ports");
		ok(has_port(e, 80) && has_port(e, 443), "the defaults are 80 and 443");
		is(e->nhosts, 0, "no static hosts");
	}
	egress_policy_free(e);
	mcp_policy_free(p);
}

/* A mapped name that allowed_domains does not allow would only be refused by
 * egress at run time: the policy itself is refused, naming the host. */
static void test_name_needs_domain(void)
{
	struct mcp_policy *p;

	bad("{\"allowed_domains\":[\"example.com\"],\"hosts\":{\"other.test\":\"192.0.2.1\"}}",
	    "hosts.other.test: mapped, but not allowed: other.test is not in the policy's "
	    "allowed_domains");
	/* The order of the members does not matter. */
	bad("{\"hosts\":{\"Other.Test\":\"192.0.2.1\"},\"allowed_domains\":[\"example.com\"]}",
	    "hosts.other.test: mapped");
	bad("{\"allowed_domains\":[],\"hosts\":{\"a.test\":\"10.0.0.1\"}}", "hosts.a.test");
	bad("{\"allowed_domains\":[\"page.test\"],\"hosts\":{\"page.test\":\"127.0.0.1\","
	    "\"blocked.test\":\"127.0.0.1\"}}",
	    "hosts.blocked.test: mapped, but not allowed");
	/* Without a list any public name is allowed; a special one must be listed. */
	bad("{\"hosts\":{\"web.localhost\":\"127.0.0.1\"}}",
	    "hosts.web.localhost: mapped, but not allowed");
	p = parse("{\"hosts\":{\"a.test\":\"10.0.0.1\"}}");
	ok(p != NULL, "without allowed_domains a public name may be mapped");
	mcp_policy_free(p);
	p = parse(
		"{\"allowed_domains\":[\"*.wild.test\"],\"hosts\":{\"x.wild.test\":\"10.0.0.1\"}}");
	ok(p != NULL, "a name a wildcard allows may be mapped");
	mcp_policy_free(p);
}

static void test_invalid(void)
{
	bad("{\"hosts\":[]}", "hosts: must be an object");
	bad("{\"hosts\":\"a.test\"}", "hosts: must be an object");
	bad("{\"hosts\":{\"a.test\":1}}", "hosts.a.test: must be an address or an array");
	bad("{\"hosts\":{\"a.test\":null}}", "hosts.a.test: must be an address or an array");
	bad("{\"hosts\":{\"a.test\":{}}}", "hosts.a.test: must be an address or an array");
	bad("{\"hosts\":{\"a.test\":[]}}", "hosts.a.test: 1 to 16 addresses");
	bad("{\"hosts\":{\"a.test\":[\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\","
	    "\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\","
	    "\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\","
	    "\"1.1.1.1\"]}}",
	    "hosts.a.test: 1 to 16 addresses");
	bad("{\"hosts\":{\"a.test\":[\"1.2.3.4\",5]}}", "hosts.a.test: addresses are strings");
	bad("{\"hosts\":{\"a.test\":[true]}}", "hosts.a.test: addresses are strings");
	bad("{\"hosts\":{\"a.test\":\"1.2.3.256\"}}", "hosts.a.test: '1.2.3.256' is not an IPv4");
	bad("{\"hosts\":{\"a.test\":\"1.2.3\"}}", "hosts.a.test: '1.2.3' is not an IPv4");
	bad("{\"hosts\":{\"a.test\":\"0x7f.1\"}}", "hosts.a.test: '0x7f.1' is not an IPv4");
	bad("{\"hosts\":{\"a.test\":\"example.com\"}}", "is not an IPv4 or IPv6");
	bad("{\"hosts\":{\"a.test\":\"::1::2\"}}", "hosts.a.test: '::1::2' is not an IPv4");
	bad("{\"hosts\":{\"a.test\":\"[::1]\"}}", "is not an IPv4 or IPv6");
	bad("{\"hosts\":{\"a.test\":\"\"}}", "is not an IPv4 or IPv6");
	bad("{\"hosts\":{\"*.a.test\":\"1.2.3.4\"}}", "hosts: '*.a.test' is not a host name");
	bad("{\"hosts\":{\"1.2.3.4\":\"1.2.3.4\"}}", "hosts: '1.2.3.4' is not a host name");
	bad("{\"hosts\":{\"::1\":\"1.2.3.4\"}}", "hosts: '::1' is not a host name");
	bad("{\"hosts\":{\"bad name\":\"1.2.3.4\"}}", "hosts: 'bad name' is not a host name");
	bad("{\"hosts\":{\"\":\"1.2.3.4\"}}", "hosts: '' is not a host name");

	bad("{\"allowed_ports\":443}", "allowed_ports: must be an array");
	bad("{\"allowed_ports\":{}}", "allowed_ports: must be an array");
	bad("{\"allowed_ports\":[]}", "allowed_ports: 1 to 64 ports");
	bad("{\"allowed_ports\":[0]}", "allowed_ports[0]: must be an integer from 1 to 65535");
	bad("{\"allowed_ports\":[80,65536]}",
	    "allowed_ports[1]: must be an integer from 1 to 65535");
	bad("{\"allowed_ports\":[-1]}", "allowed_ports[0]: must be an integer");
	bad("{\"allowed_ports\":[80.5]}", "allowed_ports[0]: must be an integer");
	bad("{\"allowed_ports\":[\"80\"]}", "allowed_ports[0]: must be an integer");
	bad("{\"allowed_ports\":[null]}", "allowed_ports[0]: must be an integer");
	bad("{\"allowed_ports\":[4294967376]}", "allowed_ports[0]: must be an integer");
}

static void test_limits(void)
{
	char text[8192];
	size_t off;
	struct mcp_policy *p;

	/* 64 ports: the most allowed; 65: one too many. */
	off = (size_t)snprintf(text, sizeof(text), "{\"allowed_ports\":[");
	for (int i = 0; i < MCP_POLICY_PORTS_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%d", i ? "," : "",
					1000 + i);
	snprintf(text + off, sizeof(text) - off, "]}");
	p = parse(text);
	ok(p && p->nports == MCP_POLICY_PORTS_MAX && p->ports[63] == 1063, "%d ports are accepted",
	   MCP_POLICY_PORTS_MAX);
	mcp_policy_free(p);
	snprintf(text + off, sizeof(text) - off, ",2000]}");
	bad(text, "allowed_ports: 1 to 64 ports");

	/* 16 addresses for one name are accepted. */
	off = (size_t)snprintf(text, sizeof(text), "{\"hosts\":{\"a.test\":[");
	for (int i = 0; i < MCP_POLICY_HOST_ADDRS_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\"10.0.0.%d\"",
					i ? "," : "", i + 1);
	snprintf(text + off, sizeof(text) - off, "]}}");
	p = parse(text);
	ok(p && strstr(addrs_of(p, "a.test"), "10.0.0.16"), "%d addresses per name accepted",
	   MCP_POLICY_HOST_ADDRS_MAX);
	mcp_policy_free(p);

	/* 256 names accepted, 257 refused. */
	off = (size_t)snprintf(text, sizeof(text), "{\"hosts\":{");
	for (int i = 0; i < MCP_POLICY_HOSTS_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"%s\"h%d.test\":\"1.1.1.1\"", i ? "," : "", i);
	snprintf(text + off, sizeof(text) - off, "}}");
	p = parse(text);
	ok(p && json_object_object_length(p->hosts) == MCP_POLICY_HOSTS_MAX, "%d names accepted",
	   MCP_POLICY_HOSTS_MAX);
	mcp_policy_free(p);
	snprintf(text + off, sizeof(text) - off, ",\"extra.test\":\"1.1.1.1\"}}");
	bad(text, "hosts: at most 256 names");
}

int main(void)
{
	test_valid();
	test_defaults();
	test_name_needs_domain();
	test_invalid();
	test_limits();
	return done_testing();
}
