#!/bin/bash
# 150-cert-enroll.t - m2mvpn-cert enroll: CMP initial request (RFC 9483 4.1.1, ir) for a
#   file key, MAC-protected (PBM, reference + shared secret), against OpenSSL's CMP mock
#   (tests/lab/cmp.sh), then the REAL tunnel with the certificate it wrote.
#   Contract (../notes/cmp-contract.md): exit 0 and one line "pos: enrolled SUBJECT, serial
#   HEX, valid until YYYY-MM-DD HH:MM:SS UTC (PATH)"; auth.cert written atomically, mode
#   0644, PEM, matching the key and chaining to enroll.trust, else nothing is written.
#   Failures: wrong secret (7, AUTH_LOCAL: the CA rejected our protection); the CA's
#   rejection badPOP / badRequest (RFC 4210 5.2.3 PKIStatus rejection + PKIFailureInfo: 12,
#   with the CA's status text); a certificate for another key (9, CREDENTIAL; RFC 9483
#   4.1.1: the EE checks the certificate and rejects it in certConf); a certificate not
#   chaining to trust (8, AUTH_REMOTE); one not valid yet (10, CLOCK); polling (RFC 9483
#   4.4, pollReq/pollRep) inside the bound still enrols; no enroll: section (3).
#   Then the same with a TPM key (swtpm, tests/lab/keys.sh): the key never leaves the TPM,
#   the ir's proof of possession is signed in it, and the tunnel comes up with it.
#   The mock returns its -rsp_cert byte for byte, so each case pre-issues what it hands out.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up
lab_cmp_pki

C=$LAB_CMP_DIR
KEY=$C/dev.key CERT=$C/dev.pem
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^0*//' | tr A-F a-f; }
# notAfter as a regex of the line: the contract's "YYYY-MM-DD HH:MM:SS UTC", or the
# project's one UTC form (m2m_time_utc, ISO 8601) "YYYY-MM-DDTHH:MM:SSZ" of the same instant
until_re() {
	local t
	t=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')" '+%Y-%m-%d %H:%M:%S')
	echo "(${t} UTC|${t/ /T}Z)"
}
config() { lab_cmp_config pos "$KEY" "$CERT" "$@"; }   # config [enroll KEY=VALUE...]

m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen --store file: the device's key"
lab_cmp_issue "key:$KEY" "$C/rsp.pem" --serial 150a01 || lab_die "pre-issuing the certificate"
lab_cmp_up --rsp "$C/rsp.pem"
config

# ---- enrolment (PBM)
lab_keys_scanned "$LAB_CMP_SECRET_FILE" m2mcert enroll -p pos
is_rc 0 "enroll -p pos (PBM): exit 0"
ok "one line of output" one_line "$M2M_OUT"
want_serial=$(serial_of "$C/rsp.pem")
like "$M2M_OUT" "^pos: enrolled .*dev1\\.lab.*, serial (0x)?0*(${want_serial}|${want_serial^^}), valid until $(until_re "$C/rsp.pem") \\($CERT\\)\$" \
	"the line names subject, serial, notAfter (UTC) and the file"
is "$(lab_keys_scan_hits)" "" "the shared secret is in no process's command line or environment"
ok "the mock got an ir (RFC 9483 4.1.1)" lab_cmp_received IR
ok "... and a certConf confirming it (no implicit confirm was granted)" lab_cmp_received CERTCONF
is "$(lab_cmp_requests)" 2 "two HTTP exchanges: ir/ip and certConf/pkiConf"
ok "auth.cert written" test -s "$CERT"
is "$(stat -c %a "$CERT" 2>/dev/null)" 644 "auth.cert has mode 0644"
like "$(head -n1 "$CERT" 2>/dev/null)" "^-----BEGIN CERTIFICATE-----$" "auth.cert is PEM"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/rsp.pem")" "auth.cert is the certificate the CA issued"
m2mcert show -p pos --json
is_rc 0 "show -p pos: exit 0"
is "$(jget matches_key <<< "$M2M_OUT")" true "show: the certificate matches the key"
ok "no temporary file left beside auth.cert" eval '[ -z "$(find "$C" -maxdepth 1 -name "dev.pem?*" -print -quit)" ]'

