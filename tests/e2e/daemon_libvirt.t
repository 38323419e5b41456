#!/usr/bin/env bash
# agentvmd with isolation "libvirt", end to end, on any host: the daemon's
# sandboxes are QEMU TCG domains (virt_type qemu, no KVM needed) booting the
# pci kernel variant with the minimal image, their agent on virtio-serial.
# Through agentvmd's JSON-RPC: template.build {isolation: libvirt}, then
# sandbox.create, exec, write_file/read_file, reset in place (a file written
# after the snapshot is gone), destroy (the domain is gone from libvirt),
# audit.verify; `agentvm template build` and `agentvm create` with
# --isolation libvirt; a daemon killed with SIGKILL leaves its domain, which its
# next start removes; a stop leaves no domain behind. A libvirt that
# cannot be reached gives a template.build error saying how to start it.
# Starts virtlogd and libvirtd itself (tests/e2e/libvirt_lib.sh) unless they
# already run, and stops what it started.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(git -C "$top" rev-parse --show-toplevel)/build}
export BUILD_DIR

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

# shellcheck source=tests/e2e/libvirt_lib.sh
. "$top/tests/e2e/libvirt_lib.sh"
libvirt_test_require
command -v virsh >/dev/null || skip "virsh not installed (libvirt-clients)"
command -v python3 >/dev/null || skip "python3 not installed"
for p in agentvmd agentvm agentvm-agent; do
	[ -x "$BUILD_DIR/$p" ] || skip "$BUILD_DIR/$p not built"
done

kdir=$("$top/images/kernel/build-variant.sh" pci --dir 2>/dev/null) || kdir=
if [ -z "$kdir" ] || [ ! -f "$kdir/bzImage" ]; then
	skip "the pci kernel variant is not built (images/kernel/build-variant.sh pci)"
fi
# The image the daemon's template resolves ("minimal" with the agent next to
# agentvmd), built now so that template.build only finds it.
img=$("$top/images/minimal/build.sh" --agent "$BUILD_DIR/agentvm-agent" 2>/dev/null | tail -n1) || img=
if [ -z "$img" ] || [ ! -f "$img/rootfs.erofs" ]; then
	skip "the minimal image cannot be built (make image-minimal)"
fi

# Every domain this test made has its console file in $work.
libvirt_test_domains() {
	for f in "$work"/agentvm-*.console; do
		[ -f "$f" ] && basename "$f" .console
	done
}
libvirt_test_begin - dlv

cp "$kdir/bzImage" "$work/bzImage"
chmod 644 "$work/bzImage"

# What the backend needs reaches agentvmd through its environment. QEMU runs
# as root without relabelling and writes its console and save files here.
export AGENTVM_LIBVIRT_URI=qemu:///system AGENTVM_LIBVIRT_VIRT_TYPE=qemu
export AGENTVM_LIBVIRT_KERNEL=$work/bzImage AGENTVM_LIBVIRT_RUN_AS=+0:+0
export AGENTVM_LIBVIRT_SAVE_DIR=$work AGENTVM_LIBVIRT_CONSOLE_DIR=$work
export DLV_WORK=$work AGENTVM_IMAGES=$top/images

timeout 300 python3 - "$top/tests/e2e" <<'EOF'
import base64, os, subprocess, sys, time

sys.path.insert(0, sys.argv[1])
from daemon_rpc import Daemon, diag, done, is_, ok

WORK = os.environ["DLV_WORK"]
MIB = 1 << 20


def domains():
    """The names of the running agentvm domains."""
    p = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"],
                       capture_output=True, text=True)
    return {n for n in p.stdout.split() if n.startswith("agentvm-")}


def ours():
    """The running domains this test made (each has its console file here)."""
    return {n for n in domains() if os.path.exists(os.path.join(WORK, n + ".console"))}


def err_msg(r):
    return ((r or {}).get("error") or {}).get("message", "")


