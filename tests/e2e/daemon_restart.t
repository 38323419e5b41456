#!/usr/bin/env bash
# agentvmd killed with SIGKILL (mid-exec) and restarted: it adopts the
# sandboxes that still run, marks the lost ones failed and removes what they
# left behind, removes strays, keeps the audit chain intact; a clean stop keeps
# running sandboxes for the next start.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF'
import base64, os, signal, sys, threading, time
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()
d = Daemon(pool=1)
try:
    ok(d.wait_pool(1), "the pool fills")
    for n in ("r1", "r2", "r3"):
        d.result("sandbox.create", {"name": n})
    ok(d.wait_pool(1), "and refills")
    d.result("sandbox.write_file", {"sandbox": "r1", "path": "/tmp/state", "data": base64.b64encode(b"kept").decode()})
    r2 = d.result("sandbox.get", {"sandbox": "r2"})
    r3 = d.result("sandbox.get", {"sandbox": "r3"})

    # Kill the daemon while a command runs.
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("r", d.rpc("sandbox.exec", {"sandbox": "r3", "argv": ["sleep", "300"]})))
    t.start()
    time.sleep(0.5)
    d.kill9()
    t.join(5)
    ok(res.get("r") is None, "the client of the running exec sees the daemon go")
    # While it is down: one sandbox dies, and a stray is left in the run directory.
    os.kill(r2["pid"], signal.SIGKILL)
    stray = os.path.join(d.state, "run", "sb-0badf00d")
    os.makedirs(stray)
    open(os.path.join(stray, "pid"), "w").write("999999 12345\n")
    time.sleep(0.3)

    d.start()
    byname = {s["name"]: s for s in d.result("sandbox.list_all")["sandboxes"]}
    is_(byname["r1"]["state"], "running", "r1 is adopted")
    is_(byname["r3"]["state"], "running", "r3 is adopted")
    is_(byname["r2"]["state"], "failed", "r2, whose PID 1 died meanwhile, is marked failed")
    ok("agentvmd was not running" in byname["r2"].get("error", ""), "with a reason")
    r = d.result("sandbox.read_file", {"sandbox": "r1", "path": "/tmp/state"})
    is_(base64.b64decode(r["data"]), b"kept", "r1 keeps its files: the same instance")
    ps = d.stdout(d.exec("r3", ["ps", "-o", "args"]))
    ok("sleep 300" not in ps, "the exec that was running when the daemon died is gone")
    ok(r2["instance"] not in d.run_dirs(), "the lost sandbox's state directory is removed")
    ok(not cgroup_exists(r2["instance"]), "and its cgroups")
    ok("sb-0badf00d" not in d.run_dirs(), "a stray state directory is removed")
    ok(d.wait_pool(1), "the pool is there after the restart")
    live = {s["instance"] for s in d.result("sandbox.list_all")["sandboxes"] if s["state"] == "running"}
    ok(len(d.run_dirs()) == len(live) + 1, "nothing leaked: %d instances on disk for %d sandboxes and 1 pooled" % (len(d.run_dirs()), len(live)))
    ev = d.result("audit.tail", {"n": 100, "type": "sandbox.recover"})["events"]
    ok(sorted((e["sandbox"], e["result"]) for e in ev) == [("r1", "adopted"), ("r2", "lost"), ("r3", "adopted")],
       "the recovery is audited")
    v = d.result("audit.verify")
    ok(v["ok"], "the audit chain still verifies after SIGKILL (%d lines)" % v["lines"])

    # A clean stop keeps running sandboxes; the next start adopts them again.
    pid1 = d.result("sandbox.get", {"sandbox": "r1"})["pid"]
    is_(d.stop(), 0, "SIGTERM stops the daemon")
    ok(os.path.exists("/proc/%d" % pid1), "r1 keeps running without the daemon")
    d.start()
    is_(d.result("sandbox.get", {"sandbox": "r1"})["pid"], pid1, "and is adopted by the next start")
    r = d.result("sandbox.reset", {"sandbox": "r2"})
    is_(d.exec("r2", ["true"])["result"]["exit_code"], 0, "a lost sandbox comes back with reset")
    for n in ("r1", "r2", "r3"):
        d.result("sandbox.destroy", {"sandbox": n})
    instances = d.run_dirs()
    is_(d.stop(), 0, "stop again")
    ok(len(instances) == 1, "only the pooled instance was left before the stop")
    is_(d.run_dirs(), [], "the stop removes the pool: nothing is left")
    ok(not any(cgroup_exists(i) for i in instances + [r2["instance"], r3["instance"]]), "no cgroups are left")
finally:
    d.cleanup()
done()
EOF
