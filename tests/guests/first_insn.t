#!/usr/bin/env bash
# first_insn: the cold-start benchmark guest exits with status 16 right
# away, on every vCPU count, without any output.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

for cpus in 1 2; do
	run_guest first_insn --cpus "$cpus" --mem 128M --serial none
	is "$STATUS" 16 "first_insn with $cpus vCPU(s): status 16" || show_run
	is "$SERIAL" "" "first_insn with $cpus vCPU(s): no output"
done

done_testing
