/* agentvm: the command line. Each subcommand lives in host/cli/cli_<name>.c. */
#include "host/cli/cli.h"

#include "common/log.h"
#include "host/mcp/mcp.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char main_usage[] =
	"Usage: agentvm COMMAND [OPTIONS]\n"
	"Give every AI coding agent its own sandbox: a KVM microVM, or a container where\n"
	"this host's KVM cannot run guests.\n"
	"\n"
	"Commands:\n"
	"  run      run one command in a fresh sandbox and exit with its status\n"
	"  create   create a sandbox that stays (needs agentvmd)\n"
	"  exec     run a command in a sandbox\n"
	"  cp       copy a file into or out of a sandbox (SANDBOX:PATH)\n"
	"  reset    put a sandbox back to a fresh copy of its template\n"
	"  snapshot turn a sandbox's files into a new template\n"
	"  template list, build or remove templates (image, kernel, limits, pool)\n"
	"  ls       list sandboxes\n"
	"  rm       destroy sandboxes\n"
	"  logs     a sandbox's audit events, or its PID 1's output\n"
	"  top      live resource use of the sandboxes\n"
	"  audit    tail or verify the audit log\n"
	"  batch    run a file of tasks, each in a fresh sandbox, N at a time\n"
	"  test     run a test suite, each case in a freshly reset sandbox (TAP, JUnit)\n"
	"  daemon   run agentvmd, the controller, in the foreground\n"
	"  doctor   check what this host can isolate with, and why\n"
	"  mcp      serve MCP on stdio: sandbox and browser tools for AI agents\n"
	"\n"
	"'agentvm COMMAND --help' describes each command. 'agentvm --socket PATH COMMAND'\n"
	"(or AGENTVMD_SOCKET) talks to the agentvmd on PATH.\n";

/* host/cli/cli_batch.c, host/cli/cli_test.c */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} main_cmds[] = {
	{ "run", cli_run_main },
	{ "doctor", cli_doctor_main },
	{ "mcp", mcp_main },
	{ "create", cli_create_main },
	{ "exec", cli_exec_main },
	{ "cp", cli_cp_main },
	{ "reset", cli_reset_main },
	{ "snapshot", cli_snapshot_main },
	{ "ls", cli_ls_main },
	{ "rm", cli_rm_main },
	{ "logs", cli_logs_main },
	{ "top", cli_top_main },
	{ "audit", cli_audit_main },
	{ "daemon", cli_daemon_main },
	{ "batch", cli_batch_main },
	{ "test", cli_test_main },
	{ "template", cli_template_main },
};

int main(int argc, char **argv)
{
	log_init("agentvm", NULL);
	/* A closed stdout is an error to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "--socket") == 0) {
		setenv("AGENTVMD_SOCKET", argv[2], 1);
		argv[2] = argv[0];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		fputs(main_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(main_usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		if (strcmp(argv[1], main_cmds[i].name) == 0)
			return main_cmds[i].fn(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", argv[1]);
	return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
