/* The microvm backend's side of the VMM's control socket and its golden
 * snapshots (host/microvm_api.c): reply parsing, a call against a stand-in
 * VMM, keys, and publishing a snapshot directory a jail wrote into. */
#include "host/microvm_api.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		close(fd);
	}
}

static void test_parse(void)
{
	char err[200];

	is(microvm_api_parse_reply("vm.reset", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", err,
				   sizeof(err)),
	   0, "a result is success");
	is(microvm_api_parse_reply(
		   "vm.reset", "{\"id\":1,\"error\":{\"code\":-32001,\"message\":\"no snapshot\"}}",
		   err, sizeof(err)),
	   -EREMOTEIO, "an error reply is -EREMOTEIO");
	ok(strcmp(err, "vm.reset: no snapshot") == 0, "with its message (%s)", err);
	is(microvm_api_parse_reply("vm.reset", "[1,2]", err, sizeof(err)), -EPROTO,
	   "an array is refused");
	is(microvm_api_parse_reply("vm.reset", "{\"error\":{\"message\":7}}", err, sizeof(err)),
	   -EPROTO, "an error whose message is not a string is refused");
	is(microvm_api_parse_reply("vm.reset", "{\"error\":\"x\"}", err, sizeof(err)), -EPROTO,
	   "an error that is not an object is refused");
	is(microvm_api_parse_reply("vm.reset", "{\"res", err, sizeof(err)), -EPROTO,
	   "a truncated line is refused");
	is(microvm_api_parse_reply("vm.reset", "", err, sizeof(err)), -EPROTO,
	   "an empty line is refused");
}

struct fake_vmm {
	int lfd;
	const char *reply;
	char got[256];
};

static void *fake_vmm_main(void *arg)
{
	struct fake_vmm *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, f->got, sizeof(f->got) - 1);
	f->got[n > 0 ? n : 0] = '\0';
	if (f->reply && write(fd, f->reply, strlen(f->reply)) < 0)
		perror("write");
	close(fd);
	return NULL;
}

