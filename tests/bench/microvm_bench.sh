#!/usr/bin/env bash
# agentvmd's microVM sandboxes under load, ours beside the peer measured in
# the same run, runs interleaved. The synthetic vsock guest
# (tests/guests/vsock.c, a template whose guest is "test") stands in for the
# agent: it echoes on vsock port 1024, and sandbox.create returns once it has
# echoed. Prints only lines of the form
#   bench: <name> ours=<number> peer=<number|-> unit=<unit>
# (reasons for a "-" peer and the distributions behind each figure go to
# stderr) and exits non-zero if a figure could not be measured.
#
#   microvm_create_pool_ms     median of BENCH_RUNS (20) sandbox.create calls
#                              of a 64 MiB template with a pool of 2 (paused
#                              restored spares), waiting for the pool to
#                              refill between calls, as the client sees them
#                              (request written to reply read): a hand-off,
#                              resume and echo check.
#   microvm_create_restore_ms  the same with no pool, the golden snapshot
#                              already taken: each a cold restore of a jailed
#                              VMM until the guest echoes.
#                              Peer of both: QEMU -M microvm restoring a
#                              migration file of a 64 MiB guest until QMP
#                              says running (tests/bench/qemu_lib.sh), median
#                              of as many runs.
#   microvm_concurrent_sandboxes   BENCH_MICROVMS (200) sandboxes of a 32 MiB
#                              template limited to BENCH_MICROVM_CPUS (0.1)
#                              of a core each, created 8 at a time: those
#                              alive at once.
#   microvm_mem_per_sandbox_kib    while they are all alive: the Pss
#                              (smaps_rollup) of their VMM processes summed
#                              and divided by their number (the golden memory
#                              file is page cache they share, so Pss charges
#                              each its share), plus agentvmd's own RSS
#                              growth per sandbox. Peer: the median Pss of
#                              BENCH_PEER_CLONES (10) QEMUs restored at once
#                              from one migration file of a 32 MiB guest.
#   microvm_echo_p99_ms        p99 of BENCH_ECHOS (400) echoes of 64 bytes,
#                              a fresh vsock connection each, spread over all
#                              of them while they are all alive, as the
#                              client sees them. No peer: QEMU's vsock is
#                              vhost-vsock, which needs the host's
#                              /dev/vhost-vsock (absent on these machines).
#
# BENCH_LOG=FILE keeps agentvmd's log there.
# Needs root and /dev/kvm. Called by tests/bench/run.sh or alone:
#   tests/bench/microvm_bench.sh
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$TOP/build}
export BENCH_RUNS=${BENCH_RUNS:-20}
export BENCH_MICROVMS=${BENCH_MICROVMS:-200}
export BENCH_MICROVM_CPUS=${BENCH_MICROVM_CPUS:-0.1}
export BENCH_ECHOS=${BENCH_ECHOS:-400}
export BENCH_PEER_CLONES=${BENCH_PEER_CLONES:-10}
export QEMU=${QEMU:-qemu-system-x86_64}

die() {
	echo "bench: $*" >&2
	exit 1
}

[[ $(id -u) == 0 ]] || die "microVM benchmarks need root (the VMM's jail)"
[[ -c /dev/kvm ]] || die "no /dev/kvm: microVMs cannot run here"
for f in "$BUILD_DIR/agentvmd" "$BUILD_DIR/agentvm" "$BUILD_DIR/agentvm-vmm-static" \
	"$BUILD_DIR/guests/vsock.elf"; do
	[[ -f $f ]] || die "$f is not built (make all guests)"
done
command -v python3 >/dev/null || die "python3 is needed"
((BENCH_RUNS >= 1 && BENCH_MICROVMS >= 1 && BENCH_ECHOS >= 1)) ||
	die "BENCH_RUNS, BENCH_MICROVMS and BENCH_ECHOS must be at least 1"

TMP=$(mktemp -d /tmp/agentvm-mvbench.XXXXXX) || die "no temporary directory"
export TMP
trap 'rm -rf "$TMP"' EXIT
export QEMU_LIB=$TOP/tests/bench/qemu_lib.sh
# shellcheck source=tests/bench/qemu_lib.sh
. "$QEMU_LIB"

# The peer's migration files, made before any microVM runs.
export QEMU_WHY=""
if ! command -v "$QEMU" >/dev/null; then
	QEMU_WHY="$QEMU not found (Debian package qemu-system-x86)"
