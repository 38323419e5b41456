#!/usr/bin/env bash
# vsock: the guest's CPL3 virtio-vsock stack through agentvm-vmm's hybrid
# vsock (Unix sockets on the host side), both directions:
#   - host-initiated: 16 connections at once to the guest's port, each
#     "CONNECT 5000\n" on the VM's socket; 100 MiB in all is sent and
#     echoed back, checked byte for byte by tests/guests/host/vsock_peer.c;
#   - guest-initiated: 16 connections at once to host port 6000, bridged to
#     the Unix socket <uds>_6000 where vsock_peer echoes; the guest checks
#     the 100 MiB it gets back;
#   - a guest connection to a port where nothing listens gets a reset.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need_vmm_option --vsock
PEER=$GUESTS/vsock_peer
need_built "$PEER" "$GUESTS/vsock.elf"
GUEST_TIMEOUT=${GUEST_TIMEOUT_VSOCK:-40}

CONNS=16
BYTES=6553600 # per connection: 16 x 6.25 MiB = 100 MiB each way
UDS=$TEST_TMP/v.sock

# --- host-initiated ---------------------------------------------------------
start_guest vsock --vsock "cid=42,uds=$UDS" --cmdline "vsock.listen=5000 vsock.accept=$CONNS"
peer_out=$("$PEER" echo "$UDS" 5000 -n "$CONNS" -b "$BYTES" -t 30 2>&1)
peer_status=$?
wait_guest
is "$peer_status" 0 "host-initiated: $CONNS connections, 100 MiB sent and echoed back intact"
[[ $peer_status == 0 ]] || diag "$peer_out"
echo "# $peer_out"
is "$STATUS" 16 "host-initiated: the guest exits 0" || show_run
has_line "$SERIAL" "vsock: cid=42" "the guest reads its CID (42) from config space"
is "$(grep -c '^vsock: host conn port=[0-9]* op=echo rx=6553616 tx=6553600 ok$' <<<"$SERIAL")" \
	"$CONNS" "the guest echoed 6.25 MiB on each of $CONNS connections"
like "$SERIAL" "vsock: done host_conns=$CONNS guest_conns=0 refused=0 rx=[0-9]+ tx=104857600 failures=0 bad_packets=0" \
	"guest summary: no failures, no malformed packets"

# --- guest-initiated --------------------------------------------------------
"$PEER" serve "${UDS}_6000" -n "$CONNS" -t 30 >"$TEST_TMP/serve.out" 2>&1 &
serve_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q "listening" "$TEST_TMP/serve.out" 2>/dev/null && break
	sleep 0.05
done
run_guest vsock --vsock "cid=3,uds=$UDS" \
	--cmdline "vsock.connect=6000 vsock.conns=$CONNS vsock.bytes=$BYTES vsock.refused=6001"
wait "$serve_pid"
serve_status=$?
is "$STATUS" 16 "guest-initiated: the guest exits 0" || show_run
is "$(grep -c "^vsock: guest conn [0-9]* port=[0-9]* sent=$BYTES echoed=$BYTES ok$" <<<"$SERIAL")" \
	"$CONNS" "guest-initiated: $CONNS connections, each 6.25 MiB sent and echoed back intact"
is "$serve_status" 0 "the host side served $CONNS connections" || diag "$(cat "$TEST_TMP/serve.out")"
has_line "$(cat "$TEST_TMP/serve.out")" "serve: conns=$CONNS bytes=104857600 ok" \
	"the host side received 100 MiB"
has_line "$SERIAL" "vsock: port 6001 refused (RST)" \
	"a guest connection to a port where nothing listens gets a reset"
like "$SERIAL" "vsock: done host_conns=0 guest_conns=$CONNS refused=1 .* failures=0 bad_packets=0" \
	"guest summary: no failures, no malformed packets"

# --- both ways at once: 8 host connections and 8 guest connections ----------
"$PEER" serve "${UDS}_6000" -n 8 -t 30 >"$TEST_TMP/serve.out" 2>&1 &
serve_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q "listening" "$TEST_TMP/serve.out" 2>/dev/null && break
	sleep 0.05
done
start_guest vsock --vsock "cid=3,uds=$UDS" \
	--cmdline "vsock.listen=5000 vsock.accept=8 vsock.connect=6000 vsock.conns=8 vsock.bytes=4M"
"$PEER" echo "$UDS" 5000 -n 8 -b 4M -t 30 >"$TEST_TMP/echo.out" 2>&1
peer_status=$?
wait_guest
wait "$serve_pid"
serve_status=$?
is "$STATUS" 16 "both ways at once: the guest exits 0" || show_run
is "$peer_status" 0 "both ways at once: 8 host connections echoed intact" || diag "$(cat "$TEST_TMP/echo.out")"
is "$serve_status" 0 "both ways at once: 8 guest connections served" || diag "$(cat "$TEST_TMP/serve.out")"
like "$SERIAL" "vsock: done host_conns=8 guest_conns=8 refused=0 .* failures=0 bad_packets=0" \
	"both ways at once: guest summary"

# --- a host connection to a port the guest does not listen on ----------------
start_guest vsock --vsock "cid=3,uds=$UDS" --cmdline "vsock.listen=5000 vsock.accept=1"
"$PEER" echo "$UDS" 5001 -n 1 -b 1 -t 2 >/dev/null 2>&1
ok $((!$?)) "a host connection to a port nobody listens on is refused"
"$PEER" echo "$UDS" 5000 -n 1 -b 65536 -t 20 >/dev/null 2>&1
ok $? "the guest still serves its own port afterwards"
wait_guest
is "$STATUS" 16 "the guest exits 0" || show_run

done_testing
