#!/bin/bash
# 120-keys-machine-eap.t - machine-bound key, EAP-MSCHAPv2, and certificate + EAP (RFC 4739)
# on real tunnels.
#   machine: keygen bound to (test) machine inputs, CSR, certificate, up, traffic; the same
#     file on a "different machine" (other machine-id, via M2M_MACHINE_ID_FILE) fails with
#     exit 9 and a plain message; a missing input is named; doctor reports the inputs.
#     Sealed to the TPM as one more input: up; TPM unreachable: exit 16; another TPM: exit 9.
#   eap: password from a 0600 file, gateway authenticated by its certificate, up, traffic;
#     a wrong password: exit 7 (the gateway rejected us).
#   cert+eap: two authentication rounds (local + local-2), up, traffic.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

# ---- machine-bound key; the machine's identity comes from files the test controls
mkdir -p "$LAB/machine/dmi" "$LAB/other/dmi"
echo 0123456789abcdef0123456789abcdef > "$LAB/machine/machine-id"
echo 4c4c4544-0042-3510-8052-b4c04f4e4d32 > "$LAB/machine/dmi/product_uuid"
echo fedcba9876543210fedcba9876543210 > "$LAB/other/machine-id"
echo 4c4c4544-0042-3510-8052-b4c04f4e4d32 > "$LAB/other/dmi/product_uuid"
this_machine() { export M2M_MACHINE_ID_FILE=$LAB/machine/machine-id M2M_DMI_DIR=$LAB/machine/dmi M2M_DT_DIR=$LAB/machine/dt; }
other_machine() { export M2M_MACHINE_ID_FILE=$LAB/other/machine-id M2M_DMI_DIR=$LAB/other/dmi M2M_DT_DIR=$LAB/other/dt; }
this_machine
KEY=$LAB/dev/dev-m.bound
m2mcert keygen --store machine --key "$KEY"
is_rc 0 "keygen --store machine: exit 0"
like "$(grep '^inputs:' "$KEY")" "machine-id,dmi-product-uuid" "the key file names its inputs"
m2mcert csr --store machine --key "$KEY" --subject CN=dev-m.lab --san dev-m.lab -o "$LAB/pki/dev-m.csr"
is_rc 0 "csr: exit 0"
ok "the lab CA issues dev-m.lab" lab_keys_issue "$LAB/pki/dev-m.csr" dev-m dev-m.lab
lab_keys_config pos machine dev-m.lab "cert: $LAB/pki/dev-m.pem" "key: $KEY"
m2mcert doctor pos
is_rc 0 "doctor pos: every check passes"
like "$M2M_OUT" "dmi-product-uuid .*: present" "doctor lists the binding inputs"
m2m up pos --timeout 20
is_rc 0 "up with the machine-bound key: exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev-m.lab" eval 'lab_sas gw | grep -q "remote-id=dev-m.lab"'
m2m down pos
# charon still holds the credentials (the per-profile cache); on another machine the
# binding no longer holds, and the next "up" finds out before charon is asked
other_machine
m2m up pos --timeout 20
is_rc 9 "cached profile on another machine: exit 9"
like "$M2M_ERR" "bound to another machine" "cached, different machine: said plainly"
this_machine

other_machine
lab_keys_config copy machine dev-m.lab "cert: $LAB/pki/dev-m.pem" "key: $KEY"
m2m up copy --timeout 20
is_rc 9 "the key on a different machine: exit 9"
like "$M2M_ERR" "bound to another machine" "different machine: said plainly"
ok "different machine: one line" one_line "$M2M_ERR"
rm "$LAB/other/dmi/product_uuid"
m2m up copy --timeout 20
is_rc 9 "a machine without the DMI UUID: exit 9"
like "$M2M_ERR" "dmi-product-uuid" "the missing input is named"
m2mcert doctor copy
like "$M2M_OUT" "dmi-product-uuid .*missing on this machine" "doctor reports the missing input"
like "$M2M_OUT" "dt-serial-number .*missing on this machine" "a device-tree serial that is not there: missing (not 'not readable')"
unlike "$M2M_OUT" "not readable by this user" "nothing is 'not readable' for root"
like "$M2M_OUT" "warn .*only one identity input" "only the machine-id left: one warning says so"
this_machine

