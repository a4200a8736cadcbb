#!/bin/bash
# 154-cert-https.t - m2mvpn-cert enroll, renew and revoke with the CA's CMP server over
#   https (RFC 6712 3.1: the HTTP transfer may run inside TLS; RFC 9483 6.1), against
#   OpenSSL's CMP mock behind lighttpd terminating TLS (tests/lab/cmp.sh lab_cmp_tls_up),
#   then the real tunnel with the certificate enrolled so.
#   The server's TLS certificate is checked (RFC 9110 4.3.4, RFC 6125): it must chain to
#   enroll.tls_ca (default the system's CA certificates) and name the URL's host: an
#   address against its iPAddress names, a name against its dNSName names.
#   - enroll, renew (kur), revoke (rr) over https: exit 0, the messages went through TLS
#     (the mock got them from lighttpd) and nothing reached the mock's port in clear from
#     the device;
#   - a certificate from another CA, one for another address, a name in the URL that the
#     certificate does not have, the lab CA not given (the system's CAs do not know it): 8
#     (AUTH_REMOTE), the line names the TLS certificate and why, nothing asked of the CA,
#     nothing written; a name it has: enrolled;
#   - a certificate that expired, one not valid yet: 10 (CLOCK), its dates and our clock;
#   - an https URL at a plain-HTTP server: 12 (PROTOCOL), "not a TLS server?";
#   - a peer that accepts and never does the handshake, a server that does it and never
#     answers: 5 within --timeout 2 + 100 ms;
#   - the config: tls_ca with an http:// server, a tls_ca file that cannot be read: 3, also
#     when the server cannot be reached (the file is read before any network step).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_require_tool
command -v lighttpd > /dev/null && [ -e /usr/lib/lighttpd/mod_openssl.so ] ||
	{ echo "1..0 # SKIP lighttpd with mod_openssl missing (scripts/deps.sh)"; exit 0; }
lab_up
lab_cmp_pki

C=$LAB_CMP_DIR
KEY=$C/dev.key CERT=$C/dev.pem
SLACK=${LOAD_SLACK_MS:-300}
config() { lab_cmp_config pos "$KEY" "$CERT" server="$LAB_CMP_TLS_URL" tls_ca="$LAB_CA" "$@"; }
# refused RC WHAT PATTERN: the enroll just run failed with RC, one line matching PATTERN,
# nothing was asked of the CA and nothing written
refused() {
	note "$2: exit $M2M_RC: $M2M_ERR"
	is_rc "$1" "$2: exit $1"
	ok "$2: one line" one_line "$M2M_ERR"
	like "$M2M_ERR" "$3" "$2: the line says why"
	is "$(lab_cmp_requests)" 0 "$2: nothing asked of the CA"
	ok "$2: nothing written" test ! -e "$CERT"
}

m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen --store file: the device's key"
lab_cmp_issue "key:$KEY" "$C/rsp.pem" --serial 154a01 --from '-1 hour' --to '+10 days' ||
	lab_die "pre-issuing the certificate"
lab_cmp_up --rsp "$C/rsp.pem"
lab_cmp_tls_up
lab_cap_start cmp dev "$LAB_IF_A"

# ---- enrolment over https
config
m2mcert enroll -p pos
is_rc 0 "enroll over https: exit 0"
like "$M2M_OUT" "^pos: enrolled .*dev1\\.lab" "enroll over https: the line names what was enrolled"
ok "the mock got the ir (through lighttpd)" lab_cmp_received IR
ok "... and the certConf" lab_cmp_received CERTCONF
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/rsp.pem")" "auth.cert is the certificate the CA issued"
lab_cap_stop cmp
is "$(lab_cap_count cmp "tcp port $LAB_CMP_PORT")" 0 "no packet to or from the mock's own port on the device's link"
cmp_ok "$(lab_cap_count cmp "tcp port $LAB_CMP_TLS_PORT")" -ge 6 "the exchanges went to the TLS port"
is "$(lab_cap_count cmp "tcp port $LAB_CMP_TLS_PORT and tcp[((tcp[12] & 0xf0) >> 2):4] = 0x504f5354")" 0 \
	"no HTTP request in clear on the TLS port (no 'POST' at a segment's start)"

