#!/bin/bash
# bench/lwm2m.sh - m2mdm-status figures (issue 4):
#  1. registration time, plain CoAP (lwm2m-node-lib) and DTLS-PSK (coap-rd-openssl),
#     through a UDP relay adding RTT ms (bench/udp-delay.py: no netem here), against the
#     round-trip bound: 1 RTT plain, 4 RTT with the DTLS handshake (HelloVerifyRequest,
#     ServerHello..Done, Finished, then the Register). Target: within 1.2x of the bound.
#     The time is the client's own, from sending the first packet to the 2.01.
#  2. resident memory of --serve after registering and serving reads. Target < 5 MB.
#  3. wall time of `m2mdm-status --json`, median of N. Target < 10 ms.
# usage: bench/lwm2m.sh [RTT_MS...]   (default: 20 50 100); N runs each (env N, default 7)
# All traffic on 127.0.0.1; every process started here is stopped here.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${M2M_BIN_DIR:-$ROOT/build/bin}
N=${N:-7}
RTTS=("$@")
[ ${#RTTS[@]} -gt 0 ] || RTTS=(20 50 100)
T=$(mktemp -d /tmp/m2m-bench-lwm2m.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
port() { while :; do p=$((20000 + RANDOM % 30000)); ss -Hlun "sport = :$p or sport = :$((p + 1))" | grep -q . || { echo $p; return; }; done; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

NM=$("$ROOT/tests/tools/lwm2m-server-setup.sh") || exit 1
export LWM2M_NODE_MODULES=$NM
psk=bench-$RANDOM$RANDOM
printf '%s' "$psk" >"$T/psk"
chmod 600 "$T/psk"
chmod 700 "$T"

lw=$(port)
node "$ROOT/tests/tools/lwm2m-server.js" --port "$lw" --ep none --timeout 3600000 >"$T/lw.log" 2>&1 &
pids+=($!)
rd=$(port)
coap-rd-openssl -A 127.0.0.1 -p "$rd" -k "$psk" >"$T/rd.log" 2>&1 &
pids+=($!)
sleep 1

conf() { # file uri security
	cat >"$1" <<YAML
version: 1
device: {id: bench-$RANDOM}
state_dir: $T/state-$RANDOM
dm:
  server: "$2"
  security: $3
  queue_window: 0s
  timeout: 20s
$( [ "$3" = psk ] && printf '  psk_identity: bench\n  psk_key: {file: %s}\n' "$T/psk")
YAML
}

printf '%-10s %8s %10s %10s %8s\n' "transport" "RTT ms" "bound ms" "median ms" "ratio"
for rtt in "${RTTS[@]}"; do
	for kind in plain dtls-psk; do
		rp=$(port)
		if [ $kind = plain ]; then target=$lw; bound=$rtt; uri="coap://127.0.0.1:$rp"; sec=nosec
		else target=$((rd + 1)); bound=$((4 * rtt)); uri="coaps://127.0.0.1:$rp"; sec=psk; fi
		python3 bench/udp-delay.py "$rp" "$target" "$rtt" >"$T/relay.log" 2>&1 &
		relay=$!
		pids+=($relay)
		for ((w = 0; w < 100; w++)); do grep -q relay "$T/relay.log" && break; sleep 0.05; done
		times=()
		for ((i = 0; i < N; i++)); do
			conf "$T/c.yaml" "$uri" $sec
			M2M_CONFIG=$T/c.yaml "$BIN/m2mdm-status" --report -v 2>"$T/r.err" >/dev/null
			ms=$(grep -oE 'in [0-9]+ ms' "$T/r.err" | grep -oE '[0-9]+')
			[ -n "$ms" ] && times+=("$ms")
		done
		kill "$relay"
		med=$(printf '%s\n' "${times[@]}" | median)
		printf '%-10s %8s %10s %10s %8s\n' $kind "$rtt" "$bound" "${med:-?}" \
			"$(awk -v m="${med:-0}" -v b="$bound" 'BEGIN { printf "%.2f", m / b }')"
	done
done

# resident memory of the always-on mode, after registering and serving the reads of a plan
conf "$T/serve.yaml" "coap://127.0.0.1:$lw" nosec
M2M_CONFIG=$T/serve.yaml "$BIN/m2mdm-status" --serve 2>"$T/serve.err" &
serve=$!
pids+=($serve)
sleep 2
echo
grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' /proc/$serve/status | awk '{ printf "serve %s %s kB\n", $1, $2 }'
kill -TERM $serve
wait $serve 2>/dev/null

# wall time of --json (one VPN profile, charon not running: what a technician sees)
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
