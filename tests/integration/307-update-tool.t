#!/bin/bash
# 307-update-tool.t - m2mdm-update, the tool over lib/update's engine, from outside:
#   sign with the tool (a file key with a codeSigning certificate from a test CA; two
#   signers for firmware), verify with the tool (text and --json) and, independently, with
#   `openssl cms` over the manifest bytes (RFC 5652 detached SignedData);
#   install a package whose installer is a script that records its calls, from a file and
#   from an http URL (python3 -m http.server on 127.0.0.1), with plain progress lines when
#   stdout is not a terminal and nothing with -q; the technician's commit and rollback;
#   status and status --json (schema m2m.update/1); refusals with their codes and the
#   installed version unchanged (a payload byte changed: 17, a signer of another CA: 17,
#   another model: 18); check with nothing under way: exit 0, silent; a second run while an
#   install holds the lock: 11 with a clear message.
. "$(dirname "$0")/../lab/lab.sh"
BIN=${M2M_BIN_DIR:-$LAB_REPO/build/bin}
T=$BIN/m2mdm-update
if [ ! -x "$T" ]; then echo "1..1"; echo "not ok 1 - $T exists (make)"; exit 1; fi
L=$(mktemp -d /tmp/m2m-test.XXXXXX) || { echo "Bail out! mktemp"; exit 1; }
chmod 0755 "$L"
HTTP_PID=
BG_PID=
_t_exit() {
	local rc=$?
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2> /dev/null && wait "$HTTP_PID" 2> /dev/null
	[ -n "$BG_PID" ] && kill "$BG_PID" 2> /dev/null && wait "$BG_PID" 2> /dev/null
	rm -rf "$L"
	[ "$rc" = 0 ] && [ "$TAP_FAILED" -gt 0 ] && rc=$TAP_FAILED
	exit "$rc"
}
trap _t_exit EXIT

# ---- a vendor CA, a code signer (file key), a second signer, a rogue CA's signer
P=$L/pki
mkdir -p "$P"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > "$P/cs.ext"
# ca NAME CN: a self-signed CA; signer CA NAME CN: a key and a code-signing certificate
ca() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$P/$1.key" 2>> "$P/err" &&
	openssl req -x509 -new -key "$P/$1.key" -subj "/CN=$2" -days 30 -out "$P/$1.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>> "$P/err"
}
signer() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$P/$2.key" 2>> "$P/err" && chmod 0600 "$P/$2.key" &&
	openssl req -new -key "$P/$2.key" -subj "/CN=$3" -out "$P/$2.csr" 2>> "$P/err" &&
	openssl x509 -req -in "$P/$2.csr" -CA "$P/$1.pem" -CAkey "$P/$1.key" -CAcreateserial \
		-CAserial "$P/$1.srl" -days 20 -extfile "$P/cs.ext" -out "$P/$2.pem" 2>> "$P/err"
}
ok "a test CA and two code signers" eval 'ca ca "Vendor Root" && signer ca s1 vendor-one.test && signer ca s2 vendor-two.test'
ok "a rogue CA and its code signer" eval 'ca rogue "Rogue Root" && signer rogue evil evil.test'

# ---- the device: config, a script installer that records its calls
S=$L/install.sh
cat > "$S" << EOF
#!/bin/sh
echo "\$1 \$M2M_UPDATE_NAME \$M2M_UPDATE_VERSION" >> $L/calls
# a held install waits for the test to let it go
if [ "\$1" = install ] && [ -e $L/hold ]; then
	while [ ! -e $L/go ]; do sleep 0.1; done
fi
exit 0
EOF
chmod 0755 "$S"
C=$L/m2m.yaml
cat > "$C" << EOF
version: 1
device:
  id: pos-17
  model: pos-a
state_dir: $L/state
update:
  trust: $P/ca.pem
  timeout: 60
  health:
    timeout: 10m
  installers:
    script:
      path: $S
      timeout: 60
EOF
chmod 0600 "$C"
export M2M_CONFIG=$C
EXPIRES=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
head -c 3000000 /dev/urandom > "$L/payload"

# manifest FILE VERSION [MODEL] [TYPE]: a manifest without size and sha256 (sign fills them in)
manifest() {
	printf '{"format":1,"type":"%s","name":"pos-app","version":"%s","models":["%s","pos-b"],"installer":"script","expires":"%s"}\n' \
		"${4:-software}" "$2" "${3:-pos-a}" "$EXPIRES" > "$1"
}
# run ARGS...: the tool -> RC OUT ERR
run() { "$T" "$@" > "$L/out" 2> "$L/err" < /dev/null; RC=$?; OUT=$(cat "$L/out"); ERR=$(cat "$L/err"); }
run_rc() {
	if [ "$RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $RC"; diag "    stdout: $OUT"; diag "    stderr: $ERR"
	return 1
}
# jget KEY: a member of the last status --json (python3: json.load)
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2]))' "$L/status.json" "$1"; }
status_json() { "$T" status --json > "$L/status.json" 2> "$L/err"; }
# cms_ok PKG: openssl verifies the package's signature over its manifest bytes
cms_ok() {
	local m s
	m=$(od -An -tu4 --endian=big -j 8 -N 4 "$1" | tr -d ' ')
	s=$(od -An -tu4 --endian=big -j 12 -N 4 "$1" | tr -d ' ')
	tail -c +17 "$1" | head -c "$m" > "$L/man.json"
	tail -c +$((17 + m)) "$1" | head -c "$s" > "$L/sig.der"
	openssl cms -verify -binary -inform DER -in "$L/sig.der" -content "$L/man.json" \
		-CAfile "$P/ca.pem" -purpose any -out /dev/null 2> "$L/cms.err"
}
K1=(--key "$P/s1.key" --cert "$P/s1.pem")
K2=(--key "$P/s2.key" --cert "$P/s2.pem")

