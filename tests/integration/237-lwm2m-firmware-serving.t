#!/bin/bash
# The client keeps serving while it pulls (issue 13: "a pull of 64 MiB while the server
# reads /3/0 every second, each read answered within 200 ms"; the download runs beside
# the CoAP loop, not inside a request handler). A signed package of 64 MiB is pulled over
# http from lighttpd, unthrottled (the disk and the hash as busy as they get), its
# verification from the disk after; meanwhile the server (the project's CoAP peer,
# lw-observer.py) reads the Device object /3/0 every 50 ms (twenty times as often as asked:
# the pull and its verification last about a second here, and a stall of the loop must not
# fall between two reads) from the Write of the Package URI until State, read every
# 0.5 s, is Downloaded (2). Each read's time is from its request
# sent to its answer come, on the server's clock. The bound asserted is the issue's,
# 200 ms, with no slack: a read stuck behind the download waits for all of it (seconds).
# The package is then installed (Update) to show it was the whole of it.
. "$(dirname "$0")/lwm2m-fw-lib.sh"
command -v lighttpd >/dev/null || skip_all "lighttpd not installed"
plan 7

fw_vendor
W=$T/www
mkdir -p "$W"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/fw.bin"
fw_sign "$W/fw.pkg" "$T/fw.bin" 2.0.0
ok $? "a signed package of 64 MiB ($(stat -c %s "$W/fw.pkg") bytes)"
fw_lighttpd "$W"

port=$(free_port)
fw_device "$port"
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
wait_for "$T/srv.log" '"event":"register"' 20
ok $? "the client registered"

ctl write /5/0/1 "http://127.0.0.1:$hp/fw.pkg"
t0=$(date +%s%N)
n=0
state=""
while [ $(($(date +%s%N) - t0)) -lt 120000000000 ]; do
	ctl fetch /3/0
	n=$((n + 1))
	sleep 0.05
	if ((n % 10 == 0)); then
		k=$(grep -c '"event":"fetch","path":"/5/0/3"' "$T/srv.log")
		ctl fetch /5/0/3
		wait_count '"event":"fetch","path":"/5/0/3"' $((k + 1)) 5
		state=$(field "$(ev fetch /5/0/3 $((k + 1)))" value)
		[ "$state" = 2 ] && break
	fi
done
pull_s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
is "$(answer write /5/0/1) $state" "2.04 2" "the Package URI taken, the package Downloaded after ${pull_s} s"
wait_count '"event":"fetch","path":"/3/0"' "$n" 10
# each read of /3/0: its answer code and how long it took (ms - sent_ms)
grep '"event":"fetch","path":"/3/0"' "$T/srv.log" | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
print(len(rs), sum(r["code"] == "2.05" for r in rs), max(r["ms"] - r["sent_ms"] for r in rs),
      sorted(r["ms"] - r["sent_ms"] for r in rs)[len(rs) // 2])' >"$T/reads"
read -r got ok205 worst median <"$T/reads"
diag "$got reads of /3/0 during the pull of ${pull_s} s: median ${median} ms, the slowest ${worst} ms"
is "$got $ok205" "$n $n" "every read of /3/0 during the pull was answered 2.05"
[ "$n" -ge 10 ] && [ "$worst" -le 200 ]
ok $? "each answered within 200 ms (the slowest: ${worst} ms)"
ctl exec /5/0/2
is "$(answer exec /5/0/2) $(read_until /5/0/5 1 60)" "2.04 1" "Update: Update Result 1"
cmp -s "$T/installed" "$T/fw.bin"
ok $? "what was installed is the 64 MiB payload"
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(tail -20 "$T/serve.log.err")"; }
done_testing
