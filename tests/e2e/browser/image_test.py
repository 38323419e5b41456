"""The "browser" guest image: what the tree holds, and its own agent driving
its own Chromium (the agent run from the image's rootfs in a chroot of a
private mount namespace, as a host process behind a Unix socket).

argv: the image directory (images/browser/build.sh's output)."""

import hashlib
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "agent"))

import agentclient as ac  # noqa: E402

image = sys.argv[1]
root = os.path.join(image, "rootfs")
t = ac.Tap()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


manifest = {}
with open(os.path.join(image, "manifest.txt")) as f:
    for line in f:
        k, sep, v = line.rstrip("\n").partition("=")
        if sep and not k.startswith("#"):
            manifest[k] = v

t.ok(manifest.get("name") == "browser" and manifest.get("chromium"),
     "the manifest names the image and chromium's version", manifest)
t.ok(manifest.get("base_tree_key"), "the manifest names base's tree")
t.ok(os.access(os.path.join(root, "usr/lib/chromium/chromium"), os.X_OK),
     "chromium is in the tree")
t.ok(any(n.startswith("DejaVu") for _, _, files in os.walk(os.path.join(root, "usr/share/fonts"))
         for n in files), "with fonts")
init = os.path.join(root, "sbin/init")
t.ok(os.path.isfile(init) and sha256(init) == manifest.get("agent_sha256"),
     "/sbin/init is the agent the manifest names")
t.ok(os.path.getsize(os.path.join(image, "rootfs.erofs")) > (100 << 20), "rootfs.erofs is written")
apt_d = os.path.join(root, "etc/apt/sources.list.d")
t.ok(not [n for n in os.listdir(apt_d) if n.startswith("agentvm-host")],
     "the build's apt sources are gone", os.listdir(apt_d))
t.ok(not os.path.exists(os.path.join(root, "usr/sbin/policy-rc.d")), "policy-rc.d is gone")
with open(os.path.join(root, "etc/resolv.conf")) as f:
    t.is_(f.read(), "", "resolv.conf is empty again (the guest has no network)")
with open(os.path.join(root, "etc/apt/apt.conf.d/90agentvm-proxy")) as f:
    t.ok("127.0.0.1:3128" in f.read(), "apt in the guest still goes through the agent's proxy")
t.is_(os.listdir(os.path.join(root, "var/lib/apt/lists")), ["partial"], "apt's lists are cleaned")

# The image's agent and Chromium, together.
work = tempfile.mkdtemp(prefix="agentvm-browser-image.")
sock = os.path.join(work, "agent.sock")
log = open(os.path.join(work, "agent.log"), "w+")
script = """set -e
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"
mount --bind "$W" "$R/mnt"
exec chroot "$R" /sbin/init --listen unix:/mnt/agent.sock
"""
proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                        env=dict(os.environ, R=root, W=work), stdout=log,
                        stderr=subprocess.STDOUT)
try:
    deadline = time.time() + 10
    while not os.path.exists(sock) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    t.ok(os.path.exists(sock), "the image's agent listens")
    c = ac.Conn(sock)
    start = time.time()
    r = c.request("browser.open", timeout=60)
    t.ok(r and r.get("ok") and "Chrome/" in r["result"].get("browser", ""),
         "browser.open starts the image's chromium (%.2fs)" % (time.time() - start), r)
    sess = (r or {}).get("result", {}).get("session")
    page = "data:text/html,<title>In the image</title><h1>Hello</h1><button>Press</button>"
    r = c.request("browser.navigate", timeout=60, session=sess, url=page)
    t.ok(r and r.get("ok") and r["result"].get("title") == "In the image", "navigate", r)
    r = c.request("browser.snapshot", timeout=60, session=sess)
    snap = (r or {}).get("result", {}).get("snapshot", "")
    t.ok('heading "Hello" [level=1]' in snap and 'button "Press" [ref=' in snap,
         "snapshot", snap)
    r = c.request("browser.screenshot", timeout=60, session=sess)
    t.ok(r and r.get("ok") and r["result"].get("width") == 1280 and
         ac.unb64(r["result"]["data"])[:8] == b"\x89PNG\r\n\x1a\n",
         "screenshot (fonts render)", (r or {}).get("error"))
    r = c.request("browser.close", timeout=60, session=sess)
    t.ok(r and r.get("ok"), "close", r)
    c.close()
finally:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.flush()
    log.seek(0)
    text = log.read()
    if t.failed:
        t.diag(text[-3000:])
    log.close()
    for n in os.listdir(work):
        os.unlink(os.path.join(work, n))
    os.rmdir(work)
t.done()
