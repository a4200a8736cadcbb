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


# SenML (RFC 8428) in CBOR (RFC 8949), for the peers that check the LwM2M 1.1 formats:
# a small codec of the CBOR the SenML records use (integers, floats, text and byte
# strings, booleans, arrays and maps of definite length), and the SenML labels of
# RFC 8428 section 6 (bn -2, n 0, v 2, vs 3, vb 4, vd 8; "vlo" is LwM2M's, by name).
SENML_LABELS = {"bn": -2, "bt": -3, "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "t": 6, "vd": 8}


def cbor_enc(x):
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
        raise ValueError("too large")
    if x is True or x is False:
        return bytes([0xF5 if x else 0xF4])
    if isinstance(x, int):
        return head(0, x) if x >= 0 else head(1, -1 - x)
    if isinstance(x, float):
        return b"\xfb" + struct.pack(">d", x)
    if isinstance(x, bytes):
        return head(2, len(x)) + x
    if isinstance(x, str):
        b = x.encode()
        return head(3, len(b)) + b
    if isinstance(x, list):
        return head(4, len(x)) + b"".join(cbor_enc(i) for i in x)
    if isinstance(x, dict):
        return head(5, len(x)) + b"".join(cbor_enc(k) + cbor_enc(v) for k, v in x.items())
    raise ValueError("cannot encode %r" % (x,))


def cbor_dec(b):
    """One CBOR item that is all of b; ValueError on anything else."""
    def item(i):
        ib = b[i]
        major, ai, i = ib >> 5, ib & 31, i + 1
        if major == 7:
            if ai in (20, 21):
                return ai == 21, i
            if ai == 22:
                return None, i
            if ai == 25:
                return struct.unpack(">e", b[i:i + 2])[0], i + 2
            if ai == 26:
                return struct.unpack(">f", b[i:i + 4])[0], i + 4
            if ai == 27:
                return struct.unpack(">d", b[i:i + 8])[0], i + 8
            raise ValueError("simple value %d" % ai)
        if ai < 24:
            n = ai
        elif ai <= 27:
            size = 1 << (ai - 24)
            n, i = int.from_bytes(b[i:i + size], "big"), i + size
        else:
            raise ValueError("indefinite length")
        if major == 0:
            return n, i
        if major == 1:
            return -1 - n, i
        if major in (2, 3):
            s = b[i:i + n]
            if len(s) != n:
                raise ValueError("short string")
            return (s if major == 2 else s.decode()), i + n
        if major == 4:
            out = []
            for _ in range(n):
                v, i = item(i)
                out.append(v)
            return out, i
        if major == 5:
            out = {}
            for _ in range(n):
                k, i = item(i)
                v, i = item(i)
                out[k] = v
            return out, i
        raise ValueError("tag")
    v, end = item(0)
    if end != len(b):
        raise ValueError("trailing bytes")
    return v


def senml_to_cbor(records):
    """SenML JSON records (dicts with names) as SenML CBOR (labels)."""
    return cbor_enc([{SENML_LABELS.get(k, k): v for k, v in r.items()} for r in records])


def senml_from_cbor(b):
    """SenML CBOR as records with the names of SenML JSON (vd as base64url, as in JSON)."""
    import base64
    names = {v: k for k, v in SENML_LABELS.items()}
    out = []
    for r in cbor_dec(b):
        rec = {}
        for k, v in r.items():
            k = names.get(k, k)
            if isinstance(v, bytes):
                v = base64.urlsafe_b64encode(v).decode().rstrip("=")
            rec[k] = v
        out.append(rec)
    return out


def senml_resolve(records):
    """(name, record) per record: the base name carried forward and joined (RFC 8428 4.5)."""
    bn, out = "", []
    for r in records:
        bn = r.get("bn", bn)
        out.append((bn + r.get("n", ""), r))
    return out
