"""exec against real processes: streaming, big outputs, stdin, timeouts,
signals, the pty, concurrency, credentials and limits."""

import hashlib
import os
import time

import agentclient as ac

t = ac.Tap()
agent = ac.Agent()
c = agent.connect()


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, timeout=3.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return True
        time.sleep(0.02)
    return False


try:
    # --- hello -----------------------------------------------------------------------
    h = c.request("hello")
    t.ok(h["ok"], "hello succeeds")
    r = h["result"]
    t.is_(r["protocol"], 1, "hello: protocol 1")
    t.ok("exec" in r["capabilities"] and "fs.read" in r["capabilities"], "hello: capabilities")
    t.ok(r["kernel"]["sysname"] == "Linux" and r["cpus"] >= 1 and r["memory"]["total"] > 0,
         "hello: kernel, cpus, memory")
    t.ok(isinstance(r["hostname"], str) and r["pid1"] is False, "hello: hostname, not PID 1")

    # --- streaming order -----------------------------------------------------------------
    times = []
    res = c.collect(c.start_exec(["sh", "-c", "echo a; sleep 0.4; echo b"]),
                    on_event=lambda m: times.append((m.get("event"), time.time())))
    kinds = [e.get("event") for e in res["events"]]
    t.is_(kinds, ["started", "stdout", "stdout", "exit"], "events: started, 2 x stdout, exit")
    t.is_(bytes(res["stdout"]), b"a\nb\n", "stdout content in order")
    t.ok(times[1][1] <= times[-1][1] - 0.3,
         "first chunk arrived well before the exit (streamed, not buffered)",
         "%r" % times)
    t.ok(res["started"] and res["started"]["pid"] > 0, "started event carries the pid")
    ex = res["exit"]
    t.ok(ex["exit_code"] == 0 and ex["signal"] is None and ex["timed_out"] is False and
         ex["dropped_bytes"] == 0 and ex["duration_ms"] >= 400, "exit event fields", ex)

    res = c.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
    t.ok(res["stdout"] == b"out\n" and res["stderr"] == b"err\n", "stdout and stderr separate")
    t.is_(res["exit"]["exit_code"], 7, "exit code 7")
    res = c.run(["sh", "-c", "kill -TERM $$"])
    t.ok(res["exit"]["exit_code"] is None and res["exit"]["signal"] == "TERM",
         "death by signal reported as signal TERM", res["exit"])

    # --- large output ---------------------------------------------------------------------
    h = hashlib.sha256()
    n = [0]

    def feed(m):
        if m.get("event") == "stdout":
            d = ac.unb64(m["data"])
            n[0] += len(d)
            h.update(d)
            m["data"] = ""  # keep memory flat

    t0 = time.time()
    rid = c.start_exec(["head", "-c", "100M", "/dev/zero"], output_cap=200 << 20)
    res = c.collect(rid, timeout=60, on_event=feed)
    dt = time.time() - t0
    want = hashlib.sha256(bytes(100 << 20)).hexdigest()
    t.is_(n[0], 100 << 20, "100 MiB streamed (%.2f s)" % dt)
    t.is_(h.hexdigest(), want, "100 MiB checksum matches")
    t.ok(res["exit"] and res["exit"]["output_bytes"] == 100 << 20 and
         res["exit"]["dropped_bytes"] == 0, "exit counts 100 MiB, none dropped", res["exit"])

    res = c.run(["head", "-c", "10M", "/dev/zero"], output_cap=1 << 20)
    t.is_(len(res["stdout"]), 1 << 20, "output_cap 1 MiB: 1 MiB forwarded")
    t.ok(res["exit"]["dropped_bytes"] == 9 << 20 and res["exit"]["output_bytes"] == 10 << 20
         and res["exit"]["exit_code"] == 0, "the rest read, dropped and counted", res["exit"])
    res = c.run(["sh", "-c", "head -c 3000000 /dev/zero"])
    t.is_(len(res["stdout"]), 3000000, "default cap lets 3 MB through")

    # --- stdin -------------------------------------------------------------------------------
    blob = os.urandom(1 << 20)
    res = c.run(["sha256sum"], stdin=ac.b64(blob))
    t.ok(res["stdout"].startswith(hashlib.sha256(blob).hexdigest().encode()),
         "1 MiB of stdin reaches the process intact")
    res = c.run(["cat"])
    t.ok(res["stdout"] == b"" and res["exit"]["exit_code"] == 0, "no stdin: immediate EOF")
    rid = c.start_exec(["cat"], stdin_stream=True)
    parts = [b"hello ", b"streamed ", b"stdin\n"]
    replies = []
    for i, p in enumerate(parts):
        replies.append(c.request("stdin", target=rid, data=ac.b64(p), eof=i == len(parts) - 1))
    res = c.collect(rid)
    t.ok(all(r["ok"] for r in replies), "stdin requests accepted", replies)
    t.is_(bytes(res["stdout"]), b"".join(parts), "stdin_stream: cat echoes every chunk, then EOF")
    r = c.request("stdin", target=rid, data=ac.b64(b"x"))
    t.is_(r["error"]["code"], "ESRCH", "stdin to a finished exec: ESRCH")
    rid = c.start_exec(["sh", "-c", "cat; sleep 0.5"], stdin_stream=True)
    c.request("stdin", target=rid, eof=True)
    r = c.request("stdin", target=rid, data=ac.b64(b"late"))
    t.is_(r["error"]["code"], "EINVAL", "stdin after eof: EINVAL")
    c.collect(rid)
    rid = c.start_exec(["true"], stdin=ac.b64(b"abc"))
    c.collect(rid)

    # --- timeout kills the whole tree ---------------------------------------------------------
    res = c.run(["sh", "-c", "sh -c 'sleep 30 & echo $!; wait' & wait"], timeout_ms=500)
    ex = res["exit"]
    t.ok(ex and ex["timed_out"] is True and ex["signal"] == "KILL" and ex["exit_code"] is None,
         "timeout: timed_out, killed by KILL", ex)
    t.ok(500 <= ex["duration_ms"] < 3000, "timeout: after about 500 ms (%d)" % ex["duration_ms"])
    try:
        gpid = int(res["stdout"].split()[0])
    except (ValueError, IndexError):
        gpid = 0
    t.ok(gpid > 0 and wait_gone(gpid), "the grandchild sleep is gone (killed and reaped)",
         res["stdout"])

    # --- background writers do not hold the exit --------------------------------------------------
    t0 = time.time()
    res = c.run(["sh", "-c", "sleep 3 & echo started"])
    t.ok(res["exit"]["exit_code"] == 0 and res["stdout"] == b"started\n" and
         time.time() - t0 < 2, "exit arrives although a background child holds stdout")

    # --- signals ------------------------------------------------------------------------------
    for sig, want in (("TERM", "TERM"), ("SIGINT", "INT"), (9, "KILL")):
        rid = c.start_exec(["sleep", "30"])
        time.sleep(0.05)
        r = c.request("signal", target=rid, signal=sig)
        res = c.collect(rid)
        t.ok(r["ok"] and res["exit"]["signal"] == want, "signal %r delivered" % (sig,),
             (r, res["exit"]))
    r = c.request("signal", target=999999, signal="TERM")
    t.is_(r["error"]["code"], "ESRCH", "signal to an unknown exec: ESRCH")
    r = c.request("signal", target=1, signal="NOPE")
    t.ok(r["error"]["code"] == "EBADREQ" and r["error"].get("field") == "signal",
         "bad signal name: EBADREQ on field signal")

    # --- pty -----------------------------------------------------------------------------------
    res = c.run(["tty"], pty={"rows": 24, "cols": 80})
    t.ok(res["stdout"].startswith(b"/dev/pts/") and res["exit"]["exit_code"] == 0,
         "pty: tty prints /dev/pts/N", res["stdout"])
    res = c.run(["stty", "size"], pty={"rows": 33, "cols": 99})
    t.ok(b"33 99" in res["stdout"], "pty: initial size", res["stdout"])
    rid = c.start_exec(["sh", "-c", "read x; stty size"], pty={"rows": 24, "cols": 80},
                       stdin_stream=True)
    time.sleep(0.1)
    r = c.request("resize", target=rid, rows=40, cols=120)
    t.ok(r["ok"], "resize accepted", r)
    c.request("stdin", target=rid, data=ac.b64(b"go\n"))
    res = c.collect(rid)
    t.ok(b"40 120" in res["stdout"], "stty size sees the new size", res["stdout"])
    rid = c.start_exec(["sleep", "5"])
    r = c.request("resize", target=rid, rows=10, cols=10)
    t.is_(r["error"]["code"], "ENOTTY", "resize without a pty: ENOTTY")
    c.request("signal", target=rid, signal="KILL")
    c.collect(rid)

    # --- concurrency -----------------------------------------------------------------------------
    ids = ["job-%d" % i for i in range(50)]
    t0 = time.time()
    for i, rid in enumerate(ids):
        c.start_exec(["sh", "-c", "sleep 0.3; echo $0", str(i)], id=rid)
    results = {rid: c.collect(rid) for rid in ids}
    dt = time.time() - t0
    good = sum(1 for i, rid in enumerate(ids)
               if results[rid]["stdout"] == b"%d\n" % i and results[rid]["exit"]["exit_code"] == 0)
    t.is_(good, 50, "50 concurrent execs on one connection all correct")
    t.ok(dt < 5, "and they ran concurrently (%.2f s)" % dt)

    rid = c.start_exec(["sleep", "5"], id="dup")
    r = c.collect(c.start_exec(["true"], id="dup"))
    t.is_(r["error"] and r["error"]["code"], "EBUSY", "a second exec with a running id: EBUSY")
    c.request("signal", target="dup", signal="KILL")
    c.collect("dup")

    # --- env, cwd, credentials, limits ----------------------------------------------------------
    res = c.run(["sh", "-c", "echo $FOO; pwd; id -u; id -g; echo $HOME"],
                env={"FOO": "bar baz"}, cwd="/tmp", uid=65534)
    t.is_(bytes(res["stdout"]), b"bar baz\n/tmp\n65534\n65534\n/\n", "env, cwd, uid, gid, HOME")
    res = c.run(["sh", "-c", "echo $A$B; echo $PATH"], env=["A=1", "B=2", "A=3"])
    t.ok(res["stdout"].startswith(b"32\n/usr/local/sbin"), "env array, last wins, default PATH",
         res["stdout"])
    res = c.run(["sh", "-c", "ulimit -n; ulimit -t"], rlimits={"nofile": 123, "cpu": 7})
    t.is_(bytes(res["stdout"]), b"123\n7\n", "rlimits nofile and cpu applied")
    res = c.run(["sh", "-c", "ls /proc/self/fd | wc -l"])
    t.is_(res["stdout"].strip(), b"4", "only stdio (+ the ls dir fd) open in the process")
    res = c.run(["sh", "-c", "trap - PIPE; umask"])
    t.is_(res["stdout"].strip(), b"0022", "umask 022 in execs")
    r = c.run(["/nonexistent/prog"])
    t.ok(r["error"] and r["error"]["code"] == "ENOENT" and r["exit"] is None,
         "missing program: ENOENT error reply, no exit event", r["error"])
    noexec = os.path.join(agent.dir, "noexec")
    c.request("fs.write", path=noexec, data=ac.b64(b"#!/bin/sh\n"), mode=0o644)
    r = c.run([noexec])
    t.is_(r["error"] and r["error"]["code"], "EACCES", "non-executable program: EACCES")
    r = c.run(["true"], cwd="/nonexistent")
    t.is_(r["error"] and r["error"]["code"], "ENOENT", "missing cwd: ENOENT")
    r = c.request("exec", argv=[])
    t.ok(r["error"]["code"] == "EBADREQ" and r["error"]["field"] == "argv", "empty argv: EBADREQ")

    # --- closing a connection kills what it started ----------------------------------------------
    c2 = agent.connect()
    rid = c2.start_exec(["sh", "-c", "echo $$; exec sleep 30"])
    msg = c2.next_for(rid)
    while msg.get("event") != "stdout":
        msg = c2.next_for(rid)
    pid = int(ac.unb64(msg["data"]).strip())
    c2.close()
    t.ok(wait_gone(pid), "closing the connection kills its running exec")
    t.ok(c.request("hello")["ok"], "the other connection is unaffected")
finally:
    c.close()
    agent.stop(t)
t.done()
