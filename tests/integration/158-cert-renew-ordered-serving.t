#!/bin/bash
# 158-cert-renew-ordered-serving.t - the client goes on serving its management server while
#   a certificate renewal the server ordered runs (object 33810, Renew Certificate 13), the
#   CA's side being a peer that takes the request and never answers (tests/tools/cmp-peer.py
#   silent, tests/lab/cmp.sh), so that the renewal lasts its whole enroll.timeout. A real
#   LwM2M server (lwm2m-node-lib, tests/tools/lwm2m-server.js) on the gateway.
#   Contract (m2mdm-status(1) OBJECTS, lwm2m/ddf/33810.xml; OMA LwM2M TS 1.1 Core 5.4.5:
#   the Execute is answered when it is accepted, the action may go on after; 5.4.1 Read):
#   - Renew Certificate is answered 2.04 at once; while the renewal runs the client answers
#     the server: a Read of another resource (/1/0/1, Lifetime) within a second, Last
#     Renewal (15) reads "renewing", another Renew is 5.03 (Service Unavailable: one at a
#     time); once the CA's time is over Last Renewal says it failed, and why;
#   - m2mdm-status --serve stopped by SIGTERM while a renewal runs ends within 2 s;
#   - a report run (--report --timeout 8) during which the server orders a renewal answers
#     it the same way, ends within its --timeout (+ slack) whatever the CA does, and the
#     next run's Last Renewal says what came of it;
#   - Renew With New Key while another run holds the profile's lock: SIGTERM ends the wait
#     (2 s), and a report run's --timeout bounds the lock's wait and the CA's together;
#   - a Wipe (33811/11) ordered while a renewal runs stops the renewal (it brings no tunnel
#     up for a device being decommissioned): the wipe is done within 3 s of its 2.04, not
#     after the CA's 12 s.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_require_tool
lab_require_lwm2m_server
lab_up
lab_cmp_pki

DM=$M2M_BIN_DIR/m2mdm-status
[ -x "$DM" ] || lab_die "$DM is not built"
C=$LAB_CMP_DIR
KEY=$C/dev.key CERT=$C/dev.pem
PORT=5683 EP=dev1.lab SRV=$LAB/log/lwm2m.out
SLACK=${LOAD_SLACK_MS:-1500}
# check SPEC: the server's verdict on a check of its plan (pass, fail:..., or empty: not run)
check() {
	grep -F "\"check\":\"$1\"" "$SRV" | head -n 1 |
		"$LAB_PY" -c 'import json,sys; l=sys.stdin.read().strip(); print("" if not l else ("pass" if json.loads(l)["ok"] else "fail:" + l))'
}
checked() { [ -n "$(check "$1")" ]; }
# took SPEC: how long the server waited for the answer to that check (ms)
took() {
	grep -F "\"check\":\"$1\"" "$SRV" | head -n 1 |
		"$LAB_PY" -c 'import json,sys; l=sys.stdin.read().strip(); print(json.loads(l)["took_ms"] if l else 999999)'
}
server() {   # server CHECK...: (re)start the LwM2M server on the gateway with that plan
	lab_stop lwm2m TERM > /dev/null 2>&1
	: > "$SRV"
	lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
		"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 120000 --stay 60000 "$@"
	wait_until 15 grep -q '"event":"listening"' "$SRV" ||
		lab_die "the LwM2M server did not start: $(cat "$SRV" "$LAB/log/lwm2m.err")"
}
diags() {
	diag "server: $(grep -v notify "$SRV" | tail -n 20)"
	diag "client: $(tail -n 30 "$LAB/log/serve.err")"
}

m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen: the device's key"
lab_cmp_issue "key:$KEY" "$CERT" --serial 157a01 --to '+10 days' || lab_die "certificate"
lab_cmp_silent
# the renewal waits 12 s for the CA that never answers
config() {   # config [DM-LINES]
	lab_dev_config pos key="$KEY" cert="$CERT" extra="$(lab_cmp_enroll_yaml timeout=12s)" \
		top="dm:
  server: coap://$LAB_GW_IP:$PORT
  security: nosec
  endpoint: $EP
  lifetime: 60s${1:+
$1}"
}
config

# ---- --serve: the server reads while the renewal waits for the CA
plan=(
	'exec:/33810/0/13' 'read:/1/0/1~60' 'read:/33810/0/15~renewing' 'exec:/33810/0/13@5.03'
	'read:/33810/0/0~pos' 'until:/33810/0/15~failed:40000'
)
server "${plan[@]}"
lab_bg serve --ns dev "$DM" -c "$M2M_CONFIG_FILE" --serve -v
ok "m2mdm-status --serve registered" wait_until 20 grep -q '"event":"register"' "$SRV"
ok "the plan ran to its end" wait_until 60 checked 'until:/33810/0/15~failed:40000' || diags
for c in "${plan[@]}"; do
	is "$(check "$c")" pass "server: $c"
done
ok "  the renewal asked the CA (the silent peer got the request)" \
	eval '[ "$(lab_cmp_requests)" -ge 1 ]'
t=$(took 'read:/1/0/1~60')
note "the Read of /1/0/1 during the renewal took $t ms"
cmp_ok "$t" -lt 1000 "  the Read of another resource during the renewal was answered within a second"
cmp_ok "$(took 'exec:/33810/0/13')" -lt 1000 "  the Execute itself was answered at once"
like "$(grep -F '"check":"until:/33810/0/15~failed:40000"' "$SRV")" 'failed: [^"]+' \
	"  Last Renewal says why it failed"
