/* agentvm template ls|build|rm: the daemon's templates (template.list,
 * template.build, template.delete). Need agentvmd; build and rm need root or
 * the daemon's own user. */
#include "host/cli/cli.h"

#include "host/backend.h"
#include "host/client.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cli_template_usage[] =
	"Usage: agentvm template ls [--json]\n"
	"       agentvm template build NAME [OPTIONS]\n"
	"       agentvm template rm NAME\n"
	"Templates are what sandboxes are made from: an image, an isolation level, limits\n"
	"and a warm pool size; for microVMs also a kernel and its command line. The first\n"
	"sandbox of a microVM template boots and takes its golden snapshot; every later\n"
	"one is a restore of it (docs/CONTROLLER.md).\n"
	"\n"
	"Options of build (an existing template keeps what is not given):\n"
	"  --image NAME|DIR     the image (default: the daemon's --image)\n"
	"  --isolation KIND     auto, container, microvm or libvirt\n"
	"  --kernel PATH        the guest kernel of a microVM (default: the project's)\n"
	"  --cmdline TEXT       added to the kernel command line\n"
	"  --guest agent|test   test: a synthetic guest (e.g. tests/guests/vsock.elf) that\n"
	"                       answers an echo on vsock port 1024 instead of an agent\n"
	"  --mem SIZE           memory (e.g. 512M, 2G)\n"
	"  --cpus N             CPUs (e.g. 0.5, 2)\n"
	"  --pids N             tasks\n"
	"  --disk SIZE          writable layer (containers)\n"
	"  --pool N             sandboxes kept ready (0 to 256)\n"
	"  --json               print the template as JSON\n";

static void cli_template_print(struct json_object *t)
{
	struct json_object *l = NULL, *v;
	char mem[32] = "-", pool[32];
	double cpus = 0;

	json_object_object_get_ex(t, "limits", &l);
	if (l && json_object_object_get_ex(l, "mem_bytes", &v) && json_object_get_int64(v) > 0)
		cli_format_size(json_object_get_int64(v), mem, sizeof(mem));
	if (l && json_object_object_get_ex(l, "cpus", &v))
		cpus = json_object_get_double(v);
	snprintf(pool, sizeof(pool), "%d/%d",
		 json_object_object_get_ex(t, "pool_ready", &v) ? json_object_get_int(v) : 0,
		 json_object_object_get_ex(t, "pool", &v) ? json_object_get_int(v) : 0);
	printf("%-16s %-10s %-6s %-8s %-5.4g %-7s %s\n",
	       json_object_object_get_ex(t, "name", &v) ? json_object_get_string(v) : "?",
	       json_object_object_get_ex(t, "isolation", &v) ? json_object_get_string(v) : "?",
	       json_object_object_get_ex(t, "guest", &v) ? json_object_get_string(v) : "agent", mem,
	       cpus, pool,
	       json_object_object_get_ex(t, "kernel", &v)  ? json_object_get_string(v)
	       : json_object_object_get_ex(t, "image", &v) ? json_object_get_string(v)
							   : "");
}

static int cli_template_ls(int argc, char **argv)
{
	struct client_conn *c = NULL;
	struct json_object *res = NULL, *list;
	bool json = argc > 2 && !strcmp(argv[2], "--json");

	if (argc > (json ? 3 : 2))
		return cli_usage_error("template", "ls takes only --json");
	if (cli_client_connect("template", &c) < 0)
		return CLI_EXIT_INTERNAL;
	if (cli_client_call("template", c, "template.list", NULL, &res) < 0) {
		client_close(c);
		return CLI_EXIT_INTERNAL;
	}
	client_close(c);
	if (json) {
		cli_print_json(res);
	} else if (json_object_object_get_ex(res, "templates", &list)) {
		printf("%-16s %-10s %-6s %-8s %-5s %-7s %s\n", "NAME", "ISOLATION", "GUEST", "MEM",
		       "CPUS", "POOL", "KERNEL/IMAGE");
		for (size_t i = 0; i < json_object_array_length(list); i++)
			cli_template_print(json_object_array_get_idx(list, i));
	}
	json_object_put(res);
	return 0;
}

enum {
	O_IMAGE = 256,
	O_ISOLATION,
	O_KERNEL,
	O_CMDLINE,
	O_GUEST,
	O_MEM,
	O_CPUS,
	O_PIDS,
	O_DISK,
	O_POOL,
	O_JSON,
};

