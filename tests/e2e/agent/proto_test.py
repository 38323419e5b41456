"""Framing and request errors, connection isolation, back-pressure, limits
and shutdown."""

import os
import signal
import struct
import subprocess
import time

import agentclient as ac

t = ac.Tap()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


agent = ac.Agent()
try:
    c = agent.connect()
    other = agent.connect()
    # A long exec on the other connection must survive everything below.
    other_rid = other.start_exec(["sh", "-c", "sleep 1; echo survived"])

    # --- malformed input gets an error and the connection continues ------------------------
    c.send_raw(frame(b"{not json"))
    r = c.recv()
    t.ok(r["id"] is None and r["ok"] is False and r["error"]["code"] == "EBADJSON",
         "malformed JSON: EBADJSON with id null", r)
    c.send_raw(frame(b""))
    t.is_(c.recv()["error"]["code"], "EBADJSON", "zero-length frame: EBADJSON")
    c.send_raw(frame(b'{"id":1} trailing'))
    t.is_(c.recv()["error"]["code"], "EBADJSON", "trailing garbage: EBADJSON")
    c.send_raw(frame(b'{"id":1,"op":"hello","s":"\xff"}'))
    t.is_(c.recv()["error"]["code"], "EBADJSON", "invalid UTF-8: EBADJSON")
    c.send_raw(frame(b"[1,2]"))
    r = c.recv()
    t.ok(r["error"]["code"] == "EBADREQ" and r["id"] is None, "array: EBADREQ", r)
    c.send({"op": "hello"})
    r = c.recv()
    t.ok(r["error"]["code"] == "EBADREQ" and r["error"]["field"] == "id", "missing id: EBADREQ")
    c.send({"id": 1.5, "op": "hello"})
    t.is_(c.recv()["error"]["field"], "id", "fractional id: EBADREQ")
    c.send({"id": {"a": 1}, "op": "hello"})
    t.is_(c.recv()["error"]["field"], "id", "object id: EBADREQ")
    c.send({"id": "x" * 300, "op": "hello"})
    t.is_(c.recv()["error"]["field"], "id", "over-long string id: EBADREQ")
    c.send({"id": "abc", "op": "nope"})
    r = c.recv()
    t.ok(r["id"] == "abc" and r["error"]["code"] == "EUNKNOWNOP", "unknown op: EUNKNOWNOP, id echoed")
    c.send({"id": 5})
    r = c.recv()
    t.ok(r["id"] == 5 and r["error"]["field"] == "op", "missing op: EBADREQ field op")
    c.send({"id": 6, "op": "fs.read"})
    r = c.recv()
    t.ok(r["id"] == 6 and r["error"]["code"] == "EBADREQ" and r["error"]["field"] == "path",
         "missing field: EBADREQ names it")
    c.send({"id": 7, "op": "exec", "argv": ["true"], "timeout_ms": -1})
    t.is_(c.recv()["error"]["field"], "timeout_ms", "negative timeout: EBADREQ")
    c.send({"id": 8, "op": "exec", "argv": ["true"], "rlimits": {"bogus": 1}})
    t.is_(c.recv()["error"]["field"], "rlimits", "unknown rlimit: EBADREQ")
    c.send({"id": 9, "op": "exec", "argv": ["true"], "stdin": "AA==", "stdin_stream": True})
    t.is_(c.recv()["error"]["field"], "stdin_stream", "stdin with stdin_stream: EBADREQ")
    c.send({"id": 2 ** 53, "op": "hello"})
    t.ok(c.recv()["ok"], "id 2^53 accepted")
    c.send({"id": -7, "op": "hello", "unknown_member": [1, 2]})
    r = c.recv()
    t.ok(r["ok"] and r["id"] == -7, "unknown members ignored, negative id echoed")
    # Two frames in one write, then a frame split across writes.
    c.send_raw(frame(b'{"id":"a","op":"hello"}') + frame(b'{"id":"b","op":"hello"}'))
    t.ok(c.recv()["id"] == "a" and c.recv()["id"] == "b", "two frames in one write")
    data = frame(b'{"id":"split","op":"hello"}')
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
    t.is_(c.recv()["id"], "split", "a frame sent byte by byte")

    # --- an oversized frame closes that connection only -------------------------------------------
    bad = agent.connect()
    bad.send_raw(struct.pack(">I", (16 << 20) + 1) + b"{")
    r = bad.recv()
    t.ok(r and r["error"]["code"] == "ETOOBIG", "oversized length: ETOOBIG error frame", r)
    t.ok(bad.recv() is None, "then the connection is closed")
    bad.close()
    trunc = agent.connect()
    trunc.send_raw(struct.pack(">I", 100) + b'{"id":1')
    trunc.close()
    t.ok(c.request("hello")["ok"], "the first connection still works")
    res = other.collect(other_rid)
    t.ok(res["stdout"] == b"survived\n" and res["exit"]["exit_code"] == 0,
         "an exec on another connection finished normally")

    # --- exactly 16 MiB request frames are accepted -----------------------------------------------
    pad = "x" * ((16 << 20) - 60)
    body = ('{"id":"max","op":"hello","pad":"%s"}' % pad).encode()
    body += b" " * ((16 << 20) - len(body))
    c.send_raw(frame(body))
    t.is_(c.recv(timeout=30)["id"], "max", "a frame of exactly 16 MiB is served")

    # --- back-pressure: a client that does not read ----------------------------------------------
    slow = agent.connect()
    slow.s.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 65536)
    base = rss_kb(agent.proc.pid)
    rid = slow.start_exec(["head", "-c", "200M", "/dev/zero"], output_cap=1 << 30)
    time.sleep(1.5)
    grown = rss_kb(agent.proc.pid) - base
    t.ok(grown < 40 * 1024, "agent memory stays bounded while the client does not read "
         "(grew %d KiB)" % grown)
    t.ok(c.request("hello")["ok"], "other connections are served meanwhile")
    n = [0]

    def count(m):
        if m.get("event") == "stdout":
            d = m["data"]
            n[0] += len(d) // 4 * 3 - (len(d) - len(d.rstrip("=")))
            m["data"] = ""

    res = slow.collect(rid, timeout=60, on_event=count)
    t.ok(res["exit"] and res["exit"]["exit_code"] == 0 and res["exit"]["output_bytes"] == 200 << 20
         and n[0] == 200 << 20, "then all 200 MiB arrive once it reads", res["exit"])
    slow.close()

    # --- half-close: replies still come ----------------------------------------------------------
    hc = agent.connect()
    rid = hc.start_exec(["sh", "-c", "sleep 0.2; echo late"])
    hc.s.shutdown(__import__("socket").SHUT_WR)
    res = hc.collect(rid)
    t.ok(res["stdout"] == b"late\n" and res["exit"]["exit_code"] == 0,
         "after the client shuts down writing, its exec still reports")
    t.ok(hc.recv() is None, "and the agent closes the connection afterwards")
    hc.close()

    # --- shutdown ---------------------------------------------------------------------------------
    rid = other.start_exec(["sleep", "30"])
    r = c.request("shutdown")
    t.ok(r["ok"], "shutdown replies ok")
    res = other.collect(rid)
    t.ok(res["exit"] and res["exit"]["signal"] == "KILL", "running execs are killed on shutdown")
    try:
        code = agent.proc.wait(5)
    except subprocess.TimeoutExpired:
        code = None
    t.is_(code, 0, "the agent (not PID 1) exits 0")
    t.ok(not os.path.exists(agent.sock), "and removes its socket")