[ "${TAP_FAILED:-0}" = 0 ] || diags

# ---- SIGTERM while a renewal runs
lab_stop serve TERM 10
server 'exec:/33810/0/13' 'read:/33810/0/15~renewing'
lab_bg serve --ns dev "$DM" -c "$M2M_CONFIG_FILE" --serve -v
ok "--serve started again and registered" wait_until 20 grep -q '"event":"register"' "$SRV"
ok "  the renewal runs" wait_until 20 checked 'read:/33810/0/15~renewing'
is "$(check 'read:/33810/0/15~renewing')" pass "  Last Renewal: renewing"
t0=$(now_ms)
lab_stop serve TERM 10
rc=$?
t=$(( $(now_ms) - t0 ))
note "SIGTERM during the renewal: ended in $t ms (exit $rc)"
cmp_ok "$t" -lt 2000 "SIGTERM during a renewal: --serve ended within 2 s"
is "$rc" 0 "  with exit 0"

# ---- a report run: the renewal is answered and bounded by --timeout; the next run knows
config "  queue_window: 3s"
server 'exec:/33810/0/13' 'read:/1/0/1~60' 'read:/33810/0/15~renewing'
M2M_BIN=$DM m2m --report --timeout 8 -v
note "report run with a renewal ordered: exit $M2M_RC after $M2M_MS ms"
is_rc 0 "the report run ended (exit 0)"
cmp_ok "$M2M_MS" -le $((8000 + SLACK)) "  within its --timeout 8 (+ ${SLACK} ms slack), the CA silent"
for c in 'exec:/33810/0/13' 'read:/1/0/1~60' 'read:/33810/0/15~renewing'; do
	is "$(check "$c")" pass "  server: $c"
done
cmp_ok "$(took 'read:/1/0/1~60')" -lt 1000 "  the Read of another resource was answered within a second"
like "$M2M_ERR" "pos: renewing its certificate" "  the run logged the renewal"
like "$M2M_ERR" "pos: failed: " "  and what came of it before it ended"
[ "${TAP_FAILED:-0}" = 0 ] || diag "$M2M_ERR"
server 'read:/33810/0/15~failed: '
M2M_BIN=$DM m2m --report --timeout 20
is_rc 0 "the next report run"
is "$(check 'read:/33810/0/15~failed: ')" pass "  its Last Renewal says what came of the last run's renewal"
if [ "${TAP_FAILED:-0}" != 0 ]; then
	diag "server: $(grep -v notify "$SRV" | tail -n 10)"
	diag "$M2M_ERR"
fi

# ---- Renew With New Key while another run holds the profile's lock (an up, the watch): the
#      wait for it ends with SIGTERM, and a report run's --timeout holds for the lock and the
#      CA together
config
# the holder is one process (flock(1) would leave its child holding the lock when stopped)
hold() { lab_bg holder bash -c 'exec 9> "$1" && flock -x 9 && exec sleep "$2"' _ "$LAB/dev/state/vpn-pos.lock" "$1"; }
hold 30
server 'exec:/33810/0/14' 'read:/33810/0/15~renewing with a new key'
lab_bg serve --ns dev "$DM" -c "$M2M_CONFIG_FILE" --serve -v
ok "--serve registered (the profile's lock held by another)" wait_until 20 grep -q '"event":"register"' "$SRV"
ok "  the renewal with a new key runs" wait_until 20 checked 'read:/33810/0/15~renewing with a new key'
sleep 1
t0=$(now_ms)
lab_stop serve TERM 60
t=$(( $(now_ms) - t0 ))
note "SIGTERM while the renewal waits for the profile's lock: ended in $t ms"
cmp_ok "$t" -lt 2000 "  SIGTERM: --serve ended within 2 s"
lab_stop holder TERM 3
config "  queue_window: 3s"
hold 6
sleep 0.3
server 'exec:/33810/0/14'
M2M_BIN=$DM m2m --report --timeout 8 -v
note "report run --timeout 8, a new key ordered, the lock held 6 s: exit $M2M_RC after $M2M_MS ms"
cmp_ok "$M2M_MS" -le $((8000 + SLACK)) "  a report run: within its --timeout 8 (+ ${SLACK} ms), the lock's wait counted"
lab_stop holder TERM 3

# ---- a Wipe ordered while a renewal runs: the renewal is stopped (no tunnel comes up for
#      a device being decommissioned), the wipe done at once
config "policy:
  server: [release, wipe]"
server 'exec:/33810/0/13' 'read:/33810/0/15~renewing' "exec:/33811/0/11=0='stolen'"
lab_bg serve --ns dev sh -c '"$1" -c "$2" --serve -v; echo $? > "$3"' sh "$DM" "$M2M_CONFIG_FILE" "$LAB/serve.rc"
ok "--serve registered (wipe allowed)" wait_until 20 grep -q '"event":"register"' "$SRV"
ok "  the Wipe was answered" wait_until 30 checked "exec:/33811/0/11=0='stolen'"
t0=$(now_ms)
ok "  --serve ended" wait_until 40 test -s "$LAB/serve.rc"
t=$(( $(now_ms) - t0 ))
note "from the Wipe's answer to the end of --serve: $t ms"
cmp_ok "$t" -lt 3000 "  the renewal stopped, the wipe done within 3 s of its 2.04 (the CA's timeout is 12 s)"
ok "  the wipe ran (the key is gone)" test ! -e "$KEY"
lab_stop lwm2m TERM
done_testing
