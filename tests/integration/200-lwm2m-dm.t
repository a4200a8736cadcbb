#!/bin/bash
# m2mdm-status --serve against an independent LwM2M server (Telefonica's
# lwm2m-node-lib, plain CoAP on 127.0.0.1): Register, then the server drives
# Read (text, TLV, SenML JSON), Write, Execute, Discover, Write-Attributes
# and Observe, and finally sees the De-register on SIGTERM.
. "$(dirname "$0")/lwm2m-lib.sh"
lwm2m_server_setup
port=$(free_port)
echo "48.8566 2.3522 35 10" >"$T/gps"
printf '#!/bin/sh\ntouch %s/rebooted\n' "$T" >"$T/reboot"
chmod 700 "$T/reboot"
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: it-dev-$port, serial: SN-0042, manufacturer: ACME, model: Gate-7}
state_dir: $T/state
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  lifetime: 60s
  location: $T/gps
  hooks: {reboot: $T/reboot}
YAML
checks=(
	'read:/3/0/0~ACME'
	'read:/3/0/2~SN-0042'
	'read:/3/0:senml~"vs":"Gate-7"'
	'read:/3/0:tlv~"value":"SN-0042"'
	'read:/3/0:senmlcbor~Gate-7'
	'write:/3/0/14=+02:00'
	'read:/3/0/14~+02:00'
	'write:/1/0/1=120'
	'exec:/3/0/4'
	'discover:/3/0~</3/0/13>'
	'attr:/3/0/13?pmin=1&pmax=1'
	'observe:/3/0/13:3500:2'
	'read:/6/0/0~48.8566'
	'read:/4/0:senml~"n":"4/0"'
	'status:read:/3/0/99:4.04'
	'status:read:/0/0:4.01'
)
plan $((${#checks[@]} + 8))
bg "$T/server.log" node "$ROOT/tests/tools/lwm2m-server.js" --port "$port" --ep "it-dev-$port" \
	--timeout 40000 --expect-dereg 10000 "${checks[@]}"
server=$BG_PID
wait_for "$T/server.log" '"event":"listening"' 15
ok $? "lwm2m-node-lib listens on 127.0.0.1:$port"
bg "$T/client.log" env M2M_CONFIG="$T/m2m.yaml" "$BIN/m2mdm-status" --serve -v
client=$BG_PID
wait_for "$T/server.log" '"event":"register"' 10
ok $? "the device registers"
grep -q '"payload":"</>;rt=\\"oma.lwm2m\\";ct=110,</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>,</4/0>,</6/0>' "$T/server.log"
ok $? "object links announced"
wait_for "$T/server.log" '"event":"plan_done"' 30
ok $? "the server ran its plan"
for c in "${checks[@]}"; do
	is "$(check_result "$T/server.log" "$c")" pass "$c"
done
wait_for "$T/server.log" '"event":"update","ep":"it-dev-'"$port"'","lifetime":"120"' 5
ok $? "writing the lifetime (/1/0/1) makes the device Update with lt=120"
kill -TERM "$client"
wait "$client"
is $? 0 "m2mdm-status --serve exits 0 on SIGTERM"
wait "$server"
is $? 0 "the server saw every check pass and the De-register"
[ -e "$T/rebooted" ]
ok $? "Execute /3/0/4 ran the reboot hook"
[ "$_fail" = 0 ] || { diag "$(cat "$T/server.log")"; diag "$(cat "$T/client.log.err")"; }
done_testing
