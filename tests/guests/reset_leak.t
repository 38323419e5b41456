#!/usr/bin/env bash
# 10,000 in-place resets (RESET_LEAK_COUNT) of a guest that keeps dirtying
# memory between them leak nothing: the VMM's open fds, threads, RSS and
# private dirty memory are the same before and after, and the guest is still
# the snapshot's. Also reports how long a reset takes, seen from a client.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snapshot_lib.sh
source "$(dirname "$0")/snapshot_lib.sh"

COUNT=${RESET_LEAK_COUNT:-10000}
ST=$TEST_TMP/s.state
MEM=$TEST_TMP/s.mem
vm_start a --kernel "$SNAP_GUEST" --mem 256M --serial stdout \
	--cmdline "snap.mib=8 snap.dirty_mib=4 snap.churn=1"
vm_wait a "^snap: ready"
ok $? "the guest runs, dirtying a page after every batch of work" || vm_show a
vm_cmd a i "^count="
vm_rpc a vm.snapshot "{\"state\":\"$ST\",\"memory\":\"$MEM\"}"
is "$RPC_RC" 0 "a snapshot" || diag "$RPC"
vm_cmd a s "^sum="
sum0=$(field "$LINE" sum)
pid=$(vm_pid a)

# usage: "fds threads rss_kib private_dirty_kib", measured paused right after
# a reset, so that the guest's own dirty pages are those of the snapshot.
usage() {
	local fds threads rss pd
	vm_rpc a vm.pause
	vm_rpc a vm.reset
	fds=$(find /proc/"$pid"/fd -mindepth 1 -maxdepth 1 | wc -l)
	threads=$(find /proc/"$pid"/task -mindepth 1 -maxdepth 1 | wc -l)
	rss=$(awk '/^VmRSS:/ { print $2 }' /proc/"$pid"/status)
	pd=$(awk '/^Private_Dirty:/ { print $2 }' /proc/"$pid"/smaps_rollup)
	vm_rpc a vm.resume
	echo "$fds $threads $rss $pd"
}

"$RPC_BIN" -n 200 "$TEST_TMP/a.api" vm.reset >/dev/null 2>&1 # warm up
read -r fds0 thr0 rss0 pd0 <<<"$(usage)"
diag "before: $fds0 fds, $thr0 threads, RSS $rss0 KiB, private dirty $pd0 KiB"
start=$SECONDS
stats=$("$RPC_BIN" -n "$COUNT" "$TEST_TMP/a.api" vm.reset 2>&1 >/dev/null)
rc=$?
is "$rc" 0 "$COUNT resets in a row in $((SECONDS - start)) s" || diag "$stats"
diag "round trips: $stats"
read -r fds1 thr1 rss1 pd1 <<<"$(usage)"
diag "after: $fds1 fds, $thr1 threads, RSS $rss1 KiB, private dirty $pd1 KiB"
is "$fds1" "$fds0" "no fd leaked"
is "$thr1" "$thr0" "no thread leaked"
ok "$((rss1 - rss0 < 1024 ? 0 : 1))" "RSS grew by less than 1 MiB ($((rss1 - rss0)) KiB)"
ok "$((pd1 - pd0 < 1024 ? 0 : 1))" "private dirty memory grew by less than 1 MiB ($((pd1 - pd0)) KiB)"
median=$(field "$stats" median_us)
ok "$(awk -v m="$median" 'BEGIN { exit !(m < 2000) }'; echo $?)" \
	"a reset takes ${median} us (median round trip from a client)"
vm_cmd a s "^sum="
is "$LINE" "sum=$sum0 count=1" "the guest is still the snapshot's"
vm_rpc a vm.info
like "$RPC" "\"resets\":$((COUNT + 202))," "vm.info counts every reset"
vm_end a
is "$STATUS" 0 "vm.stop"

done_testing
