/* The snapshot state file: a round trip keeps every field, and every kind of
 * bad file (truncated, padded, corrupted, resealed with wrong contents,
 * unknown version) is refused with one clear message. Also the memory file:
 * sparse writing and the size check, and the SHA-256 it is sealed with. */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "vmm/memory.h"
#include "vmm/snapshot_memory.h"
#include "vmm/snapshot_sha256.h"
#include "vmm/snapshot_state.h"

static struct snapshot_state *make_state(uint32_t ncpus)
{
	struct snapshot_state *st;

	if (snapshot_state_new(ncpus, &st) < 0)
		return NULL;
	st->mem_size = 256ull << 20;
	st->tsc_khz = 2600000;
	snprintf(st->memory_file, sizeof(st->memory_file), "/var/tmp/golden.mem");
	for (uint32_t i = 0; i < ncpus; i++) {
		struct snapshot_vcpu *c = &st->vcpus[i];
		c->ncpuid = 2;
		c->cpuid[0] =
			(struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd, .ebx = 0x68747541 };
		c->cpuid[1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = i << 24 };
		c->regs.rip = 0x400000 + i;
		c->regs.rax = 0x1122334455667788ull;
		c->sregs.cr3 = 0x9000;
		c->has_xsave = 1;
		c->xsave[7] = 0xdeadbeef;
		c->has_xcrs = 1;
		c->xcrs.nr_xcrs = 1;
		c->xcrs.xcrs[0].value = 7;
		c->lapic.regs[0x20] = (char)i;
		c->nmsrs = 3;
		c->msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 0x123456789abcull };
		c->msrs[1] = (struct kvm_msr_entry){ .index = 0x4b564d00, .data = 0x2001 };
		c->msrs[2] =
			(struct kvm_msr_entry){ .index = 0x6e0, .data = 0xffffffffffffffffull };
		c->mp_state.mp_state = i ? KVM_MP_STATE_INIT_RECEIVED : KVM_MP_STATE_RUNNABLE;
		c->events.exception.nr = 14;
		c->debugregs.dr7 = 0x400;
	}
	st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	st->ioapic.chip.ioapic.base_address = 0xfec00000;
	st->pit.channels[0].count = 0x1234;
	st->clock.clock = 987654321;
	st->ndevices = 4;
	st->devices[0] =
		(struct snapshot_device){ .kind = SNAPSHOT_DEV_SERIAL, .base = 0x3f8, .gsi = 4 };
	st->devices[0].serial.scr = 0xa5;
	st->devices[0].serial.lcr = 3;
	st->devices[0].serial.dll = 0x0c;
	st->devices[0].serial.dlm = 0x01;
	st->devices[0].serial.rx_count = 3;
	memcpy(st->devices[0].serial.rx, "abc", 3);
	st->devices[1] = (struct snapshot_device){
		.kind = SNAPSHOT_DEV_VSOCK, .base = 0xd0000000, .gsi = 5, .cid = 42
	};
	snprintf(st->devices[1].path, sizeof(st->devices[1].path), "/run/vm.sock");
	st->devices[1].transport.status = 0xf;
	st->devices[1].transport.driver_features = 1ull << 32;
	st->devices[1].transport.queues[2] = (struct virtq_state){ .num = 8,
								   .ready = 1,
								   .desc = 0x800000,
								   .driver = 0x801000,
								   .device = 0x802000,
								   .last_avail = 3,
								   .used_idx = 2 };
	st->devices[2] =
		(struct snapshot_device){ .kind = SNAPSHOT_DEV_RNG, .base = 0xd0001000, .gsi = 6 };
	st->devices[3] = (struct snapshot_device){ .kind = SNAPSHOT_DEV_BLK,
						   .base = 0xd0002000,
						   .gsi = 7,
						   .capacity = 2048,
						   .readonly = 1 };
	snprintf(st->devices[3].path, sizeof(st->devices[3].path), "/var/tmp/disk.img");
	snprintf(st->devices[3].id, sizeof(st->devices[3].id), "disk-0");
	st->devices[3].transport.queues[0] = (struct virtq_state){ .num = 256,
								   .ready = 1,
								   .desc = 0x1000000,
								   .driver = 0x1001000,
								   .device = 0x1002000,
								   .last_avail = 65535,
								   .used_idx = 65535 };
	return st;
}

