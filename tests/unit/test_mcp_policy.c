/* The --policy file of agentvm mcp: defaults, every member, strict errors
 * naming the member, host normalisation and the allow decision. */
#include "tests/unit/tap.h"

#include "host/egress/egress_policy.h"
#include "host/mcp/mcp_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[512];

static struct mcp_policy *parse(const char *text)
{
	struct mcp_policy *p = NULL;

	err[0] = '\0';
	if (mcp_policy_parse(text, strlen(text), &p, err, sizeof(err)) < 0)
		return NULL;
	return p;
}

static void bad(const char *text, const char *msg)
{
	struct mcp_policy *p = parse(text);
	ok(!p && strstr(err, msg) != NULL, "refused: %s", msg);
	if (p || !strstr(err, msg))
		printf("#   got \"%s\"\n", err);
	mcp_policy_free(p);
}

/* Would the egress proxy let host:port through (name or literal check, then
 * the literal's address against the denied ranges)? */
static int egress_allows(const struct egress_policy *e, const char *host, unsigned port)
{
	struct egress_host h;
	char why[256];

	if (egress_host_parse(host, strlen(host), &h) < 0)
		return 0;
	if (egress_policy_check_target(e, &h, port, why, sizeof(why)) != EGRESS_OK)
		return 0;
	if (h.kind != EGRESS_HOST_NAME &&
	    egress_policy_check_addr(e, &h.addr, why, sizeof(why)) != EGRESS_OK)
		return 0;
	return 1;
}

static void test_egress(void)
{
	struct mcp_policy *p;
	struct egress_policy *e = NULL;

	mcp_policy_new_default(&p);
	ok(mcp_policy_to_egress(p, &e, err, sizeof(err)) == 0, "the default policy converts (%s)",
	   err);
	ok(e && egress_allows(e, "example.com", 443) && egress_allows(e, "8.8.8.8", 80),
	   "egress: public names and addresses pass without a list");
	ok(e && !egress_allows(e, "127.0.0.1", 80) && !egress_allows(e, "169.254.169.254", 80) &&
		   !egress_allows(e, "example.com", 22),
	   "egress: special addresses and other ports do not");
	egress_policy_free(e);
	mcp_policy_free(p);

	p = parse("{\"allowed_domains\":[\"example.com\",\"*.github.com\",\"127.0.0.1\","
		  "\"8.8.4.4\",\"localhost\"]}");
	e = NULL;
	ok(p && mcp_policy_to_egress(p, &e, err, sizeof(err)) == 0, "a list converts (%s)", err);
	ok(e && egress_allows(e, "example.com", 443) && egress_allows(e, "api.github.com", 443) &&
		   egress_allows(e, "127.0.0.1", 80) && egress_allows(e, "8.8.4.4", 443) &&
		   egress_allows(e, "localhost", 80),
	   "egress: the listed names and addresses pass");
	ok(e && !egress_allows(e, "other.org", 443) && !egress_allows(e, "github.com", 443) &&
		   !egress_allows(e, "8.8.8.8", 443) && !egress_allows(e, "127.0.0.2", 80),
	   "egress: nothing else does");
	egress_policy_free(e);
	mcp_policy_free(p);
}

static int allowed(const struct mcp_policy *p, const char *host)
{
	char why[256];
	return mcp_policy_host_allowed(p, host, why, sizeof(why));
}

