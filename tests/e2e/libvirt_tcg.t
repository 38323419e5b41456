#!/usr/bin/env bash
# The in-guest agent over libvirt, end to end, on any host: QEMU's TCG
# (virt_type qemu) runs the whole guest in software, so it does not need a
# KVM that can run guest user space. A sandbox of the backend "libvirt"
# boots the pci kernel variant (images/kernel/build-variant.sh pci) with the
# minimal image on its virtio disk; the test program talks to the agent over
# the virtio-serial channel: hello, exec, a file written and read back, a
# snapshot (save + restore) and a reset, destroy. Starts virtlogd and
# libvirtd itself (unless they already run) and stops what it started.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(git -C "$top" rev-parse --show-toplevel)/build}
prog=$BUILD_DIR/tests/unit/test_libvirt_tcg

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

# shellcheck source=tests/e2e/libvirt_lib.sh
. "$top/tests/e2e/libvirt_lib.sh"
libvirt_test_require
[ -x "$prog" ] || skip "$prog not built"
[ -x "$BUILD_DIR/agentvm-agent" ] || skip "agentvm-agent not built"

kdir=$("$top/images/kernel/build-variant.sh" pci --dir 2>/dev/null) || kdir=
[ -n "$kdir" ] && [ -f "$kdir/bzImage" ] ||
	skip "the pci kernel variant is not built (images/kernel/build-variant.sh pci)"
img=$("$top/images/minimal/build.sh" --agent "$BUILD_DIR/agentvm-agent" 2>/dev/null | tail -n1) || img=
[ -n "$img" ] && [ -f "$img/rootfs.erofs" ] || skip "the minimal image cannot be built (make image-minimal)"

libvirt_test_begin agentvm-lvtcg- tcg

cp "$kdir/bzImage" "$work/bzImage"
cp "$img/rootfs.erofs" "$work/rootfs.erofs"
chmod 644 "$work"/*

# QEMU as root without relabelling: it writes the console and save files
# in this private work directory.
AGENTVM_LIBVIRT_TCG=$work AGENTVM_LIBVIRT_DISK=$work/rootfs.erofs \
	AGENTVM_LIBVIRT_URI=qemu:///system AGENTVM_LIBVIRT_VIRT_TYPE=qemu \
	AGENTVM_LIBVIRT_KERNEL=$work/bzImage AGENTVM_LIBVIRT_RUN_AS=+0:+0 \
	AGENTVM_LIBVIRT_SAVE_DIR=$work AGENTVM_LIBVIRT_CONSOLE_DIR=$work \
	timeout 600 "$prog" 2>&1 | sed 's/^agentvm: /# agentvm: /'
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	for f in "$work"/*.console; do
		[ -f "$f" ] && sed 's/^/# console: /' "$f" | tail -n 40
	done
fi
exit "$rc"
