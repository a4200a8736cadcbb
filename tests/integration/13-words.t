#!/bin/bash
# 13-words.t - failure messages a technician can act on (m2mvpn-connect(1), EXIT STATUS):
#   no route to the gateway (charon: no address found to reach it, Network is unreachable)
#     -> exit 6, "no route to the gateway", not "did not answer";
#   a remote_id the gateway has no configuration for: it answers AUTHENTICATION_FAILED
#     (RFC 7296 2.21.2) -> exit 7, and the message also names the remote_id;
#   an empty PIN file for a PKCS#12 -> exit 9, "the PIN file ... is empty", not "wrong PIN";
#   watch and -v name the profile once per line ("auto: ...", never "auto: auto: ...").
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

# ---- no route to the gateway
lab_dev_config pos gateway=198.51.100.1
in_dev ip route del default
m2m up pos --timeout 3
rc_in "6" "up pos with no route to 198.51.100.1: exit 6 (got $M2M_RC)"
like "$M2M_ERR" 'no route to the gateway 198\.51\.100\.1' "... says: no route to the gateway"
unlike "$M2M_ERR" 'did not answer' "... not: did not answer"
ok "... one line on stderr" one_line "$M2M_ERR" || m2m_diag
in_dev ip route add default via "$LAB_GW_IP" metric 100

# ---- a remote_id the gateway is not
lab_dev_config pos remote_id=other.lab
m2m -v up pos --timeout 10
is_rc 7 "up pos with remote_id other.lab: exit 7 (the gateway answers AUTHENTICATION_FAILED)"
last=$(tail -n 1 <<< "$M2M_ERR")
like "$last" 'AUTHENTICATION_FAILED' "... names AUTHENTICATION_FAILED"
like "$last" "or the gateway is not 'other\\.lab' \\(the profile's remote_id\\)" \
	"... and says the gateway may not be the remote_id other.lab"
unlike "$M2M_ERR" 'pos: pos:' "... -v names the profile once per line" || m2m_diag

# ---- an empty PIN file
: > "$LAB/dev/empty.pin"
chmod 600 "$LAB/dev/empty.pin"
lab_dev_config pos auth=pkcs12 pin_file="$LAB/dev/empty.pin"
m2m up pos --timeout 10
is_rc 9 "up pos, PKCS#12 with an empty PIN file: exit 9"
like "$M2M_ERR" "the PIN file ${LAB//./\\.}/dev/empty\\.pin is empty" "... says the PIN file is empty"
unlike "$M2M_ERR" 'wrong PIN' "... not: wrong PIN"
ok "... one line on stderr" one_line "$M2M_ERR" || m2m_diag
lab_dev_config pos auth=pkcs12 pin_file="$LAB_P12_WRONG_PIN_FILE"
m2m up pos --timeout 10
is_rc 9 "... a wrong (non-empty) PIN is still: exit 9"
like "$M2M_ERR" 'wrong PIN' "... wrong PIN"

# ---- watch names the profile once
lab_dev_config auto mode=always-on remote_id=other.lab retry_auth=5s,30s
lab_bg watch --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch auto
ok "watch auto reports the failed attempt" wait_until 15 grep -q 'next try' "$LAB/log/watch.err"
lab_stop watch TERM 5 > /dev/null 2>&1
w=$(cat "$LAB/log/watch.err")
like "$w" 'auto: the gateway rejected our authentication' "... 'auto: the gateway rejected ...'" ||
	diag "$w"
unlike "$w" 'auto: auto:' "... never 'auto: auto:'"
done_testing
