#!/bin/bash
# 164-policy-wipe.t - m2mdm-policy wipe: decommissioning in one auditable step, on the key
#   lab (a TPM behind a resource manager, a SoftHSM2 token, charon). m2mdm-policy(1) WIPE,
#   m2m/wipe.h. Contract:
#   - it needs --reason and --yes, and destroys nothing without them (exit 2);
#   - it destroys every key in its store (the TPM's persistent key evicted, the token's
#     key objects destroyed, a key file overwritten and removed), the certificates, the
#     secrets the configuration names in files (a PIN, a pre-shared key), what charon holds
#     of the profiles, and the state directory but for the audit log and a quarantine;
#   - everything is tried whatever fails: with the TPM unreachable the rest goes, the exit
#     is 16 (device) and the output says INCOMPLETE; the next wipe finishes it (exit 0);
#   - the audit log says when it began, who and why, and what was destroyed, not there or
#     failed; the chain stays whole;
#   - a wipe of a wiped device finds nothing and is exit 0; the tunnel no longer comes up.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

POL=$M2M_BIN_DIR/m2mdm-policy
[ -x "$POL" ] || lab_die "$POL is not built"
pol() { M2M_BIN=$POL m2m "$@"; }
export TPM2TOOLS_TCTI=$LAB_TPM_TCTI
M=$LAB_P11_MODULE
W=$LAB/wipe
STATE=$LAB/dev/state
mkdir -p "$W"
persistent() { tpm2_getcap handles-persistent 2> /dev/null | grep -ci "$LAB_TPM_HANDLE"; }
p11_keys() {
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login --pin "$P11_PIN" \
		--list-objects --type privkey 2> /dev/null | grep -c "ID: *01$"
}
P11_PIN=$(cat "$LAB_P11_PIN_FILE")

# ---- a device with three profiles (TPM, token, file) and a management PSK
m2mcert keygen --store tpm --tcti "$LAB_TPM_TCTI" --handle "$LAB_TPM_HANDLE"
is_rc 0 "keygen in the TPM"
m2mcert csr --store tpm --tcti "$LAB_TPM_TCTI" --handle "$LAB_TPM_HANDLE" --subject CN=dev-tpm.lab \
	--san dev-tpm.lab -o "$W/tpm.csr"
lab_keys_issue "$W/tpm.csr" dev-tpm dev-tpm.lab && cp "$LAB/pki/dev-tpm.pem" "$W/tpm.pem"
(umask 077; cp "$LAB_P11_PIN_FILE" "$W/p11.pin")
m2mcert keygen --store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 01 --label dev-hsm \
	--pin-file "$W/p11.pin"
is_rc 0 "keygen on the token"
m2mcert csr --store pkcs11 --module "$M" --token "$LAB_P11_TOKEN" --id 01 --pin-file "$W/p11.pin" \
	--subject CN=dev-hsm.lab --san dev-hsm.lab -o "$W/hsm.csr"
lab_keys_issue "$W/hsm.csr" dev-hsm dev-hsm.lab && cp "$LAB/pki/dev-hsm.pem" "$W/hsm.pem"
# a renewal with a new key half-way: the next key and its certificate, the previous pair
(umask 077; cp "$LAB_DEV_KEY" "$W/file.key.next"; cp "$LAB_DEV_KEY" "$W/file.key.prev"
 cp "$LAB_DEV_CERT" "$W/file.pem.next"; cp "$LAB_DEV_CERT" "$W/file.pem.prev")
(umask 077; cp "$LAB_DEV_KEY" "$W/file.key"; cp "$LAB_DEV_CERT" "$W/file.pem"
 head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/dm.psk.real"
 echo "tpm-auth" > "$W/tpm.auth")
