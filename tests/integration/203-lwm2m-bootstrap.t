#!/bin/bash
# Client-initiated bootstrap. The bootstrap server is the project's OWN test
# tool (tests/tools/bs-server.c on libcoap: no independent bootstrap server
# installs here), so this checks our client's side of the interface, not
# interoperability. A factory configuration names only the bootstrap server;
# it hands out a DTLS-PSK LwM2M server (coap-rd-openssl) and its key; the
# device then registers there over DTLS.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v coap-rd-openssl >/dev/null || skip_all "libcoap3-bin not installed"
plan 9
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
grep -q '"step":"discover","code":"2.05","ok":true,"payload":"</>;lwm2m=1.1,</0/1>;ssid=1,</1/1>;ssid=1,</3/0>"' "$T/bs.log"
ok $? "Bootstrap-Discover lists what was written"
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
[ "$_fail" = 0 ] || diag "$(cat "$T/bs.log" "$T"/*.err)"
done_testing
