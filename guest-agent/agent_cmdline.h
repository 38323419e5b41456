/* The agent's settings on the kernel command line. In a microVM the agent is
 * /init, started by the kernel with no arguments of ours; the host puts its
 * settings on the kernel command line instead, as agentvm.KEY=VALUE
 * parameters (the kernel passes dotted parameters to no one, but keeps them
 * in /proc/cmdline):
 *   agentvm.egress=vsock:PORT   as --egress vsock:PORT (PORT 1..4294967294)
 *   agentvm.hostname=NAME       as --hostname NAME ([A-Za-z0-9-.], 1..63)
 * The command line is hostile input like any other: it is read bounded,
 * each value is checked, and a bad or unknown agentvm.* parameter is named
 * and ignored. */
#ifndef AGENTVM_GUEST_AGENT_CMDLINE_H
#define AGENTVM_GUEST_AGENT_CMDLINE_H

#include <stddef.h>

#define AGENT_CMDLINE_MAX  4096 /* bytes of the command line looked at */
#define AGENT_CMDLINE_PATH "/proc/cmdline"

struct agent_cmdline {
	char egress[24];   /* "vsock:PORT", or "" */
	char hostname[64]; /* or "" */
	char bad[48];	   /* the first agentvm.* parameter refused (its key), or "" */
	int nbad;	   /* how many were refused */
};

/* Parse len bytes of a kernel command line (NUL-terminated or not) into
 * *out, which is cleared first. Words are split at blanks outside double
 * quotes, whose marks are dropped, as the kernel does; the words after a
 * lone "--" are init's arguments and are not looked at. The last valid
 * value of a key wins. Returns 0, or -E2BIG (nothing parsed) when len is
 * over AGENT_CMDLINE_MAX (the kernel's own limit is lower). */
int agent_cmdline_parse(const char *text, size_t len, struct agent_cmdline *out);

/* Read the file at path (AGENT_CMDLINE_PATH) and parse it. Returns 0 or
 * -errno (-E2BIG: longer than AGENT_CMDLINE_MAX, nothing parsed). */
int agent_cmdline_read(const char *path, struct agent_cmdline *out);

#endif
