#!/usr/bin/env bash
# agentvmd over raw JSON-RPC: sandbox life cycle from the warm pool and cold,
# streamed and collected exec, file methods, reset, snapshot, errors that
# change nothing, ceilings and quotas, TTLs, metrics and the audit chain.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF'
import base64, json, os, socket, sys, time
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()
d = Daemon("--max-mem", "1G", "--max-sandboxes-per-uid", "4", "--cleanup-on-exit", pool=1)
try:
    info = d.result("daemon.info")
    is_(info["caller_uid"], 0, "daemon.info answers with our uid")
    ok(d.wait_pool(1), "the default template's pool fills")

    # Create from the pool: a hand-off.
    r = d.result("sandbox.create", {"name": "a1", "metadata": {"task": "t-1"}})
    ok(r["pooled"], "sandbox.create is served from the warm pool")
    ok(r["create_ms"] < 50, "a pooled create takes %.2f ms (< 50)" % r["create_ms"])
    is_(r["state"], "running", "the sandbox runs")
    # Cold: different limits.
    r = d.result("sandbox.create", {"name": "a2", "limits": {"mem_bytes": 256 << 20, "cpus": 0.5}})
    ok(not r["pooled"], "other limits mean a cold create")
    is_(r["limits"]["mem_bytes"], 256 << 20, "the requested memory limit is applied")

    # Exec, streamed.
    c = Conn(d.sock)
    rep, notes = c.call("sandbox.exec", {"sandbox": "a1", "argv": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    c.close()
    is_(rep["result"]["exit_code"], 3, "exec returns the exit status")
    outs = {n["params"]["stream"]: base64.b64decode(n["params"]["data"]) for n in notes}
    is_(outs.get("stdout"), b"out\n", "stdout arrives as a notification")
    is_(outs.get("stderr"), b"err\n", "stderr arrives as a notification")
    ok(all(n["method"] == "sandbox.exec.output" and n["params"]["request"] == 1 for n in notes),
       "notifications carry the request id")
    r = d.exec("a1", ["sh", "-c", "cat; echo -n $FOO"], stdin=base64.b64encode(b"in-").decode(), env={"FOO": "bar"})
    is_(d.stdout(r), "in-bar", "stdin and env reach the command (collected output)")
    r = d.exec("a1", ["sleep", "5"], timeout=0.3)
    ok(r["result"]["timed_out"], "the exec timeout is enforced")
    r = d.exec("a1", ["sh", "-c", "head -c 100000 /dev/zero"], output_cap=1000)
    is_(r["result"]["dropped_bytes"], 99000, "the output cap is passed to the agent")
    r = d.rpc("sandbox.exec", {"sandbox": "a1", "argv": ["no-such-program"]})
    is_(r["error"]["data"]["name"], "EAGENT", "a missing program is an agent error")
    is_(r["error"]["data"]["agent_code"], "ENOENT", "with the agent's code")

    # Files.
    data = os.urandom(300000)
    r = d.result("sandbox.write_file", {"sandbox": "a1", "path": "/tmp/f", "data": base64.b64encode(data).decode(), "mode": 0o600})
    is_(r["written"], len(data), "write_file writes")
    r = d.result("sandbox.read_file", {"sandbox": "a1", "path": "/tmp/f"})
    is_(base64.b64decode(r["data"]), data, "read_file reads it back")
    r = d.result("sandbox.list", {"sandbox": "a1", "path": "/tmp"})
    ok([e["name"] for e in r["entries"]] == ["f"] and r["entries"][0]["mode"] == 0o600, "list shows it")
    r = d.rpc("sandbox.read_file", {"sandbox": "a1", "path": "/nonexistent"})
    is_(r["error"]["data"]["agent_code"], "ENOENT", "reading a missing file is ENOENT")
    r = d.result("sandbox.stat", {"sandbox": "a1", "path": "/tmp/f"})
    is_(r["size"], len(data), "stat")

    # Bad requests get an error and change nothing.
    before = d.result("sandbox.list_all")
    c = Conn(d.sock)
    c.send_raw(b"{not json\n")
    m = c.read_msg()
    is_(m["error"]["code"], -32700, "malformed JSON: parse error")
    c.send_raw(b'{"jsonrpc":"2.0","id":5,"method":"sandbox.nuke"}\n')
    is_(c.read_msg()["error"]["code"], -32601, "unknown method")
    c.send_raw(b'{"jsonrpc":"2.0","id":6,"method":"sandbox.create","params":{"limits":{"mem_bytes":"lots"}}}\n')
    m = c.read_msg()
    is_(m["error"]["code"], -32602, "ill-typed params")
    c.send_raw(b'{"jsonrpc":"2.0","id":7,"method":"sandbox.create","params":{"name":"a1"}}\n')
    is_(c.read_msg()["error"]["data"]["name"], "EEXISTS", "a taken name")
    c.send_raw(b'{"jsonrpc":"2.0","id":8,"method":"sandbox.create","params":{"limits":{"mem_bytes":4294967296}}}\n')
    m = c.read_msg()
    is_(m["error"]["data"]["name"], "ELIMIT", "a limit above the ceiling is refused")
    ok("--max-mem" in m["error"]["message"], "and the message names the ceiling")
    c.send_raw(b'{"jsonrpc":"2.0","id":9,"method":"sandbox.exec","params":{"sandbox":"zz","argv":["true"]}}\n')
    is_(c.read_msg()["error"]["data"]["name"], "ENOSANDBOX", "an unknown sandbox")
    c.send_raw(b'{"jsonrpc":"2.0","id":10,"method":"template.list"}\n')
    ok("result" in c.read_msg(), "the connection still works after errors")
    c.close()
    after = d.result("sandbox.list_all")
    is_([s["name"] for s in after["sandboxes"]], [s["name"] for s in before["sandboxes"]],
        "failed requests created nothing")

    # An oversized request line.
    c = Conn(d.sock)
    c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"metrics","params":{"x":"' + b"a" * (17 << 20) + b'"}}\n')
    m = c.read_msg()
    is_(m and m["error"]["data"]["name"], "ETOOBIG", "a 17 MiB line is refused")
    r, _ = c.call("daemon.info")
    ok(r and "result" in r, "and the same connection goes on")
    c.close()

    # Quota per uid: a1, a2 exist; the limit is 4.
    d.result("sandbox.create", {"name": "a3"})
    d.result("sandbox.create", {"name": "a4"})
    r = d.rpc("sandbox.create", {"name": "a5"})
    is_(r["error"]["data"]["name"], "EQUOTA", "the fifth sandbox of a uid is over its quota")
    for n in ("a3", "a4"):
        d.result("sandbox.destroy", {"sandbox": n})

    # Reset.
    r = d.result("sandbox.reset", {"sandbox": "a1"})
    ok(r["reset_ms"] < 2000, "reset takes %.1f ms" % r["reset_ms"])
    r = d.rpc("sandbox.read_file", {"sandbox": "a1", "path": "/tmp/f"})
    ok("error" in r, "reset removed the file")
    g = d.result("sandbox.get", {"sandbox": "a1"})
    ok(g["resets"] == 1 and g["metadata"] == {"task": "t-1"}, "the name, metadata and count survive the reset")

    # Snapshot into a template, then a sandbox from it.
    d.exec("a2", ["sh", "-c", "echo kept > /etc/marker"])
    r = d.result("sandbox.snapshot", {"sandbox": "a2", "template": "snap"})
    r = d.result("sandbox.create", {"name": "a6", "template": "snap"})
    is_(d.stdout(d.exec("a6", ["cat", "/etc/marker"])), "kept\n", "a snapshot template carries the files")
    d.result("sandbox.destroy", {"sandbox": "a6"})

    # TTLs.
    d.result("sandbox.create", {"name": "t1", "ttl": 1})
    d.result("sandbox.create", {"name": "t2", "idle_ttl": 1})
    time.sleep(3)
    names = [s["name"] for s in d.result("sandbox.list_all")["sandboxes"]]
    ok("t1" not in names, "the lifetime TTL destroyed t1")
    ok("t2" not in names, "the idle TTL destroyed t2")
    ev = d.result("audit.tail", {"n": 100, "type": "sandbox.expire"})["events"]
    ok(sorted(e["reason"] for e in ev) == ["idle", "ttl"], "both expiries are audited")

    # Destroy.
    r = d.result("sandbox.destroy", {"sandbox": "a2"})
    r = d.rpc("sandbox.get", {"sandbox": "a2"})
    is_(r["error"]["data"]["name"], "ENOSANDBOX", "a destroyed sandbox is gone")

    # Metrics and audit.
    text = d.result("metrics")["text"]
    for m in ("agentvm_sandboxes{state=\"running\"}", "agentvm_resets_total 1",
              "agentvm_sandbox_create_seconds_bucket{source=\"pool\"",
              "agentvm_quota_hits_total{kind=\"per_uid\"} 1", "agentvm_quota_hits_total{kind=\"mem\"} 1"):
        ok(m in text, "metrics show " + m)
    v = d.result("audit.verify")
    ok(v["ok"] and v["lines"] > 20, "the audit chain verifies (%d lines)" % v["lines"])
    types = {e["type"] for e in d.result("audit.tail", {"n": 10000})["events"]}
    for t in ("sandbox.create", "exec", "fs.write", "fs.read", "reset", "quota", "api.error",
              "sandbox.destroy", "sandbox.snapshot"):
        ok(t in types, "the audit has " + t + " events")
    ex = d.result("audit.tail", {"n": 50, "sandbox": "a1", "type": "exec"})["events"][0]
    ok(ex["caller"]["uid"] == 0 and ex["argv"] == ["sh", "-c", "echo out; echo err >&2; exit 3"] and ex["exit_code"] == 3,
       "an exec event has argv, exit and caller")
finally:
    rc = d.stop()
    is_(rc, 0, "agentvmd stops cleanly on SIGTERM")
    is_(d.run_dirs(), [], "--cleanup-on-exit leaves no sandbox state behind")
    d.cleanup()
done()
EOF
