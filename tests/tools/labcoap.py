# Helpers of the project's test peers (lw-observer.py, coap-hostile.py, udp-relay.py):
# CoAP messages as RFC 7252 section 3 lays them out, JSON events, and the control FIFO
# the test scripts write commands to. Test code, not installed.
import json
import os
import select
import struct
import time

T0 = time.monotonic()


def event(**kw):
    """One JSON line on stdout, with the milliseconds since the peer started."""
    kw["ms"] = int((time.monotonic() - T0) * 1000)
    print(json.dumps(kw, separators=(",", ":")), flush=True)


def parse(b):
    """A datagram as type, code, mid, token, options [(number, value)] and payload."""
    if len(b) < 4 or b[0] >> 6 != 1:
        return None
    typ, tkl, code, mid = (b[0] >> 4) & 3, b[0] & 15, b[1], struct.unpack(">H", b[2:4])[0]
    tok, i, num, opts = b[4:4 + tkl], 4 + tkl, 0, []
    while i < len(b) and b[i] != 0xFF:
        d, ln = b[i] >> 4, b[i] & 15
        i += 1
        if d == 13:
            d, i = b[i] + 13, i + 1
        elif d == 14:
            d, i = struct.unpack(">H", b[i:i + 2])[0] + 269, i + 2
        if ln == 13:
            ln, i = b[i] + 13, i + 1
        elif ln == 14:
            ln, i = struct.unpack(">H", b[i:i + 2])[0] + 269, i + 2
        num += d
        opts.append((num, b[i:i + ln]))
        i += ln
    payload = b[i + 1:] if i < len(b) else b""
    return dict(type=typ, code=code, mid=mid, token=tok, opts=opts, payload=payload)


def build(typ, code, mid, tok=b"", opts=(), payload=b""):
    """A datagram; options in any order (sorted here, as the deltas require)."""
    out, last = bytearray([0x40 | typ << 4 | len(tok), code]) + struct.pack(">H", mid) + tok, 0
    for num, val in sorted(opts, key=lambda o: o[0]):
        d, ln = num - last, len(val)
        last = num

        def ext(x):
            return (x, b"") if x < 13 else (13, bytes([x - 13])) if x < 269 else \
                (14, struct.pack(">H", x - 269))
        dn, de = ext(d)
        ln_n, le = ext(ln)
        out += bytes([dn << 4 | ln_n]) + de + le + val
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def recv_until(sock, until):
    """The next CoAP message on sock before a time (monotonic): (message, source), or None."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return None
        data, src = sock.recvfrom(65536)
        m = parse(data)
        if m:
            return m, src


def uint(v):
    return int.from_bytes(v, "big") if v else 0


def uint_bytes(x):
    return x.to_bytes((x.bit_length() + 7) // 8, "big") if x else b""


def path_opts(path):
    return [(11, s.encode()) for s in path.strip("/").split("/")]


def opt(opts, num):
    return next((v for n, v in opts if n == num), None)


class Control:
    """Commands, one a line, on a FIFO the test script opens and closes as it likes."""

    def __init__(self, fifo):
        self.fifo, self.buf = fifo, b""
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def fileno(self):
        return self.fd

    def commands(self):
        """The complete command lines that came, each split into words."""
        data = os.read(self.fd, 4096)
        if not data:  # the writer closed: reopen and go on
            os.close(self.fd)
            self.fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.buf += data
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.split():
                out.append(line.decode().split())
        return out
