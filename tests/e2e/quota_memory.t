#!/usr/bin/env bash
# Memory limit of a container sandbox: a process allocating 256 MiB under
# --mem 64M is killed by the OOM killer of the sandbox's cgroup (SIGKILL,
# counted in the cgroup), the rest of the sandbox survives and goes on, and
# what the sandbox holds never passes the limit; a command that is itself
# the hog ends the run with 137 (128 + SIGKILL).
# shellcheck source-path=SCRIPTDIR source=quota_lib.sh
source "$(dirname "$0")/quota_lib.sh"

name=qmem-$$
limit=$((64 << 20))
inside --name "$name" --mem 64M -- sh -c 'qprobe alloc 256; echo "alloc exit $?"; sleep 3; ls / >/dev/null && echo survived' \
	>"$tmp/out" 2>"$tmp/err" &
bg_pid=$!
oom_file=$(wait_cgroup "$name" memory.oom_control memory.events)
max_file=$(cgroup_file "$name" memory.limit_in_bytes memory.max)
peak_file=$(cgroup_file "$name" memory.max_usage_in_bytes memory.peak)
kills=
for ((i = 0; i < 60; i++)); do
	kills=$(awk '$1 == "oom_kill" { print $2 }' "$oom_file" 2>/dev/null)
	[ "${kills:-0}" -gt 0 ] && break
	sleep 0.1
done
peak=$(cat "$peak_file" 2>/dev/null)
max=$(cat "$max_file" 2>/dev/null)
wait "$bg_pid"
status=$?
bg_pid=
out=$(cat "$tmp/out")
is "$max" "$limit" "the sandbox's memory cgroup is limited to 64 MiB"
grep -qx "alloc exit 137" <<<"$out"
ok $? "the 256 MiB allocation is killed by SIGKILL (137)" || diag "$out"
[ "${kills:-0}" -ge 1 ]
ok $? "by the OOM killer of the sandbox's cgroup (oom_kill ${kills:-0} in ${oom_file##*/})"
if [ -n "$peak" ]; then
	[ "$peak" -le "$limit" ]
	ok $? "the sandbox never held more than its limit (peak $((peak >> 20)) MiB)"
else
	ok 0 "# SKIP no peak usage file"
fi
grep -qx survived <<<"$out"
ok $? "the rest of the sandbox survives and goes on"
is "$status" 0 "the run ends with the shell's own status"

inside --mem 64M -- qprobe alloc 256 >"$tmp/out2" 2>"$tmp/err2"
is "$?" 137 "a command that is the hog itself: the run exits 137 (128 + SIGKILL)"

done_testing
