#!/usr/bin/env bash
# rng: the guest's CPL3 virtio-rng driver against agentvm-vmm's --rng:
# four requests at once (one a two-buffer chain) come back with bytes that
# are not all zero, not all equal, and cover most byte values.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need_vmm_option --rng
need_built "$GUESTS/rng.elf"

run_guest rng --rng
is "$STATUS" 16 "the guest exits 0" || show_run
like "$SERIAL" "^rng: [0-9]+ bytes in 4 requests, [0-9]+ distinct byte values$" "random bytes arrived"
bytes=$(sed -n 's/^rng: \([0-9]*\) bytes.*/\1/p' <<<"$SERIAL")
[[ -n $bytes && $bytes -ge 4096 ]]
ok $? "at least 4 KiB came back (${bytes:-0} bytes)"

run_guest rng --rng --cpus 2
is "$STATUS" 16 "with 2 vCPUs: the guest exits 0" || show_run

run_guest rng
is "$STATUS" 18 "no --rng: the guest says there is no device (exit 2)" || show_run
has_line "$SERIAL" "rng: no virtio-rng device (agentvm-vmm --rng)" "and prints why"

done_testing
