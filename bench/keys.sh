#!/bin/bash
# bench/keys.sh - connect time per authentication method against the soft-certificate
# connect, as ratios, on the key-store lab (tests/lab/keys.sh); and the signing latency of
# each key store through libm2m (build/bench/keysign).
#   cold: the tool reads and loads the credentials every time (its "what charon holds"
#         record is removed first), as after a reboot: key store open, PIN check, load-key /
#         load-token / load-shared, load-conn, initiate
#   warm: charon still holds them (the common case of a reconnect): initiate only
# Alternating methods, median of N each (default 9), from the device namespace.
# usage: sudo bench/keys.sh [N]
set -euo pipefail
N=${1:-9}
cd "$(dirname "$0")/.."
. tests/lab/lab.sh
. tests/lab/keys.sh
lab_require
lab_keys_require
lab_require_tool
[ -x build/bench/keysign ] || { echo "build/bench/keysign missing: make all" >&2; exit 1; }
lab_keys_up
C=build/bin/m2mvpn-cert
in_dev_q() { in_dev "$@" > /dev/null 2>&1; }

# ---- one key per store, certificates from the lab CA
export M2M_MACHINE_ID_FILE=$LAB/machine-id M2M_DMI_DIR=$LAB/nodmi
echo 0123456789abcdef0123456789abcdef > "$M2M_MACHINE_ID_FILE"
in_dev_q $C keygen --store tpm --tcti "$LAB_TPM_TCTI"
in_dev_q $C csr --store tpm --tcti "$LAB_TPM_TCTI" --subject CN=dev-tpm.lab --san dev-tpm.lab -o "$LAB/pki/t.csr"
lab_keys_issue "$LAB/pki/t.csr" dev-tpm dev-tpm.lab
P11=(--store pkcs11 --module "$LAB_P11_MODULE" --id 01 --pin-file "$LAB_P11_PIN_FILE")
in_dev_q $C keygen "${P11[@]}"
in_dev_q $C csr "${P11[@]}" --subject CN=dev-hsm.lab --san dev-hsm.lab -o "$LAB/pki/h.csr"
lab_keys_issue "$LAB/pki/h.csr" dev-hsm dev-hsm.lab
in_dev_q $C keygen --store machine --key "$LAB/dev/m.bound"
in_dev_q $C csr --store machine --key "$LAB/dev/m.bound" --subject CN=dev-m.lab --san dev-m.lab -o "$LAB/pki/m.csr"
lab_keys_issue "$LAB/pki/m.csr" dev-m dev-m.lab

declare -A CFG
conf() {   # conf NAME METHOD LOCAL_ID AUTH_LINES...
	local name=$1
	lab_keys_config "$@"
	mv "$LAB/dev/m2m.yaml" "$LAB/dev/$name.yaml"
	CFG[$name]=$LAB/dev/$name.yaml
}
conf soft cert dev1.lab "cert: $LAB_DEV_CERT" "key: $LAB_DEV_KEY"
conf tpm tpm dev-tpm.lab "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$LAB_TPM_TCTI\""
conf pkcs11 pkcs11 dev-hsm.lab "module: $LAB_P11_MODULE" "id: \"01\"" "cert: $LAB/pki/dev-hsm.pem" "pin: {file: $LAB_P11_PIN_FILE}"
conf machine machine dev-m.lab "cert: $LAB/pki/dev-m.pem" "key: $LAB/dev/m.bound"
conf eap eap dev1.lab "eap_id: $LAB_EAP_ID" "password: {file: $LAB_EAP_PASS_FILE}"
conf certeap cert+eap dev-ce.lab "cert: $LAB_CE_CERT" "key: $LAB_CE_KEY" "eap_id: $LAB_EAP_ID" "password: {file: $LAB_EAP_PASS_FILE}"
METHODS=(soft tpm pkcs11 machine eap certeap)

up_us() {   # up_us NAME cold|warm -> wall µs of "up"
	local name=$1 t0 t1
	[ "$2" = cold ] && rm -f "$LAB/dev/state/vpn-$name.loaded"
	t0=${EPOCHREALTIME/[.,]/}
	in_dev build/bin/m2mvpn-connect -c "${CFG[$name]}" up "$name" --timeout 15 > /dev/null 2>&1 ||
		{ echo "up $name failed: $(in_dev build/bin/m2mvpn-connect -c "${CFG[$name]}" up "$name" 2>&1)" >&2; exit 1; }
	t1=${EPOCHREALTIME/[.,]/}
	echo $((t1 - t0))
	in_dev build/bin/m2mvpn-connect -c "${CFG[$name]}" down "$name" > /dev/null 2>&1
	sleep 0.2
}
declare -A COLD WARM
for m in "${METHODS[@]}"; do up_us "$m" cold > /dev/null; done   # warm-up
for ((i = 0; i < N; i++)); do
	for m in "${METHODS[@]}"; do
		COLD[$m]+="$(up_us "$m" cold) "
		WARM[$m]+="$(up_us "$m" warm) "
	done
done
med() { tr ' ' '\n' <<< "$1" | grep . | median; }
sc=$(med "${COLD[soft]}") sw=$(med "${WARM[soft]}")
printf 'connect time per method, median of %d (cold: credentials loaded each time; warm: charon holds them)\n' "$N"
printf '  %-9s %9s %7s   %9s %7s\n' method cold ratio warm ratio
for m in "${METHODS[@]}"; do
	c=$(med "${COLD[$m]}") w=$(med "${WARM[$m]}")
	awk -v m="$m" -v c="$c" -v w="$w" -v sc="$sc" -v sw="$sw" \
		'BEGIN { printf "  %-9s %6.1f ms %7.2f   %6.1f ms %7.2f\n", m, c / 1000, c / sc, w / 1000, w / sw }'
done

echo "signing latency through libm2m (m2m_key_sign, SHA-256 digest):"
in_dev build/bench/keysign tpm "$LAB_TPM_TCTI" 81010002 200 | sed 's/^/  /'
in_dev build/bench/keysign pkcs11 "$LAB_P11_MODULE" 01 "$LAB_P11_PIN_FILE" 200 | sed 's/^/  /'
in_dev build/bench/keysign machine "$LAB/dev/m.bound" 200 | sed 's/^/  /'
in_dev build/bench/keysign file "$LAB_DEV_KEY" 200 | sed 's/^/  /'
