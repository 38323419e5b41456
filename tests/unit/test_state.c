/* The controller's SQLite state: templates, sandboxes, counters, reopen. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/state.h"
#include "tap.h"

int main(void)
{
	char dir[] = "/tmp/test_state.XXXXXX";
	struct state *st;
	struct state_template t = { 0 }, t2;
	struct state_sandbox s = { 0 }, s2;
	struct state_template *tl;
	struct state_sandbox *sl;
	size_t n;

	if (!mkdtemp(dir))
		skip_all("mkdtemp failed");
	is(state_open(dir, &st), 0, "open a new database");

	snprintf(t.name, sizeof(t.name), "default");
	snprintf(t.image, sizeof(t.image), "minimal");
	snprintf(t.isolation, sizeof(t.isolation), "container");
	t.limits.mem_bytes = 256 << 20;
	t.limits.cpu_millis = 500;
	t.pool_size = 2;
	t.created_ms = 1234;
	is(state_template_put(st, &t), 0, "put a template");
	is(state_template_get(st, "default", &t2), 0, "get it back");
	ok(!strcmp(t2.image, "minimal") && t2.limits.mem_bytes == (256u << 20) &&
		   t2.limits.cpu_millis == 500 && t2.pool_size == 2 && t2.created_ms == 1234,
	   "fields survive");
	is(state_template_get(st, "nope", &t2), -ENOENT, "a missing template is ENOENT");
	snprintf(t.name, sizeof(t.name), "a'; DROP TABLE templates; --");
	is(state_template_put(st, &t), 0, "names are bound, not spliced");
	is(state_template_list(st, &tl, &n), 0, "list templates");
	is((long)n, 2, "two templates");
	free(tl);
	is(state_template_delete(st, t.name), 0, "delete one");
	is(state_template_delete(st, t.name), -ENOENT, "twice is ENOENT");

	snprintf(s.name, sizeof(s.name), "sb-1");
	snprintf(s.backend_name, sizeof(s.backend_name), "p-abc");
	snprintf(s.template_name, sizeof(s.template_name), "default");
	snprintf(s.backend, sizeof(s.backend), "container");
	snprintf(s.state, sizeof(s.state), "running");
	s.pid = 42;
	s.owner_uid = 1000;
	s.ttl_ms = 60000;
	s.metadata = "{\"task\":\"x\"}";
	is(state_sandbox_put(st, &s), 0, "put a sandbox");
	is(state_sandbox_get(st, "sb-1", &s2), 0, "get it");
	ok(s2.pid == 42 && s2.owner_uid == 1000 && s2.ttl_ms == 60000 && s2.metadata &&
		   !strcmp(s2.metadata, "{\"task\":\"x\"}") && !strcmp(s2.state, "running"),
	   "fields survive");
	free(s2.metadata);
	is(state_sandbox_set_state(st, "sb-1", "failed", "PID 1 died"), 0, "set state");
	is(state_sandbox_set_state(st, "nope", "failed", NULL), -ENOENT, "set state of nothing");
	state_sandbox_get(st, "sb-1", &s2);
	ok(!strcmp(s2.state, "failed") && !strcmp(s2.error, "PID 1 died"), "state and error");
	free(s2.metadata);

	/* A pool hand-off. */
	struct state_sandbox p = s;
	snprintf(p.name, sizeof(p.name), "p-def");
	snprintf(p.backend_name, sizeof(p.backend_name), "p-def");
	snprintf(p.state, sizeof(p.state), "pooled");
	p.metadata = NULL;
	is(state_sandbox_put(st, &p), 0, "a pooled sandbox");
	struct state_sandbox h = p;
	snprintf(h.name, sizeof(h.name), "mine");
	snprintf(h.state, sizeof(h.state), "running");
	is(state_sandbox_replace(st, "p-def", &h), 0, "hand it off");
	is(state_sandbox_get(st, "p-def", &s2), -ENOENT, "the pooled row is gone");
	is(state_sandbox_get(st, "mine", &s2), 0, "the new one is there");
	free(s2.metadata);
	struct state_sandbox dup = h;
	snprintf(dup.name, sizeof(dup.name), "other");
	ok(state_sandbox_put(st, &dup) < 0, "backend names are unique");

	is(state_sandbox_list(st, &sl, &n), 0, "list sandboxes");
	is((long)n, 2, "two sandboxes");
	state_sandbox_list_free(sl, n);

	is(state_counter_add(st, "resets_total", 1), 1, "counter starts at delta");
	is(state_counter_add(st, "resets_total", 2), 3, "and adds");
	state_close(st);

	is(state_open(dir, &st), 0, "reopen");
	is(state_sandbox_delete(st, "mine"), 0, "delete a sandbox");
	is(state_sandbox_list(st, &sl, &n), 0, "list after reopen");
	is((long)n, 1, "one left");
	state_sandbox_list_free(sl, n);
	is(state_counter_add(st, "resets_total", 0), 3, "counter survives");
	state_close(st);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return done_testing();
}
