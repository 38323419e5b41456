#!/usr/bin/env bash
# Snapshot benchmarks: ours beside the peer (QEMU 7.2), measured in the same
# run. Prints only lines of the form
#   bench: <name> ours=<number> peer=<number> unit=<unit>
# and exits non-zero if a benchmark could not be measured (reason on stderr).
#
#   restore_ms_128m, restore_ms_1g, restore_ms_4g
#       median of SNAP_RUNS (20): a new process restores a snapshot of a guest
#       of that memory size until the guest executes again. Ours: spawn of
#       agentvm-vmm --restore until it exits, which the restored guest
#       (tests/guests/snapshot_guest.c) makes it do at once: the snapshot was
#       taken with an 'x' command waiting in its serial FIFO, so its first
#       poll of COM1 writes to the test-exit port. Peer: QEMU -M microvm with
#       -incoming "exec:cat FILE" (FILE saved with QMP migrate to
#       "exec:cat > FILE" from a guest of the same size), from spawn until QMP
#       query-status says "running".
#   reset_ms
#       median of SNAP_RESETS (200) vm.reset requests to a running restored
#       VM, from sending the request to reading the reply (the guest runs
#       again before the reply is written). Peer: QEMU has no in-place reset;
#       the nearest is HMP loadvm of a snapshot saved in a qcow2 image
#       (created through QMP blockdev-create), timed the same way, SNAP_LOADVMS
#       (20) times.
#   clone_private_mib
#       SNAP_CLONES (100) VMs restored from one 256 MiB snapshot, each writing
#       1 MiB (a 'd' command waiting in the snapshot's serial FIFO): the median
#       over the VMs of the VMM process's Private_Dirty (smaps_rollup).
#       Peer: SNAP_PEER_CLONES (10) QEMUs restored from one migration file of a
#       256 MiB guest (QEMU loads the stream into private memory, so each
#       copy is private; 10 rather than 100 keep the machine usable).
#
# SNAP_ONLY="restore reset clone" picks groups (default: all).
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/build}
VMM=${GUEST_VMM:-$BUILD_DIR/agentvm-vmm}
SPAWN=$BUILD_DIR/bench/spawn
GUESTS=$BUILD_DIR/guests
GUEST=$GUESTS/snapshot_guest.elf
RPC=$GUESTS/snapshot_rpc
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${SNAP_RUNS:-20}
RESETS=${SNAP_RESETS:-200}
LOADVMS=${SNAP_LOADVMS:-20}
CLONES=${SNAP_CLONES:-100}
PEER_CLONES=${SNAP_PEER_CLONES:-10}
ONLY=" ${SNAP_ONLY:-restore reset clone} "

die() {
	echo "bench: $*" >&2
	exit 1
}

for f in "$VMM" "$SPAWN" "$GUEST" "$RPC"; do
	[[ -x $f || -f $f ]] || die "$f is not built (make all guests)"
done
command -v python3 >/dev/null || die "python3 is needed"
[[ -c /dev/kvm ]] || die "no /dev/kvm"
HAVE_QEMU=1
command -v "$QEMU" >/dev/null || HAVE_QEMU=0

