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
#  2. resident memory of the always-on mode (--serve), DTLS-PSK (production) and plain,
#     next to processes of the same stack doing the same: libcoap's coap-client-openssl
#     holding a DTLS-PSK session (observing /time), and build/bench/dtls-floor (OpenSSL
#     initialised, one DTLS context and connection, nothing else). Ours minus these is
#     the client's own cost. Per-mapping Rss from /proc/PID/smaps shows where it goes.
#     Target < 5 MB. MEM_PROBES=1 adds the cheap knobs tried (heap trim, no openssl.cnf).
#     The bench's own peers map libcrypto too, so only Rss is meaningful here, not Pss.
#  3. wall time of `m2mdm-status --json`, median of 21, with /bin/true as the floor.
#     Target < 10 ms.
#  4. LwM2M 1.1 Send (dm.send) against reads (issue 14): the same status paths reach the
#     server (a raw peer, tests/tools/lw-rawrd.py) through the relay at each RTT, pushed by
#     `--report` in one Send after the Register, or read by the server right after the
#     Register: one GET per path, or one Read-Composite. Per run: datagrams and bytes
#     through the relay (both ways, counted by the relay), and the server's time from the
#     Register's arrival to the last value's (the Register's own half round trip is the
#     same in all three). The Send run needs no queue window (0 s); the reads need one.
# usage: bench/lwm2m.sh [RTT_MS...]   (default: 20 50 100); N runs each (env N, default 9)
#   env MEM_PROBES=1: the probe rows (malloc_trim through gdb, when installed)
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
for t in "$BIN/m2mdm-status" "$BBIN/udp-delay" "$BBIN/dtls-floor"; do
	[ -x "$t" ] || { echo "lwm2m.sh: $t missing: run make" >&2; exit 1; }
done
for t in node coap-rd-openssl coap-server-openssl coap-client-openssl; do
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

# the servers of both parts, started together: node takes a moment
lw=$(port)
node "$ROOT/tests/tools/lwm2m-server.js" --port "$lw" --ep none --timeout 3600000 >"$T/lw.log" 2>&1 &
pids+=($!)
rd=$(port)
coap-rd-openssl -A 127.0.0.1 -p "$rd" -k "$psk" >"$T/rd.log" 2>&1 &
pids+=($!)
# the memory part's plain --serve is read by a real server, in every format, and observed
lw2=$(port)
node "$ROOT/tests/tools/lwm2m-server.js" --port "$lw2" --ep bench-serve-reads --stay 3600000 \
	--timeout 3600000 read:/3/0 read:/3/0:tlv read:/3/0:senml read:/3/0:senmlcbor \
	read:/4/0:senml discover:/3/0 observe:/3/0/13:1500:1 >"$T/lw2.log" 2>&1 &
pids+=($!)
cs=$(port)
coap-server-openssl -A 127.0.0.1 -p "$cs" -k "$psk" >"$T/cs.log" 2>&1 &
pids+=($!)
await "$T/lw.log" listening && await "$T/lw2.log" listening || exit 1
sleep 0.3 # coap-rd and coap-server print nothing when ready

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

# ---- 2. resident memory
# everything at once; each measured 1 s after it is ready (registered, plan served,
# first notification, context made)
declare -A mpid
serve() { # name uri security [device id] [env...]
	local name=$1 u=$2 sec=$3 id=${4:-}
	shift 4 2>/dev/null || shift $#
	conf "$T/$name.yaml" "$u" $sec $id
	env "$@" M2M_CONFIG="$T/$name.yaml" "$BIN/m2mdm-status" --serve 2>"$T/$name.err" &
	mpid[$name]=$!
	pids+=($!)
}
state_of() { sed -n 's/^state_dir: //p' "$T/$1.yaml"; }
serve serve-dtls "coaps://127.0.0.1:$((rd + 1))" psk
serve serve-plain "coap://127.0.0.1:$rd" nosec
serve serve-reads "coap://127.0.0.1:$lw2" nosec bench-serve-reads
if [ "${MEM_PROBES:-0}" = 1 ]; then
	serve probe-noconf "coaps://127.0.0.1:$((rd + 1))" psk "" OPENSSL_CONF=/dev/null
	serve probe-trim "coaps://127.0.0.1:$((rd + 1))" psk "" \
		GLIBC_TUNABLES=glibc.malloc.trim_threshold=0:glibc.malloc.top_pad=0
