#!/usr/bin/env bash
# vsock_idle: the vsock guest as the controller runs it (an echo server that
# never exits) sleeps while idle instead of spinning:
#   - vsock.idle=irq (the default): an idle VM's VMM uses < 5% of one core
#     over 2 s, before and after traffic; vsock.idle=poll uses most of one
#     (what the test would see if idling broke);
#   - echo works in both modes: 200 round trips each, median and p99 shown;
#   - op 4 "count" counts finished host connections and returns the boot
#     nonce; after vm.snapshot, more connections raise the count, and
#     vm.reset brings back the snapshot's count and nonce;
#   - with vsock.timeout, an idle guest still gives up on time (the LAPIC
#     timer wakes it).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need_vmm_option --vsock
PEER=$GUESTS/vsock_peer
RPC_BIN=$GUESTS/snapshot_rpc
need_built "$PEER" "$RPC_BIN" "$GUESTS/vsock.elf"

CMDLINE="vsock.listen=1024 vsock.accept=0 vsock.timeout=0"
HZ=$(getconf CLK_TCK)
declare -a PIDS=()

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

# vm_up NAME CMDLINE: start a VM serving port 1024 (API on NAME.api); sets
# PID. Ready once a count request is answered.
vm_up() {
	local name=$1
	"$VMM" --kernel "$GUESTS/vsock.elf" --vsock "cid=3,uds=$TEST_TMP/$name.sock" \
		--api "$TEST_TMP/$name.api" --cmdline "$2" \
		</dev/null >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" &
	PID=$!
	PIDS+=("$PID")
	"$PEER" count "$TEST_TMP/$name.sock" 1024 -t 20 >/dev/null
}

# cpu_ticks PID: user + system time of the whole process, in clock ticks.
cpu_ticks() {
	local line
	local -a f
	line=$(<"/proc/$1/stat")
	# Fields 14 and 15: the 12th and 13th after the ")" ending the name.
	read -ra f <<<"${line##*) }"
	echo $((f[11] + f[12]))
}

# cpu_percent PID SECS: the share of one core PID used over SECS seconds.
cpu_percent() {
	local a b
	a=$(cpu_ticks "$1")
	sleep "$2"
	b=$(cpu_ticks "$1")
	echo $(((b - a) * 100 / (HZ * $2)))
}

# count NAME: the guest's reply to op 4, as "CONNS BOOT".
count() {
	"$PEER" count "$TEST_TMP/$1.sock" 1024 -t 10 |
		sed -n 's/^count: conns=\([0-9]*\) boot=\([0-9a-f]*\)$/\1 \2/p'
}

rpc() {
	RPC=$("$RPC_BIN" -w 5000 "$TEST_TMP/$1.api" "${@:2}" 2>&1)
}

# rtt NAME MODE: 200 round trips of 64 bytes; the summary as a TAP comment.
rtt() {
	local out
	out=$("$PEER" rtt "$TEST_TMP/$1.sock" 1024 -c 200 -s 64 -t 30 2>&1)
	ok $? "$2: 200 echo round trips"
	echo "# $2: $out"
}

# --- vsock.idle=irq: the controller's command line ---------------------------
vm_up irq "$CMDLINE"
ok $? "the guest answers a count request" || diag "$(cat "$TEST_TMP/irq.out" "$TEST_TMP/irq.err")"
IRQ_PID=$PID
has_line "$(tr -d '\r' <"$TEST_TMP/irq.out")" "vsock: idle=irq" "vsock.idle=irq is the default"
pct=$(cpu_percent "$IRQ_PID" 2)
echo "# idle=irq: the idle VMM used ${pct}% of a core over 2 s"
((pct < 5))
ok $? "idle=irq: an idle VM uses < 5% of a core (${pct}%)"

rtt irq idle=irq
pct=$(cpu_percent "$IRQ_PID" 2)
echo "# idle=irq: ${pct}% of a core over 2 s after the round trips"
((pct < 5))
ok $? "idle=irq: idle again after traffic: < 5% of a core (${pct}%)"

# --- op 4: count, across a snapshot and a reset ------------------------------
read -r c0 boot0 <<<"$(count irq)"
read -r c1 boot1 <<<"$(count irq)"
like "$c0" '^[0-9]+$' "count: the guest replies with a number ($c0)"
is "$c1" $((c0 + 1)) "count: the previous count request is counted"
is "$boot1" "$boot0" "count: the boot nonce stays the same"
[[ -n $boot0 && $boot0 != 0 ]]
ok $? "count: the boot nonce is not zero ($boot0)"

rpc irq vm.snapshot "{\"state\":\"$TEST_TMP/snap.state\",\"memory\":\"$TEST_TMP/snap.mem\"}"
ok $? "vm.snapshot of the idle guest" || diag "$RPC"
read -r c2 _ <<<"$(count irq)"
is "$c2" $((c1 + 1)) "count after the snapshot: one more ($c2)"
"$PEER" echo "$TEST_TMP/irq.sock" 1024 -n 4 -b 64K -t 20 >/dev/null 2>&1
ok $? "4 echo connections after the snapshot"
read -r c3 _ <<<"$(count irq)"
is "$c3" $((c2 + 5)) "count: the 4 echoes and the count request are counted ($c3)"
rpc irq vm.reset
ok $? "vm.reset" || diag "$RPC"
read -r c4 boot4 <<<"$(count irq)"
is "$c4" "$c2" "after vm.reset the count is the snapshot's again ($c4)"
is "$boot4" "$boot0" "after vm.reset the boot nonce is the same"
rtt irq "idle=irq after vm.reset"
pct=$(cpu_percent "$IRQ_PID" 2)
((pct < 5))
ok $? "idle=irq after vm.reset: < 5% of a core (${pct}%)"
read -r c5 _ <<<"$(count irq)"
is "$c5" $((c4 + 2)) "count goes on from the snapshot's ($c5)"
kill "$IRQ_PID"
wait "$IRQ_PID" 2>/dev/null

# --- a fresh boot has another nonce ------------------------------------------
vm_up again "$CMDLINE"
read -r c6 boot6 <<<"$(count again)"
is "$c6" 1 "a fresh boot counts from 0 (the readiness probe was 1)"
[[ -n $boot6 && $boot6 != "$boot0" ]]
ok $? "a fresh boot has another boot nonce ($boot6)"
kill "$PID"
wait "$PID" 2>/dev/null

# --- vsock.idle=poll: the busy loop this replaces ----------------------------
vm_up poll "$CMDLINE vsock.idle=poll"
POLL_PID=$PID
has_line "$(tr -d '\r' <"$TEST_TMP/poll.out")" "vsock: idle=poll" "vsock.idle=poll is taken"
pct=$(cpu_percent "$POLL_PID" 2)
echo "# idle=poll: the idle VMM used ${pct}% of a core over 2 s"
((pct >= 50))
ok $? "idle=poll: an idle VM spins (${pct}% of a core, >= 50%)"
rtt poll idle=poll
kill "$POLL_PID"
wait "$POLL_PID" 2>/dev/null

# --- vsock.timeout still ends an idle guest ----------------------------------
start=$SECONDS
run_guest vsock --vsock "cid=3,uds=$TEST_TMP/t.sock" \
	--cmdline "vsock.listen=1024 vsock.accept=1 vsock.timeout=1500"
is "$STATUS" 17 "idle=irq, vsock.timeout=1500, nobody connects: the guest gives up (status 17)" ||
	show_run
has_line "$SERIAL" "vsock: timeout after 1500 ms" "it says why"
((SECONDS - start <= 6))
ok $? "and it does so on time ($((SECONDS - start)) s)"

done_testing
