#!/usr/bin/env bash
# The libvirt backend against a real libvirtd and QEMU: our domain XML
# started, inspected (info, live cputune/memtune), saved, restored and
# destroyed; placement across two "hosts" (two connections to one libvirtd,
# one through a relay that is then killed). Starts virtlogd and libvirtd
# itself (unless they already run; see libvirt_lib.sh) and stops what it
# started. The domains are KVM ones booting our real kernel; on these
# paravirtual KVM hosts it never reaches user space, so the in-guest agent in
# a KVM domain is reported as a skip here. The agent over libvirt is tested
# for real under QEMU's TCG by tests/e2e/libvirt_tcg.t.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(git -C "$top" rev-parse --show-toplevel)/build}
prog=$BUILD_DIR/tests/unit/test_libvirt_live

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

# shellcheck source=tests/e2e/libvirt_lib.sh
. "$top/tests/e2e/libvirt_lib.sh"
libvirt_test_require
[ -e /dev/kvm ] || skip "no /dev/kvm"
[ -x "$prog" ] || skip "$prog not built (libvirt-dev missing?)"

kdir=$("$top/images/kernel/build.sh" --dir 2>/dev/null) || kdir=
[ -n "$kdir" ] && [ -f "$kdir/vmlinux" ] || skip "the guest kernel is not built (make kernel)"

libvirt_test_begin agentvm-lvtest- libvirt

# QEMU runs as libvirt's user unless /dev/kvm is root's alone (no udev here).
run_as=
[ "$(stat -c %a /dev/kvm)" = 600 ] && run_as=+0:+0

cp "$kdir/vmlinux" "$work/vmlinux"
disk=
img=$("$top/images/minimal/build.sh" --dir --agent "$BUILD_DIR/agentvm-agent" 2>/dev/null) || img=
if [ -n "$img" ] && [ -f "$img/rootfs.erofs" ]; then
	cp "$img/rootfs.erofs" "$work/rootfs.erofs"
	disk=$work/rootfs.erofs
fi
chmod 644 "$work"/*

# The live program prints TAP lines 1..N; the agent check is appended as N+1.
out=$(AGENTVM_LIBVIRT_LIVE=$work AGENTVM_LIBVIRT_KERNEL=$work/vmlinux \
	AGENTVM_LIBVIRT_DISK=$disk AGENTVM_LIBVIRT_SOCK=/run/libvirt/libvirt-sock \
	AGENTVM_LIBVIRT_RUN_AS=$run_as timeout 900 "$prog" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^1\.\.' | sed 's/^agentvm: /# agentvm: /'
n=$(printf '%s\n' "$out" | grep -cE '^(not )?ok ')
n=$((n + 1))
# The agent inside a libvirt guest needs guest user space: the doctor's
# SYSCALL probe says whether this host's KVM runs it.
verdict=$("$BUILD_DIR/agentvm" doctor 2>/dev/null | grep '^libvirt ')
if printf '%s' "$verdict" | grep -q available && ! printf '%s' "$verdict" | grep -q unavailable; then
	echo "ok $n # SKIP the agent in a KVM domain is not automated here (libvirt_tcg.t runs it under TCG)"
else
	echo "ok $n # SKIP the agent in a KVM domain needs a hardware-KVM host (guest user space cannot run here: SYSCALL probe); libvirt_tcg.t runs it under TCG"
fi
echo "1..$n"
[ $rc -eq 0 ]
