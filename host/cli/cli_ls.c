/* agentvm ls and agentvm top: the sandboxes agentvmd holds, once or live. */
#include "host/cli/cli.h"

#include "host/client.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char cli_ls_usage[] =
	"Usage: agentvm ls [--json] [--mine]\n"
	"List the sandboxes agentvmd holds (root sees everyone's; --mine only its own).\n";

static const char cli_top_usage[] =
	"Usage: agentvm top [--interval SECONDS] [--once] [--json]\n"
	"A live table of the sandboxes and what they use: memory (and its limit), CPU\n"
	"(percent of one CPU over the last interval), tasks, commands run. --once prints\n"
	"one table (CPU over a 1 s sample); --json prints one sample as JSON.\n";

static const char *cli_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

static double cli_num(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : -1;
}

static struct json_object *cli_list(struct client_conn *c, const char *cmd, bool mine, bool stats)
{
	struct json_object *p = json_object_new_object(), *res = NULL, *arr;

	if (mine)
		json_object_object_add(p, "all", json_object_new_boolean(0));
	if (stats)
		json_object_object_add(p, "stats", json_object_new_boolean(1));
	if (cli_client_call(cmd, c, "sandbox.list_all", p, &res) < 0)
		return NULL;
	if (!json_object_object_get_ex(res, "sandboxes", &arr)) {
		json_object_put(res);
		return NULL;
	}
	json_object_get(arr);
	json_object_put(res);
	return arr;
}

int cli_ls_main(int argc, char **argv)
{
	struct client_conn *c = NULL;
	bool json = false, mine = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--mine"))
			mine = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cli_ls_usage, stdout);
			return 0;
		} else
			return cli_usage_error("ls", "unknown argument '%s'", argv[i]);
	}
	if (cli_client_connect("ls", &c) < 0)
		return CLI_EXIT_INTERNAL;
	struct json_object *arr = cli_list(c, "ls", mine, false);
	client_close(c);
	if (!arr)
		return CLI_EXIT_INTERNAL;
	if (json) {
		cli_print_json(arr);
		json_object_put(arr);
		return 0;
	}
	printf("%-20s %-10s %-12s %-9s %6s %6s %6s %5s %7s\n", "NAME", "STATE", "TEMPLATE",
	       "BACKEND", "AGE", "IDLE", "MEM", "CPUS", "PID");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i), *l;
		char age[16], idle[16], mem[16];
		cli_format_age(now - cli_num(s, "created_ms") / 1000, age, sizeof(age));
		cli_format_age(cli_num(s, "idle"), idle, sizeof(idle));
		double cpus = -1;
		mem[0] = '\0';
		if (json_object_object_get_ex(s, "limits", &l)) {
			cli_format_size((int64_t)cli_num(l, "mem_bytes"), mem, sizeof(mem));
			cpus = cli_num(l, "cpus");
		}
		printf("%-20s %-10s %-12s %-9s %6s %6s %6s %5.2g %7.0f\n", cli_str(s, "name"),
		       cli_str(s, "state"), cli_str(s, "template"), cli_str(s, "backend"), age,
		       idle, mem, cpus, cli_num(s, "pid"));
	}
	json_object_put(arr);
	return 0;
}

/* CPU microseconds of sandbox name in the previous sample, or -1. */
static double cli_top_prev_cpu(struct json_object *prev, const char *name)
{
	for (size_t i = 0; prev && i < json_object_array_length(prev); i++) {
		struct json_object *s = json_object_array_get_idx(prev, i), *st;
		if (!strcmp(cli_str(s, "name"), name) && json_object_object_get_ex(s, "stats", &st))
			return cli_num(st, "cpu_usec");
	}
	return -1;
}

static void cli_top_print(struct json_object *arr, struct json_object *prev, double dt, bool tty)
{
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("%-20s %-10s %-12s %8s %8s %6s %6s %6s\n", "NAME", "STATE", "TEMPLATE", "MEM",
	       "LIMIT", "CPU%", "TASKS", "EXECS");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i), *st = NULL;
		char mem[16] = "-", lim[16] = "-", cpu[16] = "-", tasks[16] = "-";
		if (json_object_object_get_ex(s, "stats", &st)) {
			cli_format_size((int64_t)cli_num(st, "mem_bytes"), mem, sizeof(mem));
			cli_format_size((int64_t)cli_num(st, "mem_max"), lim, sizeof(lim));
			double now = cli_num(st, "cpu_usec");
			double before = cli_top_prev_cpu(prev, cli_str(s, "name"));
			if (now >= 0 && before >= 0 && dt > 0)
				snprintf(cpu, sizeof(cpu), "%.1f", (now - before) / 1e6 / dt * 100);
			if (cli_num(st, "pids") >= 0)
				snprintf(tasks, sizeof(tasks), "%.0f", cli_num(st, "pids"));
		}
		printf("%-20s %-10s %-12s %8s %8s %6s %6s %6.0f\n", cli_str(s, "name"),
		       cli_str(s, "state"), cli_str(s, "template"), mem, lim, cpu, tasks,
		       cli_num(s, "execs"));
	}
	fflush(stdout);
}

int cli_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'n' },
		{ "once", no_argument, NULL, '1' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_conn *c = NULL;
	struct json_object *prev = NULL;
	uint64_t interval_ms = 1000;
	bool once = false, json = false;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_parse_seconds(optarg, &interval_ms) < 0 || interval_ms < 100)
				return cli_usage_error("top", "--interval wants seconds (>= 0.1)");
			break;
		case '1':
			once = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(cli_top_usage, stdout);
			return 0;
		default:
			return cli_usage_error("top", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (cli_client_connect("top", &c) < 0)
		return CLI_EXIT_INTERNAL;
	bool tty = !once && !json && isatty(1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int round = 0;; round++) {
		struct json_object *arr = cli_list(c, "top", false, true);
		if (!arr) {
			json_object_put(prev);
			client_close(c);
			return CLI_EXIT_INTERNAL;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		t0 = t1;
		if (json) {
			cli_print_json(arr);
			json_object_put(arr);
			break;
		}
		if (!once || round == 1)
			cli_top_print(arr, prev, dt, tty);
		json_object_put(prev);
		prev = arr;
		if (once && round == 1)
			break;
		usleep((useconds_t)(once ? 1000000 : interval_ms * 1000));
	}
	json_object_put(prev);
	client_close(c);
	return 0;
}
