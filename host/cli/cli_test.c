/* agentvm test: run every case of a test suite directory in a sandbox reset
 * to its template's fresh state before each case; TAP on stdout, JUnit XML on
 * request. Needs agentvmd. docs/TASKS.md. */
#include "host/cli/cli.h"

#include "common/base64.h"
#include "host/backend.h"
#include "host/client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char cli_test_usage[] =
	"Usage: agentvm test [--template T] --suite DIR [--junit FILE] [--timeout S]\n"
	"Run each test case of DIR (an executable file, or a TAP script named *.t), in name\n"
	"order, in one sandbox of template T (default \"default\") that is reset to the\n"
	"template's fresh state before every case: no file or process of one case is seen\n"
	"by the next. A case passes when it exits 0 and prints no failing TAP line. TAP on\n"
	"stdout (each case's output as comments); --junit FILE also writes JUnit XML.\n"
	"Exit status: 0 when every case passed, 1 otherwise.\n";

#define CLI_TEST_CASES_MAX 10000
#define CLI_TEST_FILE_MAX  (8u << 20)
#define CLI_TEST_DIR	   "/tmp/agentvm-test"

struct cli_test_case {
	char name[256];
	bool passed;
	double secs;
	char *out; /* stdout, then stderr */
	char why[256];
};

static int cli_test_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case files of dir, sorted. */
static int cli_test_list(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		fprintf(stderr, "agentvm test: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len >= 256)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		bool tap = len > 2 && !strcmp(de->d_name + len - 2, ".t");
		if (!tap && !(st.st_mode & 0111))
			continue;
		if (*n == CLI_TEST_CASES_MAX)
			break;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(*names, cap * sizeof(*nn));
			if (!nn)
				break;
			*names = nn;
		}
		(*names)[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), cli_test_cmp);
	return 0;
}

static int cli_test_read(const char *path, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)CLI_TEST_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	*data = malloc((size_t)st.st_size + 1);
	if (!*data) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t got = read(fd, *data, (size_t)st.st_size);
	close(fd);
	if (got != st.st_size) {
		free(*data);
		return -EIO;
	}
	*len = (size_t)got;
	return 0;
}

static char *cli_test_b64(struct json_object *res, const char *key, size_t *n)
{
	const char *s = json_object_get_string(json_object_object_get(res, key));
	unsigned char *raw = NULL;
	*n = 0;
	if (s && base64_decode(s, strlen(s), &raw, n) == 0)
		return (char *)raw;
	return NULL;
}

/* Does TAP text hold a failing test line (not a TODO)? */
static bool cli_test_tap_failed(const char *text)
{
	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len >= 6 && !strncmp(l, "not ok", 6)) {
			const char *hash = memchr(l, '#', len);
			if (!hash || !strstr(hash, "TODO"))
				return true;
		}
		if (len >= 9 && !strncmp(l, "Bail out!", 9))
			return true;
		l = nl ? nl + 1 : NULL;
	}
	return false;
}

static void cli_test_xml(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fputc('?', f); /* not allowed in XML 1.0 */
		else
			fputc(ch, f);
	}
}

static int cli_test_junit(const char *path, const char *suite, struct cli_test_case *cs, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t failures = 0;
	double total = 0;

	if (!f) {
		fprintf(stderr, "agentvm test: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		failures += !cs[i].passed;
		total += cs[i].secs;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	fprintf(f, "  <testsuite name=\"");
	cli_test_xml(f, suite);
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n", n, failures,
		total);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "    <testcase classname=\"");
		cli_test_xml(f, suite);
		fprintf(f, "\" name=\"");
		cli_test_xml(f, cs[i].name);
		fprintf(f, "\" time=\"%.3f\">\n", cs[i].secs);
		if (!cs[i].passed) {
			fprintf(f, "      <failure message=\"");
			cli_test_xml(f, cs[i].why);
			fprintf(f, "\"/>\n");
		}
		fprintf(f, "      <system-out>");
		cli_test_xml(f, cs[i].out);
		fprintf(f, "</system-out>\n    </testcase>\n");
	}
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "agentvm test: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static double cli_test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run one case in sandbox sb (already fresh). */
static void cli_test_run(struct client_conn *c, const char *sb, const char *dir,
			 struct cli_test_case *tc, double timeout)
{
	char path[4096], inner[512];
	char *data = NULL;
	size_t len = 0;
	struct client_error e;
	double t0 = cli_test_now();

