#!/usr/bin/env bash
# Task batches through agentvmd beside a bwrap + xargs peer, measured in the
# same run. Prints only lines of the form
#   bench: <name> ours=<number> peer=<number|-> unit=<unit>
# (details go to stderr) and exits non-zero if a figure could not be measured
# or a check failed.
#
#   batch_tasks_per_s   BENCH_TASKS (1000) tasks run by `agentvm batch
#                       --parallel BENCH_PARALLEL (50)` on the container
#                       backend, from submission to the last result. Each task
#                       writes a file, runs `sh -c` (copy it and append a line),
#                       validates the output with grep and collects it as an
#                       artefact; its sandbox is reset after it. Peer: the same
#                       work as `bwrap --ro-bind <image> / --unshare-all ...
#                       sh -c` per task with `xargs -P BENCH_PARALLEL`.
#   batch_task_p50_ms, batch_task_p99_ms   per-task latency: ours from the
#                       task's start to its result (started_ms..finished_ms),
#                       the peer's one bwrap run each.
#   batch_faults_tasks_per_s   the same batch while 5% as many sandbox PID 1s
#                       as there are tasks are killed (SIGKILL) at random; the
#                       check is that every task still ends with exactly one
#                       result, and passes (retried as an infrastructure
#                       failure). No peer ("-"): xargs has no retry.
#
# Needs root (container sandboxes). Alone: tests/bench/batch_bench.sh
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$TOP/build}
export BENCH_TASKS=${BENCH_TASKS:-1000}
export BENCH_PARALLEL=${BENCH_PARALLEL:-50}
if [[ $(id -u) != 0 ]]; then
	echo "bench: batch benchmarks need root (container sandboxes)" >&2
	exit 1
fi
for f in "$BUILD_DIR/agentvmd" "$BUILD_DIR/agentvm"; do
	[[ -x $f ]] || {
		echo "bench: $f is not built" >&2
		exit 1
	}
done
E2E_DIR=$TOP/tests/e2e exec python3 - <<'EOF_PY'
import json, os, random, shutil, subprocess, sys, threading, time
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import Daemon, AGENTVM

N = int(os.environ["BENCH_TASKS"])
P = int(os.environ["BENCH_PARALLEL"])
failed = False


