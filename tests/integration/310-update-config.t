#!/bin/bash
# 310-update-config.t - configuration updates with automatic rollback (issue 12): a new
# m2m.yaml arrives as a signed config package ("type": "config", "installer": "config"),
# m2mdm-update install runs in the device namespace of a tunnel lab (a real charon pair,
# a real LwM2M server behind the gateway on 10.99.1.1, which the device reaches only
# through the tunnel), and the health check of the NEW configuration decides:
#   1. a harmless change (dm lifetime): committed after the tunnel came up and the device
#      registered; the file is the payload byte for byte, no .prev, status committed
#   2. a new tunnel that fails (a remote id the gateway's certificate does not carry):
#      rolled back by itself within update.health.timeout: the old file byte for byte, no
#      .prev, the exit code the tunnel failure's class, status rolled-back with "health:
#      profile pos: ..."; then `m2mvpn-connect up pos` brings the old tunnel up
#   3. an invalid configuration, signed: refused, 3 (config) with file:line:col; untouched
#   4. a configuration without the update: section: refused, 18; untouched
#   5. a power cut (kill -9 of m2mdm-update) during the health check of a configuration
#      whose gateway nobody answers: the next `m2mdm-update check` finishes it: rolled
#      back, the old file back, no .prev
#   6. the same broken tunnel as 2, arriving while the old tunnel is up: the new tunnel must
#      prove itself too (a tunnel that is up under the old configuration proves nothing
#      about the new one: it is taken down and brought up under the new one); rolled
#      back, the old file and the tunnel are back (up again under the old configuration)
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/vendor.sh"
lab_require
lab_require_tool
UPD=$M2M_BIN_DIR/m2mdm-update
[ -x "$UPD" ] || { echo "1..1"; echo "not ok 1 - $UPD exists (run make)"; exit 1; }
command -v openssl > /dev/null || { echo "1..0 # SKIP openssl not installed (scripts/deps.sh)"; exit 0; }
lab_require_lwm2m_server
lab_up

U=$LAB/upd
mkdir -p "$U"
PORT=$((20000 + RANDOM % 30000))
EP=dev1.lab
HEALTH_S=15

# ---- the vendor: a CA (update.trust) and a code-signing certificate
ok "a vendor CA and a code signer" vendor_pki "$U" || diag "$(cat "$U/pki.err")"

# conf OUT LIFETIME [UPDATE] [PROFILE KEY=VALUE...]: a device configuration at OUT (the lab's
# profile pos, its dm section with LIFETIME, and UPDATE as the update: section: "none" for
# none); the lab's own stays M2M_CONFIG_FILE
CFG=$LAB/dev/m2m.yaml
UPDATE_SECTION="update:
  trust: $U/ca.pem
  model: lab-device
  timeout: 2m
  health: {timeout: ${HEALTH_S}s, profiles: [pos], dm: true}"
