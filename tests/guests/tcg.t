#!/usr/bin/env bash
# The guests on a CPU that is neither kvm_pvm nor agentvm-vmm: QEMU's TCG
# emulator, booted through pvh_shim. This checks the guests' own logic,
# above all the path this host cannot take: SYSCALL from CPL3 reaching CPL0,
# as on a hardware-KVM host. QEMU's isa-debug-exit exits with (v << 1) | 1.
GUEST_NO_VMM=1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
if ! command -v "$QEMU" >/dev/null; then
	echo "1..0 # SKIP $QEMU not installed"
	exit 0
fi
for f in "$GUESTS/pvh_shim.elf" "$GUESTS/hello.elf" "$GUESTS/gpattern"; do
	if [[ ! -f $f ]]; then
		echo "Bail out! $f not built (make guests)"
		exit 1
	fi
done

# run_tcg NAME [QEMU OPTIONS...]: sets STATUS, SERIAL and STDERR like run_guest.
run_tcg() {
	local name=$1
	shift
	timeout -k 5 "$GUEST_TIMEOUT" "$QEMU" -M microvm -accel tcg -cpu max -m 128 -nodefaults \
		-no-user-config -nographic -display none -serial stdio -no-reboot \
		-kernel "$GUESTS/pvh_shim.elf" -device "loader,file=$GUESTS/$name.elf" \
		-device isa-debug-exit,iobase=0xf4,iosize=1 "$@" </dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr"
	STATUS=$?
	SERIAL=$(tr -d '\r' <"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
}

run_tcg hello
is "$STATUS" 1 "hello: test-exit 0" || show_run
has_line "$SERIAL" "hello from a synthetic guest" "hello: its line on COM1"

run_tcg syscall_probe
is "$STATUS" 1 "syscall_probe: test-exit 0, SYSCALL delivered" || show_run
has_line "$SERIAL" "syscall_probe: delivered (SYSCALL reached CPL0)" "syscall_probe: the CPL0 side printed its line"

run_tcg speed_probe
is "$STATUS" 1 "speed_probe: test-exit 0" || show_run
ratio=$(sed -n 's/^cpl0_cycles=[0-9.]* cpl3_cycles=[0-9.]* ratio=\([0-9]*\)\.[0-9][0-9]$/\1/p' <<<"$SERIAL")
[[ -n $ratio && $ratio -lt 100 ]]
ok $? "speed_probe: CPL0 not emulated one instruction at a time (ratio ${ratio:-?})" || show_run

run_tcg fault
is "$STATUS" 125 "fault: the CPL3 write to the CPL0 page faults (test-exit 62)" || show_run
like "$SERIAL" "guest: unexpected exception #PF vector=0xe error=0x7 .* cr2=0x200000" "fault: the report"

run_tcg first_insn
is "$STATUS" 1 "first_insn: test-exit 0" || show_run

run_tcg triple_fault
is "$STATUS" 0 "triple_fault: QEMU sees the shutdown (-no-reboot)" || show_run

# The virtio drivers against QEMU's own virtio-mmio devices (modern mode),
# an implementation independent of agentvm-vmm's.
VIRTIO=(-global virtio-mmio.force-legacy=false)
run_tcg rng "${VIRTIO[@]}" -device virtio-rng-device
is "$STATUS" 1 "rng on QEMU's virtio-rng: test-exit 0" || show_run
like "$SERIAL" "rng: [0-9]+ bytes in 4 requests" "rng: random bytes arrived"

truncate -s 1M "$TEST_TMP/rw.img"
"$GUESTS/gpattern" fill 2 1048576 >"$TEST_TMP/ro.img"
run_tcg blk "${VIRTIO[@]}" \
	-drive "id=ro,file=$TEST_TMP/ro.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=ro,serial=ro-disk \
	-drive "id=rw,file=$TEST_TMP/rw.img,format=raw,if=none" -device virtio-blk-device,drive=rw,serial=rw-disk
is "$STATUS" 1 "blk on QEMU's virtio-blk: test-exit 0" || show_run
like "$SERIAL" "blk0: .* ro=0 id=rw-disk" "blk: GET_ID returns QEMU's serial"
has_line "$SERIAL" "blk0: wrote, flushed and read back 256 sectors ok" "blk: the pattern reads back"
like "$SERIAL" "blk1: write refused: (IOERR|UNSUPP)" "blk: the read-only drive refuses writes"
is "$(head -c 131072 "$TEST_TMP/rw.img" | "$GUESTS/gpattern" check 1 131072)" ok "blk: the pattern is in the image"

# QEMU also marks a device NEEDS_RESET for each hostile chain. (It does not
# check ring addresses when a queue is enabled, so the last attack, which
# agentvm-vmm refuses at once, is not contained there and the guest fails.)
run_tcg virtio_bad "${VIRTIO[@]}" -device virtio-rng-device \
	-drive "id=rw,file=$TEST_TMP/rw.img,format=raw,if=none" -device virtio-blk-device,drive=rw
for a in "descriptor loop" "buffer outside guest memory" "next index out of range" \
	"head index out of range" "available index 1000 ahead" "indirect descriptor not negotiated"; do
	has_line "$SERIAL" "virtio_bad: $a on blk: NEEDS_RESET, rng still works, blk works again after a reset" \
		"virtio_bad on QEMU: $a contained"
done

done_testing
