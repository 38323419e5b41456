#!/usr/bin/env bash
# Timeout of a command (agentvm run --timeout): it fires and the run exits
# 124 with a line saying so, also for a command that ignores SIGTERM, and
# for one that leaves a process of its own session behind; a command that
# ends in time keeps its status.
# shellcheck source-path=SCRIPTDIR source=quota_lib.sh
source "$(dirname "$0")/quota_lib.sh"

timed() { # timed CMD...: run it, set status, secs and err
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$tmp/out" 2>"$tmp/err"
	status=$?
	t1=$(date +%s%N)
	secs=$(((t1 - t0) / 1000000000))
	err=$(cat "$tmp/err")
}

timed inside --timeout 1 -- sleep 30
is "$status" 124 "sleep 30 under --timeout 1: the run exits 124"
[ "$secs" -lt 10 ]
ok $? "well before the command would have ended (${secs} s)"
like "$err" "timed out after 1000 ms" "and says it timed out"

timed inside --timeout 1 -- sh -c 'trap "" TERM; sleep 30'
is "$status" 124 "a command ignoring SIGTERM times out the same way (124)"
[ "$secs" -lt 10 ]
ok $? "in ${secs} s"

timed inside --timeout 1 -- sh -c 'setsid sleep 60 & exec sleep 60'
is "$status" 124 "a command that left a process in a session of its own: 124"
[ "$secs" -lt 15 ]
ok $? "in ${secs} s (the sandbox is destroyed with whatever still runs in it)"

timed inside --timeout 10 -- sh -c 'exit 3'
is "$status" 3 "a command that ends in time keeps its own status (3)"

done_testing
