/* gpattern: the guests' reproducible byte stream (tests/guests/virtio/gpattern.h)
 * on the host, for tests that prepare or check disk images.
 *
 *   gpattern fill SEED BYTES     write bytes [0, BYTES) of stream SEED to stdout
 *   gpattern check SEED BYTES    read BYTES bytes from stdin and compare
 *
 * check prints "ok" or "differs at byte N" / "short: N bytes"; exits 0 when
 * they match, 1 when not, 2 on usage. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/guests/virtio/gpattern.h"

#define GPATTERN_CHUNK (1 << 20)

static int gpattern_parse(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[GPATTERN_CHUNK];
	uint64_t seed, bytes, off = 0;

	if (argc != 4 || gpattern_parse(argv[2], &seed) < 0 ||
	    gpattern_parse(argv[3], &bytes) < 0 ||
	    (strcmp(argv[1], "fill") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: gpattern fill|check SEED BYTES\n");
		return 2;
	}
	if (!strcmp(argv[1], "fill")) {
		while (off < bytes) {
			size_t n = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);

			gpattern_fill(seed, off, buf, n);
			if (fwrite(buf, 1, n, stdout) != n) {
				perror("gpattern: write");
				return 1;
			}
			off += n;
		}
		return fflush(stdout) ? 1 : 0;
	}
	while (off < bytes) {
		size_t want = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);
		size_t n = fread(buf, 1, want, stdin), good;

		good = gpattern_check(seed, off, buf, n);
		if (good < n) {
			printf("differs at byte %llu\n", (unsigned long long)(off + good));
			return 1;
		}
		off += n;
		if (n < want) {
			printf("short: %llu bytes\n", (unsigned long long)off);
			return 1;
		}
	}
	printf("ok\n");
	return 0;
}
