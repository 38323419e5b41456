"""Every fs.* operation, with its errors."""

import os
import stat

import agentclient as ac

t = ac.Tap()
agent = ac.Agent()
c = agent.connect()
root = os.path.join(agent.dir, "fs")
os.mkdir(root)


def p(*parts):
    return os.path.join(root, *parts)


def err(r):
    return r.get("error", {}).get("code") if not r.get("ok") else None


try:
    # --- write / read ---------------------------------------------------------------------
    blob = bytes(range(256)) * 1000
    r = c.request("fs.write", path=p("a.bin"), data=ac.b64(blob))
    t.ok(r["ok"] and r["result"]["written"] == len(blob) and r["result"]["size"] == len(blob),
         "fs.write writes all bytes", r)
    with open(p("a.bin"), "rb") as f:
        t.ok(f.read() == blob, "the file holds exactly the data")
    t.is_(stat.S_IMODE(os.stat(p("a.bin")).st_mode), 0o644, "default mode 0644")
    r = c.request("fs.read", path=p("a.bin"))
    t.ok(r["ok"] and ac.unb64(r["result"]["data"]) == blob and r["result"]["eof"] is True and
         r["result"]["size"] == len(blob), "fs.read returns it, eof")
    r = c.request("fs.read", path=p("a.bin"), offset=1000, length=10)
    t.ok(r["ok"] and ac.unb64(r["result"]["data"]) == blob[1000:1010] and
         r["result"]["eof"] is False and r["result"]["length"] == 10, "offset and length")
    r = c.request("fs.read", path=p("a.bin"), offset=len(blob) - 5, length=100)
    t.ok(r["ok"] and ac.unb64(r["result"]["data"]) == blob[-5:] and r["result"]["eof"] is True,
         "a read past the end is short, eof")
    r = c.request("fs.read", path=p("a.bin"), offset=len(blob) + 10)
    t.ok(r["ok"] and r["result"]["length"] == 0 and r["result"]["eof"], "offset past the end")

    c.request("fs.write", path=p("log"), data=ac.b64(b"one\n"))
    c.request("fs.write", path=p("log"), data=ac.b64(b"two\n"), append=True)
    r = c.request("fs.write", path=p("log"), data=ac.b64(b"TW"), offset=4)
    t.ok(r["ok"] and r["result"]["size"] == 8, "write at an offset keeps the size", r)
    with open(p("log"), "rb") as f:
        t.is_(f.read(), b"one\nTWo\n", "append and offset writes")
    r = c.request("fs.write", path=p("log"), data=ac.b64(b"x"), exclusive=True)
    t.is_(err(r), "EEXIST", "exclusive on an existing file: EEXIST")
    r = c.request("fs.write", path=p("nope"), data=ac.b64(b"x"), create=False)
    t.ok(err(r) == "ENOENT" and r["error"]["path"] == p("nope"), "create:false, missing: ENOENT")
    r = c.request("fs.write", path=p("x", "y", "z.txt"), data=ac.b64(b"deep"), parents=True,
                  mode=0o600)
    t.ok(r["ok"] and os.path.isfile(p("x", "y", "z.txt")), "parents: true creates directories")
    t.is_(stat.S_IMODE(os.stat(p("x", "y", "z.txt")).st_mode), 0o600, "mode applied exactly")
    r = c.request("fs.write", path=p("q", "z.txt"), data=ac.b64(b"x"))
    t.is_(err(r), "ENOENT", "missing parent without parents: ENOENT")
    r = c.request("fs.write", path=p("x"), data=ac.b64(b"x"))
    t.is_(err(r), "EISDIR", "writing a directory: EISDIR")
    r = c.request("fs.write", path=p("own"), data=ac.b64(b""), uid=65534, gid=65534)
    st = os.stat(p("own"))
    t.ok(r["ok"] and st.st_uid == 65534 and st.st_gid == 65534 and st.st_size == 0,
         "empty write with uid/gid chowns")
    r = c.request("fs.write", path=p("bad"), data="not base64!")
    t.ok(err(r) == "EBADREQ" and r["error"]["field"] == "data", "bad base64: EBADREQ")
    r = c.request("fs.write", path="relative/path", data="")
    t.ok(err(r) == "EBADREQ" and r["error"]["field"] == "path", "relative path: EBADREQ")

    # --- read errors and caps -------------------------------------------------------------------
    r = c.request("fs.read", path=p("missing"))
    t.ok(err(r) == "ENOENT" and r["error"]["path"] == p("missing") and
         "No such file" in r["error"]["message"], "read missing: ENOENT with path and message")
    t.is_(err(c.request("fs.read", path=root)), "EISDIR", "read a directory: EISDIR")
    with open(p("big"), "wb") as f:
        f.truncate(9 << 20)
    r = c.request("fs.read", path=p("big"))
    t.is_(err(r), "ETOOBIG", "read 9 MiB without length: ETOOBIG")
    r = c.request("fs.read", path=p("big"), length=(8 << 20) + 1)
    t.is_(err(r), "ETOOBIG", "length above 8 MiB: ETOOBIG")
    r = c.request("fs.read", path=p("big"), length=8 << 20, timeout=30)
    t.ok(r["ok"] and r["result"]["length"] == 8 << 20 and not r["result"]["eof"],
         "exactly 8 MiB in one read")
    r = c.request("fs.read", path=p("big"), offset=8 << 20)
    t.ok(r["ok"] and r["result"]["length"] == 1 << 20 and r["result"]["eof"],
         "the rest from an offset")
    r = c.request("fs.read", path="/proc/self/status")
    t.ok(r["ok"] and b"Pid:" in ac.unb64(r["result"]["data"]) and r["result"]["eof"],
         "reads /proc files (size 0 in stat)")
    os.mkfifo(p("fifo"))
    r = c.request("fs.read", path=p("fifo"))
    t.ok(r["ok"] and r["result"]["length"] == 0, "a FIFO without writer does not block")

    # --- stat ---------------------------------------------------------------------------------------
    os.symlink("a.bin", p("link"))
    r = c.request("fs.stat", path=p("a.bin"))
    res = r["result"]
    t.ok(res["type"] == "file" and res["size"] == len(blob) and res["mode"] == 0o644 and
         res["mtime_ms"] > 0, "stat of a file", res)
    r = c.request("fs.stat", path=p("link"))
    t.ok(r["result"]["type"] == "symlink" and r["result"]["target"] == "a.bin",
         "stat of a symlink, with target")
    r = c.request("fs.stat", path=p("link"), follow=True)
    t.is_(r["result"]["type"], "file", "follow: true stats the target")
    t.is_(c.request("fs.stat", path=root)["result"]["type"], "dir", "stat of a directory")
    t.is_(c.request("fs.stat", path=p("fifo"))["result"]["type"], "fifo", "stat of a FIFO")
    t.is_(err(c.request("fs.stat", path=p("missing"))), "ENOENT", "stat missing: ENOENT")

    # --- list -----------------------------------------------------------------------------------------
    r = c.request("fs.list", path=root)
    names = [e["name"] for e in r["result"]["entries"]]
    t.is_(names, sorted(os.listdir(root)), "list: every entry, sorted")
    types = {e["name"]: e["type"] for e in r["result"]["entries"]}
    t.ok(types["x"] == "dir" and types["a.bin"] == "file" and types["link"] == "symlink",
         "list: entry types")
    t.ok(r["result"]["truncated"] is False, "list: not truncated")
    r = c.request("fs.list", path=root, limit=2)
    t.ok(len(r["result"]["entries"]) == 2 and r["result"]["truncated"] is True,
         "list: limit truncates")
    t.is_(err(c.request("fs.list", path=p("a.bin"))), "ENOTDIR", "list a file: ENOTDIR")
    t.is_(err(c.request("fs.list", path=p("missing"))), "ENOENT", "list missing: ENOENT")
    os.mkdir(p("odd"))
    open(os.path.join(p("odd").encode(), b"caf\xe9"), "w").close()
    r = c.request("fs.list", path=p("odd"))
    e = r["result"]["entries"][0]
    t.ok(e["name"] == "caf\ufffd" and ac.unb64(e["name_b64"]) == b"caf\xe9",
         "non-UTF-8 name: replacement character plus exact bytes", e)

    # --- mkdir ------------------------------------------------------------------------------------------
    r = c.request("fs.mkdir", path=p("d1"))
    t.ok(r["ok"] and os.path.isdir(p("d1")), "mkdir")
    t.is_(stat.S_IMODE(os.stat(p("d1")).st_mode), 0o755, "mkdir default mode 0755")
    t.is_(err(c.request("fs.mkdir", path=p("d1"))), "EEXIST", "mkdir existing: EEXIST")
    t.is_(err(c.request("fs.mkdir", path=p("d2", "e"))), "ENOENT", "mkdir without parent: ENOENT")
    r = c.request("fs.mkdir", path=p("d2", "e", "f"), parents=True, mode=0o700)
    t.ok(r["ok"] and os.path.isdir(p("d2", "e", "f")), "mkdir parents")
    t.ok(c.request("fs.mkdir", path=p("d2", "e"), parents=True)["ok"],
         "mkdir parents on an existing dir is fine")
    t.is_(err(c.request("fs.mkdir", path=p("a.bin", "sub"), parents=True)), "ENOTDIR",
          "mkdir parents through a file: ENOTDIR")

    # --- rename ------------------------------------------------------------------------------------------
    c.request("fs.write", path=p("r1"), data=ac.b64(b"1"))
    c.request("fs.write", path=p("r2"), data=ac.b64(b"2"))
    r = c.request("fs.rename", **{"from": p("r1"), "to": p("r3")})
    t.ok(r["ok"] and os.path.exists(p("r3")) and not os.path.exists(p("r1")), "rename")
    r = c.request("fs.rename", **{"from": p("r3"), "to": p("r2"), "overwrite": False})
    t.ok(err(r) == "EEXIST" and r["error"]["path"] == p("r2"), "rename without overwrite: EEXIST")
    r = c.request("fs.rename", **{"from": p("r3"), "to": p("r2")})
    with open(p("r2"), "rb") as f:
        t.ok(r["ok"] and f.read() == b"1", "rename overwrites by default")
    t.is_(err(c.request("fs.rename", **{"from": p("missing"), "to": p("zz")})), "ENOENT",
          "rename missing: ENOENT")

    # --- remove ---------------------------------------------------------------------------------------------
    t.ok(c.request("fs.remove", path=p("r2"))["ok"] and not os.path.exists(p("r2")),
         "remove a file")
    t.ok(c.request("fs.remove", path=p("link"))["ok"] and os.path.exists(p("a.bin")),
         "remove a symlink keeps its target")
    t.ok(c.request("fs.remove", path=p("d1"))["ok"], "remove an empty directory")
    t.is_(err(c.request("fs.remove", path=p("d2"))), "ENOTEMPTY",
          "remove a full directory without recursive: ENOTEMPTY")
    os.symlink(p("a.bin"), p("d2", "e", "outside-link"))
    for i in range(50):
        open(p("d2", "e", "f", "file%d" % i), "w").close()
    r = c.request("fs.remove", path=p("d2"), recursive=True)
    t.ok(r["ok"] and not os.path.exists(p("d2")) and os.path.exists(p("a.bin")),
         "recursive remove, without following symlinks")
    t.is_(err(c.request("fs.remove", path=p("missing"))), "ENOENT", "remove missing: ENOENT")
    t.is_(err(c.request("fs.remove", path="/", recursive=True)), "EBUSY", "remove / refused")
    t.is_(err(c.request("fs.remove", path=root + "/../../../../..", recursive=True)), "EBUSY",
          "remove of a path that resolves to / refused")
    t.ok(os.path.exists(p("a.bin")), "and nothing was removed")
finally:
    c.close()
    agent.stop(t)
t.done()
