#!/bin/bash
# 305-update-health.t - the health check of an update (m2m_dm_health, through
# tests/tools/upd-health) against a real charon pair and a real LwM2M server
# (lwm2m-node-lib) on the gateway's inner address 10.99.1.1, which the gateway
# lets the device reach only through the tunnel (clear UDP to it is dropped):
#   tunnel up + registered: exit 0; the on-demand profile brought up for the check
#     is down again; one already up stays up
#   the gateway's charon stopped: the VPN's class (6, or 5), "health: profile pos:",
#     within the bound
#   the LwM2M server gone: the registration's class (6 or 5), "health: registration:",
#     and the tunnel taken down again
#   a bound of 3 s is kept (+ 100 ms); SIGTERM (the stop flag) ends the check at once
#   an always-on client holding dm.lock: its registration is the proof
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
UPD_HEALTH=$LAB_REPO/build/tests/tools/upd-health
[ -x "$UPD_HEALTH" ] || { echo "1..1"; echo "not ok 1 - $UPD_HEALTH exists (run make)"; exit 1; }
lab_require_lwm2m_server
lab_up

PORT=$((20000 + RANDOM % 30000))
EP=dev1.lab
lab_dev_config pos top="dm:
  server: \"coap://$LAB_INNER_IP:$PORT\"
  security: nosec
  binding: UQ
  lifetime: 10m
  jitter: 30s
  timeout: 20s
update:
  trust: $LAB_CA
  model: lab-device
  health: {timeout: 20s, profiles: [pos], dm: true}"

server_start() {
	: > "$LAB/log/lwm2m.out"
	lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
		"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 600000 --stay 600000
	wait_until 15 grep -q '"event":"listening"' "$LAB/log/lwm2m.out"
}
registers() { grep -c '"event":"\(register\|update\)"' "$LAB/log/lwm2m.out"; }

# health [ARGS...]: run upd-health in the device namespace; HRC, HERR, HMS (from date +%s%N)
health() {
	local t0 t1
	t0=$(date +%s%N)
	timeout -k 3 60 ip netns exec "$NS_DEV" "$UPD_HEALTH" -v "$@" "$M2M_CONFIG_FILE" \
		> "$LAB/log/health.out" 2> "$LAB/log/health.err" < /dev/null
	HRC=$?
	t1=$(date +%s%N)
	HMS=$(((t1 - t0) / 1000000))
	HERR=$(grep -v '^log<' "$LAB/log/health.err")
	{ echo "=== $(date -u +%T.%3N) upd-health $* -> rc $HRC in $HMS ms"; cat "$LAB/log/health.err"; } \
		>> "$LAB/log/m2m.history"
}
hdiag() { diag "upd-health: exit $HRC after $HMS ms"; diag "$(tail -n 15 "$LAB/log/health.err")"; }

# the server is reachable through the tunnel only: clear UDP from link A to it is dropped
in_gw nft -f - <<EOF || lab_die "nft in the gateway namespace"
table inet m2mt305 {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "$LAB_IF_A" ip daddr $LAB_INNER_IP udp dport $PORT drop
  }
}
EOF
ok "the LwM2M server listens on the gateway ($LAB_INNER_IP:$PORT)" server_start ||
	diag "$(cat "$LAB/log/lwm2m.out" "$LAB/log/lwm2m.err")"

# ---- healthy: the tunnel comes up, the device registers (through it)
health
is "$HRC" 0 "healthy: exit 0" || hdiag
cmp_ok "$(registers)" -ge 1 "the server saw the registration" || diag "$(cat "$LAB/log/lwm2m.out")"
like "$(cat "$LAB/log/health.err")" 'profile pos is up' "the log says the profile came up"
like "$(cat "$LAB/log/health.err")" 'pos is down again' "the log says it went down again"
is "$(lab_sa_count dev)" 0 "the on-demand profile brought up for the check is down again"
cmp_ok "$HMS" -lt 20000 "within the bound ($HMS ms)"

