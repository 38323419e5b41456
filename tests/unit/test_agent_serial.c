/* The agent's lookup of a virtio-serial port by name in a guest without
 * udev (agent_serial_find_port), against a fake sysfs tree: the port whose
 * "name" file holds the name gives /dev/<its entry>; unknown names, bad
 * names, missing trees, odd name files and short buffers give an error. */
#include "guest-agent/agent_serial.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];

/* root/sys/class/virtio-ports/<entry>/name holding text (NULL: no file). */
static void port(const char *entry, const char *text)
{
	char p[PATH_MAX + 64];
	FILE *f;

	snprintf(p, sizeof(p), "%s/sys/class/virtio-ports/%s", root, entry);
	mkdir(p, 0755);
	if (!text)
		return;
	strcat(p, "/name");
	f = fopen(p, "we");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void rm_tree(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", root);
}

int main(void)
{
	char out[PATH_MAX], want[PATH_MAX + 64], p[PATH_MAX + 64], big[600];

	snprintf(root, sizeof(root), "/tmp/agentvm-serial.XXXXXX");
	if (!mkdtemp(root))
		skip_all("cannot make a temporary directory");

	is(agent_serial_find_port(root, "org.agentvm.0", out, sizeof(out)), -ENOENT,
	   "no sysfs tree: -ENOENT");

	snprintf(p, sizeof(p), "%s/sys", root);
	mkdir(p, 0755);
	strcat(p, "/class");
	mkdir(p, 0755);
	strcat(p, "/virtio-ports");
	mkdir(p, 0755);
	is(agent_serial_find_port(root, "org.agentvm.0", out, sizeof(out)), -ENOENT,
	   "no ports: -ENOENT");

	port("vport0p0", "\n"); /* the console port has no name */
	port("vport0p2", "other.port\n");
	port("vport0p3", NULL);		/* no name file at all */
	port("vport1p1", "no.newline"); /* sysfs ends names with \n; this one does not */
	port("vport0p1", "org.agentvm.0\n");
	port("vport2p1", "org.agentvm.00\n");

	out[0] = '\0';
	is(agent_serial_find_port(root, "other.port", out, sizeof(out)), 0,
	   "a named port is found");
	snprintf(want, sizeof(want), "%s/dev/vport0p2", root);
	ok(strcmp(out, want) == 0, "as <root>/dev/<entry> (%s)", out);

	out[0] = '\0';
	is(agent_serial_find_port(root, "org.agentvm.00", out, sizeof(out)), 0,
	   "a name that another one prefixes is found");
	snprintf(want, sizeof(want), "%s/dev/vport2p1", root);
	ok(strcmp(out, want) == 0, "and it is its own port, not the prefix's");

	out[0] = '\0';
	is(agent_serial_find_port(root, "org.agentvm.0", out, sizeof(out)), 0,
	   "the agent channel's port is found");
	snprintf(want, sizeof(want), "%s/dev/vport0p1", root);
	ok(strcmp(out, want) == 0, "at its node (%s)", out);
	out[0] = '\0';
	is(agent_serial_find_port(root, "no.newline", out, sizeof(out)), 0,
	   "a name file without its newline matches too");
	ok(strstr(out, "/dev/vport1p1") != NULL, "at its port");

	is(agent_serial_find_port(root, "org.agentvm", out, sizeof(out)), -ENOENT,
	   "a prefix of a name is not that name");
	is(agent_serial_find_port(root, "nothing", out, sizeof(out)), -ENOENT,
	   "an unknown name: -ENOENT");
	is(agent_serial_find_port(root, "", out, sizeof(out)), -EINVAL, "an empty name: -EINVAL");
	is(agent_serial_find_port(root, "../vport0p1", out, sizeof(out)), -EINVAL,
	   "a name holding '/': -EINVAL");
	is(agent_serial_find_port(root, NULL, out, sizeof(out)), -EINVAL, "no name: -EINVAL");
	is(agent_serial_find_port(NULL, "x", out, sizeof(out)), -EINVAL, "no root: -EINVAL");
	is(agent_serial_find_port(root, "other.port", out, 8), -ENAMETOOLONG,
	   "an output buffer too small: -ENAMETOOLONG");

	/* A name file that is a symlink is not followed. */
	port("vport3p1", NULL);
	snprintf(p, sizeof(p), "%s/sys/class/virtio-ports/vport3p1/name", root);
	snprintf(want, sizeof(want), "%s/sys/class/virtio-ports/vport0p2/name", root);
	ok(symlink(want, p) == 0, "a name file that is a symlink to another port's name");
	out[0] = '\0';
	agent_serial_find_port(root, "other.port", out, sizeof(out));
	ok(strstr(out, "vport3p1") == NULL, "is not followed");

	/* Names of up to 255 bytes; a name file longer than that never matches. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	port("vport4p1", big);
	big[256] = '\0';
	is(agent_serial_find_port(root, big, out, sizeof(out)), -EINVAL,
	   "a name longer than 255 bytes: -EINVAL");
	big[255] = '\0';
	is(agent_serial_find_port(root, big, out, sizeof(out)), -ENOENT,
	   "a name file longer than any name does not match its first 255 bytes");
	big[255] = 'b';
	big[256] = '\n';
	big[257] = '\0';
	port("vport5p1", big + 2); /* 253 a, a b, a newline */
	big[256] = '\0';
	out[0] = '\0';
	is(agent_serial_find_port(root, big + 2, out, sizeof(out)), 0,
	   "a name of 254 bytes and its newline match");
	ok(strstr(out, "/dev/vport5p1") != NULL, "at its port");
	big[255] = '\0';
	is(agent_serial_find_port(root, big + 1, out, sizeof(out)), -ENOENT,
	   "a 254-byte name that is not the file's does not match");

	rm_tree();
	return done_testing();
}