static int states_equal(const struct snapshot_state *a, const struct snapshot_state *b)
{
	if (a->version != b->version || a->mem_size != b->mem_size || a->tsc_khz != b->tsc_khz ||
	    strcmp(a->memory_file, b->memory_file) || a->ncpus != b->ncpus ||
	    a->ndevices != b->ndevices)
		return 0;
	for (uint32_t i = 0; i < a->ncpus; i++) {
		const struct snapshot_vcpu *x = &a->vcpus[i], *y = &b->vcpus[i];
		if (x->ncpuid != y->ncpuid ||
		    memcmp(x->cpuid, y->cpuid, x->ncpuid * sizeof(x->cpuid[0])) ||
		    memcmp(&x->regs, &y->regs, sizeof(x->regs)) ||
		    memcmp(&x->sregs, &y->sregs, sizeof(x->sregs)) ||
		    x->has_xsave != y->has_xsave || memcmp(x->xsave, y->xsave, sizeof(x->xsave)) ||
		    x->has_xcrs != y->has_xcrs || memcmp(&x->xcrs, &y->xcrs, sizeof(x->xcrs)) ||
		    memcmp(&x->lapic, &y->lapic, sizeof(x->lapic)) || x->nmsrs != y->nmsrs ||
		    memcmp(x->msrs, y->msrs, x->nmsrs * sizeof(x->msrs[0])) ||
		    memcmp(&x->mp_state, &y->mp_state, sizeof(x->mp_state)) ||
		    memcmp(&x->events, &y->events, sizeof(x->events)) ||
		    memcmp(&x->debugregs, &y->debugregs, sizeof(x->debugregs)))
			return 0;
	}
	if (memcmp(&a->pic_master, &b->pic_master, sizeof(a->pic_master)) ||
	    memcmp(&a->pic_slave, &b->pic_slave, sizeof(a->pic_slave)) ||
	    memcmp(&a->ioapic, &b->ioapic, sizeof(a->ioapic)) ||
	    memcmp(&a->pit, &b->pit, sizeof(a->pit)) ||
	    memcmp(&a->clock, &b->clock, sizeof(a->clock)))
		return 0;
	for (int i = 0; i < a->ndevices; i++) {
		const struct snapshot_device *x = &a->devices[i], *y = &b->devices[i];
		if (x->kind != y->kind || x->base != y->base || x->gsi != y->gsi ||
		    memcmp(&x->serial, &y->serial, sizeof(x->serial)) || x->cid != y->cid ||
		    strcmp(x->path, y->path) || x->capacity != y->capacity ||
		    x->readonly != y->readonly || strcmp(x->id, y->id))
			return 0;
		if (x->transport.status != y->transport.status ||
		    x->transport.driver_features != y->transport.driver_features)
			return 0;
		for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
			if (memcmp(&x->transport.queues[q], &y->transport.queues[q],
				   sizeof(x->transport.queues[q])))
				return 0;
	}
	return 1;
}

/* Read blob and expect failure code r with a message containing what. */
static void expect_bad(const void *blob, size_t len, int want, const char *what, const char *desc)
{
	struct snapshot_state *st = NULL;
	char err[256] = "";
	int r = snapshot_state_read(blob, len, 0, &st, err, sizeof(err));

	if (!ok(r == want && strstr(err, what) && !st, "%s: refused (%s)", desc, err))
		printf("#   got %d '%s', want %d containing '%s'\n", r, err, want, what);
	snapshot_state_free(st);
}

