#!/usr/bin/env python3
# A raw CoAP peer that plays a buggy or compromised LwM2M server (plain CoAP,
# 127.0.0.1): it takes the client's Register, then sends what such a server
# might, and checks each answer against what RFC 7252 and RFC 7959 say a
# server (here: the LwM2M client serving its objects) must answer. The
# expected codes are written from the RFCs' text, not from our client.
#
# usage: coap-hostile.py PORT LIMIT GO CHECK... [flood N]
#   GO     a file: the checks start once it exists (after the test took the client's idle RSS)
#   LIMIT  the client's request-body limit (dm.max_body) in bytes
#   CHECK  a check by name (see CHECKS below), or "all"
#   flood N  N oversized bodies in a row (each grown past LIMIT block by block)
# Events are JSON lines on stdout: {"event":"registered"}, one
# {"check":NAME,"ok":true|false,"why":...} per check, {"event":"done"}. It goes on
# answering Updates (2.04) until killed.
import os
import random
import socket
import sys
import time

from labcoap import build, event, opt, path_opts, recv_until, uint, uint_bytes

CON, ACK = 0, 2
GET, POST, PUT = 1, 2, 3
O_ETAG, O_IF_MATCH, O_URI_PATH, O_CF, O_ACCEPT = 4, 1, 11, 12, 17
O_BLOCK2, O_BLOCK1, O_SIZE2, O_SIZE1, O_LOCATION = 23, 27, 28, 60, 8


def code(c, d):
    return c << 5 | d


def cstr(c):
    return "%d.%02d" % (c >> 5, c & 31)


out = event
path = path_opts
ub = uint_bytes


def block(num, more, szx):
    return ub(num << 4 | (8 if more else 0) | szx)


class Peer:
    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", port))
        self.client = None
        self.mid = random.randrange(0x10000)

    def serve(self, m, src):
        """Answer what the client sends us: Register, Update, De-register."""
        if m["type"] != CON:
            return
        uri = "/".join(v.decode() for n, v in m["opts"] if n == O_URI_PATH)
        b1 = opt(m["opts"], O_BLOCK1)
        opts = []
        if b1 is not None:
            opts.append((O_BLOCK1, b1))
        if uri == "rd" and b1 is not None and uint(b1) & 8:
            c = code(2, 31)
        elif uri == "rd":
            c = code(2, 1)
            opts += [(O_LOCATION, b"rd"), (O_LOCATION, b"h1")]
            if self.client is None:
                self.client = src
                out(event="registered", at=src[1])
            self.client = src
        else:
            c = code(2, 4) if m["code"] == POST else code(2, 2)
        self.s.sendto(build(ACK, c, m["mid"], m["token"], opts), src)

    def pump(self, until):
        """Serve the client until a time; return the first answer to one of ours."""
        while True:
            got = recv_until(self.s, until)
            if got is None:
                return None
            m, src = got
            if m["code"] < 32:
                self.serve(m, src)
                continue
            return m

    def request(self, c, p, opts=(), payload=b"", tok=None, timeout=3.0):
        """One confirmable request to the client; its answer (piggybacked or separate)."""
        self.mid = (self.mid + 1) & 0xFFFF
        mid, tok = self.mid, tok if tok is not None else os.urandom(4)
        pkt = build(CON, c, mid, tok, list(path(p)) + list(opts), payload)
        for attempt in range(2):
            self.s.sendto(pkt, self.client)
            end = time.monotonic() + timeout / 2
            while True:
                m = self.pump(end)
                if m is None:
                    break
                if m["token"] == tok and (m["type"] != ACK or m["mid"] == mid):
                    return m
        return None


def check(name, ok, why=""):
    out(check=name, ok=bool(ok), why=why)


def got(m):
    return "no answer" if m is None else cstr(m["code"])


def read_tz(p):
    m = p.request(GET, "/3/0/15", [(O_ACCEPT, ub(0))])
    return None if m is None or m["code"] != code(2, 5) else m["payload"]


