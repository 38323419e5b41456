/* agentvm batch: submit a file of task specs (JSON Lines) to agentvmd's task
 * queue, write each result as it completes, and show progress. Ctrl-C cancels
 * what is left and keeps every result that completed. docs/TASKS.md. */
#include "host/cli/cli.h"

#include "host/api.h"
#include "host/backend.h"
#include "host/client.h"
#include "host/task.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char cli_batch_usage[] =
	"Usage: agentvm batch [--parallel N] [--out FILE] [--batch ID] TASKS.jsonl|-\n"
	"       agentvm batch cancel ID\n"
	"       agentvm batch status [ID]\n"
	"Run every task of TASKS.jsonl (one JSON task spec a line; docs/TASKS.md) in a fresh\n"
	"sandbox, N at a time (default 8), through agentvmd's task queue. Each result is one\n"
	"JSON line written as soon as the task ends: to FILE, else to stdout. Progress goes\n"
	"to stdout when --out is given (a live bar on a terminal, plain lines otherwise),\n"
	"else to stderr. Ctrl-C cancels the tasks still queued or running; the results of\n"
	"those that ended are kept. Exit status: 0 when every task passed, 1 otherwise.\n";

static volatile sig_atomic_t cli_batch_interrupted;

static void cli_batch_on_signal(int sig)
{
	(void)sig;
	cli_batch_interrupted++;
	if (cli_batch_interrupted >= 3)
		_exit(130);
}

static double cli_batch_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read the spec lines of path ("-": stdin); blank lines are skipped. Each
 * spec is checked here, so a bad line is named before anything runs. */
static int cli_batch_read(const char *path, struct json_object **specs)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, bad = 0;
	char err[512];

	if (!f) {
		fprintf(stderr, "agentvm batch: %s: %s\n", path, strerror(errno));
		return -1;
	}
	*specs = json_object_new_array();
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		size_t sp = strspn(line, " \t");
		if ((size_t)n == sp)
			continue;
		struct json_object *spec = NULL;
		if (task_spec_parse(line, (size_t)n, &spec, err, sizeof(err)) < 0) {
			fprintf(stderr, "agentvm batch: %s:%d: %s\n", path, lineno, err);
			if (++bad >= 10)
				break;
			continue;
		}
		json_object_put(spec);
		json_object_array_add(*specs, json_object_new_string_len(line, (int)n));
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (bad) {
		json_object_put(*specs);
		*specs = NULL;
		return -1;
	}
	return 0;
}

struct cli_batch_progress {
	FILE *out;
	bool tty;
	double start, last;
	int64_t total, done, passed, failed, running;
	char last_line[256];
};

static void cli_batch_draw(struct cli_batch_progress *p, bool final)
{
	double now = cli_batch_now();
	double secs = now - p->start;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	char eta[32] = "?";
	char line[256];

	if (rate > 0)
		snprintf(eta, sizeof(eta), "%.0fs", (double)(p->total - p->done) / rate);
	if (p->tty) {
		int width = 30, fill = p->total ? (int)(width * p->done / p->total) : 0;
		char bar[64];
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '-';
		bar[width] = '\0';
		fprintf(p->out,
			"\r[%s] %lld/%lld done, %lld failed, %lld running, %.1f/s, ETA %s\033[K%s",
			bar, (long long)p->done, (long long)p->total, (long long)p->failed,
			(long long)p->running, rate, final ? "0s" : eta, final ? "\n" : "");
		fflush(p->out);
		return;
	}
	snprintf(line, sizeof(line),
		 "batch: %lld/%lld done, %lld failed, %lld running, %.1f tasks/s, ETA %s",
		 (long long)p->done, (long long)p->total, (long long)p->failed,
		 (long long)p->running, rate, final ? "0s" : eta);
	if (final || (now - p->last >= 1.0 && strcmp(line, p->last_line))) {
		fprintf(p->out, "%s\n", line);
		fflush(p->out);
		snprintf(p->last_line, sizeof(p->last_line), "%s", line);
		p->last = now;
	}
}

/* A call that survives a daemon restart: reconnect for up to 120 s. */
static int cli_batch_call(struct client_conn **c, const char *method, struct json_object *params,
			  struct json_object **res, struct client_error *e)
{
	double give_up = cli_batch_now() + 120;

	for (;;) {
		if (!*c && client_connect(NULL, c) < 0)
			*c = NULL;
		if (*c) {
			client_set_interrupt(*c,
					     cli_batch_interrupted ? NULL : &cli_batch_interrupted);
			int r = client_call(*c, method, json_object_get(params), res, NULL, NULL,
					    e);
			if (r == 0 || r == -EREMOTEIO || r == -EINTR) {
				json_object_put(params);
				return r;
			}
			client_close(*c);
			*c = NULL;
		}
		if (cli_batch_now() > give_up) {
			json_object_put(params);
			snprintf(e->message, sizeof(e->message), "agentvmd does not answer");
			return -ECONNREFUSED;
		}
		usleep(250 * 1000);
	}
}

