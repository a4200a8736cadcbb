#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A VICI peer that never gives a useful answer, for the time-limit tests.

  vici-stall.py MODE SOCKET

Listens on the unix socket SOCKET (removed at exit), prints "ready" once it
listens, and then, on every connection:

  silent   reads whatever comes and never writes
  dribble  once a request came, sends the start of a reply one byte a second
           (a length of 1024 bytes, then type CMD_RESPONSE and filler): a
           packet that never ends
  events   confirms every event registration at once; after any command it
           sends a complete "control-log" event every 100 ms and never the
           command's response
  full     accepts nobody: its listen queue is filled by connections of its
           own, so that a connect() to it would block (EAGAIN on a
           non-blocking socket)

Runs until SIGTERM or SIGINT.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

CMD_REQUEST, CMD_RESPONSE, EVENT_REGISTER, EVENT_CONFIRM, EVENT = 0, 1, 3, 5, 7


def packet(ptype, name=b"", body=b""):
    payload = bytes([ptype]) + (bytes([len(name)]) + name if name else b"") + body
    return struct.pack(">I", len(payload)) + payload


def kv(key, value):
    return bytes([3, len(key)]) + key + struct.pack(">H", len(value)) + value


def read_packet(conn):
    """One whole packet (type, rest) or None at EOF."""
    hdr = b""
    while len(hdr) < 4:
        chunk = conn.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data[0], data[1:]


def serve_silent(conn):
    while conn.recv(65536):
        pass


def serve_dribble(conn):
    if read_packet(conn) is None:
        return
    never = struct.pack(">I", 1024) + bytes([CMD_RESPONSE]) + b"\x03" * 1023
    for b in never:
        conn.sendall(bytes([b]))
        time.sleep(1.0)


def serve_events(conn):
    event = packet(EVENT, b"control-log",
                   kv(b"group", b"IKE") + kv(b"level", b"1") +
                   kv(b"msg", b"retransmit 1 of request with message ID 0"))
    while True:
        p = read_packet(conn)
        if p is None:
            return
        if p[0] == EVENT_REGISTER:
            conn.sendall(packet(EVENT_CONFIRM))
            continue
        while True:
            conn.sendall(event)
            time.sleep(0.1)


def handle(conn, serve):
    try:
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("silent", "dribble", "events", "full"):
        sys.stderr.write(__doc__)
        return 2
    mode, path = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    srv.bind(path)
    own = []
    try:
        if mode == "full":
            srv.listen(0)
            for _ in range(64):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.setblocking(False)
                try:
                    c.connect(path)
                except BlockingIOError:
                    c.close()
                    break
                own.append(c)
            print("ready", flush=True)
            while True:
                time.sleep(3600)
        srv.listen(16)
        print("ready", flush=True)
        serve = {"silent": serve_silent, "dribble": serve_dribble, "events": serve_events}[mode]
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn, serve), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        for c in own:
            c.close()
        srv.close()
        try:
            os.unlink(path)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
