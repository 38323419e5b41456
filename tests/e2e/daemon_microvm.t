#!/usr/bin/env python3
# agentvmd's microvm backend end to end, with the synthetic vsock guest
# (tests/guests/vsock.c) standing in for the agent: a template whose guest is
# "test" boots it in the jailed VMM, answers an echo on vsock port 1024, and
# takes the template's golden snapshot; later sandboxes are restores of it,
# the warm pool keeps paused restores, sandbox.reset is vm.reset in place,
# and every quota, fault and clean-up holds as for containers. The steps that
# need the real agent inside a microVM run only where guest user space can
# (agentvm doctor), and skip with its reason elsewhere.
import json, os, signal, socket, stat, struct, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_rpc
from daemon_rpc import (BUILD, Daemon, cgroup_exists, diag, done, guest_call, guest_connect,
                        guest_echo, is_, ok, skip_all)

GUEST = os.path.join(BUILD, "guests", "vsock.elf")
CMDLINE = "vsock.listen=1024 vsock.accept=0 vsock.timeout=0"
MIB = 1 << 20

if os.geteuid() != 0:
    skip_all("needs root (the VMM's jail)")
for p in (daemon_rpc.AGENTVMD, daemon_rpc.AGENTVM, GUEST, os.path.join(BUILD, "agentvm-vmm-static")):
    if not os.access(p, os.R_OK):
        skip_all("%s is not built (make all guests)" % p)
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no usable /dev/kvm")
doctor = json.loads(subprocess.run([daemon_rpc.AGENTVM, "doctor", "--json"], capture_output=True,
                                   text=True).stdout or "{}")


def echo_ok(path):
    try:
        guest_echo(path)
        return True
    except OSError as e:
        diag("echo: %s" % e)
        return False


def guest_count(path):
    """The vsock guest's op 4: host connections finished so far."""
    back = guest_call(path, 4, want=8)
    return struct.unpack("<Q", back[:8])[0] if len(back) >= 8 else None


