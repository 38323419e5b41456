# The "pci" variant of the guest kernel (images/kernel/build-variant.sh), for
# libvirt/QEMU pc guests: built (or found in the cache) before the end-to-end
# tests, which boot it under QEMU's TCG (tests/e2e/libvirt_tcg.t). About 4.5
# minutes cold on 2 cores. A failed build fails the target, naming why.
.PHONY: kernel-pci

kernel-pci: deps
	@images/kernel/build-variant.sh pci >/dev/null

test-e2e: kernel-pci
