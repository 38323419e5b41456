# shellcheck shell=bash
# shellcheck disable=SC2034 # LINE, RPC, RPC_RC and STATUS are for the tests
# Shared by the snapshot, restore and reset tests (sourced after lib.sh):
# VMs running tests/guests/snapshot_guest.c in the background, driven by
# one-byte commands on COM1 (through a FIFO) and by the control socket.
#
#   vm_start NAME VMM-ARGS...   start a VM; its API is $TEST_TMP/NAME.api,
#                               COM1 output $TEST_TMP/NAME.out
#   vm_cmd NAME CHAR REGEX      send a command, wait for a new COM1 line
#                               matching REGEX: sets LINE (empty on timeout)
#   vm_wait NAME REGEX          wait for any COM1 line matching REGEX: LINE
#   vm_rpc NAME METHOD [PARAMS] a control request: sets RPC (the reply) and
#                               RPC_RC (0 result, 1 error, 2 no socket)
#   vm_end NAME                 vm.stop, then wait: sets STATUS
#   vm_kill NAME                SIGKILL, then wait
#   vm_pid NAME                 the VMM's pid

RPC_BIN=$GUESTS/snapshot_rpc
SNAP_GUEST=$GUESTS/snapshot_guest.elf
need_built "$RPC_BIN" "$SNAP_GUEST"
need_vmm_option --restore

declare -A VM_PID VM_FD

# Whatever happens, no VM outlives its test.
vm_cleanup() {
	local name
	for name in "${!VM_PID[@]}"; do
		kill -9 "${VM_PID[$name]}" 2>/dev/null
	done
	rm -rf "$TEST_TMP"
}
trap vm_cleanup EXIT

vm_start() {
	local name=$1 fd
	shift
	rm -f "$TEST_TMP/$name.in" "$TEST_TMP/$name.api"
	mkfifo "$TEST_TMP/$name.in"
	: >"$TEST_TMP/$name.out"
	"$VMM" --api "$TEST_TMP/$name.api" "$@" <"$TEST_TMP/$name.in" \
		>"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" &
	VM_PID[$name]=$!
	exec {fd}>"$TEST_TMP/$name.in"
	VM_FD[$name]=$fd
}

vm_pid() {
	echo "${VM_PID[$1]}"
}

# The COM1 lines so far, without carriage returns.
vm_lines() {
	tr -d '\r' <"$TEST_TMP/$1.out"
}

# vm_wait_from NAME SKIP REGEX [SECONDS]: the first complete COM1 line after
# the first SKIP that matches REGEX, in LINE. Forks nothing but sleep, so
# that polling stays cheap next to busy vCPUs.
vm_wait_from() {
	local name=$1 skip=$2 re=$3 end=$((SECONDS + ${4:-20})) i l
	local -a lines
	LINE=
	while :; do
		mapfile lines <"$TEST_TMP/$name.out"
		for ((i = skip; i < ${#lines[@]}; i++)); do
			l=${lines[i]}
			[[ $l == *$'\n' ]] || break # a line still being written
			l=${l%$'\n'}
			l=${l%$'\r'}
			if [[ $l =~ $re ]]; then
				LINE=$l
				return 0
			fi
		done
		((SECONDS < end)) || return 1
		kill -0 "${VM_PID[$name]}" 2>/dev/null || return 1
		sleep 0.02
	done
}

# The number of complete COM1 lines so far.
vm_count() {
	local -a lines
	local n
	mapfile lines <"$TEST_TMP/$1.out"
	n=${#lines[@]}
	((n > 0)) && [[ ${lines[n - 1]} != *$'\n' ]] && n=$((n - 1))
	echo "$n"
}

vm_wait() {
	vm_wait_from "$1" 0 "$2" "${3:-20}"
}

vm_cmd() {
	local name=$1 ch=$2 re=$3 n
	n=$(vm_count "$name")
	printf '%s' "$ch" >&"${VM_FD[$name]}"
	vm_wait_from "$name" "$n" "$re"
}

vm_rpc() {
	local name=$1
	shift
	RPC=$("$RPC_BIN" -w 5000 "$TEST_TMP/$name.api" "$@" 2>&1)
	RPC_RC=$?
}

vm_end() {
	local name=$1
	vm_rpc "$name" vm.stop
	wait "${VM_PID[$name]}"
	STATUS=$?
	vm_close_fd "$name"
}

vm_kill() {
	local name=$1
	kill -9 "${VM_PID[$name]}" 2>/dev/null
	wait "${VM_PID[$name]}" 2>/dev/null
	vm_close_fd "$name"
}

vm_close_fd() {
	local fd=${VM_FD[$1]}
	exec {fd}>&-
}

# vm_show NAME: the VM's COM1 output and stderr as TAP diagnostics.
vm_show() {
	echo "#   $1 COM1 (last lines):"
	diag "$(vm_lines "$1" | tail -n 15)"
	echo "#   $1 stderr:"
	diag "$(cat "$TEST_TMP/$1.err")"
}

# field LINE KEY: the value of KEY=VALUE in LINE.
field() {
	sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

# lcg_ok SEED ITER X: whether X is the LCG of snapshot_guest.c after ITER
# steps from SEED (x = x * a + c mod 2^64).
lcg_ok() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
seed, n, x = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3], 16)
M, a, c = 1 << 64, 6364136223846793005, 1442695040888963407
ra, rc = 1, 0  # the identity map
while n:
    if n & 1:
        ra, rc = (ra * a) % M, (rc * a + c) % M
    a, c = (a * a) % M, (c * a + c) % M
    n >>= 1
sys.exit(0 if (ra * seed + rc) % M == x else 1)
PY
}