def vm_info(api_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(api_path)
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"vm.info"}\n')
    f = s.makefile("rb")
    r = json.loads(f.readline())
    s.close()
    return r.get("result", {})


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_usec(pid):
    """CPU time of the VMM process (all its threads), in microseconds."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def alive(pid):
    """Is pid a live (not zombie) process?"""
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


d = Daemon(pool=0)
try:
    r = d.rpc("template.build", {"name": "echo", "isolation": "microvm", "kernel": GUEST,
                                 "cmdline": CMDLINE, "guest": "test",
                                 "limits": {"mem_bytes": 64 * MIB, "cpus": 1}})
    if r and "error" in r and "not possible" in r["error"]["message"]:
        skip_all("microVMs cannot run here: " + r["error"]["message"])
    ok(r and "result" in r and r["result"]["guest"] == "test",
       "template.build: a microvm template whose guest is the synthetic vsock guest")
    r = d.rpc("template.build", {"name": "bad", "isolation": "container", "kernel": GUEST,
                                 "guest": "test"})
    ok(r and "error" in r and "microvm" in r["error"]["message"],
       "a test guest in a container template is refused with a clear error")
    p = d.cli("template", "build", "cli", "--isolation", "microvm", "--kernel", GUEST,
              "--cmdline", CMDLINE, "--guest", "test", "--mem", "48M", "--cpus", "1", "--pool", "0")
    ok(p.returncode == 0, "agentvm template build makes one too")
    p = d.cli("template", "ls")
    line = [l for l in p.stdout.decode().splitlines() if l.startswith("cli ")]
    ok(p.returncode == 0 and line and "microvm" in line[0] and "test" in line[0] and "48" in line[0],
       "agentvm template ls lists it (%s)" % (line[0] if line else ""))
    p = d.cli("template", "build", "cli", "--mem", "lots")
    ok(p.returncode == 2 and b"bad size" in p.stderr, "a bad option is a usage error")
    p = d.cli("template", "rm", "cli")
    ok(p.returncode == 0 and "cli" not in [t["name"] for t in d.result("template.list")["templates"]],
       "agentvm template rm removes it")
    r = d.rpc("template.build", {"name": "bad", "isolation": "microvm", "guest": "robot"})
    ok(r and "error" in r and "guest must be" in r["error"]["message"],
       "an unknown guest kind is refused")

    # --- the first boot takes the golden snapshot ---------------------------------------
    r = d.rpc("sandbox.create", {"template": "echo", "name": "m0"})
    m0 = r.get("result", {}) if r else {}
    ok(m0.get("backend") == "microvm" and m0.get("origin") == "boot",
       "the first sandbox of the template boots (create_ms %.1f)" % m0.get("create_ms", -1))
    snapdir = os.path.join(d.state, "snapshots", "echo")
    keys = [k for k in os.listdir(snapdir) if not k.startswith(".")] if os.path.isdir(snapdir) else []
    ok(len(keys) == 1, "one golden snapshot directory for the template (%s)" % keys)
    if keys:
        files = {f: os.stat(os.path.join(snapdir, keys[0], f)) for f in ("state", "memory")}
        ok(all(s.st_uid == 0 and stat.S_IMODE(s.st_mode) == 0o644 for s in files.values()),
           "its state and memory files are root's and read-only to the jails")
    ok(m0.get("guest_socket") and echo_ok(m0["guest_socket"]),
       "the booted guest echoes through its vsock socket")

    # --- every later sandbox is a restore ---------------------------------------------------
    r = d.rpc("sandbox.create", {"template": "echo", "name": "m1"})
    m1 = r.get("result", {}) if r else {}
    ok(m1.get("origin") == "snapshot", "the second sandbox is restored from the golden snapshot "
       "(create_ms %.1f)" % m1.get("create_ms", -1))
    ok(m1.get("guest_socket") and echo_ok(m1["guest_socket"]), "the restored guest echoes")
    info = vm_info(os.path.join(os.path.dirname(m1["guest_socket"]), "api.sock")) if m1 else {}
    ok(info.get("counters", {}).get("restored") == 1 and info.get("memory_private") is True,
       "its VMM was restored, with the snapshot's memory mapped copy-on-write")

    r = d.rpc("sandbox.exec", {"sandbox": "m1", "argv": ["true"], "stream": False})
    ok(r and "error" in r and "synthetic test guest" in r["error"]["message"],
       "exec in a test guest's sandbox is refused: it has no agent")

    # --- reset in place ----------------------------------------------------------------------
    c0 = guest_count(m1["guest_socket"])
    for _ in range(3):
        guest_echo(m1["guest_socket"])
    c1 = guest_count(m1["guest_socket"])
    ok(c0 is not None and c1 is not None and c1 >= c0 + 3,
       "the guest counts its connections (%s, then %s)" % (c0, c1))
    pid_before = m1.get("pid")
    r = d.rpc("sandbox.reset", {"sandbox": "m1"})
    res = r.get("result", {}) if r else {}
    is_(res.get("how"), "in_place", "sandbox.reset of a microVM is in place (reset_ms %.2f)" %
        res.get("reset_ms", -1))
    g = d.result("sandbox.get", {"sandbox": "m1"})
    is_(g.get("pid"), pid_before, "the same VMM process goes on")
    c2 = guest_count(g["guest_socket"])
    ok(c2 is not None and c1 is not None and c2 < c1,
       "after the reset the guest's memory is the snapshot's again (count %s -> %s)" % (c1, c2))
    ok(echo_ok(g["guest_socket"]), "and it echoes")
    text = d.result("metrics")["text"]
    ok('agentvm_restore_seconds_count{how="restore"}' in text and
       'agentvm_restore_seconds_count{how="reset"} 1' in text,
       "metrics: the restore latency histogram has the restore and the reset")

    # --- the jail -----------------------------------------------------------------------------
    st = proc_status(g["pid"])
    uid = int(st["Uid"].split()[0])
    ok(uid >= 10000, "the VMM runs as an unprivileged uid of its own (%d)" % uid)
    ok(st.get("CapEff") == "0000000000000000" and st.get("NoNewPrivs") == "1",
       "with no capabilities and no_new_privs")
    ok(st.get("Seccomp") == "2", "under a seccomp filter")
    ok(len(st.get("NSpid", "").split()) == 2 and st["NSpid"].split()[1] == "1",
       "as PID 1 of its own pid namespace")
    try:
        lock = os.readlink("/proc/%d/fd/3" % g["pid"])
    except OSError as e:
        lock = str(e)
    ok(lock == "/run/agentvm-jail-uids/%d" % uid,
       "it holds its uid's lock itself, so a killed daemon cannot free the uid (%s)" % lock)

    # --- the warm pool: paused restores, handed off ---------------------------------------
    r = d.rpc("template.build", {"name": "echo", "pool": 2})
    ok(r and "result" in r, "template.build sets a pool of 2")
    ok(d.wait_pool(2, "echo", timeout=60), "two spares are ready")
    pooled = [e for e in os.listdir(os.path.join(d.state, "run")) if e.startswith("pool-")]
    states = [vm_info(os.path.join(d.state, "run", e, "jail", "run", "api.sock")).get("state")
              for e in pooled]
    ok(len(states) == 2 and all(s == "paused" for s in states),
       "the pool's spares are restored VMs kept paused (%s)" % states)
    times = []
    for i in range(2):
        r = d.rpc("sandbox.create", {"template": "echo", "name": "p%d" % i})
        res = r.get("result", {}) if r else {}
        times.append(res.get("create_ms", -1))
        ok(res.get("pooled") is True and res.get("origin") == "snapshot" and
           echo_ok(res.get("guest_socket", "")),
           "sandbox.create %d is a hand-off from the pool, resumed and echoing" % i)
    diag("create from the pool: %s ms" % ", ".join("%.2f" % t for t in times))
    ok(d.wait_pool(2, "echo", timeout=60), "the pool refills")

    # --- fault isolation: kill -9 of one VMM --------------------------------------------------
    p0 = d.result("sandbox.get", {"sandbox": "p0"})
    os.kill(p0["pid"], signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and d.result("sandbox.get", {"sandbox": "p0"})["state"] != "failed":
        time.sleep(0.05)
    is_(d.result("sandbox.get", {"sandbox": "p0"})["state"], "failed",
        "kill -9 of a VMM marks its sandbox failed")
    ok(echo_ok(d.result("sandbox.get", {"sandbox": "p1"})["guest_socket"]) and
       echo_ok(d.result("sandbox.get", {"sandbox": "m0"})["guest_socket"]),
       "the other microVMs go on answering")
    time.sleep(0.5)
    ok(not os.path.exists(os.path.join(d.state, "run", p0["instance"])) and
       not cgroup_exists(p0["instance"]), "the failed sandbox's jail and cgroup are gone")

    # --- a guest flooding a client that does not read ------------------------------------------
    m0 = d.result("sandbox.get", {"sandbox": "m0"})
    rss0 = int(proc_status(m0["pid"])["VmRSS"].split()[0])
    flood = guest_connect(m0["guest_socket"])
    flood.sendall(struct.pack("<IIQ", 3, 7, 1 << 34))  # op 3: send 16 GiB, never read here
    time.sleep(1.5)
    rss1 = int(proc_status(m0["pid"])["VmRSS"].split()[0])
    ok(rss1 - rss0 < 32 * 1024, "a guest sending to a client that does not read: its VMM's memory "
       "stays bounded (%d -> %d KiB)" % (rss0, rss1))
    t0 = time.time()
    good = echo_ok(d.result("sandbox.get", {"sandbox": "p1"})["guest_socket"])
    ok(good and time.time() - t0 < 2, "another microVM answers meanwhile (%.1f ms)" % ((time.time() - t0) * 1000))
    flood.close()
    ok(echo_ok(m0["guest_socket"]), "and the flooding guest's own sandbox goes on once the client is gone")

    # --- quotas ---------------------------------------------------------------------------------
    r = d.rpc("template.build", {"name": "spin", "isolation": "microvm", "kernel": GUEST,
                                 "cmdline": CMDLINE + " vsock.idle=poll", "guest": "test",
                                 "limits": {"mem_bytes": 32 * MIB, "cpus": 0.2, "pids": 64}})
    r = d.rpc("sandbox.create", {"template": "spin", "name": "q"})
    q = r.get("result", {}) if r else {}
    ok(q.get("state") == "running", "a busy-polling guest under a 20% CPU limit runs")
    if q:
        u0, t0 = cpu_usec(q["pid"]), time.time()
        time.sleep(5)
        u1, t1 = cpu_usec(q["pid"]), time.time()
        if u0 is None or u1 is None:
            ok(False, "the VMM's CPU time can be read")
        else:
            share = (u1 - u0) / ((t1 - t0) * 1e6)
            ok(share <= 0.25, "it gets %.1f%% of a core over 5 s (at most 25%%)" % (share * 100))
        g = d.result("sandbox.get", {"sandbox": "q"})
        mm = g.get("stats", {}).get("mem_max", 0)
        ok(mm >= 32 * MIB and mm <= 32 * MIB + 128 * MIB,
           "its memory.max covers the guest's 32 MiB and the VMM's overhead (%d MiB)" % (mm >> 20))
        ok(g.get("stats", {}).get("pids", 99) <= 16, "and few tasks (%s)" % g.get("stats", {}).get("pids"))
    r = d.rpc("sandbox.create", {"template": "echo", "name": "big",
                                 "limits": {"mem_bytes": 1 << 50}})
    ok(r and "error" in r, "a request above the daemon's ceilings is refused")

    # --- TTL ---------------------------------------------------------------------------------
    r = d.rpc("sandbox.create", {"template": "echo", "name": "short", "ttl": 1})
    inst = r.get("result", {}).get("instance", "") if r else ""
    deadline = time.time() + 10
    while time.time() < deadline and d.rpc("sandbox.get", {"sandbox": "short"}).get("result"):
        time.sleep(0.1)
    ok(inst and not d.rpc("sandbox.get", {"sandbox": "short"}).get("result") and
       not os.path.exists(os.path.join(d.state, "run", inst)),
       "a microVM sandbox's TTL fires and nothing of it is left")

    r = d.rpc("sandbox.create", {"template": "echo", "name": "idle", "idle_ttl": 1})
    inst = r.get("result", {}).get("instance", "") if r else ""
    deadline = time.time() + 10
    while time.time() < deadline and d.rpc("sandbox.get", {"sandbox": "idle"}).get("result"):
        time.sleep(0.1)
    ok(inst and not d.rpc("sandbox.get", {"sandbox": "idle"}).get("result") and
       not os.path.exists(os.path.join(d.state, "run", inst)),
       "an idle microVM sandbox's idle TTL fires")

    # --- the daemon killed, restarted: its microVMs are adopted -----------------------------
    before = {n: d.result("sandbox.get", {"sandbox": n}) for n in ("m0", "m1", "p1")}
    spares = [e for e in d.run_dirs()
              if e not in [s["instance"] for s in d.result("sandbox.list_all")["sandboxes"]]]
    d.kill9()
    ok(all(alive(b["pid"]) for b in before.values()), "kill -9 of agentvmd leaves its VMMs running")
    d.start()
    after = {n: d.rpc("sandbox.get", {"sandbox": n}).get("result", {}) for n in before}
    ok(all(after[n].get("state") == "running" and after[n].get("pid") == before[n]["pid"]
           for n in before),
       "after a restart the same VMMs are adopted, running (%s)" %
       ", ".join("%s %s" % (n, after[n].get("state")) for n in before))
    ok(all(echo_ok(after[n].get("guest_socket", "")) for n in before), "and their guests answer")
    r = d.rpc("sandbox.reset", {"sandbox": "m1"})
    ok(r and r.get("result", {}).get("how") == "in_place",
       "an adopted microVM still resets in place")
    if not ok(all(not os.path.exists(os.path.join(d.state, "run", e)) for e in spares),
              "the old pool's paused spares were replaced, not adopted (%s)" % spares):
        for e in spares:
            diag(subprocess.run(["find", os.path.join(d.state, "run", e)], capture_output=True,
                                text=True).stdout)
        diag(open(d.log).read()[-2500:])
    r = d.rpc("audit.verify")
    ok(r and r.get("result", {}).get("ok") is True, "the audit chain is intact")

    # --- destroy --------------------------------------------------------------------------------
    for n in [s["name"] for s in d.result("sandbox.list_all")["sandboxes"]]:
        d.rpc("sandbox.destroy", {"sandbox": n})
    d.rpc("template.build", {"name": "echo", "pool": 0})
    deadline = time.time() + 20
    while time.time() < deadline and d.run_dirs():
        time.sleep(0.1)
    if not is_(d.run_dirs(), [], "after destroy and pool 0 no jail is left"):
        diag(subprocess.run(["ps", "-o", "pid,stat,cmd", "-C", "agentvm-vmm-static"],
                            capture_output=True, text=True).stdout)
        diag(open(d.log).read()[-3000:])
    r = d.rpc("sandbox.create", {"template": "echo", "name": "last"})
    last = r.get("result", {}).get("pid", 0) if r else 0
    d.stop()
    ok(last and alive(last), "a daemon that stops keeps its microVMs running")
    d.start()
    g = d.rpc("sandbox.get", {"sandbox": "last"}).get("result", {})
    ok(g.get("pid") == last and echo_ok(g.get("guest_socket", "")),
       "and adopts them when it starts again")
    d.rpc("sandbox.destroy", {"sandbox": "last"})
    ok(not alive(last) and not d.run_dirs(), "destroyed, nothing of it is left")

    # --- the real agent in a microVM -------------------------------------------------------
    if doctor.get("auto") == "microvm":
        r = d.rpc("template.build", {"name": "real", "isolation": "microvm", "image": "minimal"})
        r = d.rpc("sandbox.create", {"template": "real", "name": "real"})
        ok(r and "result" in r, "a sandbox of the minimal image in a microVM starts")
        r = d.exec("real", ["echo", "hi"])
        ok(r and "result" in r and d.stdout(r) == "hi\n", "exec runs in it")
    else:
        why = doctor.get("isolation", {}).get("microvm", {}).get(
            "reason", "guest user space cannot run on this host's KVM (agentvm doctor)")
        print("ok %d # skip the agent inside a microVM: %s" % (daemon_rpc._n + 1, why[:200]))
        daemon_rpc._n += 1
finally:
    d.cleanup()
done()
