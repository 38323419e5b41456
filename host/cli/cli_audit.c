/* agentvm audit tail|verify: read and check the audit log. verify --file
 * works on any copy of a log without a daemon. */
#include "host/cli/cli.h"

#include "host/audit.h"
#include "host/backend.h"
#include "host/client.h"
#include "host/daemon.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cli_audit_usage[] =
	"Usage: agentvm audit tail [-n N] [--sandbox NAME] [--type TYPE] [--json]\n"
	"       agentvm audit verify [--file PATH] [--json]\n"
	"tail: the last N (default 50) audit events, oldest first, from agentvmd.\n"
	"verify: check the SHA-256 chain of the audit log and name the first edited,\n"
	"removed or reordered line. Without --file it asks agentvmd, or reads the log in\n"
	"the default state directory when no daemon runs. Exit status 1 if the chain is\n"
	"broken.\n";

void cli_logs_print_event(struct json_object *e);

static int cli_audit_report(const char *path, bool ok, long lines, long bad, const char *err,
			    bool json)
{
	if (json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "lines", json_object_new_int64(lines));
		if (!ok) {
			json_object_object_add(o, "first_bad_line", json_object_new_int64(bad));
			json_object_object_add(o, "error", json_object_new_string(err));
		}
		cli_print_json(o);
		json_object_put(o);
	} else if (ok) {
		printf("%s: %ld lines, chain intact\n", path, lines);
	} else {
		printf("%s: BROKEN at line %ld: %s\n", path, bad, err);
	}
	return ok ? 0 : 1;
}

static int cli_audit_verify(int argc, char **argv)
{
	const char *file = NULL;
	bool json = false;
	char path[PATH_MAX], err[512];
	long bad = 0, lines = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return cli_usage_error("audit", "verify: unexpected argument '%s'",
					       argv[i]);
	}
	if (!file) {
		struct client_conn *c;
		char sock[108];
		client_socket_path(sock, sizeof(sock));
		if (client_connect(sock, &c) == 0) {
			struct json_object *res = NULL, *v;
			struct client_error e;
			int r = client_call(c, "audit.verify", NULL, &res, NULL, NULL, &e);
			client_close(c);
			if (r < 0)
				return cli_client_fail("audit verify", r, &e);
			bool ok = json_object_object_get_ex(res, "ok", &v) &&
				  json_object_get_boolean(v);
			const char *p = json_object_object_get_ex(res, "path", &v)
						? json_object_get_string(v)
						: "";
			lines = json_object_object_get_ex(res, "lines", &v)
					? json_object_get_int64(v)
					: 0;
			bad = json_object_object_get_ex(res, "first_bad_line", &v)
				      ? json_object_get_int64(v)
				      : 0;
			snprintf(err, sizeof(err), "%s",
				 json_object_object_get_ex(res, "error", &v)
					 ? json_object_get_string(v)
					 : "");
			snprintf(path, sizeof(path), "%s", p);
			json_object_put(res);
			return cli_audit_report(path, ok, lines, bad, err, json);
		}
		char dir[PATH_MAX - 16];
		daemon_default_state_dir(dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/audit.log", dir);
		file = path;
	}
	int r = audit_verify(file, &bad, &lines, err, sizeof(err));
	if (r < 0 && r != -EBADMSG) {
		fprintf(stderr, "agentvm audit verify: %s\n", err);
		return CLI_EXIT_INTERNAL;
	}
	return cli_audit_report(file, r == 0, lines, bad, err, json);
}

static int cli_audit_tail(int argc, char **argv)
{
	struct json_object *p = json_object_new_object(), *res = NULL, *v;
	struct client_conn *c = NULL;
	bool json = false;
	int status = CLI_EXIT_USAGE;

	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--lines")) && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 10000) {
				cli_usage_error("audit", "tail: -n wants 1 to 10000");
				goto out;
			}
			json_object_object_add(p, "n", json_object_new_int((int)n));
		} else if (!strcmp(argv[i], "--sandbox") && i + 1 < argc &&
			   backend_name_valid(argv[i + 1])) {
			json_object_object_add(p, "sandbox", json_object_new_string(argv[++i]));
		} else if (!strcmp(argv[i], "--type") && i + 1 < argc && argv[i + 1][0]) {
			json_object_object_add(p, "type", json_object_new_string(argv[++i]));
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else {
			cli_usage_error("audit", "tail: unexpected argument '%s'", argv[i]);
			goto out;
		}
	}
	status = CLI_EXIT_INTERNAL;
	if (cli_client_connect("audit", &c) < 0)
		goto out;
	if (cli_client_call("audit", c, "audit.tail", json_object_get(p), &res) < 0)
		goto out;
	if (json_object_object_get_ex(res, "events", &v)) {
		if (json)
			cli_print_json(v);
		else
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

int cli_audit_main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("audit", "wants tail or verify");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cli_audit_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "verify"))
		return cli_audit_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "tail"))
		return cli_audit_tail(argc - 1, argv + 1);
	return cli_usage_error("audit", "unknown subcommand '%s' (tail or verify)", argv[1]);
}
