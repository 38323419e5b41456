"""agentvm mcp over raw JSON lines on stdio: the handshake, ping, tools/list,
JSON-RPC errors, a malformed line, the stateless 2026-07-28 form, oversized
lines, policy errors, signals, the audit chain, and that stdout carries
nothing but JSON-RPC. Sandbox tools run in the container isolation when we
are root. Standard library only; prints TAP."""

import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

MODERN = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": {}}


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
                for line in str(diag).splitlines()[:30]:
                    print("#   " + line, flush=True)
        return cond

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def agentvm():
    top = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse",
                          "--show-toplevel"], capture_output=True, text=True).stdout.strip()
    build = os.environ.get("BUILD_DIR") or os.path.join(top, "build")
    return os.path.join(build, "agentvm")


class Server:
    """One `agentvm mcp` process; every stdout line is kept for the final check."""

    def __init__(self, tmp, *args, env=None):
        self.tmp = tmp
        self.audit = os.path.join(tmp, "audit-%d.log" % time.monotonic_ns())
        self.errpath = os.path.join(tmp, "stderr-%d.log" % time.monotonic_ns())
        self.err = open(self.errpath, "wb")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen([agentvm(), "mcp", "--audit", self.audit] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, env=e)
        self.buf = b""
        self.lines = []
        self.next_id = 100

    def send_raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def recv(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if not r:
                return None
            chunk = os.read(self.p.stdout.fileno(), 1 << 20)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        self.lines.append(line)
        return json.loads(line)

    def request(self, method, params=None, timeout=120.0):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.recv(timeout)

    def call(self, name, args, timeout=300.0):
        return self.request("tools/call", {"name": name, "arguments": args}, timeout)

    def close(self, timeout=30.0):
        """End the session (EOF on stdin); the exit status."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rest = self.p.stdout.read()
        except ValueError:
            rest = b""
        self.buf += rest or b""
        for line in self.buf.split(b"\n"):
            if line:
                self.lines.append(line)
        self.buf = b""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = None
        self.err.close()
        return rc

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")


def text(res):
    return "\n".join(c.get("text", "") for c in res.get("result", {}).get("content", []))


def stdout_clean(t, srv, what):
    bad = []
    for line in srv.lines:
        try:
            o = json.loads(line)
            if not isinstance(o, dict) or o.get("jsonrpc") != "2.0" or "id" not in o:
                bad.append(line)
        except ValueError:
            bad.append(line)
    t.ok(not bad, "%s: stdout held only JSON-RPC messages (%d lines)" % (what, len(srv.lines)),
         b"\n".join(bad[:5]).decode(errors="replace"))


def audit_chain(t, path, what):
    """Each line's prev is the SHA-256 of the line before it."""
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except OSError as e:
        t.ok(False, "%s: the audit log exists" % what, e)
        return []
    lines = [l for l in lines if l]
    prev = "0" * 64
    good = True
    recs = []
    for l in lines:
        r = json.loads(l)
        recs.append(r)
        if r.get("prev") != prev:
            good = False
        prev = hashlib.sha256(l).hexdigest()
    t.ok(good and lines, "%s: the audit log is a hash chain (%d lines)" % (what, len(lines)))
    p = subprocess.run([agentvm(), "audit", "verify", "--file", path], capture_output=True,
                       text=True, timeout=30)
    t.ok(p.returncode == 0 and "chain intact" in p.stdout,
         "%s: agentvm audit verify accepts it" % what, p.stdout + p.stderr)
    return recs


def main():
    t = Tap()
    if not os.access(agentvm(), os.X_OK):
        print("Bail out! %s is not built (make all)" % agentvm())
        sys.exit(1)
    root = os.geteuid() == 0
    tmp = tempfile.mkdtemp(prefix="agentvm-mcp-raw.")
    rundir = os.path.join(tmp, "run")
    os.makedirs(rundir)
    env = {"AGENTVM_RUN_DIR": rundir}

    # --- the handshake session ---------------------------------------------------------
    s = Server(tmp, "--isolation", "container", env=env)
    r = s.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "raw", "version": "1"}}, 30)
    res = (r or {}).get("result", {})
    t.is_(res.get("protocolVersion"), "2025-11-25", "initialize answers 2025-11-25")
    t.ok(isinstance(res.get("capabilities", {}).get("tools"), dict), "capabilities.tools")
    t.is_(res.get("serverInfo", {}).get("name"), "agentvm", "serverInfo.name")
    t.ok("untrusted" in res.get("instructions", ""), "instructions mention untrusted web content")
    s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    r = s.request("ping")
    t.ok(r and r.get("result") == {} and r.get("id") == s.next_id,
         "ping answers {} (and the notification got no reply)", r)

    r = s.request("tools/list")
    tools = (r or {}).get("result", {}).get("tools", [])
    names = sorted(x.get("name") for x in tools)
    want = ["browser_click", "browser_close", "browser_fill", "browser_navigate",
            "browser_press", "browser_screenshot", "browser_snapshot", "sandbox_create",
            "sandbox_destroy", "sandbox_exec", "sandbox_list_files", "sandbox_read_file",
            "sandbox_reset", "sandbox_write_file"]
    t.is_(names, want, "tools/list names every tool (no browser_evaluate by default)")
    t.ok(all(x.get("inputSchema", {}).get("type") == "object" and
             isinstance(x["inputSchema"].get("properties"), dict) and x.get("description")
             for x in tools), "each tool has a description and an object inputSchema")
    req = {x["name"]: x["inputSchema"].get("required", []) for x in tools}
    t.ok(req.get("sandbox_read_file") == ["path"] and req.get("browser_navigate") == ["url"]
         and req.get("sandbox_destroy") == ["sandbox"], "required arguments are declared", req)

    r = s.request("no/such/method")
    t.is_((r or {}).get("error", {}).get("code"), -32601, "an unknown method is -32601")
    r = s.call("no_such_tool", {})
    t.is_((r or {}).get("error", {}).get("code"), -32602, "an unknown tool is -32602")
    t.ok("no_such_tool" in (r or {}).get("error", {}).get("message", ""), "and is named")
    r = s.call("sandbox_exec", {"command": 5})
    err = (r or {}).get("error", {})
    t.ok(err.get("code") == -32602 and "arguments.command" in err.get("message", ""),
         "bad arguments are -32602 naming the argument", err)
    r = s.call("sandbox_exec", {"command": "true", "extra": 1})
    t.ok("unknown member 'extra'" in (r or {}).get("error", {}).get("message", ""),
         "an unknown argument is named")

    s.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping"\n')
    r = s.recv(10)
    t.ok(r and r.get("error", {}).get("code") == -32700 and r.get("id") is None,
         "a malformed line is -32700 with id null", r)
    s.send_raw(b"\n   \n\r\n")
    r = s.request("ping")
    t.ok(r and r.get("result") == {}, "the server keeps going (blank lines are ignored)", r)
    s.send_raw(b'[{"jsonrpc":"2.0","id":9,"method":"ping"}]\n')
    r = s.recv(10)
    t.is_((r or {}).get("error", {}).get("code"), -32600, "a batch is -32600")
    s.send_raw(b'{"jsonrpc":"2.0","id":10,"method":"ping"}\r\n')
    r = s.recv(10)
    t.ok(r and r.get("id") == 10, "CRLF line endings work")

    # An oversized message is answered once, then the server goes on.
    big = b'{"jsonrpc":"2.0","id":11,"method":"ping","params":{"x":"' + b"a" * (25 << 20) + \
        b'"}}\n'
    s.send_raw(big)
    r = s.recv(30)
    t.ok(r and r.get("error", {}).get("code") == -32600 and "too large" in
         r["error"].get("message", ""), "a line over 24 MiB is refused", r)
    r = s.request("ping")
    t.ok(r and r.get("result") == {}, "and the next message is served")

    if root:
        r = s.call("sandbox_exec", {"command": "echo hello; uname -s; echo to-stderr >&2"})
        tx = text(r or {})
        t.ok(r and not r["result"]["isError"] and "hello" in tx and "Linux" in tx,
             "sandbox_exec runs in the default sandbox", r)
        t.ok("to-stderr" in tx, "and returns stderr")
        sc = r["result"].get("structuredContent", {}) if r else {}
        t.ok(sc.get("exit_code") == 0 and sc.get("stdout") == "hello\nLinux\n",
             "structuredContent carries exit_code and stdout", sc)
        r = s.call("sandbox_exec", {"argv": ["sh", "-c", "exit 7"]})
        t.ok(r and "exit code: 7" in text(r) and not r["result"]["isError"],
             "a failing command reports its status", r)
        r = s.call("sandbox_exec", {"argv": ["no-such-program-xyz"]})
        t.ok(r and r["result"]["isError"] and "ENOENT" in text(r),
             "a program that does not exist is isError", r)
        r = s.call("sandbox_exec", {"command": "sleep 30", "timeout_ms": 300})
        t.ok(r and r["result"]["isError"] and "timed out" in text(r), "a timeout is isError", r)
        r = s.call("sandbox_exec", {"command": "head -c 200000 /dev/zero | tr '\\0' x"})
        t.ok(r and "stdout truncated" in text(r), "long output is cut and says so")
        r = s.call("sandbox_write_file", {"path": "/tmp/dir/f.txt", "content": "héllo\n"})
        t.ok(r and not r["result"]["isError"], "sandbox_write_file", r)
        r = s.call("sandbox_read_file", {"path": "/tmp/dir/f.txt"})
        t.is_(text(r or {}), "héllo\n", "sandbox_read_file reads it back")
        r = s.call("sandbox_list_files", {"path": "/tmp/dir"})
        t.ok(r and "f.txt" in text(r), "sandbox_list_files lists it", r)
        r = s.call("sandbox_reset", {})
        t.ok(r and not r["result"]["isError"], "sandbox_reset", r)
        r = s.call("sandbox_read_file", {"path": "/tmp/dir/f.txt"})
        t.ok(r and r["result"]["isError"] and "ENOENT" in text(r),
             "after a reset the file is gone", r)
        r = s.call("browser_navigate", {"url": "http://127.0.0.1:1/"})
        t.ok(r and r["result"]["isError"] and "blocked" in text(r),
             "navigation to loopback is blocked by the default policy", r)
    else:
        t.skip("sandbox tools", "the container isolation needs root")

    rc = s.close()
    t.is_(rc, 0, "EOF on stdin ends the session with status 0")
    stdout_clean(t, s, "handshake session")
    left = [d for d in os.listdir(rundir) if d.startswith("mcp-")]
    t.ok(not left, "every sandbox is gone after the session", left)
    recs = audit_chain(t, s.audit, "handshake session")
    calls = [x for x in recs if x.get("type") == "mcp.tool_call"]
    t.ok(any(x.get("tool") == "no_such_tool" and x.get("outcome") == "unknown_tool"
             for x in calls), "the audit records an unknown tool")
    t.ok(any(x.get("tool") == "sandbox_exec" and x.get("outcome") == "invalid" and
             x.get("arguments") == {"command": 5} for x in calls),
         "and invalid arguments, with the arguments")
    if root:
        t.ok(any(x.get("tool") == "sandbox_exec" and x.get("outcome") == "ok" and
                 x.get("sandbox") == "default" for x in calls),
             "and successful calls with their sandbox")
    t.ok(recs and recs[0].get("type") == "mcp.session_start" and
         recs[-1].get("type") == "mcp.session_end", "session start and end are audited")
    t.ok("mcp: serving on stdio" in s.stderr(), "logs go to stderr")

    # --- the stateless form: no initialize ---------------------------------------------
    s = Server(tmp, "--isolation", "container", env=env)
    r = s.request("server/discover", {"_meta": MODERN}, 30)
    res = (r or {}).get("result", {})
    t.ok("2026-07-28" in res.get("supportedVersions", []) and
         "2025-11-25" in res.get("supportedVersions", []),
         "server/discover lists both revisions", r)
    t.is_(res.get("resultType"), "complete", "stateless results carry resultType")
    r = s.request("tools/list", {"_meta": MODERN})
    res = (r or {}).get("result", {})
    t.ok(len(res.get("tools", [])) == 14 and "ttlMs" in res and res.get("cacheScope"),
         "tools/list works without initialize", res.keys())
    r = s.request("tools/list", {"_meta": dict(MODERN, **{
        "io.modelcontextprotocol/protocolVersion": "2099-01-01"})})
    err = (r or {}).get("error", {})
    t.ok(err.get("code") == -32022 and err.get("data", {}).get("requested") == "2099-01-01"
         and "2026-07-28" in err.get("data", {}).get("supported", []),
         "an unsupported revision is -32022 listing ours", err)
    r = s.request("ping")
    t.ok(r and r.get("result") == {}, "requests without _meta work without initialize too")
    if root:
        r = s.request("tools/call", {"name": "sandbox_exec", "arguments": {"command": "echo hi"},
                                     "_meta": MODERN}, 300)
        res = (r or {}).get("result", {})
        t.ok(res.get("resultType") == "complete" and "hi" in text(r or {}),
             "tools/call works statelessly", r)
    rc = s.close()
    t.is_(rc, 0, "the stateless session ends with status 0")
    stdout_clean(t, s, "stateless session")

    # --- signals: SIGTERM ends the session and removes its sandboxes ----------------------
    if root:
        s = Server(tmp, "--isolation", "container", env=env)
        r = s.call("sandbox_exec", {"command": "echo up"})
        t.ok(r and "up" in text(r), "a sandbox is up before SIGTERM")
        s.p.send_signal(signal.SIGTERM)
        try:
            rc = s.p.wait(30)
        except subprocess.TimeoutExpired:
            s.p.kill()
            rc = None
        t.is_(rc, 0, "SIGTERM ends the session cleanly")
        left = [d for d in os.listdir(rundir) if d.startswith("mcp-")]
        t.ok(not left, "and removes its sandboxes", left)
        s.close()

    # --- usage and policy errors -------------------------------------------------------
    pol = os.path.join(tmp, "policy.json")
    with open(pol, "w") as f:
        f.write('{"limits": {"max_sandboxes": 0}}')
    p = subprocess.run([agentvm(), "mcp", "--policy", pol], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 2 and "limits.max_sandboxes" in p.stderr and pol in p.stderr and
         p.stdout == "", "a bad policy exits 2 naming the file and the member", p.stderr)
    with open(pol, "w") as f:
        f.write('{"browser": {"evaluate": true}, "allowed_domains": ["example.com"]}')
    s = Server(tmp, "--policy", pol, env=env)
    r = s.request("tools/list")
    names = [x["name"] for x in (r or {}).get("result", {}).get("tools", [])]
    t.ok("browser_evaluate" in names, "browser_evaluate is offered when the policy allows it")
    r = s.call("browser_navigate", {"url": "https://not-example.org/"})
    t.ok(r and r["result"]["isError"] and "allowed_domains" in text(r),
         "a host outside allowed_domains is blocked", r)
    s.close()
    p = subprocess.run([agentvm(), "mcp", "--bogus"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 2 and "--bogus" in p.stderr, "an unknown option exits 2")
    p = subprocess.run([agentvm(), "mcp", "--isolation", "warp"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 2 and "auto, microvm, container or libvirt" in p.stderr, "a bad --isolation")
    p = subprocess.run([agentvm(), "mcp", "--help"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 0 and p.stdout.startswith("Usage: agentvm mcp"), "--help")
    subprocess.run(["rm", "-rf", tmp])
    t.done()


if __name__ == "__main__":
    main()
