#!/bin/bash
# 165-policy-lwm2m.t - the management server's part of the security policies: object 33811
#   (lwm2m/ddf/33811.xml, m2mdm-status(1) OBJECTS), read and executed by a real LwM2M server
#   (Telefonica's lwm2m-node-lib, tests/tools/lwm2m-server.js) on the gateway, the device in
#   quarantine in its namespace. Contract:
#   - the device in quarantine still reaches its management server and registers; the server
#     reads State "quarantined", the Reason, the policies' looks, Audit Intact and Head,
#     and Orders (what policy.server lets it order: release by default);
#   - Release (resource 10) with argument 0 (TS 1.1 Core 6.3.5, "0='text'") lifts the
#     quarantine at once: 2.04, State "normal", the nftables table gone, the audit log says
#     who ordered it (the management server, its Short Server ID) and the server's words;
#     m2mdm-policy watch, which holds the quarantine meanwhile, lets its copy go within a
#     second and puts nothing back (169-policy-watch.t tests the watch itself); arguments that are not the specification's syntax: 4.00 and nothing changes;
#   - Wipe (resource 11) is not an order the server may give by default: 4.05 (TS 1.1:
#     "Target is not allowed for Execute operation"), nothing destroyed;
#   - with policy.server [release, wipe]: Wipe is answered 2.04, the client de-registers,
#     then the device is wiped (its key file and certificate gone, the audit log's wipe
#     records with the server's words) and m2mdm-status --serve ends (exit 0);
#   - Release in a report run (cron): answered within a second (it is done within the
#     request), and the next run's Last Order says what came of it (kept in the state
#     directory).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_require_lwm2m_server
lab_up

POL=$M2M_BIN_DIR/m2mdm-policy DM=$M2M_BIN_DIR/m2mdm-status
for b in "$POL" "$DM"; do [ -x "$b" ] || lab_die "$b is not built"; done
pol() { M2M_BIN=$POL m2m "$@"; }
W=$LAB/wipe
CASE=$W/case
STATE=$LAB/dev/state
PORT=5683 EP=dev1.lab
SRV=$LAB/log/lwm2m.out
mkdir -p "$W"
(umask 077; cp "$LAB_DEV_KEY" "$W/dev.key"; cp "$LAB_DEV_CERT" "$W/dev.pem")
echo 1 > "$CASE"

config() {   # config [SERVER-ORDERS [DM-LINES]]: one profile (its key in $W), dm: on the gateway, a tamper policy
	lab_dev_config pos key="$W/dev.key" cert="$W/dev.pem" top="dm:
  server: coap://$LAB_GW_IP:$PORT
  security: nosec
  endpoint: $EP
  lifetime: 60s${2:+
$2}
policy:
  timeout: 5s
  tamper:
    input: $CASE${1:+
  server: $1}"
}
# check SPEC: the server's verdict on a check of its plan (pass, fail, or empty: not run)
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
audit_detail() { "$POL" -c "$M2M_CONFIG_FILE" audit --json | "$LAB_PY" -c \
	'import json,sys; print("\n".join(r["event"] + " " + r["detail"] for r in json.load(sys.stdin)["records"]))'; }
server() {   # server CHECK...: (re)start the LwM2M server on the gateway with that plan
	lab_stop lwm2m TERM > /dev/null 2>&1
	: > "$SRV"
	lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
		"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 120000 --stay 30000 "$@"
	wait_until 15 grep -q '"event":"listening"' "$SRV" ||
		lab_die "the LwM2M server did not start: $(cat "$SRV" "$LAB/log/lwm2m.err")"
}

# ---- the device in quarantine (the case opened)
config
pol check
is_rc 20 "the case is open: the device is in quarantine (exit 20)"
ok "  the quarantine table is in place" lab_nft_table m2m_quarantine
lab_bg pwatch --ns dev "$POL" -c "$M2M_CONFIG_FILE" watch
ok "  m2mdm-policy watch holds it (its copy, m2m_quarantine_watch)" \
	wait_until 5 lab_nft_table m2m_quarantine_watch
