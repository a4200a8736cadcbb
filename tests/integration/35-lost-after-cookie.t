#!/bin/bash
# 35-lost-after-cookie.t - a gateway under load answers IKE_SA_INIT with a COOKIE (RFC 7296
# 2.6) and the IKE_SA_INIT that carries it is lost (issue 17, finding 2): exit 6, and the
# message says that the gateway answered, with a COOKIE, and what it never answered.
# The gateway asks for cookies once it holds one half-open IKE SA (cookie_threshold = 1);
# a first attempt whose IKE_AUTH is dropped leaves one there for 30 s. The device then drops
# its UDP/500 packets over 300 bytes: the first IKE_SA_INIT (292 bytes) passes, the one
# with the COOKIE (about 324) does not.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
LAB_CHARON_EXTRA_gw="cookie_threshold = 1"
lab_up
plan 7

in_dev nft add table inet m2mt_fault
in_dev nft add chain inet m2mt_fault out '{ type filter hook output priority 0; }'
in_dev nft add rule inet m2mt_fault out ip daddr "$LAB_GW_IP" udp dport 4500 meta length '>' 300 drop
m2m up pos --timeout 1   # IKE_AUTH lost: the gateway keeps a half-open IKE SA
ok "the gateway holds a half-open IKE SA" eval 'lab_sas gw | grep -q "state=CONNECTING"'

in_dev nft add rule inet m2mt_fault out ip daddr "$LAB_GW_IP" udp dport 500 meta length '>' 300 drop
lab_cap_start ike gw "$LAB_IF_A" udp port 500
m2m up pos --timeout 6
lab_cap_stop ike
is_rc 6 "IKE_SA_INIT after the COOKIE lost, up --timeout 6: exit 6, not 1"
like "$M2M_ERR" "pos: gateway $LAB_GW_IP answered IKE_SA_INIT but not the IKE_SA_INIT that followed after its COOKIE" \
	"... the message says the gateway answered with a COOKIE and what went unanswered"
note "stderr: $M2M_ERR"
cmp_ok "$M2M_MS" -le 6100 "... within the limit + 100 ms (${M2M_MS} ms)"
# on the gateway's wire: short answers (a COOKIE notify, no SA), no IKE_SA_INIT with a COOKIE
cookies=$(lab_cap_count ike "src host $LAB_GW_IP and ip[2:2] < 100")
cmp_ok "$cookies" -ge 1 "wire: the gateway answered with COOKIE notifies ($cookies)"
big=$(lab_cap_count ike "dst host $LAB_GW_IP and ip[2:2] > 300")
is "$big" 0 "wire: no IKE_SA_INIT with the COOKIE reached the gateway"

in_dev nft delete table inet m2mt_fault
m2m up pos --timeout 10
is_rc 0 "fault removed: up exit 0 (the gateway's cookie exchange itself works)"
m2m down pos
