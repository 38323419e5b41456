#!/usr/bin/env bash
# agentvm audit verify on a real daemon's log: intact, then with a line
# edited, removed, or two lines swapped (each names the first bad line); and
# agentvm audit tail.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF'
import json, os, shutil, sys
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()
d = Daemon("--cleanup-on-exit", pool=0)
try:
    d.result("sandbox.create", {"name": "au"})
    for i in range(6):
        d.exec("au", ["echo", str(i)])
    r = d.cli("audit", "verify")
    ok(r.returncode == 0 and b"chain intact" in r.stdout, "audit verify through the daemon: %s" % r.stdout.decode().strip())
    r = d.cli("audit", "verify", "--json")
    j = json.loads(r.stdout)
    ok(j["ok"] and j["lines"] >= 8, "--json says ok with %d lines" % j["lines"])
    r = d.cli("audit", "tail", "-n", "3")
    lines = r.stdout.decode().splitlines()
    ok(r.returncode == 0 and len(lines) == 3 and "exec" in lines[-1], "audit tail -n 3")
    r = d.cli("audit", "tail", "--json", "--sandbox", "au", "--type", "exec")
    ev = json.loads(r.stdout)
    ok(len(ev) == 6 and all(e["type"] == "exec" and e["sandbox"] == "au" for e in ev), "tail filters by sandbox and type")

    log = os.path.join(d.state, "audit.log")
    orig = open(log, "rb").read().splitlines(keepends=True)
    work = os.path.join(d.tmp, "copy.log")

    def check(lines, what, want_line):
        open(work, "wb").write(b"".join(lines))
        shutil.copy(log + ".head", work + ".head")
        r = d.cli("audit", "verify", "--file", work, "--json")
        j = json.loads(r.stdout or b"{}")
        ok(r.returncode == 1 and not j.get("ok") and j.get("first_bad_line") == want_line,
           "%s: exit 1, first bad line %s (%s)" % (what, j.get("first_bad_line"), j.get("error")))

    shutil.copy(log, work)
    shutil.copy(log + ".head", work + ".head")
    r = d.cli("audit", "verify", "--file", work)
    is_(r.returncode, 0, "a copy of the log verifies with --file")

    edited = list(orig)
    edited[4] = edited[4].replace(b'"echo"', b'"ecHo"')
    check(edited, "an edited line", 5)
    removed = orig[:3] + orig[4:]
    check(removed, "a removed line", 4)
    swapped = list(orig)
    swapped[5], swapped[6] = swapped[6], swapped[5]
    check(swapped, "two swapped lines", 6)
    check(orig[:-1], "a removed last line", len(orig))
    r = d.cli("audit", "verify", "--file", work)
    ok(b"BROKEN at line" in r.stdout, "the plain output names the line: %s" % r.stdout.decode().strip())
    r = d.cli("audit", "verify", "--file", "/nonexistent/log")
    is_(r.returncode, 125, "a missing file is an error, not a verdict")
finally:
    d.stop()
    d.cleanup()
done()
EOF
