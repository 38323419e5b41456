#!/usr/bin/env bash
# The jail runs agentvm-vmm (host/jail.c): a synthetic guest's serial output
# arrives and its exit status comes through; SIGTERM stops it; nothing is
# left behind (directory, cgroups); bad set-ups are refused with one clear
# line: a dynamically linked VMM, a file the jail's uid cannot read, a path
# under /dev, an existing directory.
# shellcheck source-path=SCRIPTDIR source=jail_lib.sh
source "$(dirname "$0")/jail_lib.sh"
need_guest hello idle

name=jb-$$
jail_run "$name" hello -- --kernel /kernel
is "$STATUS" 16 "hello in the jail: status 16 (test-exit 0)" || show_run
grep -Fxq "hello from a synthetic guest" <<<"$SERIAL"
ok $? "its line arrives on COM1 (the VMM's stdout)"
[[ ! -e $TEST_TMP/$name ]]
ok $? "the jail's directory is removed afterwards"
left=$(find /sys/fs/cgroup -maxdepth 12 -type d -path "*/agentvm/$name" 2>/dev/null | wc -l)
is "$left" 0 "so are its cgroups"

jail_run "$name-smp" hello -- --kernel /kernel --cpus 3 --mem 64M
is "$STATUS" 16 "with 3 vCPUs: status 16" || show_run

jail_run "$name-file" hello -- --kernel /kernel --serial file:/run/com1.log
is "$STATUS" 16 "--serial file:/run/com1.log (the jail's one writable directory): status 16" || show_run

jail_start "$name-idle" idle -- --kernel /kernel --serial none
ok $? "an idle guest starts in the jail"
sleep 0.3
kill -0 "$JPID" 2>/dev/null
ok $? "and keeps running"
jail_stop
is "$STATUS" 143 "SIGTERM stops the VMM (143)" || show_run
like "$STDERR" "stopping the VM on SIGTERM" "it stops cleanly, not killed"
[[ ! -e $JDIR ]]
ok $? "its directory is removed"

# --- refusals ---------------------------------------------------------------
dyn=$BUILD_DIR/agentvm-vmm
if [[ -x $dyn ]] && ldd "$dyn" >/dev/null 2>&1; then
	JAIL_VMM=$dyn jail_run "$name-dyn" hello -- --kernel /kernel
	is "$STATUS" 125 "a dynamically linked VMM is refused" || show_run
	like "$STDERR" "dynamically linked; the jail holds no libraries" "with the reason"
else
	ok 0 "# SKIP no dynamically linked agentvm-vmm to try"
	ok 0 "# SKIP"
fi

secret=$TEST_TMP/secret.elf
cp "$GUESTS/hello.elf" "$secret"
chmod 600 "$secret"
timeout 30 "$JAILRUN" --name "$name-ro" --dir "$TEST_TMP/$name-ro" --vmm "$JAIL_VMM" \
	--bind "$secret:/kernel" -- --kernel /kernel </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 125 "a kernel the jail's uid cannot read is refused"
like "$(cat "$TEST_TMP/err")" "not readable by others" "with the reason"

timeout 30 "$JAILRUN" --name "$name-dev" --dir "$TEST_TMP/$name-dev" --vmm "$JAIL_VMM" \
	--bind "$GUESTS/hello.elf:/dev/kvm" -- --kernel /dev/kvm </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 125 "binding a file over /dev/kvm is refused"
like "$(cat "$TEST_TMP/err")" "cannot be a path in the jail" "with the reason"

mkdir "$TEST_TMP/taken"
timeout 30 "$JAILRUN" --name "$name-ex" --dir "$TEST_TMP/taken" --vmm "$JAIL_VMM" \
	--bind "$GUESTS/hello.elf:/kernel" -- --kernel /kernel </dev/null >/dev/null 2>"$TEST_TMP/err"
is "$?" 125 "an existing jail directory is refused"
like "$(cat "$TEST_TMP/err")" "exists already" "with the reason"

jail_run "$name-missing" hello -- --kernel /nonexistent
is "$STATUS" 1 "a path that is not in the jail: the VMM itself says so (status 1)"
like "$STDERR" "kernel '/nonexistent': No such file or directory" "with the VMM's own message"

done_testing