	snprintf(path, sizeof(path), "%s/%s", dir, tc->name);
	snprintf(inner, sizeof(inner), CLI_TEST_DIR "/%s", tc->name);
	int r = cli_test_read(path, &data, &len);
	if (r < 0) {
		snprintf(tc->why, sizeof(tc->why), "cannot read %.150s: %.60s", path, strerror(-r));
		return;
	}
	struct json_object *p = json_object_new_object(), *res = NULL;
	char *b64 = NULL;
	size_t b64len = 0;
	bool shebang = len >= 2 && data[0] == '#' && data[1] == '!';
	base64_encode(data, len, &b64, &b64len);
	free(data);
	json_object_object_add(p, "sandbox", json_object_new_string(sb));
	json_object_object_add(p, "path", json_object_new_string(inner));
	json_object_object_add(p, "data", json_object_new_string(b64 ? b64 : ""));
	json_object_object_add(p, "mode", json_object_new_int(0755));
	json_object_object_add(p, "parents", json_object_new_boolean(1));
	free(b64);
	r = client_call(c, "sandbox.write_file", p, &res, NULL, NULL, &e);
	json_object_put(res);
	if (r < 0) {
		snprintf(tc->why, sizeof(tc->why), "copying the case in: %.200s", e.message);
		return;
	}
	p = json_object_new_object();
	struct json_object *argv = json_object_new_array();
	if (!shebang)
		json_object_array_add(argv, json_object_new_string("sh"));
	json_object_array_add(argv, json_object_new_string(inner));
	json_object_object_add(p, "sandbox", json_object_new_string(sb));
	json_object_object_add(p, "argv", argv);
	json_object_object_add(p, "cwd", json_object_new_string(CLI_TEST_DIR));
	json_object_object_add(p, "timeout", json_object_new_double(timeout));
	json_object_object_add(p, "stream", json_object_new_boolean(0));
	res = NULL;
	r = client_call(c, "sandbox.exec", p, &res, NULL, NULL, &e);
	tc->secs = cli_test_now() - t0;
	if (r < 0) {
		snprintf(tc->why, sizeof(tc->why), "%.31s: %.200s", e.name[0] ? e.name : "error",
			 e.message);
		return;
	}
	size_t on = 0, en = 0;
	char *o = cli_test_b64(res, "stdout", &on), *er = cli_test_b64(res, "stderr", &en);
	tc->out = malloc(on + en + 1);
	if (tc->out) {
		if (on)
			memcpy(tc->out, o, on);
		if (en)
			memcpy(tc->out + on, er, en);
		tc->out[on + en] = '\0';
		/* NUL bytes in the output end the text early; that is fine for a report. */
	}
	struct json_object *code = json_object_object_get(res, "exit_code");
	bool timed_out = json_object_get_boolean(json_object_object_get(res, "timed_out"));
	char *stdout_text = o ? strndup(o, on) : NULL;
	if (timed_out) {
		snprintf(tc->why, sizeof(tc->why), "timed out after %.0fs", timeout);
	} else if (!code || !json_object_is_type(code, json_type_int)) {
		snprintf(tc->why, sizeof(tc->why), "killed by signal %s",
			 json_object_get_string(json_object_object_get(res, "signal")));
	} else if (json_object_get_int(code) != 0) {
		snprintf(tc->why, sizeof(tc->why), "exit status %d", json_object_get_int(code));
	} else if (cli_test_tap_failed(stdout_text)) {
		snprintf(tc->why, sizeof(tc->why), "a TAP test failed");
	} else {
		tc->passed = true;
	}
	free(stdout_text);
	free(o);
	free(er);
	json_object_put(res);
}

static volatile sig_atomic_t cli_test_interrupted;

