# shellcheck shell=bash
# Shared by the synthetic-guest tests (sourced, not run): TAP helpers and
# run_guest, which boots one guest in agentvm-vmm and records its exit
# status, serial output and stderr.

BUILD_DIR=${BUILD_DIR:-$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)/build}
VMM=${GUEST_VMM:-$BUILD_DIR/agentvm-vmm} # GUEST_VMM: try another build
GUESTS=$BUILD_DIR/guests
GUEST_TIMEOUT=${GUEST_TIMEOUT:-60}

# Tests that run guests without agentvm-vmm set GUEST_NO_VMM=1 first.
if [[ -z ${GUEST_NO_VMM:-} ]]; then
	if [[ ! -c /dev/kvm || ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		echo "1..0 # SKIP no /dev/kvm"
		exit 0
	fi
	if [[ ! -x $VMM ]]; then
		echo "Bail out! $VMM not built (make all)"
		exit 1
	fi
fi

TEST_TMP=$(mktemp -d)
trap 'rm -rf "$TEST_TMP"' EXIT

# shellcheck source=tests/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"

has_line() { # has_line TEXT LINE DESCRIPTION: LINE is one whole line of TEXT
	grep -Fxq -- "$2" <<<"$1"
	ok $? "$3"
	grep -Fxq -- "$2" <<<"$1" || echo "#   no line '$2'"
}

# run_guest NAME [VMM OPTIONS...]: sets STATUS, SERIAL (COM1 output) and
# STDERR. Serial output goes to stdout; stdin is closed.
run_guest() {
	local name=$1
	shift
	timeout -k 5 "$GUEST_TIMEOUT" "$VMM" --kernel "$GUESTS/$name.elf" "$@" \
		</dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr"
	STATUS=$?
	SERIAL=$(tr -d '\r' <"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
}

# start_guest NAME [VMM OPTIONS...]: run_guest in the background; wait_guest
# then sets STATUS, SERIAL and STDERR.
start_guest() {
	local name=$1
	shift
	timeout -k 5 "$GUEST_TIMEOUT" "$VMM" --kernel "$GUESTS/$name.elf" "$@" \
		</dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr" &
	GUEST_PID=$!
}

wait_guest() {
	wait "$GUEST_PID"
	STATUS=$?
	SERIAL=$(tr -d '\r' <"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
}

# need_vmm_option OPTION: skip the whole test if agentvm-vmm --help does not
# list OPTION (a device not wired into this build).
need_vmm_option() {
	if ! "$VMM" --help 2>/dev/null | grep -q -- "$1"; then
		echo "1..0 # SKIP agentvm-vmm has no $1 option"
		exit 0
	fi
}

# need_built FILE...: bail out if a helper or guest is missing.
need_built() {
	local f
	for f in "$@"; do
		if [[ ! -e $f ]]; then
			echo "Bail out! $f not built (make guests)"
			exit 1
		fi
	done
}

# show_run: print the last run's output as TAP diagnostics.
show_run() {
	echo "#   status $STATUS"
	[[ -n $SERIAL ]] && echo "#   serial:" && diag "$SERIAL"
	[[ -n $STDERR ]] && echo "#   stderr:" && diag "$STDERR"
	return 0
}