def write_blocks(p, value, szx, tok=None):
    """A whole value in Block1 blocks of 16 << szx bytes; the answers' codes and last answer."""
    size, codes, m = 16 << szx, [], None
    n = (len(value) + size - 1) // size
    for i in range(n):
        more = i < n - 1
        m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(i, more, szx))],
                      value[i * size:(i + 1) * size], tok)
        codes.append(got(m))
        if m is None or m["code"] != code(2, 31):
            break
    return codes, m


def c_size1(p, limit):
    # RFC 7959 2.9.3 / 4: a Size1 over what the server will take: 4.13 with Size1 = its limit
    tok = os.urandom(4)
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(0, True, 6)),
                                   (O_SIZE1, ub(0xFFFFFFFF))], b"a" * 1024, tok)
    s1 = opt(m["opts"], O_SIZE1) if m else None
    check("size1-claim", m and m["code"] == code(4, 13) and s1 is not None and
          uint(s1) <= limit, "%s, Size1 %s" % (got(m), uint(s1) if s1 is not None else None))
    # the final block of that body, same token: nothing is in progress (2.3: 4.08)
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(1, False, 6))],
                  b"b" * 10, tok)
    check("size1-then-last", m and m["code"] == code(4, 8), got(m))


def grow(p, limit):
    """A body sent block by block past the limit: 2.31 until then, 4.13 with Size1 after."""
    codes, m, i = [], None, 0
    while i <= limit // 1024 + 2:
        m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(i, True, 6))],
                      b"c" * 1024)
        if m is None or m["code"] != code(2, 31):
            break
        i += 1
    return i, m


def c_grow(p, limit):
    before = read_tz(p)
    i, m = grow(p, limit)
    s1 = opt(m["opts"], O_SIZE1) if m else None
    check("body-past-limit", m and m["code"] == code(4, 13) and i * 1024 <= limit and
          s1 is not None and uint(s1) == limit,
          "%d blocks taken, then %s with Size1 %s" % (i, got(m), uint(s1) if s1 else None))
    check("body-past-limit-not-applied", read_tz(p) == before, "")


def c_stray(p, limit):
    before = read_tz(p)
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(3, True, 0))], b"d" * 16)
    check("stray-block-more", m and m["code"] == code(4, 8), got(m))
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(2, False, 0))], b"Stray")
    check("stray-block-last", m and m["code"] == code(4, 8), got(m))
    check("stray-not-applied", read_tz(p) == before, "value %r" % read_tz(p))


def c_atomic(p, limit):
    value = b"Europe/Amsterdam-" + b"x" * 23  # 40 bytes: 3 blocks of 16
    codes, m = write_blocks(p, value, 0)
    b1 = opt(m["opts"], O_BLOCK1) if m else None
    # 2.3: 2.31 to every non-final block, the outcome to the last, whose Block1 names it
    check("blocks-atomic", codes == ["2.31", "2.31", "2.04"] and b1 is not None and
          uint(b1) >> 4 == 2 and not uint(b1) & 8, "%s, Block1 %s" % (codes, b1))
    check("blocks-applied-whole", read_tz(p) == value, "value %r" % read_tz(p))
    # a block sent again (its 2.31 lost; a new message ID): answered again, taken once
    # (RFC 7252 4.5: a request repeated must not be applied twice)
    value = b"America/New_York" + b"y" * 24
    tok, codes = os.urandom(4), []
    for i in (0, 1, 1, 2):
        m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(i, i < 2, 0))],
                      value[i * 16:(i + 1) * 16], tok)
        codes.append(got(m))
    check("blocks-repeated", codes == ["2.31", "2.31", "2.31", "2.04"] and read_tz(p) == value,
          "%s, value %r" % (codes, read_tz(p)))
    # a body cut off, then a new one from block 0: the new one, whole
    p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(0, True, 0))], b"B" * 16)
    p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(1, True, 0))], b"B" * 16)
    codes, m = write_blocks(p, b"Pacific/Auckland", 0)
    check("blocks-restart", codes == ["2.04"] and read_tz(p) == b"Pacific/Auckland",
          "%s, value %r" % (codes, read_tz(p)))


def c_szx7(p, limit):
    # RFC 7959 2.2: SZX 7 is reserved; in a request it MUST lead to 4.00
    m = p.request(GET, "/3/0/0", [(O_BLOCK2, block(0, False, 7))])
    check("block2-szx7", m and m["code"] == code(4, 0), got(m))
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(0, False, 7))], b"UTC")
    check("block1-szx7", m and m["code"] == code(4, 0), got(m))


