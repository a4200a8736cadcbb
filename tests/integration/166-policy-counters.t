#!/bin/bash
# 166-policy-counters.t - policy.counters: security events the tools write as they happen,
#   counted by m2mdm-policy check over a window against a threshold (m2m.yaml(5) SECURITY
#   POLICIES, m2mdm-policy(1)), on the real lab. Contract:
#   - "vpn-auth": every up whose authentication fails (the gateway refuses ours: 7) is one;
#     at the threshold the check quarantines (exit 20), the reason names the counter, the
#     audit log has its verdict;
#   - a release starts the count afresh: the next check does not put the quarantine back
#     for the events that led to it; the count goes on from there;
#   - "update-integrity": a package whose signature does not verify (m2mdm-update install,
#     17) is one; with action log the verdict is broken, nothing is quarantined;
#   - "pin": a key store that refuses a PIN (a file key's passphrase, 9) is one;
#   - below its threshold a counter holds; status and status --json show each counter.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_require_tool
lab_up

POL=$M2M_BIN_DIR/m2mdm-policy UPD=$M2M_BIN_DIR/m2mdm-update
for b in "$POL" "$UPD"; do [ -x "$b" ] || lab_die "$b is not built"; done
pol() { M2M_BIN=$POL m2m "$@"; }
upd() { M2M_BIN=$UPD m2m "$@"; }
W=$LAB/counters
STATE=$LAB/dev/state
mkdir -p "$W"

# a vendor CA, and a rogue signer whose packages must not verify
ca() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$W/$1.key" 2>/dev/null &&
	openssl req -x509 -new -key "$W/$1.key" -subj "/CN=$2" -days 30 -out "$W/$1.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}
ca vendor "Vendor Root" && ca rogue "Rogue Root" || lab_die "CAs"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > "$W/cs.ext"
openssl ecparam -name prime256v1 -genkey -noout -out "$W/evil.key" 2>/dev/null && chmod 600 "$W/evil.key" &&
openssl req -new -key "$W/evil.key" -subj /CN=evil.test -out "$W/evil.csr" 2>/dev/null &&
openssl x509 -req -in "$W/evil.csr" -CA "$W/rogue.pem" -CAkey "$W/rogue.key" -CAcreateserial \
	-CAserial "$W/rogue.srl" -days 20 -extfile "$W/cs.ext" -out "$W/evil.pem" 2>/dev/null ||
	lab_die "rogue signer"
printf '#!/bin/sh\nexit 0\n' > "$W/install.sh" && chmod 755 "$W/install.sh"
head -c 4096 /dev/urandom > "$W/payload"
printf '{"format":1,"type":"software","name":"pos-app","version":"9.9.9","models":["lab"],"installer":"script","expires":"%s"}\n' \
	"$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" > "$W/m.json"
"$UPD" sign --manifest "$W/m.json" --payload "$W/payload" --key "$W/evil.key" --cert "$W/evil.pem" \
	-o "$W/evil.pkg" > /dev/null 2>&1 || lab_die "signing the rogue package"

config() {   # config REMOTE_ID: the profile pos with that remote_id; counters vpn-auth 3, update-integrity 1 (log), pin 2
	lab_dev_config pos remote_id="$1" top="update:
  trust: $W/vendor.pem
  installers:
    script: {path: $W/install.sh, timeout: 30}
policy:
  timeout: 5s
  counters:
    vpn-auth: {threshold: 3, window: 1h}
    update-integrity: {threshold: 1, window: 10m, action: log}
    pin: {threshold: 2}"
	# the device's model, which the package names
	sed -i 's/^  id: dev1.lab$/  id: dev1.lab\n  model: lab/' "$M2M_CONFIG_FILE"
}
count() { grep -c " $1\$" "$STATE/security-events" 2>/dev/null; }

config other.lab
pol check
is_rc 0 "no events yet: the check holds (exit 0)"
like "$M2M_OUT" "vpn-auth +holds +0 in the last 1 h \\(threshold 3\\)" "  status names the counter and its count"

# ---- vpn-auth: the gateway refuses our authentication (remote_id it is not)
for i in 1 2; do
	m2m up pos --timeout 10
	is_rc 7 "up $i with a remote_id the gateway is not: exit 7"
done
is "$(count vpn-auth)" 2 "two vpn-auth events written"
pol check
is_rc 0 "two of three: still holds"
m2m up pos --timeout 10
is_rc 7 "up 3: exit 7"
pol check
is_rc 20 "three within the hour: quarantined (exit 20)"
like "$M2M_OUT" "vpn-auth: 3 in the last 1 h \\(threshold 3\\)" "  the reason names the counter"
ok "  the quarantine table is in place" lab_nft_table m2m_quarantine
pol audit --json
is "$("$LAB_PY" -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["records"] if r["event"] == "broken" and r["policy"] == "vpn-auth"))' <<< "$M2M_OUT")" 1 \
	"  the audit log has the counter's verdict"

# ---- a release starts the count afresh
pol release --reason "lab: remote_id corrected"
is_rc 0 "release: exit 0"
config gw.lab
pol check
is_rc 0 "the next check does not quarantine again for the events before the release"
like "$M2M_OUT" "vpn-auth +holds +0 in the last 1 h" "  the count starts after the release"
m2m up pos --timeout 20
is_rc 0 "up with the right remote_id: exit 0 (no event)"
m2m down pos

# ---- update-integrity (action log): a package from a rogue signer
upd install "$W/evil.pkg"
is_rc 17 "install of a package whose signer does not verify: exit 17"
is "$(count update-integrity)" 1 "  one update-integrity event written"
pol check
is_rc 0 "update-integrity broken with action log: not quarantined (exit 0)"
like "$M2M_OUT" "update-integrity +broken +1 in the last 10 min \\(threshold 1\\) \\(logged only\\)" \
	"  status says broken, logged only"

# ---- pin: a file key's passphrase refused
(umask 077; echo right > "$W/pin-right"; echo wrong > "$W/pin-wrong")
m2mcert keygen --store file --key "$W/k.key" --pin-file "$W/pin-right"
is_rc 0 "an encrypted file key"
for i in 1 2; do
	m2mcert csr --store file --key "$W/k.key" --pin-file "$W/pin-wrong" --subject CN=x -o "$W/x.csr"
	is_rc 9 "a CSR with the wrong passphrase ($i): exit 9"
done
is "$(count pin)" 2 "  two pin events written"
pol check --json
is_rc 20 "two refused PINs: quarantined (exit 20)"
is "$(jget policies.pin.verdict <<< "$M2M_OUT")" broken "  --json: policies.pin.verdict broken"
is "$(jget policies.vpn-auth.verdict <<< "$M2M_OUT")" holds "  --json: policies.vpn-auth.verdict holds"
pol release --reason "lab: done"
m2m down pos
done_testing
