/* The in-guest agent over libvirt, for real: a sandbox of the backend
 * "libvirt" as a QEMU TCG domain (virt_type qemu) booting the pci kernel
 * variant with the minimal image, reached over its virtio-serial channel:
 * hello, exec, a file written and read back, a snapshot (save + restore) and
 * a reset to it, destroy. tests/e2e/libvirt_tcg.t starts libvirtd and sets
 * AGENTVM_LIBVIRT_TCG=<work dir>, AGENTVM_LIBVIRT_DISK and the backend's
 * AGENTVM_LIBVIRT_* variables; alone (as in make test-unit) it skips. */
#include "common/base64.h"
#include "host/agent_client.h"
#include "host/backend.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MiB	      (1ull << 20)
#define BOOT_WAIT_S   240
#define REPLY_WAIT_MS 60000

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Connect and say hello until the agent answers or deadline (seconds) passes.
 * The channel's socket exists from QEMU's start; a hello sent before the
 * agent opens the port waits in it, so one long try would do, but a retry
 * also covers a connection that QEMU drops while it restarts. */
static struct agent_client *hello_until(struct backend_sandbox *sb, double deadline, char *err,
					size_t len)
{
	while (now() < deadline) {
		struct agent_client *c = NULL;
		int fd = -1, r, left = (int)((deadline - now()) * 1000);

		r = backend_sandbox_connect(sb, &fd);
		if (r < 0) {
			snprintf(err, len, "connect: %s", strerror(-r));
			usleep(200000);
			continue;
		}
		if (agent_client_new(fd, &c) < 0)
			return NULL;
		r = agent_client_hello(c, left > 0 ? left : 1, NULL, err, len);
		if (r == 0)
			return c;
		if (!err[0])
			snprintf(err, len, "hello: %s", strerror(-r));
		agent_client_free(c);
		usleep(200000);
	}
	return NULL;
}

/* Run argv; its stdout (up to len-1 bytes) in out; the exit code, or -1. */
static int run(struct agent_client *c, const char *const *argv, char *out, size_t len)
{
	struct json_object *req = json_object_new_object(), *a = json_object_new_array(), *m, *v;
	size_t got = 0;
	int64_t id, mid;
	int code = -1, r;

	out[0] = '\0';
	for (; *argv; argv++)
		json_object_array_add(a, json_object_new_string(*argv));
	json_object_object_add(req, "op", json_object_new_string("exec"));
	json_object_object_add(req, "argv", a);
	r = agent_client_send(c, req, &id, REPLY_WAIT_MS);
	json_object_put(req);
	if (r < 0)
		return -1;
	while (agent_client_recv(c, REPLY_WAIT_MS, &m) == 1) {
		const char *ev = NULL;
		int end = 0;

		if (agent_client_msg_id(m, &mid) < 0 || mid != id) {
			json_object_put(m);
			continue;
		}
		if (json_object_object_get_ex(m, "event", &v))
			ev = json_object_get_string(v);
		if (ev && strcmp(ev, "stdout") == 0 && json_object_object_get_ex(m, "data", &v)) {
			const char *b = json_object_get_string(v);
			unsigned char *d = NULL;
			size_t n = 0;

			if (base64_decode(b, strlen(b), &d, &n) == 0) {
				if (n > len - 1 - got)
					n = len - 1 - got;
				memcpy(out + got, d, n);
				got += n;
				out[got] = '\0';
			}
			free(d);
		} else if (ev && strcmp(ev, "exit") == 0) {
			if (json_object_object_get_ex(m, "exit_code", &v) &&
			    json_object_is_type(v, json_type_int))
				code = json_object_get_int(v);
			end = 1;
		} else if (json_object_object_get_ex(m, "ok", &v) && !json_object_get_boolean(v)) {
			end = 1;
		}
		json_object_put(m);
		if (end)
			break;
	}
	return code;
}

static int call(struct agent_client *c, struct json_object *req, struct json_object **res)
{
	char err[256] = "";
	int r = agent_client_call(c, req, REPLY_WAIT_MS, res, err, sizeof(err));

	json_object_put(req);
	if (r < 0)
		printf("# %s\n", err[0] ? err : strerror(-r));
	return r;
}

static void test_files(struct agent_client *c)
{
	static const char text[] = "written over virtio-serial\n";
	struct json_object *req, *res = NULL, *v;
	char *b64 = NULL;
	size_t n;

	if (base64_encode(text, sizeof(text) - 1, &b64, &n) < 0)
		return;
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("fs.write"));
	json_object_object_add(req, "path", json_object_new_string("/tmp/tcg.txt"));
	json_object_object_add(req, "data", json_object_new_string(b64));
	free(b64);
	is(call(c, req, &res), 0, "fs.write /tmp/tcg.txt in the guest");
	json_object_put(res);
	res = NULL;

	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("fs.read"));
	json_object_object_add(req, "path", json_object_new_string("/tmp/tcg.txt"));
	is(call(c, req, &res), 0, "fs.read it back");
	if (res && json_object_object_get_ex(res, "data", &v)) {
		const char *s = json_object_get_string(v);
		unsigned char *d = NULL;

		n = 0;
		ok(base64_decode(s, strlen(s), &d, &n) == 0 && n == sizeof(text) - 1 &&
			   memcmp(d, text, n) == 0,
		   "the same bytes came back");
		free(d);
	} else {
		ok(0, "the same bytes came back");
	}
	json_object_put(res);
}

