#!/bin/bash
# 156-cert-renew-ordered.t - a certificate renewal ordered by the management server: object
#   33810's Renew Certificate (13) and Renew With New Key (14) executed by a real LwM2M
#   server (lwm2m-node-lib, tests/tools/lwm2m-server.js) on the gateway, the device's
#   m2mdm-status --serve doing it against OpenSSL's CMP mock, proven on the real tunnel.
#   Contract (m2mdm-status(1) OBJECTS, lwm2m/ddf/33810.xml):
#   - Renew Certificate: 2.04 at once, then a kur for the same key; Last Renewal (15) says
#     renewed, the serial, the end and "proven on the tunnel"; auth.cert is the new one;
#   - Renew With New Key: the same with the next key (made ahead here with keygen --next,
#     so the mock can hand out its certificate); the key in place is then the new one;
#   - a profile without an enroll: section: 4.05 (TS 1.1: "Target is not allowed for
#     Execute operation"); a second order within 10 s of the last: 5.03 (a server cannot
#     flood the CA);
#   - a report run (--report, as cron runs it) renews by the server's order before it ends,
#     and the next run's Last Renewal says what came of it (kept in the state directory).
#   The 3.0 mock answers a kur only for the certificate whose issuer and serial equal its
#   -rsp_cert (tests/lab/cmp.sh): the renewed certificates keep the first one's serial.
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
pub() { openssl pkey -in "$1" -pubout 2> /dev/null | sha256sum | cut -d' ' -f1; }
certpub() { openssl x509 -in "$1" -noout -pubkey 2> /dev/null | openssl pkey -pubin -pubout 2> /dev/null | sha256sum | cut -d' ' -f1; }
check() {
	grep -F "\"check\":\"$1\"" "$SRV" | head -n 1 |
		"$LAB_PY" -c 'import json,sys; l=sys.stdin.read().strip(); print("" if not l else ("pass" if json.loads(l)["ok"] else "fail:" + l))'
}
checked() { [ -n "$(check "$1")" ]; }

m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen: the device's key"
lab_cmp_issue "key:$KEY" "$C/first.pem" --serial 156a01 --to '+10 days' &&
lab_cmp_issue "key:$KEY" "$C/renewed.pem" --serial 156a01 --to '+20 days' || lab_die "certificates"
cp "$C/first.pem" "$CERT"
lab_cmp_up --rsp "$C/renewed.pem"
# pos renews with the CA; plain (the same key and certificate, no enroll:) cannot
enroll=$(lab_cmp_enroll_yaml)
config() {   # config [DM-LINES]
	lab_dev_config pos key="$KEY" cert="$CERT" extra="$enroll" + plain key="$KEY" cert="$CERT" \
		top="dm:
  server: coap://$LAB_GW_IP:$PORT
  security: nosec
  endpoint: $EP
  lifetime: 60s${1:+
$1}"
}
config
m2mcert keygen -p pos --next
is_rc 0 "the next key made ahead (keygen --next)"
lab_cmp_issue "key:$KEY.next" "$C/newkey.pem" --serial 156a01 --to '+30 days' || lab_die "next key's certificate"
next=$(pub "$KEY.next")

plan=(
	'exec:/33810/1/13@4.05' 'exec:/33810/1/14@4.05'
	'exec:/33810/0/13' 'until:/33810/0/15~renewed:60000' 'read:/33810/0/15~proven on the tunnel'
	'exec:/33810/0/14@5.03'
	"gate:$LAB/go2"
	'exec:/33810/0/14' 'until:/33810/0/15~new key:60000' 'read:/33810/0/15~with a new key: serial'
)
: > "$SRV"
lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
	"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 180000 --stay 30000 "${plan[@]}"
wait_until 15 grep -q '"event":"listening"' "$SRV" || lab_die "the LwM2M server did not start"
lab_bg serve --ns dev "$DM" -c "$M2M_CONFIG_FILE" --serve -v
ok "m2mdm-status --serve registered" wait_until 20 grep -q '"event":"register"' "$SRV"

