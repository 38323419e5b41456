/* The egress policy: host parsing (IPv4 literals in every inet_aton spelling,
 * IPv6 literals, names with case, trailing dots and IDN), domain wildcards,
 * ports, every denied address range (IPv4, IPv6, mapped and embedded forms),
 * allow_ranges and allow_literals, and the JSON and hosts-file loaders. */
#include "host/egress/egress_policy.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse(const char *s, struct egress_host *h)
{
	return egress_host_parse(s, strlen(s), h);
}

/* The host s parses as an IPv4 literal whose text is want. */
static void is_v4(const char *s, const char *want)
{
	struct egress_host h;
	int r = parse(s, &h);

	ok(r == 0 && h.kind == EGRESS_HOST_IPV4 && strcmp(h.name, want) == 0,
	   "\"%s\" is the IPv4 literal %s", s, want);
	if (r == 0 && strcmp(h.name, want) != 0)
		printf("#   got %s (kind %d)\n", h.name, h.kind);
}

static void is_name(const char *s, const char *want)
{
	struct egress_host h;
	int r = parse(s, &h);

	ok(r == 0 && h.kind == EGRESS_HOST_NAME && strcmp(h.name, want) == 0,
	   "\"%s\" is the name %s", s, want);
	if (r == 0 && strcmp(h.name, want) != 0)
		printf("#   got %s\n", h.name);
}

static void is_bad(const char *s, const char *what)
{
	struct egress_host h;

	is(parse(s, &h), -EINVAL, "%s (\"%s\") is refused", what, s);
}

static void test_hosts(void)
{
	struct egress_host h;
	uint32_t v;

	/* every spelling of 127.0.0.1 */
	is_v4("127.0.0.1", "127.0.0.1");
	is_v4("2130706433", "127.0.0.1");
	is_v4("0x7f000001", "127.0.0.1");
	is_v4("0X7F000001", "127.0.0.1");
	is_v4("017700000001", "127.0.0.1");
	is_v4("0177.0.0.1", "127.0.0.1");
	is_v4("0x7f.0.0.1", "127.0.0.1");
	is_v4("0x7f.1", "127.0.0.1");
	is_v4("127.1", "127.0.0.1");
	is_v4("127.0.1", "127.0.0.1");
	is_v4("0x7f.0.0x0.01", "127.0.0.1");
	is_v4("127.000.000.001", "127.0.0.1");
	is_v4("127.0.0.1.", "127.0.0.1");
	is_v4("0", "0.0.0.0");
	is_v4("0x", "0.0.0.0");
	is_v4("169.254.43518", "169.254.169.254");
	is_v4("0xa9fea9fe", "169.254.169.254");
	is_v4("4294967295", "255.255.255.255");
	is_v4("1.2.3.4", "1.2.3.4");
	is_bad("4294967296", "a number past 32 bits");
	is_bad("1.2.3.4.5", "five parts");
	is_bad("256.1.1.1", "a part past 255");
	is_bad("1.2.65536", "a 16-bit last part past 65535");
	is_bad("08.1.1.1", "octal with an 8");
	is_bad("0x1g.1", "bad hex in an address-looking name");
	is_bad("1..2", "an empty part");
	is_bad("foo.123", "a name whose last label is a number");
	is_bad("example.0x10", "a name ending in a hex number");
	is(egress_host_parse_ipv4("1.2.3.4", 7, &v), 0, "parse_ipv4 1.2.3.4");
	is(v, 0x01020304, "= 0x01020304");
	is(egress_host_parse_ipv4("", 0, &v), -EINVAL, "parse_ipv4 of nothing");
	is(egress_host_parse_ipv4("1.2.3.", 6, &v), -EINVAL, "parse_ipv4 with an empty last part");

	/* IPv6 literals */
	ok(parse("[::1]", &h) == 0 && h.kind == EGRESS_HOST_IPV6 && !strcmp(h.name, "::1"),
	   "[::1] is the IPv6 literal ::1");
	ok(parse("[::FFFF:127.0.0.1]", &h) == 0 && h.kind == EGRESS_HOST_IPV6 &&
		   !strcmp(h.name, "::ffff:127.0.0.1"),
	   "[::FFFF:127.0.0.1] is canonical ::ffff:127.0.0.1");
	ok(parse("[0:0:0:0:0:0:0:1]", &h) == 0 && !strcmp(h.name, "::1"), "long form of ::1");
	is_bad("::1", "an IPv6 literal without brackets");
	is_bad("[fe80::1%25eth0]", "a zone id");
	is_bad("[::1", "an unterminated bracket");
	is_bad("[]", "empty brackets");
	is_bad("[1.2.3.4]", "an IPv4 address in brackets");

	/* names */
	is_name("Example.COM", "example.com");
	is_name("example.com.", "example.com");
	is_name("a-b_c.example", "a-b_c.example");
	is_name("127.0.0.1.nip.io", "127.0.0.1.nip.io");
	is_name("b\xc3\xbc"
		"cher.example",
		"xn--bcher-kva.example");
	is_name("M\xc3\xbcnchen.DE", "xn--mnchen-3ya.de");
	is_name("xn--bcher-kva.example", "xn--bcher-kva.example");
	is_name("\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", "xn--fsqu00a.xn--0zwm56d");
	is_bad("", "the empty name");
	is_bad(".", "the root alone");
	is_bad("example..com", "an empty label");
	is_bad("example.com..", "two trailing dots");
	is_bad("exa mple.com", "a space");
	{
		struct egress_host hh;
		is(parse("evil.test\r\nX: y", &hh), -EINVAL, "a name with CRLF in it is refused");
	}
	is_bad("user@example.com", "an @");
	is_bad("a%2eb", "a percent sign");
	is_bad("b\xc3\xbc\xff.example", "invalid UTF-8");
	is_bad("b\xc0\xbc.example", "an overlong UTF-8 sequence");
	is_bad("evil\xe3\x80\x82test", "an ideographic full stop");
	is_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	       "a 64-byte label");
	{
		char big[300];
		memset(big, 'a', sizeof(big));
		for (int i = 60; i < 290; i += 61)
			big[i] = '.';
		big[299] = '\0';
		is_bad(big, "a 299-byte name");
		is(parse("a\0b", &h) == 0 ? 0 : -EINVAL, 0, "(strlen stops at a NUL)");
		is(egress_host_parse("a\0b", 3, &h), -EINVAL, "an embedded NUL is refused");
	}
}

