#!/usr/bin/env bash
# agentvm doctor: exits 0, prints a table of checks and a verdict for every
# isolation level; --json says the same as JSON; the verdicts agree with what
# this host is (on paravirtual nested KVM: no microvm, because of the SYSCALL
# probe); bad flags exit 2.
set -u
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm

n=0
failed=0
ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

[ -x "$agentvm" ] || { echo "Bail out! $agentvm is not built (make all)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$agentvm" doctor >"$tmp/table" 2>"$tmp/err"
ok $? "doctor exits 0"
grep -q '^CHECK  *STATUS  *DETAIL' "$tmp/table"; ok $? "prints a table of checks"
for check in kvm guest-user-space guest-kernel-speed cgroup-memory cgroup-pids cgroup-cpu \
	namespaces seccomp overlayfs image-minimal image-base chromium; do
	grep -Eq "^$check +(ok|warn|fail|skip) " "$tmp/table"; ok $? "has the $check check"
done
for level in microvm container libvirt; do
	grep -Eq "^$level +(available|unavailable) +." "$tmp/table"; ok $? "has a verdict for $level, with a reason"
done
grep -q '^--isolation auto picks: ' "$tmp/table"; ok $? "says what auto picks"

"$agentvm" doctor --json >"$tmp/json"
ok $? "doctor --json exits 0"
python3 - "$tmp/json" "$tmp/table" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
table = open(sys.argv[2]).read()
assert isinstance(d["checks"], list) and d["checks"], "checks"
for c in d["checks"]:
    assert set(c) == {"name", "status", "detail"}, c
    assert c["status"] in ("ok", "warn", "fail", "skip"), c
for level in ("microvm", "container", "libvirt"):
    v = d["isolation"][level]
    assert isinstance(v["available"], bool) and v["reason"], level
    word = "available" if v["available"] else "unavailable"
    assert any(l.split()[:2] == [level, word] for l in table.splitlines()), level
assert d["auto"] in ("microvm", "container", None)
runs = d["runs"]
assert len(runs) == 5 and all(isinstance(r["yes"], bool) and r["what"] and r["why"] for r in runs)
assert runs[2]["yes"] == d["isolation"]["microvm"]["available"]
assert runs[3]["yes"] == d["isolation"]["container"]["available"]
assert "WHAT RUNS HERE" in table
EOF
ok $? "the JSON has checks and verdicts, and agrees with the table"

if [ -d /sys/module/kvm_pvm ] && [ -f "$build/guests/syscall_probe.elf" ]; then
	grep -Eq '^guest-user-space +fail +.*SYSCALL' "$tmp/table"
	ok $? "on kvm_pvm the SYSCALL probe says guest user space cannot run"
	grep -Eq '^microvm +unavailable +.*user space' "$tmp/table"
	ok $? "so microvm is unavailable, and the reason says why"
	grep -Eq '^guest-kernel-speed +warn +.*slower' "$tmp/table"
	ok $? "and guest kernel code is reported slow"
	grep -A1 -E '^  yes synthetic test guests' "$tmp/table" | grep -q 'full speed'
	ok $? "WHAT RUNS HERE: synthetic test guests run, at full speed"
	grep -A1 -E '^  no +the agent inside a microVM' "$tmp/table" | grep -q 'SYSCALL'
	ok $? "and the agent inside a microVM does not, with the probe's reason"
else
	ok 0 "# SKIP not on kvm_pvm, or the probe guests are not built (make guests)"
fi
if [ "$(id -u)" -eq 0 ]; then
	grep -Eq '^container +available' "$tmp/table"; ok $? "as root here, container is available"
fi

"$agentvm" doctor --bogus 2>"$tmp/bad"
ok "$([ $? -eq 2 ] && echo 0 || echo 1)" "a bad flag exits 2"
grep -q "unknown option '--bogus'" "$tmp/bad"; ok $? "and names it"
"$agentvm" doctor extra 2>/dev/null
ok "$([ $? -eq 2 ] && echo 0 || echo 1)" "an extra argument exits 2"
"$agentvm" doctor --help | grep -q '^Usage: agentvm doctor'; ok $? "doctor --help"

echo "1..$n"
[ "$failed" -eq 0 ]