# the management PSK is named through a symbolic link: the link goes, what it names is left
ln -s "$W/dm.psk.real" "$W/dm.psk"
# a file with another hard link outside the device's files: unlinked, never overwritten
ln "$W/file.pem" "$LAB/outside-hardlink.pem"
echo 0 > "$W/case"
profile() {   # profile NAME LOCAL_ID AUTH-LINES...
	local name=$1 lid=$2 l
	shift 2
	echo "    $name:"
	echo "      gateway: $LAB_GW_IP"
	echo "      remote_id: gw.lab"
	echo "      local_id: $lid"
	echo "      auth:"
	for l in "$@"; do echo "        $l"; done
	echo "      ca: $LAB_CA"
	echo "      proposals: [$LAB_PROPOSAL]"
	echo "      esp_proposals: [$LAB_ESP_PROPOSAL]"
	echo "      remote_ts: [$LAB_INNER_IP/32]"
	echo "      virtual_ip: true"
}
{
	echo "version: 1"
	echo "device: {id: dev1.lab}"
	echo "charon: {vici: \"$(lab_vici_uri dev)\"}"
	echo "state_dir: $STATE"
	echo "vpn:"
	echo "  profiles:"
	profile tpm dev-tpm.lab "method: tpm" "cert: $W/tpm.pem" "tcti: \"$LAB_TPM_TCTI\"" \
		"handle: $LAB_TPM_HANDLE" "pin: {file: $W/tpm.auth}"
	profile hsm dev-hsm.lab "method: pkcs11" "module: $M" "token: $LAB_P11_TOKEN" "id: \"01\"" \
		"pin: {file: $W/p11.pin}" "cert: $W/hsm.pem"
	profile file dev1.lab "method: cert" "cert: $W/file.pem" "key: $W/file.key"
	echo "dm:"
	echo "  server: coaps://127.0.0.1:5684"
	echo "  security: psk"
	echo "  psk_identity: dev1"
	echo "  psk_key: {file: $W/dm.psk}"
	echo "policy:"
	echo "  tamper: {input: $W/case}"
} > "$W/m2m.yaml"
chmod 600 "$W/m2m.yaml"
M2M_CONFIG_FILE=$W/m2m.yaml

m2m up file --timeout 20
is_rc 0 "the file profile comes up"
pol check
is_rc 0 "a policy check (the state and the audit log have something)"
is "$(persistent)" 1 "the TPM holds the key"
is "$(p11_keys)" 1 "the token holds the key"

# ---- refused without --reason or --yes
pol wipe --yes
is_rc 2 "wipe without --reason: exit 2"
pol wipe --reason "test"
is_rc 2 "wipe without --yes: exit 2"
like "$M2M_ERR" "for good; add --yes" "  it says what it would do"
ok "  nothing destroyed" test -s "$W/file.key" -a -s "$W/p11.pin"
is "$(persistent)" 1 "  the TPM key is still there"

# ---- the TPM unreachable: everything else goes, exit 16, INCOMPLETE
lab_tpm_stop_rm
pol wipe --reason "store 0042 closed" --yes
is_rc 16 "wipe with the TPM unreachable: exit 16 (device)"
like "$M2M_OUT" "^wipe INCOMPLETE: [0-9]+ destroyed, [0-9]+ not there, 3 failed; audit log head [0-9a-f]{64}$" \
	"  it says INCOMPLETE and how many (the TPM key, its auth value kept for it, the link)"
like "$M2M_ERR" "key in the TPM \(handle $LAB_TPM_HANDLE\): NOT destroyed" "  it names what was not destroyed"
like "$M2M_ERR" "PIN $W/tpm.auth: NOT destroyed: kept: a key not destroyed needs it" \
	"  the TPM key's auth value is kept for the next wipe"
like "$M2M_ERR" "pre-shared key $W/dm.psk: NOT destroyed: a symbolic link: the link removed, what it named \($W/dm.psk.real\) left" \
	"  a secret named through a link: the link goes, what it names is left and said"
