#!/bin/bash
# Client-initiated bootstrap. The bootstrap server is the project's OWN test
# tool (tests/tools/bs-server.c on libcoap: no independent bootstrap server
# installs here), so this checks our client's side of the interface, not
# interoperability. A factory configuration names only the bootstrap server;
# it hands out a DTLS-PSK LwM2M server (coap-rd-openssl) and its key; the
# device then registers there over DTLS.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v coap-rd-openssl >/dev/null || skip_all "libcoap3-bin not installed"
plan 17
psk=bs-psk-$RANDOM$RANDOM
printf '%s' "$psk" >"$T/psk"
chmod 600 "$T/psk"
bsp=$(free_port)
rd=$(free_port)
bg "$T/rd.log" coap-rd-openssl -A 127.0.0.1 -p "$rd" -k "$psk"
bg "$T/bs.log" "$TOOLS/bs-server" -p "$bsp" -u "coaps://127.0.0.1:$((rd + 1))" -m 0 \
	-i "it-bs-$bsp" -k "$T/psk" -l 90 -t 15000
bs=$BG_PID
wait_for "$T/bs.log" '"listening"' 5
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: it-bs-$bsp}
state_dir: $T/state
dm:
  bootstrap: "coap://127.0.0.1:$bsp"
  security: nosec
  queue_window: 300ms
  timeout: 10s
YAML
export M2M_CONFIG=$T/m2m.yaml
"$BIN/m2mdm-status" --report -v >"$T/r1.out" 2>"$T/r1.err"
is $? 0 "--report with a factory configuration: bootstrap, then register"
wait "$bs"
is $? 0 "the bootstrap server saw every step answered as expected"
grep -q "\"step\":\"request\",\"ep\":\"it-bs-$bsp\"" "$T/bs.log"
ok $? "Bootstrap-Request carried the endpoint name"
grep -qF "\"step\":\"discover\",\"code\":\"2.05\",\"ok\":true,\"payload\":\"</>;lwm2m=1.1,</0/0>,</0/1>;ssid=1;uri=\\\"coaps://127.0.0.1:$((rd + 1))\\\",</1>;ver=1.1,</1/1>;ssid=1,</3>;ver=1.1,</3/0>,</4/0>," "$T/bs.log"
ok $? "Bootstrap-Discover lists the Bootstrap-Server account, what was written (with its uri) and the device's objects"
line=$(grep '"step":"read-server"' "$T/bs.log")
grep -q '"code":"2.05","ok":true' <<<"$line" && python3 -c '
import json, sys
recs = json.loads(json.loads(sys.argv[1])["payload"])
names, base, vals = [], "", {}
for r in recs:
    base = r.get("bn", base)
    vals[base + r["n"]] = r.get("v", r.get("vs"))
sys.exit(0 if vals.get("/1/1/0") == 1 and vals.get("/1/1/7") == "U" and "/1/1/1" in vals else 1)' "$line"
ok $? "Bootstrap-Read of /1/1 (SenML JSON): the short server id, lifetime and binding written ($line)"
grep -q '"step":"read-security","code":"4.01","ok":true' "$T/bs.log"
ok $? "Bootstrap-Read of /0/1 (the credentials): 4.01"
grep -q '"step":"finish","code":"2.04","ok":true' "$T/bs.log"
ok $? "Bootstrap-Finish accepted"
is "$(stat -c %a "$T/state/dm-bootstrap.json")" 600 "the bootstrapped server and key are kept 0600"
grep -q "registered as it-bs-$bsp at /rd/.* (lifetime 90 s" "$T/r1.err"
ok $? "registered with the server from the bootstrap, DTLS-PSK, lifetime 90 s"
# coap-rd-openssl answers an LwM2M Update with 4.05: forget the registration
# so the next run registers again (Update is tested against lwm2m-node-lib)
rm "$T/state/dm-registration.json"
"$BIN/m2mdm-status" --report -v >"$T/r2.out" 2>"$T/r2.err"
is $? 0 "the next run needs no bootstrap server (it is gone)"
grep -q "registered as it-bs-$bsp at /rd/" "$T/r2.err" && ! grep -q bootstrap "$T/r2.err"
ok $? "it registers with the bootstrapped server and key from the state directory"
# a damaged state file (a null where the key was): an error, not a crash
cp "$T/state/dm-bootstrap.json" "$T/bs-good.json"
sed -i 's/"secret": *"[0-9a-f]*"/"secret": null/' "$T/state/dm-bootstrap.json"
"$BIN/m2mdm-status" --report -t 2 >"$T/r3.out" 2>"$T/r3.err"
rc=$?
[ "$rc" -gt 0 ] && [ "$rc" -lt 64 ] && grep -q "bootstrap" "$T/r3.err"
ok $? "a damaged dm-bootstrap.json: exit $rc, one line ($(head -1 "$T/r3.err"))"