head=$("$POL" -c "$M2M_CONFIG_FILE" status --json | "$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["audit"]["head"])' 2>/dev/null)

plan=(
	'read:/33811/0/0~quarantined' 'read:/33811/0/1~tamper' 'read:/33811/0/6~broken'
	'read:/33811/0/4~off' 'read:/33811/0/7~1' "read:/33811/0/9~${head:-nohead}"
	'read:/33811/0/12~release'
	"exec:/33811/0/11=0='ticket-4711'@4.05"
	'read:/33811/0/13~wipe: refused: not in policy.server'
	'exec:/33811/0/10=x@4.00' "exec:/33811/0/10=0='a'b@4.00" 'read:/33811/0/0~quarantined'
	"exec:/33811/0/10=0='ticket-4711'"
	'read:/33811/0/0~normal' 'read:/33811/0/13~release: done'
	"exec:/33811/0/10=0='again'" 'read:/33811/0/13~release: not in quarantine'
)
server "${plan[@]}"
lab_bg serve --ns dev "$DM" -c "$M2M_CONFIG_FILE" --serve -v
ok "m2mdm-status --serve registered from quarantine (the management server is let through)" \
	wait_until 20 grep -q '"event":"register"' "$SRV" || diag "$(tail -n 20 "$LAB/log/serve.err")"
ok "the registration links the policy object </33811/0>" \
	eval "grep -m1 '\"event\":\"register\"' '$SRV' | grep -qF '</33811/0>'"
wait_until 30 checked 'read:/33811/0/13~release: not in quarantine'
for c in "${plan[@]}"; do
	is "$(check "$c")" pass "server: $c"
done
nok "the quarantine table is gone" lab_nft_table m2m_quarantine
ok "  and the watch's copy of it" wait_until 1 eval '! lab_nft_table m2m_quarantine_watch'
pol status
is_rc 0 "m2mdm-policy status: not in quarantine (exit 0)"
audit=$(audit_detail)
like "$audit" "release released by uid [0-9]+: ordered by the management server \\(Short Server ID 1\\): ticket-4711" \
	"the audit log: the release, ordered by the management server, with its words"
is "$(grep -c '^release' <<< "$audit")" 1 "  one release only (the refused and the second order changed nothing)"
is "$(grep -c '^restored' <<< "$audit")" 0 "  and the watch put nothing back"
ok "the key is still there (Wipe was refused)" test -s "$W/dev.key"
pol audit
is_rc 0 "the audit log's chain is whole"
lab_stop serve TERM 10
lab_stop pwatch TERM 5

# ---- policy.server [release, wipe]: the server decommissions the device
config "[release, wipe]"
server 'read:/33811/0/12~release wipe' "exec:/33811/0/11=0='decommissioned-by-ops'"
# its exit status in a file (the process is not stopped here: it ends by itself)
lab_bg serve --ns dev sh -c '"$1" -c "$2" --serve -v; echo $? > "$3"' sh "$DM" "$M2M_CONFIG_FILE" "$W/serve.rc"
ok "m2mdm-status --serve registered" wait_until 20 grep -q '"event":"register"' "$SRV"
ok "the server ordered the wipe: 2.04" \
	wait_until 20 eval "[ \"\$(check \"exec:/33811/0/11=0='decommissioned-by-ops'\")\" = pass ]" ||
	diag "$(check "exec:/33811/0/11=0='decommissioned-by-ops'")"
ok "the device de-registered" wait_until 10 grep -q '"event":"deregister"' "$SRV"
ok "m2mdm-status --serve ended after the wipe" wait_until 20 test -s "$W/serve.rc"
is "$(cat "$W/serve.rc" 2> /dev/null)" 0 "  with exit 0 (everything destroyed)"
ok "the key file is gone" test ! -e "$W/dev.key"
ok "the certificate is gone" test ! -e "$W/dev.pem"
audit=$(audit_detail)
like "$audit" "wipe .*ordered by the management server \\(Short Server ID 1\\): decommissioned-by-ops" \
	"the audit log: the wipe, ordered by the management server, with its words"
pol audit
is_rc 0 "the audit log's chain is whole after the wipe"
like "$(cat "$LAB/log/serve.err")" "wipe: [0-9]+ destroyed" "m2mdm-status logged what the wipe destroyed"
if [ "${TAP_FAILED:-0}" != 0 ]; then
	diag "server: $(tail -n 30 "$SRV")"
	diag "serve: $(tail -n 40 "$LAB/log/serve.err")"
fi
lab_stop lwm2m TERM

# ---- a report run (cron) with a Send: the Wipe is answered while the client waits for the
#      Send's answer (lwm2m-node-lib never answers a Send), and done before the run ends
(umask 077; cp "$LAB_DEV_KEY" "$W/dev.key"; cp "$LAB_DEV_CERT" "$W/dev.pem")
config "[release, wipe]" "  send: [/3/0/0]
  queue_window: 3s"
server "exec:/33811/0/11=0='from-cron'"
M2M_BIN=$DM m2m --report --timeout 30
is_rc 0 "a report run wiped by the server's order: exit 0"
like "$M2M_OUT" "wiped, as the management server ordered" "  it says it was wiped, not that it reported"
is "$(check "exec:/33811/0/11=0='from-cron'")" pass "  the server's Wipe was answered 2.04"
ok "  the key file is gone" test ! -e "$W/dev.key"
like "$(audit_detail)" "wipe .*ordered by the management server \\(Short Server ID 1\\): from-cron" \
	"  the audit log has the wipe with the server's words"

# ---- a report run releases the quarantine by the server's order, then ends; the next
#      run's Last Order says what came of it
(umask 077; cp "$LAB_DEV_KEY" "$W/dev.key"; cp "$LAB_DEV_CERT" "$W/dev.pem")
config "" "  queue_window: 3s"
pol check
is_rc 20 "the case still open: in quarantine again (exit 20)"
server "exec:/33811/0/10=0='from-cron'" 'read:/33811/0/0~normal'
M2M_BIN=$DM m2m --report --timeout 30
is_rc 0 "a report run the server releases the device in: exit 0"
for c in "exec:/33811/0/10=0='from-cron'" 'read:/33811/0/0~normal'; do
	is "$(check "$c")" pass "  server: $c"
done
t=$(took "exec:/33811/0/10=0='from-cron'")
note "the Release took $t ms"
cmp_ok "$t" -lt 1000 "  the Release was answered within a second (done within the request)"
nok "  the quarantine table is gone" lab_nft_table m2m_quarantine
server 'read:/33811/0/13~release: done' 'read:/33811/0/0~normal'
M2M_BIN=$DM m2m --report --timeout 30
is_rc 0 "the next report run"
is "$(check 'read:/33811/0/13~release: done')" pass \
	"  its Last Order says what came of the last run's order"
is "$(check 'read:/33811/0/0~normal')" pass "  and the device is still released"
[ "${TAP_FAILED:-0}" = 0 ] || diag "server: $(tail -n 10 "$SRV")"
lab_stop lwm2m TERM
done_testing
