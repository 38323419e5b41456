/* The agent's settings on the kernel command line (agentvm.egress,
 * agentvm.hostname): what is taken, what is refused, and the bounds. */
#include "guest-agent/agent_cmdline.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct agent_cmdline parse(const char *text)
{
	struct agent_cmdline c;

	memset(&c, 0x55, sizeof(c));
	if (agent_cmdline_parse(text, strlen(text), &c) != 0)
		memset(&c, 0, sizeof(c));
	return c;
}

static void test_taken(void)
{
	struct agent_cmdline c;

	c = parse("console=ttyS0 reboot=k panic=1 quiet agentvm.egress=vsock:3128");
	ok(strcmp(c.egress, "vsock:3128") == 0, "agentvm.egress=vsock:3128 is taken");
	ok(c.hostname[0] == '\0' && c.nbad == 0 && c.bad[0] == '\0', "nothing else is set");

	c = parse("agentvm.hostname=box-1.test\n");
	ok(strcmp(c.hostname, "box-1.test") == 0, "agentvm.hostname is taken (ending in newline)");
	ok(c.egress[0] == '\0', "no egress unless asked");

	c = parse("agentvm.egress=vsock:1 agentvm.egress=vsock:4294967294");
	ok(strcmp(c.egress, "vsock:4294967294") == 0, "the last value wins; the highest port");

	c = parse("agentvm.egress=vsock:3128 agentvm.egress=vsock:0");
	ok(strcmp(c.egress, "vsock:3128") == 0 && c.nbad == 1,
	   "a bad later value leaves the good one");

	c = parse("\"agentvm.hostname=quoted\" agentvm.egress=\"vsock:99\"");
	ok(strcmp(c.hostname, "quoted") == 0 && strcmp(c.egress, "vsock:99") == 0,
	   "quote marks are dropped, as the kernel does");

	c = parse("\t  agentvm.egress=vsock:5\t\tfoo.bar=1 agentvmx=2 agentvm");
	ok(strcmp(c.egress, "vsock:5") == 0 && c.nbad == 0,
	   "tabs and blanks separate; others' dotted parameters are not ours");

	c = parse("");
	ok(c.egress[0] == '\0' && c.hostname[0] == '\0' && c.nbad == 0, "an empty command line");
}

static void test_refused(void)
{
	static const char *const bad_egress[] = {
		"agentvm.egress=vsock:0",
		"agentvm.egress=vsock:4294967295",
		"agentvm.egress=vsock:99999999999",
		"agentvm.egress=vsock:",
		"agentvm.egress=vsock:-1",
		"agentvm.egress=vsock:+1",
		"agentvm.egress=vsock:03128",
		"agentvm.egress=vsock:3128x",
		"agentvm.egress=vsock: 3128",
		"agentvm.egress=unix:/run/agentvm/egress.sock",
		"agentvm.egress=VSOCK:3128",
		"agentvm.egress=",
		"agentvm.egress",
	};
	static const char *const bad_host[] = {
		"agentvm.hostname=",
		"agentvm.hostname=-x",
		"agentvm.hostname=.x",
		"agentvm.hostname=a_b",
		"agentvm.hostname=a/b",
		"agentvm.hostname=\x1b[31m",
		"agentvm.hostname=0123456789012345678901234567890123456789012345678901234567890123",
	};
	struct agent_cmdline c;
	int all = 1;

	for (size_t i = 0; i < sizeof(bad_egress) / sizeof(bad_egress[0]); i++) {
		c = parse(bad_egress[i]);
		if (c.egress[0] || c.nbad != 1 || strcmp(c.bad, "agentvm.egress") != 0) {
			all = 0;
			printf("#   taken: %s\n", bad_egress[i]);
		}
	}
	ok(all, "bad egress values are refused, naming agentvm.egress");
	all = 1;
	for (size_t i = 0; i < sizeof(bad_host) / sizeof(bad_host[0]); i++) {
		c = parse(bad_host[i]);
		if (c.hostname[0] || c.nbad != 1 || strcmp(c.bad, "agentvm.hostname") != 0) {
			all = 0;
			printf("#   taken: %s\n", bad_host[i]);
		}
	}
	ok(all, "bad host names are refused, naming agentvm.hostname");
	c = parse(
		"agentvm.hostname=012345678901234567890123456789012345678901234567890123456789012");
	ok(strlen(c.hostname) == 63, "a 63-character host name is taken");

	c = parse("agentvm.egrss=vsock:1 agentvm.egress=vsock:2 agentvm.x\x01y=1");
	ok(strcmp(c.egress, "vsock:2") == 0 && c.nbad == 2 && strcmp(c.bad, "agentvm.egrss") == 0,
	   "unknown agentvm.* keys are refused; the first is named");
	c = parse("agentvm.\x01\x7f\xff=1");
	ok(strcmp(c.bad, "agentvm.???") == 0,
	   "a refused key is named in printable characters only");
}