static void test_punycode(void)
{
	static const uint32_t a[] = { 0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628,
				      0x062A, 0x0643, 0x0644, 0x0645, 0x0648, 0x0634,
				      0x0639, 0x0631, 0x0628, 0x064A, 0x061F };
	char out[64];
	int r;

	/* RFC 3492 section 7.1, sample (A), Arabic (Egyptian) */
	r = egress_host_punycode(a, sizeof(a) / sizeof(a[0]), out, sizeof(out));
	ok(r > 0 && strcmp(out, "egbpdaj6bu4bxfgehfvwxn") == 0, "RFC 3492 sample A");
	r = egress_host_punycode(a, sizeof(a) / sizeof(a[0]), out, 8);
	is(r, -ENOSPC, "a short buffer is -ENOSPC");
}

static struct egress_addr addr(const char *s)
{
	struct egress_addr a;

	if (egress_addr_parse(s, &a) < 0)
		printf("# bad test address %s\n", s);
	return a;
}

static void is_special(const char *s, const char *label)
{
	struct egress_addr a = addr(s);
	const char *got = egress_policy_special(&a);

	ok(got && strcmp(got, label) == 0, "%s is denied as %s", s, label);
	if (!got || strcmp(got, label) != 0)
		printf("#   got %s\n", got ? got : "(not special)");
}

static void is_public(const char *s)
{
	struct egress_addr a = addr(s);
	const char *got = egress_policy_special(&a);

	ok(!got, "%s is a public address", s);
	if (got)
		printf("#   got %s\n", got);
}

