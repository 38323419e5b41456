#!/usr/bin/env bash
# What a jailed agentvm-vmm sees and may do, checked from the host while an
# idle guest runs: its root holds only dev (kvm, null), the kernel and run
# (its sockets, which the host sees in the jail's directory); no host file;
# an unprivileged uid and gid of its own, no supplementary group; no
# capability in any set; no_new_privs; its seccomp filters (per thread);
# new mount, pid, net, ipc and uts namespaces, PID 1 in its own; only lo in
# its network namespace; its own cgroups with the limits asked for; rlimits.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
need_guest idle

name=ji-$$
mem=$((200 << 20))
jail_start "$name" idle --mem "$mem" --cpu-millis 500 --pids 16 --nofile 64 --fsize 256M \
	-- --kernel /kernel --serial none --vsock cid=3,uds=/run/vsock.sock || {
	echo "Bail out! the jail did not start"
	exit 1
}
pid=$JPID
wait_seccomp "$pid"
ok $? "the VMM (pid $pid) installs its seccomp filter"

# --- the file system -------------------------------------------------------------
want="dev kernel run"
[[ -d /sys/module/kvm_pvm ]] && want="dev kernel run sys"
is "$(ls -A "/proc/$pid/root" | tr '\n' ' ' | sed 's/ $//')" "$want" "its root holds only: $want"
is "$(ls -A "/proc/$pid/root/dev" | tr '\n' ' ' | sed 's/ $//')" "kvm null" "/dev holds kvm and null"
is "$(stat -c '%t:%T %u %a' "/proc/$pid/root/dev/kvm")" "a:e8 $(status_field "$pid" Uid | awk '{print $1}') 600" \
	"/dev/kvm is 10:232, the jail uid's own, mode 0600"
if [[ -d /sys/module/kvm_pvm ]]; then
	is "$(stat -c %a "/proc/$pid/root/sys" "/proc/$pid/root/sys/module" \
		"/proc/$pid/root/sys/module/kvm_pvm" | tr '\n' ' ')" "755 755 755 " \
		"the kvm_pvm marker the VMM looks for is there, and reachable by its uid"
fi
for f in etc usr bin proc tmp home root work; do
	[[ ! -e /proc/$pid/root/$f ]] || { echo "# /$f exists in the jail"; false; }
done
ok $? "no host directory is visible (etc usr bin proc tmp home root work)"
[[ -S $JDIR/run/vsock.sock ]]
ok $? "the vsock socket the VMM made in /run is at $JDIR/run/vsock.sock on the host"
[[ -z $(ls -A "$JDIR/root") ]]
ok $? "the jail's root is private: the host sees nothing in $JDIR/root"
grep -q " $JDIR/root " /proc/self/mountinfo
ok $((1 - $?)) "no mount of the jail shows in the host's mount table"
mnt_opts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")
like "$mnt_opts" "^ro," "its root is mounted read-only ($mnt_opts)"
like "$(awk '$5 == "/kernel" { print $6 }' "/proc/$pid/mountinfo")" "^ro," "the kernel is bound read-only"
like "$(awk '$5 == "/run" { print $6 }' "/proc/$pid/mountinfo")" "^rw,.*nosuid,nodev,noexec" \
	"/run is the one writable place (nosuid, nodev, noexec)"

# --- credentials ---------------------------------------------------------------------
uid=$(status_field "$pid" Uid)
gid=$(status_field "$pid" Gid)
juid=$(awk '{print $1}' <<<"$uid")
[[ $juid -ge 10000 ]] && [[ $uid == "$juid $juid $juid $juid" ]]
ok $? "real, effective, saved and fs uid are one unprivileged uid ($uid)"
[[ $gid == "$juid $juid $juid $juid" ]]
ok $? "so are the gids ($gid)"
is "$(status_field "$pid" Groups)" "" "no supplementary groups"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	is "$(status_field "$pid" $c)" 0000000000000000 "$c is empty"
done
is "$(status_field "$pid" NoNewPrivs)" 1 "no_new_privs is set"
is "$(status_field "$pid" Seccomp)" 2 "seccomp filter mode on the main thread"
for t in /proc/"$pid"/task/*; do
	comm=$(cat "$t/comm")
	[[ $comm == vcpu* ]] && vcpu_filters=$(awk '$1 == "Seccomp_filters:" { print $2 }' "$t/status")
done
is "${vcpu_filters:-?}" 2 "a vCPU thread runs under two filters (the loop's and its own)"

# --- namespaces ------------------------------------------------------------------------
for ns in mnt pid net ipc uts; do
	[[ $(readlink "/proc/$pid/ns/$ns") != "$(readlink /proc/self/ns/$ns)" ]]
	ok $? "its own $ns namespace"
done
like "$(status_field "$pid" NSpid)" "^${pid}[[:space:]]+1$" "it is PID 1 of its pid namespace"
is "$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' "/proc/$pid/net/dev" | tr '\n' ' ')" "lo " \
	"its network namespace has only lo"
if command -v nsenter >/dev/null; then
	is "$(nsenter -t "$pid" -u hostname)" agentvm-vmm "its hostname is agentvm-vmm"
else
	ok 0 "# SKIP no nsenter"
fi

# --- cgroups and rlimits ---------------------------------------------------------------------
f=$(cgroup_file "$name" memory.limit_in_bytes memory.max)
is "$(cat "$f" 2>/dev/null)" "$mem" "memory limit of its cgroup: $mem ($f)"
f=$(cgroup_file "$name" pids.max)
is "$(cat "$f" 2>/dev/null)" 16 "pids.max of its cgroup: 16"
f=$(cgroup_file "$name" cpu.cfs_quota_us cpu.max)
like "$(cat "$f" 2>/dev/null)" "^50000( 100000)?$" "CPU quota of its cgroup: half a CPU"
f=$(cgroup_file "$name" cgroup.procs)
grep -qx "$pid" "$f" 2>/dev/null
ok $? "the VMM is in it"
is "$(awk '/^Max open files/ { print $4, $5 }' "/proc/$pid/limits")" "64 64" "RLIMIT_NOFILE 64"
is "$(awk '/^Max file size/ { print $4 }' "/proc/$pid/limits")" $((256 << 20)) "RLIMIT_FSIZE 256 MiB (it must cover guest memory: a memfd)"
is "$(awk '/^Max core file size/ { print $5 }' "/proc/$pid/limits")" 0 "no core dumps (they would hold guest memory)"
is "$(awk '/^Max processes/ { print $3 }' "/proc/$pid/limits")" 16 "RLIMIT_NPROC follows the pids limit"

jail_stop
is "$STATUS" 143 "SIGTERM ends it" || show_run
[[ -z $(find /sys/fs/cgroup -maxdepth 12 -type d -path "*/agentvm/$name" 2>/dev/null) ]]
ok $? "its cgroups are gone"

done_testing
