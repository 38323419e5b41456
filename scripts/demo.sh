#!/usr/bin/env bash
# The demo behind `make demo` (which first runs `make deps all guests kernel`):
#   1. builds what is missing: the test guests that doctor's probes run, and
#      the minimal and base images (base is a Debian tree: a few minutes the
#      first time, cached afterwards);
#   2. boots a synthetic test guest in agentvm-vmm (and, on a hardware-KVM
#      host, the guest kernel with a test init), then runs `agentvm doctor`:
#      what this host can isolate with, and why;
#   3. runs a command in a fresh sandbox of the base image:
#        agentvm run --image base -- sh -c 'uname -a; python3 -c "print(6*7)"'
#      with --isolation auto, which says on stderr which isolation it took.
# BUILD_DIR (exported by make) says where the programs are; default build/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm

step() {
	if [ -t 1 ]; then
		printf '\n\033[1m== %s\033[0m\n' "$*"
	else
		printf '\n== %s\n' "$*"
	fi
}

for prog in agentvm agentvm-agent agentvm-vmm; do
	[ -x "$build/$prog" ] || {
		echo "demo: $build/$prog is not built (make all)" >&2
		exit 1
	}
done

step "building what is missing (guests, images)"
if [ ! -f "$build/guests/syscall_probe.elf" ] || [ ! -f "$build/guests/speed_probe.elf" ]; then
	make --no-print-directory -C "$top" BUILD="$(realpath --relative-to="$top" "$build" 2>/dev/null || echo build)" guests >/dev/null
fi
for img in minimal base; do
	dir=$("$top/images/$img/build.sh" --agent "$build/agentvm-agent" | tail -n1)
	echo "image $img: $dir"
done

step "agentvm-vmm: a synthetic test guest (serial console below)"
"$build/agentvm-vmm" --kernel "$build/guests/hello.elf" --mem 128M || true
kdir=$("$top/images/kernel/build.sh" --dir)
if [ -e /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && [ -f "$kdir/vmlinux" ]; then
	step "agentvm-vmm: the guest kernel with a test init"
	timeout 60 "$build/agentvm-vmm" --kernel "$kdir/vmlinux" --initrd "$build/tests/boot/initrd.cpio" \
		--mem 256M --cmdline "console=ttyS0 reboot=k panic=-1" || true
else
	echo "(this host's KVM emulates guest kernel code; the real kernel takes about 2 minutes"
	echo " to reach its init here: 'make test-boot' shows it)"
fi

step "agentvm doctor"
"$agentvm" doctor

step "agentvm run --image base -- sh -c 'uname -a; python3 -c \"print(6*7)\"'"
set +e
"$agentvm" run --image base -- sh -c 'uname -a; python3 -c "print(6*7)"'
rc=$?
set -e
echo "(exit status $rc)"
exit "$rc"
