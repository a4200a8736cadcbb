#!/bin/bash
# 105-keys-tpm-import.t - a key made elsewhere, put into the TPM (swtpm behind tpm2-abrmd):
#   the lab CA's PKCS#12 (EC P-256) imported with m2mvpn-cert import --store tpm
#   (TPM2_Import under the storage primary, persistent, fixed ecdsa-sha256 scheme, not
#   fixedTPM: the key was not made in this TPM). show and doctor see it, the tunnel comes
#   up with it and carries traffic. A wrong PKCS#12 PIN: exit 9, nothing at the handle.
#   A handle in use is not replaced without --force. An RSA key from one PEM file (key
#   and certificate) gets the rsassa-sha256 scheme and signs.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

T=$LAB_TPM_TCTI
H=0x81010004
H2=0x81010005
K=$LAB/pki/timp
export TPM2TOOLS_TCTI=$T
persistent() { tpm2_getcap handles-persistent 2> /dev/null | grep -ci "$1"; }

(umask 077
 printf 'p12-%s%s' "$RANDOM" "$RANDOM" > "$K.p12pin"
 printf 'not-the-p12-pin' > "$K.badpin")
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K.key" 2> /dev/null
openssl req -new -key "$K.key" -subj "/CN=dev-timp.lab" -out "$K.csr"
ok "the lab CA issues dev-timp.lab" lab_keys_issue "$K.csr" dev-timp dev-timp.lab
ok "PKCS#12 with key, certificate and CA" quiet openssl pkcs12 -export -inkey "$K.key" \
	-in "$LAB/pki/dev-timp.pem" -certfile "$LAB_CA" -passout file:"$K.p12pin" -out "$K.p12"

# ---- a wrong PKCS#12 PIN
m2mcert import --store tpm --tcti "$T" --handle $H --src-pin-file "$K.badpin" "$K.p12"
is_rc 9 "wrong PKCS#12 PIN: exit 9"
like "$M2M_ERR" "wrong PIN" "wrong PKCS#12 PIN: said so"
ok "wrong PKCS#12 PIN: one line" one_line "$M2M_ERR"
is "$(persistent $H)" 0 "wrong PKCS#12 PIN: nothing at $H"

# ---- the import; the certificate of the PKCS#12 is written out for the profile
lab_keys_scanned "$K.p12pin" m2mcert import --store tpm --tcti "$T" --handle $H \
	--src-pin-file "$K.p12pin" --cert "$LAB/pki/dev-timp.crt" "$K.p12"
is_rc 0 "import --store tpm of the PKCS#12: exit 0"
like "$M2M_OUT" "ecdsa-p256 key imported into tpm:$H" "import: says where"
like "$M2M_OUT" "scheme ecdsa-sha256" "import: the key has the fixed ecdsa-sha256 scheme"
is "$(persistent $H)" 1 "the key is persistent at $H"
ok "the PKCS#12's certificate was written" cmp <(openssl x509 -in "$LAB/pki/dev-timp.crt" -outform der) \
	<(openssl x509 -in "$LAB/pki/dev-timp.pem" -outform der)
ATTR=$(tpm2_readpublic -c $H 2> /dev/null | sed -n '/^attributes:/,/raw:/p')
like "$ATTR" "sign" "TPM attributes: sign"
like "$ATTR" "userwithauth" "TPM attributes: userwithauth"
unlike "$ATTR" "fixedtpm" "TPM attributes: not fixedTPM (the key came from outside)"
unlike "$ATTR" "sensitivedataorigin" "TPM attributes: not sensitiveDataOrigin"
m2mcert import --store tpm --tcti "$T" --handle $H --src-pin-file "$K.p12pin" "$K.p12"
is_rc 9 "import again: the handle in use is not replaced (exit 9)"
like "$M2M_ERR" "already at handle" "import again: said so"

# ---- show, doctor, the tunnel
lab_keys_config timp tpm dev-timp.lab "cert: $LAB/pki/dev-timp.crt" "tcti: \"$T\"" "handle: $H"
m2mcert show -p timp --json
is_rc 0 "show -p timp --json: exit 0"
is "$(jget key.store <<< "$M2M_OUT")" tpm "show: key store tpm"
is "$(jget matches_key <<< "$M2M_OUT")" true "show: the certificate matches the TPM key"
m2mcert doctor timp
is_rc 0 "doctor timp: every check passes"
like "$M2M_OUT" "reachable through TCTI $T" "doctor names the TCTI"
m2m up timp --timeout 20
is_rc 0 "up with the imported TPM key: exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev-timp.lab" eval 'lab_sas gw | grep -q "remote-id=dev-timp.lab"'
ok "charon signed with the TPM (log)" grep -q "ECDSA_WITH_SHA256_DER successful" "$LAB/dev/charon.log"
m2m down timp
is_rc 0 "down: exit 0"

# ---- RSA from one PEM file (key and certificate)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K-rsa.key" 2> /dev/null
openssl req -new -key "$K-rsa.key" -subj "/CN=dev-timp.lab" -out "$K-rsa.csr"
lab_keys_issue "$K-rsa.csr" dev-timp-rsa dev-timp.lab
cat "$K-rsa.key" "$LAB/pki/dev-timp-rsa.pem" > "$K-rsa.both.pem"
chmod 600 "$K-rsa.both.pem"   # a private key: only its owner may read it
m2mcert import --store tpm --tcti "$T" --handle $H2 "$K-rsa.both.pem"
is_rc 0 "import of an RSA PEM key: exit 0"
like "$M2M_OUT" "rsa-2048 key imported into tpm:$H2" "import: an RSA key"
like "$M2M_OUT" "scheme rsassa-sha256" "import: the RSA key has the fixed rsassa-sha256 scheme"
m2mcert csr --store tpm --tcti "$T" --handle $H2 --subject CN=dev-timp.lab -o "$K-rsa2.csr"
is_rc 0 "csr signed by the imported RSA key: exit 0"
ok "the CSR verifies" quiet openssl req -in "$K-rsa2.csr" -noout -verify
m2mcert show --store tpm --tcti "$T" --handle $H2 --json "$LAB/pki/dev-timp-rsa.pem"
is "$(jget matches_key <<< "$M2M_OUT")" true "show: the RSA certificate matches the TPM key"
# --force replaces a key at a handle in use
m2mcert import --store tpm --tcti "$T" --handle $H2 --force --src-pin-file "$K.p12pin" "$K.p12"
is_rc 0 "import --force over the RSA key: exit 0"
like "$M2M_OUT" "ecdsa-p256 key imported into tpm:$H2" "the handle now holds the EC key"

nok "the PKCS#12 PIN is not in the tool's output" grep -qF -- "$(cat "$K.p12pin")" "$LAB/log/m2m.history"
cmp_ok "$(lab_keys_scan_watched)" -ge 1 "/proc sampler saw the tool running"
is "$(lab_keys_scan_hits)" "" "no PIN in any /proc/*/cmdline or environ while the tool ran"
done_testing
