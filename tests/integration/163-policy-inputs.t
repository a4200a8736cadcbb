#!/bin/bash
# 163-policy-inputs.t - m2mdm-policy check with its real inputs: a real gpsd fed NMEA
#   (tests/lab/gps.sh) and ModemManager's D-Bus API on a private bus (tests/lab/mm.sh).
#   m2mdm-policy(1), m2m.yaml(5) SECURITY POLICIES. Contract:
#   - location: a fix inside the circle holds; one outside by more than its error estimate
#     breaks the policy (quarantine, exit 20); no usable fix is unknown and does what no_fix
#     says (log: exit 0; quarantine: exit 20);
#   - sim: without sim.iccid the device is bound to the first SIM a check sees (audit
#     "sim-bound"); another SIM, or none, breaks the policy; ModemManager gone is unknown,
#     only logged;
#   - a check returns within --timeout + 100 ms whatever gpsd or ModemManager do (a silent
#     gpsd, a ModemManager that never answers), measured from outside with LOAD_SLACK_MS
#     (default 300 ms, as in 152-cert-enroll-bounds.t).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/gps.sh"
. "$(dirname "$0")/../lab/mm.sh"
lab_require
lab_gps_require
lab_mm_require
lab_require_tool
lab_init
lab_net
lab_gps_up
lab_mm_up '{"Imsi": "208011234567890", "SimIdentifier": "8933011234567890123", "OperatorIdentifier": "20801"}'

POL=$M2M_BIN_DIR/m2mdm-policy
[ -x "$POL" ] || lab_die "$POL is not built"
pol() { M2M_BIN=$POL m2m "$@"; }
SLACK=${LOAD_SLACK_MS:-300}
LAT=48.8566 LON=2.3522
# 0.0027 degrees of longitude at 48.8566 N is 198 m; 0.03 is 2.2 km
IN_LON=2.3549 OUT_LON=2.3822

config() {   # config KEY=VALUE...: gpsd, no_fix, max_age
	local -A v=([gpsd]="127.0.0.1:$(lab_gps_port)" [no_fix]=log [max_age]=30s)
	local kv
	for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
	lab_dev_config pos top="policy:
  timeout: 5s
  location:
    gpsd: ${v[gpsd]}
    fence: {lat: $LAT, lon: $LON, radius: 500m}
    max_age: ${v[max_age]}
    no_fix: ${v[no_fix]}
  sim:
    bus: $(lab_mm_bus)"
}
release() { pol release --reason "$1"; is_rc 0 "release ($1)"; }

config

# ---- inside the fence, the first SIM
lab_gps_at $LAT $IN_LON || lab_die "gpsd has no fix at the start"
pol check --json
is_rc 0 "inside the fence with the first SIM: exit 0"
is "$(jget policies.location.verdict <<< "$M2M_OUT")" holds "  location holds"
like "$(jget policies.location.detail <<< "$M2M_OUT")" "^19[0-9] m from the fence's centre \(radius 500 m\)$" \
	"  198 m from the centre"
is "$(jget policies.sim.verdict <<< "$M2M_OUT")" holds "  sim holds"
is "$(jget bound_iccid <<< "$M2M_OUT")" 8933011234567890123 "  bound to the first SIM seen"
like "$("$POL" -c "$M2M_CONFIG_FILE" audit)" "sim-bound +sim +bound to the SIM 8933011234567890123 \(IMSI 208011234567890\)" \
	"  the binding is in the audit log"

# ---- outside: one fix outside is not enough, a later one confirms it
lab_gps_at $LAT $OUT_LON || lab_die "gpsd has no fix outside"
pol check --json
is_rc 0 "one fix 2.2 km away and no later one: exit 0 (not confirmed)"
like "$(jget policies.location.detail <<< "$M2M_OUT")" "not confirmed by a later one" "  it says so"
lab_gps_feed -n 12 -i 0.5 $LAT $OUT_LON &   # epochs every 0.5 s meanwhile
feed=$!
sleep 0.7
pol check --json
is_rc 20 "2.2 km away: exit 20"
is "$(jget policies.location.verdict <<< "$M2M_OUT")" broken "  location broken"
like "$(jget reason <<< "$M2M_OUT")" "^location: 2... m from the fence's centre \(radius 500 m\) at 48.85660,2.38220$" \
	"  the reason names where the device is"
ok "  in quarantine" lab_nft_table m2m_quarantine
wait "$feed"
lab_gps_at $LAT $IN_LON
release "back in its fence"
pol check
is_rc 0 "back inside after the release: exit 0"

# ---- outside, but the fix's error could put it inside: not broken
lab_gps_at $LAT 2.3622 50            # 733 m from the centre, HDOP 50
lab_gps_feed -n 12 -i 0.5 --hdop 50 $LAT 2.3622 &
feed=$!
sleep 0.7
pol check --json
note "a fix with HDOP 50: $(jget policies.location.detail <<< "$M2M_OUT")"
isnt "$(jget policies.location.verdict <<< "$M2M_OUT")" broken \
	"733 m away with a large error estimate: not taken as outside"
