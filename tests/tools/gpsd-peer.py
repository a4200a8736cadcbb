#!/usr/bin/env python3
# Something on gpsd's port that is not a working gpsd, for the bounds of the policy's
# position input (tests/lab/gps.sh lab_gps_peer): listens on ADDR:PORT (PORT 0: any;
# prints "listening PORT"), logs each connection's first request line as "request LINE",
# then:
#   silent    accepts and never writes; holds the connection until the client closes it
#   garbage   writes lines that are not JSON (an SSH banner, an HTTP status line), then holds
#   endless   writes one line that never ends: '{"class":"TPV","device":"' then 'A' forever
#   dribble   writes gpsd's VERSION line one byte every 0.3 s, then holds
#   flood     writes gpsd's VERSION, then valid SKY lines (no fix) as fast as it can
# When the client closes, logs "client gone sent=N" (bytes written to it). Test code, not
# installed.
#
# usage: gpsd-peer.py MODE ADDR PORT
import socket
import sys
import threading
import time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode not in ("silent", "garbage", "endless", "dribble", "flood"):
    sys.exit("gpsd-peer: unknown mode " + mode)

VERSION = b'{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}\r\n'
SKY = (b'{"class":"SKY","device":"udp://127.0.0.1:29471","hdop":0.90,"nSat":4,"uSat":0,'
       b'"satellites":[{"PRN":5,"el":45.0,"az":120.0,"ss":40.0,"used":false,"gnssid":0,"svid":5}]}\r\n')


def serve(c):
    sent = 0
    try:
        with c:
            c.settimeout(5)
            req = b""
            while b"\n" not in req and len(req) < 4096:
                d = c.recv(4096)
                if not d:
                    break
                req += d
            print("request %s" % req.split(b"\n")[0].decode("latin-1").rstrip("\r"), flush=True)
            c.settimeout(None)
            if mode == "garbage":
                for ln in (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", b"HTTP/1.1 400 Bad Request\r\n"):
                    c.sendall(ln)
                    sent += len(ln)
            elif mode == "endless":
                c.sendall(b'{"class":"TPV","device":"')
                chunk = b"A" * 65536
                while True:
                    c.sendall(chunk)
                    sent += len(chunk)
            elif mode == "dribble":
                for i in range(len(VERSION)):
                    c.sendall(VERSION[i:i + 1])
                    sent += 1
                    time.sleep(0.3)
            elif mode == "flood":
                c.sendall(VERSION)
                block = SKY * 64
                while True:
                    c.sendall(block)
                    sent += len(block)
            while c.recv(4096):
                pass
    except OSError:
        pass
    print("client gone sent=%d" % sent, flush=True)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
print("listening %d" % s.getsockname()[1], flush=True)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
