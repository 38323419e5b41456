# agentvm-mkinitramfs: newc cpio writer for initramfs images.
BIN_MKINITRAMFS := $(BUILD)/agentvm-mkinitramfs
ALL_TARGETS += $(BIN_MKINITRAMFS)
$(BIN_MKINITRAMFS): $(BUILD)/images/initramfs/mkinitramfs.o $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^
