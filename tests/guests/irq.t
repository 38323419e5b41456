#!/usr/bin/env bash
# irq: the runtime's interrupt primitives (rt_irq_init, rt_irq_route,
# rt_irq_timer, rt_wait_irq; tests/guests/irq.c) under agentvm-vmm, and
# under QEMU's TCG when it is installed (another xAPIC and I/O APIC, and a
# CPU that runs CPL0 natively). Shows what a wait costs when its interrupt
# is already pending: the CPL0 path, emulated on kvm_pvm.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need_built "$GUESTS/irq.elf"

run_guest irq
is "$STATUS" 16 "agentvm-vmm: the guest exits 0" || show_run
has_line "$SERIAL" "irq: ok" "agentvm-vmm: timer, pending and outside-the-wait interrupts all end waits"
cost=$(grep '^irq: pending_wait_ns=' <<<"$SERIAL")
ok $? "agentvm-vmm: the costs are reported"
echo "# agentvm-vmm: ${cost#irq: }"

QEMU=${QEMU:-qemu-system-x86_64}
if command -v "$QEMU" >/dev/null && [[ -f $GUESTS/pvh_shim.elf ]]; then
	timeout -k 5 "$GUEST_TIMEOUT" "$QEMU" -M microvm -accel tcg -cpu max -m 128 -nodefaults \
		-no-user-config -nographic -display none -serial stdio -no-reboot \
		-kernel "$GUESTS/pvh_shim.elf" -device "loader,file=$GUESTS/irq.elf" \
		-device isa-debug-exit,iobase=0xf4,iosize=1 </dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr"
	STATUS=$?
	SERIAL=$(tr -d '\r' <"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
	is "$STATUS" 1 "QEMU TCG: the guest exits 0" || show_run
	has_line "$SERIAL" "irq: ok" "QEMU TCG: the same checks pass"
	echo "# QEMU TCG: $(sed -n 's/^irq: \(pending_wait_ns=.*\)/\1/p' <<<"$SERIAL")"
else
	echo "# $QEMU not installed: the TCG run is skipped"
fi

done_testing
