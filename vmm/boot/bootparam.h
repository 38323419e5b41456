/* The Linux x86 boot protocol structures (Documentation/x86/boot.rst): the
 * setup header found at offset 0x1f1 of a bzImage, and the 4 KiB
 * "zero page" (struct boot_params) that carries it into the kernel. */
#ifndef AGENTVM_VMM_BOOT_BOOTPARAM_H
#define AGENTVM_VMM_BOOT_BOOTPARAM_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/e820.h"

#define BOOTPARAM_HDR_OFFSET   0x1f1	   /* the setup header inside the image and the zero page */
#define BOOTPARAM_BOOT_FLAG    0xaa55	   /* at 0x1fe */
#define BOOTPARAM_HDRS_MAGIC   0x53726448u /* "HdrS" at 0x202 */
#define BOOTPARAM_E820_MAX     128
#define BOOTPARAM_LOADER_UNDEF 0xff /* type_of_loader: a loader with no assigned id */

/* loadflags */
#define BOOTPARAM_LOADED_HIGH  (1u << 0)
#define BOOTPARAM_CAN_USE_HEAP (1u << 7)
/* xloadflags */
#define BOOTPARAM_XLF_KERNEL_64 (1u << 0)

struct boot_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4 */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202 */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238 */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
} __attribute__((packed));

struct boot_params {
	uint8_t _pad0[0x70];
	uint64_t acpi_rsdp_addr; /* 0x070 */
	uint8_t _pad1[0xc0 - 0x78];
	uint32_t ext_ramdisk_image; /* 0x0c0 */
	uint32_t ext_ramdisk_size;  /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;  /* 0x0c8 */
	uint8_t _pad2[0x1e8 - 0xcc];
	uint8_t e820_entries; /* 0x1e8 */
	uint8_t _pad3[0x1ef - 0x1e9];
	uint8_t sentinel; /* 0x1ef */
	uint8_t _pad4[1];
	struct boot_setup_header hdr; /* 0x1f1 */
	uint8_t _pad5[0x2d0 - 0x1f1 - sizeof(struct boot_setup_header)];
	struct e820_entry e820_table[BOOTPARAM_E820_MAX]; /* 0x2d0 */
	uint8_t _pad6[0x1000 - 0xcd0];
} __attribute__((packed));

_Static_assert(sizeof(struct boot_setup_header) == 0x26c - 0x1f1, "setup header size");
_Static_assert(offsetof(struct boot_setup_header, header) == 0x202 - 0x1f1, "header offset");
_Static_assert(offsetof(struct boot_setup_header, xloadflags) == 0x236 - 0x1f1, "xloadflags");
_Static_assert(offsetof(struct boot_setup_header, init_size) == 0x260 - 0x1f1, "init_size");
_Static_assert(sizeof(struct boot_params) == 0x1000, "boot_params is one page");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x70, "acpi_rsdp_addr");
_Static_assert(offsetof(struct boot_params, ext_cmd_line_ptr) == 0xc8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct boot_params, hdr) == BOOTPARAM_HDR_OFFSET, "hdr");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");

#endif
