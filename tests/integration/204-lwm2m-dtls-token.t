#!/bin/bash
# DTLS-X.509 with the device's private key on a PKCS#11 token: a SoftHSM2
# token of its own (SOFTHSM2_CONF and token directory under the test's temp
# dir), an EC P-256 key generated on it, a certificate for that key issued by
# a test CA, and coap-rd-openssl trusting that CA. m2mdm-status --report
# registers with the token key; a foreign server CA and a key id not on the
# token are refused; a half-written key: mapping is a config error with line
# and column; a wrong PIN is exit 9 in one line, and after it the token's
# retry policy holds (no PIN tried unattended: 13), as for VPN tokens. The PIN appears in no
# output, log, state file, argv or environment of our tool.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v coap-rd-openssl >/dev/null || skip_all "libcoap3-bin not installed"
command -v softhsm2-util >/dev/null || skip_all "softhsm2 not installed"
command -v pkcs11-tool >/dev/null || skip_all "opensc (pkcs11-tool) not installed"
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -f "$MODULE" ] || skip_all "no SoftHSM2 module at $MODULE"
ENGINE=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so
if [ ! -f "$ENGINE" ]; then
	"$ROOT/scripts/deps.sh" >/dev/null 2>&1
	[ -f "$ENGINE" ] || skip_all "libengine-pkcs11-openssl cannot be installed"
fi
plan 11

pin=$((100000 + RANDOM % 900000))$RANDOM
so_pin=$((100000 + RANDOM % 900000))
printf '%s\n' "$pin" >"$T/pin"
printf '%s\n' "$((pin + 1))" >"$T/wrong-pin"
chmod 600 "$T/pin" "$T/wrong-pin"

# the token, in the test's own directory
mkdir -m 700 "$T/tokens"
cat >"$T/softhsm2.conf" <<EOF
directories.tokendir = $T/tokens
objectstore.backend = file
log.level = ERROR
EOF
export SOFTHSM2_CONF=$T/softhsm2.conf
softhsm2-util --init-token --free --label lab-dev --so-pin "$so_pin" --pin "$pin" \
	>"$T/h-init.log" 2>&1 || skip_all "softhsm2-util --init-token: $(tail -n 1 "$T/h-init.log")"
pkcs11-tool --module "$MODULE" --token-label lab-dev --login --pin "$pin" --keypairgen \
	--key-type EC:prime256v1 --id 01 --label dev >"$T/h-keygen.log" 2>&1 ||
	skip_all "pkcs11-tool --keypairgen: $(tail -n 1 "$T/h-keygen.log")"

# the PKI: a CA, the server, and the device's certificate for the token key
# (the CSR is signed by the token through the engine)
test_pki ca server
test_pki other-ca
cat "$T/server.pem" "$T/server.key" >"$T/server-all.pem"
cat >"$T/engine.cnf" <<EOF
openssl_conf = oc
[oc]
engines = es
[es]
pkcs11 = p11
[p11]
engine_id = pkcs11
MODULE_PATH = $MODULE
EOF
# harness only: the engine takes the PIN in the URI (our tool never does)
OPENSSL_CONF=$T/engine.cnf openssl req -new -engine pkcs11 -keyform engine \
	-key "pkcs11:token=lab-dev;id=%01;type=private;pin-value=$pin" -subj /CN=it-token \
	-out "$T/dev.csr" >"$T/h-csr.log" 2>&1
echo "subjectAltName=DNS:it-token.example" >"$T/dev.ext"
openssl x509 -req -in "$T/dev.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/dev.ext" -out "$T/dev.pem" >>"$T/h-csr.log" 2>&1 ||
	skip_all "cannot make the device certificate: $(tail -n 2 "$T/h-csr.log")"

rd=$(free_port)
bg "$T/rd.log" coap-rd-openssl -A 127.0.0.1 -p "$rd" -c "$T/server-all.pem" -C "$T/ca.pem" \
	-R "$T/ca.pem"
sleep 0.3
conf() { # name port ca pin-file key-id [key-extra]
	cat >"$T/$1.yaml" <<YAML
version: 1
device: {id: it-token}
state_dir: $T/state-$1
dm:
  server: "coaps://127.0.0.1:$2"
  security: x509
  queue_window: 300ms
  timeout: 10s
  cert: $T/dev.pem
  ca: $T/$3.pem
  key:
    pkcs11: {module: $MODULE, token: lab-dev, id: "$5"}
    pin: {file: $T/$4}
YAML
	chmod 600 "$T/$1.yaml"
}
conf good $((rd + 1)) ca pin 01
conf wrong $((rd + 1)) ca wrong-pin 01
conf foreign $((rd + 1)) other-ca pin 01
conf nokey $((rd + 1)) ca pin 02