# ---- the real tunnel with it
m2m up pos --timeout 20
is_rc 0 "up pos with the certificate enrolled over https"
ok "traffic through the tunnel" lab_ping_inner 3
m2m down pos
is_rc 0 "down pos"

# ---- renewal (kur) and revocation (rr) over https: the mock takes a kur for the
#      certificate with the same issuer and serial (tests/lab/cmp.sh)
lab_cmp_issue "key:$KEY" "$C/renewed.pem" --serial 154a01 --from '-1 hour' --to '+40 days' ||
	lab_die "the renewed certificate"
lab_cmp_up --rsp "$C/renewed.pem"
m2mcert renew -p pos --force
is_rc 0 "renew --force over https: exit 0"
ok "the mock got a kur" lab_cmp_received KUR
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/renewed.pem")" "auth.cert is the renewed certificate"
lab_cmp_up --rsp "$CERT"
m2mcert revoke -p pos
is_rc 0 "revoke over https: exit 0"
ok "the mock got an rr" lab_cmp_received RR

CERT=$C/none.pem
lab_cmp_up --rsp "$C/rsp.pem"

# ---- the server's TLS certificate from another CA
lab_cmp_tls_cert tls-rogue '-1 hour' '+20 days' rogue-ca
lab_cmp_tls_up tls-rogue
config
m2mcert enroll -p pos
refused 8 "a TLS certificate from another CA" "TLS certificate .*(unable to get local issuer|self.signed)"

# ---- the lab CA's certificate, but for another host (the URL names 10.99.0.1)
lab_cmp_tls_cert tls-other '-1 hour' '+20 days' ca other.lab 10.99.0.9
lab_cmp_tls_up tls-other
m2mcert enroll -p pos
refused 8 "a TLS certificate for another host" "TLS certificate .*(IP address|host).*mismatch"

# ---- tls_ca not given: the system's CA certificates do not know the lab CA
lab_cmp_tls_up cmp-tls
lab_cmp_config pos "$KEY" "$CERT" server="$LAB_CMP_TLS_URL"
m2mcert enroll -p pos
refused 8 "no tls_ca (the system's CAs)" "TLS certificate .*(unable to get local issuer|self.signed)"

# ---- out of its dates: CLOCK, with the dates and our clock
lab_cmp_tls_cert tls-expired '-20 days' '-1 day'
lab_cmp_tls_up tls-expired
config
m2mcert enroll -p pos
refused 10 "an expired TLS certificate" "TLS certificate .*expired on 20[0-9-]+"
lab_cmp_tls_cert tls-future '+2 days' '+20 days'
lab_cmp_tls_up tls-future
m2mcert enroll -p pos
refused 10 "a TLS certificate not valid yet" "TLS certificate .*not valid before 20[0-9-]+.*clock"
lab_cmp_tls_up cmp-tls
m2mcert enroll -p pos
is_rc 0 "the good certificate again: enrolled (the cases above were the certificate's doing)"
CERT=$C/none2.pem

# ---- a name in the URL: checked against the certificate's DNS names (and sent as SNI);
#      `ip netns exec` puts /etc/netns/NS/hosts in place of /etc/hosts for the device
if [ -d /etc/netns ]; then lab_on_exit "rm -rf /etc/netns/$NS_DEV"
else lab_on_exit "rm -rf /etc/netns/$NS_DEV; rmdir /etc/netns"; fi
mkdir -p "/etc/netns/$NS_DEV" || lab_die "mkdir /etc/netns/$NS_DEV"
printf '127.0.0.1 localhost\n%s ca.lab wrong.lab\n' "$LAB_GW_IP" > "/etc/netns/$NS_DEV/hosts"
lab_cmp_up --rsp "$C/rsp.pem"
lab_cmp_config pos "$KEY" "$CERT" server="https://wrong.lab:$LAB_CMP_TLS_PORT/pkix/" tls_ca="$LAB_CA"
m2mcert enroll -p pos
refused 8 "a name the TLS certificate does not have" "TLS certificate .*[Hh]ostname mismatch"
lab_cmp_config pos "$KEY" "$CERT" server="https://ca.lab:$LAB_CMP_TLS_PORT/pkix/" tls_ca="$LAB_CA"
m2mcert enroll -p pos
is_rc 0 "a name the TLS certificate has (ca.lab): enrolled"
CERT=$C/none3.pem

