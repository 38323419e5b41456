#!/usr/bin/env python3
"""A small HTTP origin for the egress tests, on 127.0.0.1 and a free port.

Prints the port on stdout, then serves until killed:
  /ok             "hello\\n"
  /big?n=N        N bytes (default 1 MiB) of a fixed pattern
  /redirect?to=U  302 to U
  /echo           the request line and fields it received, as text
Every request's Host field and path are appended to the file named by
--log, one "HOST PATH" line each, so a test can tell what reached it.
"""
import argparse
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATTERN = bytes(range(256)) * 4096  # 1 MiB


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = None
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def record(self):
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write("%s %s\n" % (self.headers.get("Host", "-"), self.path))

    def send(self, code, body, ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self.record()
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/ok":
            self.send(200, b"hello\n")
        elif url.path == "/big":
            n = int(q.get("n", ["1048576"])[0])
            body = (PATTERN * (n // len(PATTERN) + 1))[:n]
            self.send(200, body, "application/octet-stream")
        elif url.path == "/redirect":
            self.send(302, b"moved\n", extra=[("Location", q["to"][0])])
        elif url.path == "/echo":
            text = self.requestline + "\n" + "".join(
                "%s: %s\n" % (k, v) for k, v in self.headers.items())
            self.send(200, text.encode())
        else:
            self.send(404, b"no such page\n")

    do_HEAD = do_GET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log")
    args = ap.parse_args()
    Handler.log_path = args.log
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
