#!/bin/bash
# 102-keys-cms.t - CMS signatures (CMS_sign, as for update packages and CMP) with a key of
#   every store through m2m_key_pkey(): a file key, a TPM key (swtpm) and a token key
#   (SoftHSM2), each verified by openssl cms -verify against the lab CA.
#   Failures: verified against another CA (rejected), a certificate that is not the key's
#   (CMS_sign refuses: exit 9), a wrong token PIN (the store's own verdict and message come
#   out of CMS_sign: exit 9, "wrong PIN").
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

CMS=$LAB_REPO/build/tests/tools/ks-cms
[ -x "$CMS" ] || lab_die "missing $CMS (make units)"
D=$LAB/cms
mkdir -p "$D"
head -c 3000 /dev/urandom > "$D/payload"
ST=state=$LAB/dev/state

# cms_ok NAME: $D/NAME.der verifies against the lab CA and carries the payload unchanged
cms_ok() {
	openssl cms -verify -inform DER -in "$D/$1.der" -CAfile "$LAB_CA" -purpose any \
		-out "$D/$1.out" 2> "$D/$1.verify" && cmp -s "$D/payload" "$D/$1.out"
}
# cms_refused NAME: it does not verify against the rogue CA
cms_refused() {
	! openssl cms -verify -inform DER -in "$D/$1.der" -CAfile "$LAB_ROGUE_CA" -purpose any \
		-out /dev/null 2> /dev/null
}

# ---- a file key
"$CMS" "$D/file.der" "$LAB_DEV_CERT" "$D/payload" file path="$LAB_DEV_KEY" "$ST"
is $? 0 "file key: CMS_sign through the store: exit 0"
ok "file key: the CMS verifies against the lab CA" cms_ok file
ok "file key: not against another CA" cms_refused file

# ---- a TPM key
T=$LAB_TPM_TCTI
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE"
is_rc 0 "keygen --store tpm: exit 0"
m2mcert csr --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE" --subject "CN=dev-tpm.lab" --san dev-tpm.lab -o "$LAB/pki/dev-tpm.csr"
is_rc 0 "csr signed by the TPM key: exit 0"
ok "the lab CA issues dev-tpm.lab" lab_keys_issue "$LAB/pki/dev-tpm.csr" dev-tpm dev-tpm.lab
TPM=(tpm tcti="$T" handle="$LAB_TPM_HANDLE" "$ST")
"$CMS" "$D/tpm.der" "$LAB/pki/dev-tpm.pem" "$D/payload" "${TPM[@]}"
is $? 0 "TPM key: CMS_sign through the store: exit 0"
ok "TPM key: the CMS verifies against the lab CA" cms_ok tpm
ok "TPM key: not against another CA" cms_refused tpm
like "$(openssl cms -cmsout -print -inform DER -in "$D/tpm.der")" "ecdsa-with-SHA256" \
	"TPM key: an ECDSA-SHA256 signature"
"$CMS" "$D/tpm-bad.der" "$LAB_DEV_CERT" "$D/payload" "${TPM[@]}" 2> "$D/tpm-bad.err"
is $? 9 "TPM key with another key's certificate: exit 9"
ok "TPM key with another key's certificate: nothing written" test ! -s "$D/tpm-bad.der"

# ---- a token key
M=$LAB_P11_MODULE
P11=(--store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 01)
m2mcert keygen "${P11[@]}" --label dev-hsm --pin-file "$LAB_P11_PIN_FILE"
is_rc 0 "keygen --store pkcs11: exit 0"
m2mcert csr "${P11[@]}" --pin-file "$LAB_P11_PIN_FILE" --subject "CN=dev-hsm.lab" --san dev-hsm.lab -o "$LAB/pki/dev-hsm.csr"
is_rc 0 "csr signed on the token: exit 0"
ok "the lab CA issues dev-hsm.lab" lab_keys_issue "$LAB/pki/dev-hsm.csr" dev-hsm dev-hsm.lab
TOK=(pkcs11 module="$M" token="$LAB_P11_TOKEN" id=01 "$ST")
"$CMS" "$D/token.der" "$LAB/pki/dev-hsm.pem" "$D/payload" "${TOK[@]}" pinfile="$LAB_P11_PIN_FILE"
is $? 0 "token key: CMS_sign through the store: exit 0"
ok "token key: the CMS verifies against the lab CA" cms_ok token
ok "token key: not against another CA" cms_refused token
ok "the TPM's CMS does not pass for the token's certificate" eval \
	'! openssl cms -verify -inform DER -in "$D/tpm.der" -CAfile "$LAB_CA" -purpose any -certfile "$LAB/pki/dev-hsm.pem" -nointern -out /dev/null 2>/dev/null'
"$CMS" "$D/token-bad.der" "$LAB/pki/dev-hsm.pem" "$D/payload" "${TOK[@]}" pinfile="$LAB_P11_WRONG_PIN_FILE" 2> "$D/token-bad.err"
is $? 9 "token key, wrong PIN: the store's exit 9 out of CMS_sign"
like "$(cat "$D/token-bad.err")" "wrong PIN" "token key, wrong PIN: the store's message"
ok "token key, wrong PIN: nothing written" test ! -s "$D/token-bad.der"
done_testing