static void test_ranges(void)
{
	struct egress_cidr c;
	struct egress_addr a;

	is_special("0.0.0.0", "unspecified");
	is_special("0.1.2.3", "unspecified");
	is_special("10.0.0.1", "private");
	is_special("10.255.255.255", "private");
	is_special("100.64.0.1", "cgnat");
	is_special("100.127.255.255", "cgnat");
	is_public("100.128.0.1");
	is_public("100.63.255.255");
	is_special("127.0.0.1", "loopback");
	is_special("127.255.255.254", "loopback");
	is_special("169.254.169.254", "metadata");
	is_special("100.100.100.200", "metadata");
	is_special("169.254.1.1", "link-local");
	is_special("172.16.0.1", "private");
	is_special("172.31.255.255", "private");
	is_public("172.32.0.1");
	is_public("172.15.255.255");
	is_special("192.0.0.8", "ietf-protocol");
	is_special("192.0.2.1", "documentation");
	is_special("192.88.99.1", "6to4-relay");
	is_special("192.168.1.1", "private");
	is_special("198.18.0.1", "benchmarking");
	is_special("198.19.255.255", "benchmarking");
	is_special("198.51.100.7", "documentation");
	is_special("203.0.113.9", "documentation");
	is_special("224.0.0.1", "multicast");
	is_special("239.255.255.250", "multicast");
	is_special("240.0.0.1", "reserved");
	is_special("255.255.255.255", "reserved");
	is_public("1.1.1.1");
	is_public("8.8.8.8");
	is_public("93.184.216.34");

	is_special("::", "unspecified");
	is_special("::1", "loopback");
	is_special("::ffff:127.0.0.1", "loopback");
	is_special("::ffff:10.1.2.3", "private");
	is_special("::ffff:169.254.169.254", "metadata");
	is_public("::ffff:8.8.8.8");
	is_special("::127.0.0.1", "ipv4-compatible");
	is_special("::8.8.8.8", "ipv4-compatible");
	is_special("::ffff:0:127.0.0.1", "ipv4-translated");
	is_special("64:ff9b::127.0.0.1", "nat64-of-special");
	is_special("64:ff9b::a9fe:a9fe", "nat64-of-special");
	is_public("64:ff9b::8.8.8.8");
	is_special("64:ff9b:1::1", "nat64-local");
	is_special("2002:7f00:1::1", "6to4-of-special");
	is_special("2002:c0a8:101::1", "6to4-of-special");
	is_public("2002:808:808::1");
	is_special("2001::1", "teredo");
	is_special("2001:db8::1", "documentation");
	is_special("3fff::1", "documentation");
	is_special("2001:10::1", "orchid");
	is_special("100::1", "discard");
	is_special("fc00::1", "private");
	is_special("fd12:3456::1", "private");
	is_special("fd00:ec2::254", "metadata");
	is_special("fe80::1", "link-local");
	is_special("febf::1", "link-local");
	is_special("fec0::1", "site-local");
	is_special("ff02::1", "multicast");
	is_public("2606:4700:4700::1111");
	is_public("2a00:1450:4001::200e");

	/* CIDRs */
	is(egress_cidr_parse("127.0.0.0/8", &c), 0, "127.0.0.0/8 parses");
	a = addr("127.1.2.3");
	ok(egress_cidr_contains(&c, &a), "127.1.2.3 is in 127.0.0.0/8");
	a = addr("::ffff:127.1.2.3");
	ok(egress_cidr_contains(&c, &a), "::ffff:127.1.2.3 is in 127.0.0.0/8 (mapped)");
	a = addr("128.0.0.1");
	ok(!egress_cidr_contains(&c, &a), "128.0.0.1 is not");
	is(egress_cidr_parse("10.1.2.3/8", &c), -EINVAL, "host bits set after the prefix");
	is(egress_cidr_parse("10.0.0.0/33", &c), -EINVAL, "prefix past 32");
	is(egress_cidr_parse("10.0.0.0/", &c), -EINVAL, "empty prefix");
	is(egress_cidr_parse("10.0.0.0/+8", &c), -EINVAL, "signed prefix");
	is(egress_cidr_parse("fd00::/8", &c), 0, "fd00::/8 parses");
	a = addr("fd12::1");
	ok(egress_cidr_contains(&c, &a), "fd12::1 is in fd00::/8");
	is(egress_cidr_parse("::/0", &c), 0, "::/0 parses");
	a = addr("1.2.3.4");
	ok(!egress_cidr_contains(&c, &a), "an IPv4 address is not in ::/0");
	is(egress_cidr_parse("127.1", &c), -EINVAL, "ranges take only dotted quads");
}

static enum egress_deny target(const struct egress_policy *p, const char *host, unsigned port)
{
	struct egress_host h;
	char why[300];

	if (parse(host, &h) < 0)
		return (enum egress_deny) - 1;
	return egress_policy_check_target(p, &h, port, why, sizeof(why));
}

static enum egress_deny check_addr(const struct egress_policy *p, const char *s)
{
	struct egress_addr a = addr(s);
	char why[300];

	return egress_policy_check_addr(p, &a, why, sizeof(why));
}

