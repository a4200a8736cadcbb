#!/bin/bash
# An observation across --report runs over plain CoAP (issue 14, finding 2).
# RFC 7641 4.1 and RFC 7252 5.3.2: a notification is matched to the
# observation by its token AND the endpoint it comes from; a server that
# gets the token from another endpoint may answer with a reset (RFC 7641
# 3.6; independent servers do). The test server (tests/tools/lw-observer.py,
# the project's own) is put in that strict mode. So a queue-mode device
# sends from the local port of its last run (kept in the state directory),
# Update first; when the port is taken it sends from another one, says so,
# and when the server resets the notification of an observation it made in
# an earlier run, the observation is reported lost: in the log, in the
# status and in --json (m2m.status/1), until the server observes again.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 20
port=$(free_port)
ep=it-obsport-$port
observer_lab "$port" "$ep" "binding: UQ" "lifetime: 10m" "queue_window: 1500ms" "jitter: 0s" \
	"timeout: 5s"
ctl strict
wait_for "$T/srv.log" '"event":"strict"' 5
jget() { python3 "$ROOT/tests/tools/jget.py" "$@"; }
report() { "$BIN/m2mdm-status" --report -v "$@" >>"$T/client.out" 2>>"$T/client.err"; }
# the port of the client's last message of kind EVENT (register, update, notify, notify-foreign)
port_of() { grep "\"event\":\"$1\"" "$T/srv.log" | tail -1 | grep -oE '"port":[0-9]+' | cut -d: -f2; }
# the srv.log lines from line $1 on
since() { tail -n +"$1" "$T/srv.log"; }
lines() { wc -l <"$T/srv.log"; }
saved_port() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("port", ""))' \
	"$T/state/dm-registration.json"; }

# run 1: register; the server observes latitude in the queue window
report &
r=$!
wait_for "$T/srv.log" '"event":"register"' 5
ctl observe /6/0/0
wait "$r"
is $? 0 "run 1: registered, served the Observe"
p1=$(port_of register)
is "$(saved_port)" "$p1" "the local port is kept in the state directory"

# run 2: the value changed; the Update and the notification come from run 1's port
loc 49.2
n=$(($(lines) + 1))
report
is $? 0 "run 2: exit 0"
is "$(port_of update)" "$p1" "run 2's Update comes from run 1's port"
first=$(since "$n" | grep -m1 -oE '"event":"(update|notify|notify-foreign)"')
is "$first" '"event":"update"' "the Update goes out before anything else"
since "$n" | grep '"event":"notify"' | grep -q '"value":"49.2"' && [ "$(port_of notify)" = "$p1" ]
ok $? "the notification of 49.2 from port $p1 matched the observation (not reset)"
! grep -q '"event":"notify-foreign"' "$T/srv.log"
ok $? "no notification from a foreign port so far"
grep -q "from local port $p1, as the last run" "$T/client.err"
ok $? "the log says the port was kept"

# run 3: run 1's port is taken (no SO_REUSEADDR: the bind fails); another port, said in the log
bg "$T/holder.log" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("bound", flush=True)
time.sleep(120)' "$p1"
holder=$BG_PID
wait_for "$T/holder.log" bound 5
loc 55.3
n=$(($(lines) + 1))
report
is $? 0 "run 3: exit 0 with the port taken"
p3=$(port_of update)
[ -n "$p3" ] && [ "$p3" != "$p1" ]
ok $? "run 3's Update comes from another port ($p3)"
grep -q "local port $p1 of the last run is taken: from port $p3 now" "$T/client.err"
ok $? "the log says the port was taken and which one is used"
since "$n" | grep -q '"event":"notify-foreign".*"reset":true'
ok $? "the server reset the notification from port $p3 (it observed from $p1)"
grep -q "observation of /6/0/0 lost: the server reset a notification" "$T/client.err"
ok $? "the log says the observation is lost"
"$BIN/m2mdm-status" --color=never >"$T/status.txt"
grep -qE "lost +observation of /6/0/0: the server reset its notification at 20[0-9-]+T" "$T/status.txt"
ok $? "the status says so: $(grep lost "$T/status.txt")"
"$BIN/m2mdm-status" --json >"$T/status.json"
[ "$(jget schema <"$T/status.json")" = m2m.status/1 ] &&
	[ "$(jget management.lost_observations.0.path <"$T/status.json")" = /6/0/0 ] &&
	jget management.lost_observations.0.reset_at <"$T/status.json" | grep -qE '^20[0-9-]+T[0-9:]+Z$'
ok $? "--json (m2m.status/1): management.lost_observations: $(jget management.lost_observations <"$T/status.json")"
kill "$holder"
wait "$holder" 2>/dev/null

# run 4: the lost observation gets nothing more; the port of run 3 is the one kept now
loc 61.4
n=$(($(lines) + 1))
report
! since "$n" | grep -qE '"event":"(notify|notify-foreign)"' && [ "$(port_of update)" = "$p3" ]
ok $? "run 4: from port $p3, nothing sent for the lost observation"

# the server observes again: no longer lost
report &
r=$!
for ((i = 0; i < 100; i++)); do
	[ "$(since "$n" | grep -c '"event":"update"')" -ge 2 ] && break
	sleep 0.05
done
ctl observe /6/0/0
wait "$r"
since "$n" | grep -q '"event":"observe","path":"/6/0/0","code":"2.05"'
ok $? "run 5: the server observed /6/0/0 again"
"$BIN/m2mdm-status" --json >"$T/status2.json"
is "$(jget management.lost_observations <"$T/status2.json")" "[]" "no observation lost any more"
loc 67.5
report
since "$n" | grep '"event":"notify"' | grep -q '"value":"67.5"'
ok $? "run 6: the new observation gets the change"
# a damaged registration file (read before the session, for the port) is still said in the log
echo '{"server":' >"$T/state/dm-registration.json"
n=$(($(lines) + 1))
report
grep -q "registering afresh" "$T/client.err" && since "$n" | grep -q '"event":"register"'
ok $? "a damaged registration file: said in the log, and a new Register"
[ "$_fail" = 0 ] || { diag "$(cat "$T/srv.log")"; diag "$(cat "$T/client.err")"; }
done_testing
