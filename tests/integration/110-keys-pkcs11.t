#!/bin/bash
# 110-keys-pkcs11.t - a smartcard key (SoftHSM2) end to end:
#   m2mvpn-cert keygen --store pkcs11, csr signed on the token, certificate from the lab CA
#   stored on the token, doctor clean, tunnel up with charon's pkcs11 plugin (load-token
#   with the PIN read by us), traffic.
#   Wrong PIN: exit 9 once; the token then reports a failed login, and every later
#   unattended run exits 13 WITHOUT trying, so repeated runs never lock the token. One good
#   login by a person resets it.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

M=$LAB_P11_MODULE
P11=(--store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 01)
m2mcert keygen "${P11[@]}" --label dev-hsm --pin-file "$LAB_P11_PIN_FILE"
is_rc 0 "keygen --store pkcs11: exit 0"
m2mcert csr "${P11[@]}" --pin-file "$LAB_P11_PIN_FILE" --subject "CN=dev-hsm.lab" --san dev-hsm.lab -o "$LAB/pki/dev-hsm.csr"
is_rc 0 "csr signed on the token: exit 0"
ok "the CSR verifies" quiet openssl req -in "$LAB/pki/dev-hsm.csr" -noout -verify
ok "the lab CA issues dev-hsm.lab" lab_keys_issue "$LAB/pki/dev-hsm.csr" dev-hsm dev-hsm.lab
openssl x509 -in "$LAB/pki/dev-hsm.pem" -outform der -out "$LAB/pki/dev-hsm.der"
ok "the certificate is stored on the token" quiet pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" \
	--login --pin "$(cat "$LAB_P11_PIN_FILE")" --write-object "$LAB/pki/dev-hsm.der" --type cert --id 01 --label dev-hsm

AUTH=("module: $M" "token: $LAB_P11_TOKEN" "id: \"01\"")
lab_keys_config pos pkcs11 dev-hsm.lab "${AUTH[@]}" "pin: {file: $LAB_P11_PIN_FILE}"
m2mcert doctor pos
is_rc 0 "doctor pos: every check passes"
like "$M2M_OUT" "PIN retries: ok" "doctor reports the PIN retries"
like "$M2M_OUT" "plugins for method pkcs11 loaded" "doctor: charon has the pkcs11 plugin"
m2mcert show -p pos --json
is "$(jget subject <<< "$M2M_OUT")" "/C=XX/O=m2m test lab/CN=dev-hsm.lab" "show --json: the certificate from the token"
is "$(jget matches_key <<< "$M2M_OUT")" true "show --json: it matches the key"

lab_keys_scanned "$LAB_P11_PIN_FILE" m2m up pos --timeout 20
is_rc 0 "up with the token key (certificate from the token): exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev-hsm.lab" eval 'lab_sas gw | grep -q "remote-id=dev-hsm.lab"'
ok "charon used the token (log)" grep -qE "found key on PKCS#11 token|loaded (ECDSA|RSA) private key from token" "$LAB/dev/charon.log"
m2m down pos
is_rc 0 "down: exit 0"

# ---- a wrong PIN, run again and again as cron would (fresh profiles: nothing cached)
lab_keys_config bad pkcs11 dev-hsm.lab "${AUTH[@]}" "pin: {file: $LAB_P11_WRONG_PIN_FILE}"
lab_keys_scanned "$LAB_P11_WRONG_PIN_FILE" m2m up bad --timeout 20
is_rc 9 "wrong PIN: exit 9"
like "$M2M_ERR" "wrong PIN \(not retried" "wrong PIN: said so"
ok "wrong PIN: one line" one_line "$M2M_ERR"
for i in 2 3 4 5; do
	m2m up bad --timeout 20
	is_rc 13 "wrong PIN, run $i: exit 13, not tried (few retries left)"
done
like "$M2M_ERR" "not tried" "the refusal says the PIN was not tried"
m2mcert doctor bad
is_rc 13 "doctor: exit 13 (PIN retries low)"
like "$M2M_OUT" "PIN retries: low" "doctor: the token reports low, not locked"
unlike "$M2M_OUT" "locked" "the token is not locked after 5 runs"
is "$(lab_sa_count dev)" 0 "no IKE SA was attempted with the wrong PIN"
# even the right PIN is not tried unattended until a person has logged in once
lab_keys_config pos2 pkcs11 dev-hsm.lab "${AUTH[@]}" "pin: {file: $LAB_P11_PIN_FILE}"
m2m up pos2 --timeout 20
is_rc 13 "right PIN while retries are low: exit 13 (unattended)"
ok "a person logs in once (resets the counter)" lab_p11_reset_counter
m2m up pos2 --timeout 20
is_rc 0 "then up with the right PIN: exit 0"
ok "traffic again" lab_ping_inner 2
m2m down pos2

