#!/usr/bin/env bash
# The real guest kernel finds our virtio devices: booted with a 64 MiB drive,
# virtio-rng and vsock, its virtio-blk driver reports the disk, and every
# driver (virtio_blk, virtio_rng, vmw_vsock_virtio_transport) completes the
# virtio handshake: the VMM's control socket reports DRIVER_OK for each.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
boot_require
rpc=$build/guests/snapshot_rpc
[ -x "$rpc" ] || { echo "Bail out! $rpc is not built (make guests)"; exit 1; }
echo "1..6"
tmp=$(mktemp -d /tmp/agentvm-devboot.XXXXXX)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
log=$tmp/serial.log
truncate -s 64M "$tmp/disk.img"
start=$(date +%s)
"$vmm" --kernel "$kdir/vmlinux" --initrd "$initrd" --mem 256M --cmdline "$cmdline_base" \
	--serial "file:$log" --api "$tmp/api" --drive "path=$tmp/disk.img" --rng \
	--vsock "cid=3,uds=$tmp/vsock" 2>"$tmp/stderr" &
pid=$!
deadline=$((start + boot_limit))
info=
# The devices' state, as late as possible: a kvm_pvm host ends the guest
# shortly after "Run /init".
while kill -0 $pid 2>/dev/null && [ "$(date +%s)" -lt $deadline ]; do
	now=$("$rpc" "$tmp/api" vm.info 2>/dev/null) && info=$now
	grep -q "Run /init as init process" "$log" 2>/dev/null && break
	sleep 0.5
done
secs=$(($(date +%s) - start))
if grep -q "Run /init as init process" "$log"; then
	echo "ok 1 - the kernel reached 'Run /init as init process' in ${secs}s with the devices attached"
else
	echo "not ok 1 - the kernel reached 'Run /init as init process' (after ${secs}s)"
	tail -n 20 "$log" | sed 's/^/# serial: /'
	sed 's/^/# stderr: /' "$tmp/stderr"
fi
if grep -q "virtio_mmio.device=512@0xd0000000:5 virtio_mmio.device=512@0xd0001000:6 virtio_mmio.device=512@0xd0002000:7" "$log"; then
	echo "ok 2 - the command line announces the three devices"
else
	echo "not ok 2 - the command line announces the three devices"
	grep "Command line" "$log" | sed 's/^/# /'
fi
if grep -qE "virtio_blk virtio[0-9]+: \[vda\] 131072 512-byte logical blocks" "$log"; then
	echo "ok 3 - $(grep -oE "virtio_blk virtio[0-9]+: \[vda\] 131072 512-byte logical blocks" "$log")"
else
	echo "not ok 3 - virtio_blk reports [vda] 131072 512-byte logical blocks"
	grep -i virtio "$log" | sed 's/^/# /'
fi
for dev in vsock rng blk0; do
	n=$(( $(echo "$dev" | sed 's/vsock/4/; s/rng/5/; s/blk0/6/') ))
	if printf '%s' "$info" | grep -q "\"name\":\"$dev\",[^}]*\"driver_ok\":true"; then
		echo "ok $n - the guest's $dev driver set DRIVER_OK"
	else
		echo "not ok $n - the guest's $dev driver set DRIVER_OK"
		echo "# vm.info: $info"
	fi
done
