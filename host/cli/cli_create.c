/* agentvm create: a sandbox from a template, kept until `agentvm rm` or its
 * TTL. Needs agentvmd. */
#include "host/cli/cli.h"

#include "host/backend.h"
#include "host/client.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cli_create_usage[] =
	"Usage: agentvm create [OPTIONS]\n"
	"Create a sandbox with agentvmd and print its name. It lives until 'agentvm rm',\n"
	"its --ttl or its --idle-ttl.\n"
	"\n"
	"Options:\n"
	"  --template NAME     template to make it from (default: default)\n"
	"  --name NAME         its name (default: sb-<random>)\n"
	"  --isolation LEVEL   auto, container, microvm or libvirt (default: the template's)\n"
	"  --mem SIZE          memory limit, e.g. 512M (default: the template's)\n"
	"  --cpus N            CPU limit, e.g. 0.5\n"
	"  --pids N            task limit\n"
	"  --disk SIZE         size of the writable layer\n"
	"  --ttl SECONDS       destroy it this long after creation\n"
	"  --idle-ttl SECONDS  destroy it after this long without requests\n"
	"  --meta KEY=VALUE    metadata to keep with it (repeatable)\n"
	"  --json              print the whole sandbox as JSON\n"
	"  -h, --help          show this help\n";

enum {
	O_TEMPLATE = 256,
	O_NAME,
	O_ISO,
	O_MEM,
	O_CPUS,
	O_PIDS,
	O_DISK,
	O_TTL,
	O_IDLE,
	O_META,
	O_JSON
};

static const struct option cli_create_opts[] = {
	{ "template", required_argument, NULL, O_TEMPLATE },
	{ "name", required_argument, NULL, O_NAME },
	{ "isolation", required_argument, NULL, O_ISO },
	{ "mem", required_argument, NULL, O_MEM },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "pids", required_argument, NULL, O_PIDS },
	{ "disk", required_argument, NULL, O_DISK },
	{ "ttl", required_argument, NULL, O_TTL },
	{ "idle-ttl", required_argument, NULL, O_IDLE },
	{ "meta", required_argument, NULL, O_META },
	{ "json", no_argument, NULL, O_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cli_create_main(int argc, char **argv)
{
	struct json_object *p = json_object_new_object(), *lim = json_object_new_object();
	struct json_object *meta = NULL, *res = NULL, *v;
	struct client_conn *c = NULL;
	bool json = false;
	int opt, status = CLI_EXIT_USAGE;
	uint64_t size, ms;
	uint32_t millis;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:h", cli_create_opts, NULL)) != -1) {
		switch (opt) {
		case O_TEMPLATE:
		case O_NAME:
			if (!backend_name_valid(optarg)) {
				cli_usage_error("create",
						"--%s wants 1-63 of A-Z a-z 0-9 _ . -, not '%s'",
						opt == O_NAME ? "name" : "template", optarg);
				goto out;
			}
			json_object_object_add(p, opt == O_NAME ? "name" : "template",
					       json_object_new_string(optarg));
			break;
		case O_ISO:
			if (strcmp(optarg, "auto") && strcmp(optarg, "container") &&
			    strcmp(optarg, "microvm") && strcmp(optarg, "libvirt")) {
				cli_usage_error("create", "--isolation must be auto, container, "
							  "microvm or libvirt");
				goto out;
			}
			json_object_object_add(p, "isolation", json_object_new_string(optarg));
			break;
		case O_MEM:
		case O_DISK:
			if (cli_parse_size(optarg, &size) < 0) {
				cli_usage_error("create",
						"--%s wants a size such as 512M, not '%s'",
						opt == O_MEM ? "mem" : "disk", optarg);
				goto out;
			}
			json_object_object_add(lim, opt == O_MEM ? "mem_bytes" : "disk_bytes",
					       json_object_new_int64((int64_t)size));
			break;
		case O_CPUS:
			if (cli_parse_cpus(optarg, &millis) < 0) {
				cli_usage_error("create",
						"--cpus wants a number such as 0.5, not '%s'",
						optarg);
				goto out;
			}
			json_object_object_add(lim, "cpus",
					       json_object_new_double(millis / 1000.0));
			break;
		case O_PIDS: {
			char *end;
			long long n = strtoll(optarg, &end, 10);
			if (*end || !*optarg || n < 8 || n > 4194304) {
				cli_usage_error("create", "--pids wants 8 to 4194304, not '%s'",
						optarg);
				goto out;
			}
			json_object_object_add(lim, "pids", json_object_new_int64(n));
			break;
		}
		case O_TTL:
		case O_IDLE:
			if (cli_parse_seconds(optarg, &ms) < 0) {
				cli_usage_error("create", "--%s wants seconds, not '%s'",
						opt == O_TTL ? "ttl" : "idle-ttl", optarg);
				goto out;
			}
			json_object_object_add(p, opt == O_TTL ? "ttl" : "idle_ttl",
					       json_object_new_double(ms / 1000.0));
			break;
		case O_META: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				cli_usage_error("create", "--meta wants KEY=VALUE, not '%s'",
						optarg);
				goto out;
			}
			if (!meta)
				meta = json_object_new_object();
			*eq = '\0';
			json_object_object_add(meta, optarg, json_object_new_string(eq + 1));
			break;
		}
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(cli_create_usage, stdout);
			status = 0;
			goto out;
		case ':':
			cli_usage_error("create", "%s needs a value", argv[optind - 1]);
			goto out;
		default:
			cli_usage_error("create", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		cli_usage_error("create", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (json_object_object_length(lim))
		json_object_object_add(p, "limits", json_object_get(lim));
	if (meta) {
		json_object_object_add(p, "metadata", meta);
		meta = NULL;
	}
	status = CLI_EXIT_INTERNAL;
	if (cli_client_connect("create", &c) < 0)
		goto out;
	if (cli_client_call("create", c, "sandbox.create", json_object_get(p), &res) < 0)
		goto out;
	if (json)
		cli_print_json(res);
	else if (json_object_object_get_ex(res, "name", &v))
		puts(json_object_get_string(v));
	status = 0;
out:
	json_object_put(meta);
	json_object_put(lim);
	json_object_put(p);
	json_object_put(res);
	client_close(c);
	return status;
}