/* A copy of blob with room to edit it with libfdt; reseal after. */
static void *editable(const void *blob, size_t len, size_t *cap)
{
	void *b;

	*cap = len + 4096;
	b = calloc(1, *cap);
	if (b && fdt_open_into(blob, b, (int)*cap) != 0) {
		free(b);
		return NULL;
	}
	return b;
}

static void finish_edit(void *b, size_t *len)
{
	fdt_pack(b);
	*len = fdt_totalsize(b);
	snapshot_state_reseal(b, *len);
}

static void test_round_trip(void)
{
	struct snapshot_state *st = make_state(3), *back = NULL;
	void *blob = NULL;
	size_t len = 0;
	char err[256] = "";
	int r;

	r = snapshot_state_write(st, &blob, &len);
	is(r, 0, "a state of 3 vCPUs and 4 devices serialises");
	ok(len > 3 * 4096 && len < 128 * 1024, "its blob is %zu bytes", len);
	ok(fdt_check_full(blob, len) == 0, "the blob is a well-formed device tree");
	r = snapshot_state_read(blob, len, 0, &back, err, sizeof(err));
	is(r, 0, "and reads back (%s)", err);
	ok(back && states_equal(st, back), "with every field unchanged");
	ok(fdt_path_offset(blob, "/vcpus/cpu@2") >= 0 &&
		   fdt_path_offset(blob, "/devices/blk@d0002000/queue@0") >= 0 &&
		   fdt_path_offset(blob, "/devices/serial@3f8") >= 0,
	   "nodes are named /vcpus/cpu@N and /devices/<kind>@<address>");
	snapshot_state_free(back);
	free(blob);
	snapshot_state_free(st);
}

