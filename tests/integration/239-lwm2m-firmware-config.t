#!/bin/bash
# 239-lwm2m-firmware-config.t - a configuration update ordered by the management server
# (issue 13) through the Firmware Update object (LwM2M TS 1.1 Core E.6) while
# `m2mdm-status --serve` is registered with that server THROUGH the tunnel: the server
# (lwm2m-node-lib, on the gateway's inner address, which the device reaches only through
# the tunnel) observes State (/5/0/3) and Update Result (/5/0/5), writes the Package URI
# of a signed config package (the package's server sits behind the gateway too), and
# executes Update once State is 2 (Downloaded):
#   1. a new m2m.yaml whose tunnel cannot come up (a gateway address nobody answers; 310
#      has the remote id the gateway's certificate does not carry): State 3 (Updating)
#      while it is applied; its health check fails at update.health.timeout; the old m2m.yaml is back byte for byte, the tunnel
#      is up again under it, the device is back with its server (a Register or Update
#      after the Execute), and the server sees Update Result 8 (update failed) with
#      State 0; the installed version is unchanged
#   2. a good new m2m.yaml (another dm lifetime) through the same path: Update Result 1,
#      State 0, PkgVersion the package's; the file on disk is the package's, the tunnel
#      renewed under it stays up, and the serving client serves under it (the Lifetime
#      it answers in /1/0/1, and the one in the server's registry)
# The server's plan waits (gate:) until the test has looked at the device after 1.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/vendor.sh"
lab_require
lab_require_tool
UPD=$M2M_BIN_DIR/m2mdm-update
DM=$M2M_BIN_DIR/m2mdm-status
[ -x "$UPD" ] && [ -x "$DM" ] || { echo "1..1"; echo "not ok 1 - $UPD and $DM exist (run make)"; exit 1; }
command -v openssl > /dev/null || { echo "1..0 # SKIP openssl not installed (scripts/deps.sh)"; exit 0; }
lab_require_lwm2m_server
lab_up

U=$LAB/upd
W=$U/www
mkdir -p "$W"
PORT=$((20000 + RANDOM % 30000))
HPORT=$((PORT + 1))
EP=dev1.lab
HEALTH_S=15

# ---- the vendor: a CA (update.trust) and a code-signing certificate
ok "a vendor CA and a code signer" vendor_pki "$U" || diag "$(cat "$U/pki.err")"

# conf OUT LIFETIME [PROFILE KEY=VALUE...]: the device's configuration at OUT: the lab's
# profile pos, the LwM2M server behind the gateway, the update: section with the health
# check of the tunnel and the registration
CFG=$LAB/dev/m2m.yaml
conf() {
	local out=$1 lifetime=$2
	shift 2
	lab_dev_config -o "$out" pos "$@" top="dm:
  server: \"coap://$LAB_INNER_IP:$PORT\"
  security: nosec
  binding: U
  lifetime: $lifetime
  timeout: 10s
update:
  trust: $U/ca.pem
  model: lab-device
  timeout: 2m
  health: {timeout: ${HEALTH_S}s, profiles: [pos], dm: true}"
	M2M_CONFIG_FILE=$CFG
}
# pkg OUT CONFIG VERSION: a config package of CONFIG, signed by the vendor's signer
pkg() { vendor_config_pkg "$U" "$@"; }
# status FIELD: a member of `m2mdm-update status --json`
status() { vendor_status "$CFG" "$1"; }
SRV=$LAB/log/lwm2m.out
# check SPEC: the server's verdict on a check of its plan (pass, fail, or empty: not run)
check() {
	grep -F "\"check\":\"$1\"" "$SRV" | head -n 1 |
		"$LAB_PY" -c 'import json,sys; l=sys.stdin.read().strip(); print("" if not l else ("pass" if json.loads(l)["ok"] else "fail"))'
}
# notes PATH: the values the server was notified of on PATH, in order
notes() { grep "\"event\":\"notify\",\"path\":\"$1\"" "$SRV" | sed -E 's/.*"value":"([^"]*)".*/\1/' | tr '\n' ' '; }
# checked SPEC: the server ran that check of its plan; passed SPEC: and it passed
checked() { [ -n "$(check "$1")" ]; }
passed() { [ "$(check "$1")" = pass ]; }
# ms SPEC: when (ms since the server started) a check of the plan ended
ms() { grep -F "\"check\":\"$1\"" "$SRV" | head -n 1 | sed -E 's/^\{"ms":([0-9]+).*/\1/'; }

