#!/bin/bash
# 115-keys-pkcs11-import.t - a key made elsewhere, put on a smartcard (SoftHSM2):
#   the lab CA's PKCS#12 (EC P-256) goes onto the token with m2mvpn-cert import --store
#   pkcs11: private key (sensitive, not extractable), public key and certificate under
#   one CKA_ID. show and doctor see it, the tunnel comes up with it and carries traffic.
#   A wrong PKCS#12 PIN: exit 9 and nothing on the token. An id in use is not replaced
#   without --force. An RSA key with its certificate in one PEM file goes on too. The
#   token PIN policy holds: a wrong token PIN once (exit 9), then not tried (exit 13).
#   Neither PIN is ever in /proc/*/cmdline or environ while the tool runs.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

M=$LAB_P11_MODULE
K=$LAB/pki/imp
P11=(--store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 02)
p11list() {
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login \
		--pin "$(cat "$LAB_P11_PIN_FILE")" --list-objects 2> /dev/null
}

# the device's key and certificate as a PKCS#12, as a provisioning station would hand it over
(umask 077
 printf 'p12-%s%s' "$RANDOM" "$RANDOM" > "$K.p12pin"
 printf 'not-the-p12-pin' > "$K.badpin")
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K.key" 2> /dev/null
openssl req -new -key "$K.key" -subj "/CN=dev-imp.lab" -out "$K.csr"
ok "the lab CA issues dev-imp.lab" lab_keys_issue "$K.csr" dev-imp dev-imp.lab
ok "PKCS#12 with key, certificate and CA" quiet openssl pkcs12 -export -inkey "$K.key" \
	-in "$LAB/pki/dev-imp.pem" -certfile "$LAB_CA" -passout file:"$K.p12pin" -out "$K.p12"

# ---- a wrong PKCS#12 PIN
m2mcert import "${P11[@]}" --label dev-imp --pin-file "$LAB_P11_PIN_FILE" --src-pin-file "$K.badpin" "$K.p12"
is_rc 9 "wrong PKCS#12 PIN: exit 9"
like "$M2M_ERR" "wrong PIN" "wrong PKCS#12 PIN: said so"
ok "wrong PKCS#12 PIN: one line" one_line "$M2M_ERR"
is "$(p11list | grep -c 'ID: *02')" 0 "wrong PKCS#12 PIN: nothing was put on the token"

# ---- the import
lab_keys_scanned "$LAB_P11_PIN_FILE $K.p12pin" m2mcert import "${P11[@]}" --label dev-imp \
	--pin-file "$LAB_P11_PIN_FILE" --src-pin-file "$K.p12pin" "$K.p12"
is_rc 0 "import --store pkcs11 of the PKCS#12: exit 0"
like "$M2M_OUT" "ecdsa-p256 key imported into pkcs11:token=$LAB_P11_TOKEN;id=02" "import: says where"
OBJS=$(p11list)
like "$OBJS" "Private Key Object; EC" "a private key object is on the token"
like "$OBJS" "Public Key Object; EC" "a public key object is on the token"
like "$OBJS" "Certificate Object; type = X.509 cert" "a certificate object is on the token"
is "$(grep -c 'ID: *02' <<< "$OBJS")" 3 "all three under CKA_ID 02"
is "$(grep -c 'label: *dev-imp' <<< "$OBJS")" 3 "all three labelled dev-imp"
like "$OBJS" "subject: *DN: C=XX, O=m2m test lab, CN=dev-imp.lab" "the certificate's CKA_SUBJECT"
# the private key cannot leave the token
FLAGS=$(GNUTLS_PIN=$(cat "$LAB_P11_PIN_FILE") p11tool --provider "$M" --login --list-privkeys \
	"pkcs11:token=$LAB_P11_TOKEN;id=%02" 2> /dev/null)
like "$FLAGS" "CKA_SENSITIVE" "the private key is sensitive (p11tool)"
unlike "$FLAGS" "CKA_EXTRACTABLE" "the private key is not extractable (p11tool)"
pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login --pin "$(cat "$LAB_P11_PIN_FILE")" \
	--read-object --type privkey --id 02 -o "$K.stolen" > "$LAB/log/steal.out" 2>&1
nok "a pkcs11-tool read of the private key gives nothing" test -s "$K.stolen"

m2mcert import "${P11[@]}" --pin-file "$LAB_P11_PIN_FILE" --src-pin-file "$K.p12pin" "$K.p12"
is_rc 9 "import again: the id in use is not replaced (exit 9)"
like "$M2M_ERR" "already there" "import again: said so"

