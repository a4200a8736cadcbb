#!/bin/bash
# bench/connect.sh - connect time of `m2mvpn-connect up` against `swanctl --initiate`
# for the same connection on the lab: alternating, median of N (default 11) each, as a
# ratio; and the maximum RSS of the tool. Both run from the host namespace (the VICI
# socket is a path), so neither pays for `ip netns exec`; before every run the tunnel is
# terminated (untimed). The harness cost (starting /bin/true the same way) is measured in
# the same run and reported; the ratio is given as measured and with it subtracted.
#   targets: ratio <= 0.35 (swanctl spends 30-50 ms loading plugins), RSS < 5 MB
# usage: sudo bench/connect.sh [N]
set -euo pipefail
N=${1:-11}
cd "$(dirname "$0")/.."
. tests/lab/lab.sh
lab_require
lab_require_tool
lab_up
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
out=$(python3 bench/alternate.py "$N" "$RESET" -- \
	"tool=$M2M_BIN -c $M2M_CONFIG_FILE up pos --timeout 10" \
	"swanctl=/usr/bin/env STRONGSWAN_CONF=$LAB/bench-swanctl.conf /usr/sbin/swanctl --initiate --child $CONN --ike $CONN --timeout 10" \
	"swanctl_trimmed=/usr/bin/env STRONGSWAN_CONF=$LAB/dev/strongswan.conf /usr/sbin/swanctl --initiate --child $CONN --ike $CONN --timeout 10" \
	"null=/bin/true")
get() { awk -v k="$1" '$1 == k { print $2 }' <<< "$out"; }
# max RSS: GNU time's wait4 on a small forking parent, so nothing of Python is counted
eval "$RESET" > /dev/null 2>&1 || true
rss=$(/usr/bin/time -f %M "$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 10 2>&1 >/dev/null | tail -1)
awk -v t="$(get tool)" -v r="$(get swanctl)" -v r2="$(get swanctl_trimmed)" -v z="$(get null)" \
    -v n="$N" -v rss="$rss" 'BEGIN {
	printf "connect (median of %d, alternating): m2mvpn-connect up %.1f ms; swanctl --initiate %.1f ms (default plugins), %.1f ms (plugins trimmed as in the lab); harness (/bin/true) %.1f ms\n", n, t, r, r2, z
	printf "connect ratio vs trimmed swanctl: %.3f (information)\n", (t - z) / (r2 - z)
	printf "connect ratio as measured: %.3f\n", t / r
	printf "connect ratio: %.3f (harness cost subtracted; target <= 0.35) %s\n", (t - z) / (r - z), ((t - z) / (r - z) <= 0.35 ? "PASS" : "MISS")
	printf "max RSS of m2mvpn-connect up: %.1f MB (target < 5 MB) %s\n", rss / 1024, (rss < 5120 ? "PASS" : "MISS")
}'
