/* Fuzz what the egress proxy parses from a sandbox: the request head
 * (request line, header fields, the URL or CONNECT authority inside it), the
 * upstream rewrite built from it, and the host, address and range parsers on
 * their own. Whatever the bytes, each must end in a result or one clear
 * error; a parsed request must judge and rewrite without trouble. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/egress/egress_http.h"
#include "host/egress/egress_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct egress_policy *fuzz_policy(void)
{
	static struct egress_policy *p;

	if (!p) {
		if (egress_policy_new(&p) < 0)
			abort();
		egress_policy_add_domain(p, "allowed.test");
		egress_policy_add_domain(p, "*.example.com");
		egress_policy_add_host(p, "allowed.test", "127.0.0.1");
	}
	return p;
}

static void fuzz_request(const char *buf, size_t len)
{
	struct egress_request req;
	const char *why = NULL;
	size_t head_len = 0;
	char reason[320], *out = NULL;
	size_t olen = 0;

	if (egress_http_head_end(buf, len, &head_len) != 1)
		head_len = len; /* parse must cope with a head that never went through head_end */
	if (egress_http_parse(buf, head_len, &req, &why) < 0) {
		if (!why)
			abort();
		return;
	}
	if (req.head_len != head_len || req.port == 0 || req.port > 65535)
		abort();
	egress_policy_check_target(fuzz_policy(), &req.host, req.port, reason, sizeof(reason));
	if (req.host.kind != EGRESS_HOST_NAME)
		egress_policy_check_addr(fuzz_policy(), &req.host.addr, reason, sizeof(reason));
	if (!req.connect) {
		if (egress_http_rewrite(&req, &out, &olen) < 0)
			abort();
		/* The rewrite is itself one well-formed head, and nothing more. */
		size_t hl = 0;
		if (egress_http_head_end(out, olen, &hl) != 1 || hl != olen)
			abort();
		free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	struct egress_host h;
	struct egress_cidr c;
	uint32_t v4;

	if (size == 0 || size > 2 * EGRESS_HTTP_HEAD_MAX)
		return 0;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
	case 1:
		fuzz_request(s, size - 1);
		break;
	case 2:
		if (egress_host_parse(s, size - 1, &h) == 0 && strlen(h.name) > EGRESS_HOST_MAX)
			abort();
		egress_host_parse_ipv4(s, size - 1, &v4);
		break;
	case 3:
		if (egress_cidr_parse(s, &c) == 0 && c.prefix > 128)
			abort();
		egress_http_response_status(s, size - 1);
		break;
	}
	free(s);
	return 0;
}
