#include "vmm/boot/mptable.h"

#include <errno.h>
#include <string.h>

#include "vmm/boot/boot.h"

#define MP_SPEC_REV 4

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_IOINTR = 3,
	MP_LINTR = 4,
};

enum mp_irq_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_EXTINT = 3,
};

#define MP_CPU_ENABLED	  0x01
#define MP_CPU_BSP	  0x02
#define MP_IOAPIC_ENABLED 0x01
#define MP_IRQ_EDGE_HIGH  0x0005 /* polarity 01 = active high, trigger 01 = edge */
#define MP_LAPIC_VERSION  0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_SIGNATURE  0x600 /* family 6 */
#define MP_CPU_FEATURES	  0x201 /* FPU, APIC */
#define MP_ISA_BUS_ID	  0
#define MP_ALL_LAPICS	  0xff

struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_config {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

/* I/O and local interrupt assignment entries share a layout. */
struct mp_intr {
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mp_config) == 44, "MP config header");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry");
_Static_assert(sizeof(struct mp_intr) == 8, "MP interrupt entry");

#define MP_NLINTR 2

static uint64_t mptable_config_size(int ncpus)
{
	return sizeof(struct mp_config) + (uint64_t)ncpus * sizeof(struct mp_processor) +
	       sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +
	       (MPTABLE_IRQS + MP_NLINTR) * sizeof(struct mp_intr);
}

uint64_t mptable_size(int ncpus)
{
	return sizeof(struct mp_floating) + mptable_config_size(ncpus);
}

static uint8_t mptable_checksum(const uint8_t *p, uint64_t len)
{
	uint8_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

int mptable_write(const struct memory *mem, int ncpus)
{
	uint64_t cfg_addr = BOOT_MPTABLE_ADDR + sizeof(struct mp_floating);
	uint64_t cfg_len;
	struct mp_floating *mpf;
	struct mp_config *mpc;
	uint8_t *base, *p;
	int n = 0;

	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	cfg_len = mptable_config_size(ncpus);
	base = memory_ptr(mem, BOOT_MPTABLE_ADDR, mptable_size(ncpus));
	if (!base || cfg_addr + cfg_len > BOOT_HIMEM_START)
		return -EFAULT;
	memset(base, 0, mptable_size(ncpus));

	mpc = (struct mp_config *)(base + sizeof(*mpf));
	p = (uint8_t *)(mpc + 1);
	for (int i = 0; i < ncpus; i++, n++) {
		struct mp_processor e = {
			.type = MP_PROCESSOR,
			.apic_id = (uint8_t)i,
			.apic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	{
		struct mp_bus e = { .type = MP_BUS, .bus_id = MP_ISA_BUS_ID };

		memcpy(e.bus_type, "ISA   ", 6);
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
		n++;
	}
	{
		struct mp_ioapic e = {
			.type = MP_IOAPIC,
			.apic_id = (uint8_t)ncpus,
			.apic_version = MP_IOAPIC_VERSION,
			.flags = MP_IOAPIC_ENABLED,
			.addr = MPTABLE_IOAPIC_ADDR,
		};
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
		n++;
	}
	for (int irq = 0; irq < MPTABLE_IRQS; irq++, n++) {
		struct mp_intr e = {
			.type = MP_IOINTR,
			.irq_type = MP_INT,
			.flags = MP_IRQ_EDGE_HIGH,
			.src_bus = MP_ISA_BUS_ID,
			.src_irq = (uint8_t)irq,
			.dst_apic = (uint8_t)ncpus,
			.dst_pin = (uint8_t)irq,
		};
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	for (int lint = 0; lint < MP_NLINTR; lint++, n++) {
		struct mp_intr e = {
			.type = MP_LINTR,
			.irq_type = lint == 0 ? MP_EXTINT : MP_NMI,
			.flags = 0, /* conforms to the bus */
			.src_bus = MP_ISA_BUS_ID,
			.src_irq = 0,
			.dst_apic = MP_ALL_LAPICS,
			.dst_pin = (uint8_t)lint,
		};
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)cfg_len;
	mpc->spec_rev = MP_SPEC_REV;
	memcpy(mpc->oem, "AGENTVM ", 8);
	memcpy(mpc->product, "MICROVM     ", 12);
	mpc->entry_count = (uint16_t)n;
	mpc->lapic_addr = MPTABLE_LAPIC_ADDR;
	mpc->checksum = mptable_checksum((const uint8_t *)mpc, cfg_len);

	mpf = (struct mp_floating *)base;
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)cfg_addr;
	mpf->length = 1;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = mptable_checksum(base, sizeof(*mpf));
	return 0;
}