static int cli_batch_cancel(const char *id)
{
	struct client_conn *c = NULL;
	struct json_object *p = json_object_new_object(), *res = NULL;

	if (!backend_name_valid(id)) {
		json_object_put(p);
		return cli_usage_error("batch", "'%s' is not a batch id", id);
	}
	if (cli_client_connect("batch", &c) < 0) {
		json_object_put(p);
		return CLI_EXIT_INTERNAL;
	}
	json_object_object_add(p, "batch", json_object_new_string(id));
	int r = cli_client_call("batch", c, "batch.cancel", p, &res);
	client_close(c);
	if (r < 0)
		return CLI_EXIT_INTERNAL;
	printf("%s: cancelled (%d running tasks stopping)\n", id,
	       json_object_get_int(json_object_object_get(res, "cancelling_running")));
	json_object_put(res);
	return 0;
}

static int cli_batch_status(const char *id)
{
	struct client_conn *c = NULL;
	struct json_object *p = json_object_new_object(), *res = NULL;

	if (cli_client_connect("batch", &c) < 0) {
		json_object_put(p);
		return CLI_EXIT_INTERNAL;
	}
	if (id)
		json_object_object_add(p, "batch", json_object_new_string(id));
	json_object_object_add(p, "limit", json_object_new_int(1));
	json_object_object_add(p, "after", json_object_new_int64(INT64_C(9007199254740991)));
	int r = cli_client_call("batch", c, "task.list", p, &res);
	client_close(c);
	if (r < 0)
		return CLI_EXIT_INTERNAL;
	cli_print_json(id ? json_object_object_get(res, "counts") : res);
	json_object_put(res);
	return 0;
}

static int64_t cli_batch_count(struct json_object *counts, const char *k)
{
	return json_object_get_int64(json_object_object_get(counts, k));
}