def err(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else 0


def task(i):
    return {"name": "t%d" % i,
            "setup": {"files": [{"path": "/tmp/in", "content": "input-%d\n" % i}]},
            "commands": ["cat /tmp/in > /tmp/out; echo done-%d >> /tmp/out" % i],
            "validate": ["grep -q done-%d /tmp/out" % i],
            "artefacts": ["/tmp/out"], "timeout": 120}


def run_batch(d, tag, kill_frac=0.0):
    path = os.path.join(d.tmp, tag + ".jsonl")
    out = os.path.join(d.tmp, tag + ".out.jsonl")
    with open(path, "w") as f:
        for i in range(N):
            f.write(json.dumps(task(i)) + "\n")
    env = dict(os.environ, AGENTVMD_SOCKET=d.sock)
    kills = []
    stop = threading.Event()

    def killer():
        want = int(N * kill_frac)
        rng = random.Random(42)
        while not stop.is_set() and len(kills) < want:
            time.sleep(rng.uniform(0.01, 0.2))
            try:
                sbs = [s for s in d.result("sandbox.list_all")["sandboxes"]
                       if s.get("state") == "running" and s.get("pid") and
                       (s.get("metadata") or {}).get("task_runner")]
            except Exception:
                continue
            if sbs:
                s = rng.choice(sbs)
                try:
                    os.kill(s["pid"], 9)
                    kills.append(s["name"])
                except OSError:
                    pass

    th = threading.Thread(target=killer) if kill_frac else None
    t0 = time.perf_counter()
    if th:
        th.start()
    p = subprocess.run([AGENTVM, "batch", path, "--parallel", str(P), "--out", out],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=3600)
    secs = time.perf_counter() - t0
    stop.set()
    if th:
        th.join()
    res = [json.loads(l) for l in open(out) if l.strip()]
    return p, secs, res, kills


def peer_batch(rootfs):
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return None
    script = ("s=$(date +%%s%%N); %s --ro-bind %s / --proc /proc --dev /dev --tmpfs /tmp "
              "--unshare-all --die-with-parent sh -c "
              "'echo input-$0 > /tmp/in; cat /tmp/in > /tmp/out; echo done-$0 >> /tmp/out; "
              "grep -q done-$0 /tmp/out && cat /tmp/out >/dev/null' $0 || exit 255; "
              "echo $(( ($(date +%%s%%N) - s) / 1000 ))") % (bwrap, rootfs)
    t0 = time.perf_counter()
    p = subprocess.run("seq 0 %d | xargs -P %d -I{} sh -c '%s' {}" % (N - 1, P, script.replace("'", "'\\''")),
                       shell=True, capture_output=True, timeout=3600)
    secs = time.perf_counter() - t0
    lat = [int(x) / 1000.0 for x in p.stdout.split()]
    if p.returncode != 0 or len(lat) != N:
        err("peer: xargs exit %d, %d of %d runs: %s" % (p.returncode, len(lat), N, p.stderr[-300:]))
        return None
    return secs, lat


d = Daemon("--cleanup-on-exit", "--max-sandboxes", str(P + 64), "--max-sandboxes-per-uid",
           str(P + 64), pool=min(P, 32))
try:
    d.wait_pool(1, timeout=60)
    rootfs = [t for t in d.result("template.list")["templates"] if t["name"] == "default"][0]["rootfs"]
    d.wait_pool(min(P, 32), timeout=120)
    p, secs, res, _ = run_batch(d, "plain")
    names = [r["name"] for r in res]
    passed = sum(1 for r in res if r["state"] == "passed")
    lat = [r["finished_ms"] - r["started_ms"] for r in res if "started_ms" in r]
    if p.returncode != 0 or len(res) != N or len(set(names)) != N or passed != N:
        err("batch: exit %d, %d results (%d distinct), %d passed: %s" %
            (p.returncode, len(res), len(set(names)), passed, p.stderr[-500:].decode(errors="replace")))
        failed = True
    peer = peer_batch(rootfs)
    ours_rate = N / secs
    err("ours: %d tasks in %.2fs; %d retried" % (N, secs, sum(1 for r in res if r["retries"])))
    if peer:
        err("peer: %d bwrap runs in %.2fs" % (N, peer[0]))
        print("bench: batch_tasks_per_s ours=%.1f peer=%.1f unit=tasks/s" % (ours_rate, N / peer[0]))
        print("bench: batch_task_p50_ms ours=%.1f peer=%.1f unit=ms" % (pct(lat, 50), pct(peer[1], 50)))
        print("bench: batch_task_p99_ms ours=%.1f peer=%.1f unit=ms" % (pct(lat, 99), pct(peer[1], 99)))
    else:
        err("no peer figure: bwrap missing or failed")
        print("bench: batch_tasks_per_s ours=%.1f peer=- unit=tasks/s" % ours_rate)
        print("bench: batch_task_p50_ms ours=%.1f peer=- unit=ms" % pct(lat, 50))
        print("bench: batch_task_p99_ms ours=%.1f peer=- unit=ms" % pct(lat, 99))
    sys.stdout.flush()

    p, secs, res, kills = run_batch(d, "faults", kill_frac=0.05)
    names = [r["name"] for r in res]
    passed = sum(1 for r in res if r["state"] == "passed")
    retried = sum(1 for r in res if r["retries"])
    err("faults: %d sandbox PID 1s killed; %d results, %d distinct, %d passed, %d retried, %.2fs" %
        (len(kills), len(res), len(set(names)), passed, retried, secs))
    if len(res) != N or len(set(names)) != N:
        err("faults: not exactly one result per task")
        failed = True
    if passed != N:
        bad = [r for r in res if r["state"] != "passed"][:3]
        err("faults: %d tasks did not pass, e.g. %s" % (N - passed, json.dumps(bad)[:800]))
        failed = True
    print("bench: batch_faults_tasks_per_s ours=%.1f peer=- unit=tasks/s" % (N / secs))
finally:
    d.stop()
    d.cleanup()
sys.exit(1 if failed else 0)
EOF_PY
