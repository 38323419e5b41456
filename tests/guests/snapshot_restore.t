#!/usr/bin/env bash
# Snapshot a running guest (2 vCPUs) through the control socket, restore it
# in new processes, and check that it continues exactly where it stopped:
# a counter kept in memory and in a register, a checksum of 8 MiB of
# memory, every vCPU's LCG state (a value only the right registers can
# produce), the serial port's registers. Two VMs restored from one snapshot
# diverge independently and leave the snapshot unchanged (copy-on-write).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snapshot_lib.sh
source "$(dirname "$0")/snapshot_lib.sh"

ST=$TEST_TMP/golden.state
MEM=$TEST_TMP/golden.mem
vm_start a --kernel "$SNAP_GUEST" --cpus 2 --mem 256M --serial stdout \
	--cmdline "snap.cpus=2 snap.mib=8 snap.seed=11"
vm_wait a "^snap: ready cpus=2"
ok $? "the guest runs on 2 vCPUs" || vm_show a
for _ in 1 2 3; do vm_cmd a i "^count="; done
is "$LINE" "count=3 reg=3" "three increments"
vm_cmd a s "^sum="
sum0=$(field "$LINE" sum)
vm_cmd a c "^lcg cpu=1"
before_iter1=$(field "$LINE" iter)

vm_rpc a vm.snapshot "{\"state\":\"$ST\",\"memory\":\"$MEM\"}"
is "$RPC_RC" 0 "vm.snapshot succeeds" || diag "$RPC"
like "$RPC" '"memory_data_bytes":[0-9]+' "and says how much memory data it wrote"
ok "$([[ -f $ST && -f $MEM ]]; echo $?)" "both files exist"
is "$(stat -c %s "$MEM")" $((256 << 20)) "the memory file has the guest's size"
used_kib=$(du -k "$MEM" | cut -f1)
ok "$((used_kib > 8 * 1024 && used_kib < 64 * 1024 ? 0 : 1))" \
	"and is sparse: ${used_kib} KiB on disk for 256 MiB (8 MiB of pattern)"
if command -v dtc >/dev/null; then
	dts=$(dtc -I dtb -O dts "$ST" 2>&1)
	ok $? "dtc reads the state file"
	like "$dts" 'vcpu-count = <0x02>' "/vm records 2 vCPUs"
	like "$dts" 'cpu@1 \{' "/vcpus/cpu@1 is there"
	like "$dts" 'serial@3f8' "/devices/serial@3f8 is there"
	ok "$(grep -q Warning <<<"$dts"; echo $((!$?)))" "without dtc warnings"
fi
md5_before=$(md5sum <"$MEM")

# The original goes on from where it was.
vm_cmd a i "^count="
is "$LINE" "count=4 reg=4" "the original VM goes on after the snapshot"
vm_cmd a p "^serial"
is "$LINE" "serial scr=a5 lcr=3 ier=0" "its serial registers are as the guest set them"

# A restore in a new process continues from the snapshot.
vm_start b --restore "$ST" --serial stdout
vm_cmd b i "^count="
is "$LINE" "count=4 reg=4" "restored: the counter goes on from 3, in memory and in a register" ||
	vm_show b
vm_cmd b s "^sum="
is "$(field "$LINE" sum)" "$sum0" "restored: the memory checksum is the snapshot's"
vm_cmd b c "^lcg cpu=1"
cpu0=$(vm_lines b | grep "^lcg cpu=0" | tail -n 1)
cpu1=$LINE
lcg_ok 11 "$(field "$cpu0" iter)" "$(field "$cpu0" x)"
ok $? "restored: vCPU 0's LCG value matches its iteration count ($cpu0)"
lcg_ok 12 "$(field "$cpu1" iter)" "$(field "$cpu1" x)"
ok $? "restored: vCPU 1's LCG value matches its iteration count ($cpu1)"
ok "$(($(field "$cpu1" iter) >= before_iter1 ? 0 : 1))" "vCPU 1 went on from where it was"
vm_cmd b c "^lcg cpu=1"
ok "$(($(field "$LINE" iter) > $(field "$cpu1" iter) ? 0 : 1))" "and keeps running"
vm_cmd b p "^serial"
is "$LINE" "serial scr=a5 lcr=3 ier=0" "restored: the serial registers survived"
vm_rpc b vm.info
like "$RPC" '"restored":1' "vm.info says the VM was restored"
like "$RPC" '"vcpus":2' "with 2 vCPUs"
like "$RPC" '"memory_private":true' "on private (copy-on-write) memory"

# A second restore from the same snapshot is independent of the first.
vm_start c --restore "$ST" --restore-memory "$MEM" --serial stdout
vm_cmd b w "^wrote"
vm_cmd b s "^sum="
sum_b=$(field "$LINE" sum)
ok "$([[ $sum_b != "$sum0" ]]; echo $?)" "VM b rewrote its memory (sum $sum_b)"
vm_cmd c s "^sum="
is "$(field "$LINE" sum)" "$sum0" "VM c, restored from the same snapshot, still has the snapshot's memory"
vm_cmd c i "^count="
is "$LINE" "count=4 reg=4" "and its own counter"
vm_cmd b i "^count="
is "$LINE" "count=5 reg=5" "while VM b's goes on separately"
is "$(md5sum <"$MEM")" "$md5_before" "the memory file is unchanged by the VMs restored from it"

vm_end a
is "$STATUS" 0 "vm.stop ends the original with status 0"
vm_end b
vm_end c
is "$STATUS" 0 "and the restored ones"
ok "$([[ ! -e $TEST_TMP/b.api ]]; echo $?)" "the control socket is removed at exit"

# The snapshot outlives its VMs: a third restore, with 2 vCPUs given again.
vm_start d --restore "$ST" --cpus 2 --mem 256M --serial stdout
vm_cmd d i "^count="
is "$LINE" "count=4 reg=4" "a restore after every other VM is gone (--cpus and --mem matching)"
vm_end d

done_testing