# ---- sign and verify
manifest "$L/m210.json" 2.1.0
run sign --manifest "$L/m210.json" --payload "$L/payload" "${K1[@]}" -o "$L/app-2.1.0.pkg"
run_rc 0 "sign with a file key: exit 0"
like "$OUT" "signed by 1 key" "it says what it wrote"
run verify "$L/app-2.1.0.pkg" --trust "$P/ca.pem" --model pos-a
run_rc 0 "verify against the CA: exit 0"
like "$OUT" "pos-app 2.1.0: genuine" "the package's name and version"
like "$OUT" "signed by +CN ?= ?vendor-one.test" "the signer is named"
like "$OUT" "3000000 bytes" "the payload's size (filled in by sign)"
run verify "$L/app-2.1.0.pkg" --trust "$P/ca.pem" --json
run_rc 0 "verify --json: exit 0"
is "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["schema"], d["name"], d["version"], d["size"], d["models"], len(d["sha256"]))' <<< "$OUT")" \
	"m2m.update.package/1 pos-app 2.1.0 3000000 ['pos-a', 'pos-b'] 64" "its JSON parses, with the package's fields"
is "$(sha256sum < "$L/payload" | cut -d' ' -f1)" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])' <<< "$OUT")" \
	"the manifest's sha256 is the payload's"
ok "openssl cms verifies the signature over the manifest bytes" cms_ok "$L/app-2.1.0.pkg"
manifest "$L/fw.json" 3.0.0 pos-a firmware
run sign --manifest "$L/fw.json" --payload "$L/payload" "${K1[@]}" "${K2[@]}" -o "$L/fw2.pkg"
run_rc 0 "firmware signed by two keys (two --key/--cert signers): exit 0"
run verify "$L/fw2.pkg" --trust "$P/ca.pem" --signatures 2
run_rc 0 "two signers required, two present: exit 0"
is "$(grep -oE 'vendor-(one|two).test' "$L/out" | sort | tr '\n' ' ')" "vendor-one.test vendor-two.test " "both signers named"
ok "openssl cms verifies the two-signer signature" cms_ok "$L/fw2.pkg"
run sign --manifest "$L/fw.json" --payload "$L/payload" "${K1[@]}" -o "$L/fw1.pkg"
run verify "$L/fw1.pkg" --trust "$P/ca.pem" --signatures 2
run_rc 17 "two signers required, one present: exit 17"
run sign --manifest "$L/m210.json" --payload "$L/payload" --key "$P/s1.key" --cert "$P/s2.pem" -o "$L/mismatch.pkg"
run_rc 9 "a key with another key's certificate: exit 9"
ok "nothing written" test ! -e "$L/mismatch.pkg"
run sign --manifest "$L/m210.json" --payload "$L/payload" --key "$P/s1.key" -o "$L/nocert.pkg"
run_rc 2 "a key without its --cert: exit 2"

# ---- install from a file, plain progress, commit
run status
run_rc 0 "status before any update: exit 0"
like "$OUT" "none yet" "it says there was none"
run check
run_rc 0 "check with nothing under way: exit 0"
is "$OUT$ERR" "" "and prints nothing"
run install --manual "$L/app-2.1.0.pkg"
run_rc 0 "install --manual FILE: exit 0"
like "$OUT" "installed pos-app 2.1.0: awaiting the health check" "the result in words"
like "$OUT" "verify: 2.9 MiB" "a plain progress line for the verification (stdout is not a terminal)"
unlike "$OUT" $'\r' "no bar redrawn into a file"
is "$(cat "$L/calls")" "install pos-app 2.1.0" "the script was called to install"
status_json
is "$(jget schema) $(jget state) $(jget pending) $(jget next)" "m2m.update/1 installed 2.1.0 health" \
	"status --json: installed, 2.1.0 pending, the health check next"
run check --manual
run_rc 0 "check --manual while the update awaits a decision: exit 0"
is "$OUT" "" "nothing happened: nothing on stdout"
run commit
run_rc 0 "commit: exit 0"
like "$OUT" "committed pos-app 2.1.0" "it says so"
is "$(tail -n 1 "$L/calls")" "commit pos-app 2.1.0" "the script was called to commit"
status_json
is "$(jget state) $(jget done) $(jget installed) $(jget pending) $(jget next) $(jget result)" \
	"committed True 2.1.0 None none ok" "status --json: committed, 2.1.0 installed, nothing next"
