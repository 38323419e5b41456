#!/usr/bin/env bash
# The CLI against agentvmd: create, exec (exit statuses, stdin, env), cp both
# ways, reset, ls, logs, top, rm, run through the daemon, and what the
# subcommands say when no daemon runs.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF'
import json, os, subprocess, sys
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()
d = Daemon("--cleanup-on-exit", "--max-cpus", "2", pool=1)
try:
    r = d.cli("create", "--name", "c1", "--mem", "256M", "--cpus", "0.5", "--meta", "who=test")
    ok(r.returncode == 0 and r.stdout == b"c1\n", "create prints the name")
    ok(d.wait_pool(1), "the pool is ready")
    r = d.cli("create", "--json")
    j = json.loads(r.stdout)
    ok(r.returncode == 0 and j["pooled"] and j["name"].startswith("sb-"), "create --json, from the pool")
    other = j["name"]
    r = d.cli("create", "--cpus", "3")
    ok(r.returncode == 125 and b"--max-cpus" in r.stderr, "a limit over the ceiling: %s" % r.stderr.decode().strip())

    r = d.cli("exec", "c1", "--", "sh", "-c", "echo out; echo err >&2; exit 5")
    ok(r.returncode == 5 and r.stdout == b"out\n" and r.stderr == b"err\n", "exec passes output and status")
    r = d.cli("exec", "-e", "A=1", "-w", "/tmp", "c1", "--", "sh", "-c", "echo $A $(pwd)")
    is_(r.stdout, b"1 /tmp\n", "exec -e and -w")
    r = d.cli("exec", "-i", "c1", "--", "wc", "-c", input=b"x" * 1000)
    is_(r.stdout.strip(), b"1000", "exec -i sends stdin")
    is_(d.cli("exec", "c1", "--", "no-such").returncode, 127, "a missing command is 127")
    is_(d.cli("exec", "c1", "--", "/etc").returncode, 126, "a directory is 126")
    is_(d.cli("exec", "--timeout", "0.3", "c1", "--", "sleep", "5").returncode, 124, "a timeout is 124")
    is_(d.cli("exec", "c1", "--", "sh", "-c", "kill -9 $$").returncode, 137, "a signal is 128+N")
    r = d.cli("exec", "nope", "--", "true")
    ok(r.returncode == 125 and b"ENOSANDBOX" in r.stderr, "an unknown sandbox")

    # cp both ways, with a file over one chunk.
    src = os.path.join(d.tmp, "big")
    data = os.urandom(9 << 20)
    open(src, "wb").write(data)
    os.chmod(src, 0o640)
    r = d.cli("cp", src, "c1:/tmp/")
    is_(r.returncode, 0, "cp into the sandbox")
    r = d.cli("exec", "c1", "--", "stat", "-c", "%s %a", "/tmp/big")
    is_(r.stdout, b"%d 640\n" % len(data), "the file arrives whole, with its mode")
    back = os.path.join(d.tmp, "back")
    r = d.cli("cp", "c1:/tmp/big", back)
    ok(r.returncode == 0 and open(back, "rb").read() == data, "cp out of the sandbox")
    r = d.cli("cp", "c1:/etc/hostname", "-")
    is_(r.stdout, b"agentvm\n", "cp to standard output")
    r = d.cli("cp", "-", "c1:/tmp/in", input=b"piped")
    r = d.cli("exec", "c1", "--", "cat", "/tmp/in")
    is_(r.stdout, b"piped", "cp from standard input")
    r = d.cli("cp", "c1:/nonexistent", back)
    ok(r.returncode == 125 and b"ENOENT" in r.stderr, "cp of a missing file fails clearly")
    is_(d.cli("cp", src, back).returncode, 2, "cp wants one sandbox side")

    # ls, top, logs.
    r = d.cli("ls")
    ok(r.returncode == 0 and b"c1" in r.stdout and b"NAME" in r.stdout, "ls shows a table")
    j = json.loads(d.cli("ls", "--json").stdout)
    c1 = [s for s in j if s["name"] == "c1"][0]
    ok(c1["limits"]["mem_bytes"] == 256 << 20 and c1["metadata"] == {"who": "test"}, "ls --json")
    j = json.loads(d.cli("top", "--json").stdout)
    st = [s for s in j if s["name"] == "c1"][0]["stats"]
    ok(st["mem_bytes"] > 0 and st["mem_max"] == 256 << 20 and st["pids"] >= 1, "top --json has cgroup stats")
    r = d.cli("top", "--once")
    ok(r.returncode == 0 and b"CPU%" in r.stdout and b"c1" in r.stdout, "top --once")
    r = d.cli("logs", "c1")
    out = r.stdout.decode()
    ok("sandbox.create" in out and "exec" in out and "fs.write" in out, "logs shows the sandbox's events")
    r = d.cli("logs", "--agent", "c1")
    is_(r.returncode, 0, "logs --agent")

    # reset, rm.
    r = d.cli("reset", "c1")
    is_(r.returncode, 0, "reset")
    is_(d.cli("exec", "c1", "--", "cat", "/tmp/in").returncode, 1, "reset removed the file")
    r = d.cli("rm", "c1", other)
    is_(r.returncode, 0, "rm")
    is_(json.loads(d.cli("ls", "--json").stdout), [], "nothing left")
    is_(d.cli("rm", "c1").returncode, 125, "rm of a missing sandbox fails")

    # run through the daemon: no sandbox is left behind.
    r = d.cli("run", "--", "sh", "-c", "echo via; exit 3")
    ok(r.returncode == 3 and r.stdout == b"via\n", "run goes through the daemon")
    ev = d.result("audit.tail", {"n": 20, "type": "sandbox.create"})["events"]
    ok(ev and ev[-1]["sandbox"].startswith("run-"), "and the daemon made its sandbox")
    is_(json.loads(d.cli("ls", "--json").stdout), [], "run destroyed it")
    r = d.cli("run", "--template", "nope", "--", "true")
    ok(r.returncode == 125 and b"ENOTEMPLATE" in r.stderr, "run --template with an unknown template")

    # No daemon.
    env = dict(os.environ, AGENTVMD_SOCKET=os.path.join(d.tmp, "none.sock"))
    for cmd in (["ls"], ["exec", "x", "--", "true"], ["create"], ["rm", "x"], ["top", "--once"]):
        r = subprocess.run([AGENTVM] + cmd, capture_output=True, env=env)
        ok(r.returncode == 125 and b"needs agentvmd" in r.stderr, "%s without a daemon says it needs one" % cmd[0])
    r = subprocess.run([AGENTVM, "--socket", d.sock, "ls", "--json"], capture_output=True)
    ok(r.returncode == 0, "agentvm --socket PATH names the daemon")
finally:
    d.stop()
    d.cleanup()
done()
EOF
