/* agentvm reset / rm / snapshot: one call per sandbox. Need agentvmd. */
#include "host/cli/cli.h"

#include "host/backend.h"
#include "host/client.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char cli_reset_usage[] =
	"Usage: agentvm reset [--json] SANDBOX...\n"
	"Put each sandbox back to a fresh copy of its template (its files and processes are\n"
	"gone; its name, limits and metadata stay).\n";
static const char cli_rm_usage[] = "Usage: agentvm rm SANDBOX...\n"
				   "Destroy each sandbox and everything in it.\n";
static const char cli_snapshot_usage[] =
	"Usage: agentvm snapshot [--json] SANDBOX TEMPLATE\n"
	"Copy the sandbox's files into a new template TEMPLATE that later sandboxes can be\n"
	"created from (--template TEMPLATE).\n";

/* Call method for each sandbox named in argv; print per usage. */
static int cli_each(const char *cmd, const char *usage, const char *method, int argc, char **argv)
{
	struct client_conn *c = NULL;
	bool json = false;
	int status = 0, first = 1;

	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(argv[first], "--json")) {
			json = true;
			continue;
		}
		if (!strcmp(argv[first], "--")) {
			first++;
			break;
		}
		return cli_usage_error(cmd, "unknown option '%s'", argv[first]);
	}
	if (first >= argc)
		return cli_usage_error(cmd, "no sandbox given");
	for (int i = first; i < argc; i++)
		if (!backend_name_valid(argv[i]))
			return cli_usage_error(cmd, "'%s' is not a sandbox name", argv[i]);
	if (cli_client_connect(cmd, &c) < 0)
		return CLI_EXIT_INTERNAL;
	for (int i = first; i < argc; i++) {
		struct json_object *p = json_object_new_object(), *res = NULL;
		json_object_object_add(p, "sandbox", json_object_new_string(argv[i]));
		if (cli_client_call(cmd, c, method, p, &res) < 0) {
			status = CLI_EXIT_INTERNAL;
			continue;
		}
		if (json)
			cli_print_json(res);
		else if (!strcmp(method, "sandbox.reset"))
			printf("%s\n", argv[i]);
		json_object_put(res);
	}
	client_close(c);
	return status;
}

int cli_reset_main(int argc, char **argv)
{
	return cli_each("reset", cli_reset_usage, "sandbox.reset", argc, argv);
}

int cli_rm_main(int argc, char **argv)
{
	return cli_each("rm", cli_rm_usage, "sandbox.destroy", argc, argv);
}

int cli_snapshot_main(int argc, char **argv)
{
	struct client_conn *c = NULL;
	struct json_object *p, *res = NULL, *v;
	bool json = false;
	int a = 1;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(cli_snapshot_usage, stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--json")) {
		json = true;
		a++;
	}
	if (argc - a != 2 || !backend_name_valid(argv[a]) || !backend_name_valid(argv[a + 1]))
		return cli_usage_error("snapshot", "wants SANDBOX TEMPLATE (names)");
	if (cli_client_connect("snapshot", &c) < 0)
		return CLI_EXIT_INTERNAL;
	p = json_object_new_object();
	json_object_object_add(p, "sandbox", json_object_new_string(argv[a]));
	json_object_object_add(p, "template", json_object_new_string(argv[a + 1]));
	int r = cli_client_call("snapshot", c, "sandbox.snapshot", p, &res);
	client_close(c);
	if (r < 0)
		return CLI_EXIT_INTERNAL;
	if (json)
		cli_print_json(res);
	else if (json_object_object_get_ex(res, "template", &v))
		printf("%s\n", json_object_get_string(v));
	json_object_put(res);
	return 0;
}
