#!/usr/bin/env bash
# The task queue's bounds and fairness: with one runner, a small batch
# submitted after a big one is served round-robin beside it (not after it); a
# queued task cancelled ends at once, the running one is left alone; a live
# progress bar on a terminal; agentvm batch cancel; a task running when
# agentvmd is killed, with no retry left, ends as an error after the restart.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF_PY'
import json, os, sys, time
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()

def wait_batch(d, b, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        l = d.result("task.list", {"batch": b, "all": True})
        if l["counts"]["queued"] + l["counts"]["running"] == 0:
            return l
        time.sleep(0.1)
    return l

task = lambda n: json.dumps({"name": n, "commands": ["sleep 0.1"]})

os.environ["AGENTVMD_TASK_PARALLEL"] = "1"
d = Daemon("--cleanup-on-exit", pool=0)
try:
    a = d.result("task.submit", {"tasks": [task("a%d" % i) for i in range(12)], "batch": "big"})
    time.sleep(0.3)
    b = d.result("task.submit", {"tasks": [task("b%d" % i) for i in range(3)], "batch": "small"})
    r = d.rpc("task.submit", {"tasks": [task("x")], "batch": "big", "parallel": 0})
    ok("error" in r, "parallel 0 is refused")
    la, lb = wait_batch(d, "big"), wait_batch(d, "small")
    fin = sorted([(t["finished_ms"], t["name"]) for t in la["tasks"] + lb["tasks"]])
    order = [n for _, n in fin]
    diag(" ".join(order))
    last_b = max(order.index("b%d" % i) for i in range(3))
    ok(last_b <= 9, "the small batch is served round-robin beside the big one (its last task is #%d of 15)" % (last_b + 1))
    is_(la["counts"]["passed"] + lb["counts"]["passed"], 15, "all 15 passed")
    # Overlap: with one runner, no two tasks ever ran at once.
    spans = sorted((t["started_ms"], t["finished_ms"]) for t in la["tasks"] + lb["tasks"])
    ok(all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)), "one runner: never two tasks at once")

    # A queued task cancelled ends at once; the running one finishes.
    c = d.result("task.submit", {"tasks": [json.dumps({"name": "slow", "commands": ["sleep 2"]}), task("queued")],
                                 "batch": "cancel"})
    time.sleep(0.5)
    r = d.result("task.cancel", {"id": c["ids"][1]})
    t = d.result("task.get", {"id": c["ids"][1]})
    is_(t["state"], "cancelled", "a queued task is cancelled at once")
    is_(t.get("attempts"), 0, "and never ran")
    l = wait_batch(d, "cancel")
    is_(l["counts"]["passed"], 1, "the running one is not touched by cancelling another")

    # On a terminal, agentvm batch draws a live bar; `agentvm batch cancel ID`.
    import pty, subprocess
    tf = os.path.join(d.tmp, "t.jsonl")
    with open(tf, "w") as f:
        for i in range(3):
            f.write(task("p%d" % i) + "\n")
    master, slave = pty.openpty()
    env = dict(os.environ, AGENTVMD_SOCKET=d.sock)
    p = subprocess.Popen([AGENTVM, "batch", tf, "--out", os.path.join(d.tmp, "r.jsonl")],
                         stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    p.wait(60)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    is_(p.returncode, 0, "the batch passes")
    ok(b"\r[" in out and b"ETA" in out and b"3/3 done" in out, "a live progress bar on a terminal")
    c = d.result("task.submit", {"tasks": [task("w%d" % i) for i in range(4)], "batch": "tocancel"})
    p = d.cli("batch", "cancel", "tocancel")
    is_(p.returncode, 0, "agentvm batch cancel ID")
    l = wait_batch(d, "tocancel")
    ok(l["counts"]["cancelled"] >= 3, "cancels the batch (%r)" % l["counts"])

    # A task running when agentvmd dies, with no retry left, ends as an error
    # at the next start (it is never run twice).
    c = d.result("task.submit", {"tasks": [json.dumps({"name": "once", "commands": ["sleep 30"],
                                                       "retry": {"max_retries": 0}})], "batch": "noretry"})
    deadline = time.time() + 30
    while time.time() < deadline:
        t = d.result("task.get", {"id": c["ids"][0]})
        if t["state"] == "running" and t.get("sandbox"):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    d.kill9()
    d.start()
    t = d.result("task.get", {"id": c["ids"][0]})
    is_(t["state"], "error", "a task running at a crash with no retry left ends as an error")
    ok("agentvmd stopped while it ran" in t["result"]["reason"], "saying why")
    is_(t["attempts"], 1, "it ran once")
finally:
    is_(d.stop(), 0, "agentvmd stops cleanly")
    ok(not d.sanitizer_report(), "no sanitizer report in agentvmd's log")
    d.cleanup()
done()
EOF_PY
