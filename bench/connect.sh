#!/bin/bash
# bench/connect.sh - connect time of `m2mvpn-connect up` against `swanctl --initiate`
# for the same connection on the lab: alternating, median of N (default 11) each, as a
# ratio; and the maximum RSS of the tool. Also charon's own handshake time in each run
# (from its log) and the tool's own cost over it and a process start, and `status` against
# /bin/true, also for a fail_closed profile (its guard judged; run in the device namespace,
# against /bin/true run the same way). Both run from the host namespace (the VICI
# socket is a path), so neither pays for `ip netns exec`; before every run the tunnel is
# terminated (untimed). The harness cost (starting /bin/true the same way) is measured in
# the same run and reported; the ratio is given as measured and with it subtracted.
#   targets: ratio <= 0.35 (swanctl spends 30-50 ms loading plugins), RSS < 5 MB,
#   own cost (up - handshake - /bin/true) <= 2 ms, status - /bin/true <= 2 ms (both kinds).
#   Those two were set in ms on the machine issue 17 was measured on (/bin/true 1.3 ms,
#   swanctl --initiate 22.8 ms, 16.1 ms with the lab's plugins); this shared machine runs 1.5
#   to 2.5 times slower on some days (a page fault costs 11 us here). So each is also given
#   scaled to that machine by each of the three programs timed in the same run, and checked
#   there: a target in ms holds on the machine it was set on.
# With M2M_BIN_BASE=PATH (another build of m2mvpn-connect, e.g. main's), its `up` runs in the
# same alternation and its own cost is printed too: a before/after under the same load.
# usage: sudo [M2M_BIN_BASE=PATH] bench/connect.sh [N]
set -euo pipefail
N=${1:-11}
cd "$(dirname "$0")/.."
# both charons log at their default level, as on a device (the tests' level 2 for IKE, KNL and
# CFG costs charon a flushed write per line: about 30 lines before IKE_SA_INIT alone);
# LAB_CHARON_LOG=debug for the tests' levels
export LAB_CHARON_LOG=${LAB_CHARON_LOG:-quiet}
. tests/lab/lab.sh
lab_require
lab_require_tool
lab_up
# a second profile for the status of a fail_closed one (its guard needs the device namespace)
lab_dev_config pos + fc fail_closed=true
CONN=m2m-pos
# swanctl as shipped: default plugin list (the lab's own strongswan.conf trims it)
cat > "$LAB/bench-swanctl.conf" <<EOF2
swanctl {
  socket = unix://$LAB/dev/run/charon.vici
}
EOF2
# the first up loads credentials and the connection; later runs and swanctl reuse them
"$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 10 || { echo "first up failed" >&2; exit 1; }
RESET="STRONGSWAN_CONF=$LAB/dev/strongswan.conf swanctl --terminate --ike $CONN --timeout 2; sleep 0.3"
BASE=()
[ -z "${M2M_BIN_BASE:-}" ] || BASE=("base=$M2M_BIN_BASE -c $M2M_CONFIG_FILE up pos --timeout 10")
out=$(ALT_RUNS=$LAB/bench-runs python3 bench/alternate.py "$N" "$RESET" -- \
	"tool=$M2M_BIN -c $M2M_CONFIG_FILE up pos --timeout 10" "${BASE[@]}" \
	"swanctl=/usr/bin/env STRONGSWAN_CONF=$LAB/bench-swanctl.conf /usr/sbin/swanctl --initiate --child $CONN --ike $CONN --timeout 10" \
	"swanctl_trimmed=/usr/bin/env STRONGSWAN_CONF=$LAB/dev/strongswan.conf /usr/sbin/swanctl --initiate --child $CONN --ike $CONN --timeout 10" \
	"null=/bin/true")
