#!/bin/bash
# Send (dm.send) against the project's LwM2M test server (lwm2m-node-lib), a server of
# LwM2M 1.0's time that has no Send. RFC 7252 5.8 and 12.3 would have it answer a POST to
# a resource it does not have with 4.04 or 4.05; this one does not answer at all (seen:
# it ignores a POST to /dp). Either way the client's Send is a warning in the log and
# nothing else: the report succeeds (exit 0), the server's reads are served while the
# Send waits (TS 1.1 Core, queue mode: the device is reachable after what it sent), the
# run is awake no longer than the queue window or two transmissions of the Send (RFC
# 7252 4.8: ACK_TIMEOUT 2 s x ACK_RANDOM_FACTOR 1.5 x (1 + 2) = 9 s), and the next run
# Updates the same registration and tries the Send again.
. "$(dirname "$0")/lwm2m-lib.sh"
lwm2m_server_setup
plan 8
port=$(free_port)
ep=it-nosend-$port
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $ep, model: Gate-7, manufacturer: ACME}
state_dir: $T/state
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  binding: UQ
  lifetime: 10m
  queue_window: 3s
  timeout: 20s
  send: [/3/0/0, /3/0/1]
YAML
export M2M_CONFIG=$T/m2m.yaml
bg "$T/server.log" node "$ROOT/tests/tools/lwm2m-server.js" --port "$port" --ep "$ep" \
	--timeout 60000 --stay 40000 'read:/3/0/0~ACME' 'read:/3/0/1~Gate-7'
wait_for "$T/server.log" '"event":"listening"' 15
ok $? "lwm2m-node-lib listens"
t0=$(date +%s%N)
"$BIN/m2mdm-status" --report -v >"$T/r1.out" 2>"$T/r1.err"
is $? 0 "--report with dm.send against a server without Send exits 0"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -Eq "Send: (the server refused it \(4\.0[45]: it has no Send\)|127.0.0.1: no answer within [0-9]+ ms); the values wait to be read" "$T/r1.err"
ok $? "the refusal or silence is a warning that says why: $(grep 'Send:' "$T/r1.err")"
# 9 s of Send at most (the 3 s window is inside it), 3 s of slack for a loaded machine
[ "$ms" -lt 12000 ]
ok $? "awake no longer than the Send's two transmissions ($ms ms)"
is "$(check_result "$T/server.log" 'read:/3/0/0~ACME')" pass "the server read /3/0/0 in the window"
is "$(check_result "$T/server.log" 'read:/3/0/1~Gate-7')" pass "... and /3/0/1"
"$BIN/m2mdm-status" --report -v >"$T/r2.out" 2>"$T/r2.err"
grep -q "updated /rd" "$T/r2.err" && grep -q "Send: .*; the values wait to be read" "$T/r2.err"
ok $? "the next run Updates the same registration and tries the Send again"
is "$(grep -c '"event":"register"' "$T/server.log")" 1 "one Register in all"
[ "$_fail" = 0 ] || diag "$(cat "$T/server.log" "$T/r1.err" "$T/r2.err")"
done_testing
