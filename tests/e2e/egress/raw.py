#!/usr/bin/env python3
"""Send one raw request to a proxy and print the status line it answers.

  raw.py HOST:PORT 'GET http://2130706433:80/ HTTP/1.1'  [FIELD...]

The request line is sent exactly as given (curl would normalise it), then
the fields, then a blank line. Prints the first response line, or
"no response" if the proxy closed without one.
"""
import socket
import sys


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    lines = [sys.argv[2]] + sys.argv[3:]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    line = buf.split(b"\r\n", 1)[0].decode("latin-1") if buf else "no response"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
