"""A small client of the agent protocol (docs/PROTOCOL.md) and a TAP producer,
for the agent's end-to-end tests. Standard library only."""

import base64
import itertools
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

FRAME_MAX = 16 << 20


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                for line in str(diag).splitlines()[:40]:
                    print("#   " + line, flush=True)
        return cond

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def build_dir():
    d = os.environ.get("BUILD_DIR")
    if d:
        return d
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    return os.path.join(top, "build")


def agent_binary():
    return os.path.join(build_dir(), "agentvm-agent")


class Agent:
    """agentvm-agent as a host process behind a Unix socket in a temp dir."""

    def __init__(self, extra_args=(), wrapper=(), debug=False, base_dir=None):
        self.dir = tempfile.mkdtemp(prefix="agentvm-agent-test.", dir=base_dir)
        self.sock = os.path.join(self.dir, "agent.sock")
        self.log = open(os.path.join(self.dir, "agent.log"), "w+")
        args = list(wrapper) + [agent_binary(), "--listen", "unix:" + self.sock] + list(extra_args)
        if debug:
            args.append("--debug")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("agent did not start:\n" + self.logtext())
            time.sleep(0.01)

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def sanitizer_reports(self):
        """Lines of the agent's log in which a sanitizer (SANITIZE= builds) complained."""
        return [l for l in self.logtext().splitlines()
                if "Sanitizer" in l or "runtime error:" in l]

    def connect(self):
        return Conn(self.sock)

    def stop(self, tap=None):
        """Stop the agent; with tap, also check its log for sanitizer reports."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if tap is not None:
            bad = self.sanitizer_reports()
            tap.ok(not bad, "no sanitizer reports in the agent's log", "\n".join(bad))
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def b64(data):
    return base64.b64encode(data).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


class Conn:
    _ids = itertools.count(1)

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = bytearray()
        self.pending = {}  # id -> list of messages not yet taken

    def close(self):
        self.s.close()

    def send(self, obj):
        data = json.dumps(obj).encode()
        self.s.sendall(struct.pack(">I", len(data)) + data)

    def send_raw(self, data):
        self.s.sendall(data)

    def recv(self, timeout=10.0):
        """One message, or None at end of stream. Raises TimeoutError."""
        deadline = time.time() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if n > FRAME_MAX:
                    raise ValueError("oversized frame from the agent: %d" % n)
                if len(self.buf) >= 4 + n:
                    msg = json.loads(self.buf[4:4 + n].decode("utf-8"))
                    del self.buf[:4 + n]
                    return msg
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no message from the agent")
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            chunk = self.s.recv(1 << 20)
            if not chunk:
                return None
            self.buf += chunk

    def next_for(self, rid, timeout=10.0):
        """The next message for request rid (buffering others)."""
        q = self.pending.get(rid)
        if q:
            return q.pop(0)
        deadline = time.time() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.time()))
            if msg is None:
                return None
            if msg.get("id") == rid:
                return msg
            self.pending.setdefault(msg.get("id"), []).append(msg)

    def request(self, op, timeout=10.0, **params):
        rid = next(self._ids)
        req = {"id": rid, "op": op}
        req.update(params)
        self.send(req)
        return self.next_for(rid, timeout)

    def start_exec(self, argv, **params):
        rid = params.pop("id", None) or next(self._ids)
        req = {"id": rid, "op": "exec", "argv": argv}
        req.update(params)
        self.send(req)
        return rid

    def collect(self, rid, timeout=30.0, on_event=None):
        """Gather an exec's events until its terminal message."""
        res = {"stdout": bytearray(), "stderr": bytearray(), "events": [], "exit": None,
               "error": None, "started": None}
        deadline = time.time() + timeout
        while True:
            msg = self.next_for(rid, max(0.01, deadline - time.time()))
            if msg is None:
                res["error"] = {"code": "EOF"}
                return res
            res["events"].append(msg)
            if on_event:
                on_event(msg)
            ev = msg.get("event")
            if ev in ("stdout", "stderr"):
                res[ev] += unb64(msg["data"])
            elif ev == "started":
                res["started"] = msg
            elif ev == "exit":
                res["exit"] = msg
                return res
            elif "ok" in msg:
                res["error"] = msg.get("error")
                return res

    def run(self, argv, timeout=30.0, **params):
        return self.collect(self.start_exec(argv, **params), timeout)
