#!/bin/bash
# bench/lwm2m.sh - m2mdm-status figures (issue 4), each against a reference measured in the
# same run:
#  1. registration time, plain CoAP (lwm2m-node-lib) and DTLS-PSK (coap-rd-openssl),
#     through a UDP relay adding RTT ms (build/bench/udp-delay, from bench/udp-delay.c: no
#     netem here), against the round-trip bound: n = 1 RTT plain, n = 4 RTT with the DTLS
#     handshake (HelloVerifyRequest, ServerHello..Done, Finished, then the Register).
#     The time is the client's own ("in N ms" of --report -v: first packet to the 2.01).
#     Reference: the same registration through the relay with 0 ms added, which holds
#     what no RTT explains (the server's processing, the relay's own forwarding, the
#     client's CPU); "direct" (no relay) shows the relay's share of it. Two ratios:
#       raw = median / (n * RTT)      net = median / (reference + n * RTT)
#     Target: within 1.2x of the bound. Settings alternate run by run (round robin).
#  2. resident memory of --serve after registering. Target < 5 MB.
#  3. wall time of `m2mdm-status --json`, median of 21, with /bin/true as the floor.
#     Target < 10 ms.
# usage: bench/lwm2m.sh [RTT_MS...]   (default: 20 50 100); N runs each (env N, default 9)
#   env RELAY_V=FILE: every relayed datagram with its lateness, into FILE
# All traffic on 127.0.0.1; every process started here is stopped here.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${M2M_BIN_DIR:-$ROOT/build/bin}
BBIN=${M2M_BENCH_DIR:-$ROOT/build/bench}
N=${N:-9}
RTTS=("$@")
[ ${#RTTS[@]} -gt 0 ] || RTTS=(20 50 100)
for t in "$BIN/m2mdm-status" "$BBIN/udp-delay"; do
	[ -x "$t" ] || { echo "lwm2m.sh: $t missing: run make" >&2; exit 1; }
done
for t in node coap-rd-openssl; do
	command -v $t >/dev/null || { echo "lwm2m.sh: $t missing: scripts/deps.sh" >&2; exit 1; }
done
T=$(mktemp -d /tmp/m2m-bench-lwm2m.XXXXXX)
chmod 700 "$T"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# stop one process started here and forget it (the relays report on SIGTERM)
stop() {
	local p q keep=()
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for q in "${pids[@]}"; do [[ " $* " == *" $q "* ]] || keep+=("$q"); done
	pids=("${keep[@]}")
}
port() { while :; do p=$((20000 + RANDOM % 30000)); ss -Hlun "sport = :$p or sport = :$((p + 1))" | grep -q . || { echo $p; return; }; done; }
# until FILE holds PATTERN (egrep), at most 10 s
await() { local w; for ((w = 0; w < 200; w++)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "lwm2m.sh: timed out waiting for $2 in $1" >&2; return 1; }
# median min max of the numbers on stdin, or ?
stats() { sort -n | awk 'NF { a[++n] = $1 } END { if (!n) { print "?"; exit }
	printf "%s %s %s\n", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[1], a[n] }'; }

NM=$("$ROOT/tests/tools/lwm2m-server-setup.sh") || exit 1
export LWM2M_NODE_MODULES=$NM
psk=bench-$RANDOM$RANDOM
printf '%s' "$psk" >"$T/psk"
chmod 600 "$T/psk"

conf() { # file uri security [device id]
	cat >"$1" <<YAML
version: 1
device: {id: ${4:-bench-$RANDOM$RANDOM}}
state_dir: $T/state-$RANDOM$RANDOM
dm:
  server: "$2"
  security: $3
  queue_window: 0s
  timeout: 20s
$( [ "$3" = psk ] && printf '  psk_identity: bench\n  psk_key: {file: %s}\n' "$T/psk")
YAML
}

lw=$(port)
node "$ROOT/tests/tools/lwm2m-server.js" --port "$lw" --ep none --timeout 3600000 >"$T/lw.log" 2>&1 &
pids+=($!)
rd=$(port)
coap-rd-openssl -A 127.0.0.1 -p "$rd" -k "$psk" >"$T/rd.log" 2>&1 &
pids+=($!)
await "$T/lw.log" listening || exit 1
sleep 0.3 # coap-rd prints nothing when ready

# ---- 1. registration time
declare -A uri0 times fails
kinds=(plain dtls-psk)
uri0[plain]=coap://127.0.0.1:$lw
uri0[dtls-psk]=coaps://127.0.0.1:$((rd + 1))
settings=(direct 0 "${RTTS[@]}")
relays=()
declare -A uri
for kind in "${kinds[@]}"; do
	target=${uri0[$kind]##*:}
	uri[$kind/direct]=${uri0[$kind]}
	for rtt in 0 "${RTTS[@]}"; do
		rp=$(port)
		"$BBIN/udp-delay" ${RELAY_V:+-v} "$rp" "$target" "$rtt" >"$T/relay-$rp.log" 2>&1 &
		pids+=($!)
		relays+=($!)
		await "$T/relay-$rp.log" '^relay' || exit 1
		uri[$kind/$rtt]=${uri0[$kind]%:*}:$rp
	done
done
register() { # kind setting: the client's "in N ms", or nothing when it failed
	conf "$T/c.yaml" "${uri[$1/$2]}" "$([ $1 = plain ] && echo nosec || echo psk)"
	M2M_CONFIG=$T/c.yaml "$BIN/m2mdm-status" --report -v 2>"$T/r.err" >/dev/null
	grep -oE 'in [0-9]+ ms' "$T/r.err" | grep -oE '[0-9]+'
}
# one registration each through the reference relay first: node compiles its handlers
# on first use and the first start of the tool reads it from disk
for kind in "${kinds[@]}"; do register $kind 0 >/dev/null; done
for ((i = 0; i < N; i++)); do
	for kind in "${kinds[@]}"; do
		for s in "${settings[@]}"; do
			ms=$(register $kind $s)
			if [ -n "$ms" ]; then times[$kind/$s]+="$ms "
			else fails[$kind/$s]=$((${fails[$kind/$s]:-0} + 1)); fi
		done
	done
done
stop "${relays[@]}"
[ -z "${RELAY_V:-}" ] || cat "$T"/relay-*.log >"$RELAY_V"

echo "registration: the client's own time (\"in N ms\" of --report -v), median (min-max) of $N"
echo "  n = round trips the protocol needs: 1 plain, 4 DTLS-PSK (3 handshake + Register)"
echo "  ref = median through the relay with 0 ms added (server, relay, client CPU; no RTT)"
echo "  raw = median / (n * RTT)    net = median / (ref + n * RTT)    target: within 1.2"
printf '%-9s %-7s %2s %15s %8s %6s %10s %6s\n' transport RTT_ms n "median (range)" n*RTT raw ref+n*RTT net
for kind in "${kinds[@]}"; do
	n=1
	[ $kind = plain ] || n=4
	read -r ref _ <<<"$(printf '%s\n' ${times[$kind/0]:-} | stats)"
	for s in "${settings[@]}"; do
		read -r med lo hi <<<"$(printf '%s\n' ${times[$kind/$s]:-} | stats)"
		f=${fails[$kind/$s]:+ (${fails[$kind/$s]} failed)}
		case $s in
		direct) printf '%-9s %-7s %2s %15s%s\n' $kind "direct" - "$med ($lo-$hi)" "$f" ;;
		0) printf '%-9s %-7s %2s %15s%s\n' $kind "0 ref" - "$med ($lo-$hi)" "$f" ;;
		*) awk -v k=$kind -v r=$s -v n=$n -v m="$med" -v lo="$lo" -v hi="$hi" -v ref="$ref" -v f="$f" 'BEGIN {
			if (m == "?" || ref == "?") { printf "%-9s %-7s %2s %15s%s\n", k, r, n, "?", f; exit }
			printf "%-9s %-7s %2s %15s %8d %6.2f %10.1f %6.2f%s\n", k, r, n, m " (" lo "-" hi ")",
			       n * r, r ? m / (n * r) : 0, ref + n * r, m / (ref + n * r), f }' ;;
		esac
	done