finally:
    agent.stop(t)

# --- connection limit and SIGTERM ----------------------------------------------------------------
agent = ac.Agent(extra_args=["--max-connections", "2"])
try:
    a1, a2 = agent.connect(), agent.connect()
    t.ok(a1.request("hello")["ok"] and a2.request("hello")["ok"], "two connections served")
    a3 = agent.connect()
    r = a3.recv()
    t.ok(r and r["error"]["code"] == "EBUSY" and a3.recv() is None,
         "a third beyond --max-connections gets EBUSY and is closed")
    a1.close()
    time.sleep(0.1)
    a4 = agent.connect()
    t.ok(a4.request("hello")["ok"], "a slot frees when a client leaves")
    agent.proc.send_signal(signal.SIGTERM)
    t.is_(agent.proc.wait(5), 0, "SIGTERM: clean exit 0")
finally:
    agent.stop(t)

# --- an inherited listening socket (--listen-fd), as the container backend passes it --------
import socket
import tempfile
d = tempfile.mkdtemp(prefix="agentvm-agent-test.")
path = os.path.join(d, "inherited.sock")
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path)
ls.listen(8)
fd = ls.fileno()
proc = subprocess.Popen([ac.agent_binary(), "--listen-fd", str(fd)], pass_fds=[fd],
                        stderr=subprocess.DEVNULL)
ls.close()
try:
    ic = ac.Conn(path)
    r = ic.run(["echo", "inherited"])
    t.is_(bytes(r["stdout"]), b"inherited\n", "--listen-fd: served on the inherited socket")
    ic.request("shutdown")
    t.is_(proc.wait(5), 0, "--listen-fd: shutdown exits 0")
finally:
    if proc.poll() is None:
        proc.kill()
    os.unlink(path)
    os.rmdir(d)
r = subprocess.run([ac.agent_binary(), "--listen-fd", "0"], capture_output=True, text=True,
                   stdin=subprocess.DEVNULL)
t.ok(r.returncode != 0, "--listen-fd on a non-socket: error")

r = subprocess.run([ac.agent_binary(), "--help"], capture_output=True, text=True)
t.ok(r.returncode == 0 and "--listen" in r.stdout and "vsock:PORT" in r.stdout, "--help")
r = subprocess.run([ac.agent_binary(), "--version"], capture_output=True, text=True)
t.ok(r.returncode == 0 and "protocol 1" in r.stdout, "--version")
r = subprocess.run([ac.agent_binary()], capture_output=True, text=True)
t.ok(r.returncode != 0 and "--listen" in r.stderr, "no listener and not PID 1: error")
r = subprocess.run([ac.agent_binary(), "--listen", "tcp:1"], capture_output=True, text=True)
t.ok(r.returncode != 0 and "bad listen address" in r.stderr, "bad listen address: error")
t.done()
