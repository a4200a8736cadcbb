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
#   op=KIND:ARGS         after each Register or Update (0.2 s), in the order given, each
#                        waiting for the answer to the one before (event "op": the answer's
#                        code, Content-Format, and its SenML as records with SenML JSON's
#                        names whichever format it came in, or its text):
#                          fetch:CF:ACCEPT:SENML    FETCH / (Read-Composite; with
#                          observe:CF:ACCEPT:SENML  Observe 0: Observe-Composite), the SenML
#                                                   JSON records given, in CF (110 JSON, 112
#                                                   CBOR); ACCEPT a number or - for none
#                          cancel:CF:ACCEPT:SENML   FETCH / with Observe 1 and the token of the
#                                                   last observation (RFC 7641 3.6)
#                          ipatch:CF:SENML          iPATCH / (Write-Composite)
#                          fetch@PATH:..., ipatch@PATH:...  the same on PATH, not /
#                          get:PATH:ACCEPT          GET PATH
#                          put:PATH:TEXT            PUT PATH, text/plain
#                          wait:SECONDS             notifications that come meanwhile are
#                                                   events "notify" (acknowledged if CON)
#   opdelay=SECONDS      when the ops start after the Register or Update (default 0.2)
#   dp=CODE              answer a Send (POST /dp) with CODE (default 2.04); every Send is
#                        an event "send" with its Content-Format and SenML records
# Codes are written as in RFC 7252, "4.12". Events are JSON lines on stdout.
import json
import os
import random
import socket
import sys
import time

from labcoap import (build, event, parse, path_opts, recv_until, senml_from_cbor, senml_to_cbor,
                     uint, uint_bytes)

CON, NON, ACK, RST = 0, 1, 2, 3
METHODS = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE", 5: "FETCH", 7: "iPATCH"}
O_OBSERVE, O_LOCATION, O_URI_PATH, O_CF, O_URI_QUERY, O_ACCEPT = 6, 8, 11, 12, 15, 17
SENML_JSON, SENML_CBOR = 110, 112


def code(s):
    c, d = s.split(".")
    return int(c) << 5 | int(d)


def cstr(c):
    return "%d.%02d" % (c >> 5, c & 31)


def opt_of(m, num):
    return next((v for n, v in m["opts"] if n == num), None) if m else None


def unasked(m):
    """A response no request of ours is waiting for (event "unasked")."""
    cf = uint(opt_of(m, O_CF) or b"")
    event(event="unasked", token=m["token"].hex(), type=["CON", "NON", "ACK", "RST"][m["type"]],
          answer=cstr(m["code"]), observe=uint(opt_of(m, O_OBSERVE))
          if opt_of(m, O_OBSERVE) is not None else None, cf=cf, senml=decode(cf, m["payload"]))


def decode(cf, payload):
    """A SenML payload as records with SenML JSON's names, or None (not SenML, or malformed)."""
    try:
        if cf == SENML_JSON:
            return json.loads(payload)
        if cf == SENML_CBOR:
            return senml_from_cbor(payload)
    except ValueError:
        return "malformed"
    return None