static int fake_listen(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.60s/%.40s", dir, name);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

static void test_call(void)
{
	struct fake_vmm f = { .reply = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n" };
	pthread_t t;
	char err[200];
	int r;

	f.lfd = fake_listen("api.sock");
	ok(f.lfd >= 0, "a stand-in VMM listens");
	pthread_create(&t, NULL, fake_vmm_main, &f);
	r = microvm_api_call(dir, "api.sock", "vm.snapshot",
			     "{\"state\":\"/snapshot/state\",\"memory\":\"/snapshot/memory\"}",
			     2000, err, sizeof(err));
	pthread_join(t, NULL);
	is(r, 0, "vm.snapshot succeeds against it");
	ok(strstr(f.got, "\"method\":\"vm.snapshot\"") && strstr(f.got, "\"params\":{") &&
		   f.got[strlen(f.got) - 1] == '\n',
	   "one JSON-RPC line with method and params was sent");

	f.reply = NULL; /* closes without a word */
	pthread_create(&t, NULL, fake_vmm_main, &f);
	r = microvm_api_call(dir, "api.sock", "vm.reset", NULL, 2000, err, sizeof(err));
	pthread_join(t, NULL);
	ok(r < 0 && r != -EREMOTEIO, "a VMM that hangs up is an error (%s)", err);
	ok(!strstr(f.got, "params"), "a call without params sends none");
	close(f.lfd);

	r = microvm_api_call(dir, "nothing.sock", "vm.info", NULL, 50, err, sizeof(err));
	is(r, -ENOENT, "no socket: -ENOENT after the wait");
}

static void test_key(void)
{
	char a[17], b[17], c[17], path[128];

	snprintf(path, sizeof(path), "%s/kernel", dir);
	put(path, "kernel one");
	is(microvm_golden_key("/proc/self/exe", path, NULL, "console=ttyS0", 64, 1, a), 0,
	   "a key is made");
	microvm_golden_key("/proc/self/exe", path, NULL, "console=ttyS0", 64, 1, b);
	ok(strlen(a) == 16 && strcmp(a, b) == 0, "the same boot gives the same key (%s)", a);
	microvm_golden_key("/proc/self/exe", path, NULL, "console=ttyS0", 128, 1, c);
	ok(strcmp(a, c) != 0, "another memory size, another key");
	microvm_golden_key("/proc/self/exe", path, NULL, "console=ttyS0 x=1", 64, 1, c);
	ok(strcmp(a, c) != 0, "another command line, another key");
	usleep(10000);
	put(path, "kernel two, longer");
	microvm_golden_key("/proc/self/exe", path, NULL, "console=ttyS0", 64, 1, c);
	ok(strcmp(a, c) != 0, "a rebuilt kernel, another key");
}

static void test_publish(void)
{
	char snaps[96], tmp[128], gold[128], path[160], other[96];
	struct stat st;

	snprintf(snaps, sizeof(snaps), "%s/snapshots/t1", dir);
	snprintf(tmp, sizeof(tmp), "%s/.k1.sb-1", snaps);
	snprintf(gold, sizeof(gold), "%s/k1", snaps);
	is(microvm_golden_prepare(tmp), 0, "the temporary directory is made, parents too");
	ok(!microvm_golden_exists(gold), "no golden snapshot yet");
	snprintf(path, sizeof(path), "%s/state", tmp);
	put(path, "state");
	is(microvm_golden_publish(tmp, gold), -EINVAL,
	   "a snapshot without its memory file is refused");

	/* A jail that swapped a file for a link to something else. */
	snprintf(path, sizeof(path), "%s/memory", tmp);
	snprintf(other, sizeof(other), "%s/victim", dir);
	put(other, "not a snapshot");
	chmod(other, 0600);
	ok(symlink(other, path) == 0, "a symlink stands in for the memory file");
	is(microvm_golden_publish(tmp, gold), -EINVAL, "a symlink is refused");
	ok(stat(other, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "and what it points at is untouched");
	unlink(path);
	ok(link(other, path) == 0, "a hard link stands in for the memory file");
	is(microvm_golden_publish(tmp, gold), -EINVAL, "a file with two links is refused");
	unlink(path);

	put(path, "memory");
	is(microvm_golden_publish(tmp, gold), 0, "a complete snapshot is published");
	ok(microvm_golden_exists(gold) && access(tmp, F_OK) < 0, "under its key, in one rename");
	snprintf(path, sizeof(path), "%s/memory", gold);
	memset(&st, 0, sizeof(st));
	stat(path, &st);
	ok(st.st_uid == 0 && (st.st_mode & 0777) == 0644, "its files are root's and read-only (%o)",
	   st.st_mode & 0777);

	/* A second VM of the same boot publishing late keeps the first. */
	snprintf(tmp, sizeof(tmp), "%s/.k1.sb-2", snaps);
	microvm_golden_prepare(tmp);
	snprintf(path, sizeof(path), "%s/state", tmp);
	put(path, "state 2");
	snprintf(path, sizeof(path), "%s/memory", tmp);
	put(path, "memory 2");
	is(microvm_golden_publish(tmp, gold), 0, "a late second publisher is not an error");
	ok(access(tmp, F_OK) == 0, "its directory is left for its VM");
	microvm_golden_discard(tmp);
	ok(access(tmp, F_OK) < 0, "and discarded with it");
	microvm_golden_discard(gold);
	ok(!microvm_golden_exists(gold), "discard removes a snapshot directory");
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_microvm_api.%d", (int)getpid());
	if (mkdir(dir, 0700) < 0)
		skip_all("cannot make a temporary directory");
	test_parse();
	test_call();
	test_key();
	if (geteuid() == 0)
		test_publish();
	else
		ok(1, "# skip publishing needs root (chown to root)");
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
