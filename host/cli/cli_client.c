/* What the subcommands that talk to agentvmd share. */
#include "host/cli/cli.h"

#include "host/agent_client.h"
#include "host/client.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int cli_client_connect(const char *cmd, struct client_conn **c)
{
	char path[108];
	int r;

	client_socket_path(path, sizeof(path));
	r = client_connect(path, c);
	if (r == 0)
		return 0;
	if (r == -ENOENT || r == -ECONNREFUSED)
		fprintf(stderr,
			"agentvm %s: needs agentvmd, and none answers on %s (start one with "
			"'agentvm daemon' or 'systemctl start agentvmd'; AGENTVMD_SOCKET names "
			"another socket)\n",
			cmd, path);
	else
		fprintf(stderr, "agentvm %s: cannot connect to agentvmd at %s: %s\n", cmd, path,
			strerror(-r));
	return -1;
}

int cli_client_fail(const char *cmd, int r, const struct client_error *e)
{
	if (r == -EREMOTEIO && e)
		fprintf(stderr, "agentvm %s: %s (%s)\n", cmd, e->message,
			e->name[0] ? e->name : "error");
	else if (r == -ECONNRESET)
		fprintf(stderr, "agentvm %s: agentvmd closed the connection\n", cmd);
	else
		fprintf(stderr, "agentvm %s: %s\n", cmd, strerror(-r));
	return CLI_EXIT_INTERNAL;
}

int cli_client_call(const char *cmd, struct client_conn *c, const char *method,
		    struct json_object *params, struct json_object **result)
{
	struct client_error e;
	int r = client_call(c, method, params, result, NULL, NULL, &e);

	if (r < 0) {
		cli_client_fail(cmd, r, &e);
		return -1;
	}
	return 0;
}

void cli_print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

void cli_format_size(int64_t bytes, char *out, size_t len)
{
	static const char units[] = "BKMGT";
	double v = (double)bytes;
	int u = 0;

	if (bytes < 0) {
		snprintf(out, len, "-");
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%lldB", (long long)bytes);
	else if (v < 10 && v != (int)v)
		snprintf(out, len, "%.1f%c", v, units[u]);
	else
		snprintf(out, len, "%.0f%c", v, units[u]);
}

void cli_format_age(double s, char *out, size_t len)
{
	if (s < 0)
		snprintf(out, len, "-");
	else if (s < 120)
		snprintf(out, len, "%.0fs", s);
	else if (s < 7200)
		snprintf(out, len, "%.0fm", s / 60);
	else if (s < 172800)
		snprintf(out, len, "%.0fh", s / 3600);
	else
		snprintf(out, len, "%.0fd", s / 86400);
}

int cli_exec_status(struct json_object *res)
{
	struct json_object *v;

	if (json_object_object_get_ex(res, "timed_out", &v) && json_object_get_boolean(v))
		return CLI_EXIT_TIMEOUT;
	if (json_object_object_get_ex(res, "signal", &v) &&
	    json_object_is_type(v, json_type_string)) {
		int sig = agent_client_signal_number(json_object_get_string(v));
		return CLI_EXIT_SIGNALLED + (sig ? sig : 9);
	}
	if (json_object_object_get_ex(res, "exit_code", &v) &&
	    json_object_is_type(v, json_type_int))
		return json_object_get_int(v) & 255;
	return CLI_EXIT_INTERNAL;
}
