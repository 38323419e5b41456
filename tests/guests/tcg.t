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
for f in "$GUESTS/pvh_shim.elf" "$GUESTS/hello.elf"; do
	if [[ ! -f $f ]]; then
		echo "Bail out! $f not built (make guests)"
		exit 1
	fi
done

# run_tcg NAME: sets STATUS, SERIAL and STDERR like run_guest.
run_tcg() {
	timeout -k 5 "$GUEST_TIMEOUT" "$QEMU" -M microvm -accel tcg -cpu max -m 128 -nodefaults \
		-no-user-config -nographic -display none -serial stdio -no-reboot \
		-kernel "$GUESTS/pvh_shim.elf" -device "loader,file=$GUESTS/$1.elf" \
		-device isa-debug-exit,iobase=0xf4,iosize=1 </dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr"
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

done_testing
