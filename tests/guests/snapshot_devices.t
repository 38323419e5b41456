#!/usr/bin/env bash
# Devices across snapshot and restore: virtio-blk (queue state and data),
# virtio-vsock (host connections are closed at the snapshot, the guest is
# told with VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, and new connections work in
# the original and in the restored VM), virtio-rng and the serial port keep
# their slots, and vm.info lists them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snapshot_lib.sh
source "$(dirname "$0")/snapshot_lib.sh"

ST=$TEST_TMP/s.state
MEM=$TEST_TMP/s.mem
DISK=$TEST_TMP/disk.img
truncate -s 1M "$DISK"

# vsock_echo UDS MSG [HOLD]: connect to guest port 5000 through the hybrid
# vsock, send MSG, print what comes back; with HOLD, then wait (up to 10 s)
# for the VMM to close the connection and print "closed".
vsock_echo() {
	python3 - "$@" <<'PY'
import socket, sys, time
uds, msg = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(uds)
s.sendall(b"CONNECT 5000\n")
line = b""
while not line.endswith(b"\n"):
    c = s.recv(1)
    if not c:
        break
    line += c
if not line.startswith(b"OK "):
    print("refused:", line.decode().strip()); sys.exit(1)
s.sendall(msg)
got = b""
while len(got) < len(msg):
    d = s.recv(4096)
    if not d: break
    got += d
print(got.decode())
sys.stdout.flush()
if len(sys.argv) > 3:
    try:
        while s.recv(4096):
            pass
        print("closed")
    except socket.timeout:
        print("still open")
PY
}

vm_start a --kernel "$SNAP_GUEST" --mem 128M --serial stdout --vsock "cid=3,uds=$TEST_TMP/a.vsock" \
	--rng --drive "path=$DISK" --cmdline "snap.mib=1 snap.vsock=5000"
vm_wait a "^snap: ready"
ok $? "the guest runs with vsock, rng and a drive" || vm_show a
vm_cmd a b "^blk"
is "$LINE" "blk write=OK read=OK sector0=agentvm-snapshot" "blk works before the snapshot"
is "$(vsock_echo "$TEST_TMP/a.vsock" ping1)" "ping1" "vsock echo works before the snapshot"
vsock_echo "$TEST_TMP/a.vsock" held hold >"$TEST_TMP/held" 2>&1 &
held=$!
for _ in $(seq 100); do [[ -s $TEST_TMP/held ]] && break; sleep 0.05; done

vm_rpc a vm.snapshot "{\"state\":\"$ST\",\"memory\":\"$MEM\"}"
is "$RPC_RC" 0 "vm.snapshot" || diag "$RPC"
wait $held
is "$(tr '\n' ' ' <"$TEST_TMP/held")" "held closed " "the open host connection was closed by the snapshot"
vm_wait a "^vsock: transport reset 1"
ok $? "the guest was told: VIRTIO_VSOCK_EVENT_TRANSPORT_RESET" || vm_show a
is "$(vsock_echo "$TEST_TMP/a.vsock" ping2)" "ping2" "the original VM takes new connections after it"
vm_cmd a b "^blk"
is "$LINE" "blk write=OK read=OK sector0=agentvm-snapshot" "and its drive works on"

if command -v fdtget >/dev/null; then
	is "$(fdtget -t s "$ST" /devices/vsock@d0000000 uds)" "$TEST_TMP/a.vsock" \
		"the state records the vsock socket"
	is "$(fdtget -t s "$ST" /devices/blk@d0002000 path)" "$DISK" "and the drive's image"
	is "$(fdtget -t x "$ST" /devices/rng@d0001000 gsi)" 6 "rng keeps slot 1 (GSI 6)"
fi

# Restore beside the original: its own socket and its own copy of the disk.
cp "$DISK" "$TEST_TMP/disk_b.img"
vm_start b --restore "$ST" --serial stdout --vsock "cid=3,uds=$TEST_TMP/b.vsock" \
	--drive "path=$TEST_TMP/disk_b.img"
vm_cmd b b "^blk"
is "$LINE" "blk write=OK read=OK sector0=agentvm-snapshot" \
	"restored: the drive's queue goes on where it was, and the data is there" || vm_show b
is "$(vsock_echo "$TEST_TMP/b.vsock" ping3)" "ping3" "restored: vsock takes connections"
is "$(vsock_echo "$TEST_TMP/b.vsock" ping4)" "ping4" "again"
vm_cmd b p "^serial"
is "$LINE" "serial scr=a5 lcr=3 ier=0" "restored: the serial port's registers"
vm_rpc b vm.info
like "$RPC" '"name":"vsock","type":"vsock","address":"0xd0000000","gsi":5,"device_status":15,"driver_ok":true' \
	"vm.info: vsock in slot 0, driver ready"
like "$RPC" '"name":"rng","type":"rng","address":"0xd0001000","gsi":6' "rng in slot 1"
like "$RPC" '"name":"blk0","type":"blk","address":"0xd0002000","gsi":7,"device_status":15,"driver_ok":true' \
	"blk0 in slot 2, driver ready"
like "$RPC" "\"path\":\"$TEST_TMP/disk_b.img\"" "on the image given again"

# A reset drops the host's connections too.
vsock_echo "$TEST_TMP/b.vsock" held2 hold >"$TEST_TMP/held2" 2>&1 &
held=$!
for _ in $(seq 100); do [[ -s $TEST_TMP/held2 ]] && break; sleep 0.05; done
vm_rpc b vm.reset
is "$RPC_RC" 0 "vm.reset of the restored VM" || diag "$RPC"
wait $held
is "$(tr '\n' ' ' <"$TEST_TMP/held2")" "held2 closed " "closes its host connections"
is "$(vsock_echo "$TEST_TMP/b.vsock" ping5)" "ping5" "and vsock works after the reset"
vm_cmd b b "^blk"
is "$LINE" "blk write=OK read=OK sector0=agentvm-snapshot" "as does the drive"

vm_end b
vm_end a
is "$STATUS" 0 "both VMs stop"
ok "$([[ ! -e $TEST_TMP/a.vsock && ! -e $TEST_TMP/b.vsock ]]; echo $?)" \
	"and remove their vsock sockets"

done_testing
