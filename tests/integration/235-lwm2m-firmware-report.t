#!/bin/bash
# Object 5 (LwM2M TS 1.1 Core E.6) on a device that runs m2mdm-status --report from cron
# (queue mode: it registers or updates, serves the server's queued requests for the
# window, exits). The server writes a Package URI in one run; the pull is larger than one
# run can fetch (a short dm.timeout: 4 s, the slow http server: 16 KiB every 0.1 s, so at
# most about 660 KiB a run and a 1.5 MiB package needs three runs at least). Each later
# run takes the pull up where the last one stopped (lib/update's resume: a Range from the
# byte the journal recorded, RFC 7233, each run's offset further on; never from 0 again),
# the server reads State Downloading (1) with Update Result 0 at each registration while
# it lasts (E.6: 0 once the process is initiated), and at the registration after the pull
# completed State Downloaded (2), Update Result 0 and the package's version. Against the
# project's CoAP peer (tests/tools/lw-observer.py) and tests/tools/slow-http.py.
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 8

fw_vendor
W=$T/www
mkdir -p "$W"
head -c 1572864 /dev/urandom >"$T/fw.bin"
fw_sign "$W/fw.pkg" "$T/fw.bin" 2.0.0
fw_slow_http "$W"
port=$(free_port)
fw_device "$port" "queue_window: 30s" "timeout: 4s" "jitter: 0s"
URL=http://127.0.0.1:$hp/fw.pkg
jstate() { "$BIN/m2mdm-update" status --json 2>/dev/null | tr -d ' ' | grep -oE '"(state|downloaded)":("[^"]*"|[0-9]+)' | tr '\n' ' '; }

# run 1: registers; the server writes the Package URI within its window
bg "$T/run1.log" "$BIN/m2mdm-status" --report -v
r1=$BG_PID
wait_count '"event":"register"' 1 20
ctl write /5/0/1 "$URL"
is "$(answer write /5/0/1) $(read_until /5/0/3 1 2)" "2.04 1" "run 1: Package URI written, State Downloading (1)"
wait "$r1"
ok $? "run 1 exits 0 at the end of its bound ($(jstate))"
runs=1 seen=""
while ((runs < 7)) && ! jstate | grep -q '"state":"verified"'; do
	runs=$((runs + 1))
	bg "$T/run$runs.log" "$BIN/m2mdm-status" --report -v
	r=$BG_PID
	wait_count '"event":"update"' $((runs - 1)) 20
	seen+="$(read_until /5/0/3 1 1)/$(read_until /5/0/5 0 1) "
	wait "$r" || diag "run $runs: exit $?"
	diag "after run $runs: $(jstate)"
done
ok $(jstate | grep -q '"state":"verified"'; echo $?) "downloaded and verified after $runs runs"
ok $([ "$runs" -ge 3 ]; echo $?) "it took three runs at least ($runs)"
# the server read State/Update Result at each registration while it downloaded
want=""
for ((i = 2; i <= runs; i++)); do want+="1/0 "; done
is "$seen" "$want" "at each registration of runs 2..$runs: State Downloading (1), Update Result 0"
# the http server's log: one request without a Range, then one Range a run, each further on
ranges=$(grep '^range ' "$T/http.log" | awk '{print $2}' | tr '\n' ' ')
diag "requests: $ranges"
prev=0 fine=0 n=0
for r in $ranges; do
	n=$((n + 1))
	if ((n == 1)); then [ "$r" = - ] || fine=1; continue; fi
	o=${r#bytes=}
	o=${o%-}
	[[ "$o" =~ ^[0-9]+$ ]] && ((o > prev)) || fine=1
	prev=$o
done
ok $([ "$fine" = 0 ] && [ "$n" = "$runs" ]; echo $?) "one request a run; each later one a Range further on ($ranges)"
# the next registration after the pull completed: Downloaded, the package's version
runs=$((runs + 1))
bg "$T/run$runs.log" "$BIN/m2mdm-status" --report -v
r=$BG_PID
wait_count '"event":"update"' $((runs - 1)) 20
is "$(read_until /5/0/3 2 1) $(read_until /5/0/5 0 1) $(read_until /5/0/7 2.0.0 1)" "2 0 2.0.0" \
	"the registration after it completed: State Downloaded (2), Update Result 0, PkgVersion 2.0.0"
wait "$r"
ok $(grep -c '^range ' "$T/http.log" | grep -qx "$((runs - 1))"; echo $?) "no request once it was downloaded"
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(tail -30 "$T/run2.log.err")"; }
done_testing
