#!/bin/bash
# Object 5 (LwM2M TS 1.1 Core E.6) after kill -9 of m2mdm-status --serve in Downloading
# and in Downloaded, then a restart: what the server sees after the next registration.
# Downloading: the State stays Downloading (1) with Update Result 0 (E.6: reset to 0 once
# the process is initiated; no new order is needed) and the pull resumes where the
# engine's journal says (a Range from its last checkpoint, RFC 7233, to the slow http
# server), to Downloaded (2). Downloaded: after the restart it is still Downloaded, the
# package held (the installer not called) until the server's Execute of Update, which
# then installs it: Update Result 1, State Idle. Against the project's CoAP peer
# (tests/tools/lw-observer.py) and tests/tools/slow-http.py (16 KiB every 0.1 s).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 10

fw_vendor
W=$T/www
mkdir -p "$W"
# 1.5 MiB: about 10 s at the server's rate, past the engine's first checkpoint (1 MiB)
head -c 1572864 /dev/urandom >"$T/fw.bin"
fw_sign "$W/fw.pkg" "$T/fw.bin" 2.0.0
fw_slow_http "$W"
port=$(free_port)
fw_device "$port"
URL=http://127.0.0.1:$hp/fw.pkg
serve() {
	bg "$T/serve$1.log" "$BIN/m2mdm-status" --serve -v
	cli=$BG_PID
	wait_count '"event":"(register|update)"' "$1" 20
}
# the bytes the engine's journal vouches for (m2mdm-update status --json)
downloaded() { "$BIN/m2mdm-update" status --json 2>/dev/null | tr -d ' ' | grep -oE '"downloaded":[0-9]+' | cut -d: -f2; }

serve 1
ctl write /5/0/1 "$URL"
is "$(answer write /5/0/1) $(read_until /5/0/3 1 3)" "2.04 1" "Package URI written: Downloading (1)"
for ((i = 0; i < 400; i++)); do [ "${d:=0}" -ge 1048576 ] && break; sleep 0.05; d=$(downloaded); done
ok $([ "${d:-0}" -ge 1048576 ]; echo $?) "the journal vouches for ${d:-0} bytes (a checkpoint)"
kill -KILL "$cli"
wait "$cli" 2>/dev/null
serve 2
ok $? "restarted: registered again"
is "$(read_until /5/0/3 1 1) $(read_until /5/0/5 0 1)" "1 0" \
	"after kill -9 in Downloading: State Downloading (1), Update Result 0 (it goes on)"
is "$(read_until /5/0/3 2 20)" 2 "the pull resumed to Downloaded (2) with no new order"
rng=$(grep '^range ' "$T/http.log" | tail -1)
diag "http requests: $(grep -c '^range ' "$T/http.log"), the last: $rng"
grep -qE "^range bytes=$d- " <<<"$rng"
ok $? "resumed from the journal's checkpoint: Range bytes=$d- ($rng)"
kill -KILL "$cli"
wait "$cli" 2>/dev/null

# ---- kill -9 in Downloaded: held across the restart
serve 3
is "$(read_until /5/0/3 2 2) $(read_until /5/0/5 0 1) $(read_until /5/0/7 2.0.0 1)" "2 0 2.0.0" \
	"after kill -9 in Downloaded: State Downloaded (2), Update Result 0, PkgVersion 2.0.0"
sleep 1
ok $([ ! -e "$T/calls" ]; echo $?) "the package held: the installer not called without an Execute"
ctl exec /5/0/2
is "$(answer exec /5/0/2)" 2.04 "Execute Update taken"
is "$(read_until /5/0/5 1 30) $(read_until /5/0/3 0 1) $(cat "$T/calls" 2>/dev/null | tr '\n' ' ')" \
	"1 0 install gate-fw 2.0.0 commit gate-fw 2.0.0 " "installed and committed: Update Result 1, State Idle"
kill -TERM "$cli"
wait "$cli" 2>/dev/null
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(tail -30 "$T/serve2.log.err")"; }
done_testing