TMP=$(mktemp -d /tmp/agentvm-snapbench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
# make_bios, qmp, qemu_save, qemu_restore_ms, qemu_clones and QEMU_ARGS
. "$TOP/tests/bench/qemu_lib.sh"

# median FILE: the median of the numbers in FILE (one a line), two decimals.
median() {
	sort -g "$1" | awk '{ v[NR] = $1 }
		END { if (!NR) exit 1
		      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.2f\n", m }'
}

# snapshot_with NAME MEM CMDS GUEST-ARGS: boot the guest with MEM, wait until
# it is ready, pause it, queue the bytes CMDS in its serial FIFO, and take a
# snapshot into $TMP/NAME.{state,mem}.
snapshot_with() {
	local name=$1 mem=$2 cmds=$3 args=$4 fd pid i
	mkfifo "$TMP/$name.in"
	"$VMM" --kernel "$GUEST" --mem "$mem" --api "$TMP/$name.api" --cmdline "$args" \
		<"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	pid=$!
	exec {fd}>"$TMP/$name.in"
	for ((i = 0; i < 500; i++)); do
		grep -q "^snap: ready" "$TMP/$name.out" 2>/dev/null && break
		sleep 0.02
	done
	grep -q "^snap: ready" "$TMP/$name.out" || die "$name: the guest did not start: $(cat "$TMP/$name.err")"
	"$RPC" "$TMP/$name.api" vm.pause >/dev/null || die "$name: vm.pause failed"
	printf '%s' "$cmds" >&"$fd"
	sleep 0.2 # the loop moves the bytes into the UART's FIFO
	"$RPC" "$TMP/$name.api" vm.snapshot \
		"{\"state\":\"$TMP/$name.state\",\"memory\":\"$TMP/$name.mem\"}" >/dev/null ||
		die "$name: vm.snapshot failed"
	"$RPC" "$TMP/$name.api" vm.stop >/dev/null
	exec {fd}>&-
	wait "$pid"
}

make_bios "$TMP/spin.bin"

# --- restore ------------------------------------------------------------------
if [[ $ONLY == *" restore "* ]]; then
	for size in 128m:128M 1g:1G 4g:4G; do
		name=${size%%:*}
		mem=${size#*:}
		snapshot_with "r$name" "$mem" x "snap.mib=8"
		[[ $(stat -c %s "$TMP/r$name.mem") -gt 0 ]] || die "no memory file for $mem"
		: >"$TMP/ours_$name"
		: >"$TMP/peer_$name"
		if ((HAVE_QEMU)); then
			qemu_save "$mem" "$TMP/q$name.mig"
		fi
		for ((i = 0; i < RUNS; i++)); do
			line=$("$SPAWN" -o "$TMP/restore.log" -- "$VMM" --restore "$TMP/r$name.state" \
				--serial none) || die "restore $mem: could not run"
			[[ $line =~ wall_ms=([0-9.]+).*status=([0-9]+)$ ]] ||
				die "restore $mem: unexpected spawn output '$line'"
			[[ ${BASH_REMATCH[2]} == 16 ]] ||
				die "restore $mem: status ${BASH_REMATCH[2]}, not 16: $(cat "$TMP/restore.log")"
			echo "${BASH_REMATCH[1]}" >>"$TMP/ours_$name"
			if ((HAVE_QEMU)); then
				qemu_restore_ms "$mem" "$TMP/q$name.mig" >>"$TMP/peer_$name" ||
					die "QEMU restore of $mem failed"
			fi
		done
		peer=-
		((HAVE_QEMU)) && peer=$(median "$TMP/peer_$name")
		echo "bench: restore_ms_$name ours=$(median "$TMP/ours_$name") peer=$peer unit=ms"
		rm -f "$TMP/r$name.mem" "$TMP/q$name.mig"
	done
fi

# --- reset --------------------------------------------------------------------
if [[ $ONLY == *" reset "* ]]; then
	snapshot_with reset 128M "" "snap.mib=8"
	"$VMM" --restore "$TMP/reset.state" --api "$TMP/reset2.api" --serial none </dev/null \
		2>"$TMP/reset2.err" &
	PIDS+=($!)
	"$RPC" -w 5000 -n 20 "$TMP/reset2.api" vm.reset >/dev/null 2>&1 || die "vm.reset failed"
	stats=$("$RPC" -n "$RESETS" "$TMP/reset2.api" vm.reset 2>&1 >/dev/null) ||
		die "vm.reset failed: $stats"
	ours=$(awk -v s="$stats" 'BEGIN { match(s, /median_us=[0-9.]+/);
		printf "%.3f", substr(s, RSTART + 10, RLENGTH - 10) / 1000 }')
	"$RPC" "$TMP/reset2.api" vm.stop >/dev/null
	peer=-
	if ((HAVE_QEMU)); then
		sock=$TMP/ql.sock
		: >"$TMP/vm.qcow2"
		"$QEMU" "${QEMU_ARGS[@]}" -m 128 -bios "$TMP/spin.bin" \
			-qmp "unix:$sock,server=on,wait=off" &
		qpid=$!
		PIDS+=("$qpid")
		out=$(qmp "$sock" \
			"{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"filename\":\"$TMP/vm.qcow2\",\"node-name\":\"f\"}}" \
			'{"execute":"blockdev-create","arguments":{"job-id":"c","options":{"driver":"qcow2","file":"f","size":67108864}}}')
		for ((i = 0; i < 200; i++)); do
			qmp "$sock" '{"execute":"query-jobs"}' | grep -q '"status": "concluded"' && break
			sleep 0.05
		done
		out+=$(qmp "$sock" '{"execute":"job-dismiss","arguments":{"id":"c"}}' \
			'{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"q","file":"f"}}' \
			'{"execute":"human-monitor-command","arguments":{"command-line":"savevm s1"}}')
		loadvm=$(python3 - "$sock" "$LOADVMS" 2>&1 <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
def cmd(c, a=None):
    m = {"execute": c}
    if a: m["arguments"] = a
    f.write(json.dumps(m) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "event" not in r:
            return r
f.readline(); cmd("qmp_capabilities")
ts = []
for _ in range(int(sys.argv[2])):
    t0 = time.monotonic()
    r = cmd("human-monitor-command", {"command-line": "loadvm s1"})
    ts.append((time.monotonic() - t0) * 1000)
    if r.get("return", "x") != "":
        sys.exit("loadvm: %s" % r)
ts.sort()
n = len(ts)
print("%.3f" % (ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2))
cmd("quit")
PY
)
		if [[ $loadvm =~ ^[0-9.]+$ ]]; then
			peer=$loadvm
		else
			echo "bench: reset_ms: QEMU loadvm could not be measured: $loadvm $out" >&2
		fi
		kill "$qpid" 2>/dev/null
	fi
	echo "bench: reset_ms ours=$ours peer=$peer unit=ms"
fi

# --- clone --------------------------------------------------------------------
if [[ $ONLY == *" clone "* ]]; then
	snapshot_with clone 256M d "snap.mib=8 snap.dirty_mib=1"
	cpids=()
	for ((i = 0; i < CLONES; i++)); do
		"$VMM" --restore "$TMP/clone.state" --serial "file:$TMP/clone$i.out" </dev/null \
			2>"$TMP/clone$i.err" &
		cpids+=($!)
		PIDS+=($!)
	done
	for ((i = 0; i < CLONES; i++)); do
		for ((j = 0; j < 3000; j++)); do
			grep -q "^dirtied" "$TMP/clone$i.out" 2>/dev/null && break
			sleep 0.02
		done
		grep -q "^dirtied" "$TMP/clone$i.out" ||
			die "clone $i did not dirty its memory: $(cat "$TMP/clone$i.err")"
	done
	: >"$TMP/clone_pd"
	for p in "${cpids[@]}"; do
		awk '/^Private_Dirty:/ { printf "%.3f\n", $2 / 1024 }' /proc/"$p"/smaps_rollup >>"$TMP/clone_pd"
	done
	for p in "${cpids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	ours=$(median "$TMP/clone_pd")
	peer=-
	if ((HAVE_QEMU)); then
		qemu_save 256M "$TMP/clone.mig"
		if qemu_clones "$PEER_CLONES" 256M "$TMP/clone.mig" Private_Dirty >"$TMP/peer_kib"; then
			awk '{ printf "%.3f\n", $1 / 1024 }' "$TMP/peer_kib" >"$TMP/peer_pd"
			peer=$(median "$TMP/peer_pd")
		else
			echo "bench: clone_private_mib: the QEMU clones could not be measured" >&2
		fi
	fi
	echo "bench: clone_private_mib ours=$ours peer=$peer unit=MiB"
fi
