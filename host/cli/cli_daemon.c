/* agentvm daemon: run agentvmd (next to agentvm) in the foreground. */
#include "host/cli/cli.h"

#include "host/libexec.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cli_daemon_main(int argc, char **argv)
{
	char path[PATH_MAX];

	if (libexec_path("agentvmd", path, sizeof(path)) < 0) {
		fprintf(stderr, "agentvm daemon: no agentvmd at %s\n", path);
		return CLI_EXIT_INTERNAL;
	}
	argv[0] = path;
	(void)argc;
	execv(path, argv);
	fprintf(stderr, "agentvm daemon: cannot run %s: %m\n", path);
	return CLI_EXIT_INTERNAL;
}