def c_accept(p, limit):
    # RFC 7252 5.10.4: a Content-Format the server cannot return: 4.06
    m = p.request(GET, "/3/0/0", [(O_ACCEPT, ub(65535))])
    check("accept-unknown", m and m["code"] == code(4, 6), got(m))


def c_if_match(p, limit):
    # RFC 7252 5.10.8.1: performed only if the current representation matches; else 4.12
    p.request(PUT, "/3/0/15", [(O_CF, ub(0))], b"Asia/Tokyo")
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_IF_MATCH, b"\xde\xad\xbe\xef")],
                  b"Africa/Cairo")
    check("if-match-wrong", m and m["code"] == code(4, 12) and read_tz(p) == b"Asia/Tokyo",
          "%s, value %r" % (got(m), read_tz(p)))
    r = p.request(GET, "/3/0/15", [(O_ACCEPT, ub(0))])
    etag = opt(r["opts"], O_ETAG) if r else None
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_IF_MATCH, etag or b"")], b"Africa/Cairo")
    check("if-match-right", etag and m and m["code"] == code(2, 4) and
          read_tz(p) == b"Africa/Cairo", "ETag %r, %s" % (etag, got(m)))
    m = p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_IF_MATCH, b"")], b"UTC")
    check("if-match-any", m and m["code"] == code(2, 4), got(m))


def c_big(p, limit):
    # a datagram over libcoap 4.3.1's 1152-byte PDU limit is dropped before we see it (no
    # token to answer with): the client logs it and goes on serving
    p.request(PUT, "/3/0/15", [(O_CF, ub(0))], b"Z" * 2000, timeout=1.0)
    m = p.request(GET, "/3/0/15", [(O_ACCEPT, ub(0))])
    check("big-datagram-then-alive", m and m["code"] == code(2, 5), got(m))


def c_dup(p, limit):
    # RFC 7252 4.5: a confirmable message sent again (its ACK lost) with the same Message ID
    # is acknowledged again, and a non-idempotent request (POST: an Execute) is not done
    # twice. Execute Reboot (/3/0/4), then the very same datagram again: the same answer;
    # the test counts the runs of the device's reboot hook (one).
    m1 = p.request(POST, "/3/0/4", tok=b"dup1")
    mid = p.mid
    pkt = build(CON, POST, mid, b"dup1", list(path("/3/0/4")))
    p.s.sendto(pkt, p.client)
    m2 = None
    end = time.monotonic() + 2.0
    while True:
        m = p.pump(end)
        if m is None or (m["token"] == b"dup1" and m["mid"] == mid):
            m2 = m
            break
    check("dup-answered-again", m1 and m2 and m1["code"] == code(2, 4) and m2["code"] == m1["code"]
          and m2["type"] == ACK, "%s, then %s" % (got(m1), got(m2)))


CHECKS = dict(big=c_big, size1=c_size1, grow=c_grow, stray=c_stray, atomic=c_atomic, szx7=c_szx7,
              accept=c_accept, ifmatch=c_if_match, dup=c_dup)


def main():
    port, limit, go, args = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    p = Peer(port)
    out(event="listening", port=port)
    while p.client is None or not os.path.exists(go):
        p.pump(time.monotonic() + 0.1)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "flood":
            n, i = int(args[i + 1]), i + 1
            ok = 0
            for _ in range(n):
                _, m = grow(p, limit)
                ok += m is not None and m["code"] == code(4, 13)
            check("flood", ok == n, "%d of %d refused with 4.13" % (ok, n))
            # and the Size1 claim, again and again
            for _ in range(n):
                p.request(PUT, "/3/0/15", [(O_CF, ub(0)), (O_BLOCK1, block(0, True, 6)),
                                           (O_SIZE1, ub(0xFFFFFFFF))], b"a" * 1024)
        elif a == "all":
            for f in CHECKS.values():
                f(p, limit)
        else:
            CHECKS[a](p, limit)
        i += 1
    out(event="done")
    while True:
        p.pump(time.monotonic() + 3600)


if __name__ == "__main__":
    main()
