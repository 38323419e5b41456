"""The agent as PID 1 in VM mode takes agentvm.egress= and agentvm.hostname=
from the kernel command line (/proc/cmdline, here a file bound over it in a
mount namespace of its own); flags win; bad values are named and ignored;
in a container the command line is not read."""

import os
import shutil
import socket
import subprocess
import tempfile

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

# Sockets and the fake command line live outside every directory the agent
# mounts over in VM mode (/tmp, /run, /dev...): /var/tmp.
base = tempfile.mkdtemp(prefix="agentvm-cmdline-", dir="/var/tmp")


def start(cmdline, args):
    path = os.path.join(base, "cmdline.%d" % t.n)
    with open(path, "w") as f:
        f.write(cmdline + "\n")
    wrapper = ["unshare", "--pid", "--mount-proc", "--uts", "--net", "--kill-child",
               "sh", "-c", 'mount --bind "$0" /proc/cmdline && exec "$@"', path]
    return ac.Agent(extra_args=args, wrapper=wrapper, base_dir=base)


def check(cmdline, args, want_host, want_proxy, name, log_has=None):
    agent = start(cmdline, args)
    c = agent.connect()
    try:
        h = c.request("hello")["result"]
        t.is_(h["hostname"], want_host, name + ": host name")
        res = c.run(["sh", "-c", 'echo "${http_proxy:-none}"'])
        t.is_(bytes(res["stdout"]).decode().strip(), want_proxy, name + ": egress proxy")
        if log_has is not None:
            t.ok(log_has in agent.logtext(), name + ": the log says " + log_has, agent.logtext())
        c.request("shutdown")
        try:
            agent.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    finally:
        c.close()
        agent.stop()


# Left alone, the agent keeps the name the namespace inherited.
own = socket.gethostname()
own = own if own and own != "(none)" else "agentvm"
try:
    check("console=ttyS0 quiet agentvm.egress=vsock:3128 agentvm.hostname=from-cmdline",
          ["--vm"], "from-cmdline", "http://127.0.0.1:3128", "VM mode")
    check("quiet agentvm.egress=vsock:3128 agentvm.hostname=from-cmdline",
          ["--vm", "--hostname", "from-flag"], "from-flag", "http://127.0.0.1:3128",
          "a flag wins")
    check("quiet agentvm.egress=vsock:0 agentvm.hostname=bad_name agentvm.nope=1",
          ["--vm"], own, "none", "bad values",
          log_has="ignored 3 bad or unknown agentvm.* kernel parameters "
                  "(the first: agentvm.egress)")
    check("quiet -- agentvm.egress=vsock:3128", ["--vm"], own, "none",
          "after --, init's arguments")
    check("quiet agentvm.egress=vsock:3128 agentvm.hostname=from-cmdline",
          ["--container", "--hostname", "ctr"], "ctr", "none",
          "a container does not read it")
finally:
    shutil.rmtree(base, ignore_errors=True)
t.done()
