#!/bin/bash
# 300-update-sign.t - update packages (m2m-update(5)) signed through lib/update's upd_sign
#   with keys that never leave their store: a TPM key (swtpm) and a token key (SoftHSM2),
#   each with a codeSigning certificate from the lab CA, verified by lib/update's streaming
#   verifier (tests/tools/upd-pkg) and, independently, by `openssl cms` over the manifest
#   bytes (RFC 5652 detached SignedData). A firmware package signed by both keys passes a
#   policy that asks for two signers; one key alone does not.
#   Failures: another CA as trust anchor (17), a tampered payload (17), another model (18),
#   a TPM key with another key's certificate (9, nothing written), a wrong token PIN (9, the
#   store's message).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool

UPD=$LAB_REPO/build/tests/tools/upd-pkg
[ -x "$UPD" ] || lab_die "missing $UPD (make units)"
# the key stores and the namespaces m2mvpn-cert runs in: no charon
lab_init
lab_net
lab_tpm_up
lab_softhsm_up
D=$LAB/upd
mkdir -p "$D"
head -c 200000 /dev/urandom > "$D/payload"
ST=state=$LAB/dev/state
EXPIRES=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)   # within the lab CA's 30 days

# codesign CSR NAME: the lab CA issues NAME.pem for code signing (strongSwan's pki has no
# codeSigning flag: openssl x509 with the lab CA's key)
codesign() {
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > "$D/cs.ext"
	openssl x509 -req -in "$1" -CA "$LAB_CA" -CAkey "$LAB/pki/ca.key" -CAcreateserial \
		-CAserial "$D/ca.srl" -days 20 -extfile "$D/cs.ext" -out "$LAB/pki/$2.pem" 2>> "$D/openssl.err"
}
# manifest KEY=VALUE...: the manifest options of upd-pkg sign, defaults first
manifest() { echo "type=software name=pos-app version=2.1.0 model=pos-a model=pos-b installer=script expires=$EXPIRES $*"; }
# verify PKG [KEY=VALUE]...: upd-pkg verify against the lab CA as device pos-a
verify() { local p=$1; shift; "$UPD" verify "$p" trust="$LAB_CA" model=pos-a "$@" > "$D/verify.out" 2> "$D/verify.err"; }
# cms_ok PKG: openssl verifies the package's signature over its manifest bytes
cms_ok() {
	local m s
	m=$(od -An -tu4 --endian=big -j 8 -N 4 "$1" | tr -d ' ')
	s=$(od -An -tu4 --endian=big -j 12 -N 4 "$1" | tr -d ' ')
	tail -c +17 "$1" | head -c "$m" > "$D/man.json"
	tail -c +$((17 + m)) "$1" | head -c "$s" > "$D/sig.der"
	openssl cms -verify -binary -inform DER -in "$D/sig.der" -content "$D/man.json" \
		-CAfile "$LAB_CA" -purpose any -out /dev/null 2> "$D/cms.err"
}

# ---- the TPM key
T=$LAB_TPM_TCTI
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE"
is_rc 0 "keygen --store tpm: exit 0"
m2mcert csr --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE" --subject "CN=vendor-tpm.lab" --san vendor-tpm.lab -o "$D/tpm.csr"
is_rc 0 "csr signed by the TPM key: exit 0"
ok "the lab CA issues a code-signing certificate to the TPM key" codesign "$D/tpm.csr" signer-tpm
TPM=(tpm tcti="$T" handle="$LAB_TPM_HANDLE" cert="$LAB/pki/signer-tpm.pem" "$ST")
# shellcheck disable=SC2046
"$UPD" sign "$D/tpm.pkg" "$D/payload" $(manifest) -- "${TPM[@]}" > "$D/sign.out" 2> "$D/sign.err"
is $? 0 "a package signed by the TPM key: exit 0"
verify "$D/tpm.pkg" out="$D/tpm.payload"
is $? 0 "verified against the lab CA: exit 0"
ok "the verified payload is the payload" cmp -s "$D/payload" "$D/tpm.payload"
like "$(cat "$D/verify.out")" "CN=vendor-tpm.lab" "the signer is named"
like "$(cat "$D/verify.out")" '"size":200000' "the manifest carries the payload's size"
ok "openssl cms verifies the signature over the manifest bytes" cms_ok "$D/tpm.pkg"
like "$(openssl cms -cmsout -print -inform DER -in "$D/sig.der")" "ecdsa-with-SHA256" "an ECDSA-SHA256 signature by the TPM"