ok "  what the link named is left" test -s "$W/dm.psk.real"
nok "  the key file is gone" test -e "$W/file.key"
nok "  and a renewal's next and previous keys" test -e "$W/file.key.next" -o -e "$W/file.key.prev"
nok "  and their certificates" test -e "$W/file.pem.next" -o -e "$W/file.pem.prev"
ok "  the hard link outside is left" test -s "$LAB/outside-hardlink.pem"
ok "  and not overwritten" grep -q "BEGIN CERTIFICATE" "$LAB/outside-hardlink.pem"
nok "  the certificates are gone" test -e "$W/file.pem" -o -e "$W/tpm.pem" -o -e "$W/hsm.pem"
nok "  the token's PIN file is gone" test -e "$W/p11.pin"
nok "  the link to the management PSK is gone" test -L "$W/dm.psk"
is "$(p11_keys)" 0 "  the token's key is destroyed"
is "$(lab_swanctl dev --list-conns 2>/dev/null | grep -c m2m-)" 0 "  charon holds no connection of the device"
is "$(lab_swanctl dev --list-sas 2>/dev/null | grep -c m2m-)" 0 "  and no SA"
left=$(cd "$STATE" && ls -A | grep -v '^policy-audit' | grep -v '\.lock$' | tr '\n' ' ')
is "$left" "" "  the state directory keeps only the audit log and the locks"
lab_tpm_start_rm
is "$(persistent)" 1 "the TPM key outlived the first wipe"
pol wipe --reason "store 0042 closed: the TPM again" --yes
is_rc 0 "the second wipe, with the TPM back: exit 0"
like "$M2M_OUT" "^wiped: [1-9][0-9]* destroyed, [1-9][0-9]* not there, 0 failed" \
	"  the TPM key destroyed, what the first took not there, nothing failed"
is "$(persistent)" 0 "  the TPM key is evicted"
nok "  and its auth value, kept for it, is gone" test -e "$W/tpm.auth"

# ---- the audit log
"$POL" -c "$M2M_CONFIG_FILE" audit > "$W/audit.txt"
ok "the audit chain is whole" "$POL" -c "$M2M_CONFIG_FILE" audit -q
like "$(grep -c ' wipe ' "$W/audit.txt")" "^4$" "four wipe records (two begins, two ends)"
like "$(cat "$W/audit.txt")" "wipe +- +begins, by uid 0: store 0042 closed" "  who and why"
like "$(cat "$W/audit.txt")" "wipe +- +ends: [0-9]+ destroyed, [0-9]+ not there, 3 failed: key in the TPM" \
	"  the first one's end names what failed"
like "$(tail -n 1 "$W/audit.txt")" "wipe +- +ends: [0-9]+ destroyed, [0-9]+ not there, 0 failed$" \
	"  the last one's end: nothing failed"

# ---- nothing is destroyed unless the audit log can say the wipe begins
echo "again" > "$W/p11.pin"
chmod 600 "$W/p11.pin"
sed -i 's/^  tamper: {input: .*}$/  timeout: 1s\n  tamper: {input: $W\/case}/' "$M2M_CONFIG_FILE"
# flock -o: the lock is flock's own, so killing it lets the lock go
ip netns exec "$NS_DEV" flock -o "$STATE/policy.lock" sleep 10 &
holder=$!
sleep 0.3
pol wipe --reason "while a check holds the log" --yes
is_rc 11 "a check holds the audit log past its bound: exit 11 (busy)"
like "$M2M_ERR" "wipe not begun: its first audit record" "  it says the wipe did not begin"
ok "  nothing destroyed" test -s "$W/p11.pin"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# ---- the device is wiped
m2m up file --timeout 10
isnt "$M2M_RC" 0 "the file profile no longer comes up (exit $M2M_RC)"
pol wipe --reason "again" --yes --json
is_rc 0 "a wipe of a wiped device: exit 0"
is "$(jget schema <<< "$M2M_OUT")" "m2m.wipe/1" "  --json schema m2m.wipe/1"
is "$(jget failed <<< "$M2M_OUT")" 0 "  nothing failed"
cmp_ok "$(jget not_there <<< "$M2M_OUT")" -ge 8 "  the keys, certificates and secret files: not there"

done_testing
