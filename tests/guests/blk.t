#!/usr/bin/env bash
# blk: the guest's CPL3 virtio-blk driver against agentvm-vmm's --drive:
# a pattern written to a writable drive reads back in the guest and is in
# the image file afterwards; a read-only drive reads back what the host put
# there, refuses writes (IOERR or UNSUPP) and is left unchanged; GET_ID
# answers; reads past the end fail.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need_vmm_option --drive
GPATTERN=$GUESTS/gpattern
need_built "$GPATTERN" "$GUESTS/blk.elf"

rw=$TEST_TMP/rw.img
ro=$TEST_TMP/ro.img
truncate -s 1M "$rw"
"$GPATTERN" fill 2 1048576 >"$ro"
ro_sum=$(md5sum <"$ro")
SECTORS=512 # 256 KiB

run_guest blk --drive "path=$rw" --drive "path=$ro,ro" --cmdline "blk.sectors=$SECTORS blk.seed=7"
is "$STATUS" 16 "the guest exits 0" || show_run
like "$SERIAL" "blk0: slot=[0-9]+ capacity=2048 ro=0 id=[[:print:]]+" "writable drive: 2048 sectors, not read-only, GET_ID answers"
like "$SERIAL" "blk1: slot=[0-9]+ capacity=2048 ro=1 id=[[:print:]]+" "read-only drive: VIRTIO_BLK_F_RO offered"
id0=$(sed -n 's/^blk0: .* id=//p' <<<"$SERIAL")
is "$id0" "agentvm-$(printf %x "$(stat -c %i "$rw")")" "GET_ID: the default id names the image's inode"
has_line "$SERIAL" "blk0: wrote, flushed and read back $SECTORS sectors ok" "the pattern written reads back (whole and scattered)"
has_line "$SERIAL" "blk0: read past the end: IOERR" "a read past the end fails with IOERR"
has_line "$SERIAL" "blk1: read $SECTORS sectors of the expected pattern" "the read-only drive reads back what the host wrote"
like "$SERIAL" "blk1: write refused: (IOERR|UNSUPP)" "a write to the read-only drive fails"
is "$(head -c $((SECTORS * 512)) "$rw" | "$GPATTERN" check 7 $((SECTORS * 512)))" ok \
	"the pattern is in the image file afterwards"
is "$(tail -c +$((SECTORS * 512 + 1)) "$rw" | tr -d '\0' | wc -c)" 0 "nothing written beyond it"
is "$(md5sum <"$ro")" "$ro_sum" "the read-only image is unchanged"

# Among other devices (the guest finds drives by scanning every slot).
extra=()
"$VMM" --help 2>/dev/null | grep -q -- --rng && extra+=(--rng)
"$VMM" --help 2>/dev/null | grep -q -- --vsock && extra+=(--vsock "cid=3,uds=$TEST_TMP/v.sock")
run_guest blk "${extra[@]}" --drive "path=$ro,ro" --drive "path=$rw" --cmdline "blk.sectors=64 blk.seed=9"
is "$STATUS" 16 "with ${extra[*]:-no other devices} too: the guest exits 0" || show_run
has_line "$SERIAL" "blk: 2 drive(s) ok" "both drives found and working"

# GET_ID answers what --drive id= says, up to the 20 bytes virtio-blk has.
run_guest blk --drive "path=$rw,id=scratch-disk" --drive "path=$ro,ro,id=ABCDEFGHIJKLMNOPQRST" \
	--cmdline "blk.sectors=8"
is "$STATUS" 16 "with id=: the guest exits 0" || show_run
like "$SERIAL" "blk0: .* id=scratch-disk"$'\n' "GET_ID: id=scratch-disk"
like "$SERIAL" "blk1: .* id=ABCDEFGHIJKLMNOPQRST"$'\n' "GET_ID: a 20-byte id, whole"

run_guest blk
is "$STATUS" 18 "no drive: the guest says so (exit 2)" || show_run

done_testing