# ---- the real tunnel with it
m2m up pos --timeout 20
is_rc 0 "up pos with the enrolled certificate: exit 0"
ok "a CHILD_SA is installed on the device" lab_child_installed dev
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev1.lab" eval 'lab_sas gw | grep -q "remote-id=dev1.lab"'
gw_certs=$(lab_swanctl gw --list-certs 2>/dev/null | tr -d ':' | tr A-F a-f)
like "$gw_certs" "serial +0*$want_serial" "the gateway received the enrolled certificate (its serial)"
m2m down pos
is_rc 0 "down pos: exit 0"

# ---- re-enrolment without reference and secret: the ir is signed with the current
#      certificate and key (contract; RFC 9483 4.1.1 with signature-based protection). The
#      mock's PBM secret is not the device's, so only a signed ir gets through.
lab_cmp_issue "key:$KEY" "$C/rsp2.pem" --serial 150a02 || lab_die "second certificate"
lab_cmp_up --rsp "$C/rsp2.pem" -srv_secret "pass:not-the-device-secret-$(_lab_rand 4)"
config reference= secret_file=
m2mcert enroll -p pos
is_rc 0 "re-enrolment signed with the current certificate: exit 0"
ok "signed re-enrolment: the mock got an ir" lab_cmp_received IR
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/rsp2.pem")" "signed re-enrolment: auth.cert is the new certificate"
lab_cmp_up --rsp "$C/rsp.pem"

# ---- wrong shared secret: the CA rejects our MAC; the old certificate stays as it was
cp "$C/rsp.pem" "$C/old.pem"; CERT=$C/old.pem
before=$(lab_cmp_sum "$CERT"); before_m=$(stat -c %Y.%s "$CERT")
config secret_file="$LAB_CMP_WRONG_SECRET_FILE"
m2mcert enroll -p pos
is_rc 7 "wrong secret: exit 7 (AUTH_LOCAL)"
ok "wrong secret: one line" one_line "$M2M_ERR"
# The mock's answer (an error message, PKIStatus rejection, statusString "wrong pbm value")
# is MAC-protected with ITS secret, so the client cannot authenticate it (RFC 4210 5.1.3.1):
# its words are not shown as the CA's; the message says what the mismatch means.
like "$M2M_ERR" "secret or the reference .* is wrong" "wrong secret: the message says the secret or reference is wrong"
unlike "$M2M_ERR" "wrong pbm value" "... and does not pass off the unauthenticated answer's text as the CA's"
is "$(lab_cmp_sum "$CERT")/$(stat -c %Y.%s "$CERT")" "$before/$before_m" "wrong secret: the old certificate is untouched"
CERT=$C/none.pem
config secret_file="$LAB_CMP_WRONG_SECRET_FILE"
m2mcert enroll -p pos
is_rc 7 "wrong secret, no certificate yet: exit 7"
ok "... and none is written" test ! -e "$CERT"

# ---- the CA says rejection (RFC 4210 5.2.3): badPOP (bit 9), badRequest (bit 2)
CERT=$C/none.pem
config
lab_cmp_up --rsp "$C/rsp.pem" -pkistatus 2 -failure 9 -statusstring "lab CA: proof of possession refused"
m2mcert enroll -p pos
is_rc 12 "rejection with badPOP: exit 12 (PROTOCOL)"
like "$M2M_ERR" "lab CA: proof of possession refused" "badPOP: the CA's status text is printed"
like "$M2M_ERR" "[Bb]ad ?POP" "badPOP: the failure info is named"
ok "badPOP: nothing written" test ! -e "$CERT"
lab_cmp_up --rsp "$C/rsp.pem" -pkistatus 2 -failure 2 -statusstring "lab CA: request refused"
m2mcert enroll -p pos
is_rc 12 "rejection with badRequest: exit 12"
like "$M2M_ERR" "lab CA: request refused" "badRequest: the CA's status text is printed"
ok "badRequest: nothing written" test ! -e "$CERT"

# ---- a certificate for ANOTHER key (the lab's dev1.lab, dev1.key): ours is not in it
lab_cmp_up --rsp "$LAB_DEV_CERT"
m2mcert enroll -p pos
# the client refuses it in its certConf (status rejection); the CA answers pkiConf, so
# the reason is the client's own (55954ba said 12, "the CA rejected the request")
is_rc 9 "a certificate for another key: exit 9 (CREDENTIAL)"
ok "another key: nothing written" test ! -e "$CERT"
ok "another key: the CA is told in a certConf (RFC 9483 4.1.1, status rejection)" lab_cmp_received CERTCONF

