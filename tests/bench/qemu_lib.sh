# shellcheck shell=bash
# The QEMU peer of the snapshot benchmarks, sourced by snapshot_bench.sh and
# microvm_bench.sh: QEMU 7.2 -M microvm running a 64 KiB -bios that spins at
# its reset vector, saved with QMP migrate to a file and restored from it
# with -incoming. The caller sets TMP (a scratch directory that holds
# $TMP/spin.bin once make_bios has written it) and QEMU (the binary), and
# defines die().

QEMU_ARGS=(-M "microvm,x-option-roms=off,rtc=off" -enable-kvm -cpu "host,-arch-capabilities"
	-nodefaults -no-user-config -nographic -display none)

make_bios() { # a 64 KiB -bios image whose reset vector spins: jmp $
	head -c 65520 /dev/zero >"$1"
	printf '\xeb\xfe' >>"$1"
	truncate -s 65536 "$1"
}

# qmp SOCKET CMD-JSON...: run QMP commands in order, printing each reply.
QMP_PY='
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
for _ in range(2000):
    try:
        s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.005)
f = s.makefile("rw")
def reply():
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            return m
reply()
f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n"); f.flush(); reply()
for c in sys.argv[2:]:
    f.write(c + "\n"); f.flush(); print(json.dumps(reply()))
'
qmp() {
	python3 -c "$QMP_PY" "$@"
}

# qemu_save MEM FILE: a migration stream of a spinning QEMU guest with MEM.
qemu_save() {
	local mem=$1 file=$2 sock=$TMP/qs.sock pid
	"$QEMU" "${QEMU_ARGS[@]}" -m "$mem" -bios "$TMP/spin.bin" -qmp "unix:$sock,server=on,wait=off" &
	pid=$!
	qmp "$sock" "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > $file\"}}" >/dev/null
	for ((i = 0; i < 1000; i++)); do
		qmp "$sock" '{"execute":"query-migrate"}' | grep -q '"status": "completed"' && break
		sleep 0.05
	done
	qmp "$sock" '{"execute":"quit"}' >/dev/null 2>&1
	wait "$pid" 2>/dev/null
	[[ -s $file ]] || die "QEMU did not save a migration stream of $mem"
}

# qemu_restore_ms MEM FILE: ms from spawning QEMU -incoming to "running".
QEMU_RESTORE_PY='
import json, socket, subprocess, sys, time
sock, args = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s = socket.socket(socket.AF_UNIX)
while True:
    try:
        s.connect(sock); break
    except OSError:
        if p.poll() is not None: sys.exit("qemu exited")
        time.sleep(0.0005)
f = s.makefile("rw")
def cmd(c):
    f.write(json.dumps({"execute": c}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            return m
f.readline()
cmd("qmp_capabilities")
while cmd("query-status")["return"]["status"] != "running":
    time.sleep(0.0005)
print("%.3f" % ((time.monotonic() - t0) * 1000))
cmd("quit")
p.wait()
'
qemu_restore_ms() {
	local mem=$1 file=$2 sock=$TMP/qr.sock
	rm -f "$sock"
	python3 -c "$QEMU_RESTORE_PY" "$sock" "$QEMU" "${QEMU_ARGS[@]}" -m "$mem" \
		-bios "$TMP/spin.bin" -qmp "unix:$sock,server=on,wait=off" -incoming "exec:cat $file"
}

# qemu_clones N MEM FILE FIELD: N QEMUs restored from FILE at once; once
# each runs, print FIELD (a smaps_rollup line: Pss, Private_Dirty, ...) of
# each, in KiB, one a line; then kill them all. Returns 1 (and kills them)
# if one does not reach "running" within 20 s.
qemu_clones() {
	local n=$1 mem=$2 file=$3 field=$4 i j rc=0
	local -a pids=()
	for ((i = 0; i < n; i++)); do
		rm -f "$TMP/qc$i.sock"
		"$QEMU" "${QEMU_ARGS[@]}" -m "$mem" -bios "$TMP/spin.bin" \
			-qmp "unix:$TMP/qc$i.sock,server=on,wait=off" -incoming "exec:cat $file" &
		pids+=($!)
	done
	for ((i = 0; i < n; i++)); do
		for ((j = 0; j < 400; j++)); do
			qmp "$TMP/qc$i.sock" '{"execute":"query-status"}' 2>/dev/null |
				grep -q '"status": "running"' && break
			sleep 0.05
		done
		if ((j == 400)); then
			echo "bench: QEMU clone $i of $file did not run within 20 s" >&2
			rc=1
			break
		fi
		awk -v f="$field:" '$1 == f { print $2 }' /proc/"${pids[$i]}"/smaps_rollup
	done
	for i in "${pids[@]}"; do kill -9 "$i" 2>/dev/null; done
	for i in "${pids[@]}"; do wait "$i" 2>/dev/null; done
	return $rc
}