get() { awk -v k="$1" '$1 == k { print $2 }' <<< "$out"; }
# charon's own handshake in each timed run, from its log (ms stamps): IKE_SA_INIT sent to
# CHILD_SA established; the tool's own cost is each run's wall time minus its handshake,
# minus the process start (/bin/true) of the same run
hs=$(python3 - "$LAB/bench-runs" "$LAB/dev/charon.log" "$CONN" <<'EOF2'
import re, statistics, sys, time
runs = [l.split() for l in open(sys.argv[1])]
sod = lambda t: t - 86400 * int(t // 86400) if time.timezone == 0 else (time.localtime(t).tm_hour * 3600 + time.localtime(t).tm_min * 60 + time.localtime(t).tm_sec + t % 1)
init, done, asked = {}, {}, []
rx = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) .*<%s\|(\d+)> (.*)" % re.escape(sys.argv[3]))
for l in open(sys.argv[2], errors="replace"):
    m = rx.match(l)
    if not m:
        v = re.match(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) .*vici initiate CHILD_SA", l)
        if v:   # charon got the initiate: what follows until IKE_SA_INIT leaves is charon's too
            asked.append(int(v.group(1)) * 3600 + int(v.group(2)) * 60 + int(v.group(3)) + int(v.group(4)) / 1000)
        continue
    t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + int(m.group(4)) / 1000
    sa, msg = m.group(5), m.group(6)
    if msg.startswith("sending packet") and sa not in init:
        init[sa] = t                      # the first packet of this IKE SA: IKE_SA_INIT
    elif re.match(r"CHILD_SA \S+ established", msg) and sa not in done:
        done[sa] = t
hs = {}
names = len(set(r[0] for r in runs))
byround = {}
for i, (name, start, end, ms) in enumerate(runs):
    a, b = sod(float(start)), sod(float(end))
    for sa, t in init.items():
        if a - 0.002 <= t <= b + 0.002 and sa in done:
            pre = [t - x for x in asked if a - 0.002 <= x <= t]
            hs.setdefault(name, []).append(((done[sa] - t) * 1000, float(ms), min(pre) * 1000 if pre else 0))
            byround.setdefault(i // names, {})[name] = float(ms) - (done[sa] - t) * 1000
nul = statistics.median(float(ms) for n, _, _, ms in runs if n == "null")
# the build against the base, round by round (the same load in both): the median difference
d = [r["tool"] - r["base"] for r in byround.values() if "tool" in r and "base" in r]
if d:
    print("paired", "%.2f" % statistics.median(d), len(d))
for name, v in hs.items():
    own = [w - h - nul for h, w, _ in v]
    q = statistics.quantiles(own, n=4) if len(own) > 1 else [own[0]] * 3
    print(name, "%.2f" % statistics.median(h for h, _, _ in v),
          "%.2f" % statistics.median(own), len(v),
          "%.2f" % statistics.median(p for _, _, p in v),
          "%.2f" % statistics.median(w - h - p - nul for h, w, p in v),
          "%.2f" % q[0], "%.2f" % q[2])
EOF2
)
hget() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' <<< "$hs"; }
# status against a process start, tunnel up, alternating (no reset)
"$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 10 > /dev/null
sout=$(python3 bench/alternate.py "$N" true -- \
	"status=$M2M_BIN -c $M2M_CONFIG_FILE status pos" "null=/bin/true")
sget() { awk -v k="$1" '$1 == k { print $2 }' <<< "$sout"; }
# max RSS: GNU time's wait4 on a small forking parent, so nothing of Python is counted
eval "$RESET" > /dev/null 2>&1 || true
rss=$(/usr/bin/time -f %M "$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 10 2>&1 >/dev/null | tail -1)
# status of a fail_closed profile, tunnel up and guard in place (pos down: the same identity)
eval "$RESET" > /dev/null 2>&1 || true
NSX="/usr/sbin/ip netns exec $NS_DEV"
$NSX "$M2M_BIN" -c "$M2M_CONFIG_FILE" up fc --timeout 10 > /dev/null || { echo "up fc failed" >&2; exit 1; }
fout=$(python3 bench/alternate.py "$N" true -- \
	"status=$NSX $M2M_BIN -c $M2M_CONFIG_FILE status fc" "null=$NSX /bin/true")
fget() { awk -v k="$1" '$1 == k { print $2 }' <<< "$fout"; }
$NSX "$M2M_BIN" -c "$M2M_CONFIG_FILE" down fc --timeout 10 > /dev/null || true
awk -v t="$(get tool)" -v r="$(get swanctl)" -v r2="$(get swanctl_trimmed)" -v z="$(get null)" \
    -v n="$N" -v rss="$rss" 'BEGIN {
	printf "connect (median of %d, alternating): m2mvpn-connect up %.1f ms; swanctl --initiate %.1f ms (default plugins), %.1f ms (plugins trimmed as in the lab); harness (/bin/true) %.1f ms\n", n, t, r, r2, z
	printf "connect ratio vs trimmed swanctl: %.3f (information)\n", (t - z) / (r2 - z)
	printf "connect ratio as measured: %.3f\n", t / r
	printf "connect ratio: %.3f (harness cost subtracted; target <= 0.35) %s\n", (t - z) / (r - z), ((t - z) / (r - z) <= 0.35 ? "PASS" : "MISS")
	printf "max RSS of m2mvpn-connect up: %.1f MB (target < 5 MB) %s\n", rss / 1024, (rss < 5120 ? "PASS" : "MISS")
}'
awk -v h="$(hget tool 2)" -v o="$(hget tool 3)" -v hn="$(hget tool 4)" -v sh="$(hget swanctl_trimmed 2)" -v pre="$(hget tool 5)" \
    -v o2="$(hget tool 6)" -v q1="$(hget tool 7)" -v q3="$(hget tool 8)" \
    -v pd="$(hget paired 2)" -v pn="$(hget paired 3)" -v z="$(get null)" -v r="$(get swanctl)" -v r2="$(get swanctl_trimmed)" \
    -v bo="$(hget base 3)" -v bo2="$(hget base 6)" -v bq1="$(hget base 7)" -v bq3="$(hget base 8)" -v bt="$(get base)" \
    -v st="$(sget status)" -v sz="$(sget null)" -v ft="$(fget status)" -v fz="$(fget null)" 'BEGIN {
	printf "charon handshake (its log: IKE_SA_INIT sent -> CHILD_SA established), median: %.1f ms in the tool'"'"'s runs (n=%d), %.1f ms in trimmed swanctl'"'"'s\n", h, hn, sh
	printf "tool'"'"'s own cost (up - handshake - /bin/true, per run, median): %.2f ms (target <= 2 ms) %s\n", o, (o <= 2 ? "PASS" : "MISS")
	a = o * 1.3 / z; b = o * 22.8 / r; c = o * 16.1 / r2
	m = a > b ? a : b; m = m > c ? m : c
	printf "  scaled to the machine the target was set on, by /bin/true (1.3 ms there), swanctl --initiate (22.8) and trimmed (16.1): %.2f, %.2f, %.2f ms (target <= 2 ms) %s\n", a, b, c, (m <= 2 ? "PASS" : "MISS")
	printf "  spread of the own cost over the runs: quartiles %.2f .. %.2f ms\n", q1, q3
	printf "  of which charon, from the initiate request to IKE_SA_INIT sent (its log): %.1f ms (information)\n", pre
	printf "  own cost with that counted as charon'"'"'s (as swanctl --initiate pays it too): %.2f ms (information)\n", o2
	if (bt != "")
		printf "base build (M2M_BIN_BASE) in the same alternation: up %.1f ms, own cost %.2f ms (quartiles %.2f .. %.2f), %.2f ms with charon'"'"'s pre-IKE_SA_INIT work counted as charon'"'"'s; this build minus the base, round by round: %+.2f ms (median of %d)\n", bt, bo, bq1, bq3, bo2, pd, pn
	printf "status (tunnel up, alternating with /bin/true): %.1f ms vs %.1f ms: %.2f ms over a process start (target <= 2 ms) %s; scaled by /bin/true to the machine the target was set on: %.2f ms %s\n", st, sz, st - sz, (st - sz <= 2 ? "PASS" : "MISS"), (st - sz) * 1.3 / sz, ((st - sz) * 1.3 / sz <= 2 ? "PASS" : "MISS")
	printf "status of a fail_closed profile (guard judged; both under ip netns exec): %.1f ms vs %.1f ms: %.2f ms over a process start (target <= 2 ms) %s; scaled: %.2f ms %s\n", ft, fz, ft - fz, (ft - fz <= 2 ? "PASS" : "MISS"), (ft - fz) * 1.3 / sz, ((ft - fz) * 1.3 / sz <= 2 ? "PASS" : "MISS")
}'
