/* ELF64 x86-64 kernels: PT_LOAD segments placed at their physical address,
 * and the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) found in PT_NOTEs. */
#ifndef AGENTVM_VMM_BOOT_ELF_H
#define AGENTVM_VMM_BOOT_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/loader.h"
#include "vmm/memory.h"

#define ELF_XEN_ELFNOTE_PHYS32_ENTRY 18

/* True if buf starts with the ELF magic. */
int elf_is_elf(const uint8_t *buf, size_t size);

/* Validate every header of the ELF image buf, then copy its PT_LOAD segments
 * into mem (zero-filling up to p_memsz). Fills *img: kind ELF_PVH with the
 * note's entry, or ELF64 with e_entry. Returns 0 or -errno with err set. */
int elf_load(struct memory *mem, const uint8_t *buf, size_t size, struct loader_image *img,
	     char *err, size_t errlen);

#endif
