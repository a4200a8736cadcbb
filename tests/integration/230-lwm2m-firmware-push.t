#!/bin/bash
# The Firmware Update object's Package pushed (LwM2M TS 1.1 Core E.6, "push"): the server
# writes /5/0/0 block-wise with Block1 (RFC 7959 2.3), application/octet-stream, a signed
# package of 8 MiB while dm.max_body is 16 KiB: each block is answered 2.31 Continue with
# Block1 echoing its NUM and M=1, the last 2.04 with M=0 (2.3), and the client keeps no
# more of it in memory than a few blocks (its peak RSS); State goes Downloading (1) then
# Downloaded (2), Delivery Method (/5/0/9) says both (2); Execute Update installs it
# (the script installer) and Update Result is 1. A package corrupted in its payload is
# pushed whole and ends with Update Result 5 (integrity check failure), the installed
# version kept. A block out of order is 4.08 Request Entity Incomplete (2.9.2); an empty
# Package written during a push cancels it (E.6: Idle, Update Result 0) and its partial
# download is removed. Against the project's own CoAP peer (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 22

fw_vendor
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/fw-2.bin"
head -c 300000 /dev/urandom >"$T/fw-3.bin"
fw_sign "$T/fw-2.pkg" "$T/fw-2.bin" 2.0.0 && fw_sign "$T/fw-3.pkg" "$T/fw-3.bin" 3.0.0
ok $? "signed packages: gate-fw 2.0.0 ($(stat -c %s "$T/fw-2.pkg") bytes), 3.0.0"
# one payload byte changed, 1000 bytes before the end: only the payload's hash can tell
cp "$T/fw-3.pkg" "$T/fw-3-bad.pkg"
python3 - "$T/fw-3-bad.pkg" <<'PY'
import sys
f = open(sys.argv[1], "r+b"); f.seek(-1000, 2); b = f.read(1); f.seek(-1000, 2)
f.write(bytes([b[0] ^ 0x55])); f.close()
PY

# ---- the device: --serve, max_body far below the package, a script installer
port=$(free_port)
fw_device "$port" "max_body: 16KiB"
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
cli=$BG_PID
wait_for "$T/srv.log" '"event":"register"' 20
ok $? "the client registered"
grep -m1 '"event":"register"' "$T/srv.log" | grep -q '</5/0>'
ok $? "/5/0 is in the registration's links"
is "$(read_until /5/0/9 2 2)" 2 "Firmware Update Delivery Method: 2 (both pull and push)"
ctl observe /5/0/3 0
wait_for "$T/srv.log" '"event":"observe","path":"/5/0/3"' 10
is "$(field "$(ev observe /5/0/3)" value)" 0 "State observed: Idle (0)"

# ---- the push: 1024-byte blocks, Content-Format 42
sleep 0.5
echo 5 >"/proc/$cli/clear_refs"
idle=$(awk '/^VmRSS:/ { print $2 }' "/proc/$cli/status")
ctl push /5/0/0 "$T/fw-2.pkg" 6 42
wait_for "$T/srv.log" '"event":"push","path":"/5/0/0"' 180
p=$(ev push /5/0/0)
blocks=$(( ($(stat -c %s "$T/fw-2.pkg") + 1023) / 1024 ))
is "$(field "$p" code) $(field "$p" blocks)" "2.04 $blocks" "the last block answered 2.04, after $blocks blocks"
is "$(field "$p" continues) $(field "$p" bad_b1)" "$((blocks - 1)) 0" \
	"every other block answered 2.31 Continue with Block1 echoing its NUM, M=1 (RFC 7959 2.3)"