else
	make_bios "$TMP/spin.bin"
	(qemu_save 64M "$TMP/q64.mig" && qemu_save 32M "$TMP/q32.mig") 2>"$TMP/qemu_save.err" ||
		QEMU_WHY="QEMU could not save a migration stream: $(tail -n 3 "$TMP/qemu_save.err")"
fi

E2E_DIR=$TOP/tests/e2e python3 - <<'EOF'
import os, signal, subprocess, sys, threading, time
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import BUILD, Conn, Daemon, guest_echo

RUNS = int(os.environ["BENCH_RUNS"])
N = int(os.environ["BENCH_MICROVMS"])
CPUS = float(os.environ["BENCH_MICROVM_CPUS"])
ECHOS = int(os.environ["BENCH_ECHOS"])
PEER_CLONES = int(os.environ["BENCH_PEER_CLONES"])
TMP = os.environ["TMP"]
QEMU_WHY = os.environ["QEMU_WHY"]
GUEST = os.path.join(BUILD, "guests", "vsock.elf")
CMDLINE = "vsock.listen=1024 vsock.accept=0 vsock.timeout=0"
MIB = 1 << 20


def err(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(len(xs) * p + 0.999999) - 1))]


def dist(xs):
    """min, median, p90, p99, max of a list of ms."""
    return "min %.2f, median %.2f, p90 %.2f, p99 %.2f, max %.2f ms" % (
        min(xs), median(xs), pct(xs, 0.9), pct(xs, 0.99), max(xs))


def timed_call(d, method, params):
    c = Conn(d.sock, 120)
    try:
        t0 = time.perf_counter()
        r, _ = c.call(method, params)
        ms = (time.perf_counter() - t0) * 1000
    finally:
        c.close()
    if not r or "result" not in r:
        raise RuntimeError("%s %s: %s" % (method, params.get("name", ""),
                                          r.get("error", {}).get("message") if r else "no reply"))
    return ms, r["result"]


