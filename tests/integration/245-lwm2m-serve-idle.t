#!/bin/bash
# An always-on client (--serve) sleeps while nothing is due: a meter on a battery, or any
# device on a 10-year budget, must not wake twenty times a second to find nothing to do.
# Counted by the kernel: the voluntary context switches of the process (one per wait that
# slept), over 5 s each: idle; while the server observes a value that never changes (its
# samples once a second); while it observes the current time with pmin 0 (a new value each
# second: still notified each second); with a pmax that cannot be met (below pmin, or the
# server gone with notification storing off). A SIGTERM still ends it at once, with its
# De-register. Before, the loop woke every 50 ms in all three. Against the project's own
# test server (tests/tools/lw-observer.py); what is checked is our process, not the protocol.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 12
port=$(free_port)
observer_lab "$port" "it-idle-$port" "lifetime: 60s"
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
pid=$BG_PID
wait_for "$T/srv.log" '"event":"register"' 10
ok $? "--serve registered"

waits() { awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$pid/status"; }
# window: the waits of the next 5 s (in $n) and the notifications of PATH in them (in $notes)
window() {
	local a b n0
	n0=$(grep -c "\"event\":\"notify\",\"path\":\"${1:-none}\"" "$T/srv.log")
	a=$(waits)
	sleep 5
	b=$(waits)
	n=$((b - a))
	notes=$(($(grep -c "\"event\":\"notify\",\"path\":\"${1:-none}\"" "$T/srv.log") - n0))
}

sleep 1.5 # the registration's own exchange is over
window
diag "idle: $n waits in 5 s"
[ "$n" -le 15 ]
ok $? "idle: at most about a wake a second ($n waits in 5 s; every 50 ms would be 100)"

ctl observe /1/0/1 # the Server object's Lifetime: 60 all along
wait_for "$T/srv.log" '"event":"observe","path":"/1/0/1","code":"2.05"' 5
ok $? "the server observes /1/0/1"
sleep 1
window /1/0/1
diag "observing a constant: $n waits, $notes notifications in 5 s"
[ "$n" -le 15 ] && [ "$notes" = 0 ]
ok $? "observing a value that does not change: sampled about once a second ($n waits), nothing sent"

ctl observe /3/0/13 # Current Time: a new value every second
wait_for "$T/srv.log" '"event":"observe","path":"/3/0/13","code":"2.05"' 5
ok $? "the server observes /3/0/13"
sleep 1
window /3/0/13
diag "observing the current time: $n waits, $notes notifications in 5 s"
[ "$notes" -ge 4 ]
ok $? "a value that changes every second is notified about every second ($notes in 5 s)"
[ "$n" -le 30 ]
ok $? "and the loop sleeps between ($n waits in 5 s; every 50 ms would be 100)"

# a pmax that cannot be met must not make it spin (it woke every millisecond): one below the
# pmin in effect (the object's pmin 10, the resource's pmax 2; each write alone is valid), and
# one while the server is gone and notification storing is off (nothing can go out or be kept)
ctl attr /1 "pmin=10"
wait_for "$T/srv.log" '"event":"attr","path":"/1","code":"2.04"' 5
ctl attr /1/0/1 "pmax=2"
wait_for "$T/srv.log" '"event":"attr","path":"/1/0/1","code":"2.04"' 5
ok $? "the server writes pmin=10 on /1 and pmax=2 on /1/0/1"
sleep 3
window /1/0/1
diag "pmax below pmin: $n waits in 5 s"
[ "$n" -le 30 ]
ok $? "a pmax below the pmin in effect: the loop sleeps ($n waits in 5 s)"
ctl attr /1 "pmin"
ctl write /1/0/6 0
wait_for "$T/srv.log" '"event":"write","path":"/1/0/6","code":"2.04"' 5
ctl deaf
sleep 4
window /1/0/1
diag "server gone, storing off, pmax 2: $n waits in 5 s"
[ "$n" -le 30 ]
ok $? "the server gone, notification storing off, pmax passed: the loop sleeps ($n waits in 5 s)"
ctl hear

term_within "$pid" 3 && [ "$ms" -le 2000 ]
ok $? "SIGTERM ends it within 2 s ($ms ms)"
grep -q '"event":"deregister"' "$T/srv.log"
ok $? "with its De-register"
done_testing
