#!/usr/bin/env bash
# The VMM's devices work from inside the jail, under its seccomp filters:
# hybrid vsock both ways (the host reaches the VM's socket in the jail's
# /run, and the guest reaches a host socket in a directory bound in
# writable), virtio-blk on a writable and a read-only image bound in, and
# virtio-rng.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
need_guest vsock blk rng
PEER=$GUESTS/vsock_peer
GPATTERN=$GUESTS/gpattern
for f in "$PEER" "$GPATTERN"; do
	[[ -x $f ]] || { echo "Bail out! $f not built (make guests)"; exit 1; }
done
name=jd-$$

# --- vsock, host-initiated: the VM's socket is in the jail's /run --------------
jail_start "$name-vh" vsock -- --kernel /kernel --vsock cid=42,uds=/run/v.sock \
	--cmdline "vsock.listen=5000 vsock.accept=4"
peer_out=$("$PEER" echo "$JDIR/run/v.sock" 5000 -n 4 -b 1M -t 30 2>&1)
peer_status=$?
jail_wait
is "$peer_status" 0 "host-initiated: 4 connections through $name-vh/run/v.sock, 4 MiB echoed intact" ||
	diag "$peer_out"
is "$STATUS" 16 "the guest exits 0" || show_run
grep -q "^vsock: done host_conns=4 .* failures=0 bad_packets=0" <<<"$SERIAL"
ok $? "guest summary: 4 connections, no failure"

# --- vsock, guest-initiated: to a host socket in a writable directory ----------
socks=$TEST_TMP/socks
mkdir "$socks"
(umask 0 && exec "$PEER" serve "$socks/v.sock_6000" -n 4 -t 30) >"$TEST_TMP/serve.out" 2>&1 &
serve_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q listening "$TEST_TMP/serve.out" 2>/dev/null && break
	sleep 0.05
done
jail_run "$name-vg" vsock --bind "$socks:/socks:rw" -- --kernel /kernel \
	--vsock cid=3,uds=/socks/v.sock \
	--cmdline "vsock.connect=6000 vsock.conns=4 vsock.bytes=1M vsock.refused=6001"
wait "$serve_pid"
serve_status=$?
is "$STATUS" 16 "guest-initiated: the guest exits 0" || show_run
is "$serve_status" 0 "the host side served 4 connections from the jail" || diag "$(cat "$TEST_TMP/serve.out")"
grep -Fxq "vsock: port 6001 refused (RST)" <<<"$SERIAL"
ok $? "a guest connection to a port where nothing listens gets a reset"
[[ $(stat -c %u "$socks") -ge 10000 ]]
ok $? "a directory bound in writable was handed to the jail's uid ($(stat -c %u "$socks"))"

# --- virtio-blk ------------------------------------------------------------------
rw=$TEST_TMP/rw.img
ro=$TEST_TMP/ro.img
truncate -s 1M "$rw"
"$GPATTERN" fill 2 1048576 >"$ro"
chmod 644 "$ro"
ro_sum=$(md5sum <"$ro")
jail_run "$name-blk" blk --bind "$rw:/disk/rw.img:rw" --bind "$ro:/disk/ro.img" -- --kernel /kernel \
	--drive path=/disk/rw.img --drive path=/disk/ro.img,ro --cmdline "blk.sectors=256 blk.seed=7"
is "$STATUS" 16 "blk: the guest exits 0" || show_run
grep -Fxq "blk0: wrote, flushed and read back 256 sectors ok" <<<"$SERIAL"
ok $? "a writable image bound in: written, flushed and read back"
grep -Fxq "blk1: read 256 sectors of the expected pattern" <<<"$SERIAL"
ok $? "a read-only image bound in reads back"
is "$(head -c $((256 * 512)) "$rw" | "$GPATTERN" check 7 $((256 * 512)))" ok "the pattern is in the host's file"
is "$(md5sum <"$ro")" "$ro_sum" "the read-only image is unchanged"

# --- virtio-rng ------------------------------------------------------------------
jail_run "$name-rng" rng -- --kernel /kernel --rng
is "$STATUS" 16 "rng: the guest exits 0" || show_run
like "$SERIAL" "rng: [0-9]+ bytes in 4 requests" "random bytes arrive in the jail"

done_testing
