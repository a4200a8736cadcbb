#!/usr/bin/env python3
# A raw CoAP peer that plays an LwM2M bootstrap server (plain CoAP, 127.0.0.1),
# written from TS 1.1 Core 5.2.7 and Transport 6.1 rather than from our
# client: it sends exactly the requests a script names, byte by byte as RFC
# 7252 lays them out (tests/tools/labcoap.py), and reports every answer as it
# came (code, Content-Format, payload), for the test to judge against the
# specification's text. Not an independent implementation either: a scripted
# one, so that what goes over the wire is what the test says.
#
# usage: lw-bs-peer.py PORT SCRIPT
# SCRIPT holds one JSON object a line, a request each, sent in order once the
# client's Bootstrap-Request (POST /bs?ep=...) came and was answered 2.04:
#   {"name": "w1", "method": "PUT", "path": "/1/3", "cf": 110, "accept": 40,
#    "payload": "text"}          (method GET PUT POST DELETE; cf, accept, payload optional;
#                                  "hex" instead of "payload" for binary)
# Events, JSON lines on stdout: {"event":"listening"}, {"event":"request","ep":...},
# {"step":NAME,"code":"2.04","cf":N|null,"payload":TEXT,"hex":HEX} per answer
# (or "code":"timeout"), {"event":"done"}.
import json
import os
import random
import select
import socket
import sys
import time

from labcoap import build, event, opt, parse, path_opts, uint, uint_bytes

CON, ACK = 0, 2
METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4}
O_URI_QUERY, O_CF, O_ACCEPT = 15, 12, 17


def cstr(c):
    return "%d.%02d" % (c >> 5, c & 31)


def main():
    port, script = int(sys.argv[1]), sys.argv[2]
    steps = [json.loads(line) for line in open(script) if line.strip()]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    event(event="listening", port=port)
    peer, mid = None, random.randrange(0x10000)
    # the Bootstrap-Request
    while peer is None:
        b, src = sock.recvfrom(65536)
        m = parse(b)
        if not m or m["code"] != METHODS["POST"]:
            continue
        path = "/".join(v.decode() for n, v in m["opts"] if n == 11)
        query = [v.decode() for n, v in m["opts"] if n == O_URI_QUERY]
        if path != "bs":
            continue
        ep = next((q[3:] for q in query if q.startswith("ep=")), None)
        event(event="request", ep=ep, query="&".join(query))
        sock.sendto(build(ACK, 68, m["mid"], m["token"]), src)
        peer = src
    for st in steps:
        mid = (mid + 1) & 0xFFFF
        tok = os.urandom(4)
        opts = [] if st["path"] == "/" else path_opts(st["path"])
        if "cf" in st:
            opts.append((O_CF, uint_bytes(st["cf"])))
        if "accept" in st:
            opts.append((O_ACCEPT, uint_bytes(st["accept"])))
        body = bytes.fromhex(st["hex"]) if "hex" in st else st.get("payload", "").encode()
        pkt = build(CON, METHODS[st["method"]], mid, tok, opts, body)
        sock.sendto(pkt, peer)
        end, sent, tries = time.monotonic() + 10, time.monotonic(), 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                event(step=st["name"], code="timeout")
                break
            r, _, _ = select.select([sock], [], [], min(left, 2.0))
            if not r:
                if tries < 3 and time.monotonic() - sent >= 2.0:  # RFC 7252 4.2
                    sock.sendto(pkt, peer)
                    sent, tries = time.monotonic(), tries + 1
                continue
            b, src = sock.recvfrom(65536)
            m = parse(b)
            if not m:
                continue
            if m["type"] == CON and m["token"] != tok:
                # a request of the client's (a repeated Bootstrap-Request): 2.04 again
                sock.sendto(build(ACK, 68, m["mid"], m["token"]), src)
                continue
            if m["type"] == ACK and m["code"] == 0:
                continue  # empty ACK: the answer follows separately
            if m["token"] != tok:
                continue
            if m["type"] == CON:
                sock.sendto(build(ACK, 0, m["mid"]), src)
            cf = opt(m["opts"], O_CF)
            event(step=st["name"], code=cstr(m["code"]),
                  cf=uint(cf) if cf is not None else None,
                  payload=m["payload"].decode(errors="replace"), hex=m["payload"].hex())
            break
    event(event="done")
    # answer what else comes (a retransmission) for a moment, then go
    end = time.monotonic() + 1
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.2)
        if r:
            b, src = sock.recvfrom(65536)
            m = parse(b)
            if m and m["type"] == CON:
                sock.sendto(build(ACK, 0, m["mid"]), src)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
