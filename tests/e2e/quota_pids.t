#!/usr/bin/env bash
# Task limit of a container sandbox: a fork bomb under --pids 32 stops at
# pids.max, fork failing with EAGAIN; the number of tasks never passes the
# limit; once the bomb's processes are gone the sandbox works again.
# shellcheck source-path=SCRIPTDIR source=quota_lib.sh
source "$(dirname "$0")/quota_lib.sh"

name=qpids-$$
inside --name "$name" --pids 32 -- sh -c 'qprobe forkbomb 3; sleep 1; ls / >/dev/null && echo survived' \
	>"$tmp/out" 2>"$tmp/err" &
bg_pid=$!
max_file=$(wait_cgroup "$name" pids.max)
cur_file=$(cgroup_file "$name" pids.current)
peak=0
for ((i = 0; i < 20; i++)); do
	c=$(cat "$cur_file" 2>/dev/null || echo 0)
	[ "$c" -gt "$peak" ] && peak=$c
	sleep 0.1
done
max=$(cat "$max_file" 2>/dev/null)
events=$(awk '$1 == "max" { print $2 }' "$(cgroup_file "$name" pids.events)" 2>/dev/null)
wait "$bg_pid"
status=$?
bg_pid=
out=$(cat "$tmp/out")
is "$max" 32 "the sandbox's pids cgroup allows 32 tasks"
like "$out" "forkbomb: fork failed with EAGAIN \(Resource temporarily unavailable\)" \
	"the fork bomb stops: fork fails with EAGAIN"
[ "$peak" -le 32 ] && [ "$peak" -ge 16 ]
ok $? "the sandbox held at most 32 tasks meanwhile (peak seen $peak)"
if [ -n "$events" ]; then
	[ "$events" -gt 0 ]
	ok $? "the cgroup counted the refused forks (pids.events max $events)"
else
	ok 0 "# SKIP no pids.events"
fi
grep -qx survived <<<"$out"
ok $? "once the bomb is gone the sandbox forks again" || diag "$out $(cat "$tmp/err")"
is "$status" 0 "the run ends normally"

done_testing
