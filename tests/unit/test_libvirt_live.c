/* The libvirt backend against a real libvirtd and QEMU. tests/e2e/
 * libvirt_domain.t starts libvirtd, sets AGENTVM_LIBVIRT_LIVE=<work dir>,
 * AGENTVM_LIBVIRT_KERNEL and AGENTVM_LIBVIRT_DISK, and runs this; alone (as in
 * make test-unit) it skips. Domains are named agentvm-lvtest-*. */
#include "host/backend_libvirt.h"
#include "host/libvirt_sched.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1ull << 20)

static struct timespec t_start;

static double elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9;
}

static const char *work, *kernel, *disk, *sock;

static int has(const char *xml, const char *s)
{
	return xml && strstr(xml, s) != NULL;
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static struct libvirt_fleet *fleet_of(const char *json)
{
	struct libvirt_sched *s = NULL;
	struct libvirt_fleet *f = NULL;
	char err[256] = "";

	if (libvirt_sched_parse(json, strlen(json), &s, err, sizeof(err)) < 0) {
		printf("# host list: %s\n", err);
		return NULL;
	}
	if (libvirt_fleet_open(s, &f) < 0)
		return NULL;
	return f;
}

static void cfg_init(struct libvirt_domain_config *c, const char *name, uint64_t mem,
		     uint32_t millis)
{
	static char cmdline[1024];

	libvirt_cmdline("noxsave", cmdline, sizeof(cmdline));
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->kernel = kernel;
	c->disk = disk && *disk ? disk : NULL;
	c->cmdline = cmdline;
	c->mem_bytes = mem;
	c->cpu_millis = millis;
	c->run_as = getenv("AGENTVM_LIBVIRT_RUN_AS");
}

/* define/start, info, quotas in the live XML, channel, save, restore, destroy. */
static void test_lifecycle(void)
{
	char json[1024], path[512], *xml = NULL;
	struct libvirt_domain_config c;
	struct libvirt_domain_info info;
	struct libvirt_domain *d = NULL;
	struct libvirt_fleet *f;
	struct timespec t0, t1;
	int fd = -1;

	snprintf(json, sizeof(json),
		 "[{\"uri\":\"qemu+unix:///system?socket=%s\","
		 "\"capacity\":{\"vcpus\":3,\"mem\":\"2G\"}}]",
		 sock);
	f = fleet_of(json);
	ok(f != NULL, "fleet of one host opened");
	if (!f)
		return;
	cfg_init(&c, "lvtest-a/b", 256 * MiB, 1500);
	is(libvirt_domain_start(f, &c, &d), -EIO,
	   "a name libvirt refuses is an error, not a crash");
	cfg_init(&c, "lvtest-life", 256 * MiB, 1500);
	is(libvirt_domain_start(f, &c, &d), 0, "transient domain started from our XML");
	if (!d)
		goto out;
	ok(strcmp(libvirt_domain_name(d), "agentvm-lvtest-life") == 0, "named agentvm-<name>");
	is(libvirt_domain_info(d, &info), 0, "virDomainGetInfo");
	is(info.state, 1, "running");
	is(info.vcpus, 2, "2 vCPUs for 1.5 CPUs");
	ok(info.mem_bytes == 256 * MiB, "256 MiB (got %llu)", (unsigned long long)info.mem_bytes);

	is(libvirt_domain_xml(d, &xml), 0, "live XML");
	ok(has(xml, "<period>100000</period>") && has(xml, "<quota>75000</quota>"),
	   "cputune period/quota live");
	ok(has(xml, "<hard_limit unit='KiB'>524288</hard_limit>"), "memtune hard_limit live");
	ok(!has(xml, "<interface"), "no network interface");
	ok(has(xml, "org.agentvm.0"), "agent channel present");
	free(xml);
	xml = NULL;

	printf("# channel: %s\n", libvirt_domain_channel(d));
	ok(libvirt_domain_channel(d)[0] == '/', "channel socket found in the live XML");
	is(libvirt_domain_connect(d, &fd), 0, "connected to the agent channel's host socket");
	if (fd >= 0)
		close(fd);
	ok(!readable(libvirt_domain_exit_fd(d), 0), "exit fd quiet while running");

	snprintf(path, sizeof(path), "%s/lvtest-life.save", work);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is(libvirt_domain_save(d, path), 0, "saved (the snapshot)");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# save: %.0f ms\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	ok(access(path, F_OK) == 0, "save file written");
	ok(readable(libvirt_domain_exit_fd(d), 5000), "exit fd fired when the domain stopped");
	ok(libvirt_domain_info(d, &info) == -ESRCH, "no domain after save");
	for (int i = 0; i < 1; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		is(libvirt_domain_restore(d, path), 0, "restored (%s)", i ? "the reset" : "first");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("# restore: %.0f ms\n",
		       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		is(libvirt_domain_info(d, &info), 0, "info after restore");
		ok(info.state == 1 || info.state == 3, "running again (state %d)", info.state);
		ok(!readable(libvirt_domain_exit_fd(d), 0), "exit fd re-armed");
	}
	is(libvirt_domain_stop(d), 0, "destroyed");
	ok(readable(libvirt_domain_exit_fd(d), 5000), "exit fd fired on destroy");
	unlink(path);
out:
	libvirt_domain_free(d);
	libvirt_fleet_free(f);
}

/* A stand-in for a remote host: relays Unix connections to libvirtd until
 * killed, which cuts every connection through it at once. */
static pid_t proxy_start(const char *at)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, to = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at);
	snprintf(to.sun_path, sizeof(to.sun_path), "%s", sock);
	unlink(at);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 16) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(l);
		return pid;
	}
	struct pollfd p[65] = { { .fd = l, .events = POLLIN } };
	int peer[65], n = 1;
	char buf[65536];

	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			_exit(1);
		if ((p[0].revents & POLLIN) && n + 2 <= 65) {
			int c = accept(l, NULL, NULL), u = socket(AF_UNIX, SOCK_STREAM, 0);

			if (c >= 0 && u >= 0 &&
			    connect(u, (struct sockaddr *)&to, sizeof(to)) == 0) {
				p[n] = (struct pollfd){ .fd = c, .events = POLLIN };
				p[n + 1] = (struct pollfd){ .fd = u, .events = POLLIN };
				peer[n] = u;
				peer[n + 1] = c;
				n += 2;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t k = read(p[i].fd, buf, sizeof(buf));
			if (k <= 0 || write(peer[i], buf, (size_t)k) != k)
				_exit(0);
		}
	}
}

