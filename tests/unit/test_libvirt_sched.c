/* The libvirt fleet's host list parser and scheduler. */
#include "host/libvirt_sched.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define G (1ull << 30)

static int parse(const char *json, struct libvirt_sched **s, char *err, size_t len)
{
	return libvirt_sched_parse(json, strlen(json), s, err, len);
}

static void test_sizes(void)
{
	uint64_t v = 0;

	is(libvirt_sched_parse_size("64G", &v), 0, "64G");
	ok(v == 64 * G, "64G bytes");
	is(libvirt_sched_parse_size("512MiB", &v), 0, "512MiB");
	ok(v == 512ull << 20, "512MiB bytes");
	is(libvirt_sched_parse_size("1024", &v), 0, "plain bytes");
	ok(v == 1024, "1024 bytes");
	is(libvirt_sched_parse_size("1X", &v), -EINVAL, "bad suffix");
	is(libvirt_sched_parse_size("G", &v), -EINVAL, "no digits");
	is(libvirt_sched_parse_size("-1G", &v), -EINVAL, "negative");
	is(libvirt_sched_parse_size("99999999999999999999", &v), -EINVAL, "overflow");
	is(libvirt_sched_parse_size("99999999999T", &v), -EINVAL, "suffix overflow");
	is(libvirt_sched_parse_size("1Gx", &v), -EINVAL, "trailing junk");
}

static void test_parse_errors(void)
{
	static const char *const bad[] = {
		"",
		"{}",
		"[]",
		"[1]",
		"[{\"uri\":\"qemu:///system\"}]",
		"[{\"uri\":\"nope\",\"capacity\":{\"vcpus\":1,\"mem\":1}}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":0,\"mem\":1}}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":\"2\",\"mem\":1}}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":-5}}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":\"lots\"}}]",
		"[{\"uri\":\"qemu:///sys tem\",\"capacity\":{\"vcpus\":2,\"mem\":1}}]",
		"[{\"uri\":\"a:///x\",\"capacity\":{\"vcpus\":2,\"mem\":1}},"
		"{\"uri\":\"a:///x\",\"capacity\":{\"vcpus\":2,\"mem\":1}}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":1}}] junk",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":1}}",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":1},"
		"\"virt_type\":\"xen\"}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":1},"
		"\"virt_type\":1}]",
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":1},"
		"\"virt_type\":null}]",
	};
	struct libvirt_sched *s;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		s = (void *)1;
		is(parse(bad[i], &s, err, sizeof(err)), -EINVAL, "refused: %.50s", bad[i]);
		ok(s == NULL && err[0], "  with a reason: %s", err);
	}
}

static void test_place(void)
{
	struct libvirt_sched *s = NULL;
	struct libvirt_sched_host h;
	char err[256] = "";
	size_t host = 99;

	is(parse("[{\"uri\":\"qemu+ssh://big/"
		 "system\",\"capacity\":{\"vcpus\":8,\"mem\":\"16G\"}},\n"
		 " {\"uri\":\"qemu+ssh://small/"
		 "system\",\"capacity\":{\"vcpus\":4,\"mem\":\"4G\"},\"virt_type\":\"qemu\"}]\n",
		 &s, err, sizeof(err)),
	   0, "two hosts parsed %s", err);
	if (!s)
		return;
	is(libvirt_sched_count(s), 2, "two hosts");
	libvirt_sched_host(s, 1, &h);
	ok(strcmp(h.uri, "qemu+ssh://small/system") == 0 && h.cap_vcpus == 4 && h.cap_mem == 4 * G,
	   "host 1 as written");
	is(libvirt_sched_host(s, 2, &h), -ERANGE, "no host 2");
	ok(strcmp(h.virt_type, "qemu") == 0, "small's virt_type: qemu (TCG)");
	libvirt_sched_host(s, 0, &h);
	ok(strcmp(h.virt_type, "kvm") == 0, "big's virt_type defaults to kvm");

	/* Room = the smaller of the free vCPU and free memory fractions after placing. */
	is(libvirt_sched_place(s, 2, 2 * G, &host), 0, "first placed");
	is(host, 0, "on big: 6/8 left beats small's 2/4");
	is(libvirt_sched_place(s, 1, 1 * G, &host), 0, "second placed");
	is(host, 1, "on small: 3/4 left beats big's 5/8");
	is(libvirt_sched_place(s, 2, 2 * G, &host), 0, "third placed");
	is(host, 0, "on big: 4/8 left beats small's 1/4");
	is(libvirt_sched_place(s, 1, 10 * G, &host), 0, "a big-memory sandbox");
	is(host, 0, "only fits on big");
	is(libvirt_sched_place(s, 1, 10 * G, &host), -ENOSPC, "nothing fits: -ENOSPC");
	is(libvirt_sched_place(s, 9, 1, &host), -ENOSPC, "more vCPUs than any host: -ENOSPC");
	libvirt_sched_host(s, 0, &h);
	ok(h.used_vcpus == 5 && h.used_mem == 14 * G && h.sandboxes == 3, "big's usage counted");

	is(libvirt_sched_set_down(s, 0, 1), 0, "big marked down (was up)");
	is(libvirt_sched_place(s, 1, 1 * G, &host), 0, "still placed");
	is(host, 1, "on the host that is up");
	libvirt_sched_host(s, 1, &h);
	ok(!h.down && h.sandboxes == 2, "small unaffected by big going down");
	libvirt_sched_release(s, 0, 1, 10 * G);
	libvirt_sched_host(s, 0, &h);
	ok(h.used_mem == 4 * G && h.sandboxes == 2, "release on a down host still counts");
	is(libvirt_sched_set_down(s, 1, 1), 0, "small down");
	is(libvirt_sched_place(s, 1, 1, &host), -EHOSTDOWN, "every host down: -EHOSTDOWN");
	is(libvirt_sched_set_down(s, 0, 0), 1, "big up again (was down)");
	is(libvirt_sched_place(s, 1, 1 * G, &host), 0, "placed after recovery");
	is(host, 0, "on big");
	is(libvirt_sched_set_down(s, 5, 1), -ERANGE, "no host 5");
	libvirt_sched_release(s, 7, 1, 1);
	libvirt_sched_release(s, 1, 100, 100 * G);
	libvirt_sched_host(s, 1, &h);
	ok(h.used_vcpus == 0 && h.used_mem == 0, "over-release clamps at zero");
	libvirt_sched_free(s);
	libvirt_sched_free(NULL);
}

static void test_load(void)
{
	char path[] = "/tmp/test_libvirt_sched.XXXXXX", err[256] = "";
	const char *json =
		"[{\"uri\":\"qemu:///system\",\"capacity\":{\"vcpus\":2,\"mem\":1073741824}}]";
	struct libvirt_sched *s = NULL;
	int fd = mkstemp(path);

	ok(fd >= 0 && write(fd, json, strlen(json)) == (ssize_t)strlen(json), "host list written");
	close(fd);
	is(libvirt_sched_load(path, &s, err, sizeof(err)), 0, "loaded from a file %s", err);
	libvirt_sched_free(s);
	unlink(path);
	ok(libvirt_sched_load(path, &s, err, sizeof(err)) == -ENOENT && err[0],
	   "a missing file: -ENOENT with a reason");
	ok(libvirt_sched_load("/tmp", &s, err, sizeof(err)) == -EINVAL, "a directory refused");
}

int main(void)
{
	test_sizes();
	test_parse_errors();
	test_place();
	test_load();
	return done_testing();
}