# the device as it is before any update: version 1.0 of its configuration, lifetime 10 min
conf "$CFG" 10m
cp "$CFG" "$U/v1.yaml"
# 1: the tunnel cannot come up; 2: a good one, lifetime 11 min
conf "$U/badid.yaml" 10m gateway="$LAB_DEAD_IP"
conf "$U/good.yaml" 11m
M2M_CONFIG_FILE=$CFG
ok "signed config packages: a tunnel that fails (1.1), a good one (1.2)" eval '
	pkg "$W/badid.pkg" "$U/badid.yaml" 1.1 && pkg "$W/good.pkg" "$U/good.yaml" 1.2' ||
	diag "$(cat "$U/sign.err")"

# ---- the LwM2M server and the packages' http server on the gateway's inner address,
# reachable through the tunnel only (clear traffic to them from the link is dropped)
in_gw nft -f - << EOF || lab_die "nft in the gateway namespace"
table inet m2mt239 {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "$LAB_IF_A" ip daddr $LAB_INNER_IP udp dport $PORT drop
    iifname "$LAB_IF_A" ip daddr $LAB_INNER_IP tcp dport $HPORT drop
  }
}
EOF
lab_bg www --ns gw "$LAB_PY" -m http.server "$HPORT" --bind "$LAB_INNER_IP" --directory "$W"
URL=http://$LAB_INNER_IP:$HPORT
plan_checks=(
	'watch:/5/0/3' 'watch:/5/0/5'
	"write:/5/0/1=$URL/badid.pkg" 'until:/5/0/3~2:30000' 'exec:/5/0/2'
	'until:/5/0/5~8:90000' 'read:/5/0/5~8' 'read:/5/0/3~0' 'read:/5/0/7' 'read:/1/0/1~600'
	"gate:$U/case2"
	"write:/5/0/1=$URL/good.pkg" 'until:/5/0/3~2:30000' 'exec:/5/0/2'
	'until:/5/0/5~1:90000' 'read:/5/0/5~1' 'read:/5/0/3~0' 'read:/5/0/7~1.2' 'read:/1/0/1~660'
)
: > "$SRV"
lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
	"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 300000 --stay 20000 \
	"${plan_checks[@]}"
ok "the LwM2M server listens on the gateway ($LAB_INNER_IP:$PORT)" \
	wait_until 15 grep -q '"event":"listening"' "$SRV" ||
	diag "$(cat "$SRV" "$LAB/log/lwm2m.err")"

# ---- the device: the tunnel up, then --serve registers through it
m2m up pos --timeout 20
is_rc 0 "the tunnel (profile pos) is up"
lab_bg serve --ns dev "$DM" -c "$CFG" --serve -v
ok "m2mdm-status --serve registered through the tunnel" \
	wait_until 20 grep -q '"event":"register"' "$SRV"

# ---- 1. a config whose tunnel fails
ok "1: the server wrote the Package URI and saw State 2 (Downloaded)" \
	wait_until 60 passed 'until:/5/0/3~2:30000'
ok "1: Execute Update in Downloaded: accepted" wait_until 10 passed 'exec:/5/0/2'
wait_until 120 checked 'read:/1/0/1~600'
is "$(check 'until:/5/0/5~8:90000')" pass "1: the server saw Update Result 8 (update failed)"
is "$(check 'read:/5/0/5~8') $(check 'read:/5/0/3~0')" "pass pass" \
	"1: read back once the device is back: Update Result 8, State 0 (Idle)"