run status
like "$OUT" "installed +2.1.0" "status says the installed version"
run commit
run_rc 2 "commit with nothing awaiting a decision: exit 2"

# ---- refusals: the installed version stays, the installer is not called
manifest "$L/m220.json" 2.2.0
run sign --manifest "$L/m220.json" --payload "$L/payload" "${K1[@]}" -o "$L/app-2.2.0.pkg"
cp "$L/app-2.2.0.pkg" "$L/bad.pkg"
printf 'X' | dd of="$L/bad.pkg" bs=1 seek=$(($(stat -c %s "$L/bad.pkg") - 1000)) conv=notrunc 2> /dev/null
calls=$(cat "$L/calls")
run install "$L/bad.pkg"
run_rc 17 "a payload byte changed: exit 17"
like "$ERR" "refused: " "the message says refused, and why"
cp "$L/payload" "$L/not-a-package"
run install "$L/not-a-package"
run_rc 17 "not a package at all (unsigned): exit 17"
run sign --manifest "$L/m220.json" --payload "$L/payload" --key "$P/evil.key" --cert "$P/evil.pem" -o "$L/evil.pkg"
run install "$L/evil.pkg"
run_rc 17 "signed by another CA's signer: exit 17"
manifest "$L/mz.json" 2.2.0 pos-z
run sign --manifest "$L/mz.json" --payload "$L/payload" "${K1[@]}" -o "$L/model.pkg"
run install "$L/model.pkg"
run_rc 18 "another device model: exit 18"
like "$ERR" "refused: .*pos-a" "the message says why"
is "$(cat "$L/calls")" "$calls" "the installer was never called"
status_json
is "$(jget state) $(jget result_code)" "failed 18" "status --json: failed, with the refusal's code"
# the engine's record of committed versions (engine.c: update.installed, {"name": "version"}):
# a package refused before its manifest was accepted has no name in the journal for status to look up
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pos-app"])' "$L/state/update.installed")" \
	"2.1.0" "2.1.0 is still the installed version"

# ---- a second run while an install holds the lock; rollback
touch "$L/hold"
"$T" install --manual "$L/app-2.2.0.pkg" > "$L/bg.out" 2> "$L/bg.err" < /dev/null &
BG_PID=$!
ok "the first install reaches its installer" wait_until 20 grep -q "install pos-app 2.2.0" "$L/calls"
run install "$L/app-2.2.0.pkg"
run_rc 11 "a second install meanwhile: exit 11 (busy)"
like "$ERR" "another update run holds the update lock" "the message says why"
run check
run_rc 11 "check meanwhile: exit 11 too"
touch "$L/go"
wait "$BG_PID"
is "$?" 0 "the first install ends well"
BG_PID=
like "$(cat "$L/bg.out")" "installed pos-app 2.2.0" "and says so"
run rollback
run_rc 0 "rollback: exit 0"
like "$OUT" "rolled back pos-app 2.2.0, back to 2.1.0" "it says which version is back"
is "$(tail -n 1 "$L/calls")" "rollback pos-app 2.2.0" "the script was called to roll back"
status_json
is "$(jget state) $(jget installed)" "rolled-back 2.1.0" "status --json: rolled back, 2.1.0 installed"
run check
run_rc 0 "check after the end: exit 0"
is "$OUT$ERR" "" "and silent"

# ---- install from an http URL: progress lines every 10 %, -q prints nothing
manifest "$L/m230.json" 2.3.0
mkdir -p "$L/www"
"$T" -q sign --manifest "$L/m230.json" --payload "$L/payload" "${K1[@]}" -o "$L/www/app-2.3.0.pkg"
PORT=$((20000 + RANDOM % 20000))
(cd "$L/www" && exec python3 -m http.server --bind 127.0.0.1 "$PORT") > /dev/null 2>&1 &
HTTP_PID=$!
ok "an http server on 127.0.0.1" wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2> /dev/null
run install --manual "http://127.0.0.1:$PORT/app-2.3.0.pkg"
run_rc 0 "install URL: exit 0"
cmp_ok "$(grep -c '^download: [0-9]*0% ' "$L/out")" -ge 9 "a download line every 10 %"
like "$OUT" "download: 100% \(2.9 MiB of 2.9 MiB\)" "the last one at 100 %"
like "$OUT" "installed pos-app 2.3.0" "the result"
run -q commit
run_rc 0 "commit -q: exit 0"
is "$OUT" "" "-q: nothing on stdout"
manifest "$L/m240.json" 2.4.0
"$T" -q sign --manifest "$L/m240.json" --payload "$L/payload" "${K1[@]}" -o "$L/www/app-2.4.0.pkg"
run -q install --manual "http://127.0.0.1:$PORT/app-2.4.0.pkg"
run_rc 0 "install -q: exit 0"
is "$OUT$ERR" "" "-q: no progress, no result line"
status_json
is "$(jget state) $(jget pending) $(jget source)" "installed 2.4.0 http://127.0.0.1:$PORT/app-2.4.0.pkg" \
	"status --json: the URL it came from"
done_testing
