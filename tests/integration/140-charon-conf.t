#!/bin/bash
# m2mvpn-cert charon-conf: the TCTI and PKCS#11 modules the profiles name, written
# for charon's tpm and pkcs11 plugins, and read by a real charon.
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
CERT=$(dirname "$M2M_BIN")/m2mvpn-cert
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -f "$MODULE" ] || { echo "1..0 # SKIP softhsm2 not installed"; exit 0; }
lab_init
plan 8
lab_dev_config t1 extra='' + p1
# turn the two cert profiles into a TPM one and a PKCS#11 one
python3 - "$M2M_CONFIG_FILE" "$MODULE" <<'PY'
import re, sys
p, mod = sys.argv[1], sys.argv[2]
s = open(p).read()
blocks = re.split(r"(?m)^(?=    \w+:$)", s)
out = []
for b in blocks:
    if b.startswith("    t1:"):
        b = re.sub(r"(?ms)      auth:\n.*?(?=      ca:)", "      auth: {method: tpm, tcti: \"tabrmd:bus_type=system\", handle: 0x81010002, cert: /dev/null}\n", b)
    elif b.startswith("    p1:"):
        b = re.sub(r"(?ms)      auth:\n.*?(?=      ca:)", "      auth: {method: pkcs11, module: %s, id: \"01\", pin: {prompt: true}}\n" % mod, b)
    out.append(b)
open(p, "w").write("".join(out))
PY
"$CERT" -c "$M2M_CONFIG_FILE" charon-conf -o "$LAB/m2m-plugins.conf" 2> "$LAB/log/cc.err"
is "$?" 0 "charon-conf -o: exit 0"
like "$(cat "$LAB/m2m-plugins.conf")" "tpm \{[[:space:]]+tcti \{[[:space:]]+name = tabrmd[[:space:]]+opts = bus_type=system" "the TPM profile's TCTI, split into name and opts"
like "$(cat "$LAB/m2m-plugins.conf")" "pkcs11 \{[[:space:]]+modules \{[[:space:]]+m2m-p1 \{[[:space:]]+path = $MODULE" "the token profile's module"
is "$(stat -c %a "$LAB/m2m-plugins.conf")" 644 "nothing secret in it: mode 0644"
# a real charon reads it: the pkcs11 plugin loads the module under the name we gave it
LAB_CHARON_EXTRA_dev="  load = random nonce aes sha1 sha2 hmac gcm pem pkcs1 pkcs8 x509 pubkey openssl pkcs11 kernel-netlink socket-default vici
  plugins {
    include $LAB/m2m-plugins.conf
  }"
lab_net
lab_charon_start dev
ok "charon loaded the module named in the fragment" wait_until 5 grep -q "m2m-p1" "$LAB/dev/charon.log"
unlike "$(cat "$LAB/dev/charon.log")" "parsing .*failed|syntax error" "charon parsed the fragment without errors"
# two TPM profiles that disagree on the TCTI: charon can use only one
sed -i 's|auth: {method: pkcs11, module: [^,]*, id: "01", pin: {prompt: true}}|auth: {method: tpm, tcti: "device:/dev/tpmrm0", cert: /dev/null}|' "$M2M_CONFIG_FILE"
"$CERT" -c "$M2M_CONFIG_FILE" charon-conf > /dev/null 2> "$LAB/log/cc2.err"
is "$?" 3 "two profiles with different TCTIs: exit 3"
like "$(cat "$LAB/log/cc2.err")" "different TCTIs" "and the message says why"
