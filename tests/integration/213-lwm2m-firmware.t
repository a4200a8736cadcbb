#!/bin/bash
# The LwM2M Firmware Update object (5, LwM2M TS 1.1 Core E.6) over the update engine,
# ordered by lwm2m-node-lib (an independent server) while m2mdm-status --serve serves:
# the server writes a Package URI (http, a server that sends it slowly, so that the
# download is seen), observes State and sees Downloading (1) then Downloaded (2); it
# executes Update and sees Update Result 1 (success: E.6's "firmware updated
# successfully", the update committed after its health check) with State Idle (0), and
# the script installer was called. The refusals, each a Write that succeeds (E.6: errors
# are reported only by Update Result) and leaves the installed version as it was: a
# package that is not signed (5, integrity check failure), an ftp:// URI (9, unsupported
# protocol), a string that is no URI (7, invalid URI); an empty Package URI resets to
# Idle with Update Result 0; Update outside Downloaded is refused (4.05). /5/0 is in
# the registration's links. The Device object's Firmware Version (/3/0/3, TS 1.1 Core
# E.4: "Current firmware version of the Device") is the running kernel before, 2.0.0 once
# it is committed, and stays 2.0.0 through the refusals.
. "$(dirname "$0")/lwm2m-fw-lib.sh"
lwm2m_server_setup
plan 25

# ---- the vendor: a CA, a code signer, a signed firmware package; an unsigned image
fw_vendor
W=$T/www
mkdir -p "$W"
head -c 400000 /dev/urandom >"$T/fw-2.bin"
fw_sign "$W/fw-2.pkg" "$T/fw-2.bin" 2.0.0
ok $? "a signed firmware package (gate-fw 2.0.0)"
# an image without our signed manifest, as a vendor's build puts it out
head -c 50000 /dev/urandom >"$W/unsigned.pkg"

# ---- an http server that sends slowly (16 KiB every 0.1 s: the download lasts about 2.5 s)
hp=$(free_port)
bg "$T/http.log" python3 "$ROOT/tests/tools/slow-http.py" "$hp" "$W"
for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$hp" | grep -q . && break; sleep 0.05; done

# ---- the device: --serve, the engine with a script installer that records its calls
port=$(free_port)
ep=it-fw-$port
fw_installer
fw_nosec_device "$port" "$ep"
URL=http://127.0.0.1:$hp/fw-2.pkg
plan_checks=(
	'read:/5/0/3~0' 'read:/5/0/5~0' 'read:/3/0/3~Linux' 'exec:/5/0/2'
	"write:/5/0/1=$URL" 'observe:/5/0/3:6000:1'
	'exec:/5/0/2' 'observe:/5/0/5:5000:0' 'read:/5/0/5~1' 'read:/5/0/3~0' 'read:/5/0/7~2.0.0'
	'read:/3/0/3~2.0.0'
	"write:/5/0/1=http://127.0.0.1:$hp/unsigned.pkg" 'observe:/5/0/5:3000:0'
	'read:/5/0/5~5' 'read:/5/0/3~0'
	'write:/5/0/1=ftp://127.0.0.1/fw-2.pkg' 'read:/5/0/5~9' 'read:/5/0/3~0'
	'write:/5/0/1=::no uri::' 'read:/5/0/5~7'
	'write:/5/0/1=' 'read:/5/0/5~0' 'read:/3/0/3:text~2.0.0'
)
bg "$T/server.log" node "$ROOT/tests/tools/lwm2m-server.js" --port "$port" --ep "$ep" \
	--timeout 60000 "${plan_checks[@]}"
server=$BG_PID
wait_for "$T/server.log" '"event":"listening"' 15
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
wait_for "$T/server.log" '"event":"summary"' 60
ok $? "the server's plan ran to its end"
cr() { check_result "$T/server.log" "$1"; }

