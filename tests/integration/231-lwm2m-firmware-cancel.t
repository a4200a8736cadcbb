#!/bin/bash
# Cancel (LwM2M TS 1.1 Core E.6, Package URI: "Writing an empty string to Package URI
# Resource or setting the Package Resource to NULL ('\0'), resets the Firmware Update
# State Machine: the State Resource value is set to Idle and the Update Result Resource
# value is set to 0"): during a pull from a slow http server, an empty Package URI is
# answered 2.04 and State and Update Result read Idle (0) and 0 at once; the pull stops
# (the server sees the connection go), its partial download is removed, the engine's
# journal says idle, and nothing comes back later. Then a package pulled and held
# (Downloaded, 2) is cancelled with a NULL Package ("\0", application/octet-stream): its
# payload is removed, Update is refused (4.05: not Downloaded), and a new Package URI is
# taken and pulled again. A coap pull from a server that never answers stops at a cancel
# and at SIGTERM at once, not at its block's stall bound. Against the project's CoAP peer
# (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 20

fw_vendor
W=$T/www
mkdir -p "$W"
head -c 1500000 /dev/urandom >"$T/big.bin"
head -c 100000 /dev/urandom >"$T/small.bin"
fw_sign "$W/big.pkg" "$T/big.bin" 2.0.0 && fw_sign "$W/small.pkg" "$T/small.bin" 2.0.0
ok $? "signed packages: a big one (about 10 s from the slow server) and a small one"
hp=$(free_port)
bg "$T/http.log" python3 "$ROOT/tests/tools/slow-http.py" "$hp" "$W"
for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$hp" | grep -q . && break; sleep 0.05; done

port=$(free_port)
fw_device "$port"
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
serve=$BG_PID
wait_for "$T/srv.log" '"event":"register"' 20
ok $? "the client registered"
DL=$T/state/update

# ---- a pull under way, cancelled
ctl write /5/0/1 "http://127.0.0.1:$hp/big.pkg"
is "$(answer write /5/0/1) $(read_until /5/0/3 1 5)" "2.04 1" "Package URI written: State Downloading (1)"
for ((i = 0; i < 100; i++)); do [ -s "$DL/package" ] && break; sleep 0.05; done
[ -s "$DL/package" ]
ok $? "the download is under way ($(stat -c %s "$DL/package" 2>/dev/null) bytes so far)"
ctl write /5/0/1
is "$(answer write /5/0/1 2) $(read_until /5/0/3 0 1) $(read_until /5/0/5 0 1)" "2.04 0 0" \
	"an empty Package URI: 2.04, then State Idle (0) and Update Result 0 at once"
wait_for "$T/http.log" "client gone" 10
ok $? "the pull stopped: the http server saw its client go"
for ((i = 0; i < 100; i++)); do [ -e "$DL/package" ] || break; sleep 0.05; done
[ ! -e "$DL/package" ]
ok $? "the partial download is removed"
"$BIN/m2mdm-update" status --json >"$T/st.json" 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["state"] != "idle")' "$T/st.json"
ok $? "the engine's journal says idle ($(head -c 200 "$T/st.json"))"
sleep 3
[ ! -e "$DL/package" ] && [ "$(read_until /5/0/3 0 1)" = 0 ]
ok $? "3 s later: still Idle, no download came back"

# ---- a held package (Downloaded), cancelled with a NULL Package
printf '\0' >"$T/null"
ctl write /5/0/1 "http://127.0.0.1:$hp/small.pkg"
is "$(answer write /5/0/1 3) $(read_until /5/0/3 2 20)" "2.04 2" \
	"a new Package URI after the cancel: taken, and Downloaded (2)"
[ -s "$DL/payload" ]
ok $? "its verified payload waits in the download area"
ctl block /5/0/0 "$T/null" 0 6 0 42
is "$(answer block /5/0/0) $(read_until /5/0/3 0 2) $(read_until /5/0/5 0 1)" "2.04 0 0" \
	"a NULL Package in Downloaded: 2.04, State Idle (0), Update Result 0"
[ ! -e "$DL/payload" ] && [ ! -e "$DL/package" ]
ok $? "the held payload is removed"
ctl exec /5/0/2
is "$(answer exec /5/0/2)" 4.05 "Update after the cancel: 4.05 (not Downloaded)"
[ ! -e "$T/calls" ]
ok $? "no installer was called"

# ---- a coap pull from a server that takes the request and never answers: a cancel stops
# the pull at once (not at the block's stall bound, about a minute), so the next Package
# URI is taken (E.6: Idle takes one); and a SIGTERM ends the client at once
sp=$(free_port)
bg "$T/silent.log" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
print("bound", flush=True)
while True: print(len(s.recvfrom(2048)[0]), flush=True)' "$sp"
wait_for "$T/silent.log" bound 5
ctl write /5/0/1 "coap://127.0.0.1:$sp/fw.pkg"
is "$(answer write /5/0/1 4) $(read_until /5/0/3 1 5)" "2.04 1" \
	"a coap Package URI whose server never answers: State Downloading (1)"
wait_for "$T/silent.log" '^[0-9]' 5
sleep 1
ctl write /5/0/1
is "$(answer write /5/0/1 5) $(read_until /5/0/3 0 1)" "2.04 0" "cancelled: 2.04, State Idle (0)"
ctl write /5/0/1 "http://127.0.0.1:$hp/small.pkg"
is "$(answer write /5/0/1 6) $(read_until /5/0/3 2 20)" "2.04 2" \
	"the next Package URI is taken at once (the coap pull stopped), and Downloaded (2)"
ctl write /5/0/1
answer write /5/0/1 7 >/dev/null
ctl write /5/0/1 "coap://127.0.0.1:$sp/fw.pkg"
is "$(answer write /5/0/1 8) $(read_until /5/0/3 1 5)" "2.04 1" "again a coap pull that gets no answer"
term_within "$serve" 5 && [ "$ms" -le 2000 ]
ok $? "SIGTERM ends the client within 2 s during that pull ($ms ms; the stall bound is 60 s)"
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(tail -30 "$T/serve.log.err")"; }
done_testing
