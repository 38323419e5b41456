#include "vmm/boot/elf.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Enough for any real kernel; bounds the work a hostile header can cause. */
#define ELF_MAX_PHDRS 4096

int elf_is_elf(const uint8_t *buf, size_t size)
{
	return size >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG);
}

static int elf_check_ehdr(const Elf64_Ehdr *eh, size_t size, char *err, size_t errlen)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return loader_fail(
			err, errlen, -ENOEXEC,
			"kernel: ELF class %u is not ELF64 (32-bit kernels are not supported)",
			eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return loader_fail(err, errlen, -ENOEXEC, "kernel: ELF is not little-endian");
	if (eh->e_machine != EM_X86_64)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: ELF machine %u is not x86-64 (%u)", eh->e_machine,
				   EM_X86_64);
	if (eh->e_type != ET_EXEC)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: ELF type %u is not an executable (ET_EXEC)",
				   eh->e_type);
	if (eh->e_phnum == 0)
		return loader_fail(err, errlen, -ENOEXEC, "kernel: ELF has no program headers");
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: ELF program header size %u is not %zu", eh->e_phentsize,
				   sizeof(Elf64_Phdr));
	if (eh->e_phnum > ELF_MAX_PHDRS)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: ELF has %u program headers (at most %u)", eh->e_phnum,
				   ELF_MAX_PHDRS);
	if (eh->e_phoff > size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
		return loader_fail(
			err, errlen, -ENOEXEC,
			"kernel: truncated ELF program header table (%u entries at 0x%" PRIx64
			" in a %zu-byte file)",
			eh->e_phnum, (uint64_t)eh->e_phoff, size);
	return 0;
}

static void elf_read_phdr(const uint8_t *buf, const Elf64_Ehdr *eh, int i, Elf64_Phdr *ph)
{
	memcpy(ph, buf + eh->e_phoff + (size_t)i * sizeof(*ph), sizeof(*ph));
}

/* Bytes [p_offset, p_offset + p_filesz) must lie inside the file. */
static int elf_check_file_range(const Elf64_Phdr *ph, int i, size_t size, char *err, size_t errlen)
{
	if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: ELF segment %d (0x%" PRIx64
				   " bytes at offset 0x%" PRIx64
				   ") runs past the end of the %zu-byte file",
				   i, (uint64_t)ph->p_filesz, (uint64_t)ph->p_offset, size);
	return 0;
}

static int elf_check_load(const struct memory *mem, const Elf64_Phdr *ph, int i, size_t size,
			  char *err, size_t errlen)
{
	char part[32];
	int r;

	r = elf_check_file_range(ph, i, size, err, errlen);
	if (r < 0)
		return r;
	if (ph->p_filesz > ph->p_memsz)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: ELF segment %d has p_filesz 0x%" PRIx64
				   " larger than p_memsz 0x%" PRIx64,
				   i, (uint64_t)ph->p_filesz, (uint64_t)ph->p_memsz);
	snprintf(part, sizeof(part), "segment %d", i);
	return loader_check_range(mem, ph->p_paddr, ph->p_memsz, "kernel", part, err, errlen);
}

static int elf_align_up(uint64_t v, uint64_t align, uint64_t *out)
{
	if (v > UINT64_MAX - (align - 1))
		return 0;
	*out = (v + align - 1) & ~(align - 1);
	return 1;
}

/* Walk the notes of one PT_NOTE segment. Sets *found and *entry from the Xen
 * PHYS32_ENTRY note; any structural damage is an error. */
