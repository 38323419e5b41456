# agentvm-vmm-static: the VMM the jail runs (host/jail.c). The jail's root
# holds no libraries, so this copy is linked statically. Sanitizer runtimes
# cannot be linked statically: sanitized builds skip it.
BIN_VMM_STATIC := $(BUILD)/agentvm-vmm-static

$(BIN_VMM_STATIC): $(BUILD)/vmm/main.o $(LIBVMM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -static -o $@ $^ $(LDLIBS_ALL)

ALL_TARGETS += $(if $(SANITIZE),,$(BIN_VMM_STATIC))