done
cat "$T"/relay-*.log | awk '/^udp-delay:/ { n += $2; sum += $2 * $6; if ($10 > max) max = $10 }
	END { printf "  relays: %d datagrams, each sent %.0f us after its due time on average, %.0f us at most\n", n, n ? sum / n : 0, max }'
echo "    (due = kernel receive stamp + RTT/2; measured by the relay itself)"

# ---- 2. resident memory of the always-on mode, after registering
conf "$T/serve.yaml" "coap://127.0.0.1:$lw" nosec
M2M_CONFIG=$T/serve.yaml "$BIN/m2mdm-status" --serve 2>"$T/serve.err" &
serve=$!
pids+=($serve)
sleep 2
echo
grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' /proc/$serve/status | awk '{ printf "serve %s %s kB\n", $1, $2 }'
stop $serve

# ---- 3. wall time of --json (one VPN profile, charon not running: what a technician sees)
cat >"$T/status.yaml" <<YAML
version: 1
device: {id: bench-status, serial: S1, manufacturer: ACME, model: Gate-7}
state_dir: $T/state-status
charon: {vici: "unix://$T/no-charon.vici"}
dm: {server: "coap://127.0.0.1:$lw", security: nosec}
vpn:
  profiles:
    pos:
      gateway: gw.example
      remote_id: gw.example
      auth: {method: cert, cert: $T/none.crt, key: $T/none.key}
      ca: $T/none-ca.pem
      remote_ts: 10.0.0.0/8
YAML
# measured in-process by python (a shell's $(date) costs more than the tool), with
# /bin/true as the floor of fork+exec on this machine
echo
M2M_CONFIG=$T/status.yaml python3 - "$BIN/m2mdm-status" <<'PYEOF'
import statistics, subprocess, sys, time
def med(cmd):
    ts = []
    for _ in range(21):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL)
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)
print("--json wall time median: %.1f ms (21 runs; /bin/true: %.1f ms)" %
      (med([sys.argv[1], "--json"]), med(["/bin/true"])))
PYEOF
