#!/usr/bin/env bash
# smp: every vCPU checks in at CPL3; vCPU 0 counts processors in the VMM's
# MP table and waits for all of them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

for n in 1 2 4; do
	run_guest smp --cpus "$n"
	is "$STATUS" 16 "smp with $n vCPU(s): status 16" || show_run
	has_line "$SERIAL" "cpus=$n" "smp with $n vCPU(s): every vCPU checked in, MP table lists $n"
done

done_testing
