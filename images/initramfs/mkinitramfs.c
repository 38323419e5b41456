/* agentvm-mkinitramfs: write a newc cpio archive (a Linux initramfs) from a
 * list of entries in the kernel's gen_init_cpio format. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/cpio.h"

static void usage(FILE *f)
{
	fputs("usage: agentvm-mkinitramfs -o OUTPUT [LIST]\n"
	      "Writes a newc cpio archive (a Linux initramfs) from LIST, or standard input.\n"
	      "Each line of LIST is one entry:\n"
	      "  file <name> <source> <mode> <uid> <gid>\n"
	      "  dir <name> <mode> <uid> <gid>\n"
	      "  nod <name> <mode> <uid> <gid> <c|b> <major> <minor>\n"
	      "  slink <name> <target> <mode> <uid> <gid>\n"
	      "Modes are octal. Lines starting with '#' are comments.\n"
	      "  -o, --output FILE   the archive to write (replaced atomically)\n"
	      "  -h, --help          this text\n",
	      f);
}

static int read_all(FILE *f, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	const char *output = NULL;
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char *tmp = NULL;
	struct cpio_writer *w;
	char err[512] = "";
	int c, r, fd;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!output || argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	FILE *in = optind < argc ? fopen(argv[optind], "r") : stdin;
	if (!in) {
		fprintf(stderr, "agentvm-mkinitramfs: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	r = read_all(in, &list);
	if (in != stdin)
		fclose(in);
	if (r < 0) {
		fprintf(stderr, "agentvm-mkinitramfs: reading the list: %s\n", strerror(-r));
		return 1;
	}
	if (asprintf(&tmp, "%s.tmp.%d", output, (int)getpid()) < 0)
		return 1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "agentvm-mkinitramfs: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	r = cpio_writer_new(fd, &w);
	if (r == 0) {
		r = cpio_add_list(w, list, err, sizeof(err));
		int f = cpio_writer_finish(w);
		if (r == 0)
			r = f;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, output) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		fprintf(stderr, "agentvm-mkinitramfs: %s\n", *err ? err : strerror(-r));
		return 1;
	}
	return 0;
}
