#!/bin/bash
# 130-keys-always-on.t - an always-on profile whose key is on a token (SoftHSM2), kept up by
# `watch` through a restart of the device's own charon, which forgets every key it held:
# watch reconnects to charon, the tool checks the PIN again (once) and hands the token key
# back with load-token, and the tunnel returns. Then the same for a TPM key.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

P11=(--store pkcs11 --module "$LAB_P11_MODULE" --id 01 --pin-file "$LAB_P11_PIN_FILE")
m2mcert keygen "${P11[@]}"
m2mcert csr "${P11[@]}" --subject CN=dev-hsm.lab --san dev-hsm.lab -o "$LAB/pki/h.csr"
is_rc 0 "token key and CSR"
lab_keys_issue "$LAB/pki/h.csr" dev-hsm dev-hsm.lab
ike_up() {   # an ESTABLISHED IKE SA other than $1 with an INSTALLED CHILD_SA
	local ids
	ids=$(lab_ike_ids dev | awk '$2 == "ESTABLISHED" { print $1 }')
	[ -n "$ids" ] && ! grep -qx "${1:-none}" <<< "$ids" && lab_child_installed dev
}

LAB_KEYS_MODE=always-on lab_keys_config pos pkcs11 dev-hsm.lab "module: $LAB_P11_MODULE" "id: \"01\"" \
	"cert: $LAB/pki/dev-hsm.pem" "pin: {file: $LAB_P11_PIN_FILE}"
lab_bg watch --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch pos
ok "watch brings the token profile up (within 15 s)" wait_until 15 ike_up
ok "traffic" lab_ping_inner 2

lab_charon_stop dev
lab_keys_charon_start_dev
ok "after the device charon restarted: back within 30 s" wait_until 30 ike_up
diag "  back ${WAITED_MS:-?} ms after the restart"
ok "traffic through the new tunnel" lab_ping_inner 2
ok "the token key was loaded again (load-token)" eval '[ "$(grep -c "requests: load-token" "$LAB/dev/charon.log")" -ge 2 ]'
ok "watch is still running" lab_proc_alive watch
lab_stop watch TERM 15
is "$?" 0 "watch exit 0 on SIGTERM"
m2m down pos

# ---- the same with a TPM key
m2mcert keygen --store tpm --tcti "$LAB_TPM_TCTI"
m2mcert csr --store tpm --tcti "$LAB_TPM_TCTI" --subject CN=dev-tpm.lab --san dev-tpm.lab -o "$LAB/pki/t.csr"
is_rc 0 "TPM key and CSR"
lab_keys_issue "$LAB/pki/t.csr" dev-tpm dev-tpm.lab
LAB_KEYS_MODE=always-on lab_keys_config tpm tpm dev-tpm.lab "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$LAB_TPM_TCTI\""
lab_bg watch2 --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch tpm
ok "watch brings the TPM profile up (within 15 s)" wait_until 15 ike_up
lab_charon_stop dev
lab_keys_charon_start_dev
ok "after the device charon restarted: TPM profile back within 30 s" wait_until 30 ike_up
ok "traffic through the new tunnel" lab_ping_inner 2
lab_stop watch2 TERM 15
is "$?" 0 "watch exit 0 on SIGTERM"
done_testing
