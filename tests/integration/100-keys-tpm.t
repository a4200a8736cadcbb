#!/bin/bash
# 100-keys-tpm.t - a TPM 2.0 key (swtpm behind tpm2-abrmd) end to end:
#   m2mvpn-cert keygen --store tpm (fixed ecdsa-sha256 scheme), csr signed in the TPM,
#   certificate from the lab CA, doctor clean, tunnel up with charon's tpm plugin, traffic.
#   Failures: TPM unreachable (exit 16, the TCTI named), a key without a signing scheme
#   (exit 9, before charon), a certificate that does not match the key (exit 9).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

T=$LAB_TPM_TCTI
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE"
is_rc 0 "keygen --store tpm: exit 0"
like "$M2M_OUT" "scheme ecdsa-sha256" "keygen: the key has the fixed ecdsa-sha256 scheme"
first_fp=$(grep -oE 'SHA256:[0-9a-f]+' <<<"$M2M_OUT")
like "$first_fp" "^SHA256:[0-9a-f]{64}$" "keygen: the fingerprint is the whole SHA-256 of the public key"
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE"
is_rc 9 "keygen again: an existing key is not replaced (exit 9)"
m2mcert csr --store tpm --tcti "$T" --subject "CN=dev-tpm.lab,O=m2m test lab" --san dev-tpm.lab -o "$LAB/pki/dev-tpm.csr"
is_rc 0 "csr signed by the TPM key: exit 0"
ok "the CSR verifies" quiet openssl req -in "$LAB/pki/dev-tpm.csr" -noout -verify
ok "the lab CA issues dev-tpm.lab" lab_keys_issue "$LAB/pki/dev-tpm.csr" dev-tpm dev-tpm.lab

lab_keys_config pos tpm dev-tpm.lab "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$T\"" "handle: $LAB_TPM_HANDLE"
m2mcert doctor pos
is_rc 0 "doctor pos: every check passes"
like "$M2M_OUT" "reachable through TCTI $T" "doctor names the TCTI"
like "$M2M_OUT" "plugins for method tpm loaded" "doctor: charon has the tpm plugin"
m2mcert doctor pos --json
is "$(jget schema <<< "$M2M_OUT")" m2m.cert.doctor/1 "doctor --json: schema"
is "$(jget result <<< "$M2M_OUT")" ok "doctor --json: result ok"
m2mcert show -p pos --json
is_rc 0 "show --json: exit 0"
is "$(jget key.store <<< "$M2M_OUT")" tpm "show --json: key store tpm"
is "$(jget matches_key <<< "$M2M_OUT")" true "show --json: the certificate matches the key"

m2m up pos --timeout 20
is_rc 0 "up with the TPM key: exit 0"
ok "traffic through the tunnel" lab_ping_inner 3
ok "the gateway authenticated dev-tpm.lab" eval 'lab_sas gw | grep -q "remote-id=dev-tpm.lab"'
ok "charon signed with the TPM (log)" grep -q "ECDSA_WITH_SHA256_DER successful" "$LAB/dev/charon.log"
m2m down pos
is_rc 0 "down: exit 0"

# ---- a refused TPM signature is made once more: charon's TPM signer DER-encodes about one
#      ECDSA signature in 128 wrongly (zero-padded r or s), so the gateway refuses a good key.
#      A real refusal (a certificate from a CA the gateway does not trust; another name,
#      since the gateway keeps the trusted certificate of this key) still exits 7.
_lab_pki_run --issue --in "$LAB/pki/dev-tpm.csr" --type pkcs10 --cacert "$LAB/pki/rogue-ca.pem" \
	--cakey "$LAB/pki/rogue-ca.key" --dn "C=XX, O=m2m test lab, CN=dev-rogue.lab" --san dev-rogue.lab \
	--flag clientAuth --lifetime 20 --outform pem > "$LAB/pki/dev-tpm-rogue.pem"
lab_keys_config rogue tpm dev-rogue.lab "cert: $LAB/pki/dev-tpm-rogue.pem" "tcti: \"$T\""
m2m -v up rogue --timeout 20
is_rc 7 "certificate from a CA the gateway does not trust: exit 7"
is "$(grep -c 'once more with a new TPM signature' <<<"$M2M_ERR")" 1 "refused once: tried once more, and only once"
m2m down rogue

# ---- TPM unreachable: the resource manager is gone (a fresh profile, so nothing is cached)
lab_tpm_stop_rm
lab_keys_config tpm2 tpm dev-tpm.lab "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$T\""
m2m up tpm2 --timeout 20
is_rc 16 "TPM unreachable: exit 16 (device)"
like "$M2M_ERR" "TPM not reachable through TCTI '$T'" "TPM unreachable: the message names the TCTI"
ok "TPM unreachable: one line" one_line "$M2M_ERR"
m2mcert doctor tpm2
is_rc 16 "doctor with the TPM unreachable: exit 16 (device)"
lab_tpm_start_rm