# ---- Renew Certificate
ok "the server's Renew was answered and done" wait_until 60 checked 'read:/33810/0/15~proven on the tunnel'
ok "a second order within 10 s: 5.03" wait_until 10 checked 'exec:/33810/0/14@5.03'
for c in 'exec:/33810/1/13@4.05' 'exec:/33810/1/14@4.05' 'exec:/33810/0/13' \
	'until:/33810/0/15~renewed:60000' 'read:/33810/0/15~proven on the tunnel' 'exec:/33810/0/14@5.03'; do
	is "$(check "$c")" pass "server: $c"
done
ok "  the mock got a kur" lab_cmp_received KUR
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/renewed.pem")" "  auth.cert is the renewed certificate"
nok "  no .prev left: proven" test -e "$CERT.prev"

# ---- Renew With New Key
lab_cmp_up --rsp "$C/newkey.pem"
sleep 10   # the spacing of ordered renewals
touch "$LAB/go2"
ok "the server's Renew With New Key was answered and done" \
	wait_until 60 checked 'read:/33810/0/15~with a new key: serial' ||
	diag "$(tail -n 20 "$LAB/log/serve.err")"
for c in 'exec:/33810/0/14' 'until:/33810/0/15~new key:60000' 'read:/33810/0/15~with a new key: serial'; do
	is "$(check "$c")" pass "server: $c"
done
is "$(pub "$KEY")" "$next" "  the key in place is the next key"
is "$(certpub "$CERT")" "$next" "  and the certificate is its own"
nok "  no .prev or .next left" eval 'test -e "$KEY.prev" -o -e "$KEY.next" -o -e "$CERT.next"'
if [ "${TAP_FAILED:-0}" != 0 ]; then
	diag "server: $(grep -v notify "$SRV" | tail -n 20)"
	diag "serve: $(tail -n 30 "$LAB/log/serve.err")"
fi
lab_stop serve TERM 10

# ---- a report run renews by the server's order; the run ends, the next one reads the outcome
server() {   # server CHECK...: the LwM2M server started again with that plan
	lab_stop lwm2m TERM > /dev/null 2>&1
	: > "$SRV"
	lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
		"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 120000 --stay 30000 "$@"
	wait_until 15 grep -q '"event":"listening"' "$SRV" || lab_die "the LwM2M server did not start"
}
lab_cmp_issue "key:$KEY" "$C/third.pem" --serial 156a01 --to '+40 days' || lab_die "third certificate"
lab_cmp_up --rsp "$C/third.pem"
config "  queue_window: 3s"
server 'exec:/33810/0/13'
M2M_BIN=$DM m2m --report --timeout 60 -v
is_rc 0 "a report run the server orders a renewal in: exit 0"
is "$(check 'exec:/33810/0/13')" pass "  server: exec:/33810/0/13"
like "$M2M_ERR" "pos: renewed: serial [0-9A-Fa-f:]+, until [^;]+; proven on the tunnel" \
	"  the renewal was done and proven before the run ended" || diag "$M2M_ERR"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/third.pem")" "  auth.cert is the renewed certificate"
server 'read:/33810/0/15~renewed: serial' 'read:/33810/0/15~proven on the tunnel' 'read:/33810/1/15'
M2M_BIN=$DM m2m --report --timeout 30
is_rc 0 "the next report run"
for c in 'read:/33810/0/15~renewed: serial' 'read:/33810/0/15~proven on the tunnel'; do
	is "$(check "$c")" pass "  server: $c (what came of the last run's renewal)"
done
is "$(grep -F '"check":"read:/33810/1/15"' "$SRV" | "$LAB_PY" -c 'import json,sys; print(repr(json.loads(sys.stdin.read())["value"]))')" \
	"''" "  the other profile's Last Renewal is still empty"
[ "${TAP_FAILED:-0}" = 0 ] || diag "server: $(grep -v notify "$SRV" | tail -n 10)"
lab_stop lwm2m TERM
done_testing