# ---- command-line values refused as such (2): a TCTI outside the allowed ones, a systemd
#      credential name that would leave $CREDENTIALS_DIRECTORY
m2mcert keygen --store tpm --tcti foo
is_rc 2 "--tcti foo: a bad command line (2)"
m2mcert keygen --store file --key "$LAB/dev/x.key" --pin-credential ../x
is_rc 2 "--pin-credential ../x: a bad command line (2)"
like "$M2M_ERR" "not a credential name" "--pin-credential ../x: said so"

# ---- show of a PKCS#12 profile: the certificate in the file (its passphrase from the profile)
lab_keys_config p12 pkcs12 dev-p12.lab "pkcs12: $LAB_P12" "pin: {file: $LAB_P12_PIN_FILE}"
m2mcert show -p p12
is_rc 0 "show -p of a PKCS#12 profile: exit 0"
like "$M2M_OUT" "dev-p12.lab" "show -p p12: the certificate inside the PKCS#12 file"
m2mcert show -p p12 --json
is "$(jget matches_key <<< "$M2M_OUT")" true "show -p p12 --json: the certificate matches the key"

# ---- import: an existing PKCS#12 identity bound to this machine
m2mcert import "$LAB_P12" --store machine --key "$LAB/dev/p12.bound" --src-pin-file "$LAB_P12_PIN_FILE" \
	--cert "$LAB/dev/p12.pem"
is_rc 0 "import PKCS#12 into the machine store: exit 0"
lab_keys_config imp machine dev-p12.lab "cert: $LAB/dev/p12.pem" "key: $LAB/dev/p12.bound"
m2mcert show -p imp --json
is "$(jget schema <<< "$M2M_OUT")" m2m.cert/1 "show --json: schema m2m.cert/1"
is "$(jget key.store <<< "$M2M_OUT")" machine "show --json: key store machine"
is "$(jget key_type <<< "$M2M_OUT")" ecdsa-p256 "show --json: key type"
is "$(jget matches_key <<< "$M2M_OUT")" true "show --json: the imported key matches the certificate"
m2m up imp --timeout 20
is_rc 0 "up with the imported, machine-bound key: exit 0"
ok "traffic through the tunnel" lab_ping_inner 2
m2m down imp
m2mcert import "$LAB_P12" --store machine --key "$LAB/dev/p12b.bound" --src-pin-file "$LAB_P12_WRONG_PIN_FILE"
is_rc 9 "import with a wrong PKCS#12 PIN: exit 9"

# ---- the stronger binding: one more input, a secret sealed in the TPM
SKEY=$LAB/dev/dev-s.bound
m2mcert keygen --store machine --key "$SKEY" --tcti "$LAB_TPM_TCTI"
is_rc 0 "keygen --store machine --tcti: exit 0 (sealed in the TPM)"
like "$(grep '^inputs:' "$SKEY")" "tpm-sealed" "the key file names the sealed input"
like "$(grep '^tpm:' "$SKEY")" "0x81010020 $LAB_TPM_TCTI" "the key file records where it is sealed"
m2mcert csr --store machine --key "$SKEY" --subject CN=dev-s.lab --san dev-s.lab -o "$LAB/pki/dev-s.csr"
is_rc 0 "csr with the sealed key: exit 0"
lab_keys_issue "$LAB/pki/dev-s.csr" dev-s dev-s.lab
lab_keys_config sealed machine dev-s.lab "cert: $LAB/pki/dev-s.pem" "key: $SKEY"
m2m up sealed --timeout 20
is_rc 0 "up with the TPM-sealed machine key: exit 0"
ok "traffic through the tunnel" lab_ping_inner 2
m2m down sealed
# another machine-bound key with --force at the same (default) seal handle: refused, since
# it would destroy the sealed secret this key needs
m2mcert keygen --store machine --key "$LAB/dev/other-s.bound" --tcti "$LAB_TPM_TCTI" --force
is_rc 9 "keygen --force of another key over this key's sealed secret: refused (exit 9)"
like "$M2M_ERR" "already at handle 0x81010020" "the handle in use is named"
m2mcert doctor sealed
is_rc 0 "the sealed key still works (doctor passes)"
# delete --force takes the sealed secret with the key file
m2mcert delete --store machine --key "$SKEY" --force
is_rc 0 "delete --force of the sealed machine key: exit 0"
persistent() { env TPM2TOOLS_TCTI="$LAB_TPM_TCTI" tpm2_getcap handles-persistent 2>/dev/null; }
unlike "$(persistent)" "0x81010020" "the sealed secret at 0x81010020 is gone with it"
# the key again (same file), sealed anew, for what follows
m2mcert keygen --store machine --key "$SKEY" --tcti "$LAB_TPM_TCTI"
is_rc 0 "keygen of the sealed key again: exit 0"
m2mcert csr --store machine --key "$SKEY" --subject CN=dev-s.lab --san dev-s.lab -o "$LAB/pki/dev-s.csr"
lab_keys_issue "$LAB/pki/dev-s.csr" dev-s dev-s.lab
lab_tpm_stop_rm
lab_keys_config sealed2 machine dev-s.lab "cert: $LAB/pki/dev-s.pem" "key: $SKEY"
m2m up sealed2 --timeout 20
is_rc 16 "sealed key, TPM unreachable: exit 16 (device)"
like "$M2M_ERR" "sealed to a TPM.*TCTI '$LAB_TPM_TCTI'" "the message names the TPM and its TCTI"
lab_tpm_start_rm
quiet env TPM2TOOLS_TCTI="$LAB_TPM_TCTI" tpm2_evictcontrol -C o -c 0x81010020
m2m up sealed2 --timeout 20
is_rc 9 "sealed key on another TPM (object gone): exit 9"
like "$M2M_ERR" "no sealed object" "another TPM: said so"