# certificate mode: the bootstrap server hands out our certificate and key and
# the server's certificate (DER); the server is trusted as that certificate
# (its name, lwm2m.example, is not what we connect to: no name check for a
# pinned certificate). Then a bootstrap pinning another certificate: refused.
x509() { # name CN [CA]: key and certificate, PEM and DER
	local ca=${3:-ca}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
		-out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null
	echo "subjectAltName=DNS:$2" >"$T/$1.ext"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/$ca.pem" -CAkey "$T/$ca.key" -CAcreateserial \
		-days 2 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
	openssl x509 -in "$T/$1.pem" -outform DER -out "$T/$1.der"
	openssl pkcs8 -topk8 -nocrypt -in "$T/$1.key" -outform DER -out "$T/$1.key.der"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=it-ca" 2>/dev/null
x509 srv lwm2m.example
x509 dev "it-bsx-$bsp"
x509 other other.example
cat "$T/srv.pem" "$T/srv.key" >"$T/srv-all.pem"
rdx=$(free_port)
bg "$T/rdx.log" coap-rd-openssl -A 127.0.0.1 -p "$rdx" -c "$T/srv-all.pem" -C "$T/ca.pem" \
	-R "$T/ca.pem"
for n in good pinned-other; do
	p=$(free_port)
	bg "$T/bs-$n.log" "$TOOLS/bs-server" -p "$p" -u "coaps://127.0.0.1:$((rdx + 1))" -m 2 \
		-C "$T/dev.der" -K "$T/dev.key.der" -S "$T/$([ $n = good ] && echo srv || echo other).der" \
		-l 90 -t 15000
	wait_for "$T/bs-$n.log" '"listening"' 5
	sed "s|coap://127.0.0.1:$bsp|coap://127.0.0.1:$p|; s|state_dir: .*|state_dir: $T/state-$n|" \
		"$T/m2m.yaml" >"$T/$n.yaml"
done
M2M_CONFIG=$T/good.yaml "$BIN/m2mdm-status" --report -v >"$T/x1.out" 2>"$T/x1.err"
is $? 0 "certificate mode: bootstrap, then register over DTLS with the certificate it gave"
grep -q '"step":"finish","code":"2.04","ok":true' "$T/bs-good.log"
ok $? "Bootstrap-Finish accepted the certificate, key and server certificate"
grep -q "registered as it-bs-$bsp at /rd/" "$T/x1.err"
ok $? "registered with the pinned server certificate (name lwm2m.example, host 127.0.0.1)"
is "$(stat -c %a "$T/state-good/dm-bootstrap.json")" 600 "the key from the bootstrap server is kept 0600"
M2M_CONFIG=$T/pinned-other.yaml "$BIN/m2mdm-status" --report -t 5 >"$T/x2.out" 2>"$T/x2.err"
rc=$?
[ "$rc" = 8 ] && grep -q "the server's certificate" "$T/x2.err"
ok $? "a server not presenting the certificate the bootstrap pinned: exit 8, got $rc ($(tail -1 "$T/x2.err"))"
[ "$_fail" = 0 ] || diag "$(cat "$T/bs.log" "$T"/bs-*.log "$T"/*.err)"
done_testing
