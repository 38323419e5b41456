/* agentvmd: the controller daemon's command line (the daemon is host/daemon*.c). */
#include "common/log.h"
#include "host/cli/cli.h"
#include "host/daemon.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char agentvmd_usage[] =
	"Usage: agentvmd [OPTIONS]\n"
	"The agentvm controller: serves JSON-RPC 2.0 on a Unix socket, keeps sandboxes,\n"
	"templates and warm pools, and audits everything (docs/CONTROLLER.md).\n"
	"\n"
	"Options:\n"
	"  --socket PATH              the socket (default /run/agentvm/agentvmd.sock as root,\n"
	"                             else $XDG_RUNTIME_DIR/agentvm/agentvmd.sock; mode 0660)\n"
	"  --socket-group NAME        give the socket to this group\n"
	"  --state-dir DIR            state, audit log and sandbox sockets (default\n"
	"                             /var/lib/agentvm as root, else ~/.local/state/agentvm)\n"
	"  --max-mem SIZE             memory ceiling per sandbox (default 8G)\n"
	"  --max-cpus N               CPU ceiling per sandbox (default 4)\n"
	"  --max-pids N               task ceiling per sandbox (default 4096)\n"
	"  --max-disk SIZE            writable layer ceiling per sandbox (default 8G)\n"
	"  --max-sandboxes N          sandboxes in all, pools not counted (default 256)\n"
	"  --max-sandboxes-per-uid N  sandboxes per client uid (default 64)\n"
	"  --max-exec-timeout SECS    longest command; commands without a timeout get it\n"
	"                             (default 3600)\n"
	"  --max-output SIZE          output forwarded per command (default 64M)\n"
	"  --max-clients N            connected clients (default 2048)\n"
	"  --max-requests N           requests running at once (default 1024)\n"
	"  --image NAME|PATH          image of the \"default\" template when it is first made\n"
	"                             (default minimal)\n"
	"  --isolation LEVEL          its isolation: auto, container, microvm or libvirt\n"
	"                             (default auto, which never picks libvirt)\n"
	"  --pool N                   its warm pool size (default 2)\n"
	"  --audit-sync batch|every   fdatasync the audit log every 50 ms (default: a\n"
	"                             power loss may lose the last 50 ms; a crash of\n"
	"                             agentvmd loses nothing) or after every line\n"
	"  --cleanup-on-exit          destroy every sandbox when stopped (default: keep them\n"
	"                             running for the next start to adopt)\n"
	"  --task-parallel N          tasks running at once (default 64, or\n"
	"                             $AGENTVMD_TASK_PARALLEL)\n"
	"  --task-per-template N      of those, on one template (default: all of them, or\n"
	"                             $AGENTVMD_TASK_PER_TEMPLATE)\n"
	"  -h, --help                 show this help\n"
	"\n"
	"SIGTERM or SIGINT stop it. AGENTVM_DEBUG=1 logs more.\n";

enum {
	OPT_SOCKET = 256,
	OPT_GROUP,
	OPT_STATE,
	OPT_MAX_MEM,
	OPT_MAX_CPUS,
	OPT_MAX_PIDS,
	OPT_MAX_DISK,
	OPT_MAX_SB,
	OPT_MAX_UID,
	OPT_MAX_TIMEOUT,
	OPT_MAX_OUTPUT,
	OPT_MAX_CLIENTS,
	OPT_MAX_REQ,
	OPT_IMAGE,
	OPT_ISOLATION,
	OPT_POOL,
	OPT_AUDIT_SYNC,
	OPT_CLEANUP,
	OPT_TASK_PARALLEL,
	OPT_TASK_PER_TEMPLATE,
};

static const struct option agentvmd_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-group", required_argument, NULL, OPT_GROUP },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "max-mem", required_argument, NULL, OPT_MAX_MEM },
	{ "max-cpus", required_argument, NULL, OPT_MAX_CPUS },
	{ "max-pids", required_argument, NULL, OPT_MAX_PIDS },
	{ "max-disk", required_argument, NULL, OPT_MAX_DISK },
	{ "max-sandboxes", required_argument, NULL, OPT_MAX_SB },
	{ "max-sandboxes-per-uid", required_argument, NULL, OPT_MAX_UID },
	{ "max-exec-timeout", required_argument, NULL, OPT_MAX_TIMEOUT },
	{ "max-output", required_argument, NULL, OPT_MAX_OUTPUT },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "max-requests", required_argument, NULL, OPT_MAX_REQ },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "isolation", required_argument, NULL, OPT_ISOLATION },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "audit-sync", required_argument, NULL, OPT_AUDIT_SYNC },
	{ "cleanup-on-exit", no_argument, NULL, OPT_CLEANUP },
	{ "task-parallel", required_argument, NULL, OPT_TASK_PARALLEL },
	{ "task-per-template", required_argument, NULL, OPT_TASK_PER_TEMPLATE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int agentvmd_bad(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "agentvmd: %s wants %s, not '%s' (try 'agentvmd --help')\n", opt, want,
		val);
	return 2;
}

