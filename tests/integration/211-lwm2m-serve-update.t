#!/bin/bash
# --serve does not stop serving while an Update waits for its answer: the server leaves
# the Updates unanswered for 20 s (libcoap retransmits them) while it observes the current
# time with pmin=1, pmax=1; the notifications keep coming about every second (the serve
# loop blocked 10 s per Update before). When the server answers a retransmission late, the
# Update counts: no new Register (the 10 s limit was shorter than CoAP's own retransmission
# span). Against the project's own test server (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 6
port=$(free_port)
mkfifo "$T/ctl"
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: it-upd-$port}
state_dir: $T/state
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  lifetime: 12s
YAML
export M2M_CONFIG=$T/m2m.yaml
bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-observer.py" "$port" "$T/ctl"
exec 9>"$T/ctl"
wait_for "$T/srv.log" '"event":"listening"' 10
ctl() { echo "$*" >&9; }
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
wait_for "$T/srv.log" '"event":"register"' 10
ok $? "--serve registered"
ctl attr /3/0/13 "pmin=1&pmax=1"
wait_for "$T/srv.log" '"event":"attr","path":"/3/0/13","code":"2.04"' 5
ctl observe /3/0/13
wait_for "$T/srv.log" '"event":"observe","path":"/3/0/13","code":"2.05"' 5
ok $? "the server observes the current time, pmin=1 pmax=1"
ctl mute-updates
wait_for "$T/srv.log" '"event":"update-ignored"' 15
t_mute=$(grep -m1 '"event":"update-ignored"' "$T/srv.log" | grep -oE '"ms":[0-9]+' | cut -d: -f2)
sleep 20
ctl answer-updates
wait_for "$T/serve.log.err" "updated " 60
# the longest gap between two notifications while the Update went unanswered
gap=$(grep '"event":"notify"' "$T/srv.log" | grep -oE '"ms":[0-9]+' | cut -d: -f2 |
	awk -v from="$t_mute" -v to="$((t_mute + 20000))" '$1 >= from && $1 <= to {
		if (last) { g = $1 - last; if (g > max) max = g } last = $1; n++ }
		END { print (n > 5 ? max : 99999) }')
diag "longest gap between notifications while the Update was unanswered: ${gap} ms"
[ "$gap" -le 2500 ]
ok $? "notifications kept coming while the Update waited (longest gap ${gap} ms)"
grep -q "updated " "$T/serve.log.err"
ok $? "the Update answered late counted"
[ "$(grep -c '"event":"register"' "$T/srv.log")" = 1 ] && ! grep -q "registering again" "$T/serve.log.err" &&
	! grep -q "no answer" "$T/serve.log.err"
ok $? "not given up while libcoap retransmitted it: no 'no answer', no new Register"

# a server that takes every datagram and never answers: unreachable (6), as over DTLS
silent=$(free_port)
bg "$T/silent.log" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:
    s.recv(65536)' "$silent"
wait_for "$T/silent.log" listening 5
sed "s/127.0.0.1:$port/127.0.0.1:$silent/; s|$T/state|$T/state-silent|" "$T/m2m.yaml" >"$T/silent.yaml"
M2M_CONFIG=$T/silent.yaml "$BIN/m2mdm-status" --report -t 3 2>"$T/silent.err"
is $? 6 "a server that never answers: exit 6 over plain CoAP ($(cat "$T/silent.err"))"
[ "$_fail" = 0 ] || diag "$(cat "$T/serve.log.err")"
done_testing
