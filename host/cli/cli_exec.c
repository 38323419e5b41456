/* agentvm exec: run a command in an existing sandbox, output streamed, exit
 * status passed through as with `agentvm run`. Needs agentvmd. */
#include "host/cli/cli.h"

#include "common/base64.h"
#include "common/json_util.h"
#include "host/backend.h"
#include "host/client.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_EXEC_STDIN_MAX (8u << 20)

static const char cli_exec_usage[] =
	"Usage: agentvm exec [OPTIONS] SANDBOX -- COMMAND [ARG...]\n"
	"Run COMMAND in the sandbox SANDBOX (see 'agentvm create'), stream its output and\n"
	"exit with its status.\n"
	"\n"
	"Options:\n"
	"  -e, --env KEY=VALUE   set an environment variable (repeatable)\n"
	"  -w, --workdir DIR     working directory (default: /)\n"
	"  -u, --user UID        numeric user id (default: 0)\n"
	"  -i, --interactive     send our standard input (read to its end first; at most 8M)\n"
	"  --timeout SECONDS     kill the command after this long and exit 124\n"
	"  --json                print the result as JSON on stdout after the output\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: as 'agentvm run': the command's own, 128+N for signal N, 124 on\n"
	"timeout, 126/127 when it cannot run, 125 when agentvm failed, 2 for bad options.\n";

static const struct option cli_exec_opts[] = {
	{ "env", required_argument, NULL, 'e' },     { "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },    { "interactive", no_argument, NULL, 'i' },
	{ "timeout", required_argument, NULL, 'T' }, { "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
};

static void cli_exec_output(const char *method, struct json_object *params, void *arg)
{
	struct json_object *v;
	unsigned char *data;
	size_t len;

	(void)arg;
	if (strcmp(method, "sandbox.exec.output") || !params ||
	    !json_object_object_get_ex(params, "data", &v) ||
	    base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), &data,
			  &len) < 0)
		return;
	int fd = json_object_object_get_ex(params, "stream", &v) &&
				 !strcmp(json_object_get_string(v), "stderr")
			 ? 2
			 : 1;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(data);
}

static int cli_exec_read_stdin(char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= CLI_EXEC_STDIN_MAX) {
				free(buf);
				return -E2BIG;
			}
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n > CLI_EXEC_STDIN_MAX) {
		free(buf);
		return -E2BIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

int cli_exec_call(struct client_conn *c, struct json_object *params, const char *cmd0, bool json,
		  int *status)
{
	struct json_object *res = NULL;
	struct client_error e;
	int r;

	r = client_call(c, "sandbox.exec", params, &res, cli_exec_output, NULL, &e);
	if (r == -EREMOTEIO && !strcmp(e.name, "EAGENT")) {
		if (!strcmp(e.agent_code, "ENOENT")) {
			fprintf(stderr, "agentvm: %s: command not found\n", cmd0);
			*status = CLI_EXIT_NOTFOUND;
		} else {
			fprintf(stderr, "agentvm: %s: %s\n", cmd0, e.message);
			*status = !strcmp(e.agent_code, "EACCES") ||
						  !strcmp(e.agent_code, "ENOEXEC") ||
						  !strcmp(e.agent_code, "EPERM") ||
						  !strcmp(e.agent_code, "EISDIR")
					  ? CLI_EXIT_NOEXEC
					  : CLI_EXIT_INTERNAL;
		}
		return 0;
	}
	if (r == -EINTR)
		return r;
	if (r < 0) {
		*status = cli_client_fail("exec", r, &e);
		return r;
	}
	if (json)
		cli_print_json(res);
	*status = cli_exec_status(res);
	if (*status == CLI_EXIT_TIMEOUT)
		fprintf(stderr, "agentvm: %s: timed out\n", cmd0);
	json_object_put(res);
	return 0;
}

int cli_exec_main(int argc, char **argv)
{
	struct json_object *p = json_object_new_object(), *env = NULL;
	struct client_conn *c = NULL;
	bool interactive = false, json = false;
	int opt, status = CLI_EXIT_USAGE, r;
	uint64_t ms;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:e:w:u:ih", cli_exec_opts, NULL)) != -1) {
		switch (opt) {
		case 'e': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				cli_usage_error("exec", "--env wants KEY=VALUE, not '%s'", optarg);
				goto out;
			}
			if (!env)
				env = json_object_new_object();
			*eq = '\0';
			json_object_object_add(env, optarg, json_object_new_string(eq + 1));
			break;
		}
		case 'w':
			if (optarg[0] != '/') {
				cli_usage_error("exec",
						"--workdir wants an absolute path, not '%s'",
						optarg);
				goto out;
			}
			json_object_object_add(p, "cwd", json_object_new_string(optarg));
			break;
		case 'u': {
			char *end;
			long long v = strtoll(optarg, &end, 10);
			if (*end || !*optarg || v < 0 || v > 0xfffffffeLL) {
				cli_usage_error("exec", "--user wants a numeric uid, not '%s'",
						optarg);
				goto out;
			}
			json_object_object_add(p, "uid", json_object_new_int64(v));
			break;
		}
		case 'i':
			interactive = true;
			break;
		case 'T':
			if (cli_parse_seconds(optarg, &ms) < 0) {
				cli_usage_error("exec", "--timeout wants seconds, not '%s'",
						optarg);
				goto out;
			}
			json_object_object_add(p, "timeout", json_object_new_double(ms / 1000.0));
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			fputs(cli_exec_usage, stdout);
			status = 0;
			goto out;
		case ':':
			cli_usage_error("exec", "%s needs a value", argv[optind - 1]);
			goto out;
		default:
			cli_usage_error("exec", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		cli_usage_error("exec", "no sandbox given: agentvm exec SANDBOX -- COMMAND");
		goto out;
	}
	if (!backend_name_valid(argv[optind])) {
		cli_usage_error("exec", "'%s' is not a sandbox name", argv[optind]);
		goto out;
	}
	json_object_object_add(p, "sandbox", json_object_new_string(argv[optind++]));
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc) {
		cli_usage_error("exec", "no command given: agentvm exec SANDBOX -- COMMAND");
		goto out;
	}
	struct json_object *av = json_object_new_array();
	for (int i = optind; i < argc; i++)
		json_object_array_add(av, json_object_new_string(argv[i]));
	json_object_object_add(p, "argv", av);
	if (env) {
		json_object_object_add(p, "env", env);
		env = NULL;
	}
	if (interactive) {
		char *in;
		size_t len;
		r = cli_exec_read_stdin(&in, &len);
		if (r < 0) {
			fprintf(stderr, "agentvm exec: standard input: %s\n",
				r == -E2BIG ? "more than 8M" : strerror(-r));
			status = CLI_EXIT_INTERNAL;
			goto out;
		}
		json_util_add_base64(p, "stdin", in, len);
		free(in);
	}
	status = CLI_EXIT_INTERNAL;
	if (cli_client_connect("exec", &c) < 0)
		goto out;
	cli_exec_call(c, json_object_get(p), argv[optind], json, &status);
out:
	json_object_put(env);
	json_object_put(p);
	client_close(c);
	return status;
}