is "$(check 'read:/1/0/1~600')" pass "1: the client serves under the old configuration (Lifetime 600 s in /1/0/1)"
st3=$(notes /5/0/3)
like "$st3" "(^| )2 3( 3)* 0 " "1: State notified 2 (Downloaded), 3 (Updating), then 0 (Idle) (notifications: $st3)"
like "$(notes /5/0/5)" "(^| )8 " "1: Update Result 8 notified ($(notes /5/0/5))"
ok "1: the old configuration is back, byte for byte" cmp -s "$CFG" "$U/v1.yaml"
ok "1: no .prev left" test ! -e "$CFG.prev"
is "$(status state)" rolled-back "1: m2mdm-update status: rolled-back"
like "$(status message)" "health: profile pos: " "1: ... because the profile did not come up"
is "$(status installed)" "" "1: ... and no configuration version installed (unchanged)"
pv=$(grep -F '"check":"read:/5/0/7"' "$SRV" | sed -nE 's/.*"value":"([^"]*)".*/\1/p')
is "$pv" 1.1 "1: PkgVersion: the package's (m2mdm-status(1)), not an installed one"
ok "1: the old tunnel is up again" lab_child_installed dev
e1=$(ms 'exec:/5/0/2')
back=$(grep -E '"event":"(register|update)"' "$SRV" | sed -E 's/^\{"ms":([0-9]+).*/\1/' |
	awk -v e="$e1" '$1 > e' | head -n 1)
ok "1: the device came back to its server after the rollback (Register or Update at ${back:-never} ms, Execute at $e1 ms)" \
	test -n "$back"
t8=$(grep '"event":"notify","path":"/5/0/5","value":"8"' "$SRV" | head -n 1 | sed -E 's/^\{"ms":([0-9]+).*/\1/')
# the bound m2mdm-status(1) gives: update.health.timeout, then 30 s at most to bring the old
# tunnel back; 10 s of slack for a loaded machine and the Update that follows
cmp_ok "$((${t8:-999999} - e1))" -le $(((HEALTH_S + 30 + 10) * 1000)) \
	"1: Update Result 8 notified $((${t8:-999999} - e1)) ms after the Execute (bound ${HEALTH_S} s + 30 s)"
touch "$U/case2"

# ---- 2. a good config through the same path
wait_until 150 checked 'read:/1/0/1~660'
is "$(check 'until:/5/0/5~1:90000')" pass "2: the server saw Update Result 1 (success)"
is "$(check 'read:/5/0/5~1') $(check 'read:/5/0/3~0') $(check 'read:/5/0/7~1.2')" "pass pass pass" \
	"2: read back: Update Result 1, State 0, PkgVersion 1.2"
is "$(check 'read:/1/0/1~660')" pass "2: the client serves under the new configuration (Lifetime 660 s in /1/0/1)"
ok "2: the configuration on disk is the package's, byte for byte" cmp -s "$CFG" "$U/good.yaml"
ok "2: no .prev left" test ! -e "$CFG.prev"
is "$(status state) $(status installed)" "committed 1.2" "2: m2mdm-update status: committed 1.2"
ok "2: the server's registry has the new lifetime (660 s)" \
	grep -qE '"event":"(register|update)".*"lifetime":"?660"?' "$SRV"
ok "2: the tunnel is up" lab_child_installed dev
ok "2: --serve still runs" lab_proc_alive serve
if [ "${TAP_FAILED:-0}" != 0 ]; then
	diag "server: $(grep -v '"event":"notify"' "$SRV" | tail -n 40)"
	diag "serve: $(tail -n 60 "$LAB/log/serve.err")"
fi
lab_stop serve TERM 10
lab_stop lwm2m TERM
lab_stop www TERM
in_gw nft delete table inet m2mt239
m2m down pos
done_testing