def smaps(pid):
    """Pss, Rss and Private_Dirty of a process, in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Pss", "Rss", "Private_Dirty"):
                out[k] = int(v.split()[0])
    return out


def qemu_lib(*args):
    """Run a function of tests/bench/qemu_lib.sh; its stdout, or None."""
    p = subprocess.run(["bash", "-c", '. "$QEMU_LIB"; die() { echo "bench: $*" >&2; exit 1; }; "$@"',
                        "qemu_lib"] + list(args), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        err("QEMU %s: %s" % (args[0], (p.stderr or p.stdout).strip()[-300:]))
        return None
    return p.stdout


def template(d, name, mem, cpus, pool=0):
    r = d.rpc("template.build", {"name": name, "isolation": "microvm", "kernel": GUEST,
                                 "cmdline": CMDLINE, "guest": "test", "pool": pool,
                                 "limits": {"mem_bytes": mem, "cpus": cpus}})
    if not r or "result" not in r:
        msg = r.get("error", {}).get("message", "") if r else "no reply"
        err("microVMs cannot run here: " + msg if "not possible" in msg else
            "template.build %s: %s" % (name, msg))
        raise SystemExit(1)


# Every VMM pid we saw, to prove at the end that none is left.
seen_pids = set()


def note_run_pids(d):
    rd = os.path.join(d.state, "run")
    for e in d.run_dirs():
        try:
            seen_pids.add(int(open(os.path.join(rd, e, "pid")).read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass


def vmm_alive(pid):
    """Is pid a live (not zombie) agentvm-vmm process?"""
    try:
        head, _, tail = open("/proc/%d/stat" % pid).read().rpartition(")")
    except OSError:
        return False
    return head.partition("(")[2].startswith("agentvm-vmm") and tail.split()[0] != "Z"


def our_vmms(tmp):
    """Live agentvm-vmm processes whose jail mounts come from under tmp (this
    daemon's directory), whoever their parent is now."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            if not vmm_alive(int(e)):
                continue
            if (tmp.rstrip("/") + "/") in open("/proc/%s/mountinfo" % e).read():
                out.append(int(e))
        except OSError:
            pass
    return out


def golden(d, tmpl, name):
    """The template's first sandbox boots and takes the golden snapshot."""
    ms, r = timed_call(d, "sandbox.create", {"template": tmpl, "name": name})
    seen_pids.add(r["pid"])
    if r.get("origin") != "boot":
        raise RuntimeError("the first sandbox of %s was not booted (%s)" % (tmpl, r.get("origin")))
    guest_echo(r["guest_socket"], b"golden")
    err("%s: the golden boot took %.1f ms" % (tmpl, ms))
    d.result("sandbox.destroy", {"sandbox": name})


failed = False
peer_why = QEMU_WHY
d = Daemon("--cleanup-on-exit", "--max-sandboxes", str(N + 32), "--max-sandboxes-per-uid",
           str(N + 32), pool=0)
t_start = time.time()
try:
    # --- create: cold restore, then from the pool ------------------------------------
    template(d, "mv64", 64 * MIB, 1)
    golden(d, "mv64", "g64")
    restore, restore_d, peer = [], [], []
    for i in range(RUNS):
        ms, r = timed_call(d, "sandbox.create", {"template": "mv64", "name": "r%d" % i})
        seen_pids.add(r["pid"])
        if r.get("origin") != "snapshot" or r.get("pooled"):
            raise RuntimeError("create r%d: origin %s, pooled %s: not a cold restore" %
                               (i, r.get("origin"), r.get("pooled")))
        restore.append(ms)
        restore_d.append(r.get("create_ms", -1))
        d.result("sandbox.destroy", {"sandbox": "r%d" % i})
        if not peer_why:
            out = qemu_lib("qemu_restore_ms", "64M", os.path.join(TMP, "q64.mig"))
            if out is None:
                peer_why = "QEMU's restore failed"
            else:
                peer.append(float(out))
    err("create, cold restore: %s (the daemon's create_ms: %s)" % (dist(restore), dist(restore_d)))
    if peer_why:
        err("no QEMU peer for create: " + peer_why)
    else:
        err("QEMU restore of 64 MiB: %s" % dist(peer))
    ps = "%.2f" % median(peer) if not peer_why else "-"
    print("bench: microvm_create_restore_ms ours=%.2f peer=%s unit=ms" % (median(restore), ps),
          flush=True)

    r = d.rpc("template.build", {"name": "mv64", "pool": 2})
    if not r or "result" not in r:
        raise RuntimeError("template.build mv64 pool 2: %r" % r)
    pool, pool_d, unpooled = [], [], 0
    for i in range(RUNS):
        if not d.wait_pool(2, "mv64", 60):
            raise RuntimeError("the pool of mv64 did not fill within 60 s")
        note_run_pids(d)
        ms, r = timed_call(d, "sandbox.create", {"template": "mv64", "name": "p%d" % i})
        seen_pids.add(r["pid"])
        if r.get("pooled"):
            pool.append(ms)
            pool_d.append(r.get("create_ms", -1))
        else:
            unpooled += 1
        d.result("sandbox.destroy", {"sandbox": "p%d" % i})
    note_run_pids(d)
    d.result("template.build", {"name": "mv64", "pool": 0})
    if unpooled:
        err("%d of %d creates were not served from the pool" % (unpooled, RUNS))
    if len(pool) < RUNS // 2:
        err("the pool served only %d of %d creates" % (len(pool), RUNS))
        failed = True
    else:
        err("create, from the pool: %s (the daemon's create_ms: %s)" % (dist(pool), dist(pool_d)))
        print("bench: microvm_create_pool_ms ours=%.2f peer=%s unit=ms" % (median(pool), ps),
              flush=True)

    # --- many at once ------------------------------------------------------------------
    template(d, "mv32", 32 * MIB, CPUS)
    golden(d, "mv32", "g32")
    # The spares of mv64 go away in the background: let them, so that the
    # daemon's RSS growth below is that of the new sandboxes.
    deadline = time.time() + 20
    while time.time() < deadline and [e for e in d.run_dirs() if e.startswith("pool-")]:
        time.sleep(0.05)
    rss0 = d.rss_kb()
    names = ["cc%03d" % i for i in range(N)]
    errors, created = [], []
    t0 = time.perf_counter()

    def maker(part):
        for n in part:
            try:
                ms, r = timed_call(d, "sandbox.create", {"template": "mv32", "name": n})
                seen_pids.add(r["pid"])
                created.append(ms)
            except Exception as e:
                errors.append(str(e))

    threads = [threading.Thread(target=maker, args=(names[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    alive = [s for s in d.result("sandbox.list_all")["sandboxes"]
             if s["state"] == "running" and s["name"].startswith("cc")]
    if errors:
        err("%d creates failed, first: %s" % (len(errors), errors[0]))
        err("the failed ones: %s" % " ".join(sorted(e.split(":")[0].split()[-1] for e in errors)))
    if created:
        err("%d creates, 8 at a time, in %.1f s (limits: 32 MiB, %g of a core each): %s" %
            (len(created), wall, CPUS, dist(created)))
    print("bench: microvm_concurrent_sandboxes ours=%d peer=- unit=sandboxes" % len(alive),
          flush=True)
    err("no peer for concurrent sandboxes: QEMU has no daemon to hold them")
    if not alive:
        raise RuntimeError("no sandbox is alive")

    # Memory, while all are alive.
    pids = [d.result("sandbox.get", {"sandbox": s["name"]})["pid"] for s in alive]
    mems = []
    for p in pids:
        try:
            mems.append(smaps(p))
        except OSError as e:
            err("smaps_rollup of VMM %d: %s" % (p, e))
    growth = max(0, d.rss_kb() - rss0) / len(alive)
    cg = [s["stats"]["mem_bytes"] / 1024 for s in
          d.result("sandbox.list_all", {"stats": True})["sandboxes"]
          if s["name"].startswith("cc") and s.get("stats", {}).get("mem_bytes", -1) >= 0]
    if len(mems) != len(alive):
        failed = True
    else:
        pss = sum(m["Pss"] for m in mems) / len(mems)
        err("per VMM: Pss %.0f KiB (mean), RSS %.0f KiB and Private_Dirty %.0f KiB (medians); "
            "agentvmd grew by %.0f KiB per sandbox" %
            (pss, median([m["Rss"] for m in mems]), median([m["Private_Dirty"] for m in mems]),
             growth))
        if cg:
            err("their memory cgroups' usage (kernel memory and page cache charged to them "
                "included): median %.0f KiB" % median(cg))
        mpeer = "-"
        if peer_why:
            err("no QEMU peer for memory: " + peer_why)
        else:
            out = qemu_lib("qemu_clones", str(PEER_CLONES), "32M", os.path.join(TMP, "q32.mig"),
                           "Pss")
            vals = [int(x) for x in out.split()] if out else []
            if len(vals) == PEER_CLONES:
                mpeer = "%.0f" % median(vals)
                err("QEMU restored from a 32 MiB migration file: Pss median %s KiB over %d" %
                    (mpeer, PEER_CLONES))
            else:
                err("no QEMU peer for memory: the %d clones could not be measured" % PEER_CLONES)
        print("bench: microvm_mem_per_sandbox_kib ours=%.0f peer=%s unit=KiB" % (pss + growth, mpeer),
              flush=True)

    # Echo round trips spread over all of them.
    lat, bad = [], []
    payload = bytes(range(64))
    for i in range(ECHOS):
        s = alive[i % len(alive)]
        t0 = time.perf_counter()
        try:
            guest_echo(s["guest_socket"], payload)
            lat.append((time.perf_counter() - t0) * 1000)
        except OSError as e:
            bad.append("%s: %s" % (s["name"], e))
    if bad:
        err("%d of %d echoes failed, first: %s" % (len(bad), ECHOS, bad[0]))
        failed = True
    if lat:
        err("echo with %d sandboxes alive: %s" % (len(alive), dist(lat)))
        print("bench: microvm_echo_p99_ms ours=%.2f peer=- unit=ms" % pct(lat, 0.99), flush=True)
        err("no peer for echo: QEMU's vsock is vhost-vsock, which needs /dev/vhost-vsock, "
            "absent here")
    else:
        failed = True
    note_run_pids(d)
except (RuntimeError, OSError) as e:
    err(str(e))
    failed = True
finally:
    try:
        note_run_pids(d)
    except OSError:
        pass
    d.stop(120)
    log = open(d.log, errors="replace").read()
    errs = [l for l in log.splitlines() if " error" in l.lower() or "E " in l[:24]]
    if errs:
        err("agentvmd logged %d error lines, last: %s" % (len(errs), errs[-1][:300]))
    if os.environ.get("BENCH_LOG"):
        with open(os.environ["BENCH_LOG"], "w") as f:
            f.write(log)
    d.cleanup()
    time.sleep(0.2)
    left = sorted(set(p for p in seen_pids if vmm_alive(p)) | set(our_vmms(d.tmp)))
    if left:
        # A daemon that died does not take its microVMs with it (a restart
        # adopts them), and Daemon.cleanup() knows only containers' pid files.
        err("VMMs of this daemon left after it stopped: %s; killing them" % left)
        failed = True
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and any(vmm_alive(p) for p in left):
            time.sleep(0.05)
        if any(vmm_alive(p) for p in left):
            err("VMMs still alive after SIGKILL: %s" % [p for p in left if vmm_alive(p)])
    else:
        err("%d VMMs in all, none left; %.0f s" % (len(seen_pids), time.time() - t_start))
sys.exit(1 if failed else 0)
EOF
