#!/bin/bash
# 153-cert-proof.t - a replaced certificate is proven on the tunnel before it is let go
#   (m2mvpn-cert(1) enroll/renew, m2mvpn-connect(1) up, m2m.yaml(5) FILES: auth.cert.prev).
#   The certificate a run replaces waits as <auth.cert>.prev until an IKE SA came up with the
#   new one; the gateway refusing the new one brings the previous one back while it is valid.
#   On the real lab: OpenSSL's CMP mock hands out the new certificate (tests/lab/cmp.sh) and
#   the gateway's charon decides. A "new" certificate the gateway must refuse comes from the
#   lab's rogue CA, which enroll.trust names beside the lab CA (the CA changed its issuer, and
#   the gateway was not told). A strongSwan gateway keeps the certificates it received and
#   takes the same key on the strength of an old one, so before each proof that must be
#   refused, the gateway's certificate cache is flushed (swanctl --flush-certs).
#   Cases: the profile down: proven at once (the tunnel up and down again, .prev gone);
#   refused at once (exit 7, the previous certificate back, both serials named); the profile
#   up: pending (exit 0, a warning, .prev kept), then proven by the next up; pending, then
#   refused at the next up (the previous one back, up still succeeds with it); pending with
#   an expired previous certificate: refused, nothing to fall back to (exit 7, no swap).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_require_tool
lab_up
lab_cmp_pki

C=$LAB_CMP_DIR
KEY=$C/dev.key CERT=$C/dev.pem PREV=$C/dev.pem.prev
cat "$LAB_CA" "$LAB/pki/rogue-ca.pem" > "$C/trust-both.pem"
config() { lab_cmp_config pos "$KEY" "$CERT" trust="$C/trust-both.pem"; }
flush_gw() { lab_swanctl gw --flush-certs --type x509 > /dev/null 2>&1; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
gw_established() { grep -c "IKE_SA rw-cert\[[0-9]*\] established" "$LAB/gw/charon.log"; }

m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen --store file"
lab_cmp_issue "key:$KEY" "$C/old.pem" --serial 153a01 &&
lab_cmp_issue "key:$KEY" "$C/new.pem" --serial 153a02 &&
lab_cmp_issue "key:$KEY" "$C/rogue.pem" --serial 153a03 --ca rogue-ca &&
lab_cmp_issue "key:$KEY" "$C/old-exp.pem" --serial 153a04 --from '-40 days' --to '-1 day' ||
	lab_die "pre-issuing certificates"

# ---- the profile down: the new certificate proven at once
cp "$C/old.pem" "$CERT"
lab_cmp_up --rsp "$C/new.pem"
config   # after the mock: its URL (a restart keeps the port)
flush_gw
n=$(gw_established)
m2mcert enroll -p pos --json
is_rc 0 "enroll over a certificate, the profile down: exit 0"
is "$(jget proof <<< "$M2M_OUT")" proven "... --json says proof proven"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/new.pem")" "... auth.cert is the new certificate"
nok "... no .prev left: the new one is proven" test -e "$PREV"
ok "... the gateway saw an IKE SA come up for the proof" test "$(gw_established)" -gt "$n"
m2m status pos
is_rc 15 "... and the on-demand profile is down again, as it was (status: 15)"

# ---- the profile down, the gateway refuses the new certificate: the previous one back
cp "$C/old.pem" "$CERT"
lab_cmp_up --rsp "$C/rogue.pem"
flush_gw
m2mcert enroll -p pos
is_rc 7 "the gateway refuses the new certificate (a CA it does not trust): exit 7"
like "$M2M_ERR" "refused the new certificate \\(serial $(serial_of "$C/rogue.pem")" "... the message names the refused serial"
like "$M2M_ERR" "the previous one is back in $CERT \\(serial $(serial_of "$C/old.pem")\\)" "... and the one back in place"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/old.pem")" "... auth.cert is the previous certificate again"
nok "... no .prev left" test -e "$PREV"
m2m up pos --timeout 10
is_rc 0 "... and the tunnel comes up with it"
m2m down pos

# ---- the profile up: pending, then proven by the next IKE SA
cp "$C/old.pem" "$CERT"
m2m up pos --timeout 10
is_rc 0 "up with the old certificate"
lab_cmp_up --rsp "$C/new.pem"
m2mcert enroll -p pos --json
is_rc 0 "enroll while the tunnel is up: exit 0"
is "$(jget proof <<< "$M2M_OUT")" pending "... proof pending"
like "$(jget proof_detail <<< "$M2M_OUT")" "up with the previous certificate" "... because the tunnel is up with the previous one"
ok "... the previous certificate waits as .prev" test -s "$PREV"
is "$(lab_cmp_der "$PREV")" "$(lab_cmp_der "$C/old.pem")" "... .prev is the previous certificate"
m2mcert enroll -p pos
like "$M2M_ERR" "warning: not proven on the tunnel yet" "... the text form warns on stderr"
m2m status pos
is_rc 0 "status: up"
ok "... a status settles nothing: .prev kept" test -e "$PREV"
m2m down pos
flush_gw
m2m up pos --timeout 10 -v
is_rc 0 "down, then up (a new IKE SA): exit 0"
nok "... .prev removed: the new certificate is proven" test -e "$PREV"
like "$M2M_ERR" "proven on the tunnel" "... -v says so"
m2m down pos

# ---- pending, then refused at the next up: the previous certificate back, up succeeds
cp "$C/rogue.pem" "$CERT"; cp "$C/old.pem" "$PREV"
flush_gw
m2m up pos --timeout 10
is_rc 0 "up with a pending certificate the gateway refuses: exit 0 (with the previous one)"
like "$M2M_ERR" "refused the renewed certificate; the previous one is back" "... a warning says the previous one is back"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/old.pem")" "... auth.cert is the previous certificate"
nok "... no .prev left" test -e "$PREV"
m2m down pos

# ---- pending with an expired previous certificate: nothing to fall back to
cp "$C/rogue.pem" "$CERT"; cp "$C/old-exp.pem" "$PREV"
flush_gw
m2m up pos --timeout 10
is_rc 7 "refused, and the previous certificate expired: exit 7"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/rogue.pem")" "... auth.cert left as it is (no expired certificate put back)"
ok "... .prev kept for a person to look at" test -e "$PREV"
done_testing