# ---- the token key
M=$LAB_P11_MODULE
P11=(--store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 01)
m2mcert keygen "${P11[@]}" --label vendor-hsm --pin-file "$LAB_P11_PIN_FILE"
is_rc 0 "keygen --store pkcs11: exit 0"
m2mcert csr "${P11[@]}" --pin-file "$LAB_P11_PIN_FILE" --subject "CN=vendor-hsm.lab" --san vendor-hsm.lab -o "$D/hsm.csr"
is_rc 0 "csr signed on the token: exit 0"
ok "the lab CA issues a code-signing certificate to the token key" codesign "$D/hsm.csr" signer-hsm
TOK=(pkcs11 module="$M" token="$LAB_P11_TOKEN" id=01 cert="$LAB/pki/signer-hsm.pem" "$ST")
# shellcheck disable=SC2046
"$UPD" sign "$D/hsm.pkg" "$D/payload" $(manifest) -- "${TOK[@]}" pinfile="$LAB_P11_PIN_FILE" > "$D/sign.out" 2> "$D/sign.err"
is $? 0 "a package signed on the token: exit 0"
verify "$D/hsm.pkg"
is $? 0 "verified against the lab CA: exit 0"
like "$(cat "$D/verify.out")" "CN=vendor-hsm.lab" "the signer is named"
ok "openssl cms verifies it too" cms_ok "$D/hsm.pkg"

# ---- firmware: two signers with different keys
# shellcheck disable=SC2046
"$UPD" sign "$D/fw2.pkg" "$D/payload" $(manifest type=firmware installer=rauc) \
	-- "${TPM[@]}" -- "${TOK[@]}" pinfile="$LAB_P11_PIN_FILE" > "$D/sign.out" 2> "$D/sign.err"
is $? 0 "firmware signed by the TPM and the token: exit 0"
verify "$D/fw2.pkg" signatures=2
is $? 0 "two signers required, two present: exit 0"
is "$(tail -n 2 "$D/verify.out" | sort | tr '\n' ' ')" "CN=vendor-hsm.lab CN=vendor-tpm.lab " "both signers named"
# shellcheck disable=SC2046
"$UPD" sign "$D/fw1.pkg" "$D/payload" $(manifest type=firmware installer=rauc) -- "${TPM[@]}" > /dev/null 2> "$D/sign.err"
verify "$D/fw1.pkg" signatures=2
is $? 17 "two signers required, one present: exit 17"
like "$(cat "$D/verify.err")" "firmware needs 2 signers" "the message says why"

# ---- refusals
"$UPD" verify "$D/tpm.pkg" trust="$LAB_ROGUE_CA" model=pos-a > /dev/null 2> "$D/verify.err"
is $? 17 "verified against another CA: exit 17"
like "$(cat "$D/verify.err")" "not a trusted package signer" "the message says why"
cp "$D/tpm.pkg" "$D/bad.pkg"
printf 'X' | dd of="$D/bad.pkg" bs=1 seek=$(($(stat -c %s "$D/bad.pkg") - 1000)) conv=notrunc 2> /dev/null
verify "$D/bad.pkg" out="$D/bad.payload"
is $? 17 "one payload byte changed: exit 17"
ok "and the half-written payload is not left behind" test ! -e "$D/bad.payload"
"$UPD" verify "$D/tpm.pkg" trust="$LAB_CA" model=pos-z > /dev/null 2> "$D/verify.err"
is $? 18 "another device model: exit 18"
like "$(cat "$D/verify.err")" 'not for model "pos-z"' "the message says why"
# shellcheck disable=SC2046
"$UPD" sign "$D/tpm-bad.pkg" "$D/payload" $(manifest) -- tpm tcti="$T" handle="$LAB_TPM_HANDLE" \
	cert="$LAB/pki/signer-hsm.pem" "$ST" > /dev/null 2> "$D/sign.err"
is $? 9 "the TPM key with the token key's certificate: exit 9"
ok "nothing written" test ! -e "$D/tpm-bad.pkg"
ok "no temp file left" eval '! ls "$D" | grep -q "tpm-bad.pkg."'
# shellcheck disable=SC2046
"$UPD" sign "$D/pin.pkg" "$D/payload" $(manifest) -- "${TOK[@]}" pinfile="$LAB_P11_WRONG_PIN_FILE" > /dev/null 2> "$D/sign.err"
is $? 9 "token key, wrong PIN: exit 9"
like "$(cat "$D/sign.err")" "wrong PIN" "the key store's message"
ok "nothing written" test ! -e "$D/pin.pkg"
done_testing
