#!/usr/bin/env python3
# A misbehaving HTTP peer for the CMP client's bounds (tests/lab/cmp.sh lab_cmp_peer):
# listens on ADDR:PORT (PORT 0: any; prints "listening PORT"), reads each request (header
# and Content-Length body), logs "request METHOD PATH content-type=TYPE length=N", then:
#   silent     never answers; holds the connection until the client closes it
#   dribble    a 200 response one byte a second, announced longer than it will ever get
#   garbage    200, Content-Type application/pkixcmp, a body that is not DER
#   status500  500 Internal Server Error (a small text body)
#   escape     500 with a reason phrase that holds terminal escape sequences (ESC [ ... m)
# Test code, not installed.
#
# usage: cmp-peer.py MODE ADDR PORT
import socket
import sys
import threading
import time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode not in ("silent", "dribble", "garbage", "status500", "escape"):
    sys.exit("cmp-peer: unknown mode " + mode)


def read_request(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return None
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip()
    n = int(hdr.get("content-length", "0") or 0)
    while len(body) < n:
        d = c.recv(4096)
        if not d:
            break
        body += d
    parts = lines[0].split(" ")
    print("request %s %s content-type=%s length=%d" % (
        parts[0], parts[1] if len(parts) > 1 else "-", hdr.get("content-type", "-"), len(body)),
        flush=True)
    return body


def serve(c):
    try:
        with c:
            if read_request(c) is None:
                return
            if mode == "silent":
                while c.recv(4096):
                    pass
            elif mode == "dribble":
                resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                        b"Content-Length: 100000\r\n\r\n" + b"\x30" * 100000)
                for i in range(len(resp)):
                    c.sendall(resp[i:i + 1])
                    time.sleep(1)
            elif mode == "garbage":
                body = b"this is no PKIMessage, just text \x00\x01\x02\xff" * 4
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            elif mode == "escape":
                body = b"\x1b[2J\x1b[31mgotcha\n"
                c.sendall(b"HTTP/1.1 500 \x1b[2J\x1b[31mred\x1b[0m\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            else:
                body = b"internal error\n"
                c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    print("client gone", flush=True)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
print("listening %d" % s.getsockname()[1], flush=True)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
