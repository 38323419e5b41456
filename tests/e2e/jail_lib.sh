# shellcheck shell=bash
# Shared by tests/e2e/jail_*.t and quota_vmm_*.t (sourced, not run): TAP
# helpers, and jail_run / jail_start, which run a synthetic guest in
# agentvm-vmm-static inside the jail (host/jail.c) through jailrun.
#   JAILRUN, JAIL_VMM   try other builds of jailrun and the static VMM
set -u

top=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
BUILD_DIR=${BUILD_DIR:-$top/build}
JAILRUN=${JAILRUN:-$BUILD_DIR/tests/e2e/jail/jailrun}
JAIL_VMM=${JAIL_VMM:-$BUILD_DIR/agentvm-vmm-static}
GUESTS=$BUILD_DIR/guests
JAIL_TIMEOUT=${JAIL_TIMEOUT:-60}

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP the jail needs root"
	exit 0
fi
if [[ ! -c /dev/kvm || ! -r /dev/kvm || ! -w /dev/kvm ]]; then
	echo "1..0 # SKIP no /dev/kvm"
	exit 0
fi
for f in "$JAILRUN" "$JAIL_VMM"; do
	if [[ ! -x $f ]]; then
		echo "Bail out! $f not built (make all)"
		exit 1
	fi
done

TEST_TMP=$(mktemp -d)
JR_PID=
jail_cleanup() {
	[[ -z $JR_PID ]] || kill -TERM "$JR_PID" 2>/dev/null
	[[ -z $JR_PID ]] || wait "$JR_PID" 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap jail_cleanup EXIT

# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"

need_guest() { # need_guest NAME...: bail out if a guest is not built
	local g
	for g in "$@"; do
		if [[ ! -e $GUESTS/$g.elf ]]; then
			echo "Bail out! $GUESTS/$g.elf not built (make guests)"
			exit 1
		fi
	done
}

# jail_run NAME GUEST [JAILRUN OPTIONS...] -- [VMM OPTIONS...]: run GUEST
# (bound in as /kernel) to its end in a jail called NAME, whose directory is
# $TEST_TMP/NAME. Sets STATUS, SERIAL (COM1) and STDERR.
jail_run() {
	local name=$1 guest=$2
	shift 2
	timeout -k 5 "$JAIL_TIMEOUT" "$JAILRUN" --name "$name" --dir "$TEST_TMP/$name" \
		--vmm "$JAIL_VMM" --bind "$GUESTS/$guest.elf:/kernel" "$@" \
		</dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr"
	STATUS=$?
	SERIAL=$(tr -d '\r' <"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
}

# jail_start NAME GUEST [...]: the same in the background, returning once the
# VMM runs: JPID is its pid, JR_PID jailrun's, JDIR the jail's directory.
# jail_stop then sends SIGTERM to the VMM and sets STATUS, SERIAL, STDERR.
jail_start() {
	local name=$1 guest=$2 i
	shift 2
	JDIR=$TEST_TMP/$name
	rm -f "$TEST_TMP/info"
	"$JAILRUN" --name "$name" --dir "$JDIR" --vmm "$JAIL_VMM" \
		--bind "$GUESTS/$guest.elf:/kernel" --info "$TEST_TMP/info" "$@" \
		</dev/null >"$TEST_TMP/serial" 2>"$TEST_TMP/stderr" &
	JR_PID=$!
	JPID=
	for ((i = 0; i < 200; i++)); do
		if [[ -e $TEST_TMP/info ]]; then
			JPID=$(awk '$1 == "pid" { print $2 }' "$TEST_TMP/info")
			return 0
		fi
		kill -0 "$JR_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# jailrun did not start the VMM: $(cat "$TEST_TMP/stderr")"
	return 1
}

jail_wait() {
	wait "$JR_PID"
	STATUS=$?
	JR_PID=
	SERIAL=$(tr -d '\r' <"$TEST_TMP/serial")
	STDERR=$(<"$TEST_TMP/stderr")
}

jail_stop() {
	[[ -n $JPID ]] && kill -TERM "$JPID" 2>/dev/null
	jail_wait
}

# status_field PID FIELD: a field of /proc/PID/status.
status_field() {
	awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status" 2>/dev/null
}

# wait_seccomp PID: wait (up to 5 s) until the VMM has installed its filter.
wait_seccomp() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(status_field "$1" Seccomp) == 2 ]] && return 0
		sleep 0.05
	done
	return 1
}

# cgroup_file NAME FILE...: the first of the FILEs found in a directory
# agentvm/NAME of any cgroup hierarchy (v1 and v2 names differ).
cgroup_file() {
	local name=$1 d f
	shift
	while IFS= read -r d; do
		for f in "$@"; do
			if [[ -e $d/$f ]]; then
				echo "$d/$f"
				return 0
			fi
		done
	done < <(find /sys/fs/cgroup -maxdepth 12 -type d -path "*/agentvm/$name" 2>/dev/null)
	return 1
}

show_run() {
	echo "#   status $STATUS"
	[[ -n $SERIAL ]] && echo "#   serial:" && diag "$SERIAL"
	[[ -n $STDERR ]] && echo "#   stderr:" && diag "$STDERR"
	return 0
}
