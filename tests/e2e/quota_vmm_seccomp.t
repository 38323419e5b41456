#!/usr/bin/env bash
# The VMM's seccomp allowlists (vmm/seccomp.c) hold: a vCPU thread that
# makes a syscall outside its list (the --test-forbidden-syscall hook calls
# socket()) kills the whole VMM with SIGSYS, jailed or not; with
# --seccomp off the same call goes through; every thread of a running VMM
# is filtered.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
need_guest hello idle
VMM=${QUOTA_VMM:-$BUILD_DIR/agentvm-vmm}
for v in "$VMM" "$JAIL_VMM"; do
	if ! "$v" --help 2>/dev/null | grep -q -- "--seccomp"; then
		echo "1..0 # SKIP $v has no --seccomp option"
		exit 0
	fi
done
name=qs-$$

run_vmm() { # run_vmm VMM-ARGS...: STATUS, SERIAL, STDERR
	# (The group's stderr takes the shell's own "Bad system call" notice.)
	{ timeout -k 5 30 "$VMM" "$@" </dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr"; } 2>/dev/null
	STATUS=$?
	SERIAL=$(<"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
}

run_vmm --kernel "$GUESTS/hello.elf"
is "$STATUS" 16 "hello runs under the filters (default on)" || show_run
run_vmm --kernel "$GUESTS/hello.elf" --test-forbidden-syscall
is "$STATUS" 159 "a vCPU thread calling socket() kills the VMM with SIGSYS (128+31)" || show_run
[[ -z $SERIAL ]]
ok $? "before the guest's first instruction (no serial output)"
if dmesg >/dev/null 2>&1; then
	# The kernel's audit record names the call (41 is socket on x86-64);
	# the audit log may be rate-limited, so this is only reported.
	echo "# kernel log: $(dmesg | grep 'type=1326' | grep 'comm="vcpu0"' | tail -n1 | grep -o 'sig=31.*syscall=[0-9]*')"
fi
run_vmm --kernel "$GUESTS/hello.elf" --test-forbidden-syscall --seccomp off
is "$STATUS" 16 "with --seccomp off the same call goes through" || show_run
like "$STDERR" "test hook: a vCPU thread called socket\(\) and survived \(seccomp off\)" "and says so"
run_vmm --kernel "$GUESTS/hello.elf" --seccomp maybe
is "$STATUS" 2 "--seccomp takes on or off only (usage error)"

"$VMM" --kernel "$GUESTS/idle.elf" --cpus 2 --serial none </dev/null >/dev/null 2>&1 &
pid=$!
wait_seccomp "$pid"
filtered=1
for t in /proc/"$pid"/task/*; do
	comm=$(cat "$t/comm")
	mode=$(awk '$1 == "Seccomp:" { print $2 }' "$t/status")
	echo "# thread $comm: Seccomp $mode, $(awk '$1 == "Seccomp_filters:" { print $2 }' "$t/status") filter(s)"
	[[ $comm == kvm-* || $mode == 2 ]] || filtered=0
done
is "$filtered" 1 "every thread of a running VMM is filtered"
is "$(status_field "$pid" NoNewPrivs)" 1 "no_new_privs is set"
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "it still stops cleanly on SIGTERM under the filters"

# In the jail.
jail_run "$name" hello -- --kernel /kernel --test-forbidden-syscall
is "$STATUS" 159 "jailed: the same call kills the jailed VMM with SIGSYS" || show_run
jail_run "$name-ok" hello -- --kernel /kernel
is "$STATUS" 16 "jailed: without it the guest runs to its end" || show_run

done_testing
