#!/usr/bin/env bash
# agentvm-vmm --restore refuses every bad input with one clear line on
# stderr and status 1 (2 for usage errors), before any guest code runs:
# missing, truncated, padded or corrupted state files, a checksum that does
# not match, an unknown format version, memory files of the wrong size or
# missing, a vCPU count or memory size that contradicts --cpus/--mem,
# devices that do not match the snapshot's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snapshot_lib.sh
source "$(dirname "$0")/snapshot_lib.sh"

ST=$TEST_TMP/s.state
MEM=$TEST_TMP/s.mem
DISK=$TEST_TMP/disk.img
truncate -s 1M "$DISK"
vm_start a --kernel "$SNAP_GUEST" --cpus 2 --mem 64M --serial stdout --drive "path=$DISK" \
	--vsock "cid=7,uds=$TEST_TMP/a.vsock" --cmdline "snap.cpus=2 snap.mib=1"
vm_wait a "^snap: ready"
vm_rpc a vm.snapshot "{\"state\":\"$ST\",\"memory\":\"$MEM\"}"
is "$RPC_RC" 0 "a snapshot of a 2-vCPU VM with a drive and vsock" || vm_show a
vm_end a

# reseal FILE: recompute the SHA-256 checksum of a state file (after an edit).
reseal() {
	python3 - "$1" <<'PY'
import hashlib, struct, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
magic, total, off_struct, off_strings = struct.unpack(">IIII", b[:16])
assert magic == 0xd00dfeed and total == len(b)
pos, depth = off_struct, 0
while True:
    tok, = struct.unpack(">I", b[pos:pos + 4]); pos += 4
    if tok == 1:  # BEGIN_NODE
        end = b.index(0, pos); pos = (end + 4) & ~3; depth += 1
    elif tok == 3:  # PROP
        ln, nameoff = struct.unpack(">II", b[pos:pos + 8]); pos += 8
        name = b[off_strings + nameoff:b.index(0, off_strings + nameoff)].decode()
        if depth == 1 and name == "checksum":
            b[pos:pos + 32] = bytes(32)
            b[pos:pos + 32] = hashlib.sha256(bytes(b)).digest()
            open(path, "wb").write(b)
            sys.exit(0)
        pos = (pos + ln + 3) & ~3
    elif tok == 2:
        depth -= 1
    elif tok == 4:
        continue
    else:
        sys.exit(1)
PY
}

# expect_fail STATUS REGEX DESCRIPTION VMM-ARGS...: one line on stderr.
expect_fail() {
	local want=$1 re=$2 what=$3 lines
	shift 3
	timeout 20 "$VMM" "$@" --serial none </dev/null >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	STATUS=$?
	STDERR=$(<"$TEST_TMP/err")
	lines=$(grep -c '' <<<"$STDERR")
	if [[ $STATUS == "$want" && $lines == 1 && $STDERR =~ $re ]]; then
		ok 0 "$what: status $want: $STDERR"
	else
		ok 1 "$what: want status $want and one line matching /$re/"
		echo "#   got status $STATUS, $lines line(s):"
		diag "$STDERR"
	fi
}

# The good snapshot restores (the baseline for every case below).
vm_start b --restore "$ST" --serial stdout
vm_cmd b p "^serial"
ok $? "the snapshot itself restores" || vm_show b
vm_end b

expect_fail 1 "state file '$TEST_TMP/none': No such file" "a missing state file" \
	--restore "$TEST_TMP/none"
head -c 100 "$ST" >"$TEST_TMP/t1"
expect_fail 1 "truncated or padded" "a state file cut to 100 bytes" --restore "$TEST_TMP/t1"
head -c -1 "$ST" >"$TEST_TMP/t2"
expect_fail 1 "truncated or padded" "a state file one byte short" --restore "$TEST_TMP/t2"
{ cat "$ST"; printf 'x'; } >"$TEST_TMP/t3"
expect_fail 1 "truncated or padded" "a state file with a byte appended" --restore "$TEST_TMP/t3"
: >"$TEST_TMP/t4"
expect_fail 1 "file is empty" "an empty state file" --restore "$TEST_TMP/t4"
cp "$ST" "$TEST_TMP/t5"
size=$(stat -c %s "$ST")
printf '\x5a' | dd of="$TEST_TMP/t5" bs=1 seek=$((size * 2 / 3)) conv=notrunc status=none
expect_fail 1 "checksum mismatch" "a state file with one byte changed" --restore "$TEST_TMP/t5"
expect_fail 1 "too large to be a state file" "the memory file given as the state" --restore "$MEM"
head -c 4096 /dev/urandom >"$TEST_TMP/random"
expect_fail 1 "not a snapshot state file" "random bytes as the state" --restore "$TEST_TMP/random"
expect_fail 1 "not a regular file" "a directory as the state" --restore "$TEST_TMP"