# ---- healthy with the tunnel already up: it stays up
m2m up pos --timeout 20
is_rc 0 "m2mvpn-connect up pos"
ike=$(lab_ike_ids dev)
health
is "$HRC" 0 "healthy with the tunnel already up: exit 0" || hdiag
is "$(lab_ike_ids dev)" "$ike" "the tunnel that was up stays up (same IKE SA)"
m2m down pos
is_rc 0 "m2mvpn-connect down pos"

# ---- the gateway's charon stopped: the VPN's failure class, within the bound
lab_charon_stop gw
health -t 10000
ok "gateway charon stopped: exit 6 or 5 (got $HRC)" test "$HRC" = 6 -o "$HRC" = 5 || hdiag
like "$HERR" '^upd-health: health: profile pos: ' "... the message names the profile step"
cmp_ok "$HMS" -le 10100 "... within the 10 s bound ($HMS ms)"
is "$(lab_sa_count dev)" 0 "... no IKE SA left on the device"

# ---- SIGTERM ends the check early
t0=$(date +%s%N)
ip netns exec "$NS_DEV" "$UPD_HEALTH" -t 20000 "$M2M_CONFIG_FILE" > /dev/null 2> "$LAB/log/stop.err" &
hp=$!
sleep 1
kill -TERM "$hp"
wait "$hp"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
is "$rc" 5 "SIGTERM (the stop flag): exit 5" || diag "$(cat "$LAB/log/stop.err")"
like "$(cat "$LAB/log/stop.err")" "health: profile pos: stopped" "... the message says it was stopped"
cmp_ok "$ms" -lt 2500 "... about when it was stopped ($ms ms, bound 20 s)"

lab_charon_start gw
lab_gw_load

# ---- a bound of 3 s is kept: the server swallows the registration (no answer, no ICMP)
in_gw nft add rule inet m2mt305 input ip daddr $LAB_INNER_IP udp dport "$PORT" drop
health -t 3000
is "$HRC" 5 "bound 3 s, the server silent: exit 5 (timeout)" || hdiag
like "$HERR" '^upd-health: health: registration: ' "... in the registration step"
cmp_ok "$HMS" -le 3100 "... returned within 3 s + 100 ms ($HMS ms), the tunnel taken down included"
cmp_ok "$HMS" -ge 3000 "... and not before the bound ($HMS ms)"
is "$(lab_sa_count dev)" 0 "... the tunnel is down again"
in_gw nft flush chain inet m2mt305 input
in_gw nft add rule inet m2mt305 input iifname "$LAB_IF_A" ip daddr $LAB_INNER_IP udp dport "$PORT" drop

# ---- the LwM2M server gone: the registration's class, the tunnel down again
lab_stop lwm2m
health -t 8000
ok "LwM2M server gone: exit 6 or 5 (got $HRC)" test "$HRC" = 6 -o "$HRC" = 5 || hdiag
like "$HERR" '^upd-health: health: registration: ' "... the message names the registration step"
cmp_ok "$HMS" -le 8100 "... within the 8 s bound ($HMS ms)"
like "$(cat "$LAB/log/health.err")" 'profile pos is up' "... after the tunnel had come up"
is "$(lab_sa_count dev)" 0 "... and the tunnel is down again"

# ---- an always-on client holds dm.lock: its registration is the proof
ok "the LwM2M server is back" server_start
m2m up pos --timeout 20
is_rc 0 "m2mvpn-connect up pos (for the serving client)"
lab_bg serve --ns dev "$M2M_BIN_DIR/m2mdm-status" -c "$M2M_CONFIG_FILE" --serve -v
ok "m2mdm-status --serve registered" wait_until 20 grep -q '"event":"register"' "$LAB/log/lwm2m.out"
n=$(registers)
health -t 10000
is "$HRC" 0 "with --serve holding dm.lock: exit 0" || hdiag
like "$(cat "$LAB/log/health.err")" 'by the client that serves' "... proven by the serving client's registration"
is "$(registers)" "$n" "... no second registration of its own"
lab_stop serve
m2m down pos

# ---- the check can fail: a bound too short for anything
health -t 1
is "$HRC" 5 "a 1 ms bound: exit 5" || hdiag
done_testing
