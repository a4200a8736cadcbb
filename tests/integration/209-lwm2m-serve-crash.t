#!/bin/bash
# Observations survive a crash of --serve: they are written to the state file as they
# change (atomically, at most once a second), not only at a clean exit. kill -9 with an
# observation active, a value changed meanwhile, a restart: the new process Updates the
# same registration and notifies the server, on the observation's token, within its pmax.
# What the server wrote (Write-Attributes, Lifetime) outlives the kill as well. Against
# the project's own test server (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 8
port=$(free_port)
ep=it-crash-$port
observer_lab "$port" "$ep" "lifetime: 10m"
notified() { grep '"event":"notify"' "$T/srv.log" | grep -oE '"value":"[^"]*"' | cut -d'"' -f4; }

bg "$T/serve1.log" "$BIN/m2mdm-status" --serve -v
serve1=$BG_PID
wait_for "$T/srv.log" '"event":"register"' 10
ok $? "--serve registered"
ctl observe /6/0/0
wait_for "$T/srv.log" '"event":"observe","path":"/6/0/0","code":"2.05"' 5
token=$(grep -oE '"event":"observe".*"token":"[0-9a-f]+"' "$T/srv.log" | grep -oE '[0-9a-f]{8}' | tail -1)
ok $? "the server observes /6/0/0 (token $token)"
ctl attr /6/0/0 pmax=3
wait_for "$T/srv.log" '"event":"attr","path":"/6/0/0","code":"2.04"' 5
ok $? "Write-Attributes pmax=3 accepted"
ctl write /1/0/1 1200
wait_for "$T/srv.log" '"event":"write","path":"/1/0/1","code":"2.04"' 5
# what changes is on disk within a second; then the process dies without a word
sleep 1.5
kill -9 "$serve1"
wait "$serve1" 2>/dev/null
grep -q "\"token\":\"$token\"" "$T/state/dm-observations.json" 2>/dev/null
ok $? "after kill -9 the observation is in the state file"

loc 52.7
n=$(notified | wc -l)
nu=$(grep -c '"event":"update"' "$T/srv.log")
t0=$(date +%s%N)
bg "$T/serve2.log" "$BIN/m2mdm-status" --serve -v
for ((i = 0; i < 100; i++)); do
	[ "$(notified | wc -l)" -gt "$n" ] && notified | tail -n 1 | grep -qx 52.7 && break
	sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
notified | tail -n 1 | grep -qx 52.7 &&
	grep '"event":"notify"' "$T/srv.log" | tail -n 1 | grep -q "\"token\":\"$token\""
ok $? "the restarted --serve notified 52.7 on the old token, ${ms} ms after its start"
[ "$ms" -le 4500 ]
ok $? "within pmax (3 s) plus start-up (${ms} ms)"
[ "$(grep -c '"event":"register"' "$T/srv.log")" = 1 ] && grep -q '"event":"update"' "$T/srv.log"
ok $? "the restarted process Updated the same registration (one Register in all)"
# the Lifetime the server wrote: kept (an Update saying lt=600, the configuration's, would lose it)
grep '"event":"update"' "$T/srv.log" | tail -n +$((nu + 1)) | grep -q . &&
	! grep '"event":"update"' "$T/srv.log" | tail -n +$((nu + 1)) | grep -q 'lt=600'
ok $? "the Lifetime the server wrote before the kill (1200) outlived it"
done_testing