if command -v dtc >/dev/null; then
	dtc -I dtb -O dts "$ST" 2>/dev/null | sed 's/format-version = <0x01>/format-version = <0x07>/' |
		dtc -I dts -O dtb -o "$TEST_TMP/v7" 2>/dev/null
	expect_fail 1 "checksum mismatch" "an edited state file (not resealed)" --restore "$TEST_TMP/v7"
	reseal "$TEST_TMP/v7"
	expect_fail 1 "format version 7 is not supported" "an unknown format version" \
		--restore "$TEST_TMP/v7"
	dtc -I dtb -O dts "$ST" 2>/dev/null | sed 's/vcpu-count = <0x02>/vcpu-count = <0x03>/' |
		dtc -I dts -O dtb -o "$TEST_TMP/c3" 2>/dev/null
	reseal "$TEST_TMP/c3"
	expect_fail 1 "/vcpus has 2 vCPUs, /vm says 3" "a vCPU count that contradicts the vCPUs saved" \
		--restore "$TEST_TMP/c3"
else
	for i in 1 2 3; do ok 0 "# SKIP dtc not installed"; done
fi

expect_fail 1 "--cpus 4: the snapshot .* is of a VM with 2 vCPUs" "--cpus other than the snapshot's" \
	--restore "$ST" --cpus 4
expect_fail 1 "--mem 128M: the snapshot .* is of a VM with 64M" "--mem other than the snapshot's" \
	--restore "$ST" --mem 128M
expect_fail 1 "memory file '$TEST_TMP/none.mem': No such file" "a missing memory file" \
	--restore "$ST" --restore-memory "$TEST_TMP/none.mem"
cp --sparse=always "$MEM" "$TEST_TMP/big.mem"
truncate -s +4096 "$TEST_TMP/big.mem"
expect_fail 1 "has 67112960 bytes, the snapshot's guest has 67108864" \
	"a memory file of the wrong size" --restore "$ST" --restore-memory "$TEST_TMP/big.mem"
mv "$MEM" "$TEST_TMP/moved.mem"
expect_fail 1 "memory file '$MEM': No such file" "the recorded memory file gone" --restore "$ST"
mv "$TEST_TMP/moved.mem" "$MEM"

expect_fail 2 "--kernel, --initrd and --cmdline do not apply" "--restore with --kernel" \
	--restore "$ST" --kernel "$SNAP_GUEST"
expect_fail 2 "--restore-memory needs --restore" "--restore-memory alone" --restore-memory "$MEM"

truncate -s 2M "$TEST_TMP/disk2.img"
expect_fail 1 "blk0 .* 4096 sectors, the snapshot's drive had 2048" "a drive of another size" \
	--restore "$ST" --drive "path=$TEST_TMP/disk2.img"
expect_fail 1 "--drive given 2 times, the snapshot has 1" "more drives than the snapshot's" \
	--restore "$ST" --drive "path=$DISK" --drive "path=$TEST_TMP/disk2.img"
expect_fail 1 "the snapshot's drive 0 was writable" "a read-only drive for a writable one" \
	--restore "$ST" --drive "path=$DISK,ro"
expect_fail 1 "--vsock cid=9: the snapshot's guest has CID 7" "another vsock CID" \
	--restore "$ST" --vsock "cid=9,uds=$TEST_TMP/x.vsock"
expect_fail 1 "--rng: the snapshot has no rng device" "a device the snapshot does not have" \
	--restore "$ST" --rng

# The drive and socket given again on the command line are used.
vm_start e --restore "$ST" --serial stdout --drive "path=$DISK" \
	--vsock "cid=7,uds=$TEST_TMP/e.vsock"
vm_cmd e b "^blk"
like "$LINE" "blk write=OK read=OK sector0=agentvm-snapshot" \
	"with the drive and vsock socket given again, the restored guest uses the drive" || vm_show e
ok "$([[ -S $TEST_TMP/e.vsock ]]; echo $?)" "and the vsock socket is the new one"
vm_end e

done_testing