fi
coap-client-openssl -u bench -k "$psk" -s 3600 -B 3600 -w "coaps://127.0.0.1:$((cs + 1))/time" \
	>"$T/cc-openssl.out" 2>&1 &
mpid[cc-openssl]=$!
pids+=($!)
if command -v coap-client-gnutls >/dev/null; then
	coap-client-gnutls -u bench -k "$psk" -s 3600 -B 3600 -w "coaps://127.0.0.1:$((cs + 1))/time" \
		>"$T/cc-gnutls.out" 2>&1 &
	mpid[cc-gnutls]=$!
	pids+=($!)
fi
if command -v coap-client-notls >/dev/null; then
	coap-client-notls -s 3600 -B 3600 -w "coap://127.0.0.1:$cs/time" >"$T/cc-notls.out" 2>&1 &
	mpid[cc-notls]=$!
	pids+=($!)
fi
"$BBIN/dtls-floor" >"$T/floor.out" &
mpid[floor]=$!
pids+=($!)
for name in "${!mpid[@]}"; do
	case $name in
	serve-reads) await "$T/lw2.log" plan_done ;;
	serve-* | probe-*) await "$(state_of $name)/dm-registration.json" '"location": *"/' ;;
	cc-*) await "$T/$name.out" '[0-9]' ;;
	floor) await "$T/floor.out" ready ;;
	esac || exit 1
done
sleep 1
for name in "${!mpid[@]}"; do
	p=${mpid[$name]}
	kill -0 $p 2>/dev/null || { echo "lwm2m.sh: $name exited early" >&2; cat "$T/$name.err" >&2; exit 1; }
	cp /proc/$p/status "$T/status.$name"
	cp /proc/$p/smaps "$T/smaps.$name"
done
field() { awk -v f="$2:" '$1 == f { print $2 }' "$T/status.$1"; }
row() { # name label
	[ -f "$T/status.$1" ] || return 0
	printf '%-52s %6s %6s %7s %7s %3s\n' "$2" $(field $1 VmRSS) $(field $1 VmHWM) \
		$(field $1 RssAnon) $(field $1 RssFile) $(field $1 Threads)
}
diffrow() { # a b label
	printf '%-52s %6d %6d %7d %7d\n' "$3" \
		$(($(field $1 VmRSS) - $(field $2 VmRSS))) $(($(field $1 VmHWM) - $(field $2 VmHWM))) \
		$(($(field $1 RssAnon) - $(field $2 RssAnon))) $(($(field $1 RssFile) - $(field $2 RssFile)))
}
echo
echo "resident memory, kB (/proc/PID/status, 1 s after each process is ready); target < 5 MB"
printf '%-52s %6s %6s %7s %7s %3s\n' process VmRSS VmHWM RssAnon RssFile thr
row serve-dtls "m2mdm-status --serve, DTLS-PSK (coap-rd)"
row serve-plain "m2mdm-status --serve, plain (coap-rd)"
row serve-reads "m2mdm-status --serve, plain, read+observed (node)"
row cc-openssl "coap-client-openssl, DTLS-PSK session (observe)"
row floor "dtls-floor: OpenSSL init + DTLS SSL_CTX + SSL"
diffrow serve-dtls floor "client's own cost: DTLS --serve - dtls-floor"
diffrow serve-dtls cc-openssl "           and over: - coap-client-openssl"
echo "other libcoap 4.3.1 flavours, same observe (for the dependency choice, not ours):"
row cc-gnutls "coap-client-gnutls, DTLS-PSK session"
row cc-notls "coap-client-notls, plain (no DTLS library)"
awk -v o=$(field serve-dtls VmRSS) -v f=$(field floor VmRSS) -v c=$(field cc-openssl VmRSS) 'BEGIN {
	printf "ratios of VmRSS: DTLS --serve / dtls-floor %.2f, / coap-client-openssl %.2f; dtls-floor / 5 MB %.2f\n",
	       o / f, o / c, f / 5120 }'