M2M_CONFIG=$T/good.yaml "$BIN/m2mdm-status" --report -v >"$T/good.out" 2>"$T/good.err"
is $? 0 "DTLS-X.509, key on the token: registered with coap-rd-openssl"
grep -q "registered as it-token at /rd/" "$T/good.err"
ok $? "token key: Location-Path received"

M2M_CONFIG=$T/foreign.yaml "$BIN/m2mdm-status" --report -t 3 >"$T/foreign.out" 2>"$T/foreign.err"
rc=$?
[ "$rc" = 8 ] && grep -q "the server's certificate /CN=" "$T/foreign.err"
ok $? "token key: a server certificate from a foreign CA: exit 8 (auth-remote), got $rc ($(cat "$T/foreign.err"))"

M2M_CONFIG=$T/nokey.yaml "$BIN/m2mdm-status" --report -t 3 >"$T/nokey.out" 2>"$T/nokey.err"
rc=$?
[ "$rc" = 14 ] && [ "$(wc -l <"$T/nokey.err")" = 1 ]
ok $? "a key id not on the token: exit 14 in one line, got $rc ($(cat "$T/nokey.err"))"

sed '/^    pin:/d' "$T/good.yaml" >"$T/nopin.yaml"
chmod 600 "$T/nopin.yaml"
M2M_CONFIG=$T/nopin.yaml "$BIN/m2mdm-status" --report -t 3 >"$T/nopin.out" 2>"$T/nopin.err"
rc=$?
[ "$rc" = 3 ] && grep -qE "nopin.yaml:[0-9]+:[0-9]+: .*dm\.key\.pin" "$T/nopin.err"
ok $? "key: on a token without pin: config error with line:column, got $rc ($(cat "$T/nopin.err"))"

# argv and environment of the running tool (a server that never answers keeps it alive)
quiet=$(free_port)
bg "$T/sink.log" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("bound", flush=True)
time.sleep(30)' "$quiet"
wait_for "$T/sink.log" bound 10
sed "s/127.0.0.1:$((rd + 1))/127.0.0.1:$quiet/" "$T/good.yaml" >"$T/quiet.yaml"
chmod 600 "$T/quiet.yaml"
M2M_CONFIG=$T/quiet.yaml "$BIN/m2mdm-status" --report -t 2 >"$T/quiet.out" 2>"$T/quiet.err" &
qpid=$!
sleep 0.5
tr '\0' '\n' <"/proc/$qpid/cmdline" >"$T/quiet.argv" 2>/dev/null
tr '\0' '\n' <"/proc/$qpid/environ" >"$T/quiet.environ" 2>/dev/null
wait "$qpid"
[ -s "$T/quiet.argv" ] && ! grep -qF "$pin" "$T/quiet.argv" "$T/quiet.environ"
ok $? "the PIN is in neither argv nor the environment of m2mdm-status"

M2M_CONFIG=$T/good.yaml "$BIN/m2mdm-status" --json >"$T/good.json" 2>"$T/json.err"
ok $? "--json with a token key configuration"

# last: a wrong PIN leaves the token reporting few retries left
M2M_CONFIG=$T/wrong.yaml "$BIN/m2mdm-status" --report -t 3 >"$T/wrong.out" 2>"$T/wrong.err"
is $? 9 "wrong PIN: exit 9 ($(cat "$T/wrong.err"))"
[ "$(wc -l <"$T/wrong.err")" = 1 ] && grep -q "wrong PIN" "$T/wrong.err"
ok $? "wrong PIN: one line that says so"
M2M_CONFIG=$T/good.yaml "$BIN/m2mdm-status" --report -t 3 >"$T/after.out" 2>"$T/after.err"
is $? 13 "after a wrong PIN no PIN is tried unattended, not even the right one: exit 13 ($(cat "$T/after.err"))"
! grep -rqF "$pin" "$T"/*.out "$T"/*.err "$T"/*.json "$T"/rd.log* "$T"/state-*
ok $? "the PIN appears in no output, log or state file"
[ "$_fail" = 0 ] || diag "$(cat "$T"/*.err)"
done_testing
