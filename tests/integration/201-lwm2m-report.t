#!/bin/bash
# m2mdm-status --report for cron, against lwm2m-node-lib: the first run
# registers (binding UQ), serves the queued read within the queue window and
# exits; the second run sends an Update (nothing changed: no payload, no
# query) instead of a Register; a concurrent run finds the lock; a server
# that is down gives exit 6 within --timeout; the status reflects it all.
. "$(dirname "$0")/lwm2m-lib.sh"
lwm2m_server_setup
plan 14
port=$(free_port)
ep=it-report-$port
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $ep, model: Gate-7}
state_dir: $T/state
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  binding: UQ
  lifetime: 10m
  queue_window: 2s
  jitter: 200ms
  timeout: 20s
YAML
export M2M_CONFIG=$T/m2m.yaml
bg "$T/server.log" node "$ROOT/tests/tools/lwm2m-server.js" --port "$port" --ep "$ep" \
	--timeout 40000 --stay 8000 'read:/3/0/1~Gate-7'
server=$BG_PID
wait_for "$T/server.log" '"event":"listening"' 15
ok $? "lwm2m-node-lib listens"
t0=$(date +%s%N)
"$BIN/m2mdm-status" --report >"$T/r1.out" 2>"$T/r1.err"
is $? 0 "first --report exits 0"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 2000 ] && [ "$ms" -lt 6000 ]
ok $? "it stayed for the 2 s queue window, no longer ($ms ms)"
# LwM2M 1.1 (TS Core 6.2.1): binding U, queue mode as the parameter Q, which this server
# does not show (215 checks the query on the wire)
grep -q "\"event\":\"register\",\"ep\":\"$ep\",\"lifetime\":\"600\",\"version\":\"1.1\",\"binding\":\"U\"" "$T/server.log"
ok $? "registered with lt=600, lwm2m=1.1, b=U"
is "$(check_result "$T/server.log" 'read:/3/0/1~Gate-7')" pass "the server's read was served in the window"
stat -c %a "$T/state/dm-registration.json" | grep -qx 600
ok $? "the saved registration is mode 0600"
"$BIN/m2mdm-status" --report -v >"$T/r2.out" 2>"$T/r2.err"
is $? 0 "second --report exits 0"
grep -q "updated /rd" "$T/r2.err" && ! grep -q "registered as" "$T/r2.err"
ok $? "the second run sent an Update, not a Register"
is "$(grep -c '"event":"register"' "$T/server.log")" 1 "the server saw one Register"
grep -q "\"event\":\"update\",\"ep\":\"$ep\",\"lifetime\":\"600\",\"payload\":\"\"" "$T/server.log"
ok $? "the Update carried nothing that had not changed"
"$BIN/m2mdm-status" --report -q >/dev/null 2>&1 &
first=$!
_pids+=("$first")
sleep 0.5
"$BIN/m2mdm-status" --report 2>"$T/busy.err"
is $? 11 "a second concurrent run exits 11 (busy)"
wait "$first"
"$BIN/m2mdm-status" --json >"$T/status.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=d["management"]; sys.exit(not (d["schema"]=="m2m.status/1" and m["registered"] and m["binding"]=="UQ" and m["last_result"]=="ok"))' "$T/status.json"
ok $? "--json: schema m2m.status/1, registered, binding UQ, last result ok"
kill -TERM "$server"
wait "$server"
sed -i "s/coap:\/\/127.0.0.1:$port/coap:\/\/127.0.0.1:$(free_port)/" "$T/m2m.yaml"
t0=$(date +%s%N)
"$BIN/m2mdm-status" --report -t 3 2>"$T/down.err"
rc=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$rc" = 6 ] || [ "$rc" = 5 ]
ok $? "no server: exit 6 or 5 (got $rc: $(cat "$T/down.err"))"
[ "$ms" -lt 4500 ]
ok $? "within the 3 s bound (+ start): $ms ms"
[ "$_fail" = 0 ] || { diag "$(cat "$T/server.log")"; diag "$(cat "$T"/*.err)"; }
done_testing
