#!/bin/bash
# 60-pkcs12.t - PKCS#12 identity with a passphrase in a 0600 file:
#   right PIN -> up, traffic, gateway sees dev-p12.lab
#   wrong PIN -> exit 9 (credential), one line
#   neither PIN ever appears in: the tool's stdout/stderr, status --json, the device charon
#   log (cfg level 2), the gateway log, the state dir, or any /proc/*/cmdline or
#   /proc/*/environ sampled while the tool runs.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

ALL_OUT=$LAB/log/all-tool-output
: > "$ALL_OUT"
collect() { printf '%s\n%s\n' "$M2M_OUT" "$M2M_ERR" >> "$ALL_OUT"; }

# m2m_scanned ARGS...: run the tool while procscan.py samples every process
m2m_scanned() {
	local n=$((++SCANS))
	lab_bg "scan$n" "$LAB_PY" "$LAB_TOOLS/procscan.py" "$LAB/log/scan$n.result" m2mvpn-connect \
		"$LAB_P12_PIN_FILE" "$LAB_P12_WRONG_PIN_FILE"
	wait_until 5 grep -q ready "$LAB/log/scan$n.out"
	m2m "$@"
	lab_stop "scan$n" TERM 5
	collect
}
SCANS=0

lab_dev_config pos auth=pkcs12
m2m_scanned up pos --timeout 20
is_rc 0 "pkcs12 with the right PIN file: up exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev-p12.lab" eval 'lab_sas gw | grep -q "remote-id=dev-p12.lab"'
m2m_scanned status pos --json
is_rc 0 "status pos --json: exit 0"
is "$(jget 'profiles[name=pos].state' <<< "$M2M_OUT")" up "status --json: state up"
m2m_scanned down pos
is_rc 0 "down exit 0"

lab_dev_config pos auth=pkcs12 pin_file="$LAB_P12_WRONG_PIN_FILE"
m2m_scanned up pos --timeout 20
is_rc 9 "pkcs12 with a wrong PIN: exit 9"
cmp_ok "$M2M_MS" -le 3000 "wrong PIN: reported at once (${M2M_MS} ms)"
ok "wrong PIN: error is one line on stderr" one_line "$M2M_ERR" || m2m_diag
is "$(lab_sa_count dev)" 0 "wrong PIN: no IKE SA on the device charon"

# ---- where the PINs must never appear
for what in PIN:LAB_P12_PIN WRONG_PIN:LAB_P12_WRONG_PIN; do
	label=${what%%:*} var=${what#*:} secret=${!var}
	[ ${#secret} -ge 10 ] || fail "lab: $label is set"
	nok "$label not in the tool's stdout/stderr/status --json" grep -qF -- "$secret" "$ALL_OUT"
	nok "$label not in the device charon log" grep -qF -- "$secret" "$LAB/dev/charon.log"
	nok "$label not in the gateway charon log" grep -qF -- "$secret" "$LAB/gw/charon.log"
	nok "$label not in the state dir" grep -rqF -- "$secret" "$LAB/dev/state"
done
samples=0 watched=0 hits=""
for ((i = 1; i <= SCANS; i++)); do
	f=$LAB/log/scan$i.result
	[ -f "$f" ] || continue
	samples=$((samples + $(awk '$1 == "samples" { print $2 }' "$f")))
	watched=$((watched + $(awk '$1 == "watched" { print $2 }' "$f")))
	hits+=$(grep '^hit ' "$f")
done
cmp_ok "$watched" -ge 1 "/proc sampler saw the tool running ($watched of $samples sweeps)"
is "$hits" "" "no PIN in any /proc/*/cmdline or /proc/*/environ while the tool ran"
done_testing