int cli_batch_main(int argc, char **argv)
{
	const char *out_path = NULL, *batch = NULL, *file = NULL;
	int parallel = 8;

	if (argc >= 2 && !strcmp(argv[1], "cancel"))
		return argc == 3 ? cli_batch_cancel(argv[2])
				 : cli_usage_error("batch", "cancel wants one batch id");
	if (argc >= 2 && !strcmp(argv[1], "status"))
		return argc <= 3 ? cli_batch_status(argc == 3 ? argv[2] : NULL)
				 : cli_usage_error("batch", "status wants at most one batch id");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(cli_batch_usage, stdout);
			return 0;
		} else if ((!strcmp(a, "--parallel") || !strcmp(a, "-j")) && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 4096)
				return cli_usage_error("batch", "--parallel wants 1 to 4096");
			parallel = (int)v;
		} else if (!strcmp(a, "--out") && i + 1 < argc) {
			out_path = argv[++i];
		} else if (!strcmp(a, "--batch") && i + 1 < argc) {
			batch = argv[++i];
			if (!backend_name_valid(batch))
				return cli_usage_error("batch", "'%s' is not a batch id", batch);
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("batch", "unknown option '%s'", a);
		} else if (!file) {
			file = a;
		} else {
			return cli_usage_error("batch", "one task file only");
		}
	}
	if (!file)
		return cli_usage_error("batch", "no task file given");

	struct json_object *specs = NULL;
	if (cli_batch_read(file, &specs) < 0)
		return CLI_EXIT_USAGE;
	size_t n = json_object_array_length(specs);
	if (n == 0) {
		json_object_put(specs);
		fprintf(stderr, "agentvm batch: %s holds no tasks\n", file);
		return CLI_EXIT_USAGE;
	}
	FILE *results = stdout;
	if (out_path && !(results = fopen(out_path, "w"))) {
		fprintf(stderr, "agentvm batch: %s: %s\n", out_path, strerror(errno));
		json_object_put(specs);
		return CLI_EXIT_INTERNAL;
	}
	struct client_conn *c = NULL;
	if (cli_client_connect("batch", &c) < 0) {
		json_object_put(specs);
		if (results != stdout)
			fclose(results);
		return CLI_EXIT_INTERNAL;
	}
	struct sigaction sa = { .sa_handler = cli_batch_on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Submit in pieces of at most 1000 tasks or 8 MiB. */
	char bid[64] = "";
	struct client_error e;
	int status = 0;
	if (batch)
		snprintf(bid, sizeof(bid), "%s", batch);
	for (size_t i = 0; i < n && !cli_batch_interrupted;) {
		struct json_object *chunk = json_object_new_array();
		size_t bytes = 0, first = i;
		while (i < n && i - first < 1000 && bytes < (8u << 20)) {
			struct json_object *s = json_object_array_get_idx(specs, i++);
			bytes += (size_t)json_object_get_string_len(s) + 8;
			json_object_array_add(chunk, json_object_get(s));
		}
		struct json_object *p = json_object_new_object(), *res = NULL;
		json_object_object_add(p, "tasks", chunk);
		json_object_object_add(p, "parallel", json_object_new_int(parallel));
		if (bid[0])
			json_object_object_add(p, "batch", json_object_new_string(bid));
		int r = client_call(c, "task.submit", p, &res, NULL, NULL, &e);
		if (r < 0) {
			status = cli_client_fail("batch", r, &e);
			break;
		}
		snprintf(bid, sizeof(bid), "%s",
			 json_object_get_string(json_object_object_get(res, "batch")));
		json_object_put(res);
	}
	json_object_put(specs);
	if (!bid[0]) {
		client_close(c);
		if (results != stdout)
			fclose(results);
		return status ? status : CLI_EXIT_INTERNAL;
	}

	struct cli_batch_progress pr = { .out = out_path ? stdout : stderr, .total = (int64_t)n };
	pr.tty = isatty(fileno(pr.out));
	pr.start = cli_batch_now();
	if (!pr.tty)
		fprintf(pr.out, "batch %s: %zu tasks, %d at a time\n", bid, n, parallel);
	else
		fprintf(pr.out, "batch %s (agentvm batch cancel %s)\n", bid, bid);
	int64_t cursor = 0, not_passed = 0;
	bool cancel_sent = false, lost = false;
	for (;;) {
		if (cli_batch_interrupted && !cancel_sent) {
			struct json_object *p = json_object_new_object(), *res = NULL;
			json_object_object_add(p, "batch", json_object_new_string(bid));
			fprintf(stderr, "\nagentvm batch: cancelling %s\n", bid);
			cli_batch_call(&c, "batch.cancel", p, &res, &e);
			json_object_put(res);
			cancel_sent = true;
		}
		struct json_object *p = json_object_new_object(), *res = NULL;
		json_object_object_add(p, "batch", json_object_new_string(bid));
		json_object_object_add(p, "after", json_object_new_int64(cursor));
		int r = cli_batch_call(&c, "task.list", p, &res, &e);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "agentvm batch: %s%s%s\n", e.name, e.name[0] ? ": " : "",
				e.message);
			lost = true;
			break;
		}
		struct json_object *tasks = json_object_object_get(res, "tasks");
		size_t ntasks = json_object_is_type(tasks, json_type_array)
					? json_object_array_length(tasks)
					: 0;
		for (size_t i = 0; i < ntasks; i++) {
			struct json_object *t = json_object_array_get_idx(tasks, i);
			const char *st = json_object_get_string(json_object_object_get(t, "state"));
			fprintf(results, "%s\n",
				json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN));
			if (!st || strcmp(st, "passed"))
				not_passed++;
		}
		fflush(results);
		cursor = json_object_get_int64(json_object_object_get(res, "cursor"));
		struct json_object *counts = json_object_object_get(res, "counts");
		pr.running = cli_batch_count(counts, "running");
		pr.passed = cli_batch_count(counts, "passed");
		pr.failed = cli_batch_count(counts, "failed") + cli_batch_count(counts, "error") +
			    cli_batch_count(counts, "cancelled");
		pr.done = pr.passed + pr.failed;
		pr.total = cli_batch_count(counts, "total");
		bool finished = pr.running + cli_batch_count(counts, "queued") == 0 && ntasks == 0;
		json_object_put(res);
		cli_batch_draw(&pr, finished);
		if (finished)
			break;
		if (ntasks == 0)
			usleep(100 * 1000);
	}
	client_close(c);
	if (results != stdout && fclose(results) != 0) {
		fprintf(stderr, "agentvm batch: %s: %s\n", out_path, strerror(errno));
		return CLI_EXIT_INTERNAL;
	}
	double secs = cli_batch_now() - pr.start;
	fprintf(pr.out,
		"batch %s: %lld passed, %lld not passed, of %lld, in %.1fs (%.1f tasks/s)\n", bid,
		(long long)pr.passed, (long long)pr.failed, (long long)pr.total, secs,
		secs > 0 ? (double)pr.done / secs : 0.0);
	if (lost)
		return CLI_EXIT_INTERNAL;
	if (cli_batch_interrupted)
		return 130;
	return (not_passed || pr.failed) ? 1 : status;
}
