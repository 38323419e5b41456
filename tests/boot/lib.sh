# Shared by the real-kernel boot tests: find the programs and the kernel,
# and boot it with the serial log in a file.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-$top/build}
vmm=$build/agentvm-vmm
initrd=$build/tests/boot/initrd.cpio
kdir=$("$top/images/kernel/build.sh" --dir)
cmdline_base="console=ttyS0 reboot=k panic=-1 no_timer_check 8250.nr_uarts=1"
# On the paravirtual nested KVM of these build machines guest kernel code is
# emulated (~100 s to reach init) and guest user space cannot run at all.
if [ -d /sys/module/kvm_pvm ]; then
	pvm=1
	boot_limit=${AGENTVM_BOOT_TIMEOUT:-900}
else
	pvm=0
	boot_limit=${AGENTVM_BOOT_TIMEOUT:-60}
fi

boot_require() {
	[ -e /dev/kvm ] || { echo "1..0 # SKIP no /dev/kvm on this host"; exit 0; }
	[ -x "$vmm" ] || { echo "Bail out! $vmm is not built (make all)"; exit 1; }
	[ -f "$initrd" ] || { echo "Bail out! $initrd is not built (make all)"; exit 1; }
	[ -f "$kdir/vmlinux" ] || { echo "Bail out! the guest kernel is not built (make kernel)"; exit 1; }
}

# boot_kernel LOG KERNEL [VMM ARGS...]: boots KERNEL with the test initramfs.
# Returns when the VMM exits, or shortly after the kernel hands over to init
# on a host whose guest user space cannot run. Sets boot_rc (the VMM's exit
# status, or "killed") and boot_secs (seconds until "Run /init", or until exit).
boot_kernel() {
	local log=$1 kernel=$2
	shift 2
	local start end pid deadline found=0
	start=$(date +%s.%N)
	"$vmm" --kernel "$kernel" --initrd "$initrd" --mem 256M --cmdline "$cmdline_base" \
		--serial "file:$log" "$@" 2>"$log.stderr" &
	pid=$!
	deadline=$(($(date +%s) + boot_limit))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $found = 0 ] && grep -q "Run /init as init process" "$log" 2>/dev/null; then
			found=1
			end=$(date +%s.%N)
			# Let the guest print what happens next, then stop it if it
			# cannot finish by itself here.
			[ $pvm = 1 ] && deadline=$(($(date +%s) + 20))
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill -9 "$pid" 2>/dev/null
			break
		fi
		sleep 0.5
	done
	if wait "$pid" 2>/dev/null; then boot_rc=0; else boot_rc=$?; fi
	[ "$boot_rc" = 137 ] && boot_rc=killed
	[ -n "${end:-}" ] || end=$(date +%s.%N)
	boot_secs=$(echo "$end - $start" | bc)
}
