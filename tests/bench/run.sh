#!/usr/bin/env bash
# Benchmarks: ours beside the peer (QEMU 7.2 -M microvm), measured in the
# same run, interleaved run by run so that load on the machine hits both.
# Prints only lines of the form
#   bench: <name> ours=<number> peer=<number> unit=<unit>
# and exits non-zero if a benchmark could not be measured (reason on stderr).
#
#   cold_start_wall_ms  median of BENCH_RUNS (20) runs: process start, the
#                       guest's first instructions write to port 0xf4, exit.
#                       Ours: agentvm-vmm with tests/guests/first_insn.S.
#                       Peer: QEMU with a 64 KiB -bios whose reset vector
#                       does the same out to isa-debug-exit.
#   cold_start_cpu_ms   the same runs' user + system CPU time (median).
#   vmm_rss_mib         peak RSS (VmHWM just before SIGKILL, median of
#                       BENCH_RSS_RUNS (5) runs) with 128 MiB of guest memory
#                       the guest never touches: ours runs tests/guests/idle.c,
#                       QEMU a -bios spinning at its reset vector.
#   vsock_rtt_us        host -> guest -> host round trip of a 64-byte message
#                       over vsock (the guest, tests/guests/vsock.c, echoes at
#                       CPL3): the median of BENCH_RTT_COUNT (5000) round
#                       trips, measured by tests/guests/host/vsock_peer.c
#                       through the hybrid vsock's Unix socket; the median
#                       of BENCH_VSOCK_RUNS (3) such runs.
#   vsock_mbps          bulk throughput host -> guest (the guest checks every
#                       byte), median of BENCH_VSOCK_RUNS (3) runs of
#                       BENCH_VSOCK_BYTES (256 MiB), in MB/s (10^6 bytes/s).
#   vsock_mbps_guest_to_host   the same, guest -> host.
# The vsock peer figures are "-": QEMU's vsock is vhost-vsock, which needs
# the host kernel's /dev/vhost-vsock (module vhost_vsock). These build
# machines have no such device and cannot load modules (see KVM-HERE.md), so
# there is nothing to measure QEMU with. Where /dev/vhost-vsock exists the
# peer would be QEMU microvm with -device vhost-vsock-device and an AF_VSOCK
# client; that is not measured by this script.
#
# BENCH_ONLY="cold rss vsock" picks groups (default: all).
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/build}
VMM=${GUEST_VMM:-$BUILD_DIR/agentvm-vmm} # GUEST_VMM: measure another build
SPAWN=$BUILD_DIR/bench/spawn
GUESTS=$BUILD_DIR/guests
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${BENCH_RUNS:-20}
RSS_RUNS=${BENCH_RSS_RUNS:-5}
KILL_MS=${BENCH_KILL_MS:-300}
RTT_COUNT=${BENCH_RTT_COUNT:-5000}
VSOCK_RUNS=${BENCH_VSOCK_RUNS:-3}
VSOCK_BYTES=${BENCH_VSOCK_BYTES:-268435456}
ONLY=" ${BENCH_ONLY:-cold rss vsock} "
PEER=$GUESTS/vsock_peer

die() {
	echo "bench: $*" >&2
	exit 1
}

for f in "$VMM" "$SPAWN" "$GUESTS/first_insn.elf" "$GUESTS/idle.elf"; do
	[[ -x $f ]] || die "$f is not built (make all guests)"
done
command -v "$QEMU" >/dev/null || die "$QEMU not found (Debian package qemu-system-x86)"
[[ -c /dev/kvm ]] || die "no /dev/kvm"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# 64 KiB -bios images: the CPU starts in real mode at 0xffff0, the last 16
# bytes of the image.
#   exit.bin: xor al,al; out 0xf4,al; hlt; jmp back to hlt
#   spin.bin: jmp $
make_bios() { # make_bios FILE HEXBYTES
	head -c 65520 /dev/zero >"$1"
	printf "%b" "$2" >>"$1"
	truncate -s 65536 "$1"
}
make_bios "$TMP/exit.bin" '\x30\xc0\xe6\xf4\xf4\xeb\xfd'
make_bios "$TMP/spin.bin" '\xeb\xfe'

# The peer: QEMU's microvm with the devices ours has too (PIT, PIC/IOAPIC,
# COM1), no option ROMs and no RTC, which ours does not have.
QEMU_ARGS=(-M "microvm,x-option-roms=off,rtc=off" -enable-kvm -cpu "host,-arch-capabilities"
	-m 128 -nodefaults -no-user-config -nographic -display none)