is_rc 0 "  exit 0"
wait "$feed"
lab_gps_at $LAT $IN_LON

# ---- another SIM, no SIM
lab_mm_swap 208019999999999 8933019999999999999 20801
pol check --json
is_rc 20 "another SIM: exit 20"
is "$(jget policies.sim.verdict <<< "$M2M_OUT")" broken "  sim broken"
like "$(jget reason <<< "$M2M_OUT")" "^sim: the SIM 8933019999999999999 is not the one bound \(8933011234567890123\)$" \
	"  the reason names both SIMs"
release "SIM swap agreed"
pol check
is_rc 20 "  still the other SIM: quarantined again at the next check"
lab_mm_swap 208011234567890 8933011234567890123 20801
release "the right SIM back"
pol check
is_rc 0 "the bound SIM back: exit 0"
lab_mm_remove_sim
pol check --json
is_rc 20 "no SIM in the modem: exit 20"
like "$(jget policies.sim.detail <<< "$M2M_OUT")" "^the modem holds no SIM" "  it says so"
lab_mm_swap 208011234567890 8933011234567890123 20801
release "SIM back in"

# ---- ModemManager gone: only logged
lab_mm_mock_down
pol check --json
is_rc 0 "ModemManager not on the bus: exit 0"
is "$(jget policies.sim.verdict <<< "$M2M_OUT")" unknown "  sim unknown"
is "$(jget policies.sim.action <<< "$M2M_OUT")" log "  only logged"
is "$(jget policies.sim.result <<< "$M2M_OUT")" daemon "  result: daemon"
lab_mm_mock_up '{"Imsi": "208011234567890", "SimIdentifier": "8933011234567890123", "OperatorIdentifier": "20801"}'

# ---- no usable fix
lab_gps_down
pol check --json
is_rc 0 "gpsd gone, no_fix: log: exit 0"
is "$(jget policies.location.verdict <<< "$M2M_OUT")" unknown "  location unknown"
is "$(jget policies.location.result <<< "$M2M_OUT")" daemon "  result: daemon"
config no_fix=quarantine
pol check
is_rc 20 "gpsd gone, no_fix: quarantine: exit 20"
release "gpsd restarted"
lab_gps_up
lab_gps_at $LAT $IN_LON
config no_fix=quarantine max_age=2s
pol check
is_rc 0 "a fresh fix, max_age 2s: exit 0"

# ---- bounds: a silent gpsd, a ModemManager that never answers
lab_gps_peer silent
config gpsd="127.0.0.1:$LAB_GPS_PEER_PORT"
pol check --timeout 2
note "silent gpsd: exit $M2M_RC after $M2M_MS ms"
is_rc 0 "a silent gpsd, no_fix: log: exit 0"
cmp_ok "$M2M_MS" -le $((2000 + 100 + SLACK)) "  returned within --timeout 2 + 100 ms (+ $SLACK ms load slack)"
cmp_ok "$M2M_MS" -ge 1900 "  and waited for it"
lab_mm_mock SetStall b true
config gpsd="127.0.0.1:$(lab_gps_port)"
pol check --timeout 2 --json
note "ModemManager stalled: exit $M2M_RC after $M2M_MS ms"
is_rc 0 "a ModemManager that never answers: exit 0 (only logged)"
is "$(jget policies.sim.result <<< "$M2M_OUT")" timeout "  sim: timeout"
cmp_ok "$M2M_MS" -le $((2000 + 100 + SLACK)) "  returned within --timeout 2 + 100 ms (+ $SLACK ms load slack)"
is "$(jget policies.location.verdict <<< "$M2M_OUT")" holds \
	"  gpsd still had its share of the time: the location holds"
lab_mm_mock SetStall b false

# ---- a check stopped while it waits decides nothing
lab_gps_peer silent
config gpsd="127.0.0.1:$LAB_GPS_PEER_PORT" no_fix=quarantine
before=$("$POL" -c "$M2M_CONFIG_FILE" audit --json | jget records | "$LAB_PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
ip netns exec "$NS_DEV" "$POL" -c "$M2M_CONFIG_FILE" check --timeout 5 > "$LAB/log/stopped.out" 2>&1 &
checker=$!
sleep 0.7
kill -TERM "$checker"
wait "$checker"
is "$?" 5 "SIGTERM while gpsd is silent: exit 5"
nok "  not quarantined (a stop is no missing fix)" lab_nft_table m2m_quarantine
after=$("$POL" -c "$M2M_CONFIG_FILE" audit --json | jget records | "$LAB_PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
is "$after" "$before" "  nothing written to the audit log"

done_testing
