#!/usr/bin/env bash
# Disk quota of a container sandbox: under --disk 8M, writing a file fills
# the writable layer and fails with ENOSPC after at most 8 MiB; removing the
# file frees the space again; the host's disk is not touched.
# shellcheck source-path=SCRIPTDIR source=quota_lib.sh
source "$(dirname "$0")/quota_lib.sh"

out=$(inside --disk 8M -- sh -c 'qprobe fill /big; rm /big; echo again >/after && cat /after' 2>&1)
status=$?
like "$out" "fill: ENOSPC \(No space left on device\) after [0-9]+ MiB" "writing past 8 MiB fails with ENOSPC"
mib=$(sed -n 's/.* after \([0-9]*\) MiB.*/\1/p' <<<"$out")
[ -n "$mib" ] && [ "$mib" -le 8 ] && [ "$mib" -ge 4 ]
ok $? "after ${mib:-?} MiB (the layer is 8 MiB)"
grep -qx again <<<"$out"
ok $? "removing the file frees the space: the next write works"
is "$status" 0 "the run ends normally"

out=$(inside --disk 8M -- sh -c 'qprobe fill /tmp/big' 2>&1)
like "$out" "fill: ENOSPC" "/tmp is inside the same 8 MiB"
mib=$(inside --disk 64M -- sh -c 'qprobe fill /big' 2>&1 | sed -n 's/.* after \([0-9]*\) MiB.*/\1/p')
[ -n "$mib" ] && [ "$mib" -gt 32 ] && [ "$mib" -le 64 ]
ok $? "under --disk 64M the same write goes further, and stops by 64 MiB (${mib:-?} MiB)"

done_testing