static void test_bad_files(void)
{
	struct snapshot_state *st = make_state(2);
	void *blob = NULL, *b;
	size_t len = 0, cap, blen;
	uint8_t *copy;
	int node, plen;
	const uint8_t *p;

	snapshot_state_write(st, &blob, &len);
	copy = malloc(len + 16);
	memcpy(copy, blob, len);

	expect_bad(blob, 0, -EINVAL, "not a snapshot state file", "an empty file");
	expect_bad(blob, 20, -EINVAL, "not a snapshot state file", "the first 20 bytes only");
	expect_bad(blob, len - 1, -EINVAL, "truncated", "a file one byte short");
	expect_bad(blob, len / 2, -EINVAL, "truncated", "half a file");
	memset(copy + len, 0, 16);
	expect_bad(copy, len + 16, -EINVAL, "padded", "16 bytes of padding");
	expect_bad("garbage garbage garbage garbage garbage garbage", 47, -EINVAL,
		   "not a snapshot state file", "text");

	/* One bit flipped inside the regs of cpu@1. */
	node = fdt_path_offset(blob, "/vcpus/cpu@1");
	p = fdt_getprop(blob, node, "regs", &plen);
	memcpy(copy, blob, len);
	copy[(p - (const uint8_t *)blob) + 8] ^= 0x10;
	expect_bad(copy, len, -EBADMSG, "checksum mismatch", "a flipped bit in a register");
	/* The checksum itself damaged. */
	p = fdt_getprop(blob, 0, "checksum", &plen);
	memcpy(copy, blob, len);
	copy[p - (const uint8_t *)blob] ^= 1;
	expect_bad(copy, len, -EBADMSG, "checksum mismatch", "a damaged checksum");
	/* The structure damaged: a property length beyond the blob. */
	memcpy(copy, blob, len);
	memset(copy + fdt_off_dt_struct(blob) + 8, 0xff, 8);
	expect_bad(copy, len, -EINVAL, "malformed", "a damaged structure block");

	/* Well sealed, but wrong inside. */
	b = editable(blob, len, &cap);
	fdt_setprop_u32(b, fdt_path_offset(b, "/vm"), "format-version", 2);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EPROTONOSUPPORT, "format version 2 is not supported",
		   "an unknown format version");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u32(b, fdt_path_offset(b, "/vm"), "vcpu-count", 3);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "/vcpus has 2 vCPUs, /vm says 3",
		   "vcpu-count above the nodes");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u32(b, fdt_path_offset(b, "/vm"), "vcpu-count", 1);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "reg = 1 is out of range", "vcpu-count below the nodes");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop(b, fdt_path_offset(b, "/vcpus/cpu@0"), "regs", "short", 5);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "property regs has 5 bytes", "regs of the wrong size");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop(b, fdt_path_offset(b, "/vcpus/cpu@0"), "cpuid", copy, 41);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "cpuid is missing or not", "a CPUID entry cut short");
	free(b);

	b = editable(blob, len, &cap);
	fdt_delprop(b, fdt_path_offset(b, "/vcpus/cpu@1"), "lapic");
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "cpu@1: property lapic is missing", "a missing lapic");
	free(b);

	b = editable(blob, len, &cap);
	fdt_del_node(b, fdt_path_offset(b, "/pit"));
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "no /pit node", "a missing /pit");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u64(b, fdt_path_offset(b, "/vm"), "memory-size", (256ull << 20) + 100);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "memory-size", "a memory size not a multiple of 4 KiB");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u64(b, fdt_path_offset(b, "/vm"), "memory-size", 512ull << 20);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "memory-slots do not match", "slots not matching the size");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u64(b, fdt_path_offset(b, "/devices/blk@d0002000/queue@0"), "desc",
			(256ull << 20) - 2048);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "ring size or addresses", "a ring reaching past RAM");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u32(b, fdt_path_offset(b, "/devices/blk@d0002000/queue@0"), "num", 100);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "ring size or addresses", "a ring size not a power of two");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_string(b, fdt_path_offset(b, "/devices/rng@d0001000"), "kind", "gpu");
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "unknown kind 'gpu'", "an unknown device kind");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop(b, fdt_path_offset(b, "/devices/blk@d0002000"), "path", "no-nul", 6);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "path is not a string", "a path without its NUL");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop(b, fdt_path_offset(b, "/devices/serial@3f8"), "rx-fifo", copy, 65);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "rx-fifo", "a serial FIFO over 64 bytes");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop(b, fdt_path_offset(b, "/vcpus/cpu@0"), "msrs", copy, 13);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "msrs has 13 bytes", "MSRs not in triplets");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_u64(b, fdt_path_offset(b, "/devices/vsock@d0000000"), "guest-cid", 2);
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "guest-cid 2", "a vsock CID of the host");
	free(b);

	b = editable(blob, len, &cap);
	fdt_setprop_string(b, 0, "format", "qemu-migration");
	finish_edit(b, &blen);
	expect_bad(b, blen, -EINVAL, "format is 'qemu-migration'", "another format");
	free(b);

	/* The skip flag (tools, fuzzing) still validates the rest. */
	{
		struct snapshot_state *out = NULL;
		char err[256];
		memcpy(copy, blob, len);
		node = fdt_path_offset(blob, "/vcpus/cpu@1");
		p = fdt_getprop(blob, node, "regs", &plen);
		copy[(p - (const uint8_t *)blob) + 8] ^= 0x10;
		is(snapshot_state_read(copy, len, 1, &out, err, sizeof(err)), 0,
		   "with the checksum check skipped, a flipped register bit reads");
		snapshot_state_free(out);
	}
	free(copy);
	free(blob);
	snapshot_state_free(st);
}

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SNAPSHOT_SHA256_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256(void)
{
	uint8_t d[SNAPSHOT_SHA256_SIZE];
	char h[65];
	struct snapshot_sha256 c;
	static char million[1000000];

	snapshot_sha256_digest("", 0, d);
	hex(d, h);
	ok(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	   "SHA-256 of the empty string");
	snapshot_sha256_digest("abc", 3, d);
	hex(d, h);
	ok(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	   "SHA-256 of \"abc\"");
	snapshot_sha256_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, h);
	ok(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
	   "SHA-256 of the 56-byte FIPS message");
	memset(million, 'a', sizeof(million));
	snapshot_sha256_init(&c);
	for (size_t off = 0; off < sizeof(million); off += 777) /* odd pieces */
		snapshot_sha256_update(&c, million + off,
				       sizeof(million) - off < 777 ? sizeof(million) - off : 777);
	snapshot_sha256_final(&c, d);
	hex(d, h);
	ok(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	   "SHA-256 of a million 'a' fed in odd pieces");
}