reg=$(grep -m1 '"event":"register"' "$T/server.log")
grep -q '</5/0>' <<<"$reg"
ok $? "/5/0 is in the registration's links"
is "$(cr 'read:/5/0/3~0') $(cr 'read:/5/0/5~0')" "pass pass" "before any update: State 0 (Idle), Update Result 0"
first_exec=$(grep -m1 -F '"check":"exec:/5/0/2"' "$T/server.log")
grep -q '"ok":false' <<<"$first_exec" && grep -q '4.05' <<<"$first_exec"
ok $? "Update in Idle: refused with 4.05 (only executable in Downloaded)"
is "$(cr "write:/5/0/1=$URL")" pass "the Package URI write succeeds"
obs=$(grep -F '"check":"observe:/5/0/3:6000:1"' "$T/server.log")
grep -q '"first":"1"' <<<"$obs"
ok $? "observed State: Downloading (1) first ($(grep -oE '"first":"[^"]*"' <<<"$obs"))"
notes=$(grep '"event":"notify","path":"/5/0/3"' "$T/server.log" | grep -oE '"value":"[0-9]+"' | cut -d'"' -f4 | tr '\n' ' ')
[ "$(echo $notes | awk '{print $1}')" = 2 ]
ok $? "then notified: Downloaded (2) (notifications: $notes)"
exec2=$(grep -F '"check":"exec:/5/0/2"' "$T/server.log" | sed -n 2p)
grep -q '"ok":true' <<<"$exec2"
ok $? "Update in Downloaded: accepted"
is "$(cr 'read:/5/0/5~1') $(cr 'read:/5/0/3~0') $(cr 'read:/5/0/7~2.0.0')" "pass pass pass" \
	"then Update Result 1 (success), State 0 (Idle), PkgVersion 2.0.0"
is "$(cat "$T/calls" 2>/dev/null | tr '\n' ';')" "install gate-fw 2.0.0;commit gate-fw 2.0.0;" \
	"the script installer installed and committed 2.0.0"
cmp -s "$T/installed" "$T/fw-2.bin"
ok $? "what it installed is the signed payload"
grep -q '^[0-9:]* *update: verified .*gate-fw 2.0.0' "$T/serve.log.err"
ok $? "--serve -v shows the engine's steps on stderr ($(grep -m1 'update: verified' "$T/serve.log.err"))"
# cval CHECK: the value the server's check CHECK read
cval() { grep -F "\"check\":\"$1\"" "$T/server.log" | head -1 | grep -oE '"value":"[^"]*"' | cut -d'"' -f4; }
is "$(cval 'read:/3/0/3~Linux')|$(cval 'read:/3/0/3~2.0.0')" "$(uname -s) $(uname -r)|2.0.0" \
	"Firmware Version /3/0/3: the running kernel before, 2.0.0 once committed"

is "$(cr "write:/5/0/1=http://127.0.0.1:$hp/unsigned.pkg") $(cr 'read:/5/0/5~5') $(cr 'read:/5/0/3~0')" \
	"pass pass pass" "an unsigned package: the write succeeds, Update Result 5 (integrity check failure), State 0"
ur=$(grep '"event":"notify","path":"/5/0/5"' "$T/server.log" | sed -n '2,$p' | grep -oE '"value":"[0-9]+"' | cut -d'"' -f4 | tr '\n' ' ')
is "$ur" "5 " "its Update Result was notified once: 5, never the last update's 1 again"
is "$(cr 'write:/5/0/1=ftp://127.0.0.1/fw-2.pkg') $(cr 'read:/5/0/5~9') $(cr 'read:/5/0/3~0')" \
	"pass pass pass" "ftp://: the write succeeds, Update Result 9 (unsupported protocol), State 0"
is "$(cr 'write:/5/0/1=::no uri::') $(cr 'read:/5/0/5~7')" "pass pass" \
	"no URI: the write succeeds, Update Result 7 (invalid URI)"
is "$(cr 'write:/5/0/1=') $(cr 'read:/5/0/5~0')" "pass pass" "an empty Package URI: Update Result back to 0"
is "$(grep -c '^install' "$T/calls")" 1 "the refusals reached no installer"
"$BIN/m2mdm-update" status --json >"$T/st.json" 2>"$T/st.err"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["state"]=="failed" and d["result"] in ("integrity", 17)))' "$T/st.json"
ok $? "m2mdm-update status: the last update (the unsigned one) failed its integrity check ($(head -c 300 "$T/st.json"))"
grep -q '"gate-fw": *"2.0.0"' "$T/state/update.installed"
ok $? "the committed version of gate-fw is still 2.0.0 ($(cat "$T/state/update.installed"))"
cmp -s "$T/installed" "$T/fw-2.bin"
ok $? "the installed firmware is still 2.0.0's"
is "$(cr 'read:/3/0/3:text~2.0.0') $(cval 'read:/3/0/3:text~2.0.0')" "pass 2.0.0" \
	"after the refusals: Firmware Version /3/0/3 still 2.0.0"
grep -q '"event":"register"' "$T/server.log" && [ "$(grep -c '"event":"register"' "$T/server.log")" = 1 ]
ok $? "one registration: --serve kept serving through the download and the update"
[ "$_fail" = 0 ] || { diag "$(cat "$T/server.log")"; diag "$(tail -30 "$T/serve.log.err")"; }
done_testing
