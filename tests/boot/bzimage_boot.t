#!/usr/bin/env bash
# The real guest kernel as a bzImage, entered at its 64-bit entry point (the
# LZ4 decompressor runs in the guest first), reaches "Run /init as init process".
set -u
. "$(dirname "$0")/lib.sh"
boot_require
[ -f "$kdir/bzImage" ] || { echo "Bail out! $kdir/bzImage is missing (make kernel)"; exit 1; }
echo "1..2"
log=$(mktemp /tmp/agentvm-boot-bz.XXXXXX)
boot_kernel "$log" "$kdir/bzImage" --cpus 1

if grep -q "Run /init as init process" "$log"; then
	echo "ok 1 - bzImage (64-bit entry) reached 'Run /init as init process' in ${boot_secs}s"
else
	echo "not ok 1 - bzImage (64-bit entry) reached 'Run /init as init process' (vmm status $boot_rc)"
	tail -n 30 "$log" | sed 's/^/# serial: /'
	sed 's/^/# stderr: /' "$log.stderr"
fi
if [ $pvm = 1 ]; then
	echo "ok 2 # SKIP guest user space cannot run on this host's kvm_pvm (SYSCALL is not delivered to the guest kernel)"
elif grep -q "agentvm-test-init: user space is running" "$log" && [ "$boot_rc" = 0 ]; then
	echo "ok 2 - the test init ran and powered the VM off (status 0)"
else
	echo "not ok 2 - the test init ran and powered the VM off (status $boot_rc)"
	tail -n 20 "$log" | sed 's/^/# serial: /'
fi
rm -f "$log" "$log.stderr"