conf() {
	local out=$1 lifetime=$2 up=${3:-$UPDATE_SECTION}
	shift $(($# < 3 ? $# : 3))
	[ "$up" = none ] && up=""
	lab_dev_config -o "$out" pos "$@" top="dm:
  server: \"coap://$LAB_INNER_IP:$PORT\"
  security: nosec
  binding: UQ
  lifetime: $lifetime
  jitter: 30s
  timeout: 10s
$up"
	M2M_CONFIG_FILE=$CFG
}
# pkg OUT CONFIG VERSION: a config package of CONFIG, signed by the vendor's signer
pkg() { vendor_config_pkg "$U" "$@"; }
# upd ARGS...: m2mdm-update -c the device's config ARGS... in the device namespace
# -> URC UOUT UERR UMS (wall time)
upd() {
	local t0
	t0=$(now_ms)
	timeout -k 3 90 ip netns exec "$NS_DEV" "$UPD" -c "$CFG" "$@" \
		> "$U/upd.out" 2> "$U/upd.err" < /dev/null
	URC=$?
	UMS=$(($(now_ms) - t0))
	UOUT=$(cat "$U/upd.out")
	UERR=$(grep -v '^log<' "$U/upd.err")
	{ echo "=== $(date -u +%T.%3N) m2mdm-update $* -> rc $URC in $UMS ms"; cat "$U/upd.err"; } \
		>> "$LAB/log/m2m.history"
}
udiag() { diag "m2mdm-update: exit $URC after $UMS ms"; diag "stdout: $UOUT"; diag "stderr: $(tail -n 20 "$U/upd.err")"; }
# status FIELD: a member of `m2mdm-update status --json`
status() { vendor_status "$CFG" "$1"; }
same_file() { cmp -s "$1" "$2"; }
no_prev() { [ ! -e "$CFG.prev" ]; }
registers() { grep -c '"event":"\(register\|update\)"' "$LAB/log/lwm2m.out"; }

# ---- the LwM2M server on the gateway's inner address, reachable through the tunnel only
in_gw nft -f - << EOF || lab_die "nft in the gateway namespace"
table inet m2mt310 {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "$LAB_IF_A" ip daddr $LAB_INNER_IP udp dport $PORT drop
  }
}
EOF
: > "$LAB/log/lwm2m.out"
lab_bg lwm2m --ns gw env LWM2M_NODE_MODULES="$LWM2M_NODE_MODULES" node \
	"$LAB_TOOLS/lwm2m-server.js" --port "$PORT" --ep "$EP" --timeout 600000 --stay 600000
ok "the LwM2M server listens on the gateway ($LAB_INNER_IP:$PORT)" \
	wait_until 15 grep -q '"event":"listening"' "$LAB/log/lwm2m.out" ||
	diag "$(cat "$LAB/log/lwm2m.out" "$LAB/log/lwm2m.err")"

# the device as it is before any update: version 1 of its configuration
conf "$CFG" 10m
cp "$CFG" "$U/v1.yaml"

# ---- 1. a harmless change: committed after the health check
conf "$U/v2.yaml" 11m
ok "1: a signed config package (dm lifetime 10m -> 11m)" pkg "$U/v2.pkg" "$U/v2.yaml" 1.1 || diag "$(cat "$U/sign.err")"
n=$(registers)
lines=$(wc -l < "$LAB/log/lwm2m.out")
upd install "$U/v2.pkg"
is "$URC" 0 "1: install: exit 0" || udiag
like "$UOUT" "committed m2m-config 1\.1" "1: it says committed"
ok "1: the configuration on disk is the package's, byte for byte" same_file "$CFG" "$U/v2.yaml"
ok "1: no .prev left" no_prev
is "$(status state)" committed "1: status: committed"
is "$(status installed)" 1.1 "1: status: installed 1.1"
cmp_ok "$(registers)" -gt "$n" "1: the health check registered with the server (through the tunnel)"
like "$(tail -n +$((lines + 1)) "$LAB/log/lwm2m.out" | grep '"event":"\(register\|update\)"')" \
	'"lifetime":"?660"?' "1: ... with the new configuration's lifetime (11m: 660 s)"
like "$(cat "$U/upd.err")" "health: profile pos is up" "1: the health check brought the profile up"
is "$(lab_sa_count dev)" 0 "1: the on-demand tunnel is down again"
is "$(stat -c %a "$CFG")" 600 "1: the new file keeps the mode 0600"
cp "$CFG" "$U/cur.yaml"

# ---- 2. a new tunnel that fails: rolled back by itself within the bound, and why
conf "$U/badid.yaml" 11m "" remote_id=nobody.lab
ok "2: a signed config package whose remote id the gateway does not carry" pkg "$U/badid.pkg" "$U/badid.yaml" 1.2
upd install "$U/badid.pkg"
ok "2: install: the tunnel failure's class, an authentication failure, 7 or 8 (got $URC)" \
	test "$URC" = 7 -o "$URC" = 8 || udiag
rc2=$URC
like "$UERR" "rolled back m2m-config 1\.2: .*health: profile pos: " "2: stderr: rolled back, and why (the profile step)"
cmp_ok "$UMS" -le $(((HEALTH_S + 5) * 1000)) "2: within update.health.timeout (${HEALTH_S} s) and the install ($UMS ms)"
ok "2: the old configuration is back, byte for byte" same_file "$CFG" "$U/cur.yaml"
ok "2: no .prev left" no_prev
is "$(status state)" rolled-back "2: status: rolled-back"
like "$(status message)" "health: profile pos: " "2: status: the message says why"
is "$(status result_code)" "$rc2" "2: status: the result is the exit code"
is "$(status installed)" 1.1 "2: status: 1.1 is still the installed version"
is "$(lab_sa_count dev)" 0 "2: no IKE SA left behind by the failed check"
m2m up pos --timeout 20
is_rc 0 "2: m2mvpn-connect up pos with the restored configuration: the old tunnel comes up"
ok "2: ... traffic goes through it" lab_ping_inner 3
m2m down pos
is_rc 0 "2: m2mvpn-connect down pos"

# ---- 3. an invalid configuration, signed: refused with where, untouched
conf "$U/invalid.yaml" 11m
sed -i 's/^  binding: UQ$/  binding: UQ\n  bogus_key: 1/' "$U/invalid.yaml"
line=$(grep -n '^  bogus_key' "$U/invalid.yaml" | cut -d: -f1)
ok "3: a signed config package of an invalid configuration (unknown key at line $line)" \
	pkg "$U/invalid.pkg" "$U/invalid.yaml" 1.3
upd install "$U/invalid.pkg"
is "$URC" 3 "3: install: exit 3 (config)" || udiag
like "$UERR" "m2m\.yaml:$line:[0-9]+" "3: the message names the file, line and column"
like "$UERR" "bogus_key" "3: ... and the key"
ok "3: the configuration is untouched" same_file "$CFG" "$U/cur.yaml"
ok "3: no .prev" no_prev
is "$(status installed)" 1.1 "3: status: 1.1 is still the installed version"

# ---- 4. a configuration that drops the update: section: refused, untouched
conf "$U/noupd.yaml" 11m none
ok "4: a signed config package without an update: section" pkg "$U/noupd.pkg" "$U/noupd.yaml" 1.4
upd install "$U/noupd.pkg"
is "$URC" 18 "4: install: exit 18 (refused)" || udiag
like "$UERR" "update" "4: the message says why (the update: section)"
ok "4: the configuration is untouched" same_file "$CFG" "$U/cur.yaml"
ok "4: no .prev" no_prev

# ---- 5. a power cut during the health check; the next check finishes it
conf "$U/dead.yaml" 11m "" gateway="$LAB_DEAD_IP"
ok "5: a signed config package whose gateway nobody answers" pkg "$U/dead.pkg" "$U/dead.yaml" 1.5
# lab_bg records it: the lab's teardown stops it if the test ends early
lab_bg cut --ns dev "$UPD" -c "$CFG" -v install "$U/dead.pkg"
cut_pid=$LAB_BG_PID
ok "5: the install replaced the file and the health check began" \
	wait_until 20 grep -q 'health check of m2m-config 1\.5' "$LAB/log/cut.err" || diag "$(cat "$LAB/log/cut.err")"
sleep 1
is "$(cat "/proc/$cut_pid/comm" 2> /dev/null)" m2mdm-update "5: 1 s into the health check m2mdm-update still runs"
ok "5: ... with the new configuration in place and the old one kept as .prev" \
	eval 'same_file "$CFG" "$U/dead.yaml" && same_file "$CFG.prev" "$U/cur.yaml"'
kill -KILL "$cut_pid"
wait "$cut_pid" 2> /dev/null
is "$(status state)" installed "5: after the cut: status installed (awaiting the health check)"
is "$(status next)" health "5: ... next: health"
upd check
ok "5: check: the tunnel failure's class, 6 or 5 (got $URC)" test "$URC" = 6 -o "$URC" = 5 || udiag
like "$UERR" "rolled back m2m-config 1\.5: .*health: profile pos: " "5: check: rolled back, and why"
cmp_ok "$UMS" -le $((HEALTH_S * 1000)) "5: check kept what was left of the bound ($UMS ms)"
ok "5: the old configuration is back, byte for byte" same_file "$CFG" "$U/cur.yaml"
ok "5: no .prev left" no_prev
is "$(status state)" rolled-back "5: status: rolled-back"
upd check
is "$URC" 0 "5: check again: nothing to do, exit 0" || udiag
is "$UOUT$UERR" "" "5: ... and silent"

# ---- 6. the broken tunnel arrives while the old tunnel is up
m2m up pos --timeout 20
is_rc 0 "6: the old tunnel is up before the update"
conf "$U/badid2.yaml" 12m "" remote_id=nobody.lab
ok "6: a signed config package whose remote id the gateway does not carry" pkg "$U/badid2.pkg" "$U/badid2.yaml" 1.6
upd install "$U/badid2.pkg"
ok "6: install: the tunnel failure's class, an authentication failure, 7 or 8 (got $URC)" \
	test "$URC" = 7 -o "$URC" = 8 || udiag
is "$(status state)" rolled-back "6: status: rolled-back"
ok "6: the old configuration is back, byte for byte" same_file "$CFG" "$U/cur.yaml"
ok "6: no .prev left" no_prev
if ! same_file "$CFG" "$U/cur.yaml"; then
	# committed: put the old configuration back by hand for the rest of the test
	cp "$U/cur.yaml" "$CFG"
fi
ok "6: the old tunnel is up after the update (the tunnel is back)" wait_until 20 lab_child_installed dev
ok "6: ... traffic goes through it" lab_ping_inner 3
m2m down pos
is_rc 0 "6: m2mvpn-connect down pos"
done_testing