static void test_memory_file(void)
{
	char dir[] = "/tmp/test_snapshot_state.XXXXXX", path[64], err[256];
	struct memory *mem = NULL;
	uint64_t written = 0;
	struct stat st;
	uint8_t *back;
	int fd, r;

	if (!mkdtemp(dir) || memory_new(64ull << 20, &mem) < 0) {
		ok(0, "set up a 64 MiB guest memory");
		return;
	}
	memset(mem->base + 4096, 0x5a, 4096);		    /* one page of data */
	memset(mem->base + (8 << 20), 0, 1 << 20);	    /* touched, but zero */
	memset(mem->base + (32 << 20), 0x77, 3 * 4096 + 1); /* three pages and a byte */
	snprintf(path, sizeof(path), "%s/mem", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	r = snapshot_memory_write(mem, -1, fd, &written);
	is(r, 0, "guest memory written to a file");
	is(written, 5 * 4096, "only the 5 pages holding data were written");
	fstat(fd, &st);
	is(st.st_size, 64 << 20, "the file has the guest's size");
	ok(st.st_blocks * 512 <= 64 * 1024, "and is sparse (%lld KiB on disk)",
	   (long long)st.st_blocks / 2);
	back = mmap(NULL, 64 << 20, PROT_READ, MAP_PRIVATE, fd, 0);
	ok(back != MAP_FAILED && !memcmp(back, mem->base, 64 << 20),
	   "its contents equal guest memory");
	if (back != MAP_FAILED)
		munmap(back, 64 << 20);
	close(fd);

	fd = snapshot_memory_open(path, 64ull << 20, err, sizeof(err));
	ok(fd >= 0, "the memory file opens for a 64 MiB guest");
	if (fd >= 0)
		close(fd);
	r = snapshot_memory_open(path, 128ull << 20, err, sizeof(err));
	ok(r == -EINVAL && strstr(err, "has 67108864 bytes, the snapshot's guest has 134217728"),
	   "a memory file of the wrong size is refused (%s)", err);
	r = snapshot_memory_open(dir, 64ull << 20, err, sizeof(err));
	ok(r == -EINVAL && strstr(err, "not a regular file"), "a directory is refused (%s)", err);
	snprintf(path, sizeof(path), "%s/none", dir);
	r = snapshot_memory_open(path, 64ull << 20, err, sizeof(err));
	ok(r == -ENOENT && strstr(err, "No such file"), "a missing file is refused (%s)", err);

	unlink(path);
	snprintf(path, sizeof(path), "%s/mem", dir);
	unlink(path);
	rmdir(dir);
	memory_free(mem);
}

static void test_slots(void)
{
	uint64_t s[2][3];

	is(snapshot_state_slots(1ull << 30, s), 1, "1 GiB of RAM is one slot");
	is(snapshot_state_slots(4ull << 30, s), 2, "4 GiB is two slots");
	ok(s[1][0] == 1ull << 32 && s[1][1] == (4ull << 30) - 0xc0000000ull &&
		   s[1][2] == 0xc0000000ull,
	   "the second starts at 4 GiB and at offset 3 GiB of the memory file");
}

int main(void)
{
	test_round_trip();
	test_bad_files();
	test_sha256();
	test_memory_file();
	test_slots();
	return done_testing();
}
