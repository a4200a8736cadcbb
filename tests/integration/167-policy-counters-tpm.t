#!/bin/bash
# 167-policy-counters-tpm.t - policy.counters "pin" for a TPM key (m2m.yaml(5) SECURITY
#   POLICIES), on a software TPM (swtpm behind tpm2-abrmd, tests/lab/keys.sh). Contract:
#   - a signature the TPM refuses for the key's auth value (a wrong one: exit 9) is one pin
#     event, as the TPM counts one failed try;
#   - the same value is not tried again (the key store remembers it): no try, no event;
#   - with threshold 1 the next m2mdm-policy check quarantines (exit 20), naming the counter;
#   - the right value signs and counts nothing; a TPM in dictionary-attack lockout is not
#     tried at all (exit 13): no try the TPM refused, no event.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
POL=$M2M_BIN_DIR/m2mdm-policy
[ -x "$POL" ] || lab_die "$POL is not built"
lab_init
lab_net
lab_tpm_up

pol() { M2M_BIN=$POL m2m "$@"; }
T=$LAB_TPM_TCTI HA=0x81010005
STATE=$LAB/dev/state
export TPM2TOOLS_TCTI=$T
count() { grep -c " $1\$" "$STATE/security-events" 2>/dev/null; }
tpm_var() { # the value of a TPM2_PT_ variable property, decimal
	local v
	v=$(tpm2_getcap properties-variable 2>/dev/null | awk -v p="$1:" '$1 == p { print $2 }')
	echo $((v))
}
da() { tpm_var TPM2_PT_LOCKOUT_COUNTER; }  # failed tries so far

(umask 077
 printf 'auth-%s%s' "$RANDOM" "$RANDOM" > "$LAB/tpm/auth"
 printf 'not-the-auth' > "$LAB/tpm/bad")
lab_keys_config pos tpm dev1.lab "cert: $LAB_DEV_CERT" "tcti: \"$T\"" "handle: $HA"
cat >> "$M2M_CONFIG_FILE" << EOF
policy:
  timeout: 5s
  counters:
    pin: {threshold: 1, window: 1h}
EOF
csr() { # csr AUTH-FILE: a CSR signed by the TPM key, its auth value from the file
	m2mcert csr --store tpm --tcti "$T" --handle $HA --pin-file "$LAB/tpm/$1" \
		--subject CN=dev1.lab -o "$LAB/x.csr"
}

m2mcert keygen --store tpm --tcti "$T" --handle $HA --pin-file "$LAB/tpm/auth"
is_rc 0 "a TPM key with an auth value"
quiet tpm2_dictionarylockout -c
csr auth
is_rc 0 "a CSR with the right auth value: exit 0"
pol check
is_rc 0 "no pin event: the check holds (exit 0)"
like "$M2M_OUT" "pin +holds +0 in the last 1 h \\(threshold 1\\)" "  status: pin, 0"

d0=$(da)
csr bad
is_rc 9 "a wrong auth value: exit 9"
like "$M2M_ERR" "wrong auth value" "  said so"
is "$(da)" $((d0 + 1)) "  the TPM counted one failed try"
is "$(count pin)" 1 "  one pin event written"
csr bad
is_rc 9 "the same wrong value again: exit 9"
like "$M2M_ERR" "not tried again" "  not tried again"
is "$(da)" $((d0 + 1)) "  no further failed try"
is "$(count pin)" 1 "  and no further pin event"

pol check
is_rc 20 "a refused TPM auth value at threshold 1: quarantined (exit 20)"
like "$M2M_OUT" "pin: 1 in the last 1 h \\(threshold 1\\)" "  the reason names the counter"
ok "  the quarantine table is in place" lab_nft_table m2m_quarantine
pol release --reason "lab: auth value corrected"
is_rc 0 "release: exit 0"

# in lockout (the failure made by another program) nothing is tried: not the TPM's refusal
quiet tpm2_dictionarylockout -s -n 1 -t 600 -l 600
quiet tpm2_sign -c $HA -p file:"$LAB/tpm/bad" -g sha256 -o "$LAB/tpm/sig" <(echo m2m)
csr auth
is_rc 13 "the TPM in dictionary-attack lockout: exit 13, not tried"
like "$M2M_ERR" "dictionary-attack lockout" "  said so"
is "$(count pin)" 1 "  no pin event: no try"
pol check
is_rc 0 "the check after the release holds (exit 0)"
quiet tpm2_dictionarylockout -c
quiet tpm2_dictionarylockout -s -n 3 -t 1000 -l 1000
csr auth
is_rc 0 "lockout cleared: the right value signs (exit 0)"
is "$(count pin)" 1 "  and counts nothing"
done_testing
