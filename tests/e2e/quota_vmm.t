#!/usr/bin/env bash
# The jailed VMM's cgroup holds it: memory.max covers a VMM whose guest
# really uses 100 MiB (a 100 MiB initrd copied into a 128 MiB guest) under a
# 160 MiB limit, and the same VMM under 64 MiB is killed by the OOM killer
# (SIGKILL, the cgroup's OOM counted); a CPU-bound guest under a 20% CPU
# limit gets at most 25% of a CPU over 5 s; a pids limit below the vCPU
# count makes the VMM fail cleanly, with one line saying why.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
need_guest idle hello
name=qv-$$

initrd=$TEST_TMP/initrd
head -c 100M /dev/urandom >"$initrd"
chmod 644 "$initrd"

# --- memory ------------------------------------------------------------------
jail_start "$name-m160" idle --bind "$initrd:/initrd" --mem 160M \
	-- --kernel /kernel --initrd /initrd --mem 128M --serial none
sleep 1.5
kill -0 "$JPID" 2>/dev/null
ok $? "a 128 MiB guest holding 100 MiB runs under a 160 MiB memory limit"
f=$(cgroup_file "$name-m160" memory.usage_in_bytes memory.current)
used=$(cat "$f" 2>/dev/null || echo 0)
[[ $used -ge $((100 << 20)) && $used -le $((160 << 20)) ]]
ok $? "its cgroup is charged for the guest's memory: $((used >> 20)) MiB"
jail_stop
is "$STATUS" 143 "and it stops on SIGTERM" || show_run

jail_start "$name-m64" idle --bind "$initrd:/initrd" --mem 64M \
	-- --kernel /kernel --initrd /initrd --mem 128M --serial none
oom_file=$(cgroup_file "$name-m64" memory.oom_control memory.events)
jail_wait
is "$STATUS" 137 "under 64 MiB the same VMM is killed by SIGKILL (128+9)" || show_run
if dmesg >/dev/null 2>&1; then
	dmesg | grep -q "Memory cgroup out of memory: Killed process $JPID "
	ok $? "by the OOM killer of its memory cgroup (kernel log)"
else
	ok 0 "# SKIP the kernel log is not readable"
fi
like "$STDERR" "the VMM ran out of memory: the OOM killer of its cgroup killed it \(1 kill\)" \
	"the jail's cgroup counted the OOM kill (${oom_file##*/}), and jailrun says so"

# --- CPU ---------------------------------------------------------------------
jail_start "$name-cpu" idle --cpu-millis 200 -- --kernel /kernel --serial none
sleep 0.5
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
t0=$(ticks "$JPID")
s0=$(date +%s%N)
sleep 5
t1=$(ticks "$JPID")
s1=$(date +%s%N)
hz=$(getconf CLK_TCK)
pct=$(((t1 - t0) * 100 * 1000000000 / hz / (s1 - s0)))
[[ $pct -le 25 ]]
ok $? "a guest spinning at CPL3 under --cpu-millis 200 got $pct% of a CPU over 5 s (at most 25%)"
[[ $pct -ge 5 ]]
ok $? "and did run ($pct% is at least 5%)"
f=$(cgroup_file "$name-cpu" cpu.stat)
throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$f" 2>/dev/null)
[[ ${throttled:-0} -gt 0 ]]
ok $? "its cgroup was throttled (${throttled:-0} periods)"
jail_stop
is "$STATUS" 143 "it stops on SIGTERM" || show_run

# --- pids ----------------------------------------------------------------------
jail_run "$name-pids" hello --pids 3 -- --kernel /kernel --cpus 4
is "$STATUS" 1 "4 vCPUs under pids.max 3: the VMM fails (status 1)" || show_run
like "$STDERR" "cannot start its thread: Resource temporarily unavailable" "and says why"
jail_run "$name-pids8" hello --pids 8 -- --kernel /kernel --cpus 4
is "$STATUS" 16 "under pids.max 8 the same VM runs" || show_run

done_testing