int main(void)
{
	const char *work = getenv("AGENTVM_LIBVIRT_TCG"), *disk = getenv("AGENTVM_LIBVIRT_DISK");
	const char *const echo[] = { "/bin/echo", "hello", NULL };
	const char *const uname[] = { "/bin/uname", "-r", NULL };
	const struct backend_ops *ops = NULL;
	struct backend_config cfg = { 0 };
	struct backend_sandbox *sb = NULL;
	struct agent_client *c = NULL;
	char name[64], out[256], err[256] = "";
	double t0, t;

	if (!work || !*work)
		skip_all("needs a running libvirtd: run by tests/e2e/libvirt_tcg.t");
	if (!disk || !*disk)
		skip_all("AGENTVM_LIBVIRT_DISK must name the image (rootfs.erofs)");
	signal(SIGPIPE, SIG_IGN);
	if (backend_lookup("libvirt", &ops) < 0 || ops->probe(err, sizeof(err)) < 0) {
		snprintf(out, sizeof(out), "the libvirt backend cannot run here: %s", err);
		skip_all(out);
	}
	snprintf(name, sizeof(name), "lvtcg-%d", (int)getpid());
	cfg.name = name;
	cfg.rootfs = disk;
	cfg.limits.mem_bytes = 256 * MiB;
	cfg.limits.cpu_millis = 1000;
	cfg.log_fd = -1;
	cfg.snapshot_dir = work; /* the backend then takes a snapshot on golden */

	t0 = now();
	is(backend_sandbox_new(ops, &cfg, &sb), 0, "sandbox created by the libvirt backend (TCG)");
	if (!sb)
		return done_testing();
	t = now();
	printf("# domain started in %.1f s\n", t - t0);
	c = hello_until(sb, t + BOOT_WAIT_S, err, sizeof(err));
	ok(c != NULL, "the agent answered hello over virtio-serial%s%s", c ? "" : ": ",
	   c ? "" : err);
	t = now() - t;
	printf("# the domain's start to the agent's hello: %.1f s (%.1f s with the start)\n", t,
	       now() - t0);
	ok(c == NULL || t < 60, "booted to hello in under 60 s (%.1f s)", t);
	if (!c) {
		backend_sandbox_log_tail(sb, 30);
		goto out;
	}
	t = now();
	is(run(c, echo, out, sizeof(out)), 0, "exec echo hello: exit 0");
	printf("# exec round trip: %.0f ms\n", (now() - t) * 1e3);
	ok(strcmp(out, "hello\n") == 0, "its stdout is \"hello\\n\" (got %zu bytes)", strlen(out));
	t = now();
	is(run(c, echo, out, sizeof(out)), 0, "exec again");
	printf("# exec round trip, warm: %.0f ms\n", (now() - t) * 1e3);
	if (run(c, uname, out, sizeof(out)) == 0)
		printf("# guest kernel %s", out);
	test_files(c);

	/* The snapshot: the domain saved to a file and started again from it. */
	agent_client_free(c);
	c = NULL;
	t = now();
	is(backend_sandbox_golden(sb), 0, "snapshot taken (save, then restore)");
	printf("# save + restore: %.1f s\n", now() - t);
	t = now();
	c = hello_until(sb, t + 60, err, sizeof(err));
	ok(c != NULL, "hello again after the restore%s%s", c ? "" : ": ", c ? "" : err);
	printf("# restore to hello: %.1f s\n", now() - t);
	if (!c)
		goto out;
	is(run(c, (const char *const[]){ "/bin/rm", "/tmp/tcg.txt", NULL }, out, sizeof(out)), 0,
	   "a file removed after the snapshot");
	agent_client_free(c);
	c = NULL;
	t = now();
	is(backend_sandbox_reset(sb), 0, "reset to the snapshot");
	c = hello_until(sb, now() + 60, err, sizeof(err));
	ok(c != NULL, "hello after the reset%s%s", c ? "" : ": ", c ? "" : err);
	printf("# reset to hello: %.1f s\n", now() - t);
	if (c)
		is(run(c, (const char *const[]){ "/bin/cat", "/tmp/tcg.txt", NULL }, out,
		       sizeof(out)),
		   0, "the file is back: the guest is at its snapshot");
out:
	agent_client_free(c);
	backend_sandbox_free(sb);
	ok(1, "sandbox destroyed");
	return done_testing();
}
