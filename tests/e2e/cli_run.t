#!/usr/bin/env bash
# agentvm run, end to end in the container isolation: exit statuses (the
# command's own, 127 not found, 126 not executable, 124 timeout, 128+N signal,
# 2 bad flags with a clear message), output streamed live on the right
# streams, stdin, environment and working directory.
set -u
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm

n=0
failed=0
ok() { # ok COND-STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
is() { # is GOT WANT NAME
	n=$((n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $n - $3"
	else
		echo "not ok $n - $3"
		echo "#   got '$1', want '$2'"
		failed=$((failed + 1))
	fi
}

[ -x "$agentvm" ] || { echo "Bail out! $agentvm is not built (make all)"; exit 1; }
[ -x "$build/agentvm-agent" ] || { echo "Bail out! $build/agentvm-agent is not built (make all)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP the container isolation needs root"; exit 0; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { "$agentvm" run --isolation container "$@"; }

# Build (or find) the image once, outside the timed checks.
run -- true >/dev/null 2>"$tmp/first.err"
rc=$?
is "$rc" 0 "true exits 0"
[ "$rc" -eq 0 ] || sed 's/^/# /' "$tmp/first.err"

run -- false; is $? 1 "false exits 1"
run -- sh -c 'exit 42'; is $? 42 "exit 42 passes through"

run -- no-such-command-xyz >/dev/null 2>"$tmp/nf.err"
is $? 127 "a missing command exits 127"
grep -q "no-such-command-xyz: command not found" "$tmp/nf.err"
ok $? "and says 'command not found'"

run -- /etc/passwd >/dev/null 2>&1
is $? 126 "a file that is not executable exits 126"

start=$(date +%s)
run --timeout 1 -- sleep 30 >/dev/null 2>"$tmp/to.err"
rc=$?
took=$(($(date +%s) - start))
is "$rc" 124 "a timeout exits 124"
ok "$([ "$took" -lt 10 ] && echo 0 || echo 1)" "and comes promptly (${took}s)"
grep -q "timed out" "$tmp/to.err"
ok $? "and says it timed out"

run -- sh -c 'kill -KILL $$'; is $? 137 "SIGKILL gives 128+9"
run -- sh -c 'kill -TERM $$'; is $? 143 "SIGTERM gives 128+15"

# Bad usage: exit 2 and one clear line.
"$agentvm" run --bogus -- true 2>"$tmp/u1"; is $? 2 "unknown flag exits 2"
grep -q "unknown option '--bogus'" "$tmp/u1"; ok $? "and names the flag"
"$agentvm" run --isolation warp -- true 2>"$tmp/u2"; is $? 2 "bad --isolation exits 2"
grep -q "auto, microvm or container" "$tmp/u2"; ok $? "and lists the choices"
"$agentvm" run --mem lots -- true 2>"$tmp/u3"; is $? 2 "bad --mem exits 2"
"$agentvm" run --timeout -5 -- true 2>"$tmp/u4"; is $? 2 "bad --timeout exits 2"
"$agentvm" run --cpus 0 -- true 2>/dev/null; is $? 2 "--cpus 0 exits 2"
"$agentvm" run 2>"$tmp/u5"; is $? 2 "no command exits 2"
grep -q "no command" "$tmp/u5"; ok $? "and says so"
"$agentvm" run --image 2>/dev/null; is $? 2 "--image without a value exits 2"
"$agentvm" frobnicate 2>"$tmp/u6"; is $? 2 "unknown subcommand exits 2"
grep -q "unknown command 'frobnicate'" "$tmp/u6"; ok $? "and names it"
"$agentvm" 2>/dev/null; is $? 2 "no subcommand exits 2"
"$agentvm" run --help >"$tmp/help"; is $? 0 "run --help exits 0"
grep -q "^Usage: agentvm run" "$tmp/help"; ok $? "and prints the usage"
"$agentvm" --help | grep -q "^Usage: agentvm"; ok $? "agentvm --help prints the usage"
run --image no-such-image -- true 2>"$tmp/img"; is $? 125 "an unknown image is agentvm's own error (125)"
grep -q "unknown image 'no-such-image'" "$tmp/img"; ok $? "and says so"

if [ -d /sys/module/kvm_pvm ] && [ -f "$build/guests/syscall_probe.elf" ]; then
	"$agentvm" run --isolation microvm -- true 2>"$tmp/vm"
	is $? 125 "--isolation microvm on this KVM is agentvm's own error (125)"
	grep -q "microvm isolation is not possible here: .*user space" "$tmp/vm"; ok $? "saying why"
fi

# Streams.
out=$(run -- sh -c 'echo to-out; echo to-err >&2' 2>"$tmp/err")
is "$out" "to-out" "stdout arrives on stdout"
grep -qx "to-err" "$tmp/err"; ok $? "stderr arrives on stderr"
is "$(run -- sh -c 'head -c 3000000 /dev/zero' | wc -c)" 3000000 "3 MB of output arrive whole"
start=$(date +%s)
run -- sh -c 'seq 1 100000000' 2>/dev/null | head -n1 >"$tmp/first"
rc=${PIPESTATUS[0]}
is "$(cat "$tmp/first")" 1 "output into a pipe that closes early"
is "$rc" 141 "ends the command with SIGPIPE (141), as a pipeline would"
ok "$([ $(($(date +%s) - start)) -lt 10 ] && echo 0 || echo 1)" "promptly"
is "$(printf 'line1\nline2\n' | run -i -- sh -c 'cat; echo done')" "$(printf 'line1\nline2\ndone')" \
	"-i passes stdin"
is "$(run -- sh -c 'cat; echo done' </dev/null)" "done" "without -i the command sees an empty stdin"
is "$(run -e GREETING=hello -w /tmp -- sh -c 'echo $GREETING $(pwd)')" "hello /tmp" \
	"--env and --workdir apply"
is "$(run -u 1000 -- id -u)" 1000 "--user runs as that uid"

# Live: the first line shows up while the command still runs.
run -- sh -c 'echo first; sleep 4; echo second' >"$tmp/live" 2>/dev/null &
pid=$!
for _ in $(seq 1 40); do
	grep -q first "$tmp/live" 2>/dev/null && break
	sleep 0.1
done
grep -q first "$tmp/live"; ok $? "output is streamed while the command runs"
grep -q second "$tmp/live"; ok "$((1 - $?))" "(the command has not finished yet)"
wait "$pid"; is $? 0 "and the run then ends with 0"
is "$(cat "$tmp/live")" "$(printf 'first\nsecond')" "with all of the output"

# auto explains its choice on stderr, in one line.
"$agentvm" run -- true 2>"$tmp/auto"
is "$(grep -c '^agentvm: isolation: ' "$tmp/auto")" 1 "--isolation auto says which isolation and why"

# Signals to agentvm reach the command (a background job ignores SIGINT, so
# this uses SIGTERM; the command dies of it: 143).
start=$(date +%s)
run -- sh -c 'sleep 30' >/dev/null 2>&1 &
pid=$!
sleep 1.5
kill -TERM "$pid"
wait "$pid"; is $? 143 "SIGTERM is forwarded to the command (exit 143)"
ok "$([ $(($(date +%s) - start)) -lt 10 ] && echo 0 || echo 1)" "and ends it at once"

echo "1..$n"
[ "$failed" -eq 0 ]