/* Two "hosts" (two connections to one libvirtd, one through a proxy) with
 * different capacities; the proxy killed mid-run. */
static void test_fleet(void)
{
	char json[1024], at[300];
	struct libvirt_domain *d[4] = { 0 };
	struct libvirt_domain_config c;
	struct libvirt_sched_host h;
	struct libvirt_domain_info info;
	struct libvirt_fleet *f;
	size_t hosts[4];
	pid_t proxy;
	int status, n = 0;

	snprintf(at, sizeof(at), "%s/fakehost.sock", work);
	proxy = proxy_start(at);
	ok(proxy > 0, "fake remote host started");
	if (proxy <= 0)
		return;
	snprintf(json, sizeof(json),
		 "[{\"uri\":\"qemu+unix:///"
		 "system?socket=%s\",\"capacity\":{\"vcpus\":2,\"mem\":\"1G\"}},"
		 " {\"uri\":\"qemu+unix:///"
		 "system?socket=%s\",\"capacity\":{\"vcpus\":4,\"mem\":\"2G\"}}]",
		 sock, at);
	f = fleet_of(json);
	ok(f != NULL, "fleet of two hosts opened");
	if (!f)
		goto out_proxy;
	static const char *const names[] = { "lvtest-p0", "lvtest-p1", "lvtest-p2", "lvtest-p3" };
	for (n = 0; n < 2; n++) {
		cfg_init(&c, names[n], 256 * MiB, 1000);
		if (libvirt_domain_start(f, &c, &d[n]) < 0)
			break;
		hosts[n] = libvirt_domain_host(d[n]);
	}
	is(n, 2, "two domains placed and started");
	printf("# started at %.1f s\n", elapsed());
	if (n < 2)
		goto out;
	/* Room left after each: big 2/3 vs small 1/2, then big 1/3 vs small 1/2. */
	ok(hosts[0] == 1 && hosts[1] == 0, "placed by free capacity: big, then small (got %zu %zu)",
	   hosts[0], hosts[1]);
	libvirt_sched_host(libvirt_fleet_sched(f), 1, &h);
	ok(h.used_vcpus == 1 && h.used_mem == 256 * MiB && h.sandboxes == 1, "big's usage");
	cfg_init(&c, names[3], 1900 * MiB, 1000);
	is(libvirt_domain_start(f, &c, &d[3]), -ENOSPC, "too big for any host: -ENOSPC");

	kill(proxy, SIGKILL);
	waitpid(proxy, &status, 0);
	proxy = -1;
	printf("# host killed at %.1f s\n", elapsed());
	ok(readable(libvirt_domain_exit_fd(d[0]), 20000), "lost host: its domain's exit fd fired");
	printf("# noticed at %.1f s\n", elapsed());
	libvirt_sched_host(libvirt_fleet_sched(f), 1, &h);
	ok(h.down, "lost host marked down");
	is(libvirt_domain_info(d[0], &info), -EHOSTDOWN, "info on the lost host: -EHOSTDOWN");
	libvirt_sched_host(libvirt_fleet_sched(f), 0, &h);
	ok(!h.down, "the other host is still up");
	ok(!readable(libvirt_domain_exit_fd(d[1]), 0), "its domain's exit fd quiet");
	is(libvirt_domain_info(d[1], &info), 0, "its domain answers");
	/* A guest kernel that hits an instruction this host's KVM cannot
	 * emulate leaves QEMU paused (KVM-HERE.md): the domain still exists. */
	ok(info.state == 1 || info.state == 3, "and is still there (state %d)", info.state);
	{
		size_t where = 99;

		is(libvirt_sched_place(libvirt_fleet_sched(f), 1, 256 * MiB, &where), 0,
		   "new sandboxes still placed");
		is(where, 0, "on the host that is up");
		libvirt_sched_release(libvirt_fleet_sched(f), where, 1, 256 * MiB);
	}
out:
	for (int i = 0; i < 4; i++)
		libvirt_domain_free(d[i]);
	libvirt_fleet_free(f);
out_proxy:
	if (proxy > 0) {
		kill(proxy, SIGKILL);
		waitpid(proxy, &status, 0);
	}
	unlink(at);
}

int main(void)
{
	work = getenv("AGENTVM_LIBVIRT_LIVE");
	kernel = getenv("AGENTVM_LIBVIRT_KERNEL");
	disk = getenv("AGENTVM_LIBVIRT_DISK");
	sock = getenv("AGENTVM_LIBVIRT_SOCK");
	if (!work || !*work)
		skip_all("needs a running libvirtd: run by tests/e2e/libvirt_domain.t");
	if (!libvirt_available())
		skip_all("built without libvirt-dev");
	if (!kernel || !*kernel || !sock || !*sock)
		skip_all("AGENTVM_LIBVIRT_KERNEL and AGENTVM_LIBVIRT_SOCK must be set");
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	test_lifecycle();
	printf("# lifecycle done at %.1f s\n", elapsed());
	test_fleet();
	printf("# fleet done at %.1f s\n", elapsed());
	return done_testing();
}