# ---- a key without a signing scheme (made by hand, as an older tool would)
export TPM2TOOLS_TCTI=$T
( cd "$LAB/tpm" &&
  tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -c prim.ctx \
	-a "restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda" &&
  tpm2_create -Q -C prim.ctx -g sha256 -G ecc256 -u ns.pub -r ns.priv \
	-a "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda" &&
  tpm2_load -Q -C prim.ctx -u ns.pub -r ns.priv -c ns.ctx &&
  tpm2_evictcontrol -Q -C o -c ns.ctx 0x81010003 &&
  tpm2_flushcontext -t ) > "$LAB/log/noscheme.out" 2>&1
ok "a key without a scheme at 0x81010003" grep -q . <(tpm2_getcap handles-persistent | grep -i 0x81010003)
m2mcert csr --store tpm --tcti "$T" --handle 0x81010003 --subject CN=dev-tpm.lab --san dev-tpm.lab -o "$LAB/pki/ns.csr"
is_rc 0 "csr with the scheme-less key still works (the scheme is given per signature)"
lab_keys_issue "$LAB/pki/ns.csr" dev-ns dev-tpm.lab
lab_keys_config nosch tpm dev-tpm.lab "cert: $LAB/pki/dev-ns.pem" "tcti: \"$T\"" "handle: 0x81010003"
m2m up nosch --timeout 20
is_rc 9 "key without a signing scheme: exit 9"
like "$M2M_ERR" "signing scheme none" "no scheme: the message says so"
is "$(lab_sa_count dev)" 0 "no scheme: refused before any IKE SA"
m2mcert doctor nosch
is_rc 9 "doctor: the scheme check fails (exit 9)"
like "$M2M_OUT" "fail scheme" "doctor names the scheme check"

# ---- certificate not matching the key
lab_keys_config wrong tpm dev1.lab "cert: $LAB_DEV_CERT" "tcti: \"$T\""
m2m up wrong --timeout 20
is_rc 9 "certificate not matching the TPM key: exit 9"
like "$M2M_ERR" "does not match key" "mismatch: the message says so"

# ---- a key with an auth value: tried by us once before charon, under the TPM's
#      dictionary-attack policy (each wrong try counts towards a lockout of every key)
HA=0x81010005
printf 'auth-%s%s' "$RANDOM" "$RANDOM" > "$LAB/tpm/auth"
printf 'not-the-auth-1' > "$LAB/tpm/bad1"
printf 'not-the-auth-2' > "$LAB/tpm/bad2"
printf 'not-the-auth-3' > "$LAB/tpm/bad3"
chmod 600 "$LAB/tpm/auth" "$LAB/tpm/bad1" "$LAB/tpm/bad2" "$LAB/tpm/bad3"
tpm_var() { # the value of a TPM2_PT_ variable property, decimal
	local v
	v=$(tpm2_getcap properties-variable 2>/dev/null | awk -v p="$1:" '$1 == p { print $2 }')
	echo $((v))
}
da() { tpm_var TPM2_PT_LOCKOUT_COUNTER; }  # failed tries so far
da_max() { tpm_var TPM2_PT_MAX_AUTH_FAIL; }
m2mcert keygen --store tpm --tcti "$T" --handle $HA --pin-file "$LAB/tpm/auth"
is_rc 0 "keygen --store tpm with an auth value: exit 0"
m2mcert csr --store tpm --tcti "$T" --handle $HA --pin-file "$LAB/tpm/auth" \
	--subject "CN=dev-tpm.lab,O=m2m test lab" --san dev-tpm.lab -o "$LAB/pki/dev-tpma.csr"
is_rc 0 "csr signed with the auth value: exit 0"
ok "the lab CA issues it" lab_keys_issue "$LAB/pki/dev-tpma.csr" dev-tpma dev-tpm.lab
tpm_auth() { # profile auth-file
	lab_keys_config "$1" tpm dev-tpm.lab "cert: $LAB/pki/dev-tpma.pem" "tcti: \"$T\"" \
		"handle: $HA" "pin: {file: $LAB/tpm/$2}"
}
tpm_auth ta auth
lab_keys_scanned "$LAB/tpm/auth" m2m up ta --timeout 20
is_rc 0 "up with the right auth value: exit 0"
ok "traffic through the tunnel" lab_ping_inner 2
m2m down ta
is "$(lab_keys_scan_hits)" "" "the auth value is in no /proc/*/cmdline or environ"
# the auth value is for the TPM only: no other store of charon's (its openssl plugin's pkcs11
# engine, which reaches every token p11-kit knows) may try it as a token PIN
tok_flags() { pkcs11-tool --module "$LAB_P11_MODULE" -L 2>/dev/null | grep -i "token flags"; }
lab_p11_reset_counter
flags0=$(tok_flags)
unlike "$flags0" "count low" "the token's retry counter is full before"
for i in 1 2 3; do
	tpm_auth "tx$i" auth
	m2m up "tx$i" --timeout 20
	[ "$M2M_RC" = 0 ] || break
	m2m down "tx$i"
