#!/usr/bin/python3
"""procscan.py OUT WATCH NEEDLE_FILE... - look for secrets in every process's command line
and environment while a test runs.

The needles are read from files (first line, trailing newline stripped) so they never
appear on this scanner's own command line. Every /proc/*/cmdline and /proc/*/environ is
read in a loop (about every 2 ms) until SIGTERM/SIGINT; then OUT gets:
  samples N            number of full sweeps
  watched N            sweeps in which a process whose cmdline contains WATCH was seen
  hit PID WHERE CMD    one line per process/field that contained a needle
Prints "ready" on stdout once the needles are loaded."""
import os
import signal
import sys
import time

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def main(out, watch, *needle_files):
    needles = []
    for f in needle_files:
        with open(f, "rb") as fh:
            n = fh.readline().rstrip(b"\n")
            if n:
                needles.append(n)
    watch = watch.encode()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    me = str(os.getpid())
    samples = watched = 0
    hits = {}
    print("ready", flush=True)
    while not stop:
        seen = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            for where in ("cmdline", "environ"):
                try:
                    with open("/proc/%s/%s" % (pid, where), "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue
                if where == "cmdline" and watch in data:
                    seen = True
                for n in needles:
                    if n in data:
                        cmd = data.replace(b"\0", b" ")[:200] if where == "cmdline" else b""
                        hits[(pid, where)] = cmd.decode(errors="replace")
        samples += 1
        watched += seen
        time.sleep(0.002)
    with open(out, "w") as fh:
        fh.write("samples %d\nwatched %d\n" % (samples, watched))
        for (pid, where), cmd in sorted(hits.items()):
            fh.write("hit %s %s %s\n" % (pid, where, cmd))
    return 0


if len(sys.argv) < 4:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
sys.exit(main(*sys.argv[1:]))
