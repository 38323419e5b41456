#!/usr/bin/env bash
# The real guest kernel (vmlinux through the PVH entry) boots in agentvm-vmm,
# reaches "Run /init as init process", and — where guest user space can run —
# the test init runs and powers the VM off.
set -u
. "$(dirname "$0")/lib.sh"
boot_require
echo "1..4"
log=$(mktemp /tmp/agentvm-boot.XXXXXX)
boot_kernel "$log" "$kdir/vmlinux" --cpus 1

if grep -q "Run /init as init process" "$log"; then
	echo "ok 1 - vmlinux (PVH) reached 'Run /init as init process' in ${boot_secs}s"
else
	echo "not ok 1 - vmlinux (PVH) reached 'Run /init as init process' (vmm status $boot_rc)"
	tail -n 30 "$log" | sed 's/^/# serial: /'
	sed 's/^/# stderr: /' "$log.stderr"
fi
if grep -q "Linux version 6.1" "$log" && grep -q "Command line:.*console=ttyS0" "$log"; then
	echo "ok 2 - the kernel printed its banner and our command line on our serial port"
else
	echo "not ok 2 - the kernel printed its banner and our command line on our serial port"
fi
if [ $pvm = 1 ]; then
	if grep -q "kvm_pvm" "$log.stderr" && grep -q "noxsave" "$log"; then
		echo "ok 3 - the VMM applied and announced the kvm_pvm kernel workarounds"
	else
		echo "not ok 3 - the VMM applied and announced the kvm_pvm kernel workarounds"
		sed 's/^/# stderr: /' "$log.stderr"
	fi
	echo "ok 4 # SKIP guest user space cannot run on this host's kvm_pvm (SYSCALL is not delivered to the guest kernel)"
else
	if ! grep -q "noxsave" "$log"; then
		echo "ok 3 - no kvm_pvm workarounds on a hardware-KVM host"
	else
		echo "not ok 3 - no kvm_pvm workarounds on a hardware-KVM host"
	fi
	if grep -q "agentvm-test-init: user space is running" "$log" && [ "$boot_rc" = 0 ]; then
		echo "ok 4 - the test init ran and powered the VM off (status 0)"
	else
		echo "not ok 4 - the test init ran and powered the VM off (status $boot_rc)"
		tail -n 20 "$log" | sed 's/^/# serial: /'
	fi
fi
rm -f "$log" "$log.stderr"
