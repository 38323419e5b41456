#!/usr/bin/env bash
# idle: spins at CPL3 until killed. The VMM must keep running, and a guest
# that touched none of its 128 MiB must not cost 128 MiB of host memory.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

"$VMM" --kernel "$GUESTS/idle.elf" --mem 128M --serial none </dev/null >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
pid=$!
sleep 0.5
kill -0 "$pid" 2>/dev/null
ok $? "the VMM is still running the idle guest after 500 ms"
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
echo "# VMM peak RSS: ${hwm:-?} KiB"
[[ -n $hwm && $hwm -lt 65536 ]]; ok $? "peak RSS below 64 MiB with an untouched 128 MiB guest (${hwm:-?} KiB)"
kill -KILL "$pid" 2>/dev/null
{ wait "$pid"; } 2>/dev/null
is "$?" 137 "the VMM dies by SIGKILL, as the benchmark expects"

done_testing