# A libvirt that cannot be reached: template.build says so, and how to start it.
os.environ["AGENTVM_LIBVIRT_URI"] = "qemu+unix:///system?socket=%s/none.sock" % WORK
bad = Daemon(pool=0)
try:
    t0 = time.time()
    r = bad.rpc("template.build", {"name": "lvbad", "image": "minimal", "isolation": "libvirt"})
    m = err_msg(r)
    ok(r and "error" in r and "libvirt isolation is not possible" in m,
       "template.build with libvirt unreachable: refused")
    ok("libvirtd" in m and "start" in m, "and the error says how to start libvirtd")
    diag(m)
    r = bad.rpc("template.build", {"name": "lvbad", "isolation": "kvm"})
    ok(r and "error" in r and "libvirt" in err_msg(r), "an unknown isolation lists libvirt")
finally:
    bad.cleanup()
os.environ["AGENTVM_LIBVIRT_URI"] = "qemu:///system"

d = Daemon(pool=0)
try:
    t0 = time.time()
    r = d.rpc("template.build", {"name": "lv", "image": "minimal", "isolation": "libvirt",
                                 "limits": {"mem_bytes": 256 * MIB, "cpus": 1}}, timeout=600)
    ok(r and "result" in r, "template.build {isolation: libvirt}")
    if not r or "result" not in r:
        diag(r)
        raise SystemExit
    is_(r["result"]["isolation"], "libvirt", "the template's isolation is libvirt")

    t0 = time.time()
    r = d.rpc("sandbox.create", {"template": "lv", "name": "lv1"}, timeout=240)
    t_create = time.time() - t0
    ok(r and "result" in r, "sandbox.create from it (%.1f s: boot, hello, snapshot)" % t_create)
    if not r or "result" not in r:
        diag(r)
        diag(open(d.log).read()[-3000:])
        raise SystemExit
    sb = r["result"]
    is_(sb.get("backend"), "libvirt", "the sandbox's backend is libvirt")
    dom = "agentvm-" + sb.get("instance", "?")
    ok(dom in domains(), "its domain %s runs in libvirt" % dom)

    t0 = time.time()
    r = d.exec("lv1", ["echo", "hello"])
    t_exec = time.time() - t0
    ok(r and "result" in r and r["result"].get("exit_code") == 0, "exec echo hello: exit 0")
    is_(d.stdout(r) if r and "result" in r else None, "hello\n",
        "its stdout is \"hello\\n\" (%.0f ms)" % (t_exec * 1e3))
    t0 = time.time()
    r = d.exec("lv1", ["echo", "hello"])
    t_exec2 = time.time() - t0

    data = b"written through agentvmd over virtio-serial\n"
    r = d.rpc("sandbox.write_file", {"sandbox": "lv1", "path": "/tmp/f",
                                     "data": base64.b64encode(data).decode(), "mode": 0o600})
    ok(r and "result" in r and r["result"].get("written") == len(data), "write_file /tmp/f")
    r = d.rpc("sandbox.read_file", {"sandbox": "lv1", "path": "/tmp/f"})
    ok(r and "result" in r and base64.b64decode(r["result"]["data"]) == data,
       "read_file gives the same bytes back")

    t0 = time.time()
    r = d.rpc("sandbox.reset", {"sandbox": "lv1"}, timeout=240)
    t_reset = time.time() - t0
    ok(r and "result" in r, "sandbox.reset (%.1f s)" % t_reset)
    if r and "result" in r:
        is_(r["result"].get("how"), "in_place", "the reset is in place (the domain restored)")
    r = d.rpc("sandbox.read_file", {"sandbox": "lv1", "path": "/tmp/f"})
    ok(r and "error" in r, "the file written after the snapshot is gone")
    r = d.exec("lv1", ["cat", "/proc/uptime"])
    ok(r and "result" in r and r["result"].get("exit_code") == 0, "exec after the reset")
    time.sleep(1)  # libvirt's events of the reset's stop come late: they must not fail it
    r = d.result("sandbox.get", {"sandbox": "lv1"})
    is_(r.get("state"), "running", "the sandbox is still running after the reset")
    ok(dom in domains(), "under the same domain name")

    t0 = time.time()
    r = d.rpc("sandbox.destroy", {"sandbox": "lv1"}, timeout=120)
    ok(r and "result" in r, "sandbox.destroy (%.1f s)" % (time.time() - t0))
    ok(dom not in domains(), "its domain is gone from libvirt")
    ok(not os.path.exists(os.path.join(WORK, dom + ".save")), "and its save file too")

    # A daemon that crashes leaves its domain; its next start removes it.
    r = d.rpc("sandbox.create", {"template": "lv", "name": "lv2"}, timeout=240)
    if not ok(r and "result" in r, "a second sandbox"):
        diag(r)
        diag(open(d.log).read()[-3000:])
    dom2 = "agentvm-" + r["result"]["instance"] if r and "result" in r else "?"
    d.kill9()
    ok(dom2 in domains(), "agentvmd killed (SIGKILL): its domain outlives it")
    d.start()
    ok(dom2 not in domains(), "agentvmd started again: the domain it cannot adopt is removed")
    r = d.result("sandbox.get", {"sandbox": "lv2"})
    is_(r.get("state"), "failed", "the sandbox is marked failed (%s)" % r.get("error", ""))
    d.rpc("sandbox.destroy", {"sandbox": "lv2"})

    # The command line: a template and a sandbox with --isolation libvirt.
    p = d.cli("template", "build", "lvcli", "--image", "minimal", "--isolation", "libvirt",
              "--mem", "256M", "--cpus", "1", "--json")
    ok(p.returncode == 0 and '"libvirt"' in p.stdout.decode(),
       "agentvm template build --isolation libvirt")
    if p.returncode:
        diag(p.stderr.decode())
    # One left running when the daemon stops: it goes with the daemon.
    p = d.cli("create", "--template", "lvcli", "--isolation", "libvirt", "--name", "lv3",
              "--json", timeout=240)
    ok(p.returncode == 0, "agentvm create --isolation libvirt")
    if p.returncode:
        diag(p.stderr.decode())
    r = d.rpc("sandbox.get", {"sandbox": "lv3"})
    dom3 = "agentvm-" + r["result"]["instance"] if r and "result" in r else "?"
    ok(dom3 in domains(), "its domain %s runs" % dom3)
    # A warm pool: its spare waits booted, snapshotted and paused; a create
    # takes it and only resumes it.
    had = ours()
    r = d.rpc("template.build", {"name": "lvpool", "image": "minimal", "isolation": "libvirt",
                                 "limits": {"mem_bytes": 256 * MIB, "cpus": 1}, "pool": 1})
    ok(r and "result" in r, "a libvirt template with a pool of 1")
    t0 = time.time()
    ok(d.wait_pool(1, "lvpool", timeout=120), "its spare is ready (%.1f s)" % (time.time() - t0))
    spare = sorted(ours() - had)
    sdom = spare[0] if len(spare) == 1 else "?"
    st = subprocess.run(["virsh", "-c", "qemu:///system", "domstate", sdom],
                        capture_output=True, text=True).stdout.strip()
    is_(st, "paused", "the spare's domain %s is paused" % sdom)
    t0 = time.time()
    r = d.rpc("sandbox.create", {"template": "lvpool", "name": "lv4"}, timeout=240)
    t_pool = time.time() - t0
    ok(r and "result" in r and r["result"].get("pooled") is True,
       "sandbox.create takes it from the pool (%.0f ms)" % (t_pool * 1e3))
    if not r or "result" not in r:
        diag(r)
    r = d.exec("lv4", ["echo", "pooled"])
    is_(d.stdout(r) if r and "result" in r else None, "pooled\n", "and it runs commands")
    d.rpc("template.build", {"name": "lvpool", "pool": 0})

    v = d.result("audit.verify")
    ok(v.get("ok") is True, "audit verify: the chain holds (%s lines)" % v.get("lines"))
    if v.get("ok") is not True:
        diag(v)
    is_(d.stop(), 0, "agentvmd stopped cleanly")
    ok(dom3 not in domains(), "no domain of the daemon is left after its stop")
    is_(ours(), set(), "no domain of this test is left at all")
    diag("sandbox.create %.1f s (from the pool %.0f ms), exec %.0f ms (warm %.0f ms), "
         "reset %.1f s" % (t_create, t_pool * 1e3, t_exec * 1e3, t_exec2 * 1e3, t_reset))
except SystemExit:
    pass
finally:
    rc = d.stop()
    if rc not in (0, None):
        diag(open(d.log).read()[-3000:])
    d.cleanup()
done()
EOF
rc=$?
if [ "$rc" -ne 0 ]; then
	for f in "$work"/*.console; do
		[ -f "$f" ] && sed 's/^/# console: /' "$f" | tail -n 20
	done
fi
exit "$rc"