static void cli_test_on_signal(int sig)
{
	(void)sig;
	cli_test_interrupted = 1;
}

int cli_test_main(int argc, char **argv)
{
	const char *tpl = "default", *suite = NULL, *junit = NULL;
	double timeout = 600;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(cli_test_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--template") && i + 1 < argc) {
			tpl = argv[++i];
			if (!backend_name_valid(tpl))
				return cli_usage_error("test", "'%s' is not a template name", tpl);
		} else if (!strcmp(a, "--suite") && i + 1 < argc) {
			suite = argv[++i];
		} else if (!strcmp(a, "--junit") && i + 1 < argc) {
			junit = argv[++i];
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			uint64_t ms;
			if (cli_parse_seconds(argv[++i], &ms) < 0)
				return cli_usage_error("test", "--timeout wants seconds");
			timeout = (double)ms / 1000.0;
		} else {
			return cli_usage_error("test", "unknown argument '%s'", a);
		}
	}
	if (!suite)
		return cli_usage_error("test", "--suite DIR is required");
	char **names = NULL;
	size_t n = 0;
	if (cli_test_list(suite, &names, &n) < 0)
		return CLI_EXIT_USAGE;
	struct cli_test_case *cs = calloc(n ? n : 1, sizeof(*cs));
	struct client_conn *c = NULL;
	int status = CLI_EXIT_INTERNAL;
	char sb[128] = "";
	if (!cs)
		goto out;
	for (size_t i = 0; i < n; i++)
		snprintf(cs[i].name, sizeof(cs[i].name), "%s", names[i]);
	if (cli_client_connect("test", &c) < 0)
		goto out;
	struct sigaction sa = { .sa_handler = cli_test_on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct json_object *p = json_object_new_object(), *res = NULL;
	json_object_object_add(p, "template", json_object_new_string(tpl));
	json_object_object_add(p, "idle_ttl", json_object_new_int(3600));
	if (cli_client_call("test", c, "sandbox.create", p, &res) < 0)
		goto out;
	snprintf(sb, sizeof(sb), "%s", json_object_get_string(json_object_object_get(res, "name")));
	json_object_put(res);
	res = NULL;

	printf("1..%zu\n", n);
	fflush(stdout);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct client_error e;
		if (cli_test_interrupted) {
			snprintf(cs[i].why, sizeof(cs[i].why), "interrupted");
		} else if (i > 0 &&
			   (p = json_object_new_object(),
			    json_object_object_add(p, "sandbox", json_object_new_string(sb)),
			    res = NULL,
			    client_call(c, "sandbox.reset", p, &res, NULL, NULL, &e) < 0)) {
			snprintf(cs[i].why, sizeof(cs[i].why), "resetting the sandbox: %.200s",
				 e.message);
		} else {
			json_object_put(res);
			res = NULL;
			cli_test_run(c, sb, suite, &cs[i], timeout);
		}
		failed += !cs[i].passed;
		printf("%s %zu - %s", cs[i].passed ? "ok" : "not ok", i + 1, cs[i].name);
		if (!cs[i].passed)
			printf(" # %s", cs[i].why);
		printf("\n");
		if (cs[i].out && cs[i].out[0]) {
			for (char *l = cs[i].out; l && *l;) {
				char *nl = strchr(l, '\n');
				printf("#   %.*s\n", nl ? (int)(nl - l) : (int)strlen(l), l);
				l = nl ? nl + 1 : NULL;
			}
		}
		fflush(stdout);
	}
	status = failed ? 1 : 0;
	if (junit && cli_test_junit(junit, suite, cs, n) < 0)
		status = CLI_EXIT_INTERNAL;
out:
	if (c && sb[0]) {
		p = json_object_new_object();
		res = NULL;
		struct client_error e;
		json_object_object_add(p, "sandbox", json_object_new_string(sb));
		client_call(c, "sandbox.destroy", p, &res, NULL, NULL, &e);
		json_object_put(res);
	}
	client_close(c);
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		if (cs)
			free(cs[i].out);
	}
	free(names);
	free(cs);
	return status;
}