static int cli_template_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image", required_argument, NULL, O_IMAGE },
		{ "isolation", required_argument, NULL, O_ISOLATION },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "guest", required_argument, NULL, O_GUEST },
		{ "mem", required_argument, NULL, O_MEM },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "pids", required_argument, NULL, O_PIDS },
		{ "disk", required_argument, NULL, O_DISK },
		{ "pool", required_argument, NULL, O_POOL },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct json_object *p = json_object_new_object(), *lim = json_object_new_object();
	struct json_object *res = NULL;
	struct client_conn *c = NULL;
	bool json = false;
	uint64_t n;
	uint32_t millis;
	char *end;
	int opt, r = CLI_EXIT_USAGE;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		const char *key = NULL;

		switch (opt) {
		case 'h':
			fputs(cli_template_usage, stdout);
			r = 0;
			goto out;
		case O_IMAGE:
			key = "image";
			break;
		case O_ISOLATION:
			key = "isolation";
			break;
		case O_KERNEL:
			key = "kernel";
			break;
		case O_CMDLINE:
			key = "cmdline";
			break;
		case O_GUEST:
			key = "guest";
			break;
		case O_MEM:
		case O_DISK:
			if (cli_parse_size(optarg, &n) < 0 || n == 0) {
				r = cli_usage_error("template", "bad size '%s'", optarg);
				goto out;
			}
			json_object_object_add(lim, opt == O_MEM ? "mem_bytes" : "disk_bytes",
					       json_object_new_int64((int64_t)n));
			break;
		case O_CPUS:
			if (cli_parse_cpus(optarg, &millis) < 0) {
				r = cli_usage_error("template", "bad CPU count '%s'", optarg);
				goto out;
			}
			json_object_object_add(lim, "cpus",
					       json_object_new_double(millis / 1000.0));
			break;
		case O_PIDS:
		case O_POOL:
			n = strtoull(optarg, &end, 10);
			if (!*optarg || *end || n > (opt == O_POOL ? 256u : 1u << 22)) {
				r = cli_usage_error("template", "bad number '%s'", optarg);
				goto out;
			}
			if (opt == O_PIDS)
				json_object_object_add(lim, "pids",
						       json_object_new_int64((int64_t)n));
			else
				json_object_object_add(p, "pool", json_object_new_int((int)n));
			break;
		case O_JSON:
			json = true;
			break;
		default:
			r = cli_usage_error("template", "unknown or incomplete option '%s'",
					    argv[optind < argc ? optind : argc - 1]);
			goto out;
		}
		if (key)
			json_object_object_add(p, key, json_object_new_string(optarg));
	}
	if (optind + 1 != argc - 1) {
		r = cli_usage_error("template", "build takes one template NAME");
		goto out;
	}
	if (!backend_name_valid(argv[optind + 1])) {
		r = cli_usage_error("template", "'%s' is not a template name", argv[optind + 1]);
		goto out;
	}
	json_object_object_add(p, "name", json_object_new_string(argv[optind + 1]));
	if (json_object_object_length(lim) > 0)
		json_object_object_add(p, "limits", json_object_get(lim));
	r = CLI_EXIT_INTERNAL;
	if (cli_client_connect("template", &c) < 0)
		goto out;
	if (cli_client_call("template", c, "template.build", json_object_get(p), &res) == 0) {
		if (json)
			cli_print_json(res);
		else
			cli_template_print(res);
		r = 0;
	}
	client_close(c);
out:
	json_object_put(res);
	json_object_put(lim);
	json_object_put(p);
	return r;
}

static int cli_template_rm(int argc, char **argv)
{
	struct client_conn *c = NULL;
	struct json_object *p, *res = NULL;
	int r = CLI_EXIT_INTERNAL;

	if (argc != 3 || !backend_name_valid(argv[2]))
		return cli_usage_error("template", "rm takes one template NAME");
	if (cli_client_connect("template", &c) < 0)
		return CLI_EXIT_INTERNAL;
	p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(argv[2]));
	if (cli_client_call("template", c, "template.delete", p, &res) == 0)
		r = 0;
	json_object_put(res);
	client_close(c);
	return r;
}

int cli_template_main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cli_template_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "ls"))
		return cli_template_ls(argc, argv);
	if (!strcmp(argv[1], "build"))
		return cli_template_build(argc, argv);
	if (!strcmp(argv[1], "rm"))
		return cli_template_rm(argc, argv);
	return cli_usage_error("template", "unknown subcommand '%s' (ls, build or rm)", argv[1]);
}