if [ "${MEM_PROBES:-0}" = 1 ]; then
	echo "probes (DTLS --serve; compare with its first row):"
	row probe-noconf "  OPENSSL_CONF=/dev/null (no openssl.cnf)"
	row probe-trim "  glibc.malloc.trim_threshold=0:top_pad=0"
	if command -v gdb >/dev/null; then
		p=${mpid[serve-dtls]}
		gdb -p $p -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1
		sleep 0.2
		cp /proc/$p/status "$T/status.trimmed"
		row trimmed "  after malloc_trim(0) (gdb, registered and idle)"
	fi
fi

# where the DTLS --serve's pages are, next to the references: Rss per mapped object
# (all its mappings), "anon" = its private anonymous or copied-on-write part
echo
echo "Rss by mapping, kB: DTLS --serve (its anon part), coap-client-openssl, dtls-floor"
for name in serve-dtls cc-openssl floor; do
	awk -v prog="$name" '
	/^[0-9a-f]+-[0-9a-f]+ / { n = $6; if (n == "") n = "[anon]"
		else if (n ~ /m2mdm-status$|coap-client-openssl$|dtls-floor$/) n = "(program)"
		else sub(/.*\//, "", n) }
	/^Rss:/ { rss[n] += $2 } /^Anonymous:/ { anon[n] += $2 }
	END { for (n in rss) print n, rss[n], anon[n] }' "$T/smaps.$name" >"$T/maps.$name"
done
sort -k2,2nr "$T/maps.serve-dtls" | head -12 | while read -r n r a; do
	c=$(awk -v n="$n" '$1 == n { print $2 }' "$T/maps.cc-openssl")
	f=$(awk -v n="$n" '$1 == n { print $2 }' "$T/maps.floor")
	printf '  %-30s %6s (%4s) %8s %8s\n' "$n" "$r" "$a" "${c:--}" "${f:--}"
done
for name in "${!mpid[@]}"; do [ "$name" = floor ] || [[ $name = cc-* ]] || stop ${mpid[$name]}; done

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

# ---- 4. Send against reads: the same paths, pushed or read
SEND_PATHS='"/3/0/13", "/4/0", "/1/0/1"'
sp=$(port)
python3 "$ROOT/tests/tools/lw-rawrd.py" "$sp" >"$T/sp.log" 2>&1 &
pids+=($!)
gp=$(port)
python3 "$ROOT/tests/tools/lw-rawrd.py" "$gp" opdelay=0 op=get:/3/0/13:0 op=get:/4/0:110 \
	op=get:/1/0/1:0 >"$T/gp.log" 2>&1 &
pids+=($!)
cp=$(port)
python3 "$ROOT/tests/tools/lw-rawrd.py" "$cp" opdelay=0 \
	'op=fetch:112:112:[{"n":"/3/0/13"},{"n":"/4/0"},{"n":"/1/0/1"}]' >"$T/cp.log" 2>&1 &
pids+=($!)
await "$T/sp.log" listening && await "$T/gp.log" listening && await "$T/cp.log" listening || exit 1
declare -A speer=([send]=$sp [get]=$gp [composite]=$cp) srelay sdgrams sbytes sms swall
skinds=(send get composite)
for kind in "${skinds[@]}"; do
	for rtt in "${RTTS[@]}"; do
		rp=$(port)
		"$BBIN/udp-delay" -v "$rp" "${speer[$kind]}" "$rtt" >"$T/srelay-$kind-$rtt.log" 2>&1 &
		pids+=($!)
		srelay[$kind/$rtt]=$rp
		await "$T/srelay-$kind-$rtt.log" '^relay' || exit 1
	done
done
send_run() { # kind rtt: datagrams bytes server_ms wall_ms, appended to the arrays
	local kind=$1 rtt=$2 rl=$T/srelay-$1-$2.log pl before t0 t1
	cat >"$T/s.yaml" <<YAML
version: 1
device: {id: bench-send-$kind-$RANDOM$RANDOM}
state_dir: $T/sstate-$RANDOM$RANDOM
dm:
  server: "coap://127.0.0.1:${srelay[$kind/$rtt]}"
  security: nosec
  binding: UQ
  queue_window: $([ $kind = send ] && echo 0s || echo 1s)
  timeout: 20s
$([ $kind = send ] && echo "  send: [$SEND_PATHS]")
YAML
	case $kind in send) pl=$T/sp.log ;; get) pl=$T/gp.log ;; composite) pl=$T/cp.log ;; esac
	before=$(wc -l <"$rl")
	local pbefore
	pbefore=$(wc -l <"$pl")
	t0=$(date +%s%N)
	M2M_CONFIG=$T/s.yaml "$BIN/m2mdm-status" --report -q >/dev/null 2>"$T/s.err"
	t1=$(date +%s%N)
	sleep 0.2 # the last datagrams' log lines (the relay holds them RTT/2)
	read -r d b < <(tail -n +$((before + 1)) "$rl" | awk '/ bytes, / { n++; b += $4 } END { print n + 0, b + 0 }')
	local ms
	ms=$(tail -n +$((pbefore + 1)) "$pl" | python3 -c '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
reg = [e["ms"] for e in ev if e["event"] == "request" and e["path"].startswith("rd")]
done = [e["ms"] for e in ev if e["event"] in ("send", "ops_done")]
print(done[-1] - reg[0] if reg and done else "?")')
	sdgrams[$kind/$rtt]+="$d "
	sbytes[$kind/$rtt]+="$b "
	sms[$kind/$rtt]+="$ms "
	swall[$kind/$rtt]+="$(((t1 - t0) / 1000000)) "
}
for kind in "${skinds[@]}"; do send_run $kind "${RTTS[0]}"; done # warm up (python, disk)
sdgrams=() sbytes=() sms=() swall=()
for ((i = 0; i < N; i++)); do
	for rtt in "${RTTS[@]}"; do
		for kind in "${skinds[@]}"; do send_run $kind $rtt; done
	done
