#!/bin/bash
# Observations across queue-mode runs, notifications stored while the server
# is out of reach, and a server cancelling with a reset. Against the
# project's own test server (tests/tools/lw-observer.py, clearly not an
# independent implementation: lwm2m-node-lib neither keeps an observation
# across a client's new port nor resets a cancelled one). Each cron run is a
# new process (from the last one's port, see 220): the observation the server made in one run
# gets what changed by the next, stored values come oldest first with rising
# Observe numbers, and the always-on mode stores while its Update fails.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 24
port=$(free_port)
ep=it-obsq-$port
observer_lab "$port" "$ep" "binding: UQ" "lifetime: 10m" "queue_window: 1500ms" "jitter: 0s" \
	"timeout: 5s"
# the values the server received for /6/0/0, in order, one line each
notified() { grep '"event":"notify"' "$T/srv.log" | grep -oE '"value":"[^"]*"' | cut -d'"' -f4; }
seqs() { grep '"event":"notify"' "$T/srv.log" | grep -oE '"seq":[0-9]+' | cut -d: -f2; }
report() { "$BIN/m2mdm-status" --report -v "$@" 2>>"$T/client.err"; }
# report_with COMMAND...: a run during whose queue window (after its Update) the server sends COMMAND
report_with() {
	local n r i
	n=$(grep -c '"event":"update"' "$T/srv.log")
	report &
	r=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c '"event":"update"' "$T/srv.log")" -gt "$n" ] && break
		sleep 0.05
	done
	ctl "$@"
	wait "$r"
}

# run 1: register; the server observes latitude in the queue window
report &
r=$!
wait_for "$T/srv.log" '"event":"register"' 5
ctl observe /6/0/0
wait "$r"
is $? 0 "run 1: registered, served the Observe, exited"
grep -q '"event":"observe","path":"/6/0/0","code":"2.05","token":"[0-9a-f]*","seq":[0-9]*,"value":"48.1"' "$T/srv.log"
ok $? "the Observe was answered 2.05 with an Observe number and 48.1"
token=$(grep -oE '"event":"observe".*"token":"[0-9a-f]+"' "$T/srv.log" | grep -oE '[0-9a-f]{8}' | tail -1)
[ "$(stat -c %a "$T/state/dm-observations.json" 2>/dev/null)" = 600 ] &&
	grep -q "\"token\":\"$token\"" "$T/state/dm-observations.json"
ok $? "the observation is kept for the next run (0600, token $token)"

# run 2: a new process (from the same port); the value changed meanwhile
loc 49.2
report
is $? 0 "run 2: Update instead of Register"
grep -q '"event":"update"' "$T/srv.log" && [ "$(grep -c '"event":"register"' "$T/srv.log")" = 1 ]
ok $? "the server saw an Update and still one Register"
is "$(notified | tr '\n' ' ')" "49.2 " "run 2 notified the change to the observation of run 1"
grep '"event":"notify"' "$T/srv.log" | grep -q "\"token\":\"$token\""
ok $? "with run 1's token"
first_port=$(grep -oE '"event":"register".*"port":[0-9]+' "$T/srv.log" | grep -oE '[0-9]+$')
notify_port=$(grep '"event":"notify"' "$T/srv.log" | grep -oE '"port":[0-9]+' | cut -d: -f2)
[ "$first_port" = "$notify_port" ]
ok $? "from run 1's port, kept across runs (test 220: when it is taken)"

# run 3: nothing changed, nothing to notify
report
is "$(notified | wc -l)" 1 "run 3: no change, no notification"

# the server's Write-Attributes outlive the process too: a step of 5 set in one run
# decides what the next runs notify
report_with attr /6/0/0 "st=5"
grep -q '"event":"attr","path":"/6/0/0","code":"2.04"' "$T/srv.log"
ok $? "Write-Attributes st=5 on /6/0/0 accepted"
loc 51.2
report
is "$(notified | wc -l)" 1 "a change of 2 under the step of 5: no notification in the next run"
loc 49.2
report

# the server is out of reach for two runs; the values of both are stored
ctl deaf
wait_for "$T/srv.log" '"event":"deaf"' 5
loc 55.3
report -t 3
is $? 6 "run 4, server unreachable: exit 6"
loc 61.4
report -t 3
is $? 6 "run 5, server unreachable: exit 6"
stored=$(python3 -c 'import json, sys
print(sum(len(o["notes"]) for o in json.load(open(sys.argv[1]))["observations"]))' \
	"$T/state/dm-observations.json")
is "$stored" 2 "two notifications stored in the state file"
ctl hear
wait_for "$T/srv.log" '"event":"hear"' 5
report
is $? 0 "run 6: the server answers again"
is "$(notified | tr '\n' ' ')" "49.2 55.3 61.4 " "the stored notifications arrived, oldest first"
s=$(seqs | tr '\n' ' ')
read -r s1 s2 s3 <<<"$s"
[ "$s2" -gt "$s1" ] && [ "$s3" -gt "$s2" ]
ok $? "with rising Observe numbers ($s)"

# the server no longer wants the observation: it resets the next notification
ctl reset /6/0/0
wait_for "$T/srv.log" '"event":"will-reset"' 5
loc 67.5
report
grep -q '"reset":true' "$T/srv.log" && grep -q "observation of /6/0/0 lost: the server reset" "$T/client.err"
ok $? "run 7: a reset ends the observation (one of an earlier run: said as lost)"
loc 73.6
report
! grep -q '"event":"stray"' "$T/srv.log" && [ "$(notified | wc -l)" = 4 ]
ok $? "run 8: nothing more is sent for it"

# the server writes Lifetime in one run; the next run keeps it (the configuration says 10m)
n=$(grep -c '"event":"update"' "$T/srv.log")
report_with write /1/0/1 1200
grep '"event":"update"' "$T/srv.log" | tail -n 1 | grep -q 'lt=1200'
ok $? "run 9: the server wrote Lifetime 1200; the Update said lt=1200"
report
last=$(grep '"event":"update"' "$T/srv.log" | tail -n 1)
[ "$(grep -c '"event":"update"' "$T/srv.log")" -ge $((n + 3)) ] && ! grep -q 'lt=' <<<"$last"
ok $? "run 10: Lifetime stays as the server wrote it (no lt= in the Update: $last)"

# always-on: the server observes, the Update fails, the change is stored and
# sent once the Update succeeds again
sed -i 's/lifetime: 10m/lifetime: 12s/; s/binding: UQ/binding: U/' "$T/m2m.yaml"
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
serve=$BG_PID
wait_for "$T/srv.log" '"event":"(register|update)".*"b=U|lt=12' 10
sleep 0.3
ctl observe /6/0/0
wait_for "$T/srv.log" '"event":"observe".*"value":"73.6"' 5
ok $? "--serve: observed"
ctl deaf
wait_for "$T/serve.log.err" "storing notifications|is out of reach|unreachable" 20
loc 79.7
sleep 1.2
ctl hear
wait_for "$T/srv.log" '"event":"notify".*"value":"79.7"' 20
ok $? "--serve: the change made while the server was unreachable arrived once it answered"
kill -TERM "$serve"
wait "$serve"
is $? 0 "--serve exits 0 on SIGTERM"
[ "$_fail" = 0 ] || { diag "$(cat "$T/srv.log")"; diag "$(cat "$T/client.err" "$T/serve.log.err")"; }
done_testing
