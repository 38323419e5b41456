/* A writer for "newc" cpio archives, the format of Linux initramfs images. */
#ifndef AGENTVM_COMMON_CPIO_H
#define AGENTVM_COMMON_CPIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cpio_writer;

/* Start an archive written to fd (not owned). Returns 0 or -errno. */
int cpio_writer_new(int fd, struct cpio_writer **out);
/* Finish the archive (trailer, padding) and free the writer; NULL-safe.
 * Returns 0 or the first -errno any call saw. */
int cpio_writer_finish(struct cpio_writer *w);

/* Entries. name is the path inside the archive, without a leading '/'.
 * mode holds the permission bits only; the type comes from the call. */
int cpio_add_file(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid,
		  uint32_t gid, const void *data, size_t size);
int cpio_add_dir(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid,
		 uint32_t gid);
int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target, uint32_t uid,
		     uint32_t gid);
/* type is 'c' or 'b'. */
int cpio_add_node(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid,
		  uint32_t gid, char type, uint32_t major, uint32_t minor);

/* Add the entries of a list in the kernel's gen_init_cpio format, one per line:
 *   file <name> <source> <mode> <uid> <gid>
 *   dir <name> <mode> <uid> <gid>
 *   nod <name> <mode> <uid> <gid> <c|b> <major> <minor>
 *   slink <name> <target> <mode> <uid> <gid>
 * Blank lines and lines starting with '#' are skipped. On error returns
 * -errno and writes "line N: reason" to err. */
int cpio_add_list(struct cpio_writer *w, const char *list, char *err, size_t errlen);

#endif
