# The real-kernel boot test's initramfs: a static test init as /init.
BOOT_INIT   := $(BUILD)/tests/boot/init
BOOT_INITRD := $(BUILD)/tests/boot/initrd.cpio
ALL_TARGETS += $(BOOT_INITRD)

$(BOOT_INIT): tests/boot/init.c
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -Werror -o $@ $<

$(BOOT_INITRD): $(BOOT_INIT) $(BIN_MKINITRAMFS)
	printf 'dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\nfile /init %s 0755 0 0\n' \
		$(abspath $(BOOT_INIT)) | $(BIN_MKINITRAMFS) -o $@
