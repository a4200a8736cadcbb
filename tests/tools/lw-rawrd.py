#!/usr/bin/env python3
# A raw CoAP peer playing an LwM2M server's registration interface (plain
# CoAP, 127.0.0.1), for what the client puts on the wire and a library server
# hides: every request it receives as one JSON line with the method, the
# Uri-Path and Uri-Query exactly as sent, the token (hex) and the answer
# given. Its answers follow LwM2M TS 1.1 Transport 6.4.3 (Register 2.01 with
# a Location-Path under /rd, Update 2.04, De-register 2.02) and the options
# below; what is right is for the test to judge, from the specification.
#
# usage: lw-rawrd.py PORT [OPTION...]
#   refuse=VERSION:CODE  answer a Register with lwm2m=VERSION with CODE (e.g. 1.1:4.12,
#                        what TS 1.0 and 1.1 give for "Supported LwM2M Versions of the
#                        Server and the Client are not compatible")
#   refuseq=CODE         answer a Register that carries the parameter Q with CODE (a 1.0
#                        server: "unknown parameter")
#   bs=CODE              answer a Bootstrap-Request (POST /bs) with CODE
#   attrs=PATH?QUERY     after each Register or Update: Write-Attributes PATH?QUERY, then a
#                        Discover of PATH, then the attributes Discover showed written back
#                        as they read, and a second Discover (event "discover")
#   ask=SECONDS:PATH     SECONDS after each Register or Update, a GET of PATH to where the
#                        client spoke from (event "ask": answered or not, within 4 s)
# Codes are written as in RFC 7252, "4.12". Events are JSON lines on stdout.
import os
import random
import socket
import sys
import time

from labcoap import build, event, parse, path_opts, recv_until, uint_bytes

CON, NON, ACK, RST = 0, 1, 2, 3
METHODS = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE"}
O_LOCATION, O_URI_PATH, O_CF, O_URI_QUERY, O_ACCEPT = 8, 11, 12, 15, 17


def code(s):
    c, d = s.split(".")
    return int(c) << 5 | int(d)


def cstr(c):
    return "%d.%02d" % (c >> 5, c & 31)


class Peer:
    def __init__(self, port, args):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", port))
        self.refuse, self.refuseq, self.bs, self.attrs, self.ask = {}, None, None, None, None
        for a in args:
            k, v = a.split("=", 1)
            if k == "refuse":
                ver, c = v.split(":")
                self.refuse[ver] = code(c)
            elif k == "refuseq":
                self.refuseq = code(v)
            elif k == "bs":
                self.bs = code(v)
            elif k == "attrs":
                self.attrs = v
            elif k == "ask":
                secs, p = v.split(":", 1)
                self.ask = (float(secs), p)
        self.mid = random.randrange(0x10000)
        self.regs = 0
        self.due = []  # (monotonic time, what, peer address)

    def answer(self, m, src):
        """The answer to one of the client's requests, and the event that records it."""
        path = [v.decode() for n, v in m["opts"] if n == O_URI_PATH]
        query = [v.decode() for n, v in m["opts"] if n == O_URI_QUERY]
        params = dict(q.split("=", 1) if "=" in q else (q, None) for q in query)
        opts, c = [], code("4.04")
        if m["code"] == 2 and path == ["rd"]:
            ver = params.get("lwm2m")
            if ver in self.refuse:
                c = self.refuse[ver]
            elif self.refuseq is not None and "Q" in params:
                c = self.refuseq
            else:
                self.regs += 1
                c = code("2.01")
                opts = [(O_LOCATION, b"rd"), (O_LOCATION, b"r%d" % self.regs)]
        elif m["code"] == 2 and path == ["bs"]:
            c = self.bs if self.bs is not None else code("4.00")
        elif len(path) == 2 and path[0] == "rd" and m["code"] in (2, 4):
            c = code("2.04") if m["code"] == 2 else code("2.02")
        event(event="request", method=METHODS.get(m["code"], str(m["code"])),
              type=["CON", "NON", "ACK", "RST"][m["type"]], path="/".join(path), query=query,
              token=m["token"].hex(), mid=m["mid"], port=src[1], answer=cstr(c))
        typ = ACK if m["type"] == CON else NON
        self.s.sendto(build(typ, c, m["mid"] if typ == ACK else self.next_mid(), m["token"],
                            opts), src)
        if c in (code("2.01"), code("2.04")) and m["code"] == 2 and path[0] == "rd":
            now = time.monotonic()
            if self.attrs:
                self.due.append((now + 0.2, "attrs", src))
            if self.ask:
                self.due.append((now + self.ask[0], "ask", src))

    def next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def pump(self, until):
        """Serve the client until a time; the first answer to one of ours, if any."""
        while True:
            # what an answer of ours scheduled may be due before `until`
            got = recv_until(self.s, min([until] + [d[0] for d in self.due]))
            if got is None:
                return None
            m, src = got
            if m["code"] and m["code"] < 32:
                self.answer(m, src)
            elif m["code"] >= 64:
                return m

    def request(self, dst, c, path, opts=(), timeout=4.0):
        """One confirmable request to the client (sent twice at most); its answer or None."""
        mid, tok = self.next_mid(), os.urandom(4)
        pkt = build(CON, c, mid, tok, path_opts(path) + list(opts))
        for _ in range(2):
            self.s.sendto(pkt, dst)
            end = time.monotonic() + timeout / 2
            while True:
                m = self.pump(end)
                if m is None:
                    break
                if m["token"] == tok:
                    return m
        return None

    def do_attrs(self, dst):
        p, q = self.attrs.split("?", 1)
        w = self.request(dst, code("0.03"), p, [(O_URI_QUERY, x.encode()) for x in q.split("&")])
        d1 = self.request(dst, code("0.01"), p, [(O_ACCEPT, uint_bytes(40))])
        shown = d1["payload"].decode() if d1 else ""
        # the attributes as Discover showed them, written back as they read
        back = [a for a in shown.split(",")[0].split(";")[1:] if a.split("=")[0] in
                ("gt", "lt", "st", "pmin", "pmax")]
        w2 = self.request(dst, code("0.03"), p, [(O_URI_QUERY, x.encode()) for x in back])
        d2 = self.request(dst, code("0.01"), p, [(O_ACCEPT, uint_bytes(40))])
        event(event="discover", path=p, written=q,
              write=cstr(w["code"]) if w else None, shown=shown,
              write_back=cstr(w2["code"]) if w2 else None,
              shown_again=d2["payload"].decode() if d2 else "")

    def run(self):
        event(event="listening", port=self.s.getsockname()[1])
        while True:
            self.due.sort(key=lambda d: d[0])
            until = self.due[0][0] if self.due else time.monotonic() + 3600
            m = self.pump(until)
            if m is not None:
                continue  # a late answer to one of ours
            if not self.due or self.due[0][0] > time.monotonic():
                continue
            _, what, dst = self.due.pop(0)
            if what == "attrs":
                self.do_attrs(dst)
            else:
                t0 = time.monotonic()
                r = self.request(dst, code("0.01"), self.ask[1], [(O_ACCEPT, uint_bytes(0))])
                event(event="ask", path=self.ask[1], after_s=self.ask[0],
                      answer=cstr(r["code"]) if r else None,
                      took_ms=int((time.monotonic() - t0) * 1000))


if __name__ == "__main__":
    Peer(int(sys.argv[1]), sys.argv[2:]).run()
