"""The agent as PID 1 of its own pid namespace (what it is in a sandbox):
orphans are reaped, the host name and loopback are set up, shutdown exits."""

import os
import tempfile
import shutil
import subprocess
import time

import agentclient as ac

t = ac.Tap()

if os.geteuid() != 0 or not shutil.which("unshare"):
    print("1..0 # SKIP needs root and unshare")
    raise SystemExit(0)
probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--uts", "--net", "true"],
                       capture_output=True)
if probe.returncode != 0:
    print("1..0 # SKIP cannot create namespaces here")
    raise SystemExit(0)

wrapper = ["unshare", "--pid", "--mount-proc", "--uts", "--net", "--kill-child"]
agent = ac.Agent(extra_args=["--container", "--hostname", "sbx-test"], wrapper=wrapper)
c = agent.connect()


def states():
    """(pid, ppid, state, comm) of every process in the namespace, seen from inside."""
    res = c.run(["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"])
    out = []
    for line in res["stdout"].decode().splitlines():
        head, _, rest = line.rpartition(")")
        fields = rest.split()
        pid, comm = head.split(" (", 1)
        out.append((int(pid), int(fields[1]), fields[0], comm))
    return out


try:
    h = c.request("hello")["result"]
    t.ok(h["pid1"] is True and h["container"] is True, "hello: PID 1, container", h)
    t.is_(h["hostname"], "sbx-test", "--hostname set the host name")
    res = c.run(["cat", "/proc/1/comm"])
    t.is_(bytes(res["stdout"]), b"agentvm-agent\n", "the agent is PID 1 in the namespace")
    res = c.run(["ip", "-o", "link", "show", "lo"]) if shutil.which("ip") else None
    if res is not None:
        t.ok(b"UP" in res["stdout"].split(b">")[0], "lo is up", res["stdout"])

    # Orphans: each (sleep &) subshell exits at once, leaving its sleep to PID 1.
    res = c.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do (sleep 0.3 &); done; "
                 "sleep 0.1; cat /proc/[0-9]*/stat 2>/dev/null | grep -c '(sleep) S 1 '"])
    t.is_(res["stdout"].strip(), b"8", "8 orphaned sleeps were adopted by PID 1")
    time.sleep(0.8)
    st = states()
    zombies = [p for p in st if p[2] == "Z"]
    t.is_(zombies, [], "no zombies once the orphans exit: PID 1 reaped them")
    t.ok(not any(p[3] == "sleep" for p in st), "the orphans are gone", st)

    # A daemonising grandchild (double fork + setsid) is reaped too.
    res = c.run(["sh", "-c", "setsid sh -c 'sleep 0.2' & wait"])
    time.sleep(0.5)
    t.ok(not any(p[2] == "Z" for p in states()), "setsid grandchildren are reaped too")

    r = c.request("shutdown")
    t.ok(r["ok"], "shutdown as PID 1 in a container replies ok")
    try:
        code = agent.proc.wait(5)
    except subprocess.TimeoutExpired:
        code = None
    t.is_(code, 0, "and exits 0 (no reboot in a container)")
finally:
    c.close()
    agent.stop(t)

# The VM flavour (no --container) in a pid + mount namespace: it mounts /tmp
# and /run itself, so the socket lives elsewhere; reboot() from the init of a
# pid namespace ends that namespace with SIGHUP, which shows the power-off path.
# The socket must live outside every directory the agent mounts over (/tmp,
# /run, /dev...), wherever the build tree is: /var/tmp is outside them all.
base = tempfile.mkdtemp(prefix="agentvm-pid1-", dir="/var/tmp")
agent = ac.Agent(extra_args=["--vm"], wrapper=wrapper, base_dir=base)
c = agent.connect()
try:
    h = c.request("hello")["result"]
    t.ok(h["pid1"] is True and h["container"] is False, "VM mode: PID 1, not a container")
    res = c.run(["stat", "-f", "-c", "%T", "/tmp", "/run", "/dev/shm"])
    t.is_(res["stdout"].split(), [b"tmpfs"] * 3, "VM mode mounts tmpfs on /tmp, /run, /dev/shm")
    res = c.run(["stat", "-f", "-c", "%T", "/dev/pts"])
    t.is_(res["stdout"].strip(), b"devpts", "a devpts instance on /dev/pts")
    res = c.run(["tty"], pty=True)
    t.ok(res["stdout"].startswith(b"/dev/pts/0"), "a pty from that instance", res["stdout"])
    r = c.request("shutdown")
    t.ok(r["ok"], "shutdown replies ok before powering off")
    try:
        code = agent.proc.wait(5)
    except subprocess.TimeoutExpired:
        code = None
    t.ok(code is not None and code != 0, "reboot() ended the namespace (status %r)" % code)
finally:
    c.close()
    agent.stop(t)
    shutil.rmtree(base, ignore_errors=True)
t.done()
