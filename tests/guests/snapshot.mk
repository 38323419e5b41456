# The snapshot, restore and reset tests' guests (tests/guests/snapshot_*.c):
# built like the virtio guests of guests.mk, on the runtime and libgvirtio.

SNAPSHOT_GUEST_NAMES := snapshot_guest
SNAPSHOT_GUEST_ELFS  := $(patsubst %,$(GUEST_BUILD)/%.elf,$(SNAPSHOT_GUEST_NAMES))

guests:: $(SNAPSHOT_GUEST_ELFS)

$(SNAPSHOT_GUEST_ELFS): $(GUEST_BUILD)/%.elf: $(GUEST_BUILD)/obj/%.o $(GUEST_RT_OBJS) \
		$(GUEST_VIRTIO_LIB) $(GUEST_BUILD)/guest.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,-T,$(GUEST_BUILD)/guest.ld -o $@ $(GUEST_RT_OBJS) $< \
		$(GUEST_VIRTIO_LIB)
