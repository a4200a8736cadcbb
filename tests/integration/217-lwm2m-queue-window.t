#!/bin/bash
# The queue window of --report by default (no dm.queue_window, no dm.timeout): LwM2M TS
# 1.1 Transport has a server assume a queue-mode device stays reachable for CoAP's
# MAX_TRANSMIT_WAIT (93 s) after its last message, so a request a server sends 25 s after
# the Update (past the old default of 20 s) is answered; the exact default (93 s) is a unit
# test (test_config), which spares this one a minute and a half. And m2mdm-status(1):
# FILES names every file the LwM2M client keeps in the state directory, and the --report
# paragraph is the paragraph (no FILES entry spliced into it).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 6
port=$(free_port)
ep=it-window-$port
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $ep}
state_dir: $T/state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  binding: UQ
  lifetime: 10m
YAML
export M2M_CONFIG=$T/m2m.yaml
bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port" ask=25:/3/0/13
wait_for "$T/srv.log" '"event":"listening"' 10
ok $? "the raw peer listens"
bg "$T/run.out" "$BIN/m2mdm-status" --report -v
run=$BG_PID
wait_for "$T/srv.log" '"event":"request".*"path":"rd"' 10
ok $? "registered"
# 25 s, and the peer's 4 s for the answer; slack for a loaded machine
wait_for "$T/srv.log" '"event":"ask"' 40
line=$(grep '"event":"ask"' "$T/srv.log")
grep -q '"answer":"2.05"' <<<"$line"
ok $? "a request 25 s after the Register is answered ($line)"
kill -0 "$run" 2>/dev/null
ok $? "the run is still reachable, within its window"
kill -TERM "$run"
wait "$run"

# the man page: every state file of the client in FILES, none spliced elsewhere
man=$ROOT/man/m2mdm-status.1
files=$(sed -n '/^\.SH FILES/,/^\.SH /p' "$man")
missing=
for f in $(grep -rhoE '"dm(-[a-z-]+\.json|\.lock)"' "$ROOT/lib" | tr -d '"' | sort -u); do
	grep -q "^\.IB state_dir /${f//-/\\\\-}\$" <<<"$files" || missing="$missing $f"
done
[ -z "$missing" ]
ok $? "FILES names every state file of the client (missing:${missing:- none})"
para=$(sed -n '/^is for cron/,/^\.PP/p' "$man")
! grep -q '^\.TP' <<<"$para" && grep -q 'dm.lock' <<<"$para" && grep -q 'wait a random' <<<"$para"
ok $? "the --report paragraph reads on: the lock dm.lock, then the jitter, no FILES entry in it"
[ "$_fail" = 0 ] || { diag "$(cat "$T/srv.log" "$T/run.out.err")"; }
done_testing