# measure LABEL WANT_STATUS SPAWN_ARGS... : run once, append the spawn line to
# $TMP/LABEL, fail if the exit status is not WANT_STATUS.
measure() {
	local label=$1 want=$2 line
	shift 2
	line=$("$SPAWN" -o "$TMP/$label.log" "$@") || die "$label: could not run $*"
	[[ $line =~ status=([0-9]+)$ ]] || die "$label: unexpected spawn output '$line'"
	if [[ ${BASH_REMATCH[1]} != "$want" ]]; then
		echo "bench: $label: exit status ${BASH_REMATCH[1]}, expected $want; output:" >&2
		tail -n 20 "$TMP/$label.log" >&2
		exit 1
	fi
	echo "$line" >>"$TMP/$label"
}

# median LABEL FIELD [DIVISOR]: median of FIELD over the runs in $TMP/LABEL,
# divided by DIVISOR, with two decimals.
median() {
	sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$TMP/$1" | sort -g |
		awk -v d="${3:-1}" '{ v[NR] = $1 }
			END { if (!NR) exit 1
			      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			      printf "%.2f\n", m / d }'
}

# vsock: one guest serving every measurement; sets VSOCK_PID. It polls its
# queues (vsock.idle=poll) so that the figures are the VMM's device path, not
# the synthetic guest's interrupt wake-ups (emulated CPL0 code here).
vsock_start() {
	local uds=$TMP/v.sock
	"$VMM" --kernel "$GUESTS/vsock.elf" --mem 128M --serial "file:$TMP/vsock.serial" \
		--vsock "cid=3,uds=$uds" --cmdline "vsock.listen=5000 vsock.timeout=0 vsock.idle=poll" \
		</dev/null >"$TMP/vsock.log" 2>&1 &
	VSOCK_PID=$!
}

vsock_stop() {
	kill "$VSOCK_PID" 2>/dev/null
	wait "$VSOCK_PID" 2>/dev/null
}

# vsock_run LABEL MODE ARGS...: one vsock_peer run; appends its line to $TMP/LABEL.
vsock_run() {
	local label=$1 line
	shift
	if ! line=$("$PEER" "$@" -t 60 2>&1); then
		echo "bench: $label: vsock_peer $*: $line" >&2
		tail -n 20 "$TMP/vsock.serial" "$TMP/vsock.log" >&2
		vsock_stop
		exit 1
	fi
	echo "$line" >>"$TMP/$label"
}

[[ $ONLY == *" cold "* ]] || RUNS=0
for ((i = 0; i < RUNS; i++)); do
	measure cold_ours 16 -- "$VMM" --kernel "$GUESTS/first_insn.elf" --mem 128M --serial none
	# isa-debug-exit makes QEMU exit with (value << 1) | 1.
	measure cold_peer 1 -- "$QEMU" "${QEMU_ARGS[@]}" -bios "$TMP/exit.bin" \
		-device isa-debug-exit,iobase=0xf4,iosize=1
done
if ((RUNS)); then
	echo "bench: cold_start_wall_ms ours=$(median cold_ours wall_ms) peer=$(median cold_peer wall_ms) unit=ms"
	echo "bench: cold_start_cpu_ms ours=$(median cold_ours cpu_ms) peer=$(median cold_peer cpu_ms) unit=ms"
fi

[[ $ONLY == *" rss "* ]] || RSS_RUNS=0
for ((i = 0; i < RSS_RUNS; i++)); do
	measure rss_ours 137 -k "$KILL_MS" -- "$VMM" --kernel "$GUESTS/idle.elf" --mem 128M --serial none
	measure rss_peer 137 -k "$KILL_MS" -- "$QEMU" "${QEMU_ARGS[@]}" -bios "$TMP/spin.bin"
done
if ((RSS_RUNS)); then
	echo "bench: vmm_rss_mib ours=$(median rss_ours rss_kib 1024) peer=$(median rss_peer rss_kib 1024) unit=MiB"
fi

if [[ $ONLY == *" vsock "* ]]; then
	[[ -x $PEER && -f $GUESTS/vsock.elf ]] || die "$PEER or the vsock guest is not built (make guests)"
	if ! "$VMM" --help 2>/dev/null | grep -q -- --vsock; then
		echo "bench: vsock: skipped, this agentvm-vmm has no --vsock" >&2
		ONLY=${ONLY/ vsock / }
	fi
fi
if [[ $ONLY == *" vsock "* ]]; then
	vsock_start
	for ((i = 0; i < VSOCK_RUNS; i++)); do
		vsock_run vsock_rtt rtt "$TMP/v.sock" 5000 -c "$RTT_COUNT" -s 64
		vsock_run vsock_h2g sink "$TMP/v.sock" 5000 -b "$VSOCK_BYTES"
		vsock_run vsock_g2h source "$TMP/v.sock" 5000 -b "$VSOCK_BYTES"
	done
	vsock_stop
	echo "bench: vsock_rtt_us ours=$(median vsock_rtt median_us) peer=- unit=us"
	echo "bench: vsock_mbps ours=$(median vsock_h2g mbps) peer=- unit=MB/s"
	echo "bench: vsock_mbps_guest_to_host ours=$(median vsock_g2h mbps) peer=- unit=MB/s"
fi

