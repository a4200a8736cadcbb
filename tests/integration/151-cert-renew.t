#!/bin/bash
# 151-cert-renew.t - m2mvpn-cert renew: CMP key update request (RFC 9483 4.1.3, kur) for the
#   same key, signed with the current certificate and key; and m2mvpn-cert revoke (RFC 9483
#   4.2, rr). Against OpenSSL's CMP mock (tests/lab/cmp.sh).
#   Contract (../notes/cmp-contract.md): renew only when due (within 30 days of the end)
#   unless --force; not due: exit 0 "pos: not due for renewal until DATE" and nothing is
#   sent; renewed: written as enroll does (0644, PEM, matches the key); a current
#   certificate out of its dates: exit 10 (CLOCK), nothing sent (renew and revoke).
#
#   The 3.0 mock answers a kur only for the certificate whose issuer and serial equal its
#   -rsp_cert (../shared/lab/pki.md 1.3), and RFC 9483 4.1.3 makes the client name the
#   certificate it updates in oldCertID: so the renewed certificate here has the SAME
#   issuer and serial as the current one and later dates (a CA would give a new serial;
#   the mock cannot check that anyway). The two certificates differ in every byte that
#   matters to the test: dates and signature.
#   The mock's secret for this part is NOT the device's: a kur that is MAC-protected
#   instead of signed is refused, so exit 0 shows the kur was signed (RFC 9483 4.1.3).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_require_tool
lab_up
lab_cmp_pki

C=$LAB_CMP_DIR
KEY=$C/dev.key CERT=$C/dev.pem
config() { lab_cmp_config pos "$KEY" "$CERT"; }
# the mock for signed requests only: its PBM secret is not the device's
mock_signed() { lab_cmp_up --rsp "$1" -srv_secret "pass:not-the-device-secret-$(_lab_rand 4)"; }

m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen --store file"
# current certificates: not due (ends in 60 days), due (ends in 20 days, inside 30), expired
lab_cmp_issue "key:$KEY" "$C/cur-60.pem" --serial 151a01 --from '-1 day' --to '+60 days' &&
lab_cmp_issue "key:$KEY" "$C/cur-20.pem" --serial 151a02 --from '-40 days' --to '+20 days' &&
lab_cmp_issue "key:$KEY" "$C/new-20.pem" --serial 151a02 --from '-1 hour' --to '+50 days' &&
lab_cmp_issue "key:$KEY" "$C/cur-exp.pem" --serial 151a03 --from '-40 days' --to '-1 day' ||
	lab_die "pre-issuing certificates"

# ---- not due: nothing is sent
cp "$C/cur-60.pem" "$CERT"; chmod 0644 "$CERT"
mock_signed "$C/new-20.pem"
config
before=$(lab_cmp_sum "$CERT")
m2mcert renew -p pos
is_rc 0 "renew, not due (60 days left): exit 0"
end=$(date -u -d "$(openssl x509 -in "$CERT" -noout -enddate | sed 's/^notAfter=//')" +%s)
due=$(date -u -d "@$((end - 30 * 86400))" +%Y-%m-%d)
# the contract's "until DATE" (the day it becomes due), or "until 30 days before NOTAFTER"
like "$M2M_OUT" "^pos: not due for renewal until ($due|30 days before $(date -u -d "@$end" +%Y-%m-%d))" \
	"not due: the line says when renewal is due"
is "$(lab_cmp_requests)" 0 "not due: nothing sent to the CA"
is "$(lab_cmp_sum "$CERT")" "$before" "not due: the certificate is untouched"

# ---- due (20 days left): kur signed with the current certificate, the same key
cp "$C/cur-20.pem" "$CERT"; chmod 0600 "$CERT"
m2mcert renew -p pos
is_rc 0 "renew, due (20 days left): exit 0"
ok "due: the mock got a kur (RFC 9483 4.1.3), not an ir" eval 'lab_cmp_received KUR && ! lab_cmp_received IR'
ok "due: and confirmed it (certConf)" lab_cmp_received CERTCONF
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/new-20.pem")" "due: auth.cert is the renewed certificate"
is "$(stat -c %a "$CERT")" 644 "due: written with mode 0644"
t=$(date -u -d "$(openssl x509 -in "$C/new-20.pem" -noout -enddate | sed 's/^notAfter=//')" '+%Y-%m-%d %H:%M:%S')
like "$M2M_OUT" "serial (0x)?0*151[aA]02.*valid until ($t UTC|${t/ /T}Z) \\($CERT\\)" \
	"due: the line names serial, the new notAfter and the file"
m2mcert show -p pos --json
is "$(jget matches_key <<< "$M2M_OUT")" true "due: the renewed certificate matches the key"

# ---- the tunnel with the renewed certificate
m2m up pos --timeout 20
is_rc 0 "up with the renewed certificate: exit 0"
ok "a CHILD_SA is installed on the device" lab_child_installed dev
ok "traffic through the tunnel" lab_ping_inner 3
m2m down pos

# ---- --force, not due: renews anyway
cp "$C/cur-60.pem" "$CERT"
lab_cmp_issue "key:$KEY" "$C/new-60.pem" --serial 151a01 --from '-1 hour' --to '+90 days' || lab_die "new-60"
mock_signed "$C/new-60.pem"
m2mcert renew -p pos --force
is_rc 0 "renew --force, not due: exit 0"
ok "--force: a kur was sent" lab_cmp_received KUR
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/new-60.pem")" "--force: auth.cert is the renewed certificate"

# ---- the current certificate expired: CLOCK, nothing sent (with and without --force)
cp "$C/cur-exp.pem" "$CERT"
mock_signed "$C/cur-exp.pem"
before=$(lab_cmp_sum "$CERT")
m2mcert renew -p pos
is_rc 10 "renew with an expired certificate: exit 10 (CLOCK)"
m2mcert renew -p pos --force
is_rc 10 "renew --force with an expired certificate: exit 10"
if "$M2M_BIN_DIR/m2mvpn-cert" --help 2>&1 | grep -qw revoke; then
	m2mcert revoke -p pos
	is_rc 10 "revoke with an expired certificate: exit 10 (CLOCK)"
else
	skip "revoke with an expired certificate" "m2mvpn-cert has no revoke command yet"
fi
is "$(lab_cmp_requests)" 0 "expired: nothing sent to the CA"
is "$(lab_cmp_sum "$CERT")" "$before" "expired: the certificate is untouched"

# ---- revoke (rr, RFC 9483 4.2), signed with the current certificate
if "$M2M_BIN_DIR/m2mvpn-cert" --help 2>&1 | grep -qw revoke; then
	cp "$C/new-60.pem" "$CERT"
	mock_signed "$C/new-60.pem"
	m2mcert revoke -p pos
	is_rc 0 "revoke -p pos: exit 0"
	ok "revoke: the mock got an rr" lab_cmp_received RR
else
	skip_n 2 "m2mvpn-cert has no revoke command yet"
fi

done_testing