# ---- EAP-MSCHAPv2 with a password from a 0600 file
lab_keys_config eap eap dev1.lab "eap_id: $LAB_EAP_ID" "password: {file: $LAB_EAP_PASS_FILE}"
m2mcert doctor eap
is_rc 0 "doctor eap: passes (password readable, eap-mschapv2 loaded)"
lab_keys_scanned "$LAB_EAP_PASS_FILE" m2m up eap --timeout 20
is_rc 0 "up with EAP-MSCHAPv2: exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway used rw-eap for user1" eval 'lab_sas gw | grep -q "rw-eap"'
m2m down eap
lab_keys_config eapbad eap dev1.lab "eap_id: $LAB_EAP_ID" "password: {file: $LAB_EAP_WRONG_PASS_FILE}"
lab_keys_scanned "$LAB_EAP_WRONG_PASS_FILE" m2m up eapbad --timeout 20
is_rc 7 "EAP password wrong: exit 7 (the gateway rejected us)"
ok "EAP password wrong: one line" one_line "$M2M_ERR"
chmod 0644 "$LAB_EAP_PASS_FILE"
lab_keys_config eapro eap dev1.lab "eap_id: $LAB_EAP_ID" "password: {file: $LAB_EAP_PASS_FILE}"
m2m up eapro --timeout 20
is_rc 9 "a password file others can read: refused, exit 9"
chmod 0600 "$LAB_EAP_PASS_FILE"

# ---- certificate + EAP, two rounds
lab_keys_config ce cert+eap dev-ce.lab "cert: $LAB_CE_CERT" "key: $LAB_CE_KEY" "eap_id: $LAB_EAP_ID" \
	"password: {file: $LAB_EAP_PASS_FILE}"
m2m up ce --timeout 20
is_rc 0 "up with certificate + EAP (RFC 4739): exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway used rw-certeap" eval 'lab_sas gw | grep -q "rw-certeap"'
ok "both rounds in the gateway log" eval 'grep -q "EAP method EAP_MSCHAPV2 succeeded" "$LAB/gw/charon.log"'
m2m down ce

for s in "$LAB_EAP_PASS_FILE" "$LAB_EAP_WRONG_PASS_FILE"; do
	nok "the EAP password is in no tool output" grep -qF -- "$(cat "$s")" "$LAB/log/m2m.history"
	nok "the EAP password is not in the device charon log" grep -qF -- "$(cat "$s")" "$LAB/dev/charon.log"
done
cmp_ok "$(lab_keys_scan_watched)" -ge 1 "/proc sampler saw the tool running"
is "$(lab_keys_scan_hits)" "" "no EAP password in any /proc/*/cmdline or environ while the tool ran"
done_testing
