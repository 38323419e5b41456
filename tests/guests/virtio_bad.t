#!/usr/bin/env bash
# virtio_bad: a guest posts hostile descriptor chains and rings (a loop,
# buffers outside guest memory or wrapping around, indexes out of range,
# an available index far ahead, an indirect descriptor it never
# negotiated, rings outside guest memory). Each time the attacked device
# must set NEEDS_RESET and stop, the VMM must keep running, the other
# device must keep working, and a reset must bring the victim back.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need_vmm_option --drive
need_vmm_option --rng
need_built "$GUESTS/virtio_bad.elf"

img=$TEST_TMP/disk.img
truncate -s 64K "$img"

attacks=("descriptor loop" "buffer outside guest memory" "buffer wrapping the address space"
	"next index out of range" "head index out of range" "available index 1000 ahead"
	"indirect descriptor not negotiated" "rings outside guest memory")

run_guest virtio_bad --drive "path=$img" --rng
is "$STATUS" 16 "the guest exits 0: every attack was contained, the VMM kept running" || show_run
for a in "${attacks[@]}"; do
	has_line "$SERIAL" "virtio_bad: $a on blk: NEEDS_RESET, rng still works, blk works again after a reset" \
		"$a on blk: contained"
done
for a in "descriptor loop" "buffer outside guest memory"; do
	has_line "$SERIAL" "virtio_bad: $a on rng: NEEDS_RESET, blk still works, rng works again after a reset" \
		"$a on rng: contained"
done
has_line "$SERIAL" "virtio_bad: 10 attacks contained" "10 attacks in all"
warnings=$(grep -c 'needs reset' <<<"$STDERR")
[[ $warnings -ge 1 && $warnings -le 2 ]]
ok $? "the VMM logs the breakage, not once per attack ($warnings warning lines)" || show_run

done_testing
