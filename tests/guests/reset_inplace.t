#!/usr/bin/env bash
# vm.reset puts a running VM back to its snapshot in place, in the same
# process: the guest's memory (a checksum it computes), its registers (a
# counter held in one, the LCG state of every vCPU) and its devices go back;
# and the VM runs on from there. A VM booted from a kernel resets to the last
# snapshot it took; a restored one to the snapshot it came from. Without a
# snapshot, vm.reset is an error that changes nothing, as are malformed
# requests.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snapshot_lib.sh
source "$(dirname "$0")/snapshot_lib.sh"

ST=$TEST_TMP/s.state
MEM=$TEST_TMP/s.mem
vm_start a --kernel "$SNAP_GUEST" --cpus 2 --mem 128M --serial stdout \
	--cmdline "snap.cpus=2 snap.mib=4 snap.seed=5"
vm_wait a "^snap: ready"
ok $? "the guest runs" || vm_show a

vm_rpc a vm.reset
ok "$([[ $RPC_RC == 1 && $RPC == *'"code":-32001'* && $RPC == *"no snapshot to reset to"* ]]; echo $?)" \
	"vm.reset before any snapshot: error -32001"
vm_cmd a i "^count="
is "$LINE" "count=1 reg=1" "and the guest goes on untouched"

# Malformed requests: errors, and nothing changes.
sock=$TEST_TMP/a.api
bad=$(printf '%s\n' 'not json' '{"jsonrpc":"2.0","id":1,"method":"vm.bogus"}' \
	'{"jsonrpc":"2.0","id":2,"method":"vm.snapshot","params":{"state":"x"}}' \
	'{"jsonrpc":"2.0","id":3,"method":"vm.reset","params":{"hard":true}}' |
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
buf = b""
while buf.count(b"\n") < 4:
    d = s.recv(65536)
    if not d: break
    buf += d
print(buf.decode(), end="")' "$sock")
like "$(sed -n 1p <<<"$bad")" '"id":null,"error":\{"code":-32700' "garbage: parse error -32700"
like "$(sed -n 2p <<<"$bad")" '"id":1,"error":\{"code":-32601' "an unknown method: -32601"
like "$(sed -n 3p <<<"$bad")" '"id":2,"error":\{"code":-32602,"message":"invalid params: \\"memory\\" is required"' \
	"vm.snapshot without memory: -32602"
like "$(sed -n 4p <<<"$bad")" '"id":3,"error":\{"code":-32602' "vm.reset with a parameter: -32602"
ok "$([[ ! -e x ]]; echo $?)" "no file was written"
vm_cmd a i "^count="
is "$LINE" "count=2 reg=2" "the guest went on through all of them"

vm_cmd a c "^lcg cpu=1"
snap_iter1=$(field "$LINE" iter) # vCPU 1 is at least this far at the snapshot
vm_rpc a vm.snapshot "{\"state\":\"$ST\",\"memory\":\"$MEM\"}"
is "$RPC_RC" 0 "a snapshot at count 2" || diag "$RPC"
vm_cmd a s "^sum="
sum0=$(field "$LINE" sum)
sleep 1
for _ in 1 2 3; do vm_cmd a i "^count="; done
vm_cmd a w "^wrote"
vm_cmd a s "^sum="
ok "$([[ $(field "$LINE" sum) != "$sum0" ]]; echo $?)" "the guest changed its memory and counter"
vm_cmd a c "^lcg cpu=1"
late_iter1=$(field "$LINE" iter)

vm_rpc a vm.reset
is "$RPC_RC" 0 "vm.reset" || diag "$RPC"
like "$RPC" '"resets":1' "counts the reset"
vm_cmd a s "^sum="
is "$LINE" "sum=$sum0 count=2" "after the reset: the snapshot's memory and counter"
vm_cmd a i "^count="
is "$LINE" "count=3 reg=3" "the register copy of the counter went back too"
vm_cmd a c "^lcg cpu=1"
it=$(field "$LINE" iter)
ok "$((it < late_iter1 ? 0 : 1))" "vCPU 1 went back (iter $it; $late_iter1 before the reset)"
lcg_ok 6 "$it" "$(field "$LINE" x)"
ok $? "and its registers hold a consistent LCG state" || diag "vCPU 1 after the reset: $LINE"
cpu0=$(vm_lines a | grep "^lcg cpu=0" | tail -n 1)
lcg_ok 5 "$(field "$cpu0" iter)" "$(field "$cpu0" x)"
ok $? "as do vCPU 0's"
ok "$((it >= snap_iter1 ? 0 : 1))" "from no earlier than the snapshot (iter $snap_iter1 or later)"

for _ in $(seq 20); do vm_rpc a vm.reset || break; done
vm_cmd a s "^sum="
is "$LINE" "sum=$sum0 count=2" "twenty more resets: the same state each time"
vm_rpc a vm.info
like "$RPC" '"resets":21' "vm.info counts 21 resets"

# Paused VMs stay paused through a reset; vm.resume lets them go.
vm_rpc a vm.pause
like "$RPC" '"state":"paused"' "vm.pause"
n=$(vm_count a)
printf 'i' >&"${VM_FD[a]}"
sleep 0.3
is "$(vm_count a)" "$n" "a paused guest does not answer"
vm_rpc a vm.reset
vm_rpc a vm.info
like "$RPC" '"state":"paused"' "a reset keeps a paused VM paused"
vm_rpc a vm.resume
like "$RPC" '"state":"running"' "vm.resume"
vm_cmd a s "^sum="
is "$LINE" "sum=$sum0 count=2" \
	"the VM runs on from the snapshot (the byte sent while paused went with the serial FIFO)"

# A restored VM resets to the snapshot it came from.
vm_start b --restore "$ST" --serial stdout
vm_cmd b w "^wrote"
vm_cmd b i "^count="
vm_rpc b vm.reset
vm_cmd b s "^sum="
is "$LINE" "sum=$sum0 count=2" "a restored VM resets to the snapshot it was restored from"
# ... or to the one it took last.
vm_cmd b i "^count="
vm_rpc b vm.snapshot "{\"state\":\"$TEST_TMP/b.state\",\"memory\":\"$TEST_TMP/b.mem\"}"
is "$RPC_RC" 0 "the restored VM takes a snapshot of its own (count 3)" || diag "$RPC"
vm_cmd b i "^count="
vm_cmd b i "^count="
vm_rpc b vm.reset
vm_cmd b i "^count="
is "$LINE" "count=4 reg=4" "and then resets to that one"
vm_rpc b vm.info
like "$RPC" "\"reset_target\":\\{\"state\":\"$TEST_TMP/b.state\"" "vm.info names the reset target"
vm_end b
vm_end a
is "$STATUS" 0 "vm.stop"

done_testing
