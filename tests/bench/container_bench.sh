#!/usr/bin/env bash
# Container-sandbox benchmarks, ours beside bubblewrap in the same run:
#   exec_rtt_ms       exec of `true` through the agent of a running container
#                     sandbox, round trip, median of BENCH_EXEC_COUNT (200).
#                     Peer: `bwrap` running `true` in fresh namespaces of the
#                     same image: what a tool without a resident agent pays
#                     for each command.
#   sandbox_start_ms  `agentvm run --isolation container -- true`, the whole
#                     command, median of BENCH_RUNS (20). Peer: the same bwrap
#                     command (mount, pid, net, ipc, uts namespaces, the image
#                     read-only as /, /proc and /dev).
# Prints `bench: <name> ours=<n> peer=<n> unit=ms` lines.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/build}
SPAWN=$BUILD_DIR/bench/spawn
RUNS=${BENCH_RUNS:-20}
EXECS=${BENCH_EXEC_COUNT:-200}

die() {
	echo "bench: $*" >&2
	exit 1
}
for f in "$SPAWN" "$BUILD_DIR/bench/exec_rtt" "$BUILD_DIR/agentvm" "$BUILD_DIR/agentvm-agent"; do
	[[ -x $f ]] || die "$f is not built (make all)"
done
command -v bwrap >/dev/null || die "bwrap not found (Debian package bubblewrap)"
image=$("$TOP/images/minimal/build.sh" --agent "$BUILD_DIR/agentvm-agent" 2>/dev/null | tail -n1)
[[ -d $image/rootfs ]] || die "the minimal image did not build"
rootfs=$image/rootfs
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

median() { # median FILE FIELD
	sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$1" | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) exit 1
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.2f\n", m }'
}

BWRAP=(bwrap --unshare-user-try --unshare-pid --unshare-net --unshare-ipc --unshare-uts
	--ro-bind "$rootfs" / --proc /proc --dev /dev /bin/true)
"${BWRAP[@]}" || die "bwrap cannot run the image here"

for ((i = 0; i < RUNS; i++)); do
	"$SPAWN" -- "$BUILD_DIR/agentvm" run --isolation container --image "$image/rootfs" -- true \
		>>"$TMP/run" || die "agentvm run failed"
	"$SPAWN" -- "${BWRAP[@]}" >>"$TMP/bwrap" || die "bwrap failed"
done
grep -q 'status=0$' "$TMP/run" || die "agentvm run -- true did not exit 0: $(tail -n1 "$TMP/run")"
line=$("$BUILD_DIR/bench/exec_rtt" "$rootfs" "$BUILD_DIR/agentvm-agent" "$EXECS") ||
	die "exec_rtt failed"
echo "$line" >"$TMP/rtt"

echo "bench: exec_rtt_ms ours=$(median "$TMP/rtt" rtt_median_ms) peer=$(median "$TMP/bwrap" wall_ms) unit=ms"
echo "bench: sandbox_start_ms ours=$(median "$TMP/run" wall_ms) peer=$(median "$TMP/bwrap" wall_ms) unit=ms"
