#!/bin/bash
# 20-auth.t - authentication failures are classified by exit code, quickly, in one line:
#   device cert from a rogue CA -> 7 (the gateway rejects us: AUTHENTICATION_FAILED)
#   device trusts the wrong CA for the gateway -> 8 (we reject the gateway)
#   expired / not-yet-valid device cert -> 10 (clock; charon does NOT check its own cert:
#   without a local check the gateway answers AUTHENTICATION_FAILED, i.e. 7)
#   expired gateway cert -> 10
# A good profile first (so charon holds a valid dev1.lab cert and the lab CA while the bad
# ones are tried) and last (a failure leaves nothing behind that breaks the next up).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

T=15   # --timeout for every attempt; failures must come long before it

# case NAME EXPECTED-RC [lab_dev_config KEY=VALUE...]
case_rc() {
	local name=$1 want=$2; shift 2
	lab_dev_config pos "$@"
	m2m up pos --timeout "$T"
	is_rc "$want" "$name: exit $want"
	cmp_ok "$M2M_MS" -le $((T * 1000 + 1500)) "$name: answered within the timeout (${M2M_MS} ms)"
	ok "$name: error is one line on stderr" one_line "$M2M_ERR" || m2m_diag
	is "$(lab_sa_count dev)" 0 "$name: no IKE SA left on the device charon"
}

lab_dev_config pos
m2m up pos --timeout "$T"
is_rc 0 "control: good certificate, up exit 0"
m2m down pos
is_rc 0 "control: down exit 0"

case_rc "device cert from a rogue CA" 7 cert="$LAB_ROGUE_CERT" key="$LAB_ROGUE_KEY"
case_rc "device trusts the wrong CA for the gateway" 8 ca="$LAB_ROGUE_CA"
case_rc "expired device cert" 10 cert="$LAB_EXPIRED_CERT" key="$LAB_EXPIRED_KEY" local_id=dev-expired.lab
case_rc "not-yet-valid device cert" 10 cert="$LAB_FUTURE_CERT" key="$LAB_FUTURE_KEY" local_id=dev-future.lab

LAB_GW_CERT_FILE=gw-expired.pem lab_gw_load
case_rc "expired gateway cert" 10
LAB_GW_CERT_FILE=gw.pem lab_gw_load

lab_dev_config pos
m2m up pos --timeout "$T"
is_rc 0 "good certificate again after the failures: up exit 0"
ok "traffic through the tunnel" lab_ping_inner 2
m2m down pos
is_rc 0 "down exit 0"
done_testing
