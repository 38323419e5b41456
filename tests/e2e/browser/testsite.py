"""A small web site and a forwarding HTTP proxy for the browser tests, each in
its own thread on 127.0.0.1. Standard library only.

The site serves a form (whose posts it records), links, a redirect chain, a
404 and a slow page. The proxy forwards absolute-form requests (what a
browser sends to an HTTP proxy) and records every URL it forwarded."""

import html
import http.client
import http.server
import socket
import threading
import time
import urllib.parse

FORM = """<!doctype html>
<html><head><title>Test form</title></head><body>
<h1>Sign up</h1>
<p>Please fill <b>the</b> form.</p>
<form method="post" action="/submit">
<label for="name">Name</label> <input id="name" name="name">
<label>Email <input type="email" name="email"></label>
<label><input type="checkbox" name="agree" value="yes"> I agree</label>
<select name="color"><option value="r">Red</option><option value="g">Green</option>
<option value="b">Blue</option></select>
<textarea name="bio"></textarea>
<button type="submit">Submit</button>
<button type="button" disabled>Disabled</button>
</form>
<a href="/links">Links</a>
</body></html>
"""

LINKS = """<!doctype html>
<html><head><title>Links</title></head><body>
<h1>Links</h1>
<ul><li><a href="/page2">Second page</a></li><li><a href="/redirect1">Redirects</a></li>
<li><a href="#section">Same page</a></li></ul>
<div style="height:3000px">tall</div>
<h2 id="section">Section</h2>
</body></html>
"""


class QuietServer(http.server.ThreadingHTTPServer):
    """Clients that hang up (a browser killed or a request timed out) are no news."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class Site:
    """The test web site; .posts holds the form posts (dicts), .hits the paths."""

    def __init__(self):
        self.posts = []
        self.hits = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def send_page(self, status, title, body, headers=()):
                data = ("<!doctype html><html><head><title>%s</title></head><body>%s"
                        "</body></html>" % (html.escape(title), body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def send_raw(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def redirect(self, status, where):
                self.send_response(status)
                self.send_header("Location", where)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                site.hits.append(path)
                if path == "/form":
                    self.send_raw(200, "text/html; charset=utf-8", FORM.encode())
                elif path == "/links":
                    self.send_raw(200, "text/html; charset=utf-8", LINKS.encode())
                elif path == "/page2":
                    self.send_page(200, "Second page", "<h1>Second</h1><p>page two</p>")
                elif path == "/redirect1":
                    self.redirect(302, "/redirect2")
                elif path == "/redirect2":
                    self.redirect(301, "/final")
                elif path == "/final":
                    self.send_page(200, "Final", "<h1>Final</h1>")
                elif path == "/slow":
                    time.sleep(20)
                    self.send_page(200, "Slow", "<p>slow</p>")
                elif path == "/dialog":
                    self.send_page(200, "Dialog", "<script>alert('hello there')</script>"
                                   "<p>after the alert</p>")
                elif path == "/favicon.ico":
                    self.send_raw(404, "text/plain", b"")
                else:
                    self.send_page(404, "Not found", "<h1>Not found</h1>")

            def do_POST(self):
                path = urllib.parse.urlsplit(self.path).path
                site.hits.append(path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode()
                fields = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                site.posts.append(fields)
                self.send_page(200, "Submitted",
                               "<h1>Thanks, %s</h1>" % html.escape(fields.get("name", "")))

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade"}


class Proxy:
    """A forwarding HTTP proxy (no CONNECT); .urls holds what it forwarded."""

    def __init__(self):
        self.urls = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def forward(self):
                url = urllib.parse.urlsplit(self.path)
                if url.scheme != "http" or not url.hostname:
                    self.send_error(400, "absolute http URL required")
                    return
                proxy.urls.append(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
                try:
                    target = url.path or "/"
                    if url.query:
                        target += "?" + url.query
                    conn.request(self.command, target, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as e:
                    self.send_error(502, "upstream: %s" % e)
                    return
                finally:
                    conn.close()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(data)
                    except OSError:
                        pass  # the browser went away

            do_GET = forward
            do_POST = forward
            do_HEAD = forward

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
