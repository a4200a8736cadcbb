#!/usr/bin/python3
"""lines.py - a small TCP line stream for the roaming test.

  lines.py serve HOST PORT OUT   accept ONE connection; append "<recv_time> <line>" to OUT
                                 for every received line; when the client shuts down its
                                 side, close and exit 0. Prints "listening" when ready.
  lines.py send HOST PORT COUNT INTERVAL
                                 connect (5 s), send "<seq> <send_time>" lines 0..COUNT-1,
                                 one every INTERVAL s; then shut down the write side and wait
                                 (30 s) until the server closes, i.e. everything arrived.
                                 Prints "connected <local addr>" and "done <count>"; exit 1
                                 on any socket error.
  lines.py check OUT COUNT       exit 0 if OUT holds exactly the lines 0..COUNT-1 in order;
                                 prints the largest gap between two arrivals (ms)."""
import socket
import sys
import time


def serve(host, port, out):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(1)
    print("listening", flush=True)
    c, peer = s.accept()
    print("accepted %s:%d" % peer, flush=True)
    buf = b""
    with open(out, "a") as f:
        while True:
            try:
                d = c.recv(4096)
            except OSError as e:
                print("error %s" % e, flush=True)
                return 1
            if not d:
                break
            now = time.time()
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                f.write("%.3f %s\n" % (now, line.decode()))
                f.flush()
    c.close()
    print("eof", flush=True)
    return 0


def send(host, port, count, interval):
    try:
        c = socket.create_connection((host, int(port)), timeout=5)
        print("connected %s:%d" % c.getsockname(), flush=True)
        c.settimeout(None)
        for seq in range(int(count)):
            c.sendall(b"%d %.3f\n" % (seq, time.time()))
            time.sleep(float(interval))
        c.shutdown(socket.SHUT_WR)
        c.settimeout(30)
        while c.recv(4096):
            pass
        print("done %d" % int(count), flush=True)
        return 0
    except OSError as e:
        print("error %s" % e, flush=True)
        return 1


def check(out, count):
    seqs, times = [], []
    with open(out) as f:
        for line in f:
            parts = line.split()
            times.append(float(parts[0]))
            seqs.append(int(parts[1]))
    gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
    print("lines %d, largest gap %d ms" % (len(seqs), gap * 1000))
    if seqs != list(range(int(count))):
        missing = sorted(set(range(int(count))) - set(seqs))
        print("not in order or incomplete; missing: %s" % missing[:20])
        return 1
    return 0


def main(argv):
    cmds = {"serve": (serve, 3), "send": (send, 4), "check": (check, 2)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]][0](*argv[2:])


sys.exit(main(sys.argv))
