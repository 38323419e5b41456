#!/usr/bin/env bash
# agentvmd benchmarks, ours beside the peer measured in the same run, runs
# interleaved. Prints only lines of the form
#   bench: <name> ours=<number> peer=<number|-> unit=<unit>
# (reasons for a "-" peer go to stderr) and exits non-zero if a figure could
# not be measured.
#
#   daemon_create_pool_ms   median of BENCH_RUNS (20) sandbox.create calls
#                           served from the warm pool, as the client sees them
#                           (request written to reply read). Peer: bwrap
#                           starting the same image's root (new namespaces,
#                           /proc, /dev, a tmpfs /tmp) and running /bin/true,
#                           median of as many runs.
#   daemon_create_cold_ms   the same without the pool (limits that differ from
#                           the template's), until the agent has said hello.
#                           Peer: the same bwrap runs.
#   daemon_concurrent_sandboxes   container sandboxes alive at once
#                           (BENCH_SANDBOXES, default 200, created 8 at a time).
#   daemon_mem_per_sandbox_kib    their memory cgroups' usage, summed, divided
#                           by their number, plus agentvmd's own RSS growth per
#                           sandbox.
#   daemon_exec_p99_ms      p99 of 400 `true` execs spread over all of them
#                           while they are all alive, as the client sees them.
# The last three have no peer ("-"): bwrap has no daemon, pool or exec API to
# hold 200 sandboxes and run commands in them.
#
# Needs root (container sandboxes). Called by tests/bench/run.sh or alone:
#   tests/bench/daemon_bench.sh
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$TOP/build}
export BENCH_RUNS=${BENCH_RUNS:-20}
export BENCH_SANDBOXES=${BENCH_SANDBOXES:-200}
if [[ $(id -u) != 0 ]]; then
	echo "bench: daemon benchmarks need root (container sandboxes)" >&2
	exit 1
fi
for f in "$BUILD_DIR/agentvmd" "$BUILD_DIR/agentvm"; do
	[[ -x $f ]] || {
		echo "bench: $f is not built" >&2
		exit 1
	}
done
E2E_DIR=$TOP/tests/e2e exec python3 - <<'EOF'
import os, shutil, subprocess, sys, threading, time
sys.path.insert(0, os.environ["E2E_DIR"])
import daemon_rpc
from daemon_rpc import Conn, Daemon

RUNS = int(os.environ["BENCH_RUNS"])
N = int(os.environ["BENCH_SANDBOXES"])


def err(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def timed_call(d, method, params):
    c = Conn(d.sock)
    t0 = time.perf_counter()
    r, _ = c.call(method, params)
    ms = (time.perf_counter() - t0) * 1000
    c.close()
    if not r or "result" not in r:
        raise RuntimeError("%s: %r" % (method, r))
    return ms, r["result"]


failed = False
d = Daemon("--cleanup-on-exit", "--max-sandboxes", str(N + 16), "--max-sandboxes-per-uid",
           str(N + 16), pool=2)
try:
    d.wait_pool(1)
    rootfs = [t for t in d.result("template.list")["templates"] if t["name"] == "default"][0]["rootfs"]
    bwrap = shutil.which("bwrap")
    bw_cmd = [bwrap, "--ro-bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
              "--unshare-all", "--die-with-parent", "/bin/true"] if bwrap else None

    def peer_once():
        t0 = time.perf_counter()
        subprocess.run(bw_cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return (time.perf_counter() - t0) * 1000

    pool, cold, peer = [], [], []
    for i in range(RUNS):
        d.wait_pool(1)
        ms, r = timed_call(d, "sandbox.create", {"name": "bp%d" % i})
        if r["pooled"]:
            pool.append(ms)
        d.result("sandbox.destroy", {"sandbox": "bp%d" % i})
        ms, r = timed_call(d, "sandbox.create", {"name": "bc%d" % i, "limits": {"mem_bytes": 512 << 20}})
        cold.append(ms)
        d.result("sandbox.destroy", {"sandbox": "bc%d" % i})
        if bw_cmd:
            peer.append(peer_once())
    if not bw_cmd:
        err("bwrap is not installed: no peer for create")
    ps = "%.2f" % median(peer) if peer else "-"
    if len(pool) < RUNS // 2:
        err("the pool served only %d of %d creates" % (len(pool), RUNS))
        failed = True
    else:
        print("bench: daemon_create_pool_ms ours=%.2f peer=%s unit=ms" % (median(pool), ps), flush=True)
    print("bench: daemon_create_cold_ms ours=%.2f peer=%s unit=ms" % (median(cold), ps), flush=True)

    # Many sandboxes at once.
    rss0 = d.rss_kb()
    names = ["cc%03d" % i for i in range(N)]
    errors = []

    def maker(part):
        for n in part:
            try:
                d.result("sandbox.create", {"name": n})
            except Exception as e:
                errors.append(str(e))

    threads = [threading.Thread(target=maker, args=(names[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive = [s for s in d.result("sandbox.list_all", {"stats": True})["sandboxes"]
             if s["state"] == "running" and s["name"].startswith("cc")]
    if errors:
        err("%d creates failed, first: %s" % (len(errors), errors[0]))
    print("bench: daemon_concurrent_sandboxes ours=%d peer=- unit=sandboxes" % len(alive), flush=True)
    err("no peer for concurrent sandboxes, memory and exec p99: bwrap has no daemon or exec API")
    if alive:
        mem = sum(max(0, s["stats"]["mem_bytes"]) for s in alive) / len(alive) / 1024
        mem += max(0, d.rss_kb() - rss0) / len(alive)
        print("bench: daemon_mem_per_sandbox_kib ours=%.0f peer=- unit=KiB" % mem, flush=True)
        lat = []
        for i in range(400):
            s = alive[i % len(alive)]["name"]
            ms, r = timed_call(d, "sandbox.exec", {"sandbox": s, "argv": ["true"], "stream": False})
            lat.append(ms)
        lat.sort()
        print("bench: daemon_exec_p99_ms ours=%.2f peer=- unit=ms" % lat[int(len(lat) * 0.99) - 1], flush=True)
        err("exec with %d sandboxes alive: median %.2f ms, p99 %.2f ms" % (len(alive), median(lat), lat[int(len(lat) * 0.99) - 1]))
    else:
        failed = True
finally:
    d.stop(120)
    d.cleanup()
sys.exit(1 if failed else 0)
EOF