# ---- a certificate that does not chain to enroll.trust (issued by the rogue CA)
lab_cmp_issue "key:$KEY" "$C/rogue.pem" --ca rogue-ca || lab_die "rogue certificate"
lab_cmp_up --rsp "$C/rogue.pem"
m2mcert enroll -p pos
is_rc 8 "a certificate not chaining to trust: exit 8 (AUTH_REMOTE)"
ok "not chaining: nothing written" test ! -e "$CERT"
ok "not chaining: the CA is told in a certConf (refused in the confirmation)" lab_cmp_received CERTCONF

# ---- a certificate that is not valid yet (notBefore in 2 days)
lab_cmp_issue "key:$KEY" "$C/future.pem" --from '+2 days' --to '+20 days' || lab_die "future certificate"
lab_cmp_up --rsp "$C/future.pem"
m2mcert enroll -p pos
# (55954ba said 8, "does not chain ... (no trusted path)", and sent no certConf)
is_rc 10 "a certificate not valid yet: exit 10 (CLOCK)"
ok "not valid yet: nothing written" test ! -e "$CERT"
ok "not valid yet: the CA is told in a certConf (refused in the confirmation)" lab_cmp_received CERTCONF

# ---- polling (RFC 9483 4.4): the mock answers the ir "waiting", then a pollRep with
#      checkAfter 1 s, then the certificate (-poll_count 2); inside the bound
CERT=$C/polled.pem
config timeout=10s
lab_cmp_up --rsp "$C/rsp.pem" -poll_count 2 -check_after 1
m2mcert enroll -p pos
is_rc 0 "polling (checkAfter 1 s) inside the 10 s bound: exit 0"
ok "polling: the client sent pollReq" lab_cmp_received POLLREQ
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/rsp.pem")" "polling: the certificate is written"
cmp_ok "$M2M_MS" -ge 950 "polling: the client waited the checkAfter of 1 s (${M2M_MS} ms)"

# ---- no enroll: section is a configuration error
lab_dev_config pos key="$KEY" cert="$CERT"
m2mcert enroll -p pos
is_rc 3 "no enroll: section: exit 3 (config)"

# ---- a TPM key: keygen in the TPM, the request made there, the ir's PoP signed there
T=$LAB_TPM_TCTI
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE"
is_rc 0 "TPM: keygen --store tpm"
lab_keys_config tpm tpm dev-tpm.lab "cert: $C/dev-tpm.pem" "tcti: \"$T\"" "handle: $LAB_TPM_HANDLE"
lab_cmp_issue profile:tpm "$C/rsp-tpm.pem" --cn dev-tpm.lab --serial 150b01 || lab_die "TPM certificate"
lab_cmp_enroll_yaml subject=CN=dev-tpm.lab san=dev-tpm.lab | sed 's/^/      /' >> "$M2M_CONFIG_FILE"
lab_cmp_up --rsp "$C/rsp-tpm.pem"
m2mcert enroll -p tpm
is_rc 0 "TPM: enroll -p tpm (PBM, PoP signed by the TPM key): exit 0"
ok "TPM: the mock got an ir" lab_cmp_received IR
is "$(lab_cmp_der "$C/dev-tpm.pem")" "$(lab_cmp_der "$C/rsp-tpm.pem")" "TPM: auth.cert is the certificate the CA issued"
is "$(stat -c %a "$C/dev-tpm.pem" 2>/dev/null)" 644 "TPM: mode 0644"
m2mcert show -p tpm --json
is "$(jget matches_key <<< "$M2M_OUT")" true "TPM: show says the certificate matches the TPM key"
m2m up tpm --timeout 20
is_rc 0 "TPM: up with the enrolled certificate: exit 0"
ok "TPM: a CHILD_SA is installed on the device" lab_child_installed dev
ok "TPM: traffic through the tunnel" lab_ping_inner 3
ok "TPM: the gateway authenticated dev-tpm.lab" eval 'lab_sas gw | grep -q "remote-id=dev-tpm.lab"'
m2m down tpm

done_testing
