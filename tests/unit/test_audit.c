/* The audit log's chain: appends, reopen, and every kind of tampering. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "host/audit.h"
#include "tap.h"

static char dir[] = "/tmp/test_audit.XXXXXX";
static char path[256];

static char **read_lines(int *n)
{
	FILE *f = fopen(path, "r");
	char **lines = NULL, *line = NULL;
	size_t cap = 0;
	*n = 0;
	while (f && getline(&line, &cap, f) > 0) {
		lines = realloc(lines, sizeof(*lines) * (size_t)(*n + 1));
		lines[(*n)++] = strdup(line);
	}
	free(line);
	if (f)
		fclose(f);
	return lines;
}

static void write_lines(char **lines, int n)
{
	FILE *f = fopen(path, "w");
	for (int i = 0; i < n; i++)
		fputs(lines[i], f);
	fclose(f);
}

static void free_lines(char **lines, int n)
{
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void fresh_log(int count)
{
	struct audit_log *log;
	char hp[300];

	unlink(path);
	snprintf(hp, sizeof(hp), "%s.head", path);
	unlink(hp);
	if (audit_open(path, &log) < 0)
		return;
	for (int i = 0; i < count; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "type", json_object_new_string("exec"));
		json_object_object_add(e, "i", json_object_new_int(i));
		audit_append(log, e);
		json_object_put(e);
	}
	audit_close(log);
}

static long verify_bad(char *err, size_t errlen)
{
	long bad = -1, lines = 0;
	int r = audit_verify(path, &bad, &lines, err, errlen);
	if (r == 0)
		return 0;
	return r == -EBADMSG ? bad : -1;
}

struct thr {
	struct audit_log *log;
	int id;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	for (int i = 0; i < 200; i++)
		audit_event(t->log, "exec", "sb", 1000, t->id, NULL);
	return NULL;
}

int main(void)
{
	struct audit_log *log;
	char err[512];
	long bad, lines;

	if (!mkdtemp(dir))
		skip_all("mkdtemp failed");
	snprintf(path, sizeof(path), "%s/audit.log", dir);

	is(audit_open(path, &log), 0, "open a new log");
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string("sandbox.create"));
	json_object_object_add(e, "seq", json_object_new_int(77));
	json_object_object_add(e, "sandbox", json_object_new_string("a\nb\"c"));
	is(audit_append(log, e), 0, "append one event");
	ok(json_object_object_length(e) == 3, "the caller's event is left untouched");
	json_object_put(e);
	struct json_object *arr = json_object_new_array();
	is(audit_append(log, arr), -EINVAL, "a non-object is refused");
	json_object_put(arr);
	is(audit_event(log, "exec", "sb1", 1000, 42, NULL), 0, "audit_event");
	is((long)audit_last_seq(log), 2, "seq counts lines");
	audit_close(log);

	int n;
	char **l = read_lines(&n);
	is(n, 2, "two lines written");
	ok(n >= 1 && strstr(l[0], "\"seq\":1,\"prev\":\"0000000000000000") != NULL,
	   "first line: seq 1 and a zero prev");
	ok(n >= 1 && strstr(l[0], "\"seq\":77") == NULL,
	   "a reserved member in the event is dropped");
	ok(n >= 1 && !strncmp(l[0], "{\"ts\":\"20", 9) && l[0][30] == 'Z',
	   "ts is RFC 3339 with ms");
	ok(n >= 2 && strstr(l[1], "\"caller\":{\"uid\":1000,\"pid\":42}") != NULL,
	   "caller recorded");
	free_lines(l, n);

	is(audit_verify(path, &bad, &lines, err, sizeof(err)), 0, "fresh log verifies");
	is(lines, 2, "two lines verified");

	is(audit_open(path, &log), 0, "reopen");
	is((long)audit_last_seq(log), 2, "reopen continues at seq 2");
	audit_event(log, "reset", "sb1", -1, 0, NULL);
	audit_close(log);
	is(audit_verify(path, &bad, &lines, err, sizeof(err)), 0, "chain continues across reopen");
	is(lines, 3, "three lines");

	/* Threads. */
	fresh_log(0);
	audit_open(path, &log);
	audit_set_sync(log, AUDIT_SYNC_BATCH);
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ log, i };
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	audit_close(log);
	is(audit_verify(path, &bad, &lines, err, sizeof(err)), 0,
	   "800 lines from 4 threads verify");
	is(lines, 800, "800 lines");

	/* Two writers (as two processes would be) on one log, interleaved. */
	fresh_log(0);
	struct audit_log *l1, *l2;
	is(audit_open(path, &l1), 0, "first writer");
	is(audit_open(path, &l2), 0, "second writer on the same log");
	for (int i = 0; i < 10; i++) {
		audit_event(l1, "exec", "one", -1, 0, NULL);
		audit_event(l2, "exec", "two", -1, 0, NULL);
		audit_event(l2, "exec", "two", -1, 0, NULL);
	}
	is((long)audit_last_seq(l1), 28, "each writer follows the other's lines");
	is((long)audit_last_seq(l2), 30, "both ways");
	audit_close(l1);
	audit_close(l2);
	is(audit_verify(path, &bad, &lines, err, sizeof(err)), 0,
	   "interleaved writers keep one chain: %s", err);
	is(lines, 30, "30 lines");

	/* Edit a line in the middle. */
	fresh_log(10);
	l = read_lines(&n);
	char *p = strstr(l[4], "\"i\":4");
	if (p)
		p[4] = '9';
	write_lines(l, n);
	free_lines(l, n);
	is(verify_bad(err, sizeof(err)), 5, "an edited line is named: %s", err);

	/* Edit the last line. */
	fresh_log(10);
	l = read_lines(&n);
	p = strstr(l[9], "\"i\":9");
	if (p)
		p[4] = '8';
	write_lines(l, n);
	free_lines(l, n);
	is(verify_bad(err, sizeof(err)), 10, "an edited last line is named: %s", err);

	/* Delete a line. */
	fresh_log(10);
	l = read_lines(&n);
	free(l[3]);
	memmove(&l[3], &l[4], sizeof(*l) * 6);
	write_lines(l, 9);
	free_lines(l, 9);
	is(verify_bad(err, sizeof(err)), 4, "a removed line is found where it was: %s", err);

	/* Delete the first line. */
	fresh_log(5);
	l = read_lines(&n);
	write_lines(l + 1, n - 1);
	free_lines(l, n);
	is(verify_bad(err, sizeof(err)), 1, "a removed first line: %s", err);

	/* Delete the last line. */
	fresh_log(10);
	l = read_lines(&n);
	write_lines(l, n - 1);
	free_lines(l, n);
	is(verify_bad(err, sizeof(err)), 10, "a removed last line is noticed: %s", err);

	/* Swap two lines. */
	fresh_log(10);
	l = read_lines(&n);
	char *tmp = l[6];
	l[6] = l[7];
	l[7] = tmp;
	write_lines(l, n);
	free_lines(l, n);
	is(verify_bad(err, sizeof(err)), 7, "swapped lines: the first is named: %s", err);

	/* Recompute the hash of an edited line: the next line's prev catches it. */
	fresh_log(3);
	l = read_lines(&n);
	{
		char *line = l[0];
		size_t len = strlen(line) - 1;
		line[len] = '\0';
		char *q = strstr(line, "\"i\":0");
		q[4] = '7';
		char *h = strstr(line, ",\"hash\":\"");
		*h = '\0';
		char body[4096], hex[65];
		snprintf(body, sizeof(body), "%s}", line);
		audit_sha256_hex(body, strlen(body), hex);
		char *nl = malloc(strlen(body) + 100);
		sprintf(nl, "%s,\"hash\":\"%s\"}\n", line, hex);
		free(l[0]);
		l[0] = nl;
	}
	write_lines(l, n);
	free_lines(l, n);
	is(verify_bad(err, sizeof(err)), 2, "a re-hashed edit is caught by the next line: %s", err);

	/* A torn tail is cut on open and recorded. */
	fresh_log(3);
	FILE *f = fopen(path, "a");
	fputs("{\"ts\":\"2026", f);
	fclose(f);
	is(verify_bad(err, sizeof(err)), 4, "a torn last line is bad: %s", err);
	is(audit_open(path, &log), 0, "reopen after a torn write");
	audit_close(log);
	is(audit_verify(path, &bad, &lines, err, sizeof(err)), 0, "the cut log verifies: %s", err);
	l = read_lines(&n);
	ok(n == 4 && strstr(l[3], "audit.torn"), "the cut is recorded");
	free_lines(l, n);

	/* Removing the tail then reopening leaves a tamper record. */
	fresh_log(5);
	l = read_lines(&n);
	write_lines(l, 3);
	free_lines(l, n);
	audit_open(path, &log);
	audit_close(log);
	l = read_lines(&n);
	ok(n == 4 && strstr(l[3], "audit.tamper"), "a cut log is recorded on open");
	free_lines(l, n);

	/* Tail. */
	fresh_log(20);
	struct json_object *tail = NULL;
	is(audit_tail(path, 5, &tail), 0, "tail 5");
	is(tail ? (long)json_object_array_length(tail) : -1, 5, "five lines");
	struct json_object *first = tail ? json_object_array_get_idx(tail, 0) : NULL, *seq;
	ok(first && json_object_object_get_ex(first, "seq", &seq) && json_object_get_int(seq) == 16,
	   "oldest first");
	json_object_put(tail);
	is(audit_tail(path, 100, &tail), 0, "tail more than there is");
	is(tail ? (long)json_object_array_length(tail) : -1, 20, "all 20 lines");
	json_object_put(tail);

	/* Huge event. */
	fresh_log(0);
	audit_open(path, &log);
	char *big = malloc(AUDIT_LINE_MAX + 10);
	memset(big, 'x', AUDIT_LINE_MAX + 9);
	big[AUDIT_LINE_MAX + 9] = '\0';
	e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string("exec"));
	json_object_object_add(e, "argv", json_object_new_string(big));
	is(audit_append(log, e), 0, "a huge event is appended");
	json_object_put(e);
	free(big);
	audit_close(log);
	l = read_lines(&n);
	ok(n == 1 && strlen(l[0]) < 1000 && strstr(l[0], "\"truncated\":true"), "truncated");
	free_lines(l, n);
	is(audit_verify(path, &bad, &lines, err, sizeof(err)), 0, "and verifies");

	is(audit_verify("/nonexistent/x", &bad, &lines, err, sizeof(err)), -ENOENT, "missing file");

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return done_testing();
}