is "$(( $(field "$p" b1) & 15 ))" 6 "the last answer's Block1: M=0, SZX 6 (b1 $(field "$p" b1))"
diag "push of $(stat -c %s "$T/fw-2.pkg") bytes in $(field "$p" elapsed_ms) ms"
wait_for "$T/srv.log" '"event":"notify","path":"/5/0/3".*"value":"2"' 60
ok $? "State notified: Downloaded (2) once the pushed package is verified"
notes=$(grep '"event":"notify","path":"/5/0/3"' "$T/srv.log" | grep -oE '"value":"[0-9]+"' | cut -d'"' -f4 | tr '\n' ' ')
[ "$(echo $notes | awk '{print $1}')" = 1 ]
ok $? "Downloading (1) notified first (notifications: $notes)"
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$cli/status")
diag "RSS at rest ${idle} kB, peak during the push ${peak} kB"
# an 8 MiB package: kept in memory it would add 8192 kB at the least
[ -n "$peak" ] && [ -n "$idle" ] && [ $((peak - idle)) -le 2048 ]
ok $? "peak RSS during the push of 8 MiB within 2 MiB of the RSS at rest (+$((peak - idle)) kB)"

ctl exec /5/0/2
wait_for "$T/srv.log" '"event":"exec","path":"/5/0/2"' 10
is "$(field "$(ev exec /5/0/2)" code)" 2.04 "Execute Update in Downloaded: 2.04"
is "$(read_until /5/0/5 1 60)" 1 "Update Result 1 (success) once committed"
cmp -s "$T/installed" "$T/fw-2.bin"
ok $? "the script installer installed the pushed payload"
is "$(read_until /5/0/7 2.0.0 5)" 2.0.0 "PkgVersion 2.0.0"

# ---- a corrupted package: the push is taken, its hash fails: Update Result 5, 2.0.0 kept
ctl push /5/0/0 "$T/fw-3-bad.pkg" 6 42
wait_count '"event":"push"' 2 60
sleep 0.2
is "$(read_until /5/0/5 5 30) $(read_until /5/0/3 0 5)" "5 0" \
	"a corrupted package pushed: Update Result 5 (integrity check failure), State Idle"
is "$(grep -c '^install' "$T/calls") $(grep -o '"gate-fw": *"[^"]*"' "$T/state/update.installed" | tr -d ' ')" \
	'1 "gate-fw":"2.0.0"' "no install of it: gate-fw still 2.0.0"

# ---- a block out of order: 4.08; a push cancelled by an empty Package
ctl block /5/0/0 "$T/fw-3.pkg" 0 6 1 42
wait_for "$T/srv.log" '"event":"block"' 10
ctl block /5/0/0 "$T/fw-3.pkg" 2 6 1 42
wait_count '"event":"block"' 2 10
is "$(field "$(ev block /5/0/0 1)" code) $(field "$(ev block /5/0/0 2)" code)" "2.31 4.08" \
	"block 0 then block 2: 2.31, then 4.08 Request Entity Incomplete (RFC 7959 2.9.2)"
ctl block /5/0/0 "$T/fw-3.pkg" 0 6 1 42
ctl block /5/0/0 "$T/fw-3.pkg" 1 6 1 42
wait_count '"event":"block"' 4 10
is "$(read_until /5/0/3 1 5)" 1 "a new push begun: State Downloading (1)"
[ -e "$T/state/update/package" ]
ok $? "its package file is made (its first blocks held, written 64 KiB at a time)"
# an empty Package in one message (application/octet-stream, no bytes)
ctl block /5/0/0 /dev/null 0 6 0 42
wait_count '"event":"block"' 5 10
is "$(field "$(ev block /5/0/0 5)" code) $(read_until /5/0/3 0 5) $(read_until /5/0/5 0 5)" "2.04 0 0" \
	"an empty Package during the push: 2.04, State Idle, Update Result 0 (E.6)"
[ ! -e "$T/state/update/package" ]
ok $? "the partial download is removed"
[ "$_fail" = 0 ] || { diag "$(tail -40 "$T/srv.log")"; diag "$(tail -30 "$T/serve.log.err")"; }
done_testing
