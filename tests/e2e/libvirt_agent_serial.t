#!/usr/bin/env bash
# The agent's serial transport (--listen serial:PATH), as a libvirt guest uses
# it on /dev/virtio-ports/org.agentvm.0: here a pseudo-terminal stands in for
# the port: hello, exec, a large frame and a bad request over it.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(git -C "$top" rev-parse --show-toplevel)/build}
agent=$BUILD_DIR/agentvm-agent
[ -x "$agent" ] || { echo "1..0 # SKIP $agent not built"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }

exec python3 - "$agent" <<'PY'
import json, os, pty, select, struct, subprocess, sys, time, tty

agent = sys.argv[1]
n = 0
failed = 0

def ok(cond, what):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what), flush=True)
    if not cond:
        failed += 1

def send(fd, obj):
    b = json.dumps(obj).encode()
    os.write(fd, struct.pack(">I", len(b)) + b)

def recv(fd, want_id, timeout=10):
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                return None
        while len(buf) >= 4:
            ln = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + ln:
                break
            msg = json.loads(buf[4:4 + ln])
            buf = buf[4 + ln:]
            if msg.get("id") == want_id and (msg.get("ok") is not None or msg.get("event") == "exit"):
                return msg
    return None

master, slave = pty.openpty()
tty.setraw(master)
tty.setraw(slave)  # raw before the agent opens it: nothing is cooked
path = os.ttyname(slave)
p = subprocess.Popen([agent, "--listen", "serial:" + path], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=open(os.devnull, "w"))
os.close(slave)
time.sleep(0.3)
try:
    send(master, {"id": 1, "op": "hello"})
    m = recv(master, 1)
    ok(m is not None and m.get("ok") is True, "hello over the serial port")
    ok(m is not None and "protocol" in json.dumps(m), "hello carries the protocol version")
    send(master, {"id": 2, "op": "exec", "argv": ["/bin/echo", "serial"]})
    m = recv(master, 2)
    ok(m is not None and m.get("event") == "exit" and m.get("exit_code") == 0,
       "exec ran to its exit over the port")
    send(master, {"id": 3, "op": "hello", "client": "x" * 3000})
    m = recv(master, 3)
    ok(m is not None, "a 3 KB frame crosses the port intact (raw mode)")
    send(master, {"id": 4, "op": "nosuchop"})
    m = recv(master, 4)
    ok(m is not None and m.get("ok") is False, "an unknown op gets an error, the port stays up")
    ok(p.poll() is None, "the agent is still running")
finally:
    p.terminate()
    try:
        p.wait(5)
    except Exception:
        p.kill()
print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
