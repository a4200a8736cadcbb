#!/bin/bash
# bench/connect.sh - connect time of `m2mvpn-connect up` against `swanctl --initiate`
# for the same connection on the lab, alternating, median of N (default 11) each, as a
# ratio; and the maximum RSS of the tool. Both run from the host namespace (the VICI
# socket is a path), so neither pays for `ip netns exec`.
#   target: ratio <= 0.35 (swanctl spends 30-50 ms loading plugins), RSS < 5 MB
# usage: sudo bench/connect.sh [N]
set -euo pipefail
N=${1:-11}
cd "$(dirname "$0")/.."
REPO=$PWD
. tests/lab/lab.sh
lab_require
lab_require_tool
lab_up
BIN=$M2M_BIN
PY=python3
CONN=m2m-pos

# wall time in µs of one command in $US, its max RSS (KiB, measured by GNU time's wait4,
# so not inflated by the forking parent) in $RSS, its exit status in $RC
run_timed() {
	local out
	out=$($PY - "$LAB/bench.rss" /usr/bin/time -q -f %M -o "$LAB/bench.rss" "$@" <<'PYEOF'
import subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
us = int((time.perf_counter() - t) * 1e6)
print(us, open(sys.argv[1]).read().split()[-1], r.returncode)
PYEOF
)
	set -- $out
	US=$1 RSS=$2 RC=$3
}
# swanctl as shipped: default plugin list (the lab's own strongswan.conf trims it)
cat > "$LAB/bench-swanctl.conf" <<EOF
swanctl {
  socket = unix://$LAB/dev/run/charon.vici
}
EOF
terminate() { lab_swanctl dev --terminate --ike "$CONN" --timeout 2 >/dev/null 2>&1 || true; sleep 0.3; }

# the first up loads credentials and the connection; swanctl reuses what charon holds
"$BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 10 || { echo "first up failed" >&2; exit 1; }
terminate
tool=() ref=() ref2=() rss=()
for ((i = 0; i < N; i++)); do
	run_timed "$BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 10
	[ "$RC" = 0 ] || { echo "m2mvpn-connect up failed (rc $RC)" >&2; exit 1; }
	tool+=("$US"); rss+=("$RSS")
	terminate
	run_timed env STRONGSWAN_CONF="$LAB/bench-swanctl.conf" swanctl --initiate --child "$CONN" --ike "$CONN" --timeout 10
	[ "$RC" = 0 ] || { echo "swanctl --initiate failed (rc $RC)" >&2; exit 1; }
	ref+=("$US")
	terminate
	run_timed env STRONGSWAN_CONF="$LAB/dev/strongswan.conf" swanctl --initiate --child "$CONN" --ike "$CONN" --timeout 10
	[ "$RC" = 0 ] || { echo "swanctl --initiate (trimmed plugins) failed (rc $RC)" >&2; exit 1; }
	ref2+=("$US")
	terminate
done
mt=$(printf '%s\n' "${tool[@]}" | median)
mr=$(printf '%s\n' "${ref[@]}" | median)
mr2=$(printf '%s\n' "${ref2[@]}" | median)
maxrss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
# ratio with three decimals, in awk (no bc on a fresh machine)
awk -v t="$mt" -v r="$mr" -v r2="$mr2" -v n="$N" -v rss="$maxrss" 'BEGIN {
	printf "connect: m2mvpn-connect up median %.1f ms; swanctl --initiate median %.1f ms (default plugins), %.1f ms (plugin list trimmed as in the lab) (n=%d each, alternating)\n", t / 1000, r / 1000, r2 / 1000, n
	printf "connect ratio vs trimmed swanctl: %.3f (information)\n", t / r2
	printf "connect ratio: %.3f (target <= 0.35) %s\n", t / r, (t / r <= 0.35 ? "PASS" : "MISS")
	printf "max RSS of m2mvpn-connect up: %.1f MB (target < 5 MB) %s\n", rss / 1024, (rss < 5120 ? "PASS" : "MISS")
}'
