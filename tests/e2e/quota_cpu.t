#!/usr/bin/env bash
# CPU quota of a container sandbox: a busy loop under --cpus 0.2 gets at most
# 25% of a CPU over 5 s (its own CPU time against wall time), the sandbox's
# cgroup carries the quota while it runs, and its throttling is counted.
# shellcheck source-path=SCRIPTDIR source=quota_lib.sh
source "$(dirname "$0")/quota_lib.sh"

name=qcpu-$$
inside --name "$name" --cpus 0.2 -- qprobe spin 5 >"$tmp/spin" 2>"$tmp/spin.err" &
bg_pid=$!
quota_file=$(wait_cgroup "$name" cpu.cfs_quota_us cpu.max)
quota=$(cat "$quota_file" 2>/dev/null)
stat_file=$(cgroup_file "$name" cpu.stat)
sleep 4
throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$stat_file" 2>/dev/null)
wait "$bg_pid"
status=$?
bg_pid=
is "$status" 0 "the busy loop runs to its end under --cpus 0.2" || diag "$(cat "$tmp/spin.err")"
like "$quota" "^20000( 100000)?$" "the sandbox's cgroup has a 20 ms per 100 ms quota ($quota)"
out=$(cat "$tmp/spin")
cpu=$(sed -n 's/.*cpu_ms=\([0-9]*\).*/\1/p' <<<"$out")
wall=$(sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p' <<<"$out")
if [ -n "$cpu" ] && [ -n "$wall" ] && [ "$wall" -gt 0 ]; then
	pct=$((cpu * 100 / wall))
	[ "$pct" -le 25 ]
	ok $? "it got $pct% of a CPU over $wall ms (at most 25%)"
	[ "$pct" -ge 5 ]
	ok $? "and it did run ($pct% is at least 5%)"
else
	ok 1 "the probe reported its CPU time ($out)"
	ok 1 "and its wall time"
fi
[ "${throttled:-0}" -gt 0 ]
ok $? "the cgroup was throttled (${throttled:-0} periods)"

done_testing
