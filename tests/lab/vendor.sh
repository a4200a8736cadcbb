#!/bin/bash
# shellcheck shell=bash disable=SC2034
#
# tests/lab/vendor.sh - the vendor's side of signed configuration packages, on top of
# tests/lab/lab.sh (which it only extends with new functions), and a look at the device's
# update engine; for the tests that update a lab device's m2m.yaml (310, 239).
#
#   . "$(dirname "$0")/../lab/lab.sh"; . "$(dirname "$0")/../lab/vendor.sh"
#   vendor_pki DIR                    # DIR/ca.pem (update.trust), DIR/signer.pem and .key
#   vendor_config_pkg DIR OUT CONFIG VERSION   # a config package of CONFIG, model lab-device
#   vendor_status CONFIG FIELD        # a member of `m2mdm-update -c CONFIG status --json`
# Needs openssl and $UPD (the m2mdm-update binary).

vendor_pki() {
	local d=$1
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > "$d/cs.ext"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>> "$d/pki.err" &&
	openssl req -x509 -new -key "$d/ca.key" -subj "/CN=Lab Vendor Root" -days 30 -out "$d/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>> "$d/pki.err" &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/signer.key" 2>> "$d/pki.err" &&
	chmod 0600 "$d/signer.key" &&
	openssl req -new -key "$d/signer.key" -subj "/CN=config-signer.lab" -out "$d/signer.csr" 2>> "$d/pki.err" &&
	openssl x509 -req -in "$d/signer.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 20 -extfile "$d/cs.ext" -out "$d/signer.pem" 2>> "$d/pki.err"
}

vendor_config_pkg() {
	local d=$1
	printf '{"format":1,"type":"config","name":"m2m-config","version":"%s","models":["lab-device"],"installer":"config","expires":"%s"}\n' \
		"$4" "$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" > "$d/manifest.json"
	"$UPD" sign --manifest "$d/manifest.json" --payload "$3" --key "$d/signer.key" \
		--cert "$d/signer.pem" -o "$2" > "$d/sign.out" 2> "$d/sign.err"
}

vendor_status() {
	ip netns exec "$NS_DEV" "$UPD" -c "$1" status --json 2> /dev/null |
		"$LAB_PY" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$2"
}