done
is "$M2M_RC" 0 "three TPM profiles loaded and up, with a token present"
is "$(tok_flags)" "$flags0" "the token's flags did not move (no PIN tried on it: $(tok_flags))"
unlike "$(cat "$LAB/dev/charon.log")" "from engine 'pkcs11'" "charon's openssl engine never tried the TPM key"
# a later "up" finds the credentials still in charon (the per-profile cache), and still
# checks what decides the outcome: the TPM must answer through its TCTI
tpm_auth ta auth
lab_tpm_stop_rm
m2m up ta --timeout 20
is_rc 16 "cached profile, resource manager stopped: exit 16"
like "$M2M_ERR" "tabrmd" "the TCTI is named"
lab_tpm_start_rm
m2m up ta --timeout 20
is_rc 0 "resource manager back: up again, exit 0"
m2m down ta
quiet tpm2_dictionarylockout -c # the counts below start from a clear counter
d0=$(da)
max=$(da_max)
tpm_auth tb bad1
m2m up tb --timeout 20
is_rc 9 "a wrong auth value: exit 9"
like "$M2M_ERR" "wrong auth value \\(not retried" "wrong auth value: said so"
is "$(da)" $((d0 + 1)) "one failed try counted by the TPM"
is "$(lab_sa_count dev)" 0 "charon never got it: no IKE SA attempted"
m2m up tb --timeout 20
is_rc 9 "the same wrong value again: exit 9"
like "$M2M_ERR" "refused in an earlier run; not tried again" "not tried again"
is "$(da)" $((d0 + 1)) "no further failed try"
# the other tool follows the same policy: doctor (as in an ExecStartPre), its --json, and
# a CSR do not try the value the TPM refused (each try would count towards the lockout)
m2mcert doctor tb -q
is_rc 9 "m2mvpn-cert doctor on that profile: exit 9"
m2mcert doctor tb --json
is "$(da)" $((d0 + 1)) "doctor and doctor --json: no further failed try"
m2mcert csr -p tb --subject "CN=dev-tpm.lab" -o "$LAB/pki/never.csr"
is_rc 9 "m2mvpn-cert csr with that profile: exit 9"
like "$M2M_ERR" "not tried again" "csr: not tried again"
is "$(da)" $((d0 + 1)) "csr: no further failed try"
# the key has an auth value but the profile gives none: tried empty by us once, not by
# charon at every IKE attempt (each would count towards the lockout)
lab_keys_config tn tpm dev-tpm.lab "cert: $LAB/pki/dev-tpma.pem" "tcti: \"$T\"" "handle: $HA"
m2m up tn --timeout 20
is_rc 9 "auth value needed, no pin in the profile: exit 9"
like "$M2M_ERR" "has an auth value and none was given" "no pin: said so"
is "$(da)" $((d0 + 2)) "one failed try counted"
m2m up tn --timeout 20
like "$M2M_ERR" "not tried again" "no pin, again: not tried"
is "$(da)" $((d0 + 2)) "no further failed try"
# up to one try from the lockout, another wrong value is not tried unattended
while [ "$(da)" -lt $((max - 1)) ]; do
	printf 'filler-%s' "$RANDOM$RANDOM" > "$LAB/tpm/filler"
	chmod 600 "$LAB/tpm/filler"
	tpm_auth tf filler
	m2m up tf --timeout 20
	[ "$M2M_RC" = 9 ] || break
done
tpm_auth tc bad3
m2m up tc --timeout 20
is_rc 13 "one failed try from the lockout ($(da) of $max): exit 13, not tried"
m2mcert doctor tc -q
is_rc 13 "doctor, one failed try from the lockout: exit 13, not tried"
m2mcert csr -p tc --subject "CN=dev-tpm.lab" -o "$LAB/pki/never.csr"
is_rc 13 "csr, one failed try from the lockout: exit 13, not tried"
is "$(da)" $((max - 1)) "the TPM did not lock"
# in lockout (the last failure made by another program), a cached profile with the right
# value is refused before charon tries: 13
printf 'm2m' > "$LAB/tpm/msg"
quiet tpm2_sign -c $HA -p file:"$LAB/tpm/bad2" -g sha256 -o "$LAB/tpm/sig" "$LAB/tpm/msg"
tpm_auth ta auth
m2m up ta --timeout 20
is_rc 13 "TPM in lockout ($(da) of $max), cached profile with the right value: exit 13"
like "$M2M_ERR" "dictionary-attack lockout" "lockout: said so"
ok "clear the counter for the tests after" quiet tpm2_dictionarylockout -c

# keygen --force: a new key at the handle (the old one evicted only once it exists)
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE" --force
is_rc 0 "keygen --force over the key at the handle: exit 0"
new_fp=$(grep -oE 'SHA256:[0-9a-f]+' <<<"$M2M_OUT")
ok "a new key ($first_fp -> $new_fp)" test -n "$new_fp" -a "$new_fp" != "$first_fp"
done_testing
