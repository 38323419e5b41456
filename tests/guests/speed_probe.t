#!/usr/bin/env bash
# speed_probe: a CPL0 loop and a CPL3 loop timed with the TSC.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

run_guest speed_probe
is "$STATUS" 16 "speed_probe exits with status 16" || show_run
cycles=$(grep -E '^cpl0_cycles=[0-9]+\.[0-9]{2} cpl3_cycles=[0-9]+\.[0-9]{2} ratio=[0-9]+\.[0-9]{2}$' <<<"$SERIAL")
[[ -n $cycles ]]; ok $? "prints cpl0_cycles, cpl3_cycles and their ratio" || show_run
echo "# $cycles"
if grep -q '^tsc_khz=' <<<"$SERIAL"; then
	khz=$(sed -n 's/^tsc_khz=\([0-9]*\) source=.*/\1/p' <<<"$SERIAL")
	[[ $khz -ge 100000 && $khz -le 20000000 ]]; ok $? "a plausible TSC rate: $khz kHz"
	like "$SERIAL" $'(^|\n)cpl0_ns_per_iter=[0-9]+\\.[0-9]{2} cpl3_ns_per_iter=[0-9]+\\.[0-9]{2}(\n|$)' \
		"prints nanoseconds per iteration"
fi
ratio=$(sed -n 's/.* ratio=\([0-9]*\)\..*/\1/p' <<<"$cycles")
if [[ -e /sys/module/kvm_pvm ]]; then
	# CPL0 is emulated one instruction at a time there: ~4000x slower.
	[[ ${ratio:-0} -ge 100 ]]; ok $? "kvm_pvm: CPL0 at least 100x slower than CPL3 (ratio ${ratio:-?})"
else
	[[ -n $ratio ]]; ok $? "ratio measured (${ratio:-?})"
fi

done_testing
