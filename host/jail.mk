# agentvm-vmm-static: the VMM the jail runs (host/jail.c). The jail's root
# holds no libraries, so this copy is linked statically, with the libraries
# the VMM itself uses (LDLIBS_ALL also names the host programs' libraries,
# some of which have no static archive). Sanitizer runtimes cannot be linked
# statically: sanitized builds skip it.
BIN_VMM_STATIC  := $(BUILD)/agentvm-vmm-static
VMM_STATIC_LIBS := -ljson-c -lfdt -lseccomp -lm

$(BIN_VMM_STATIC): $(BUILD)/vmm/main.o $(LIBVMM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -static -o $@ $^ $(VMM_STATIC_LIBS)

ALL_TARGETS += $(if $(SANITIZE),,$(BIN_VMM_STATIC))
