#!/usr/bin/env bash
# The microvm backend starts each sandbox's agentvm-vmm in the jail: the
# guest kernel and the image's initramfs bound in read-only, hybrid vsock in
# the jail's /run, its own uid, seccomp on, a cgroup covering the guest's
# memory plus the VMM's. Where guest user space runs (hardware KVM) the
# command runs in the microVM; where it cannot (nested paravirtual KVM),
# AGENTVM_MICROVM_FORCE=1 starts the same jailed VM, whose agent never
# answers: the run fails with one clear line and leaves nothing behind.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
agentvm=$BUILD_DIR/agentvm
[[ -x $agentvm ]] || { echo "Bail out! $agentvm not built (make all)"; exit 1; }
kdir=$("$top/images/kernel/build.sh" --dir 2>/dev/null)
if [[ ! -f $kdir/vmlinux ]]; then
	echo "1..0 # SKIP the guest kernel is not built (make kernel)"
	exit 0
fi
image=$("$top/images/minimal/build.sh" --agent "$BUILD_DIR/agentvm-agent" 2>"$TEST_TMP/build.log" | tail -n1)
[[ -f $image/initramfs.cpio ]] || { diag "$(cat "$TEST_TMP/build.log")"; echo "Bail out! cannot build the minimal image"; exit 1; }

export AGENTVM_RUN_DIR=$TEST_TMP/run
name=jm-$$
if "$agentvm" doctor --json 2>/dev/null | grep -q '"auto": *"microvm"'; then
	hardware=1
	want_status=0
else
	hardware=0
	want_status=125
	export AGENTVM_MICROVM_FORCE=1 AGENTVM_MICROVM_CONNECT_MS=8000
fi
echo "# guest user space runs here: $hardware"

"$agentvm" run --isolation microvm --image "$image/rootfs" --name "$name" --mem 256M --cpus 1 \
	-- true >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
run_pid=$!
pid=
for ((i = 0; i < 200; i++)); do
	f=$(cgroup_file "$name" cgroup.procs) && pid=$(head -n1 "$f") && [[ -n $pid ]] && break
	sleep 0.05
done
if [[ -n $pid ]] && wait_seccomp "$pid"; then
	ok 0 "the sandbox's VMM runs (pid $pid) and has installed its seccomp filters"
	juid=$(status_field "$pid" Uid | awk '{print $1}')
	[[ $juid -ge 10000 ]]
	ok $? "as a uid of its own ($juid)"
	is "$(status_field "$pid" CapEff)" 0000000000000000 "with no capability"
	is "$(ls -A "/proc/$pid/root" | tr '\n' ' ' | sed 's/sys //')" "dev initrd kernel run " \
		"its root holds the kernel, the initramfs, dev and run"
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	like "$args" "--kernel /kernel --initrd /initrd .*--mem 256M --cpus 1 --rng --vsock cid=3,uds=/run/vsock.sock --api /run/api.sock" \
		"it boots /kernel with /initrd, 256 MiB, 1 vCPU, rng, vsock and its control socket"
	[[ -S $AGENTVM_RUN_DIR/$name/jail/run/vsock.sock ]]
	ok $? "its vsock socket is in the sandbox's state directory"
	f=$(cgroup_file "$name" memory.limit_in_bytes memory.max)
	is "$(cat "$f" 2>/dev/null)" $(((256 + 64 + 16) << 20)) \
		"its memory cgroup covers the guest's 256 MiB and the VMM's overhead"
else
	ok 1 "the sandbox's VMM runs and has installed its seccomp filters"
fi
wait "$run_pid"
status=$?
is "$status" "$want_status" "the run ends with $want_status" || diag "$(cat "$TEST_TMP/err")"
if [[ $hardware == 0 ]]; then
	grep -q "the agent did not answer on vsock port 1024 within 8000 ms" "$TEST_TMP/err"
	ok $? "saying the agent did not answer"
fi
is "$(ls "$AGENTVM_RUN_DIR")" "" "nothing is left in the state directory"
[[ -z $(find /sys/fs/cgroup -maxdepth 12 -type d -path "*/agentvm/$name" 2>/dev/null) ]]
ok $? "nor in the cgroups"

done_testing
