#!/usr/bin/python3
"""bench/peak-anon.py CMD [ARGS...]: run CMD under GNU time (stdout and stderr to /dev/null)
and print "rss_kb anon_kb exit": its maximum resident size as the kernel counts it (GNU
time's %M, wait4's ru_maxrss) and the most of it that was the process's own memory, RssAnon
in /proc/PID/status (heap, stacks, libraries' relocated data: what it allocated, not the
shared libraries' pages that the page cache lends it), sampled every 0.5 ms while it runs.
A streaming process holds its memory steadily, so the sampled peak is the peak. GNU time
starts CMD, not this interpreter: a child forked or spawned from Python would carry
Python's 13 MB into its ru_maxrss."""
import os, sys, tempfile, time

devnull = os.open(os.devnull, os.O_RDWR)
with tempfile.NamedTemporaryFile(mode="r") as out:
    argv = ["/usr/bin/time", "-f", "%M", "-o", out.name] + sys.argv[1:]
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                       (os.POSIX_SPAWN_DUP2, devnull, 2)])
    child, anon = None, 0
    while True:
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            break
        try:
            if child is None:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    child = int(f.read().split()[0])
            with open("/proc/%d/status" % child) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        anon = max(anon, int(line.split()[1]))
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.0005)
    lines = out.read().split()
    print(lines[-1] if lines else 0, anon, os.waitstatus_to_exitcode(status))
