"""Shared by the daemon_*.t, audit_*.t and cli_daemon*.t tests: start and stop
an agentvmd on a temporary socket and state directory, talk JSON-RPC to it,
run the CLI against it, and print TAP."""
import base64
import json
import os
import shutil
import signal
import struct
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD_DIR") or os.path.join(TOP, "build")
AGENTVMD = os.path.join(BUILD, "agentvmd")
AGENTVM = os.path.join(BUILD, "agentvm")

_n = 0
_failed = 0


def ok(cond, msg):
    global _n, _failed
    _n += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (_n, msg), flush=True)
    if not cond:
        _failed += 1
    return cond


def is_(got, want, msg):
    r = ok(got == want, msg)
    if not r:
        print("#   got %r, want %r" % (got, want), flush=True)
    return r


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def done():
    print("1..%d" % _n, flush=True)
    sys.exit(1 if _failed else 0)


def skip_all(why):
    print("1..0 # SKIP " + why, flush=True)
    sys.exit(0)


def require():
    """Skip unless this host can run container sandboxes and the programs exist."""
    if os.geteuid() != 0:
        skip_all("needs root (container sandboxes)")
    for p in (AGENTVMD, AGENTVM):
        if not os.access(p, os.X_OK):
            skip_all("%s is not built" % p)


class Conn:
    """One connection to agentvmd; call() returns (reply, notifications)."""

    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.next_id = 1

    def send_raw(self, data):
        self.s.sendall(data)

    def read_msg(self):
        line = self.f.readline()
        if not line:
            return None
        return json.loads(line)

    def call(self, method, params=None, notify=None):
        rid = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        self.s.sendall((json.dumps(req) + "\n").encode())
        notes = []
        while True:
            m = self.read_msg()
            if m is None:
                return None, notes
            if "method" in m:
                notes.append(m)
                if notify:
                    notify(m)
                continue
            if m.get("id") == rid or m.get("id") is None:
                return m, notes

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


class Daemon:
    def __init__(self, *args, pool=1):
        self.tmp = tempfile.mkdtemp(prefix="avd.", dir="/tmp")
        self.sock = os.path.join(self.tmp, "s.sock")
        self.state = os.path.join(self.tmp, "st")
        self.log = os.path.join(self.tmp, "agentvmd.log")
        self.args = list(args) + ["--pool", str(pool)]
        self.proc = None
        self.start()

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [AGENTVMD, "--socket", self.sock, "--state-dir", self.state] + self.args,
            stdout=logf, stderr=logf)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                c = Conn(self.sock, 5)
                r, _ = c.call("daemon.info")
                c.close()
                if r and "result" in r:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        diag(open(self.log).read())
        raise RuntimeError("agentvmd did not start")

    def rpc(self, method, params=None, timeout=60):
        c = Conn(self.sock, timeout)
        try:
            r, notes = c.call(method, params)
        finally:
            c.close()
        return r

    def result(self, method, params=None):
        r = self.rpc(method, params)
        if not r or "result" not in r:
            raise RuntimeError("%s failed: %r" % (method, r))
        return r["result"]

    def wait_pool(self, n=1, template="default", timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t in self.result("template.list")["templates"]:
                if t["name"] == template and t["pool_ready"] >= n:
                    return True
            time.sleep(0.05)
        return False

    def cli(self, *args, input=None, timeout=60):
        env = dict(os.environ, AGENTVMD_SOCKET=self.sock)
        return subprocess.run([AGENTVM] + list(args), input=input, capture_output=True,
                              env=env, timeout=timeout)

    def exec(self, sb, argv, **kw):
        p = {"sandbox": sb, "argv": argv, "stream": False}
        p.update(kw)
        return self.rpc("sandbox.exec", p)

    def stdout(self, r):
        return base64.b64decode(r["result"]["stdout"]).decode(errors="replace")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def run_dirs(self):
        d = os.path.join(self.state, "run")
        return sorted(e for e in os.listdir(d) if not e.startswith(".")) if os.path.isdir(d) else []

    def sanitizer_report(self):
        """Lines of the daemon's log where a sanitizer complained (builds with SANITIZE)."""
        try:
            text = open(self.log, errors="replace").read()
        except OSError:
            return ""
        if "Sanitizer" in text or "runtime error:" in text:
            return text
        return ""

    def cleanup(self):
        """Stop the daemon and remove every sandbox it left (by its run dirs)."""
        self.stop()
        rep = self.sanitizer_report()
        if rep:
            ok(False, "agentvmd ran without sanitizer reports")
            diag(rep[-4000:])
        left = self.run_dirs()
        for name in left:
            try:
                pid = int(open(os.path.join(self.state, "run", name, "pid")).read().split()[0])
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        for name in left:
            cgroup_kill(name)  # a microVM's VMM has no pid file, only its cgroup
            cgroup_remove(name)
        shutil.rmtree(self.tmp, ignore_errors=True)


def guest_connect(path, port=1024, timeout=10):
    """A stream to a microVM guest's vsock port through the VMM's hybrid-vsock
    socket (sandbox.get's guest_socket): "CONNECT <port>", then "OK <n>"."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b"CONNECT %d\n" % port)
        line = b""
        while not line.endswith(b"\n"):
            b = s.recv(1)
            if not b:
                raise OSError("the VMM closed the connection")
            line += b
        if not line.startswith(b"OK "):
            raise OSError("the VMM answered %r" % line)
    except BaseException:
        s.close()
        raise
    return s


def guest_call(path, op, payload=b"", want=None):
    """One command of the synthetic vsock guest (tests/guests/vsock.c) on a
    fresh connection: its 16-byte header (op, seed 0, bytes 0), the payload,
    then everything it answers until it shuts down (or want bytes)."""
    s = guest_connect(path)
    try:
        s.sendall(struct.pack("<IIQ", op, 0, 0) + payload)
        s.shutdown(socket.SHUT_WR)
        back = b""
        while want is None or len(back) < want:
            b = s.recv(65536)
            if not b:
                break
            back += b
        return back
    finally:
        s.close()


def guest_echo(path, data=b"hello through vsock"):
    """Op 1: raises OSError unless what was sent comes back."""
    back = guest_call(path, 1, data)
    if back != data:
        raise OSError("the guest echoed %d other bytes" % len(back))


def _cgroup_dirs(name):
    """Where a cgroup agentvm/<name> below the hierarchies we are in would be."""
    out = []
    for line in open("/proc/self/cgroup"):
        _, ctrls, path = line.rstrip("\n").split(":", 2)
        for mnt in ("/sys/fs/cgroup/" + c for c in (ctrls.split(",") if ctrls else [""])):
            out.append(os.path.join(mnt.rstrip("/") + path, "agentvm", name))
    return out


def cgroup_exists(name):
    """Is there a cgroup agentvm/<name> below any hierarchy we are in?"""
    return any(os.path.isdir(d) for d in _cgroup_dirs(name))


def cgroup_kill(name):
    """SIGKILL every process in the cgroups agentvm/<name>."""
    for d in _cgroup_dirs(name):
        try:
            pids = open(os.path.join(d, "cgroup.procs")).read().split()
        except OSError:
            continue
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def cgroup_remove(name):
    for d in _cgroup_dirs(name):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