static void test_policy(void)
{
	struct egress_policy *p = NULL;
	char err[256] = "";
	struct json_object *o;

	is(egress_policy_new(&p), 0, "default policy");
	is(target(p, "example.com", 80), EGRESS_DENY_DOMAIN, "default: no domain is allowed");
	is(target(p, "example.com", 22), EGRESS_DENY_PORT, "default: port 22 is not allowed");
	is(egress_policy_add_domain(p, "Example.COM."), 0, "add Example.COM.");
	is(egress_policy_add_domain(p, "*.github.com"), 0, "add *.github.com");
	is(egress_policy_add_domain(p, "127.0.0.1"), -EINVAL, "an address is not a domain");
	is(egress_policy_add_domain(p, "*.0x7f.1"), -EINVAL, "a wildcard over a number");
	is(egress_policy_add_domain(p, "a.*.com"), -EINVAL, "a wildcard in the middle");
	is(egress_policy_add_domain(p, "**.com"), -EINVAL, "a double wildcard");
	is(target(p, "example.com", 80), EGRESS_OK, "example.com:80 allowed");
	is(target(p, "EXAMPLE.com.", 443), EGRESS_OK, "EXAMPLE.com.:443 allowed (normalised)");
	is(target(p, "example.com", 8080), EGRESS_DENY_PORT, "example.com:8080 refused (port)");
	is(target(p, "www.example.com", 80), EGRESS_DENY_DOMAIN,
	   "an exact entry has no subdomains");
	is(target(p, "api.github.com", 443), EGRESS_OK, "api.github.com matches *.github.com");
	is(target(p, "a.b.github.com", 443), EGRESS_OK, "a.b.github.com matches *.github.com");
	is(target(p, "github.com", 443), EGRESS_DENY_DOMAIN, "the wildcard leaves out the apex");
	is(target(p, "evilgithub.com", 443), EGRESS_DENY_DOMAIN, "evilgithub.com does not match");
	is(target(p, "github.com.evil.test", 443), EGRESS_DENY_DOMAIN,
	   "github.com.evil.test does not match");
	is(target(p, "127.0.0.1", 80), EGRESS_DENY_LITERAL, "an IP literal is refused");
	is(target(p, "2130706433", 80), EGRESS_DENY_LITERAL, "a decimal literal is refused");
	is(target(p, "[::1]", 80), EGRESS_DENY_LITERAL, "an IPv6 literal is refused");
	is(check_addr(p, "127.0.0.1"), EGRESS_DENY_RANGE, "loopback is a denied range");
	is(check_addr(p, "93.184.216.34"), EGRESS_OK, "a public address passes");
	egress_policy_free(p);

	o = json_tokener_parse(
		"{\"allow_domains\":[\"*\"],\"allow_ports\":[8080],"
		"\"allow_ranges\":[\"127.0.0.1/32\",\"fd00::/8\"],"
		"\"allow_literals\":[\"93.184.216.0/24\"],"
		"\"hosts\":{\"Allowed.Test\":\"127.0.0.1\",\"two.test\":[\"127.0.0.1\","
		"\"::1\"]},\"dns\":false,"
		"\"quota\":{\"bytes_up\":10,\"bytes_down\":20,\"connections_total\":3,"
		"\"connections_concurrent\":2},"
		"\"timeouts_ms\":{\"connect\":500,\"idle\":1000,\"request\":700},"
		"\"comment\":\"x\"}");
	is(egress_policy_from_json(o, &p, err, sizeof(err)), 0, "a full policy loads");
	json_object_put(o);
	if (!p)
		return;
	is(target(p, "anything.example", 8080), EGRESS_OK, "\"*\" allows any name");
	is(target(p, "anything.example", 80), EGRESS_DENY_PORT, "allow_ports replaces 80/443");
	is(target(p, "127.0.0.1", 8080), EGRESS_DENY_LITERAL,
	   "\"*\" allows no literal; allow_ranges neither");
	is(target(p, "93.184.216.34", 8080), EGRESS_OK, "allow_literals lets a literal through");
	is(check_addr(p, "127.0.0.1"), EGRESS_OK, "127.0.0.1 is in allow_ranges");
	is(check_addr(p, "::ffff:127.0.0.1"), EGRESS_OK, "and its mapped form");
	is(check_addr(p, "127.0.0.2"), EGRESS_DENY_RANGE, "127.0.0.2 is not");
	is(check_addr(p, "fd00:ec2::254"), EGRESS_OK, "fd00::/8 allowed covers fd00:ec2::254");
	is(check_addr(p, "169.254.169.254"), EGRESS_DENY_RANGE, "metadata stays denied");
	ok(egress_policy_lookup(p, "allowed.test") &&
		   egress_policy_lookup(p, "allowed.test")->naddrs == 1,
	   "hosts names are normalised");
	ok(egress_policy_lookup(p, "two.test") && egress_policy_lookup(p, "two.test")->naddrs == 2,
	   "a name with two addresses");
	ok(!egress_policy_lookup(p, "other.test"), "an unknown name is not in the table");
	is(p->dns, 0, "dns false");
	is((long long)p->quota.bytes_up, 10, "quota.bytes_up");
	is((long long)p->quota.bytes_down, 20, "quota.bytes_down");
	is(p->quota.conns_total, 3, "quota.connections_total");
	is(p->quota.conns_concurrent, 2, "quota.connections_concurrent");
	is(p->connect_ms, 500, "timeouts_ms.connect");
	is(p->idle_ms, 1000, "timeouts_ms.idle");
	is(p->request_ms, 700, "timeouts_ms.request");
	egress_policy_free(p);

	static const char *const bad[] = {
		"[]",
		"{\"allowed_domains\":[]}",
		"{\"allow_domains\":\"example.com\"}",
		"{\"allow_domains\":[1]}",
		"{\"allow_domains\":[\"bad domain\"]}",
		"{\"allow_ports\":[0]}",
		"{\"allow_ports\":[65536]}",
		"{\"allow_ports\":[\"80\"]}",
		"{\"allow_ranges\":[\"10.0.0.0/40\"]}",
		"{\"allow_literals\":[\"localhost\"]}",
		"{\"hosts\":{\"a.test\":\"not-an-ip\"}}",
		"{\"hosts\":{\"1.2.3.4\":\"1.2.3.4\"}}",
		"{\"hosts\":[]}",
		"{\"dns\":1}",
		"{\"quota\":{\"bytes\":1}}",
		"{\"quota\":{\"bytes_up\":-1}}",
		"{\"timeouts_ms\":{\"connect\":0}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_tokener_parse(bad[i]);
		err[0] = '\0';
		p = NULL;
		is(egress_policy_from_json(o, &p, err, sizeof(err)), -EINVAL, "refused: %s",
		   bad[i]);
		ok(err[0] != '\0', "  with a reason: %s", err);
		json_object_put(o);
		egress_policy_free(p);
	}
}