int main(void)
{
	struct mcp_policy *p;
	char norm[300], path[] = "/tmp/test_mcp_policy.XXXXXX";
	int fd;

	ok(mcp_policy_new_default(&p) == 0, "a default policy");
	ok(!p->has_allowlist && !p->allow_evaluate && p->exec_timeout_ms == 120000 &&
		   p->output_cap == 65536 && p->max_sandboxes == 4,
	   "defaults: no list, no evaluate, 120 s, 64 KiB, 4 sandboxes");
	ok(allowed(p, "example.com") && allowed(p, "sub.example.com"),
	   "without a list public names are allowed");
	ok(!allowed(p, "localhost") && !allowed(p, "127.0.0.1") && !allowed(p, "10.1.2.3") &&
		   !allowed(p, "169.254.169.254") && !allowed(p, "192.168.0.1") &&
		   !allowed(p, "172.20.0.1") && !allowed(p, "::1") && !allowed(p, "fe80::1") &&
		   !allowed(p, "fd00::1") && !allowed(p, "::ffff:127.0.0.1") &&
		   !allowed(p, "0.0.0.0") && !allowed(p, "100.64.0.1") &&
		   !allowed(p, "a.localhost"),
	   "but loopback, private, link-local, metadata and localhost are not");
	ok(!allowed(p, "2130706433") && !allowed(p, "0x7f.1") && !allowed(p, "0177.0.0.1") &&
		   !allowed(p, "127.1"),
	   "whatever the IPv4 spelling");
	ok(allowed(p, "8.8.8.8") && allowed(p, "2001:db8::1"), "public addresses are allowed");
	ok(!allowed(p, "exa mple.com") && !allowed(p, "") && !allowed(p, "-a.com") &&
		   !allowed(p, "a..com"),
	   "malformed names are refused");
	mcp_policy_free(p);

	p = parse("{\"version\":1,\"allowed_domains\":[\"Example.COM.\",\"*.github.com\","
		  "\"127.0.0.1\",\"[::1]\",\"localhost\"],\"browser\":{\"evaluate\":true},"
		  "\"limits\":{\"exec_timeout_ms\":5000,\"output_cap_bytes\":2048,"
		  "\"max_sandboxes\":2,\"mem\":\"512M\",\"cpus\":0.5}}");
	ok(p != NULL, "a full policy parses (%s)", err);
	if (!p)
		return done_testing();
	ok(p->has_allowlist && p->ndomains == 5 && strcmp(p->domains[0], "example.com") == 0 &&
		   strcmp(p->domains[3], "::1") == 0,
	   "domains are normalised");
	ok(p->allow_evaluate && p->exec_timeout_ms == 5000 && p->output_cap == 2048 &&
		   p->max_sandboxes == 2 && p->mem_bytes == 512ull << 20 && p->cpu_millis == 500,
	   "every limit is read");
	ok(allowed(p, "example.com") && allowed(p, "EXAMPLE.com.") &&
		   !allowed(p, "www.example.com"),
	   "a name allows that host only");
	ok(allowed(p, "api.github.com") && allowed(p, "a.b.github.com") &&
		   !allowed(p, "github.com") && !allowed(p, "evilgithub.com"),
	   "a wildcard allows subdomains, not the apex or look-alikes");
	ok(allowed(p, "127.0.0.1") && allowed(p, "::1") && allowed(p, "localhost"),
	   "listed loopback addresses are allowed");
	ok(!allowed(p, "127.0.0.2") && !allowed(p, "other.org"), "others are not");
	mcp_policy_free(p);

	p = parse("{\"allowed_domains\":[]}");
	ok(p && p->has_allowlist && !allowed(p, "example.com"), "an empty list allows nothing");
	mcp_policy_free(p);
	p = parse("{\"allowed_domains\":[\"*.localhost\"]}");
	ok(p && !allowed(p, "a.localhost"), "a wildcard never lets a special name through");
	mcp_policy_free(p);
	p = parse("{\"limits\":{\"mem\":1073741824}}");
	ok(p && p->mem_bytes == 1ull << 30, "mem may be bytes");
	mcp_policy_free(p);
	p = parse(" {} \n");
	ok(p != NULL, "an empty object is the default policy");
	mcp_policy_free(p);

	bad("", "not valid JSON");
	bad("{", "not valid JSON");
	bad("{} {}", "not valid JSON");
	bad("[]", "must be a JSON object");
	bad("{\"allowed_domain\":[]}", "unknown member 'allowed_domain'");
	bad("{\"allowed_domains\":\"example.com\"}", "allowed_domains: must be an array");
	bad("{\"allowed_domains\":[1]}", "allowed_domains[0]: must be a string");
	bad("{\"allowed_domains\":[\"a b\"]}", "allowed_domains[0]: 'a b' is not a host name");
	bad("{\"allowed_domains\":[\"*\"]}", "allowed_domains[0]");
	bad("{\"allowed_domains\":[\"*.1.2.3.4\"]}", "allowed_domains[0]");
	bad("{\"allowed_domains\":[\"ex\xc3\xa4mple.com\"]}", "xn--");
	bad("{\"browser\":{\"evaluate\":\"yes\"}}", "browser.evaluate: must be true or false");
	bad("{\"browser\":{\"eval\":true}}", "browser: unknown member 'eval'");
	bad("{\"browser\":[]}", "browser: must be an object");
	bad("{\"limits\":{\"exec_timeout_ms\":0}}",
	    "limits.exec_timeout_ms: must be an integer from 1");
	bad("{\"limits\":{\"exec_timeout_ms\":1.5}}", "limits.exec_timeout_ms");
	bad("{\"limits\":{\"output_cap_bytes\":100}}", "limits.output_cap_bytes");
	bad("{\"limits\":{\"max_sandboxes\":65}}",
	    "limits.max_sandboxes: must be an integer from 1 to 64");
	bad("{\"limits\":{\"mem\":\"1K\"}}", "limits.mem: must be a size from 16M");
	bad("{\"limits\":{\"mem\":true}}", "limits.mem");
	bad("{\"limits\":{\"cpus\":0}}", "limits.cpus");
	bad("{\"limits\":{\"cpus\":\"2\"}}", "limits.cpus");
	bad("{\"limits\":{\"disk\":1}}", "limits: unknown member 'disk'");
	bad("{\"version\":2}", "version: must be 1");
	bad("{\"a\":1,}", "not valid JSON");
	bad("{\"limits\":{\"cpus\":NaN}}", "limits.cpus");

	ok(mcp_policy_normalize_domain("WWW.Example.Com.", norm, sizeof(norm)) == 0 &&
		   strcmp(norm, "www.example.com") == 0,
	   "normalise: lower case, no trailing dot");
	ok(mcp_policy_normalize_domain("[2001:DB8::0:1]", norm, sizeof(norm)) == 0 &&
		   strcmp(norm, "2001:db8::1") == 0,
	   "normalise: IPv6 in canonical form");
	ok(mcp_policy_normalize_domain("0x7f.1", norm, sizeof(norm)) == 0 &&
		   strcmp(norm, "127.0.0.1") == 0,
	   "normalise: IPv4 in any inet_aton spelling");
	ok(mcp_policy_normalize_domain("1.2.3.4a", norm, sizeof(norm)) < 0,
	   "normalise: a bad number is not a name");

	fd = mkstemp(path);
	if (fd >= 0) {
		const char *t = "{\"limits\":{\"max_sandboxes\":\"many\"}}";
		if (write(fd, t, strlen(t)) < 0)
			perror("write");
		close(fd);
		ok(mcp_policy_load(path, &p, err, sizeof(err)) < 0 && strstr(err, path) &&
			   strstr(err, "limits.max_sandboxes"),
		   "a file's error names the file and the member");
		unlink(path);
	}
	ok(mcp_policy_load("/nonexistent/policy.json", &p, err, sizeof(err)) < 0 &&
		   strstr(err, "No such file"),
	   "a missing file says so");
	ok(mcp_policy_load("/tmp", &p, err, sizeof(err)) < 0 && strstr(err, "not a regular file"),
	   "a directory is refused");
	test_egress();
	return done_testing();
}