done
echo
echo "Send against reads: paths $SEND_PATHS, median (min-max) of $N, through the relay"
echo "  send: --report with dm.send (queue_window 0s); get: the server GETs each path after"
echo "  the Register; composite: one Read-Composite (FETCH /) after the Register"
echo "  datagrams, bytes: both ways through the relay, the whole run; server ms: from the"
echo "  Register's arrival to the last value's at the server; run ms: the client's wall time"
printf '%-7s %-10s %9s %7s %17s %17s\n' RTT_ms kind datagrams bytes "server ms" "run ms"
for rtt in "${RTTS[@]}"; do
	for kind in "${skinds[@]}"; do
		read -r dm _ <<<"$(printf '%s\n' ${sdgrams[$kind/$rtt]} | stats)"
		read -r bm _ <<<"$(printf '%s\n' ${sbytes[$kind/$rtt]} | stats)"
		read -r mm ml mh <<<"$(printf '%s\n' ${sms[$kind/$rtt]} | grep -v '?' | stats)"
		read -r wm wl wh <<<"$(printf '%s\n' ${swall[$kind/$rtt]} | stats)"
		printf '%-7s %-10s %9s %7s %17s %17s\n' $rtt $kind "$dm" "$bm" "$mm ($ml-$mh)" "$wm ($wl-$wh)"
	done
done
echo "  (a get or composite run's wall time is its queue window, 1 s here: the server's reads"
echo "   need the device awake; the send run needs none)"
