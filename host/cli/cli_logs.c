/* agentvm logs: what happened in a sandbox (its audit events), or what its
 * PID 1 wrote (--agent). Needs agentvmd. */
#include "host/cli/cli.h"

#include "host/backend.h"
#include "host/client.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cli_logs_usage[] =
	"Usage: agentvm logs [--agent] [--tail N] [--json] SANDBOX\n"
	"Show the audit events of a sandbox (creation, commands with their exit status\n"
	"and output size, file operations, resets), oldest first; --tail N keeps the last N\n"
	"(default 100). --agent shows what its PID 1 wrote instead.\n";

/* One audit event as a line: time, type, then the members that say most. */
void cli_logs_print_event(struct json_object *e);
void cli_logs_print_event(struct json_object *e)
{
	static const char *const skip[] = {
		"ts", "seq", "prev", "hash", "type", "sandbox", "caller"
	};
	struct json_object *v;
	const char *ts = json_object_object_get_ex(e, "ts", &v) ? json_object_get_string(v) : "";
	const char *type =
		json_object_object_get_ex(e, "type", &v) ? json_object_get_string(v) : "?";
	const char *sb =
		json_object_object_get_ex(e, "sandbox", &v) ? json_object_get_string(v) : "-";

	printf("%s %-16s %-16s", ts, type, sb);
	json_object_object_foreach(e, key, val)
	{
		bool skipped = false;
		for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			if (!strcmp(key, skip[i]))
				skipped = true;
		if (skipped)
			continue;
		printf(" %s=%s", key,
		       json_object_is_type(val, json_type_string)
			       ? json_object_get_string(val)
			       : json_object_to_json_string_ext(
					 val,
					 JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	if (json_object_object_get_ex(e, "caller", &v)) {
		struct json_object *u;
		if (json_object_object_get_ex(v, "uid", &u))
			printf(" uid=%d", json_object_get_int(u));
	}
	putchar('\n');
}

int cli_logs_main(int argc, char **argv)
{
	struct client_conn *c = NULL;
	struct json_object *p = json_object_new_object(), *res = NULL, *v;
	bool json = false, agent = false;
	const char *name = NULL;
	int status = CLI_EXIT_USAGE;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--agent")) {
			agent = true;
		} else if (!strcmp(argv[i], "--tail") && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 10000) {
				cli_usage_error("logs", "--tail wants 1 to 10000");
				goto out;
			}
			json_object_object_add(p, "tail", json_object_new_int((int)n));
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cli_logs_usage, stdout);
			status = 0;
			goto out;
		} else if (argv[i][0] != '-' && !name && backend_name_valid(argv[i])) {
			name = argv[i];
		} else {
			cli_usage_error("logs", "unexpected argument '%s'", argv[i]);
			goto out;
		}
	}
	if (!name) {
		cli_usage_error("logs", "no sandbox given");
		goto out;
	}
	json_object_object_add(p, "sandbox", json_object_new_string(name));
	if (agent)
		json_object_object_add(p, "agent", json_object_new_boolean(1));
	status = CLI_EXIT_INTERNAL;
	if (cli_client_connect("logs", &c) < 0)
		goto out;
	if (cli_client_call("logs", c, "sandbox.logs", json_object_get(p), &res) < 0)
		goto out;
	if (json) {
		cli_print_json(res);
	} else if (agent && json_object_object_get_ex(res, "agent_log", &v)) {
		fputs(json_object_get_string(v), stdout);
	} else if (json_object_object_get_ex(res, "events", &v)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			cli_logs_print_event(json_object_array_get_idx(v, i));
	}
	status = 0;
out:
	json_object_put(p);
	json_object_put(res);
	client_close(c);
	return status;
}
