"""browser.* end to end: the agent as a host process drives a real headless
Chromium against a small site on 127.0.0.1, reached only through a forwarding
proxy run by this test."""

import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "agent"))
sys.path.insert(0, here)

import agentclient as ac  # noqa: E402
import testsite  # noqa: E402

T = 60  # seconds to wait for any reply


def code(r):
    return None if r is None or r.get("ok") else r.get("error", {}).get("code")


def res(r):
    return (r or {}).get("result") or {}


def refs_of(snapshot, pattern):
    """The refs of snapshot lines matching pattern (a regex)."""
    out = []
    for line in snapshot.splitlines():
        if re.search(pattern, line):
            m = re.search(r"\[ref=(e\d+)\]", line)
            if m:
                out.append(m.group(1))
    return out


def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def alive(pid):
    """True if pid runs (zombies count as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_gone(pid, secs=5.0):
    deadline = time.time() + secs
    while alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def processes_with(text):
    """Pids whose command line mentions text."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return [p for p in found if alive(p)]


def zombies_of(ppid):
    """Zombie children of ppid."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and int(fields[1]) == ppid:
            found.append(int(d))
    return found


t = ac.Tap()
site = testsite.Site()
proxy = testsite.Proxy()
tmp_agent_dir = None
agent = None
try:
    profiles = tempfile.mkdtemp(prefix="agentvm-browser-test.")
    agent_dir_for_fakes = tempfile.mkdtemp(prefix="agentvm-browser-fake.")
    os.environ["AGENTVM_BROWSER_TMPDIR"] = profiles
    os.environ["AGENTVM_BROWSER_PROXY"] = proxy.url
    agent = ac.Agent()
    c = agent.connect()

    # --- open, navigate, snapshot ------------------------------------------------------------
    start = time.time()
    r = c.request("browser.open", timeout=T, session="main",
                  viewport={"width": 800, "height": 600})
    open_s = time.time() - start
    t.ok(r and r.get("ok") and res(r).get("session") == "main" and res(r).get("pid", 0) > 0,
         "browser.open starts chromium", r)
    pid_main = res(r).get("pid", 0)
    t.ok(res(r).get("allow_evaluate") is False, "evaluate is off by default", r)
    r = c.request("browser.open", timeout=T, session="main")
    t.is_(code(r), "EEXIST", "a second open of the same name: EEXIST")

    start = time.time()
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/form")
    nav_s = time.time() - start
    t.ok(r and r.get("ok") and res(r).get("status") == 200 and
         res(r).get("title") == "Test form" and res(r).get("url") == site.base + "/form",
         "navigate: status, title, final url", r)
    t.ok(site.base + "/form" in proxy.urls, "the page was fetched through the proxy",
         proxy.urls)

    start = time.time()
    r = c.request("browser.snapshot", timeout=T, session="main")
    snap_s = time.time() - start
    snap = res(r).get("snapshot", "")
    t.ok(r and r.get("ok") and res(r).get("title") == "Test form" and res(r).get("refs", 0) >= 5,
         "snapshot: title and refs", r)
    t.ok('- heading "Sign up" [level=1]' in snap, "snapshot shows the heading", snap)
    name_ref = refs_of(snap, r'textbox "Name"')
    submit_ref = refs_of(snap, r'button "Submit"')
    agree_ref = refs_of(snap, r'checkbox "I agree"')
    combo_ref = refs_of(snap, r"- combobox")
    link_ref = refs_of(snap, r'link "Links"')
    t.ok(len(name_ref) == 1 and len(submit_ref) == 1 and len(agree_ref) == 1 and
         len(combo_ref) == 1 and len(link_ref) == 1,
         "textbox, button, checkbox, combobox and link carry refs", snap)
    r2 = c.request("browser.snapshot", timeout=T, session="main")
    t.ok(refs_of(res(r2).get("snapshot", ""), r'textbox "Name"') == name_ref,
         "refs are stable across snapshots", res(r2).get("snapshot"))
    t.diag("open %.2fs, navigate %.3fs, snapshot %.3fs" % (open_s, nav_s, snap_s))

    # --- fill, select, click, and the post -------------------------------------------------------
    r = c.request("browser.fill", timeout=T, session="main", ref=name_ref[0], value="Ada Lovelace")
    t.ok(r and r.get("ok"), "fill by ref", r)
    r = c.request("browser.fill", timeout=T, session="main", selector="input[name=email]",
                  value="ada@example.org")
    t.ok(r and r.get("ok"), "fill by selector", r)
    r = c.request("browser.fill", timeout=T, session="main", selector="textarea",
                  value="line one\nline \"two\" é")
    t.ok(r and r.get("ok"), "fill a textarea with quotes, newline and UTF-8", r)
    r = c.request("browser.select", timeout=T, session="main", ref=combo_ref[0], values="Blue")
    t.ok(r and r.get("ok") and res(r).get("selected") == ["b"], "select by label", r)
    r = c.request("browser.click", timeout=T, session="main", ref=agree_ref[0])
    t.ok(r and r.get("ok") and res(r).get("navigated") is False, "click a checkbox: no navigation", r)
    r = c.request("browser.snapshot", timeout=T, session="main")
    snap = res(r).get("snapshot", "")
    t.ok(re.search(r'textbox "Name" \[ref=e\d+\]: Ada Lovelace', snap) and
         re.search(r'checkbox "I agree" \[checked\]', snap),
         "the snapshot shows the filled value and the checked box", snap)
    r = c.request("browser.click", timeout=T, session="main", ref=submit_ref[0])
    t.ok(r and r.get("ok") and res(r).get("navigated") is True and
         res(r).get("title") == "Submitted" and res(r).get("status") == 200,
         "click submit: navigated to the result page", r)
    t.ok(site.posts and site.posts[-1] == {"name": "Ada Lovelace", "email": "ada@example.org",
                                           "agree": "yes", "color": "b",
                                           "bio": "line one\r\nline \"two\" é"},
         "the server saw the posted values", site.posts)
    r = c.request("browser.snapshot", timeout=T, session="main")
    t.ok('heading "Thanks, Ada Lovelace"' in res(r).get("snapshot", ""),
         "the snapshot shows the result page", r)

    # --- screenshots ---------------------------------------------------------------------------
    r = c.request("browser.screenshot", timeout=T, session="main")
    png = ac.unb64(res(r).get("data", "")) if r and r.get("ok") else b""
    t.ok(png_size(png) == (800, 600) and res(r).get("width") == 800 and
         res(r).get("height") == 600, "screenshot: a PNG of the viewport's size",
         (png[:32], res(r).get("width"), res(r).get("height")))
    c.request("browser.navigate", timeout=T, session="main", url=site.base + "/links")
    r = c.request("browser.screenshot", timeout=T, session="main", full_page=True)
    png = ac.unb64(res(r).get("data", "")) if r and r.get("ok") else b""
    size = png_size(png)
    t.ok(size and size[0] == 800 and size[1] > 3000, "full-page screenshot is taller", size)

    # --- back, links, redirects, 404, fragments --------------------------------------------------
    r = c.request("browser.back", timeout=T, session="main")
    t.ok(r and r.get("ok") and res(r).get("title") == "Submitted", "back: the previous page", r)
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/links")
    snap = res(c.request("browser.snapshot", timeout=T, session="main")).get("snapshot", "")
    r = c.request("browser.click", timeout=T, session="main",
                  ref=refs_of(snap, r'link "Redirects"')[0])
    t.ok(r and r.get("ok") and res(r).get("navigated") and
         res(r).get("url") == site.base + "/final" and res(r).get("status") == 200,
         "click a link that redirects twice", r)
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/redirect1")
    hops = res(r).get("redirects") or []
    t.ok(r and r.get("ok") and res(r).get("url") == site.base + "/final" and
         [h.get("status") for h in hops] == [302, 301],
         "navigate through a redirect chain reports the hops", r)
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/nowhere")
    t.ok(r and r.get("ok") and res(r).get("status") == 404, "a 404 page is a navigation", r)
    c.request("browser.navigate", timeout=T, session="main", url=site.base + "/links")
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/links#section")
    t.ok(r and r.get("ok") and res(r).get("url") == site.base + "/links#section",
         "a fragment navigation stays in the document", r)
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/dialog")
    t.ok(r and r.get("ok") and (res(r).get("dialogs") or [{}])[0].get("message") == "hello there",
         "an alert is answered and reported", r)

    # --- keys ----------------------------------------------------------------------------------
    c.request("browser.navigate", timeout=T, session="main", url=site.base + "/form")
    snap = res(c.request("browser.snapshot", timeout=T, session="main")).get("snapshot", "")
    name_ref = refs_of(snap, r'textbox "Name"')
    r = c.request("browser.press", timeout=T, session="main", ref=name_ref[0], key="x")
    t.ok(r and r.get("ok") and res(r).get("navigated") is False, "press a letter in a field", r)
    r = c.request("browser.press", timeout=T, session="main", key="Shift+Y")
    snap = res(c.request("browser.snapshot", timeout=T, session="main")).get("snapshot", "")
    t.ok(re.search(r'textbox "Name"[^\n]*\[ref=e\d+\]: xY', snap), "the keys typed into the field",
         snap)
    r = c.request("browser.press", timeout=T, session="main", key="Enter")
    t.ok(r and r.get("ok") and res(r).get("navigated") is True and
         res(r).get("title") == "Submitted" and site.posts[-1].get("name") == "xY",
         "Enter submits the form", (r, site.posts[-1:]))
    r = c.request("browser.press", timeout=T, session="main", key="NoSuchKey")
    t.is_(code(r), "EINVAL", "an unknown key: EINVAL")

    # --- errors --------------------------------------------------------------------------------
    c.request("browser.navigate", timeout=T, session="main", url=site.base + "/form")
    t.is_(code(c.request("browser.click", timeout=T, session="main", ref="e999999")), "ENOREF",
          "a ref no snapshot gave: ENOREF")
    t.is_(code(c.request("browser.click", timeout=T, session="main", selector="#missing")),
          "ENOREF", "a selector that matches nothing: ENOREF")
    t.is_(code(c.request("browser.click", timeout=T, session="main", selector="[[[")), "EINVAL",
          "an invalid selector: EINVAL")
    t.is_(code(c.request("browser.fill", timeout=T, session="main", selector="button",
                         value="x")), "EINVAL", "filling a button: EINVAL")
    t.is_(code(c.request("browser.click", timeout=T, session="main",
                         selector="button[disabled]")), "EINVAL",
          "clicking a disabled button: EINVAL")
    t.is_(code(c.request("browser.select", timeout=T, session="main", selector="select",
                         values=["Purple"])), "EINVAL", "selecting a missing option: EINVAL")
    snap = res(c.request("browser.snapshot", timeout=T, session="main")).get("snapshot", "")
    old_ref = refs_of(snap, r'textbox "Name"')[0]
    c.request("browser.navigate", timeout=T, session="main", url=site.base + "/page2")
    t.is_(code(c.request("browser.click", timeout=T, session="main", ref=old_ref)), "ENOREF",
          "a ref from the previous page: ENOREF")
    t.is_(code(c.request("browser.snapshot", timeout=T, session="nope")), "ENOSESSION",
          "an unknown session: ENOSESSION")
    r = c.request("browser.navigate", timeout=T, session="main", url="javascript:alert(1)")
    t.ok(code(r) == "EBADREQ" and r["error"].get("field") == "url",
         "javascript: URLs are refused", r)
    r = c.request("browser.click", timeout=T, session="main", ref="e1", selector="a")
    t.is_(code(r), "EBADREQ", "ref and selector together: EBADREQ")
    r = c.request("browser.evaluate", timeout=T, session="main", expression="1+1")
    t.is_(code(r), "EPERM", "evaluate without permission: EPERM")

    # --- the slow page -------------------------------------------------------------------------
    start = time.time()
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/slow",
                  timeout_ms=1500)
    took = time.time() - start
    t.ok(code(r) == "ETIMEDOUT" and 1.4 < took < 5, "a slow page times out (%.2fs)" % took, r)
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/page2")
    t.ok(r and r.get("ok") and res(r).get("title") == "Second page",
         "the session works after a timeout", r)

    # --- evaluate with permission, two sessions at once -----------------------------------------
    r = c.request("browser.open", timeout=T, session="second", allow_evaluate=True)
    t.ok(r and r.get("ok") and res(r).get("allow_evaluate") is True,
         "a second session with evaluate allowed", r)
    pid_second = res(r).get("pid", 0)
    c.send({"id": "nav-a", "op": "browser.navigate", "session": "main",
            "url": site.base + "/links"})
    c.send({"id": "nav-b", "op": "browser.navigate", "session": "second",
            "url": site.base + "/form"})
    ra, rb = c.next_for("nav-a", T), c.next_for("nav-b", T)
    t.ok(ra and ra.get("ok") and res(ra).get("title") == "Links" and rb and rb.get("ok") and
         res(rb).get("title") == "Test form", "two sessions navigate at once", (ra, rb))
    r = c.request("browser.evaluate", timeout=T, session="second",
                  expression="document.title + ' ' + (6 * 7)")
    t.ok(r and r.get("ok") and res(r).get("value") == "Test form 42" and
         res(r).get("type") == "string", "evaluate returns the value", r)
    r = c.request("browser.evaluate", timeout=T, session="second",
                  expression="Promise.resolve({a: [1, 2]})")
    t.ok(r and r.get("ok") and res(r).get("value") == {"a": [1, 2]},
         "evaluate awaits promises and returns JSON", r)
    r = c.request("browser.evaluate", timeout=T, session="second",
                  expression="throw new Error('boom')")
    t.ok(code(r) == "EJSEXCEPTION" and "boom" in r["error"].get("message", ""),
         "an exception: EJSEXCEPTION", r)
    r = c.request("browser.tabs", timeout=T, session="second")
    tabs = res(r).get("tabs") or []
    t.ok(len(tabs) == 1 and tabs[0].get("current") and tabs[0].get("title") == "Test form",
         "tabs lists the page", r)
    r = c.request("browser.list", timeout=T)
    names = sorted(s.get("session") for s in res(r).get("sessions", []))
    t.is_(names, ["main", "second"], "browser.list shows both sessions")

    # --- a crash -------------------------------------------------------------------------------
    os.kill(pid_second, signal.SIGKILL)
    time.sleep(0.3)
    r = c.request("browser.snapshot", timeout=T, session="second")
    t.ok(code(r) == "EBROWSER" and "signal KILL" in r["error"].get("message", ""),
         "a killed browser is reported: EBROWSER with the signal", r)
    r = c.request("browser.list", timeout=T)
    states = {s.get("session"): s.get("state") for s in res(r).get("sessions", [])}
    t.is_(states.get("second"), "crashed", "browser.list marks it crashed")
    t.ok(wait_gone(pid_second), "the killed browser was reaped")
    r = c.request("browser.open", timeout=T, session="second")
    t.ok(r and r.get("ok") and res(r).get("pid") != pid_second, "the session can be reopened", r)
    pid_second = res(r).get("pid", 0)
    r = c.request("browser.navigate", timeout=T, session="second", url=site.base + "/page2")
    t.ok(r and r.get("ok"), "and used", r)
    r = c.request("browser.navigate", timeout=T, session="main", url=site.base + "/form")
    t.ok(r and r.get("ok"), "the other session never noticed", r)

    # --- a hung browser ------------------------------------------------------------------------
    r = c.request("browser.open", timeout=T, session="hung")
    pid_hung = res(r).get("pid", 0)
    os.kill(pid_hung, signal.SIGSTOP)
    r = c.request("browser.snapshot", timeout=T, session="hung", timeout_ms=1000)
    t.is_(code(r), "ETIMEDOUT", "a stopped browser: the request times out")
    time.sleep(3.5)
    r = c.request("browser.snapshot", timeout=T, session="hung")
    t.ok(code(r) == "EBROWSER" and "stopped responding" in r["error"].get("message", ""),
         "then it is declared hung: EBROWSER", r)
    t.ok(wait_gone(pid_hung), "and killed")

    # --- no proxy listening: no way around it --------------------------------------------------
    dead_proxy = "http://127.0.0.1:%d" % testsite.closed_port()
    r = c.request("browser.open", timeout=T, session="noproxy", proxy=dead_proxy)
    hits = len(site.hits)
    r = c.request("browser.navigate", timeout=T, session="noproxy", url=site.base + "/page2")
    t.ok(code(r) == "ENAVIGATE" and "PROXY" in r["error"].get("message", ""),
         "without a proxy navigation fails", r)
    t.is_(len(site.hits), hits, "and never reached the site directly")
    t.ok(code(c.request("browser.open", timeout=T, session="bad", proxy="direct://")) ==
         "EBADREQ", "a proxy that is not host:port is refused")

    # --- closing ---------------------------------------------------------------------------------
    r = c.request("browser.close", timeout=T, session="noproxy")
    t.ok(r and r.get("ok"), "close", r)
    r = c.request("browser.close", timeout=T, session="second")
    t.ok(r and r.get("ok") and wait_gone(pid_second, 0.1), "close waits for the browser to go", r)
    t.is_(code(c.request("browser.snapshot", timeout=T, session="second")), "ENOSESSION",
          "a closed session is gone")

    # A session dies with the connection that opened it, unless detached.
    c2 = agent.connect()
    r = c2.request("browser.open", timeout=T, session="conn-bound")
    pid_bound = res(r).get("pid", 0)
    r = c2.request("browser.open", timeout=T, session="kept", detached=True)
    pid_kept = res(r).get("pid", 0)
    c2.close()
    t.ok(pid_bound and wait_gone(pid_bound), "closing the connection closes its session")
    time.sleep(0.2)
    t.ok(pid_kept and alive(pid_kept), "a detached session stays")
    r = c.request("browser.close", timeout=T, session="kept")
    t.ok(r and r.get("ok") and wait_gone(pid_kept), "and closes from another connection", r)

    r = c.request("browser.close", timeout=T, session="main")
    t.ok(r and r.get("ok") and wait_gone(pid_main, 0.1), "close the first session", r)
    r = c.request("browser.close", timeout=T, session="hung")
    t.ok(r and r.get("ok") and "stopped responding" in res(r).get("crashed", ""),
         "closing a dead session forgets it", r)
    time.sleep(0.5)
    t.is_(processes_with(profiles), [], "no chromium process is left")
    t.is_(os.listdir(profiles), [], "every profile directory was removed")
    t.is_(zombies_of(agent.proc.pid), [], "no zombies under the agent")

    # The agent stopping takes its browsers along, detached ones too.
    r = c.request("browser.open", timeout=T, session="at-exit", detached=True)
    pid_exit = res(r).get("pid", 0)
    c.close()
    agent.stop(t)
    agent = None
    t.ok(pid_exit and wait_gone(pid_exit), "stopping the agent kills its browsers")
    t.is_(os.listdir(profiles), [], "and removes their profiles")

    # A browser that cannot start says why.
    fake = os.path.join(agent_dir_for_fakes, "not-chromium")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\necho 'fatal: this is not chromium' >&2\nexit 3\n")
    os.chmod(fake, 0o755)
    os.environ["AGENTVM_CHROMIUM"] = fake
    agent = ac.Agent()
    c = agent.connect()
    r = c.request("browser.open", timeout=T, session="broken")
    t.ok(code(r) == "EBROWSER" and "exited with status 3 (fatal: this is not chromium)" in
         r["error"].get("message", ""), "a browser that exits at start: EBROWSER with its words",
         r)
    t.is_(res(c.request("browser.list", timeout=T)).get("sessions"), [],
          "and no session is left")
    os.environ["AGENTVM_CHROMIUM"] = os.path.join(agent_dir_for_fakes, "missing")
    agent.stop(t)
    agent = ac.Agent()
    c = agent.connect()
    t.is_(code(c.request("browser.open", timeout=T)), "ENOENT", "no chromium at all: ENOENT")
    t.is_(os.listdir(profiles), [], "failed starts leave no profile")
finally:
    if agent:
        agent.stop(t)
    site.stop()
    proxy.stop()
    try:
        os.rmdir(profiles)
        shutil.rmtree(agent_dir_for_fakes)
    except (OSError, NameError):
        pass
t.done()
