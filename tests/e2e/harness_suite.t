#!/usr/bin/env bash
# agentvm test: every case of a suite runs in a sandbox reset to its template's
# fresh state; case 1 writes a file and starts a background process, case 2
# sees neither. TAP on stdout, JUnit XML that parses, failures reported.
E2E_DIR=$(cd "$(dirname "$0")" && pwd) exec python3 - "$@" <<'EOF_PY'
import os, subprocess, sys
import xml.etree.ElementTree as ET
sys.path.insert(0, os.environ["E2E_DIR"])
from daemon_rpc import *

require()
d = Daemon("--cleanup-on-exit", pool=1)
try:
    suite = os.path.join(d.tmp, "suite")
    os.makedirs(suite)
    def case(name, text, mode=0o755):
        p = os.path.join(suite, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
    case("01-leave-traces", "#!/bin/sh\necho left > /tmp/trace\n"
         "setsid sleep 1000 </dev/null >/dev/null 2>&1 &\n"
         "sleep 0.2\ngrep -l 'sleep' /proc/[0-9]*/cmdline >/dev/null && echo started\n")
    case("02-sees-nothing", "#!/bin/sh\nfail=0\n"
         "if [ -e /tmp/trace ]; then echo 'trace file is still there'; fail=1; fi\n"
         "for c in /proc/[0-9]*/cmdline; do\n"
         "  if tr '\\0' ' ' < $c 2>/dev/null | grep -q '^sleep 1000'; then echo \"sleeper alive: $c\"; fail=1; fi\n"
         "done\nexit $fail\n")
    case("03-tap.t", "echo 1..2\necho 'ok 1 - one'\necho 'ok 2 - two # TODO later'\n", 0o644)
    case("04-fails", "#!/bin/sh\necho 'about to fail' >&2\nexit 3\n")
    case("05-tap-fails.t", "echo 1..2\necho 'ok 1 - fine'\necho 'not ok 2 - <broken> & \"quoted\"'\n", 0o644)
    case("notes.txt", "not a test\n", 0o644)
    junit = os.path.join(d.tmp, "junit.xml")
    p = d.cli("test", "--template", "default", "--suite", suite, "--junit", junit, timeout=120)
    out = p.stdout.decode()
    diag(out.replace("\n", "\n# "))
    is_(p.returncode, 1, "exit 1 when a case fails")
    lines = out.splitlines()
    is_(lines[0], "1..5", "a TAP plan for the 5 cases (notes.txt is not one)")
    ok("ok 1 - 01-leave-traces" in lines, "case 1 ran")
    ok("#   started" in lines, "case 1 started its background process")
    ok("ok 2 - 02-sees-nothing" in lines, "case 2 sees neither the file nor the process of case 1")
    ok("ok 3 - 03-tap.t" in lines, "a TAP script without a shebang passes (a TODO is not a failure)")
    ok(any(l.startswith("not ok 4 - 04-fails # exit status 3") for l in lines), "a failing case is not ok with its status")
    ok(any(l.startswith("not ok 5 - 05-tap-fails.t # a TAP test failed") for l in lines), "a TAP script with a failing test is not ok")
    tapf = os.path.join(d.tmp, "suite.tap")
    open(tapf, "wb").write(p.stdout)
    tap = subprocess.run(["prove", "-e", "cat", tapf], capture_output=True)
    ok(b"Failed 2/5 subtests" in tap.stdout, "prove reads the TAP: 2 of 5 failed")
    root = ET.parse(junit).getroot()
    ok(root.tag == "testsuites", "JUnit XML parses")
    ts = root.find("testsuite")
    is_(ts.get("tests"), "5", "5 test cases")
    is_(ts.get("failures"), "2", "2 failures")
    cases = ts.findall("testcase")
    failing = [c.get("name") for c in cases if c.find("failure") is not None]
    is_(failing, ["04-fails", "05-tap-fails.t"], "the failing cases carry <failure>")
    ok("<broken>" in cases[4].find("system-out").text, "output is escaped and kept")
    left = [s for s in d.result("sandbox.list_all")["sandboxes"]]
    is_(len(left), 0, "the suite's sandbox is destroyed at the end")
    p = d.cli("test", "--suite", os.path.join(d.tmp, "none"))
    is_(p.returncode, 2, "a missing suite is a usage error")
finally:
    is_(d.stop(), 0, "agentvmd stops cleanly")
    rep = d.sanitizer_report()
    ok(not rep, "no sanitizer report in agentvmd's log")
    if rep:
        diag(rep[-3000:])
    d.cleanup()
done()
EOF_PY