static int agentvmd_int(const char *s, long min, long max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon_config cfg;
	int c, v;

	log_init("agentvmd", NULL);
	daemon_config_defaults(&cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", agentvmd_opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			cfg.socket_path = optarg;
			break;
		case OPT_GROUP:
			cfg.socket_group = optarg;
			break;
		case OPT_STATE:
			cfg.state_dir = optarg;
			break;
		case OPT_MAX_MEM:
			if (cli_parse_size(optarg, &cfg.max_mem) < 0)
				return agentvmd_bad("--max-mem", optarg, "a size such as 4G");
			break;
		case OPT_MAX_DISK:
			if (cli_parse_size(optarg, &cfg.max_disk) < 0)
				return agentvmd_bad("--max-disk", optarg, "a size such as 4G");
			break;
		case OPT_MAX_OUTPUT:
			if (cli_parse_size(optarg, &cfg.max_output) < 0)
				return agentvmd_bad("--max-output", optarg, "a size such as 64M");
			break;
		case OPT_MAX_CPUS:
			if (cli_parse_cpus(optarg, &cfg.max_cpus) < 0)
				return agentvmd_bad("--max-cpus", optarg, "a number of CPUs");
			break;
		case OPT_MAX_PIDS:
			if (agentvmd_int(optarg, 8, 4194304, &v) < 0)
				return agentvmd_bad("--max-pids", optarg, "8 to 4194304");
			cfg.max_pids = (uint64_t)v;
			break;
		case OPT_MAX_SB:
			if (agentvmd_int(optarg, 1, 100000, &cfg.max_sandboxes) < 0)
				return agentvmd_bad("--max-sandboxes", optarg, "1 to 100000");
			break;
		case OPT_MAX_UID:
			if (agentvmd_int(optarg, 1, 100000, &cfg.max_per_uid) < 0)
				return agentvmd_bad("--max-sandboxes-per-uid", optarg,
						    "1 to 100000");
			break;
		case OPT_MAX_TIMEOUT:
			if (cli_parse_seconds(optarg, &cfg.max_exec_timeout_ms) < 0)
				return agentvmd_bad("--max-exec-timeout", optarg, "seconds");
			break;
		case OPT_MAX_CLIENTS:
			if (agentvmd_int(optarg, 1, 1000000, &cfg.max_clients) < 0)
				return agentvmd_bad("--max-clients", optarg, "1 to 1000000");
			break;
		case OPT_MAX_REQ:
			if (agentvmd_int(optarg, 1, 100000, &cfg.max_ops) < 0)
				return agentvmd_bad("--max-requests", optarg, "1 to 100000");
			break;
		case OPT_IMAGE:
			cfg.default_image = optarg;
			break;
		case OPT_ISOLATION:
			if (strcmp(optarg, "auto") && strcmp(optarg, "container") &&
			    strcmp(optarg, "microvm") && strcmp(optarg, "libvirt"))
				return agentvmd_bad("--isolation", optarg,
						    "auto, container, microvm or libvirt");
			cfg.default_isolation = optarg;
			break;
		case OPT_POOL:
			if (agentvmd_int(optarg, 0, 256, &cfg.default_pool) < 0)
				return agentvmd_bad("--pool", optarg, "0 to 256");
			break;
		case OPT_TASK_PARALLEL:
			if (agentvmd_int(optarg, 1, 4096, &cfg.task_parallel) < 0)
				return agentvmd_bad("--task-parallel", optarg, "1 to 4096");
			break;
		case OPT_TASK_PER_TEMPLATE:
			if (agentvmd_int(optarg, 1, 4096, &cfg.task_per_template) < 0)
				return agentvmd_bad("--task-per-template", optarg, "1 to 4096");
			break;
		case OPT_AUDIT_SYNC:
			if (strcmp(optarg, "every") && strcmp(optarg, "batch"))
				return agentvmd_bad("--audit-sync", optarg, "every or batch");
			cfg.audit_batch = !strcmp(optarg, "batch");
			break;
		case OPT_CLEANUP:
			cfg.cleanup_on_exit = true;
			break;
		case 'h':
			fputs(agentvmd_usage, stdout);
			return 0;
		case ':':
			fprintf(stderr, "agentvmd: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "agentvmd: unknown option '%s' (try 'agentvmd --help')\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentvmd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return daemon_run(&cfg) < 0 ? 1 : 0;
}
