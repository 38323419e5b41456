/* Guest memory to and from a snapshot's memory file: a raw image of RAM
 * (slot 0, then slot 1), written sparse so that pages that were never
 * touched or hold only zeros cost no disk. */
#ifndef AGENTVM_VMM_SNAPSHOT_MEMORY_H
#define AGENTVM_VMM_SNAPSHOT_MEMORY_H

#include <stdint.h>

#include "vmm/memory.h"

/* Write mem to out_fd (a new, empty regular file) as mem->size bytes,
 * skipping all-zero pages (left as holes). backing_fd is the file mem is
 * privately mapped from, or -1; with it and mem->fd, only pages that can hold
 * data are read. *written is the number of bytes of data written. */
int snapshot_memory_write(const struct memory *mem, int backing_fd, int out_fd, uint64_t *written);
/* Open path as a memory file for size bytes of RAM: a regular file of
 * exactly that size. Returns the fd, or -errno with err saying why. */
int snapshot_memory_open(const char *path, uint64_t size, char *err, size_t errlen);

#endif