static int elf_scan_notes(const uint8_t *buf, const Elf64_Phdr *ph, int i, int *found,
			  uint64_t *entry, char *err, size_t errlen)
{
	const uint8_t *p = buf + ph->p_offset;
	uint64_t left = ph->p_filesz, align = ph->p_align == 8 ? 8 : 4;

	while (left >= 12) {
		uint32_t namesz, descsz, type;
		uint64_t name_end, desc_off, desc_end, next;

		memcpy(&namesz, p, 4);
		memcpy(&descsz, p + 4, 4);
		memcpy(&type, p + 8, 4);
		name_end = 12ull + namesz;
		if (!elf_align_up(name_end, align, &desc_off) || desc_off > left ||
		    descsz > left - desc_off)
			return loader_fail(err, errlen, -ENOEXEC,
					   "kernel: truncated ELF note in segment %d", i);
		desc_end = desc_off + descsz;
		if (namesz == 4 && !memcmp(p + 12, "Xen", 4) &&
		    type == ELF_XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t v = 0;

			if (descsz != 4 && descsz != 8)
				return loader_fail(err, errlen, -ENOEXEC,
						   "kernel: malformed Xen PVH entry note (%u-byte "
						   "descriptor, want 4 or 8)",
						   descsz);
			memcpy(&v, p + desc_off, descsz);
			if (v > UINT32_MAX)
				return loader_fail(err, errlen, -ENOEXEC,
						   "kernel: Xen PVH entry 0x%" PRIx64
						   " does not fit in 32 bits",
						   v);
			if (*found && *entry != v)
				return loader_fail(err, errlen, -ENOEXEC,
						   "kernel: two Xen PVH entry notes disagree "
						   "(0x%" PRIx64 " and 0x%" PRIx64 ")",
						   *entry, v);
			*found = 1;
			*entry = v;
		}
		if (!elf_align_up(desc_end, align, &next) || next >= left)
			return 0; /* the last note; its padding may be cut short */
		p += next;
		left -= next;
	}
	for (uint64_t k = 0; k < left; k++)
		if (p[k])
			return loader_fail(err, errlen, -ENOEXEC,
					   "kernel: truncated ELF note in segment %d", i);
	return 0;
}

static int elf_in_segments(const uint8_t *buf, const Elf64_Ehdr *eh, uint64_t addr)
{
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		elf_read_phdr(buf, eh, i, &ph);
		if (ph.p_type == PT_LOAD && addr >= ph.p_paddr && addr - ph.p_paddr < ph.p_memsz)
			return 1;
	}
	return 0;
}

int elf_load(struct memory *mem, const uint8_t *buf, size_t size, struct loader_image *img,
	     char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	uint64_t pvh_entry = 0, end = 0;
	int nload = 0, has_pvh = 0, r;

	if (size < sizeof(eh))
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: truncated ELF header (%zu of %zu bytes)", size,
				   sizeof(eh));
	memcpy(&eh, buf, sizeof(eh));
	r = elf_check_ehdr(&eh, size, err, errlen);
	if (r < 0)
		return r;

	/* First pass: validate everything before the first byte is copied. */
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		elf_read_phdr(buf, &eh, i, &ph);
		if (ph.p_type == PT_LOAD) {
			if (ph.p_memsz == 0 && ph.p_filesz == 0)
				continue;
			r = elf_check_load(mem, &ph, i, size, err, errlen);
			if (r < 0)
				return r;
			nload++;
			if (ph.p_paddr + ph.p_memsz > end)
				end = ph.p_paddr + ph.p_memsz;
		} else if (ph.p_type == PT_NOTE) {
			r = elf_check_file_range(&ph, i, size, err, errlen);
			if (r < 0)
				return r;
			r = elf_scan_notes(buf, &ph, i, &has_pvh, &pvh_entry, err, errlen);
			if (r < 0)
				return r;
		}
	}
	if (!nload)
		return loader_fail(err, errlen, -ENOEXEC, "kernel: ELF has no loadable segment");

	img->entry = has_pvh ? pvh_entry : eh.e_entry;
	if (!elf_in_segments(buf, &eh, img->entry))
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: %s entry 0x%" PRIx64 " is outside the loaded segments",
				   has_pvh ? "Xen PVH" : "ELF", img->entry);

	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		elf_read_phdr(buf, &eh, i, &ph);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		dst = memory_ptr(mem, ph.p_paddr, ph.p_memsz); /* checked above */
		if (!dst)
			return loader_fail(err, errlen, -EFAULT,
					   "kernel: segment %d vanished from guest memory", i);
		memcpy(dst, buf + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}

	img->kind = has_pvh ? BOOT_KIND_ELF_PVH : BOOT_KIND_ELF64;
	img->kernel_end = end;
	img->initrd_top = LOADER_4GIB;
	img->cmdline_max = BOOT_CMDLINE_MAX - 1;
	return 0;
}
