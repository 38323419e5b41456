# Synthetic test guests: freestanding ELF64 programs that agentvm-vmm starts
# on every vCPU in 64-bit mode (see tests/guests/rt/start.S). Built with
# their own flags: nothing from CFLAGS/LDFLAGS (sanitizers, -pthread, PIE)
# may reach a guest.

GUEST_DIR     := tests/guests
GUEST_BUILD   := $(BUILD)/guests
GUEST_CFLAGS  := -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -mcmodel=small \
                 -mno-red-zone -mgeneral-regs-only -fno-stack-protector \
                 -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
                 $(WARNINGS) -I$(GUEST_DIR)/rt -I$(GUEST_DIR)/virtio -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=4096 \
                 -Wl,-z,noexecstack

# Guests built on the runtime (one .c each), those that also drive virtio
# devices (virtio/), and those without the runtime (one .S).
GUEST_RT_NAMES     := hello smp syscall_probe speed_probe idle reboot fault
GUEST_VIRTIO_NAMES := vsock blk rng virtio_bad
GUEST_BARE_NAMES   := first_insn triple_fault
GUEST_RT_OBJS      := $(GUEST_BUILD)/rt/start.o $(GUEST_BUILD)/rt/rt_kernel.o $(GUEST_BUILD)/rt/rt.o
GUEST_VIRTIO_LIB   := $(GUEST_BUILD)/virtio/libgvirtio.a
GUEST_VIRTIO_OBJS  := $(patsubst $(GUEST_DIR)/virtio/%.c,$(GUEST_BUILD)/virtio/%.o, \
                      $(wildcard $(GUEST_DIR)/virtio/*.c))
GUEST_ELFS         := $(patsubst %,$(GUEST_BUILD)/%.elf,$(GUEST_RT_NAMES) $(GUEST_VIRTIO_NAMES) \
                      $(GUEST_BARE_NAMES)) $(GUEST_BUILD)/pvh_shim.elf

# Host-side helpers of the tests and benchmarks (host/*.c): normal programs,
# one per source file.
GUEST_HOST_BINS    := $(patsubst $(GUEST_DIR)/host/%.c,$(GUEST_BUILD)/%,$(wildcard $(GUEST_DIR)/host/*.c))

guests:: $(GUEST_ELFS) $(GUEST_HOST_BINS)

$(GUEST_HOST_BINS): $(GUEST_BUILD)/%: $(BUILD)/tests/guests/host/%.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^

$(GUEST_BUILD)/rt/%.o: $(GUEST_DIR)/rt/%.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_BUILD)/rt/%.o: $(GUEST_DIR)/rt/%.S
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_BUILD)/virtio/%.o: $(GUEST_DIR)/virtio/%.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_BUILD)/obj/%.o: $(GUEST_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_BUILD)/obj/%.o: $(GUEST_DIR)/%.S
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

# Linker scripts go through cpp for layout.h; -undef keeps "linux" etc. alone.
$(GUEST_BUILD)/%.ld: $(GUEST_DIR)/rt/%.lds.S $(GUEST_DIR)/rt/layout.h
	@mkdir -p $(@D)
	$(CC) -E -P -undef -x c -I$(GUEST_DIR)/rt -o $@ $<

$(patsubst %,$(GUEST_BUILD)/%.elf,$(GUEST_RT_NAMES)): $(GUEST_BUILD)/%.elf: \
		$(GUEST_BUILD)/obj/%.o $(GUEST_RT_OBJS) $(GUEST_BUILD)/guest.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,-T,$(GUEST_BUILD)/guest.ld -o $@ $(GUEST_RT_OBJS) $<

$(GUEST_VIRTIO_LIB): $(GUEST_VIRTIO_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(patsubst %,$(GUEST_BUILD)/%.elf,$(GUEST_VIRTIO_NAMES)): $(GUEST_BUILD)/%.elf: \
		$(GUEST_BUILD)/obj/%.o $(GUEST_RT_OBJS) $(GUEST_VIRTIO_LIB) $(GUEST_BUILD)/guest.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,-T,$(GUEST_BUILD)/guest.ld -o $@ $(GUEST_RT_OBJS) $< \
		$(GUEST_VIRTIO_LIB)

$(patsubst %,$(GUEST_BUILD)/%.elf,$(GUEST_BARE_NAMES)): $(GUEST_BUILD)/%.elf: \
		$(GUEST_BUILD)/obj/%.o $(GUEST_BUILD)/bare.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,-T,$(GUEST_BUILD)/bare.ld -o $@ $<

# Not a guest: boots the guests in QEMU (tests/guests/tcg.t).
$(GUEST_BUILD)/pvh_shim.elf: $(GUEST_BUILD)/obj/pvh_shim.o $(GUEST_BUILD)/shim.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,-T,$(GUEST_BUILD)/shim.ld -o $@ $<

.PHONY: guests
