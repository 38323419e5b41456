/* The newc cpio writer: headers, padding, trailer, and list parsing errors. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cpio.h"
#include "tests/unit/tap.h"

static unsigned long hexfield(const char *hdr, int index)
{
	char buf[9];

	memcpy(buf, hdr + 6 + 8 * index, 8);
	buf[8] = 0;
	return strtoul(buf, NULL, 16);
}

int main(void)
{
	char path[] = "/tmp/agentvm-cpio-XXXXXX";
	int fd = mkstemp(path);
	struct cpio_writer *w;
	char err[256] = "";
	char buf[4096];
	ssize_t n;

	ok(fd >= 0, "temp file");
	unlink(path);
	is(cpio_writer_new(fd, &w), 0, "writer created");
	is(cpio_add_dir(w, "/dev", 0755, 0, 0), 0, "dir added");
	is(cpio_add_file(w, "init", 0755, 0, 0, "hello", 5), 0, "file added");
	is(cpio_add_symlink(w, "bin/sh", "busybox", 0, 0), 0, "symlink added");
	is(cpio_add_node(w, "dev/console", 0600, 0, 0, 'c', 5, 1), 0, "node added");
	is(cpio_add_node(w, "dev/x", 0600, 0, 0, 'p', 1, 1), -22, "bad node type rejected");
	is(cpio_add_list(w, "# comment\n\ndir /proc 0555 0 0\nfrob x\n", err, sizeof(err)), -22,
	   "malformed list line rejected");
	ok(strstr(err, "line 4") != NULL, "error names the line: %s", err);
	is(cpio_add_list(w, "file /x /nonexistent/file 0644 0 0\n", err, sizeof(err)), -2,
	   "missing source file rejected");
	ok(strstr(err, "/nonexistent/file") != NULL, "error names the file: %s", err);
	is(cpio_writer_finish(w), 0, "archive finished");

	n = pread(fd, buf, sizeof(buf), 0);
	ok(n > 0 && n % 512 == 0, "archive padded to 512 bytes (%zd)", n);
	ok(!memcmp(buf, "070701", 6), "newc magic");
	is(hexfield(buf, 1) & 0170000, 0040000, "first entry is a directory");
	is(hexfield(buf, 11), 4, "name size counts the NUL");
	ok(!memcmp(buf + 110, "dev", 4), "leading slash stripped");
	/* second entry starts at 110 + 4 rounded to 4 = 116 */
	ok(!memcmp(buf + 116, "070701", 6), "second header aligned to 4 bytes");
	is(hexfield(buf + 116, 6), 5, "file size recorded");
	ok(!memcmp(buf + 116 + 116, "hello", 5), "file data after padded name");
	ok(memmem(buf, (size_t)n, "TRAILER!!!", 10) != NULL, "trailer present");
	ok(memmem(buf, (size_t)n, "proc", 4) != NULL,
	   "list entries before the bad line were added");

	/* The archive must be readable by cpio(1) when it exists. */
	if (system("command -v cpio >/dev/null 2>&1") == 0) {
		char cmd[512];
		FILE *f = fopen("/tmp/agentvm-cpio-test.cpio", "w");
		fwrite(buf, 1, (size_t)n, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
			 "cpio -it < /tmp/agentvm-cpio-test.cpio 2>/dev/null | tr '\\n' ' '");
		f = popen(cmd, "r");
		char list[256] = "";
		size_t got = fread(list, 1, sizeof(list) - 1, f);
		list[got] = 0;
		pclose(f);
		unlink("/tmp/agentvm-cpio-test.cpio");
		ok(strstr(list, "dev init bin/sh dev/console proc") != NULL, "cpio -t lists: %s",
		   list);
	}
	close(fd);
	return done_testing();
}