static void test_files(void)
{
	char dir[] = "/tmp/test_egress_policy.XXXXXX", path[128], err[256] = "";
	struct egress_policy *p = NULL;
	FILE *f;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	f = fopen(path, "w");
	fputs("{\"allow_domains\": [\"allowed.test\"]}\n\n", f);
	fclose(f);
	is(egress_policy_load(path, &p, err, sizeof(err)), 0, "a policy file loads");
	if (p) {
		is(target(p, "allowed.test", 443), EGRESS_OK, "and allows allowed.test");
		snprintf(path, sizeof(path), "%s/hosts", dir);
		f = fopen(path, "w");
		fputs("# test names\n127.0.0.1 allowed.test Evil.Test\n\n::1\tsix.test # v6\n", f);
		fclose(f);
		is(egress_policy_load_hosts(p, path, err, sizeof(err)), 0, "a hosts file loads");
		ok(egress_policy_lookup(p, "evil.test") != NULL, "with several names on a line");
		ok(egress_policy_lookup(p, "six.test") &&
			   egress_policy_lookup(p, "six.test")->addrs[0].family == AF_INET6,
		   "and an IPv6 entry");
		f = fopen(path, "w");
		fputs("127.0.0.1\n", f);
		fclose(f);
		is(egress_policy_load_hosts(p, path, err, sizeof(err)), -EINVAL,
		   "a line without a name is refused");
		ok(strstr(err, ":1:") != NULL, "naming the line (%s)", err);
		unlink(path);
		egress_policy_free(p);
		p = NULL;
	}
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	f = fopen(path, "w");
	fputs("{\"allow_domains\": []} x", f);
	fclose(f);
	is(egress_policy_load(path, &p, err, sizeof(err)), -EINVAL, "trailing text is refused");
	f = fopen(path, "w");
	fputs("{\"allow_domains\": [", f);
	fclose(f);
	is(egress_policy_load(path, &p, err, sizeof(err)), -EINVAL, "truncated JSON is refused");
	unlink(path);
	is(egress_policy_load(path, &p, err, sizeof(err)), -ENOENT, "a missing file is -ENOENT");
	rmdir(dir);
}

int main(void)
{
	test_hosts();
	test_punycode();
	test_ranges();
	test_policy();
	test_files();
	is(strcmp(egress_deny_name(EGRESS_DENY_RANGE), "range"), 0, "deny code names");
	return done_testing();
}
