#!/usr/bin/python3
"""bench/sim-up-loss.py [RUNS]: a model of "up --timeout 20" at 30% loss each way on IKE (test
32's conditions: charon with retransmit_tries 2, sends at 0, 1 and 2.4 s, gives up at 4.4 s;
retry.network 1 s doubling to 5 s, jitter 75-100 %; 300 ms kept for the teardown). Prints how
often a run misses its budget, and how often 2 or more of 25 runs do (test 32 then fails),
with the pause of the backoff taken after each failed attempt, and from the start of the
attempt before (what up does)."""
import random, sys

P = 0.7 * 0.7        # a request and its answer both get through


def exchange(t):
    for s in (0.0, 1.0, 2.4):
        if random.random() < P:
            return t + s + 0.005, True
    return t + 4.4, False


def attempt(t):
    t, ok = exchange(t)          # IKE_SA_INIT
    if ok:
        t, ok = exchange(t)      # IKE_AUTH
    return t, ok


def run(from_start, limit=20.0):
    t, tries = 0.0, 0
    while True:
        start = t
        t, ok = attempt(t)
        tries += 1
        if ok:
            return t <= limit - 0.3
        d = min(2.0 ** (tries - 1), 5.0)
        d -= random.uniform(0, d / 4)
        t = max(t, start + d) if from_start else t + d
        if t >= limit - 0.35:
            return False


n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
for name, fs in (("pause after each failure", False), ("pause from the attempt's start", True)):
    f = sum(not run(fs) for _ in range(n)) / n
    two = 1 - (1 - f) ** 25 - 25 * f * (1 - f) ** 24
    print("%s: a run misses 20 s in %.2f %% of runs; 2+ of 25 miss in %.1f %%" % (name, 100 * f, 100 * two))
