#!/usr/bin/env bash
# A snapshot of the real guest kernel taken while it boots (once its
# virtio-mmio devices are registered, before their drivers probe), restored
# in a new process, finishes booting there: the restored VM prints no second
# banner (it goes on, it does not start again), its virtio-blk driver probes
# the drive, and it reaches "Run /init as init process".
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
boot_require
rpc=$build/guests/snapshot_rpc
[ -x "$rpc" ] || { echo "Bail out! $rpc is not built (make guests)"; exit 1; }
echo "1..5"
tmp=$(mktemp -d /tmp/agentvm-snapboot.XXXXXX)
pid=; pid2=
trap 'kill -9 $pid $pid2 2>/dev/null; rm -rf "$tmp"' EXIT
truncate -s 64M "$tmp/disk.img"
log=$tmp/boot.log
start=$(date +%s)
"$vmm" --kernel "$kdir/vmlinux" --initrd "$initrd" --mem 256M --cmdline "$cmdline_base" \
	--serial "file:$log" --api "$tmp/api" --drive "path=$tmp/disk.img" --rng \
	--vsock "cid=3,uds=$tmp/vsock" 2>"$tmp/stderr" &
pid=$!
deadline=$((start + boot_limit))
marker="Registering device virtio-mmio.2"
while kill -0 $pid 2>/dev/null && [ "$(date +%s)" -lt $deadline ] &&
	! grep -q "$marker" "$log" 2>/dev/null; do
	sleep 0.2
done
at=$(($(date +%s) - start))
if snap=$("$rpc" "$tmp/api" vm.snapshot "{\"state\":\"$tmp/st\",\"memory\":\"$tmp/mem\"}" 2>&1); then
	echo "ok 1 - snapshot of the booting kernel after ${at}s ($marker)"
else
	echo "not ok 1 - snapshot of the booting kernel after ${at}s: $snap"
	tail -n 20 "$log" | sed 's/^/# serial: /'
	sed 's/^/# stderr: /' "$tmp/stderr"
fi
"$rpc" "$tmp/api" vm.stop >/dev/null 2>&1
wait $pid 2>/dev/null
pid=
tail_line=$(tail -n 1 "$log")

start=$(date +%s)
"$vmm" --restore "$tmp/st" --serial "file:$tmp/restored.log" --drive "path=$tmp/disk.img" \
	--vsock "cid=3,uds=$tmp/vsock2" 2>"$tmp/stderr2" &
pid2=$!
deadline=$((start + boot_limit))
found=0
while kill -0 $pid2 2>/dev/null && [ "$(date +%s)" -lt $deadline ]; do
	if grep -q "Run /init as init process" "$tmp/restored.log" 2>/dev/null; then
		found=1
		break
	fi
	sleep 0.5
done
secs=$(($(date +%s) - start))
sleep 1
if [ $found = 1 ]; then
	echo "ok 2 - the restored kernel reached 'Run /init as init process' ${secs}s after the restore"
else
	echo "not ok 2 - the restored kernel reached 'Run /init as init process' (${secs}s)"
	tail -n 30 "$tmp/restored.log" | sed 's/^/# restored serial: /'
	sed 's/^/# stderr: /' "$tmp/stderr2"
fi
if ! grep -q "Linux version" "$tmp/restored.log"; then
	echo "ok 3 - it went on from the snapshot: no second banner"
else
	echo "not ok 3 - it went on from the snapshot: no second banner"
fi
if grep -qE "virtio_blk virtio[0-9]+: \[vda\] 131072 512-byte logical blocks" "$tmp/restored.log"; then
	echo "ok 4 - the restored kernel's virtio-blk driver found the drive"
else
	echo "not ok 4 - the restored kernel's virtio-blk driver found the drive"
	grep -i virtio "$tmp/restored.log" | sed 's/^/# /'
fi
# Kernel timestamps go on from where the original left off.
ts() { sed -n 's/^\[ *\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p' <<<"$1" | head -n 1; }
first=$(grep -m1 '^\[' "$tmp/restored.log")
a=$(ts "$tail_line")
b=$(ts "$first")
if [ -n "$a" ] && [ -n "$b" ] && [ "$((10#$b))" -ge "$((10#$a))" ]; then
	echo "ok 5 - kernel time goes on: '$tail_line' before, '$first' after"
else
	echo "not ok 5 - kernel time goes on: '$tail_line' before, '$first' after"
fi