# ---- show, doctor, the tunnel
AUTH=("module: $M" "token: $LAB_P11_TOKEN" "id: \"02\"")
lab_keys_config imp pkcs11 dev-imp.lab "${AUTH[@]}" "pin: {file: $LAB_P11_PIN_FILE}"
m2mcert show -p imp --json
is_rc 0 "show -p imp --json: exit 0"
is "$(jget subject <<< "$M2M_OUT")" "/C=XX/O=m2m test lab/CN=dev-imp.lab" "show: the imported certificate, from the token"
is "$(jget key.store <<< "$M2M_OUT")" pkcs11 "show: key store pkcs11"
is "$(jget matches_key <<< "$M2M_OUT")" true "show: the certificate matches the token key"
m2mcert doctor imp
is_rc 0 "doctor imp: every check passes"
like "$M2M_OUT" "PIN retries: ok" "doctor: the PIN retries"
lab_keys_scanned "$LAB_P11_PIN_FILE" m2m up imp --timeout 20
is_rc 0 "up with the imported token key: exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev-imp.lab" eval 'lab_sas gw | grep -q "remote-id=dev-imp.lab"'
ok "charon used the token (log)" grep -qE "found key on PKCS#11 token|loaded (ECDSA|RSA) private key from token" "$LAB/dev/charon.log"
m2m down imp
is_rc 0 "down: exit 0"

# ---- RSA, key and certificate in one PEM file, replacing with --force
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K-rsa.key" 2> /dev/null
openssl req -new -key "$K-rsa.key" -subj "/CN=dev-imp.lab" -out "$K-rsa.csr"
lab_keys_issue "$K-rsa.csr" dev-imp-rsa dev-imp.lab
cat "$K-rsa.key" "$LAB/pki/dev-imp-rsa.pem" > "$K-rsa.both.pem"
chmod 600 "$K-rsa.both.pem"   # a private key: only its owner may read it
m2mcert import "${P11[@]}" --label dev-imp-rsa --pin-file "$LAB_P11_PIN_FILE" --force "$K-rsa.both.pem"
is_rc 0 "import --force of an RSA PEM key with its certificate: exit 0"
like "$M2M_OUT" "rsa-2048 key imported" "import: an RSA key"
OBJS=$(p11list)
is "$(grep -c 'ID: *02' <<< "$OBJS")" 3 "the old objects are gone, three new ones under id 02"
like "$OBJS" "Private Key Object; RSA" "an RSA private key on the token"
m2mcert csr "${P11[@]}" --pin-file "$LAB_P11_PIN_FILE" --subject CN=dev-imp.lab -o "$K-rsa2.csr"
is_rc 0 "csr signed by the imported RSA key: exit 0"
ok "the CSR verifies" quiet openssl req -in "$K-rsa2.csr" -noout -verify
m2mcert show -p imp --json
is "$(jget matches_key <<< "$M2M_OUT")" true "show: the RSA certificate matches the token key"

# ---- the token's PIN policy holds for import: one try, then none while retries are low
P11B=(--store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 03)
m2mcert import "${P11B[@]}" --pin-file "$LAB_P11_WRONG_PIN_FILE" --src-pin-file "$K.p12pin" "$K.p12"
is_rc 9 "import with a wrong token PIN: exit 9"
like "$M2M_ERR" "wrong PIN \(not retried" "wrong token PIN: said so"
m2mcert import "${P11B[@]}" --pin-file "$LAB_P11_PIN_FILE" --src-pin-file "$K.p12pin" "$K.p12"
is_rc 13 "import again while retries are low: exit 13, the PIN not tried"
like "$M2M_ERR" "not tried" "the refusal says the PIN was not tried"
is "$(p11list | grep -c 'ID: *03')" 0 "nothing was put on the token under id 03"
ok "a person logs in once (resets the counter)" lab_p11_reset_counter
m2mcert import "${P11B[@]}" --pin-file "$LAB_P11_PIN_FILE" --src-pin-file "$K.p12pin" "$K.p12"
is_rc 0 "then the import works: exit 0"

nok "the token PIN is not in the tool's output" grep -qF -- "$(cat "$LAB_P11_PIN_FILE")" "$LAB/log/m2m.history"
nok "the PKCS#12 PIN is not in the tool's output" grep -qF -- "$(cat "$K.p12pin")" "$LAB/log/m2m.history"
cmp_ok "$(lab_keys_scan_watched)" -ge 1 "/proc sampler saw the tool running"
is "$(lab_keys_scan_hits)" "" "no PIN in any /proc/*/cmdline or environ while the tool ran"
done_testing
