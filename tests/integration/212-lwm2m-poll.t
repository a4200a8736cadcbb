#!/bin/bash
# The LwM2M client in an application's own poll loop (examples/dm-poll.c over
# m2m_dm_fd() and m2m_dm_serve_step()) against an independent LwM2M server
# (lwm2m-node-lib, plain CoAP on 127.0.0.1): it registers, the server reads,
# writes and observes through it while the application's own descriptor
# (stdin: "ping N" answered "pong N") is answered promptly all along, and it
# de-registers, within a bound, when that descriptor says "quit".
. "$(dirname "$0")/lwm2m-lib.sh"
APP=${M2M_BUILD_DIR:-$ROOT/build}/examples/dm-poll
[ -x "$APP" ] || { plan 1; ok 1 "$APP built (make examples)"; done_testing; }
lwm2m_server_setup
port=$(free_port)
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: it-poll-$port, serial: SN-0212, manufacturer: ACME, model: Gate-7}
state_dir: $T/state
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  lifetime: 60s
YAML
checks=(
	'read:/3/0/0~ACME'
	'read:/3/0:senml~"vs":"Gate-7"'
	'read:/3/0:tlv~"value":"SN-0212"'
	'write:/3/0/14=+02:00'
	'read:/3/0/14~+02:00'
	'attr:/3/0/13?pmin=1&pmax=1'
	'observe:/3/0/13:3500:2'
	'status:read:/3/0/99:4.04'
)
plan $((${#checks[@]} + 11))
bg "$T/server.log" node "$ROOT/tests/tools/lwm2m-server.js" --port "$port" --ep "it-poll-$port" \
	--timeout 40000 --expect-dereg 15000 "${checks[@]}"
server=$BG_PID
wait_for "$T/server.log" '"event":"listening"' 15
ok $? "lwm2m-node-lib listens on 127.0.0.1:$port"

# the application's own descriptor: a pipe the test writes lines into (opened
# both ways first, so that neither open waits for the other end)
mkfifo "$T/in"
exec 3<>"$T/in"
# (a command started with & in a script reads /dev/null unless it redirects itself)
bg "$T/app.out" sh -c 'exec env M2M_CONFIG="$1" "$2" <"$3"' sh "$T/m2m.yaml" "$APP" "$T/in"
app=$BG_PID
wait_for "$T/server.log" '"event":"register"' 10
ok $? "the application registers"

# while the server runs its plan, every line gets its answer within 0.5 s
pings=0 late=0
while ! grep -q '"event":"plan_done"' "$T/server.log" && [ "$pings" -lt 400 ] &&
	kill -0 "$app" 2>/dev/null; do
	pings=$((pings + 1))
	echo "ping $pings" >&3
	for ((k = 0; k < 20; k++)); do
		grep -qx "pong $pings" "$T/app.out" && break
		sleep 0.025
	done
	[ "$k" -lt 20 ] || late=$((late + 1))
	sleep 0.1
done
grep -q '"event":"plan_done"' "$T/server.log"
ok $? "the server ran its plan through the application's loop"
for c in "${checks[@]}"; do
	is "$(check_result "$T/server.log" "$c")" pass "$c"
done
[ "$pings" -ge 10 ]
ok $? "the application's own descriptor was used all along ($pings lines)"
is "$late" 0 "every line answered within 0.5 s while serving"

# "quit" on its own descriptor: De-register and exit, within 3 s
t0=$(date +%s%N)
echo quit >&3
for ((k = 0; k < 60; k++)); do
	kill -0 "$app" 2>/dev/null || break
	sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$k" -lt 60 ]
ok $? "the application ends within 3 s of \"quit\" (${ms} ms)"
wait "$app"
is $? 0 "it exits 0"
exec 3>&-
wait "$server"
is $? 0 "the server saw every check pass and the De-register"
grep -q "de-registered /" "$T/app.out.err"
ok $? "the application logged its De-register"

# the step never waits for the network, and the loop does not spin
read -r steps span longest < <(sed -nE 's/^dm-poll: ([0-9]+) steps in ([0-9]+) ms, the longest ([0-9.]+) ms$/\1 \2 \3/p' \
	"$T/app.out.err")
[ -n "${longest:-}" ] && awk -v l="$longest" 'BEGIN { exit !(l < 50) }'
ok $? "no step took 50 ms or more (longest ${longest:-?} ms)"
[ -n "${steps:-}" ] && [ "$span" -gt 0 ] && [ $((steps * 1000 / span)) -lt 200 ]
ok $? "fewer than 200 steps a second (${steps:-?} in ${span:-?} ms): the loop sleeps in poll()"
[ "$_fail" = 0 ] || { diag "$(cat "$T/server.log")"; diag "$(tail -n 40 "$T/app.out.err")"; }
done_testing