# ---- https at a plain-HTTP server (the mock itself)
lab_cmp_up --rsp "$C/rsp.pem"
mock_port=$LAB_CMP_PORT
lab_cmp_config pos "$KEY" "$CERT" server="https://$LAB_GW_IP:$mock_port/pkix/" tls_ca="$LAB_CA"
m2mcert enroll -p pos --timeout 5
note "https at a plain-HTTP server: exit $M2M_RC after $M2M_MS ms: $M2M_ERR"
is_rc 12 "https at a plain-HTTP server: exit 12"
like "$M2M_ERR" "not a TLS server" "... the line says it is not a TLS server"
cmp_ok "$M2M_MS" -le $((2000 + SLACK)) "... at once, not at the end of --timeout"
ok "... nothing written" test ! -e "$CERT"

# ---- a peer that accepts and never does the handshake
lab_cmp_silent
lab_cmp_config pos "$KEY" "$CERT" server="https://$LAB_GW_IP:$LAB_CMP_PORT/pkix/" tls_ca="$LAB_CA" timeout=30s
m2mcert enroll -p pos --timeout 2
note "silent TLS peer: exit $M2M_RC after $M2M_MS ms: $M2M_ERR"
is_rc 5 "a peer that never does the TLS handshake: exit 5"
cmp_ok "$M2M_MS" -le $((2000 + 100 + SLACK)) "... within --timeout 2 + 100 ms (+ ${SLACK} ms load slack)"
cmp_ok "$M2M_MS" -ge 1900 "... having waited for its --timeout"
like "$M2M_ERR" "TLS handshake" "... the line names the TLS handshake"

# ---- a server that does the handshake and then never answers (lighttpd before the silent
#      peer): the exchange inside TLS holds the same bound
lab_cmp_tls_up cmp-tls
lab_cmp_config pos "$KEY" "$CERT" server="$LAB_CMP_TLS_URL" tls_ca="$LAB_CA" timeout=30s
m2mcert enroll -p pos --timeout 2
note "silent server behind TLS: exit $M2M_RC after $M2M_MS ms: $M2M_ERR"
is_rc 5 "TLS done, then no answer: exit 5"
cmp_ok "$M2M_MS" -le $((2000 + 100 + SLACK)) "... within --timeout 2 + 100 ms (+ ${SLACK} ms load slack)"
cmp_ok "$M2M_MS" -ge 1900 "... having waited for its --timeout"
like "$M2M_ERR" "exchanging a message" "... the line says the exchange went unanswered"

# ---- the config
lab_cmp_config pos "$KEY" "$CERT" tls_ca="$LAB_CA"
m2mcert enroll -p pos
is_rc 3 "tls_ca with an http:// server: exit 3"
like "$M2M_ERR" "tls_ca is for an https:// server" "... the line says so"
lab_cmp_up --rsp "$C/rsp.pem"
lab_cmp_tls_up cmp-tls
config tls_ca="$C/no-such-ca.pem"
m2mcert enroll -p pos
is_rc 3 "a tls_ca file that does not exist: exit 3"
like "$M2M_ERR" "no-such-ca\\.pem" "... the line names it"
is "$(lab_cmp_requests)" 0 "... nothing asked of the CA"
lab_cmp_config pos "$KEY" "$CERT" server="https://$LAB_GW_IP:$(lab_cmp_free_port)/pkix/" \
	tls_ca="$C/no-such-ca.pem"
m2mcert enroll -p pos
is_rc 3 "a tls_ca file that does not exist, the server not reachable: still 3"
m2mcert doctor -p pos
like "$M2M_OUT$M2M_ERR" "enroll.tls_ca cannot be read: .*no-such-ca\\.pem" "doctor says the tls_ca file cannot be read"
config
m2mcert doctor -p pos
like "$M2M_OUT" "enroll.tls_ca holds .*m2m lab root CA" "doctor: the tls_ca file holds the lab CA"
done_testing