# ---- certificate not matching the token key
lab_keys_config mism pkcs11 dev1.lab "${AUTH[@]}" "cert: $LAB_DEV_CERT" "pin: {file: $LAB_P11_PIN_FILE}"
m2m up mism --timeout 20
is_rc 9 "certificate not matching the token key: exit 9"
like "$M2M_ERR" "does not match key" "mismatch: said so"
nok "the PIN is not in the tool's output" grep -qF -- "$(cat "$LAB_P11_PIN_FILE")" "$LAB/log/m2m.history"
nok "the PIN is not in the device charon log" grep -qF -- "$(cat "$LAB_P11_PIN_FILE")" "$LAB/dev/charon.log"
cmp_ok "$(lab_keys_scan_watched)" -ge 1 "/proc sampler saw the tool running"
is "$(lab_keys_scan_hits)" "" "no PIN in any /proc/*/cmdline or environ while the tool ran"

# ---- keygen over an existing key: refused without --force; with it, replaced in the
#      safe order (the old objects go once the new key exists): one key pair with the id
p11_privs() {
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login \
		--pin "$(cat "$LAB_P11_PIN_FILE")" --list-objects --type privkey 2>/dev/null | grep -c "ID: *01$"
}
p11_pub() {
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --read-object --type pubkey \
		--id 01 2>/dev/null | sha256sum
}
before=$(p11_pub)
m2mcert keygen "${P11[@]}" --label dev-hsm --pin-file "$LAB_P11_PIN_FILE"
is_rc 9 "keygen over an existing token key without --force: exit 9"
is "$(p11_pub)" "$before" "the existing key is untouched"
m2mcert keygen "${P11[@]}" --label dev-hsm --pin-file "$LAB_P11_PIN_FILE" --force
is_rc 0 "keygen --force on the token: exit 0"
isnt "$(p11_pub)" "$before" "a new key pair"
is "$(p11_privs)" 1 "exactly one private key with id 01 on the token"

# ---- two tokens, each with a key of CKA_ID 01: charon is told the slot of ours. The
#      profile uses the token listed last, so that a search by id alone would find the
#      other one first.
so=$(dirname "$LAB_P11_PIN_FILE")/so.pin
ok "a second token" quiet softhsm2-util --init-token --free --label lab-dev2 \
	--so-pin "$(cat "$so")" --pin "$(cat "$LAB_P11_PIN_FILE")"
P11B=(--store pkcs11 --module "$M" --token lab-dev2 --id 01)
m2mcert keygen "${P11B[@]}" --label dev-hsm2 --pin-file "$LAB_P11_PIN_FILE"
is_rc 0 "keygen on the second token, the same id 01: exit 0"
m2mcert csr --store pkcs11 --module "$M" --id 01 --pin-file "$LAB_P11_PIN_FILE" -o "$LAB/pki/none.csr"
is_rc 3 "two tokens and none named: exit 3 (a configuration problem, not a bad option)"
like "$M2M_ERR" "name one by its label" "two tokens: says to name one"
last=$(pkcs11-tool --module "$M" --list-slots 2>/dev/null | awk '/token label/ { l = $NF } END { print l }')
m2mcert csr --store pkcs11 --module "$M" --token "$last" --id 01 --pin-file "$LAB_P11_PIN_FILE" \
	--subject "CN=dev-hsm.lab" --san dev-hsm.lab -o "$LAB/pki/dev-hsm-last.csr"
is_rc 0 "csr with the key on the token listed last ($last)"
ok "the lab CA issues it" lab_keys_issue "$LAB/pki/dev-hsm-last.csr" dev-hsm-last dev-hsm.lab
lab_keys_config two pkcs11 dev-hsm.lab "module: $M" "token: $last" "id: \"01\"" \
	"cert: $LAB/pki/dev-hsm-last.pem" "pin: {file: $LAB_P11_PIN_FILE}"
# charon's pkcs11 plugin lists the tokens when it starts
lab_charon_stop dev
lab_keys_charon_start_dev
m2m up two --timeout 20
is_rc 0 "up with the key of the token listed last: exit 0 (charon took the right slot) $M2M_ERR"
ok "traffic through the tunnel" lab_ping_inner 2
m2m down two

# ---- a module that never answers (its daemon or reader hangs): every command ends at its
#      own limit, plus 100 ms, with status 16
HANG=$LAB_REPO/build/tests/tools/libp11-hang.so
ok "the test module is built ($HANG; make units)" test -f "$HANG"
timed m2mcert keygen --store pkcs11 --module "$HANG" --id 01 --pin-file "$LAB_P11_PIN_FILE" --timeout 2
is_rc 16 "a module that hangs in C_Initialize, keygen --timeout 2: exit 16"
ok "keygen returned within 2 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 2100
like "$M2M_ERR" "PKCS#11 module .*libp11-hang.so: no answer in time" "the module is named"
lab_keys_config hang pkcs11 dev-hsm.lab "module: $HANG" "id: \"01\"" \
		"cert: $LAB/pki/dev-hsm-last.pem" "pin: {file: $LAB_P11_PIN_FILE}"
timed m2m up hang --timeout 3
is_rc 16 "the same module under up --timeout 3: exit 16"
ok "up returned within 3 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 3100
done_testing
