#include "guest-agent/agent_cmdline.h"

#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CMDLINE_WORD_MAX 256 /* longer words are nobody's setting of ours */
#define CMDLINE_PREFIX	 "agentvm."

static int cmdline_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
	       c == '\0';
}

/* Remember the key of a refused parameter, printable only. */
static void cmdline_refuse(struct agent_cmdline *out, const char *key, size_t len)
{
	if (out->nbad++ > 0)
		return;
	if (len > sizeof(out->bad) - 1)
		len = sizeof(out->bad) - 1;
	for (size_t i = 0; i < len; i++)
		out->bad[i] = key[i] > ' ' && key[i] < 0x7f ? key[i] : '?';
	out->bad[len] = '\0';
}

/* "vsock:PORT": PORT in decimal, 1..4294967294 (not VMADDR_PORT_ANY). */
static int cmdline_egress_ok(const char *v)
{
	unsigned long long port = 0;
	size_t i;

	if (strncmp(v, "vsock:", 6) != 0)
		return 0;
	v += 6;
	for (i = 0; v[i]; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 10)
			return 0;
		port = port * 10 + (unsigned)(v[i] - '0');
	}
	return i > 0 && v[0] != '0' && port >= 1 && port <= 0xfffffffeull;
}

/* A host name: letters, digits, '-' and '.', 1..63, not starting with '-'
 * or '.'. */
static int cmdline_hostname_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 63 || v[0] == '-' || v[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* One word, its quote marks gone; truncated: it was longer than the buffer. */
static void cmdline_word(struct agent_cmdline *out, const char *w, size_t len, int truncated)
{
	const char *eq = memchr(w, '=', len);
	size_t klen = eq ? (size_t)(eq - w) : len;
	const char *key = w + strlen(CMDLINE_PREFIX);
	const char *val = eq ? eq + 1 : NULL;

	if (klen < strlen(CMDLINE_PREFIX) || memcmp(w, CMDLINE_PREFIX, strlen(CMDLINE_PREFIX)) != 0)
		return;
	klen -= strlen(CMDLINE_PREFIX);
	if (truncated || !val) {
		cmdline_refuse(out, w, strlen(CMDLINE_PREFIX) + klen);
	} else if (klen == 6 && memcmp(key, "egress", 6) == 0) {
		if (cmdline_egress_ok(val))
			snprintf(out->egress, sizeof(out->egress), "%s", val);
		else
			cmdline_refuse(out, w, strlen(CMDLINE_PREFIX) + klen);
	} else if (klen == 8 && memcmp(key, "hostname", 8) == 0) {
		if (cmdline_hostname_ok(val))
			snprintf(out->hostname, sizeof(out->hostname), "%s", val);
		else
			cmdline_refuse(out, w, strlen(CMDLINE_PREFIX) + klen);
	} else {
		cmdline_refuse(out, w, strlen(CMDLINE_PREFIX) + klen);
	}
}

int agent_cmdline_parse(const char *text, size_t len, struct agent_cmdline *out)
{
	char word[CMDLINE_WORD_MAX + 1];
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (len > AGENT_CMDLINE_MAX)
		return -E2BIG;
	while (i < len) {
		size_t n = 0;
		int quoted = 0, truncated = 0;

		while (i < len && cmdline_blank(text[i]))
			i++;
		if (i == len)
			break;
		for (; i < len && (quoted || !cmdline_blank(text[i])); i++) {
			if (text[i] == '"') {
				quoted = !quoted;
			} else if (text[i] == '\0') {
				break; /* a NUL ends the word even inside quotes */
			} else if (n < CMDLINE_WORD_MAX) {
				word[n++] = text[i];
			} else {
				truncated = 1;
			}
		}
		word[n] = '\0';
		if (!truncated && strcmp(word, "--") == 0)
			break;
		cmdline_word(out, word, n, truncated);
	}
	return 0;
}

int agent_cmdline_read(const char *path, struct agent_cmdline *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char buf[AGENT_CMDLINE_MAX + 1];
	size_t len = 0;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		len += (size_t)n;
	}
	return agent_cmdline_parse(buf, len, out);
}