static void test_bounds(void)
{
	char big[AGENT_CMDLINE_MAX + 2], word[400];
	struct agent_cmdline c;
	size_t n;

	memset(big, ' ', sizeof(big));
	memcpy(big, "agentvm.egress=vsock:7", 22);
	is(agent_cmdline_parse(big, AGENT_CMDLINE_MAX + 1, &c), -E2BIG,
	   "a command line over AGENT_CMDLINE_MAX is refused");
	ok(c.egress[0] == '\0', "and nothing of it is taken");
	is(agent_cmdline_parse(big, AGENT_CMDLINE_MAX, &c), 0, "one of AGENT_CMDLINE_MAX is read");
	ok(strcmp(c.egress, "vsock:7") == 0, "in full");

	/* A word longer than any value of ours. */
	n = (size_t)snprintf(word, sizeof(word), "agentvm.hostname=");
	memset(word + n, 'a', sizeof(word) - n - 1);
	word[sizeof(word) - 1] = '\0';
	c = parse(word);
	ok(c.hostname[0] == '\0' && strcmp(c.bad, "agentvm.hostname") == 0,
	   "an overlong word is refused");
	memcpy(word, "x.y=", 4);
	strcpy(word + 300, " agentvm.egress=vsock:8");
	c = parse(word);
	ok(strcmp(c.egress, "vsock:8") == 0 && c.nbad == 0, "and the next word is read after it");

	/* Not NUL-terminated: only len bytes are looked at. */
	memcpy(word, "agentvm.egress=vsock:3128", 25);
	is(agent_cmdline_parse(word, 23, &c), 0, "a buffer without a NUL");
	ok(strcmp(c.egress, "vsock:31") == 0, "is read up to len");
	/* A NUL inside ends a word, even in quotes. */
	c = (struct agent_cmdline){ 0 };
	agent_cmdline_parse("agentvm.egress=\"vsock:1\0 agentvm.hostname=h\"", 45, &c);
	ok(strcmp(c.egress, "vsock:1") == 0 && strcmp(c.hostname, "h") == 0,
	   "a NUL ends a word, even inside quotes");
	/* An unclosed quote runs to the end. */
	c = parse("\"agentvm.hostname=a b agentvm.egress=vsock:9");
	ok(c.hostname[0] == '\0' && c.egress[0] == '\0' && c.nbad == 1,
	   "an unclosed quote makes one (bad) word of the rest");
	/* After "--" come init's arguments. */
	c = parse("quiet -- agentvm.egress=vsock:3");
	ok(c.egress[0] == '\0', "words after -- are init's, not ours");
	c = parse("quiet \"--\"x agentvm.egress=vsock:3");
	ok(strcmp(c.egress, "vsock:3") == 0, "only a lone -- ends the parameters");
}

static void test_read(void)
{
	char path[] = "/tmp/test_agent_cmdline.XXXXXX";
	char big[AGENT_CMDLINE_MAX + 100];
	struct agent_cmdline c;
	int fd = mkstemp(path);

	if (fd < 0) {
		ok(0, "mkstemp");
		return;
	}
	if (write(fd, "quiet agentvm.egress=vsock:3128 agentvm.hostname=vm\n", 52) != 52)
		ok(0, "write");
	is(agent_cmdline_read(path, &c), 0, "a command line file is read");
	ok(strcmp(c.egress, "vsock:3128") == 0 && strcmp(c.hostname, "vm") == 0, "and parsed");
	memset(big, 'x', sizeof(big));
	if (ftruncate(fd, 0) < 0 || pwrite(fd, big, sizeof(big), 0) != (ssize_t)sizeof(big))
		ok(0, "write");
	is(agent_cmdline_read(path, &c), -E2BIG, "a file over AGENT_CMDLINE_MAX is refused");
	close(fd);
	unlink(path);
	is(agent_cmdline_read(path, &c), -ENOENT, "a missing file is -ENOENT");
}

int main(void)
{
	test_taken();
	test_refused();
	test_bounds();
	test_read();
	return done_testing();
}
