#!/usr/bin/env bash
# Egress into a microVM sandbox (`agentvm run --isolation microvm --policy`):
# the VMM boots the guest with agentvm.egress=vsock:3128 on the kernel
# command line (read by the agent as PID 1), and the sandbox's egress proxy
# listens at the jail's /run/vsock.sock_3128, where the VMM's hybrid vsock
# takes the guest's connections to CID 2 port 3128. From the host: that
# socket belongs to the jail's uid, which can connect to it, no other uid
# can, and it speaks the policy proxy (a CONNECT to a disallowed name gets
# 403). Where guest user space cannot run (nested paravirtual KVM),
# AGENTVM_MICROVM_FORCE=1 starts the same jailed VM, whose agent never
# answers; the in-guest path then needs a hardware-KVM host and is skipped.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
agentvm=$BUILD_DIR/agentvm
[[ -x $agentvm ]] || { echo "Bail out! $agentvm not built (make all)"; exit 1; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed"; exit 0; }
kdir=$("$top/images/kernel/build.sh" --dir 2>/dev/null)
if [[ ! -f $kdir/vmlinux ]]; then
	echo "1..0 # SKIP the guest kernel is not built (make kernel)"
	exit 0
fi
image=$("$top/images/minimal/build.sh" --agent "$BUILD_DIR/agentvm-agent" 2>"$TEST_TMP/build.log" | tail -n1)
[[ -f $image/initramfs.cpio ]] || { diag "$(cat "$TEST_TMP/build.log")"; echo "Bail out! cannot build the minimal image"; exit 1; }

export AGENTVM_RUN_DIR=$TEST_TMP/run
name=je-$$
if "$agentvm" doctor --json 2>/dev/null | grep -q '"auto": *"microvm"'; then
	hardware=1
else
	hardware=0
	export AGENTVM_MICROVM_FORCE=1 AGENTVM_MICROVM_CONNECT_MS=15000
fi
echo "# guest user space runs here: $hardware"
cat >"$TEST_TMP/policy.json" <<'JSON'
{"allow_domains": ["allowed.test"], "hosts": {"allowed.test": "127.0.0.1"}, "dns": false}
JSON
audit=$TEST_TMP/egress-audit.log
jrun=$AGENTVM_RUN_DIR/$name/jail/run
sock=$jrun/vsock.sock_3128

# connect_as UID [REQUEST]: as UID, connect to the socket (through the run
# directory, opened first, since the directories above it are root's alone),
# send REQUEST, print the reply's first line, or the error.
connect_as() {
	python3 - "$jrun" "$1" "${2:-}" <<'PY'
import os, socket, sys
run, uid, req = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(run, os.O_PATH | os.O_DIRECTORY)
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
try:
    os.fchdir(fd)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("vsock.sock_3128")
except OSError as e:
    print("error", e.strerror)
    sys.exit(0)
if not req:
    print("connected")
    sys.exit(0)
s.sendall(req.encode())
buf = b""
while b"\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print(buf.split(b"\n", 1)[0].decode(errors="replace").strip())
PY
}

cmd=(true)
[[ $hardware == 1 ]] && cmd=(sh -c 'sleep 5; wget -q -O /dev/null http://denied.test/ 2>&1; echo "wget $?"')
"$agentvm" run --isolation microvm --image "$image/rootfs" --name "$name" --mem 256M --cpus 1 \
	--policy "$TEST_TMP/policy.json" --egress-audit "$audit" -- "${cmd[@]}" \
	>"$TEST_TMP/out" 2>"$TEST_TMP/err" &
run_pid=$!
pid=
for ((i = 0; i < 200; i++)); do
	f=$(cgroup_file "$name" cgroup.procs) && pid=$(head -n1 "$f") && [[ -n $pid ]] && break
	sleep 0.05
done
for ((i = 0; i < 100; i++)); do
	[[ -S $sock ]] && break
	sleep 0.05
done
if [[ -n $pid ]] && wait_seccomp "$pid"; then
	ok 0 "the sandbox's VMM runs (pid $pid)"
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	like "$args" "--cmdline [^-]*agentvm\.egress=vsock:3128 --mem" \
		"its kernel command line carries agentvm.egress=vsock:3128"
	juid=$(status_field "$pid" Uid | awk '{print $1}')
	[[ -S $sock ]]
	ok $? "a socket waits at the jail's /run/vsock.sock_3128 (<uds>_3128)"
	is "$(stat -c '%u %a' "$sock" 2>/dev/null)" "$juid 600" "it belongs to the jail's uid ($juid), mode 0600"
	is "$(connect_as "$juid")" connected "the jail's uid can connect to it"
	like "$(connect_as 65534)" "^error (Permission denied|Connection refused)" "another uid cannot"
	reply=$(connect_as "$juid" $'CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\n')
	like "$reply" "^HTTP/1\.[01] 403" "it is the policy proxy: a CONNECT to a disallowed name gets 403"
	for ((i = 0; i < 100; i++)); do
		grep -q '"denied.test"' "$audit" 2>/dev/null && break
		sleep 0.05
	done
	grep '"denied.test"' "$audit" 2>/dev/null | grep -q '"deny"'
	ok $? "and the refusal is in the egress audit file, under the sandbox's name" ||
		diag "$(cat "$audit" 2>/dev/null)"
	grep -q "\"$name\"" "$audit" 2>/dev/null
	ok $? "named $name"
else
	ok 1 "the sandbox's VMM runs"
	diag "$(cat "$TEST_TMP/err")"
fi
wait "$run_pid"
status=$?
if [[ $hardware == 1 ]]; then
	is "$status" 0 "the run ends with 0" || diag "$(cat "$TEST_TMP/err")"
	like "$(cat "$TEST_TMP/out")" "403" "in the guest, wget through the agent's proxy gets 403 for a disallowed name"
else
	is "$status" 125 "the run ends with 125 (the agent cannot answer here)"
	ok 0 "# SKIP the in-guest path (the agent's proxy to vsock CID 2 port 3128) needs a KVM that runs guest user space (hardware KVM)"
fi
grep -q "not carried into microVMs" "$TEST_TMP/err"
ok $((!$?)) "no warning that egress is not carried"
is "$(ls "$AGENTVM_RUN_DIR")" "" "nothing is left in the state directory"
is "$(ls -A "$AGENTVM_RUN_DIR/.egress" 2>/dev/null)" "" "no egress socket is left behind"

done_testing
