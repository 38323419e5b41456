# The libvirt backend links libvirt's C library when its headers are installed
# (Debian: libvirt-dev); without them host/backend_libvirt.c builds a stub that
# says so, and nothing links -lvirt.
ifneq ($(wildcard /usr/include/libvirt/libvirt.h),)
LDLIBS_ALL += -lvirt
endif


# tests/e2e/libvirt_domain.t starts libvirtd and runs this TAP program.
test-e2e: $(BUILD)/tests/unit/test_libvirt_live
# tests/e2e/libvirt_tcg.t runs this one against a TCG domain.
test-e2e: $(BUILD)/tests/unit/test_libvirt_tcg
