#!/usr/bin/python3
"""bench/alternate.py N RESET -- NAME=CMD... : run each named command N times, alternating,
running the RESET shell command (untimed) before every run; print the median wall time of
each in ms as "NAME median_ms" lines. Commands are started with posix_spawn (no fork of
this interpreter), so the harness adds the same small, constant cost to every command;
a "null=/bin/true" command measures that cost.
With ALT_MARK=FILE in the environment, a command that writes a wall-clock time (seconds,
as bash's $EPOCHREALTIME) into FILE while it runs also gets a "NAME_mark median_ms" line:
the time from its start to that mark (FILE is removed before every run). With
ALT_RUNS=FILE, each run is also written there as "NAME START END MS" (START and END in Unix
time, seconds), so that a caller can match a run with what a daemon logged meanwhile."""
import os, shlex, statistics, subprocess, sys, time

n = int(sys.argv[1])
reset = sys.argv[2]
assert sys.argv[3] == "--"
cmds = []
for spec in sys.argv[4:]:
    name, cmd = spec.split("=", 1)
    cmds.append((name, shlex.split(cmd)))
times = {name: [] for name, _ in cmds}
mark = os.environ.get("ALT_MARK")
devnull = os.open(os.devnull, os.O_RDWR)
runs = open(os.environ["ALT_RUNS"], "w") if os.environ.get("ALT_RUNS") else None
for _ in range(n):
    for name, argv in cmds:
        subprocess.run(reset, shell=True, check=False, stdout=devnull, stderr=devnull)
        if mark and os.path.exists(mark):
            os.unlink(mark)
        fa = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        w = time.time()
        t = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
        _, status, _ = os.wait4(pid, 0)
        dt = (time.perf_counter() - t) * 1000
        if runs:
            runs.write("%s %.6f %.6f %.3f\n" % (name, w, w + dt / 1000, dt))
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("%s failed: exit %d" % (name, os.waitstatus_to_exitcode(status)))
        times[name].append(dt)
        if mark and os.path.exists(mark):
            with open(mark) as f:
                times.setdefault(name + "_mark", []).append((float(f.read()) - w) * 1000)
for name in times:
    print(name, "%.2f" % statistics.median(times[name]))