class Peer:
    def __init__(self, port, args):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", port))
        self.refuse, self.refuseq, self.bs, self.attrs, self.ask = {}, None, None, None, None
        self.ops, self.dp, self.opdelay = [], code("2.04"), 0.2
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
            elif k == "op":
                self.ops.append(v)
            elif k == "dp":
                self.dp = code(v)
            elif k == "opdelay":
                self.opdelay = float(v)
            elif k == "ask":
                secs, p = v.split(":", 1)
                self.ask = (float(secs), p)
        self.mid = random.randrange(0x10000)
        self.obs = {}  # token: what it observes
        self.last_obs = None
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
        elif m["code"] == 2 and path == ["dp"]:
            c = self.dp
            cf = uint(next((v for n, v in m["opts"] if n == O_CF), b""))
            event(event="send", cf=cf, bytes=len(m["payload"]), senml=decode(cf, m["payload"]))
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
            if self.ops:
                self.due.append((now + self.opdelay, "ops", src))

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
            elif m["code"] >= 64 and opt_of(m, O_OBSERVE) is not None and m["token"] in self.obs:
                self.notified(m, src)
            elif m["code"] >= 64:
                return m

    def request(self, dst, c, path, opts=(), timeout=4.0, payload=b"", keep=False, tok=None):
        """One confirmable request to the client (sent twice at most); its answer or None.
        keep: an observation, whose notifications (same token) are events from then on;
        tok: the token (a cancel's is its observation's), else a new random one."""
        mid = self.next_mid()
        if tok is None:
            tok = os.urandom(4)
        else:  # a cancel: that observation's notifications are no longer ours
            self.obs.pop(tok, None)
        pkt = build(CON, c, mid, tok, (path_opts(path) if path.strip("/") else []) + list(opts),
                    payload)
        for _ in range(2):
            self.s.sendto(pkt, dst)
            end = time.monotonic() + timeout / 2
            while True:
                m = self.pump(end)
                if m is None:
                    break
                if m["token"] != tok:
                    unasked(m)
                    continue
                if m["token"] == tok:
                    if keep:
                        self.obs[tok] = path or "/"
                        self.last_obs = tok
                    return m
        return None

    def notified(self, m, src):
        """A notification of an observation of ours: an event, acknowledged if confirmable."""
        cf = uint(opt_of(m, O_CF) or b"")
        event(event="notify", op=self.obs[m["token"]], token=m["token"].hex(), type=["CON", "NON", "ACK", "RST"][m["type"]],
              observe=uint(opt_of(m, O_OBSERVE)), answer=cstr(m["code"]), cf=cf,
              senml=decode(cf, m["payload"]))
        if m["type"] == CON:
            self.s.sendto(build(ACK, 0, m["mid"]), src)

    def do_op(self, dst, spec):
        kind, args = spec.split(":", 1)
        kind, _, at = kind.partition("@")
        opts, body, obs = [], b"", False
        tok = None
        if kind in ("fetch", "observe", "cancel", "ipatch"):
            parts = args.split(":", 2 if kind != "ipatch" else 1)
            cf, records = int(parts[0]), json.loads(parts[-1])
            body = senml_to_cbor(records) if cf == SENML_CBOR else json.dumps(records).encode()
            opts.append((O_CF, uint_bytes(cf)))
            if kind != "ipatch" and parts[1] != "-":
                opts.append((O_ACCEPT, uint_bytes(int(parts[1]))))
            if kind == "observe":
                opts.append((O_OBSERVE, b""))
                obs = True
            elif kind == "cancel":
                opts.append((O_OBSERVE, b"\x01"))
                tok = self.last_obs
            c, path = code("0.05") if kind != "ipatch" else code("0.07"), at
        elif kind == "get":
            path, accept = args.rsplit(":", 1)
            c, opts = code("0.01"), [(O_ACCEPT, uint_bytes(int(accept)))]
        elif kind == "put":
            path, text = args.split(":", 1)
            c, opts, body = code("0.03"), [(O_CF, b"")], text.encode()
        elif kind == "wait":
            self.pump(time.monotonic() + float(args))
            event(event="op", op=spec)
            return
        else:
            raise SystemExit("lw-rawrd.py: unknown op " + kind)
        r = self.request(dst, c, path, opts, payload=body, keep=obs, tok=tok)
        cf = uint(opt_of(r, O_CF) or b"") if r else None
        event(event="op", op=spec, sent=body.hex(), token=r["token"].hex() if r else None, answer=cstr(r["code"]) if r else None, cf=cf,
              observe=uint(opt_of(r, O_OBSERVE)) if r and opt_of(r, O_OBSERVE) is not None
              else None, senml=decode(cf, r["payload"]) if r else None,
              text=r["payload"].decode(errors="replace") if r else None)

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
                unasked(m)  # a late answer to one of ours, or a notification not ours
                continue
            if not self.due or self.due[0][0] > time.monotonic():
                continue
            _, what, dst = self.due.pop(0)
            if what == "attrs":
                self.do_attrs(dst)
            elif what == "ops":
                for spec in self.ops:
                    self.do_op(dst, spec)
                event(event="ops_done")
            else:
                t0 = time.monotonic()
                r = self.request(dst, code("0.01"), self.ask[1], [(O_ACCEPT, uint_bytes(0))])
                event(event="ask", path=self.ask[1], after_s=self.ask[0],
                      answer=cstr(r["code"]) if r else None,
                      took_ms=int((time.monotonic() - t0) * 1000))


if __name__ == "__main__":
    Peer(int(sys.argv[1]), sys.argv[2:]).run()
